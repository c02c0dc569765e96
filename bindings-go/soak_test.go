package cozefallback_test

// The live migration under load and faults through the Go package (short form), and a secret scan of what Go
// code can see: error strings and %v/%+v/%#v of errors, responses, streams, events and config structs, metrics
// JSON and Prometheus text. The same faults, traffic mix and assertions as core/tests/soak.rs,
// core/tests/secret_scan.rs, bindings-python/tests/test_soak_and_secrets.py and bindings-node/test/soak.test.mjs.
//
// Full form: SOAK_REQUESTS=5000 go test -run TestLiveMigrationSoak -v ./... (the short form, 2,000 requests, takes
// about 1.5 s with or without -race, so the -race run keeps the same count).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

var soakFaults = []map[string]any{
	{"path": "/api/permission/oauth2/", "probability": 0.05,
		"action": map[string]any{"type": "http", "http_status": 503, "body": "busy", "content_type": "text/plain"}},
	{"path": "/api/permission/oauth2/", "probability": 0.05, "action": map[string]any{"type": "latency", "ms": 300}},
	{"path": "/v", "probability": 0.001, "action": map[string]any{"type": "reset"}},
	{"path": "/v", "probability": 0.005,
		"action": map[string]any{"type": "http", "http_status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"}},
	{"path": "/v", "probability": 0.005,
		"action": map[string]any{"type": "http", "http_status": 503, "body": "<html>unavailable</html>", "content_type": "text/html"}},
}

// jwtConfig: the JWT app minting for the personal account and for the enterprise, as the other soaks use.
func jwtConfig() cf.Config {
	jwt := func() *cf.Credential {
		return &cf.Credential{Type: "jwt", ClientID: infoString("jwt_client_id"), PrivateKey: infoString("private_key_pem"),
			PublicKeyID: infoString("jwt_kid")}
	}
	personal, enterprise := jwt(), jwt()
	personal.AccountID = infoString("account_id")
	enterprise.EnterpriseID = infoString("enterprise_id")
	return cf.Config{BaseURL: mockURL, Personal: personal, Enterprise: enterprise,
		Retry: &cf.RetryConfig{BaseDelayMs: 5, MaxDelayMs: 100}}
}

func soakChat(bot string, stream bool) map[string]any {
	return map[string]any{"bot_id": bot, "user_id": "soak", "stream": stream,
		"additional_messages": []map[string]any{{"role": "user", "content": "hi", "content_type": "text"}}}
}

// injectedCause names the injected fault that explains a failure (the migration guide's recipe could not have served the
// request either), or "" for an unexplained failure.
func injectedCause(err error) string {
	var api *cf.APIError
	var transport *cf.TransportError
	var auth *cf.AuthError
	switch {
	case errors.As(err, &api) && (api.HTTPStatus == 502 || api.HTTPStatus == 503):
		return "API answer 502/503 on a non-idempotent call"
	case errors.As(err, &transport):
		return "connection reset on a non-idempotent call"
	case errors.As(err, &auth) && auth.HTTPStatus == 503:
		return "token endpoint 503 after retries"
	}
	return ""
}

// errAttempts: the HTTP attempts a failed call made, as the error reports them.
func errAttempts(err error) int {
	var (
		api    *cf.APIError
		auth   *cf.AuthError
		reauth *cf.ReauthRequiredError
		tr     *cf.TransportError
		to     *cf.TimeoutError
		si     *cf.StreamInterruptedError
	)
	switch {
	case errors.As(err, &api):
		return api.Attempts
	case errors.As(err, &auth):
		return auth.Attempts
	case errors.As(err, &reauth):
		return reauth.Attempts
	case errors.As(err, &tr):
		return tr.Attempts
	case errors.As(err, &to):
		return to.Attempts
	case errors.As(err, &si):
		return si.Attempts
	}
	return 0
}

func soakRequests(t *testing.T) int {
	v := os.Getenv("SOAK_REQUESTS")
	if v == "" {
		return 2000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("SOAK_REQUESTS=%q", v)
	}
	return n
}

type soakOutcome struct {
	answers  int32 // how many times this request was answered: must be exactly 1
	attempts int
	err      error
}

func TestLiveMigrationSoak(t *testing.T) {
	requests := soakRequests(t)
	const concurrency = 64
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mockCall("POST", "/__mock/reset", map[string]any{}, nil) })
	if err := mockCall("POST", "/__mock/state", map[string]any{"token_ttl_secs": 2, "faults": soakFaults}, nil); err != nil {
		t.Fatal(err)
	}
	client, err := cf.New(jwtConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	bots, _ := mockInfo["bots"].([]any)
	ctx := context.Background()
	outcomes := make([]soakOutcome, requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	var badStreams sync.Map
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= requests {
					return
				}
				if i == requests/2 {
					if err := mockCall("POST", "/__mock/state", map[string]any{"moved": true}, nil); err != nil {
						t.Error("move:", err)
					}
				}
				bot := fmt.Sprint(bots[i%len(bots)])
				var attempts int
				var err error
				switch i % 4 {
				case 0, 1:
					var r *cf.Response
					if r, err = client.Get(ctx, "/v1/bots/"+bot, nil); err == nil {
						attempts = r.Attempts
					}
				case 2:
					var r *cf.Response
					if r, err = client.PostJSON(ctx, "/v3/chat", soakChat(bot, false)); err == nil {
						attempts = r.Attempts
					}
				default:
					var s *cf.Stream
					if s, err = client.Stream(ctx, &cf.Request{Method: "POST", Path: "/v3/chat", JSON: soakChat(bot, true)}); err == nil {
						attempts = s.Attempts
						last := ""
						for {
							ev, nerr := s.Next()
							if nerr == io.EOF {
								break
							}
							if nerr != nil {
								err = nerr
								break
							}
							last = ev.Event
						}
						s.Close()
						if err == nil && last != "done" {
							badStreams.Store(i, last)
						}
					}
				}
				o := &outcomes[i]
				atomic.AddInt32(&o.answers, 1)
				if err != nil {
					o.err, o.attempts = err, errAttempts(err)
				} else {
					o.attempts = attempts
				}
			}
		}()
	}
	wg.Wait()

	answered, succeeded, attempts := 0, 0, 0
	excused := map[string]int{}
	var unexplained []string
	for i := range outcomes {
		o := &outcomes[i]
		if o.answers != 1 {
			t.Errorf("request %d answered %d times", i, o.answers)
			continue
		}
		answered++
		attempts += o.attempts
		if o.err == nil {
			succeeded++
		} else if cause := injectedCause(o.err); cause != "" {
			excused[cause]++
		} else {
			unexplained = append(unexplained, fmt.Sprintf("#%d %s: %v", i, cf.KindOf(o.err), o.err))
		}
	}
	badStreams.Range(func(k, v any) bool {
		t.Errorf("stream %v finished without a done event (last %q)", k, v)
		return true
	})
	var stats struct {
		Requests struct {
			Total int `json:"total"`
		} `json:"requests"`
		TokenMints map[string]int `json:"token_mints"`
	}
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		t.Fatal(err)
	}
	metrics, err := client.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	causes := make([]string, 0, len(excused))
	for c, n := range excused {
		causes = append(causes, fmt.Sprintf("%s: %d", c, n))
	}
	sort.Strings(causes)
	t.Logf("soak: %d requests, %d in flight, move at %d", requests, concurrency, requests/2)
	t.Logf("  succeeded %d, failed by injected faults [%s], unexplained %d", succeeded, strings.Join(causes, "; "), len(unexplained))
	t.Logf("  attempts reported %d, requests the mock saw %d", attempts, stats.Requests.Total)
	t.Logf("  token mints %v (mock %v), refresh failures %v, retries %v, fallbacks %v", metrics["token_mints"],
		stats.TokenMints, metrics["token_refresh_failures"], metrics["retries_total"], metrics["fallbacks"])

	if answered != requests {
		t.Errorf("every request answered exactly once: %d of %d", answered, requests)
	}
	if len(unexplained) > 0 {
		t.Errorf("failures no injected fault explains:\n%s", strings.Join(unexplained, "\n"))
	}
	if attempts != stats.Requests.Total {
		t.Errorf("the client's attempts (%d) and the mock's count of requests (%d) disagree", attempts, stats.Requests.Total)
	}
	if float64(succeeded) < float64(requests)*0.97 {
		t.Errorf("only %d of %d succeeded", succeeded, requests)
	}
}

// tokenShape: an unredacted Coze token prefix followed by its body.
var tokenShape = regexp.MustCompile(`(pat_|czs_|czu_|czr_|eyJ)[A-Za-z0-9]`)

// leaks finds a known secret, a token-shaped text or private key material in text.
func leaks(text string, known []string) []string {
	var found []string
	for _, s := range known {
		if s != "" && strings.Contains(text, s) {
			found = append(found, fmt.Sprintf("%.10s...", s))
		}
	}
	for _, m := range tokenShape.FindAllString(text, -1) {
		found = append(found, m+"...")
	}
	if strings.Contains(text, "PRIVATE KEY") && !strings.Contains(text, "[PEM redacted]") {
		found = append(found, "PEM")
	}
	return found
}

func TestSecretScannerSeesALeak(t *testing.T) {
	if f := leaks("served by pat_*** in 1 attempt", nil); len(f) != 0 {
		t.Errorf("false positive %v", f)
	}
	if len(leaks("Bearer czs_abcdef", nil)) != 1 || len(leaks("-----BEGIN PRIVATE KEY-----", nil)) != 1 ||
		len(leaks("client secret s3cr3t", []string{"s3cr3t"})) != 1 {
		t.Error("the scanner misses a leak")
	}
}

func TestNothingGoSeesHoldsASecret(t *testing.T) {
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mockCall("POST", "/__mock/reset", map[string]any{}, nil) })
	ctx := context.Background()
	var seen []string
	var configSeen []string // the config structs, scanned on their own
	// every format a Go program (or its logger) may print a value with
	formats := func(v any) []string {
		return []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v)}
	}
	showConfig := func(vs ...any) {
		for _, v := range vs {
			configSeen = append(configSeen, formats(v)...)
		}
	}
	show := func(vs ...any) {
		for _, v := range vs {
			if v == nil {
				continue
			}
			seen = append(seen, formats(v)...)
			if err, ok := v.(error); ok {
				seen = append(seen, err.Error())
				for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
					seen = append(seen, e.Error())
				}
			}
		}
	}
	showErr := func(err error) {
		show(err)
		var api *cf.APIError
		var auth *cf.AuthError
		var reauth *cf.ReauthRequiredError
		var tr *cf.TransportError
		switch {
		case errors.As(err, &api):
			show(api.Previous, *api)
			if api.Response != nil {
				seen = append(seen, string(api.Response.Body))
			}
		case errors.As(err, &auth):
			show(auth.Previous, *auth)
			if auth.Response != nil {
				seen = append(seen, string(auth.Response.Body))
			}
		case errors.As(err, &reauth):
			show(reauth.Previous, *reauth)
		case errors.As(err, &tr):
			show(tr.Previous, *tr)
		}
	}

	// PAT -> JWT across the move: a response, a stream and its events, an API error with a previous error.
	cfg := jwtConfig()
	cfg.Personal = cf.PAT(infoString("personal_pat"))
	showConfig(cfg, &cfg, *cfg.Personal, cfg.Personal, *cfg.Enterprise, cfg.Enterprise)
	client, err := cf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	show(client)
	resp, err := client.Get(ctx, "/v1/bots/"+bot(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	show(resp, *resp)
	seen = append(seen, string(resp.Body))
	if err := mockCall("POST", "/__mock/state", map[string]any{"moved": true}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := client.Stream(ctx, &cf.Request{Method: "POST", Path: "/v3/chat", JSON: soakChat(bot(0), true)})
	if err != nil {
		t.Fatal(err)
	}
	show(s)
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		show(ev, *ev)
	}
	s.Close()
	up, err := client.Upload(ctx, "/v1/files/upload", "a.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	show(up)
	_, err = client.Get(ctx, "/v1/bots/7350000000000000777", nil)
	var api *cf.APIError
	if !errors.As(err, &api) || api.Previous == nil {
		t.Fatalf("unknown bot: %T %v", err, err)
	}
	showErr(err)

	// A personal token Coze refuses.
	wrong, err := cf.NewFromJSON(fmt.Sprintf(`{"base_url":%q,"personal":{"type":"pat","token":"pat_leakme123456"}}`, mockURL))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	_, err = wrong.Get(ctx, "/v1/bots/"+bot(0), nil)
	if err == nil {
		t.Fatal("a wrong PAT was served")
	}
	showErr(err)
	show(wrong)

	// A token endpoint that refuses, one that fails, a connection reset, a broken stream.
	jwtOnly := jwtConfig()
	jwtOnly.Retry = &cf.RetryConfig{MaxRetries: cf.Ptr[uint32](1), BaseDelayMs: 5, MaxDelayMs: 10}
	for _, fault := range []map[string]any{
		{"path": "/api/permission/oauth2/", "action": map[string]any{"type": "oauth_error", "error": "invalid_client", "http_status": 401}},
		{"path": "/api/permission/oauth2/", "action": map[string]any{"type": "http", "http_status": 503, "body": "busy", "content_type": "text/plain"}},
		{"path": "/v1/bots/", "action": map[string]any{"type": "reset"}},
	} {
		if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		if err := mockCall("POST", "/__mock/state", map[string]any{"faults": []any{fault}}, nil); err != nil {
			t.Fatal(err)
		}
		c, err := cf.New(jwtOnly)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctx, &cf.Request{Method: "POST", Path: "/v1/bots/" + bot(0)})
		if err == nil {
			t.Fatalf("fault %v: no error", fault["action"])
		}
		showErr(err)
		if p, err := c.MetricsPrometheus(); err == nil {
			seen = append(seen, p)
		}
		c.Close()
	}
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v3/chat", "credential": "personal",
		"action": map[string]any{"type": "truncate_stream", "after_events": 2}}}}, nil); err != nil {
		t.Fatal(err)
	}
	fresh, err := cf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	s, err = fresh.Stream(ctx, &cf.Request{Method: "POST", Path: "/v3/chat", JSON: soakChat(bot(0), true)})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err = s.Next()
		if err != nil {
			break
		}
	}
	if err == io.EOF {
		t.Fatal("a truncated stream ended cleanly")
	}
	showErr(err)
	s.Close()
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}

	// OBO: a user token rejected, refreshed, rejected again: re-authorization.
	verifier := strings.Repeat("v", 43)
	redirect := "http://127.0.0.1/cb"
	var code struct{ Code string }
	if err := mockCall("POST", "/__mock/oauth/code", map[string]any{"redirect_uri": redirect, "code_challenge": verifier,
		"code_challenge_method": "plain"}, &code); err != nil {
		t.Fatal(err)
	}
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := mockCall("POST", "/api/permission/oauth2/token", map[string]any{"grant_type": "authorization_code",
		"client_id": infoString("oauth_client_id"), "code": code.Code, "redirect_uri": redirect, "code_verifier": verifier}, &tokens); err != nil {
		t.Fatal(err)
	}
	oboCfg := cf.Config{BaseURL: mockURL, Mode: cf.PersonalOnly, Personal: &cf.Credential{Type: "oauth",
		ClientID: infoString("oauth_client_id"), ClientSecret: infoString("oauth_client_secret"),
		AccessToken: tokens.AccessToken, RefreshToken: tokens.RefreshToken, RedirectURI: redirect}}
	showConfig(oboCfg, &oboCfg, *oboCfg.Personal, oboCfg.Personal)
	obo, err := cf.New(oboCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer obo.Close()
	if err := mockCall("POST", "/__mock/state", map[string]any{"faults": []any{map[string]any{"path": "/v1/bots/",
		"credential": "personal", "action": map[string]any{"type": "error", "code": 4100, "http_status": 401}}}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = obo.Get(ctx, "/v1/bots/"+bot(0), nil)
	var reauth *cf.ReauthRequiredError
	if !errors.As(err, &reauth) {
		t.Fatalf("OBO: %T %v", err, err)
	}
	showErr(err)
	if p, err := obo.MetricsPrometheus(); err == nil {
		seen = append(seen, p)
	}
	mockCall("POST", "/__mock/reset", map[string]any{}, nil)

	// Bad configs echo nothing secret.
	for _, bad := range []string{
		`{"personal":{"type":"pat","token":"pat_leak\nme"}}`,
		`{"personal":{"type":"oauth","client_id":"1","client_secret":"supersecret","access_token":""}}`,
		`{"personal":{"type":"jwt","client_id":"1","public_key_id":"k","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEsecretbody\n-----END PRIVATE KEY-----\n"}}`,
		`{"personal":{"type":"pat","token":"pat_leakme123456","bogus":"pat_leakme123456"}}`,
	} {
		_, err := cf.NewFromJSON(bad)
		var ce *cf.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %T %v", bad, err, err)
		}
		showErr(err)
	}
	badCfg := cf.Config{Personal: &cf.Credential{Type: "oauth", ClientID: "1", ClientSecret: "supersecret"}}
	showConfig(badCfg, *badCfg.Personal, badCfg.Personal)
	_, err = cf.New(badCfg)
	if err == nil {
		t.Fatal("an OBO credential without a token was accepted")
	}
	showErr(err)

	metrics, err := client.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	metricsJSON, err := json.Marshal(metrics)
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, string(metricsJSON))
	show(metrics)
	prom, err := client.MetricsPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, prom)

	known := []string{infoString("personal_pat"), infoString("enterprise_pat"), infoString("oauth_client_secret"),
		"pat_leakme123456", "supersecret", "MIIEsecretbody", tokens.AccessToken, tokens.RefreshToken}
	if lines := strings.Split(infoString("private_key_pem"), "\n"); len(lines) > 1 {
		known = append(known, lines[1])
	}
	scan := func(t *testing.T, texts []string) {
		var problems []string
		for i, text := range texts {
			if found := leaks(text, known); len(found) > 0 {
				problems = append(problems, fmt.Sprintf("#%d: %v in %.200q", i, found, text))
			}
		}
		if len(problems) > 0 {
			t.Errorf("secrets leaked (%d of %d outputs):\n%s", len(problems), len(texts), strings.Join(problems, "\n"))
		} else {
			t.Logf("scanned %d outputs: no secret", len(texts))
		}
	}
	// Errors, responses, streams, events, clients, metrics.
	t.Run("outputs", func(t *testing.T) { scan(t, seen) })
	// cf.Config and cf.Credential values as a program (or its logger) prints them with %v, %+v, %#v, %s.
	t.Run("config structs", func(t *testing.T) { scan(t, configSeen) })
}
