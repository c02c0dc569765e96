package cozefallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

const oauthRedirect = "http://127.0.0.1:9/callback"

func newOAuthApp(t *testing.T, withSecret bool) *cf.OAuthApp {
	t.Helper()
	secret := ""
	if withSecret {
		secret = infoString("oauth_client_secret")
	}
	app, err := cf.NewOAuthApp(infoString("base_url"), infoString("oauth_client_id"), secret, nil)
	if err != nil {
		t.Fatalf("NewOAuthApp: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// mockAuthCode is the code the browser redirect would carry (POST /__mock/oauth/code); challenge may be "".
func mockAuthCode(t *testing.T, challenge string) string {
	t.Helper()
	body := map[string]any{"redirect_uri": oauthRedirect}
	if challenge != "" {
		body["code_challenge"], body["code_challenge_method"] = challenge, "S256"
	}
	var answer struct{ Code string }
	if err := mockCall("POST", "/__mock/oauth/code", body, &answer); err != nil || answer.Code == "" {
		t.Fatalf("the mock issued no code: %v", err)
	}
	return answer.Code
}

func checkToken(t *testing.T, tok *cf.OAuthToken, what string) {
	t.Helper()
	if tok == nil || !strings.HasPrefix(tok.AccessToken, "czu_") || tok.RefreshToken == "" || !tok.ExpiresAt.After(time.Now()) {
		t.Fatalf("%s: not a usable token: %v", what, tok)
	}
}

// wantAuthError checks that err is an *AuthError with the OAuth error oauth and names none of secrets.
func wantAuthError(t *testing.T, err error, oauth string, secrets ...string) {
	t.Helper()
	var ae *cf.AuthError
	if !errors.As(err, &ae) || ae.OAuthError != oauth || cf.KindOf(err) != cf.KindAuth {
		t.Fatalf("expected an *AuthError %s, got %T: %v", oauth, err, err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("the error names a secret: %v", err)
		}
	}
}

// pkceLogin logs a user in with a PKCE app (no secret) and returns the tokens.
func pkceLogin(t *testing.T) *cf.OAuthToken {
	t.Helper()
	app := newOAuthApp(t, false)
	auth, err := app.AuthorizeURL(oauthRedirect, "", true)
	if err != nil {
		t.Fatalf("AuthorizeURL: %v", err)
	}
	u, err := url.Parse(auth.URL)
	if err != nil {
		t.Fatalf("the authorize URL does not parse: %v", err)
	}
	q := u.Query()
	if q.Get("client_id") != infoString("oauth_client_id") || q.Get("redirect_uri") != oauthRedirect ||
		q.Get("state") == "" || q.Get("state") != auth.State || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize URL %s", auth.URL)
	}
	if !strings.Contains(auth.URL, "redirect_uri="+url.QueryEscape(oauthRedirect)) {
		t.Fatalf("the redirect URI is not URL-encoded in %s", auth.URL)
	}
	if auth.CodeVerifier == "" || strings.Contains(auth.URL, auth.CodeVerifier) {
		t.Fatalf("a verifier, kept out of the URL: %q", auth.CodeVerifier)
	}
	challenge := q.Get("code_challenge")
	code := mockAuthCode(t, challenge)
	_, err = app.ExchangeCode(context.Background(), code, oauthRedirect, "wrong-verifier-0123456789-0123456789")
	wantAuthError(t, err, "invalid_grant", code, "wrong-verifier-0123456789-0123456789")
	tok, err := app.ExchangeCode(context.Background(), mockAuthCode(t, challenge), oauthRedirect, auth.CodeVerifier)
	if err != nil {
		t.Fatalf("PKCE exchange: %v", err)
	}
	checkToken(t, tok, "PKCE exchange")
	return tok
}

func TestOAuthPKCELogin(t *testing.T) { pkceLogin(t) }

func TestOAuthCodeLogin(t *testing.T) {
	app := newOAuthApp(t, true)
	auth, err := app.AuthorizeURL(oauthRedirect, "7", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(auth.URL, "/workspace_id/7/authorize?") || strings.Contains(auth.URL, "code_challenge") || auth.CodeVerifier != "" {
		t.Fatalf("a workspace URL without PKCE: %v", auth)
	}
	again, _ := app.AuthorizeURL(oauthRedirect, "", false)
	if again.State == auth.State || again.State == "" {
		t.Fatalf("every URL has its own state: %q, %q", auth.State, again.State)
	}
	code := mockAuthCode(t, "")
	tok, err := app.ExchangeCode(context.Background(), code, oauthRedirect, "")
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	checkToken(t, tok, "code exchange")
	_, err = app.ExchangeCode(context.Background(), code, oauthRedirect, "")
	wantAuthError(t, err, "invalid_grant", code, infoString("oauth_client_secret"))
	// Without the secret (and no verifier) the endpoint refuses the client.
	_, err = newOAuthApp(t, false).ExchangeCode(context.Background(), mockAuthCode(t, ""), oauthRedirect, "")
	wantAuthError(t, err, "invalid_client")
}

func TestOAuthRefreshRotates(t *testing.T) {
	first := pkceLogin(t)
	app := newOAuthApp(t, true)
	second, err := app.Refresh(context.Background(), first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	checkToken(t, second, "refresh")
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("the refresh did not rotate the tokens")
	}
	_, err = app.Refresh(context.Background(), first.RefreshToken)
	wantAuthError(t, err, "invalid_grant", first.RefreshToken)
}

func approveDevice(t *testing.T, userCode string, deny bool) {
	t.Helper()
	if err := mockCall("POST", "/__mock/oauth/device/approve", map[string]any{"user_code": userCode, "deny": deny}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthDeviceFlow(t *testing.T) {
	app := newOAuthApp(t, false)
	ctx := context.Background()
	dc, err := app.DeviceCode(ctx, "")
	if err != nil {
		t.Fatalf("DeviceCode: %v", err)
	}
	if dc.DeviceCode == "" || dc.UserCode == "" || !strings.HasPrefix(dc.VerificationURI, "http") || dc.ExpiresIn <= 0 || dc.Interval <= 0 {
		t.Fatalf("device code %+v", dc)
	}
	_, err = app.PollDeviceToken(ctx, dc.DeviceCode)
	wantAuthError(t, err, "authorization_pending", dc.DeviceCode)

	// A wait nobody approves ends with the context.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	started := time.Now()
	_, err = app.WaitDeviceToken(short, dc)
	cancel()
	var te *cf.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || time.Since(started) > 5*time.Second {
		t.Fatalf("a wait past the context deadline: %T %v after %v", err, err, time.Since(started))
	}

	approveDevice(t, dc.UserCode, false)
	tok, err := app.WaitDeviceToken(ctx, dc)
	if err != nil {
		t.Fatalf("WaitDeviceToken: %v", err)
	}
	checkToken(t, tok, "device flow")

	denied, err := app.DeviceCode(ctx, "7")
	if err != nil {
		t.Fatal(err)
	}
	approveDevice(t, denied.UserCode, true)
	_, err = app.WaitDeviceToken(ctx, denied)
	wantAuthError(t, err, "access_denied")
}

// oboConfig is a client whose personal credential is the OBO user of tok, its access token already expired.
func oboConfig(tok *cf.OAuthToken) cf.Config {
	return cf.Config{
		BaseURL: infoString("base_url"),
		Personal: &cf.Credential{Type: "oauth", ClientID: infoString("oauth_client_id"),
			ClientSecret: infoString("oauth_client_secret"), AccessToken: tok.AccessToken,
			RefreshToken: tok.RefreshToken, ExpiresAt: 1, RedirectURI: oauthRedirect},
		Enterprise: cf.PAT(infoString("enterprise_pat")),
	}
}

// resetMock clears what earlier tests left in the mock (a move, faults).
func resetMock(t *testing.T) {
	t.Helper()
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestFetchTokenAndOnTokenRefresh(t *testing.T) {
	resetMock(t)
	tok := pkceLogin(t)
	client, err := cf.New(oboConfig(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var mu sync.Mutex
	var calls []cf.TokenRefresh
	client.OnTokenRefresh(func(r cf.TokenRefresh) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r)
	})
	ctx := context.Background()
	if err := client.FetchToken(ctx, "personal"); err != nil {
		t.Fatalf("FetchToken refreshes the expired token: %v", err)
	}
	mu.Lock()
	got := append([]cf.TokenRefresh(nil), calls...)
	mu.Unlock()
	if len(got) != 1 || got[0].Credential != "personal" || got[0].AccessToken == "" || got[0].RefreshToken == "" ||
		got[0].RefreshToken == tok.RefreshToken || !got[0].ExpiresAt.After(time.Now()) {
		t.Fatalf("one hook call with rotated tokens, got %v", got)
	}
	if err := client.FetchToken(ctx, "personal"); err != nil || len(calls) != 1 {
		t.Fatalf("a second FetchToken uses the cached token: %v, %d calls", err, len(calls))
	}
	resp, err := client.Get(ctx, "/v1/bots/"+bot(0), nil)
	if err != nil || resp.Credential != "personal" || resp.Attempts != 1 {
		t.Fatalf("the refreshed user token serves: %v %+v", err, resp)
	}
	// The hooked refresh token is the one that works; the configured one was used up.
	app := newOAuthApp(t, true)
	_, err = app.Refresh(ctx, tok.RefreshToken)
	wantAuthError(t, err, "invalid_grant", tok.RefreshToken)
	if next, err := app.Refresh(ctx, got[0].RefreshToken); err != nil {
		t.Fatalf("the hooked refresh token: %v", err)
	} else {
		checkToken(t, next, "refresh with the hooked token")
	}

	var ia *cf.InvalidArgumentError
	if err := client.FetchToken(ctx, "company"); !errors.As(err, &ia) || !strings.Contains(err.Error(), "company") {
		t.Fatalf("an unknown credential: %T %v", err, err)
	}
	if err := client.FetchToken(ctx, "per\x00sonal"); !errors.As(err, &ia) {
		t.Fatalf("a NUL byte: %T %v", err, err)
	}
	client.OnTokenRefresh(nil)
	client.Close()
	if err := client.FetchToken(ctx, "personal"); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("FetchToken on a closed client: %v", err)
	}
	client.OnTokenRefresh(func(cf.TokenRefresh) {}) // no-op on a closed client
}

func TestOnTokenRefreshPanicIsRecovered(t *testing.T) {
	resetMock(t)
	client, err := cf.New(oboConfig(pkceLogin(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	called := make(chan struct{}, 1)
	client.OnTokenRefresh(func(cf.TokenRefresh) {
		called <- struct{}{}
		panic("the app's hook failed")
	})
	resp, err := client.Get(context.Background(), "/v1/bots/"+bot(0), nil)
	if err != nil || resp.Credential != "personal" {
		t.Fatalf("the call goes on after a panicking hook: %v", err)
	}
	select {
	case <-called:
	default:
		t.Fatal("the hook was not called for the refresh a request made")
	}
}

func TestFetchTokenRefusedRefresh(t *testing.T) {
	resetMock(t)
	client, err := cf.New(cf.Config{BaseURL: infoString("base_url"), Mode: "personal_only",
		Personal: &cf.Credential{Type: "oauth", ClientID: infoString("oauth_client_id"), AccessToken: "czu_revoked",
			RefreshToken: "czr_revoked", ExpiresAt: 1, RedirectURI: oauthRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hooked := 0
	client.OnTokenRefresh(func(cf.TokenRefresh) { hooked++ })
	wantReauth := func(err error, what string) {
		t.Helper()
		var re *cf.ReauthRequiredError
		if !errors.As(err, &re) || !strings.Contains(re.AuthorizeURL, "client_id="+infoString("oauth_client_id")) ||
			!strings.Contains(re.AuthorizeURL, "redirect_uri="+url.QueryEscape(oauthRedirect)) || strings.Contains(err.Error(), "czr_revoked") {
			t.Fatalf("%s: %T %v", what, err, err)
		}
	}
	wantReauth(client.FetchToken(context.Background(), "personal"), "FetchToken with a refused refresh token")
	_, err = client.Get(context.Background(), "/v1/bots/"+bot(0), nil)
	wantReauth(err, "a request with a refused refresh token")
	var ia *cf.InvalidArgumentError
	if err := client.FetchToken(context.Background(), "enterprise"); !errors.As(err, &ia) || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("a credential that is not configured: %T %v", err, err)
	}
	if hooked != 0 {
		t.Fatalf("no hook call for a refused refresh, got %d", hooked)
	}
}

func TestOAuthValuesNeverPrintSecrets(t *testing.T) {
	tok := cf.OAuthToken{AccessToken: "czu_secret_access", RefreshToken: "czr_secret_refresh", ExpiresAt: time.Unix(2e9, 0)}
	ref := cf.TokenRefresh{Credential: "personal", AccessToken: "czu_secret_access", RefreshToken: "czr_secret_refresh", ExpiresAt: time.Unix(2e9, 0)}
	auth := cf.AuthorizeURL{URL: "https://www.coze.cn/x?state=s", State: "s", CodeVerifier: "verifier_secret_value"}
	for _, v := range []any{tok, &tok, ref, &ref, auth, &auth} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{fmt.Sprint(v), fmt.Sprintf("%v|%+v|%#v|%s|%q", v, v, v, v, v), string(js)} {
			for _, secret := range []string{"czu_secret_access", "czr_secret_refresh", "verifier_secret_value"} {
				if strings.Contains(text, secret) {
					t.Fatalf("%T printed a secret: %s", v, text)
				}
			}
			if !strings.Contains(text, "***") {
				t.Fatalf("%T: the masked fields are missing: %s", v, text)
			}
		}
	}
	if s := ref.String(); !strings.Contains(s, "personal") || !strings.Contains(auth.String(), "state=s") {
		t.Fatalf("the non-secret fields are printed: %s / %s", s, auth)
	}
	// The fields themselves keep the values: the app stores them.
	if tok.RefreshToken != "czr_secret_refresh" {
		t.Fatal("the field was changed")
	}
}

func TestOAuthBadArguments(t *testing.T) {
	var ce *cf.ConfigError
	if _, err := cf.NewOAuthApp(infoString("base_url"), " ", "", nil); !errors.As(err, &ce) || ce.Field != "client_id" {
		t.Fatalf("an empty client id: %T %v", err, err)
	}
	if _, err := cf.NewOAuthApp("http://coze.example:8080", "1130", "", nil); !errors.As(err, &ce) {
		t.Fatalf("http:// off loopback: %T %v", err, err)
	}
	insecure, err := cf.NewOAuthApp("http://coze.example:8080", "1130", "", &cf.OAuthAppOptions{AllowInsecureHTTP: true})
	if err != nil {
		t.Fatalf("allowed with AllowInsecureHTTP: %v", err)
	}
	insecure.Close()
	var ia *cf.InvalidArgumentError
	if _, err := cf.NewOAuthApp(infoString("base_url"), "11\x0030", "", nil); !errors.As(err, &ia) || !strings.Contains(err.Error(), "clientID") {
		t.Fatalf("a NUL byte in the client id: %T %v", err, err)
	}
	app := newOAuthApp(t, true)
	ctx := context.Background()
	if _, err := app.AuthorizeURL("http://x/\x00", "", true); !errors.As(err, &ia) {
		t.Fatalf("AuthorizeURL with a NUL byte: %T %v", err, err)
	}
	if _, err := app.WaitDeviceToken(ctx, nil); !errors.As(err, &ia) {
		t.Fatalf("WaitDeviceToken(nil): %T %v", err, err)
	}
	for _, dc := range []*cf.DeviceCode{
		{DeviceCode: "d", ExpiresIn: -time.Second, Interval: time.Second},
		{DeviceCode: "d", ExpiresIn: time.Minute, Interval: 0},
		{DeviceCode: "d", ExpiresIn: 1000 * 24 * time.Hour, Interval: time.Second},
	} {
		if _, err := app.WaitDeviceToken(ctx, dc); !errors.As(err, &ia) {
			t.Fatalf("WaitDeviceToken(%+v): %T %v", dc, err, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	var cancelled *cf.CancelledError
	if _, err := app.Refresh(done, "czr_x"); !errors.As(err, &cancelled) {
		t.Fatalf("a cancelled context: %T %v", err, err)
	}

	// Close ends a wait in flight at once, and later calls give ErrClosed.
	waiter := newOAuthApp(t, false)
	dc, err := waiter.DeviceCode(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := waiter.WaitDeviceToken(ctx, dc)
		result <- err
	}()
	time.Sleep(200 * time.Millisecond)
	started := time.Now()
	waiter.Close()
	select {
	case err := <-result:
		if !errors.As(err, &cancelled) {
			t.Fatalf("a wait ended by Close: %T %v", err, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait in flight")
	}
	if time.Since(started) > 5*time.Second {
		t.Fatal("Close was slow")
	}
	if _, err := waiter.Refresh(ctx, "czr_x"); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("Refresh on a closed app: %v", err)
	}
	if _, err := waiter.AuthorizeURL(oauthRedirect, "", true); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("AuthorizeURL on a closed app: %v", err)
	}
	if err := waiter.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}
