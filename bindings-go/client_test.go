package cozefallback_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

func newClient(t *testing.T) *cf.Client {
	t.Helper()
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := cf.NewFromJSON(patConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func chatBody(stream bool) map[string]any {
	return map[string]any{
		"bot_id": bot(0), "user_id": "user-1", "stream": stream,
		"additional_messages": []map[string]any{{"role": "user", "content": "hi", "content_type": "text"}},
	}
}

func TestNewFromConfigStruct(t *testing.T) {
	c, err := cf.New(cf.Config{
		BaseURL:    mockURL,
		Personal:   cf.PAT(infoString("personal_pat")),
		Enterprise: cf.PAT(infoString("enterprise_pat")),
		Mode:       cf.PersonalFirst,
		Fallback:   &cf.FallbackConfig{StickyTTLSecs: cf.Ptr[uint64](60)},
		Retry:      &cf.RetryConfig{MaxRetries: cf.Ptr[uint32](1), BaseDelayMs: 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(context.Background(), "/v1/bots/"+bot(0), nil)
	if err != nil || resp.StatusCode != 200 || resp.Credential != "personal" || resp.Attempts != 1 || resp.LogID == "" {
		t.Fatalf("%+v %v", resp, err)
	}
	if resp.Header.Get("X-Tt-Logid") != resp.LogID {
		t.Fatalf("header %v", resp.Header)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := cf.NewFromJSON(`{"personal":{"type":"pat","token":"x"},"bogus":1}`)
	var ce *cf.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "bogus") || cf.KindOf(err) != cf.KindConfig {
		t.Fatalf("%T %v", err, err)
	}
	_, err = cf.New(cf.Config{})
	if !errors.As(err, &ce) {
		t.Fatalf("empty config: %T %v", err, err)
	}
	t.Setenv("COZE_API_TOKEN", "")
	t.Setenv("COZE_API_TOKEN_ENTERPRISE", "")
	t.Setenv("COZE_JWT_OAUTH_CLIENT_ID", "")
	if _, err := cf.FromEnv(); !errors.As(err, &ce) {
		t.Fatalf("FromEnv without credentials: %T %v", err, err)
	}
}

func TestFromEnv(t *testing.T) {
	newClient(t)
	t.Setenv("COZE_API_BASE", mockURL)
	t.Setenv("COZE_API_TOKEN", infoString("personal_pat"))
	t.Setenv("COZE_API_TOKEN_ENTERPRISE", infoString("enterprise_pat"))
	c, err := cf.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mockCall("POST", "/__mock/state", map[string]any{"moved": true}, nil)
	resp, err := c.PostJSON(context.Background(), "/v3/chat", chatBody(false))
	if err != nil || resp.Credential != "enterprise" || resp.Attempts != 2 {
		t.Fatalf("%+v %v", resp, err)
	}
}

func TestAPIErrorFields(t *testing.T) {
	c := newClient(t)
	_, err := c.Get(context.Background(), "/v1/bots/7359999999999999999", url.Values{"x": {"1"}})
	var api *cf.APIError
	if !errors.As(err, &api) {
		t.Fatalf("%T %v", err, err)
	}
	if api.Code != 4200 || api.LogID == "" || api.HTTPStatus != 200 || api.Credential != "enterprise" || api.Attempts != 2 {
		t.Fatalf("%+v", api)
	}
	if api.Msg == "" || strings.Contains(api.Msg, "4200") || !strings.Contains(api.Error(), "4200") {
		t.Fatalf("Msg is Coze's own message, Error() the full story: %q / %q", api.Msg, api.Error())
	}
	if api.Response == nil || api.Response.StatusCode != 200 || !strings.Contains(string(api.Response.Body), `"code":4200`) {
		t.Fatalf("the failed answer: %+v", api.Response)
	}
	var prev *cf.APIError
	if !errors.As(api.Previous, &prev) || prev.Code != 4200 || prev.Credential != "personal" {
		t.Fatalf("previous %+v", api.Previous)
	}
	var reauth *cf.ReauthRequiredError
	if errors.As(err, &reauth) {
		t.Fatal("an APIError is not a ReauthRequiredError")
	}
}

func TestReauthRequired(t *testing.T) {
	newClient(t)
	// An OBO user token the mock does not know, with a refresh token it refuses: the user must authorize again.
	cfg := `{"base_url":"` + mockURL + `","personal":{"type":"oauth","client_id":"` + infoString("oauth_client_id") +
		`","client_secret":"` + infoString("oauth_client_secret") + `","access_token":"czu_unknown","refresh_token":"bad",` +
		`"redirect_uri":"http://127.0.0.1/cb"}}`
	c, err := cf.NewFromJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "/v1/bots/"+bot(0), nil)
	var reauth *cf.ReauthRequiredError
	var auth *cf.AuthError
	switch {
	case errors.As(err, &reauth):
		if reauth.AuthorizeURL == "" {
			t.Fatalf("no authorize URL: %+v", reauth)
		}
	case errors.As(err, &auth):
		// The refresh itself was refused: an OAuth error is also a faithful answer.
		t.Logf("refresh refused: %v", auth)
	default:
		t.Fatalf("%T %v", err, err)
	}
}

func TestContextCancelStopsTheCall(t *testing.T) {
	c := newClient(t)
	mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v1/bots/", "action": map[string]any{"type": "hang"}}}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	started := time.Now()
	_, err := c.Get(ctx, "/v1/bots/"+bot(0), nil)
	var ce *cf.CancelledError
	if !errors.As(err, &ce) || !errors.Is(err, context.Canceled) {
		t.Fatalf("%T %v", err, err)
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// Already cancelled: fails before sending.
	if _, err := c.Get(ctx, "/v1/bots/"+bot(0), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}

func TestContextDeadlineStopsTheCall(t *testing.T) {
	c := newClient(t)
	mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v1/bots/", "action": map[string]any{"type": "hang"}}}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := c.Get(ctx, "/v1/bots/"+bot(0), nil)
	var te *cf.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%T %v", err, err)
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Fatalf("deadline took %v", d)
	}
}

func TestStreamAndCancelMidStream(t *testing.T) {
	c := newClient(t)
	s, err := c.Stream(context.Background(), &cf.Request{Method: "POST", Path: "/v3/chat", JSON: chatBody(true)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		ev, err := s.Next()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		n++
		_ = ev
	}
	if n < 2 || s.Credential != "personal" {
		t.Fatalf("%d events via %s", n, s.Credential)
	}
	s.Close()
	s.Close()
	if _, err := s.Next(); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("next after close: %v", err)
	}

	// A stream whose server goes quiet: cancelling the context stops the blocked Next.
	mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v3/chat", "action": map[string]any{"type": "hang"}}}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	_, err = c.Stream(ctx, &cf.Request{Method: "POST", Path: "/v3/chat", JSON: chatBody(true)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%T %v", err, err)
	}
}

func TestUploadAndMetricsAndMode(t *testing.T) {
	c := newClient(t)
	resp, err := c.Upload(context.Background(), "/v1/files/upload", "hello.txt", []byte("hello"))
	if err != nil || !strings.Contains(string(resp.Body), "hello.txt") {
		t.Fatalf("%v %v", resp, err)
	}
	path := filepath.Join(t.TempDir(), "notes.md")
	os.WriteFile(path, []byte("# notes"), 0o600)
	resp, err = c.UploadFile(context.Background(), "/v1/files/upload", path)
	if err != nil || !strings.Contains(string(resp.Body), "notes.md") {
		t.Fatalf("%v %v", resp, err)
	}
	if _, err := c.UploadFile(context.Background(), "/v1/files/upload", "/nonexistent"); cf.KindOf(err) != cf.KindInvalidArgument {
		t.Fatalf("%T %v", err, err)
	}
	if err := c.SetMode(cf.EnterpriseFirst); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMode("sideways"); cf.KindOf(err) != cf.KindConfig {
		t.Fatalf("%v", err)
	}
	m, err := c.Metrics()
	if err != nil || m == nil {
		t.Fatalf("%v %v", m, err)
	}
	prom, err := c.MetricsPrometheus()
	if err != nil || !strings.Contains(prom, "cozefallback_") {
		t.Fatalf("%v", err)
	}
	if cf.Version() == "" {
		t.Fatal("no version")
	}
}

func TestCloseIsIdempotentAndConcurrentUse(t *testing.T) {
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16*5)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if _, err := c.Get(context.Background(), "/v1/bots/"+bot(0), nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "/v1/bots/"+bot(0), nil); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("%v", err)
	}
	if err := c.SetMode(cf.PersonalFirst); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("%v", err)
	}
}

func TestCloseCancelsACallInFlight(t *testing.T) {
	c := newClient(t)
	mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v1/bots/", "action": map[string]any{"type": "hang"}}}}, nil)
	defer mockCall("POST", "/__mock/reset", map[string]any{}, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "/v1/bots/"+bot(0), nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	closed := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(closed); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case err := <-done:
		var ce *cf.CancelledError
		if !errors.As(err, &ce) {
			t.Fatalf("%T %v", err, err)
		}
	case <-time.After(time.Second):
		t.Fatal("the call did not end within 1 s of Close")
	}
	if _, err := c.Get(context.Background(), "/v1/bots/"+bot(0), nil); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("%v", err)
	}
}

func TestCredentialFormatMasksSecrets(t *testing.T) {
	c := cf.Credential{Type: "oauth", ClientID: "11", ClientSecret: "s3cret", AccessToken: "czu_abc", RefreshToken: "czr_def"}
	p := cf.PAT("pat_abcdef")
	for _, text := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", p), fmt.Sprint(cf.Config{Personal: p})} {
		for _, secret := range []string{"s3cret", "czu_abc", "czr_def", "pat_abcdef"} {
			if strings.Contains(text, secret) {
				t.Fatalf("secret %q printed in %s", secret, text)
			}
		}
	}
	if !strings.Contains(fmt.Sprintf("%v", c), "ClientID:11") {
		t.Fatalf("non-secret fields should still print: %v", c)
	}
}
