// A text chat with a bot over Coze's realtime WebSocket API (/v1/chat), the counterpart of coze-go's
// WebSocket chat example: coze-go's WebSocket client takes no hook for another connection, so the session is
// opened by cozefallback itself, with the same fallback as HTTP calls. After the move the personal
// credential's session is refused with an `error` 4101 event; the library connects again with the enterprise
// credential and replays the events sent so far, and this program never sees the refusal.
//
//	COZE_API_BASE=... COZE_API_TOKEN=pat_old COZE_API_TOKEN_ENTERPRISE=pat_new PUBLISHED_BOT_ID=... go run ./realtime
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	cozefallback "github.com/cozefallback/cozefallback-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run() error {
	client, err := cozefallback.New(cozefallback.Config{
		BaseURL:    os.Getenv("COZE_API_BASE"),
		Personal:   cozefallback.PAT(os.Getenv("COZE_API_TOKEN")),
		Enterprise: cozefallback.PAT(os.Getenv("COZE_API_TOKEN_ENTERPRISE")),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	botID := os.Getenv("PUBLISHED_BOT_ID")
	if botID == "" {
		botID = os.Getenv("COZE_BOT_ID")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// coze-go: client.WebSockets.Chat.Create(ctx, &coze.CreateWebsocketChatReq{BotID: &botID}) + Connect()
	session, err := client.WebSocket(ctx, "/v1/chat", url.Values{"bot_id": {botID}})
	if err != nil {
		return err
	}
	defer session.Close()

	// coze-go: chatClient.ChatUpdate(...) and chatClient.ConversationMessageCreate(...)
	events := []map[string]any{
		{"id": "1", "event_type": "chat.update", "data": map[string]any{"chat_config": map[string]any{"user_id": "user-1"}}},
		{"id": "2", "event_type": "conversation.message.create",
			"data": map[string]any{"role": "user", "content_type": "text", "content": "What can you do?"}},
	}
	for _, ev := range events {
		if err := session.Send(ctx, ev); err != nil {
			return err
		}
	}

	// coze-go: the handler's OnConversationMessageDelta, OnError... and chatClient.Wait()
	var answer strings.Builder
	for {
		ev, err := session.Next(ctx)
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the server closed the session before the chat completed")
		}
		if err != nil {
			return err // *cozefallback.StreamInterruptedError if it broke mid-answer
		}
		switch ev.EventType {
		case "conversation.message.delta":
			var delta struct {
				Content string `json:"content"`
			}
			if err := ev.Decode(&delta); err == nil {
				answer.WriteString(delta.Content)
			}
		case "error":
			fmt.Printf("chat error: %s\n", ev.Data)
		}
		if ev.EventType == "conversation.chat.completed" {
			break
		}
	}
	fmt.Printf("answer: %s\n", answer.String())
	fmt.Printf("chat served by the %s credential after %d handshake(s), logid %s\n",
		session.Credential(), session.Attempts(), session.LogID())
	return nil
}
