package cozefallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

// Every tests/scenarios/obo/*.json through the Go API (one subtest per file): the keys tests/scenarios/README.md
// lists under "OBO scenarios", with the Go OAuthApp for the logins and OnTokenRefresh for the hook's record.
func TestOBOScenarios(t *testing.T) {
	files, _ := filepath.Glob("../tests/scenarios/obo/*.json")
	sort.Strings(files)
	if len(files) < 8 {
		t.Fatalf("expected at least 8 OBO scenarios in ../tests/scenarios/obo, found %d", len(files))
	}
	vars := placeholders()
	for _, file := range files {
		file := file
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			if err := runScenario(file, vars); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// oboApp is the scenarios' OAuth app on the mock, with the client secret (the code flow) or without.
func oboApp(withSecret bool) (*cf.OAuthApp, error) {
	secret := ""
	if withSecret {
		secret = infoString("oauth_client_secret")
	}
	return cf.NewOAuthApp(infoString("base_url"), infoString("oauth_client_id"), secret, nil)
}

// oboLogin runs obo_login ("code", "pkce" or "device") with the Go OAuthApp and keeps the tokens as
// ${OBO_ACCESS_TOKEN} and ${OBO_REFRESH_TOKEN}.
func oboLogin(raw json.RawMessage, vars map[string]string) error {
	flow := str(raw)
	if flow != "code" && flow != "pkce" && flow != "device" {
		return fmt.Errorf("obo_login must be code, pkce or device, not %s", raw)
	}
	app, err := oboApp(flow == "code")
	if err != nil {
		return fmt.Errorf("obo_login: %v", err)
	}
	defer app.Close()
	var tok *cf.OAuthToken
	if flow == "device" {
		tok, err = oboDeviceLogin(app)
	} else {
		tok, err = oboCodeLogin(app, flow == "pkce")
	}
	if err != nil {
		return fmt.Errorf("obo_login %s: %v", flow, err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		return fmt.Errorf("obo_login %s: an empty token", flow)
	}
	vars["OBO_ACCESS_TOKEN"], vars["OBO_REFRESH_TOKEN"] = tok.AccessToken, tok.RefreshToken
	return nil
}

// oboCodeLogin: the authorize URL's checks, the mock's code, the exchange (with the verifier for PKCE).
func oboCodeLogin(app *cf.OAuthApp, pkce bool) (*cf.OAuthToken, error) {
	auth, err := app.AuthorizeURL(oauthRedirect, "", pkce)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(auth.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if q.Get("client_id") != infoString("oauth_client_id") || q.Get("state") == "" ||
		!strings.Contains(auth.URL, "redirect_uri="+url.QueryEscape(oauthRedirect)) {
		return nil, fmt.Errorf("the authorize URL lacks client_id, the encoded redirect_uri or state: %s", auth.URL)
	}
	body := map[string]any{"redirect_uri": oauthRedirect}
	if pkce {
		if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || auth.CodeVerifier == "" {
			return nil, fmt.Errorf("the PKCE authorize URL lacks the S256 challenge: %s", auth.URL)
		}
		body["code_challenge"], body["code_challenge_method"] = q.Get("code_challenge"), "S256"
	}
	var answer struct{ Code string }
	if err := mockCall("POST", "/__mock/oauth/code", body, &answer); err != nil {
		return nil, err
	}
	return app.ExchangeCode(context.Background(), answer.Code, oauthRedirect, auth.CodeVerifier)
}

// oboDeviceLogin: the device code, the mock's approval, the wait.
func oboDeviceLogin(app *cf.OAuthApp) (*cf.OAuthToken, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dc, err := app.DeviceCode(ctx, "")
	if err != nil {
		return nil, err
	}
	if dc.DeviceCode == "" || dc.UserCode == "" || dc.VerificationURI == "" {
		return nil, fmt.Errorf("the device code lacks a field: %+v", dc)
	}
	if err := mockCall("POST", "/__mock/oauth/device/approve", map[string]any{"user_code": dc.UserCode}, nil); err != nil {
		return nil, err
	}
	return app.WaitDeviceToken(ctx, dc)
}

// configuredRefresh is the refresh token of the config's first "oauth" credential (personal, then enterprise).
func configuredRefresh(config string) string {
	var doc map[string]struct {
		Type         string `json:"type"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(config), &doc)
	for _, side := range []string{"personal", "enterprise"} {
		if doc[side].Type == "oauth" {
			return doc[side].RefreshToken
		}
	}
	return ""
}

// refreshLog records every call of the OnTokenRefresh hook, in order (it runs on library threads), with whether
// the expiry was in the future when it ran. The tokens are compared, never printed.
type refreshLog struct {
	mu     sync.Mutex
	calls  []cf.TokenRefresh
	future []bool
}

func (r *refreshLog) install(client *cf.Client) {
	client.OnTokenRefresh(func(t cf.TokenRefresh) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, t)
		r.future = append(r.future, t.ExpiresAt.After(time.Now()))
	})
}

// lastRefreshToken is the refresh token the last hook call handed over, or "".
func (r *refreshLog) lastRefreshToken() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1].RefreshToken
}

// check compares expect_refresh_hook (a list of {credential?}) with the calls: in number and order, each with
// non-empty tokens, a refresh token that rotated (not the configured one, not one handed over before) and a
// future expiry.
func (r *refreshLog) check(raw json.RawMessage, configured string) error {
	var want []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		return fmt.Errorf("expect_refresh_hook must be an array of objects: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != len(want) {
		return fmt.Errorf("refresh hook: expected %d call(s), got %d", len(want), len(r.calls))
	}
	seen := map[string]int{}
	for i, c := range r.calls {
		if err := checkKeys(want[i], "expect_refresh_hook[]", "credential"); err != nil {
			return err
		}
		if w, ok := want[i]["credential"]; ok && str(w) != c.Credential {
			return fmt.Errorf("refresh hook call %d: credential %s, expected %s", i, c.Credential, str(w))
		}
		switch earlier, again := seen[c.RefreshToken]; {
		case c.AccessToken == "" || c.RefreshToken == "":
			return fmt.Errorf("refresh hook call %d: an empty access or refresh token", i)
		case configured != "" && c.RefreshToken == configured:
			return fmt.Errorf("refresh hook call %d: the refresh token did not rotate (it is the configured one)", i)
		case again:
			return fmt.Errorf("refresh hook call %d: the refresh token of call %d again", i, earlier)
		case !r.future[i]:
			return fmt.Errorf("refresh hook call %d: ExpiresAt %v is not in the future", i, c.ExpiresAt)
		}
		seen[c.RefreshToken] = i
	}
	return nil
}

// oboStep runs fetch_token (the client mints or refreshes now) or oauth_refresh (the OAuth app refreshes the
// hooked or the configured refresh token) and checks its expect.
func oboStep(state *scenarioState, step map[string]json.RawMessage, expect map[string]json.RawMessage) error {
	out := &outcome{}
	if kind, ok := step["fetch_token"]; ok {
		if err := state.client.FetchToken(context.Background(), str(kind)); err != nil {
			fromError(out, err)
		}
		return check(expect, out)
	}
	var token string
	switch which := str(step["oauth_refresh"]); which {
	case "hooked":
		if token = state.refreshes.lastRefreshToken(); token == "" {
			return fmt.Errorf("oauth_refresh hooked: the refresh hook was never called")
		}
	case "configured":
		if token = state.configuredRefresh; token == "" {
			return fmt.Errorf("oauth_refresh configured: no OAuth refresh_token in config")
		}
	default:
		return fmt.Errorf("oauth_refresh must be hooked or configured, not %s", step["oauth_refresh"])
	}
	app, err := oboApp(true)
	if err != nil {
		return fmt.Errorf("oauth_refresh: %v", err)
	}
	defer app.Close()
	tok, err := app.Refresh(context.Background(), token)
	if err != nil {
		fromError(out, err)
	} else if tok.AccessToken == "" || tok.RefreshToken == "" {
		return fmt.Errorf("oauth_refresh: an empty access or refresh token")
	}
	return check(expect, out)
}

// checkOAuthError checks the OBO keys of expect.error: oauth_error, and authorize_url_contains (the URL must
// exist).
func checkOAuthError(want map[string]json.RawMessage, err error) error {
	var (
		au *cf.AuthError
		re *cf.ReauthRequiredError
	)
	oauth, authorizeURL := "", ""
	switch {
	case errors.As(err, &re):
		oauth, authorizeURL = re.OAuthError, re.AuthorizeURL
	case errors.As(err, &au):
		oauth = au.OAuthError
	}
	if w, ok := want["oauth_error"]; ok && str(w) != oauth {
		return fmt.Errorf("error.oauth_error: expected %s, got %q (%v)", str(w), oauth, err)
	}
	if w, ok := want["authorize_url_contains"]; ok {
		var parts []string
		if err := json.Unmarshal(w, &parts); err != nil {
			return fmt.Errorf("error.authorize_url_contains must be a list of strings")
		}
		for _, p := range parts {
			if authorizeURL == "" || !strings.Contains(authorizeURL, p) {
				return fmt.Errorf("error authorize URL %q lacks %q", authorizeURL, p)
			}
		}
	}
	return nil
}
