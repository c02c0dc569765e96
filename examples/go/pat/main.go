// The migration guide's personal-access-token sample ("Try chat with the bot under your personal account, retry with the
// enterprise token on 4100/4101"), rewritten with cozefallback: the fallback is the library's job.
//
//	COZE_API_BASE=... COZE_API_TOKEN=pat_old COZE_API_TOKEN_ENTERPRISE=pat_new PUBLISHED_BOT_ID=... go run ./pat
package main

import (
	"context"
	"fmt"
	"os"

	cozefallback "github.com/cozefallback/cozefallback-go"
)

func main() {
	client, err := cozefallback.New(cozefallback.Config{
		BaseURL:    os.Getenv("COZE_API_BASE"),
		Personal:   cozefallback.PAT(os.Getenv("COZE_API_TOKEN")),
		Enterprise: cozefallback.PAT(os.Getenv("COZE_API_TOKEN_ENTERPRISE")),
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer client.Close()

	resp, err := client.PostJSON(context.Background(), "/v3/chat", map[string]any{
		"bot_id": os.Getenv("PUBLISHED_BOT_ID"), "user_id": "user-1", "stream": false,
		"additional_messages": []map[string]any{{"role": "user", "content": "What can you do?", "content_type": "text"}},
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("served by the %s credential in %d attempt(s): %s\n", resp.Credential, resp.Attempts, resp.Body)
}
