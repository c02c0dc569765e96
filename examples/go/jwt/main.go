// The migration guide's JWT (OAuth app) sample: one app, a token for the personal account and one for the enterprise,
// personal first and enterprise on 4100/4101, rewritten with cozefallback. Tokens are minted, cached and
// refreshed by the library.
//
//	COZE_API_BASE=... COZE_JWT_OAUTH_CLIENT_ID=... COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH=private_key.pem \
//	COZE_JWT_OAUTH_PUBLIC_KEY_ID=... COZE_PERSONAL_ACCOUNT_ID=... COZE_ENTERPRISE_ID=... \
//	PUBLISHED_BOT_ID=... USER_ID=... go run ./jwt
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	cozefallback "github.com/cozefallback/cozefallback-go"
)

func main() {
	client, err := cozefallback.FromEnv()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer client.Close()

	stream, err := client.Stream(context.Background(), &cozefallback.Request{Method: "POST", Path: "/v3/chat", JSON: map[string]any{
		"bot_id": os.Getenv("PUBLISHED_BOT_ID"), "user_id": os.Getenv("USER_ID"), "stream": true,
		"additional_messages": []map[string]any{{"role": "user", "content": "What can you do?", "content_type": "text"}},
	}})
	var apiErr *cozefallback.APIError
	if errors.As(err, &apiErr) {
		fmt.Printf("Coze error %d (logid %s): %s\n", apiErr.Code, apiErr.LogID, apiErr.Msg)
		os.Exit(1)
	} else if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer stream.Close()
	fmt.Printf("streaming from the %s credential\n", stream.Credential)
	for {
		ev, err := stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(" ", ev.Event)
	}
}
