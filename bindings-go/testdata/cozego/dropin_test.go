// The real github.com/coze-dev/coze-go through cozefallback.Transport against coze-mock: the SDK's chat call
// keeps working across the move. bindings-c/test.sh copies this file into a throw-away module, fetches
// coze-go from the Go module proxy and runs it (it reports SKIPPED when the proxy refuses the module).
// Needs COZE_MOCK_URL (a running coze-mock).
package cozego_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/coze-dev/coze-go"
	cozefallback "github.com/cozefallback/cozefallback-go"
)

func mock(t *testing.T, method, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, os.Getenv("COZE_MOCK_URL")+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
}

func TestCozeGoChatKeepsWorkingAcrossTheMove(t *testing.T) {
	base := os.Getenv("COZE_MOCK_URL")
	if base == "" {
		t.Fatal("set COZE_MOCK_URL")
	}
	var info struct {
		PersonalPAT   string   `json:"personal_pat"`
		EnterprisePAT string   `json:"enterprise_pat"`
		Bots          []string `json:"bots"`
	}
	mock(t, "GET", "/__mock/info", "", &info)
	mock(t, "POST", "/__mock/reset", "{}", nil)
	client, err := cozefallback.New(cozefallback.Config{
		BaseURL: base, Personal: cozefallback.PAT(info.PersonalPAT), Enterprise: cozefallback.PAT(info.EnterprisePAT),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// The application's code stays as it was; only the HTTP client changes.
	api := coze.NewCozeAPI(coze.NewTokenAuth("the-sdk-token-is-replaced"), coze.WithBaseURL(base),
		coze.WithHttpClient(&http.Client{Transport: &cozefallback.Transport{Client: client}}))
	req := &coze.CreateChatsReq{
		BotID: info.Bots[0], UserID: "user-1",
		Messages: []*coze.Message{coze.BuildUserQuestionText("What can you do?", nil)},
	}
	ctx := context.Background()
	if _, err := api.Chat.Create(ctx, req); err != nil {
		t.Fatalf("before the move: %v", err)
	}
	mock(t, "POST", "/__mock/state", `{"moved":true}`, nil)
	for i := 0; i < 3; i++ {
		if _, err := api.Chat.Create(ctx, req); err != nil {
			t.Fatalf("after the move: %v", err)
		}
	}
	var stats struct {
		Requests struct {
			ByCredential map[string]int `json:"by_credential"`
		} `json:"requests"`
	}
	mock(t, "GET", "/__mock/stats", "", &stats)
	if stats.Requests.ByCredential["enterprise"] != 3 {
		t.Fatalf("the enterprise credential should serve every chat after the move: %v", stats.Requests.ByCredential)
	}
}
