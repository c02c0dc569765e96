package cozefallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

// Every tests/scenarios/*.json through the Go API (one subtest per file).
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("../tests/scenarios/*.json")
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no scenario found in ../tests/scenarios")
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

func placeholders() map[string]string {
	vars := map[string]string{
		"BASE_URL": "base_url", "PERSONAL_PAT": "personal_pat", "ENTERPRISE_PAT": "enterprise_pat",
		"JWT_CLIENT_ID": "jwt_client_id", "JWT_KID": "jwt_kid", "JWT_PRIVATE_KEY_FILE": "private_key_file",
		"JWT_PRIVATE_KEY": "private_key_pem", "ACCOUNT_ID": "account_id", "ENTERPRISE_ID": "enterprise_id",
		"OAUTH_CLIENT_ID": "oauth_client_id", "OAUTH_CLIENT_SECRET": "oauth_client_secret",
		"ENTERPRISE_BOT": "enterprise_bot", "WORKFLOW": "workflow_id", "WORKSPACE": "workspace_id",
	}
	out := map[string]string{}
	for name, key := range vars {
		out[name] = infoString(key)
	}
	for i := 0; i < 3; i++ {
		out[fmt.Sprintf("BOT_%d", i+1)] = bot(i)
	}
	return out
}

// substitute replaces ${NAME} in serialized JSON with the value escaped for a JSON string.
func substitute(text string, vars map[string]string) string {
	for name, value := range vars {
		quoted, _ := json.Marshal(value)
		text = strings.ReplaceAll(text, "${"+name+"}", string(quoted[1:len(quoted)-1]))
	}
	return text
}

func checkKeys(obj map[string]json.RawMessage, what string, allowed ...string) error {
	for k := range obj {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return fmt.Errorf("unknown key `%s` in %s", k, what)
		}
	}
	return nil
}

type outcome struct {
	status     int
	credential string
	attempts   int
	hasAttempt bool
	body       []byte
	events     []string
	err        error
	elapsed    time.Duration
	moved      *cf.ConversationMoved // the call's ConversationMoved
}

func runScenario(file string, baseVars map[string]string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var sc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(substitute(string(raw), baseVars)), &sc); err != nil {
		return fmt.Errorf("bad scenario JSON: %v", err)
	}
	if err := checkKeys(sc, "scenario", "name", "description", "mock", "config", "steps", "expect_mock", "expect_config_error", "expect_hook",
		"obo_login", "expect_refresh_hook"); err != nil {
		return err
	}
	vars := map[string]string{}
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		return err
	}
	if m, ok := sc["mock"]; ok {
		if err := mockCall("POST", "/__mock/state", m, nil); err != nil {
			return err
		}
	}
	if flow, ok := sc["obo_login"]; ok {
		if err := oboLogin(flow, vars); err != nil {
			return err
		}
	}
	// Substituted again: an obo_login's tokens are ${OBO_ACCESS_TOKEN} and ${OBO_REFRESH_TOKEN}.
	config := substitute(string(sc["config"]), vars)
	client, err := cf.NewFromJSON(config)
	if want, ok := sc["expect_config_error"]; ok {
		var w map[string]json.RawMessage
		json.Unmarshal(want, &w)
		if err := checkKeys(w, "expect_config_error", "message_contains"); err != nil {
			return err
		}
		if err == nil {
			client.Close()
			return fmt.Errorf("expected a config error, the client was built")
		}
		var ce *cf.ConfigError
		if !errors.As(err, &ce) {
			return fmt.Errorf("expected a *ConfigError, got %T: %v", err, err)
		}
		var parts []string
		json.Unmarshal(w["message_contains"], &parts)
		for _, p := range parts {
			if !strings.Contains(ce.Error(), p) {
				return fmt.Errorf("config error %q does not mention %q", ce.Error(), p)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: %v", err)
	}
	state := &scenarioState{client: client, config: config, hooks: &hookLog{}, refreshes: &refreshLog{},
		configuredRefresh: configuredRefresh(config)}
	state.hooks.install(client)
	state.refreshes.install(client)
	defer func() { state.client.Close() }()
	var steps []json.RawMessage
	json.Unmarshal(sc["steps"], &steps)
	for i, raw := range steps {
		var step map[string]json.RawMessage
		if err := json.Unmarshal([]byte(substitute(string(raw), vars)), &step); err != nil {
			return fmt.Errorf("step %d: %v", i, err)
		}
		if err := runStep(state, step, vars); err != nil {
			return fmt.Errorf("step %d: %v", i, err)
		}
	}
	if want, ok := sc["expect_mock"]; ok {
		if err := checkMock(want); err != nil {
			return err
		}
	}
	if want, ok := sc["expect_hook"]; ok {
		// Substituted now: it names ids the steps saved (save_moved_to).
		if err := state.hooks.check(json.RawMessage(substitute(string(want), vars))); err != nil {
			return err
		}
	}
	if want, ok := sc["expect_refresh_hook"]; ok {
		return state.refreshes.check(want, state.configuredRefresh)
	}
	return nil
}

// scenarioState is what the steps of one scenario share: the client (a new_client step replaces it), the
// config it was built from, and the calls of the OnConversationMoved and OnTokenRefresh hooks installed on every
// client, with the config's OBO refresh token.
type scenarioState struct {
	client            *cf.Client
	config            string
	hooks             *hookLog
	refreshes         *refreshLog
	configuredRefresh string
}

func runStep(state *scenarioState, step map[string]json.RawMessage, vars map[string]string) error {
	if err := checkKeys(step, "step", "request", "stream", "upload", "concurrent", "repeat", "set_mode", "mock", "sleep_ms", "expect", "save", "websocket",
		"save_moved_to", "map_conversation", "new_client", "fetch_token", "oauth_refresh"); err != nil {
		return err
	}
	client := state.client
	var expect map[string]json.RawMessage
	if e, ok := step["expect"]; ok {
		json.Unmarshal(e, &expect)
	}
	if m, ok := step["map_conversation"]; ok {
		return mapStep(client, m)
	}
	if n, ok := step["new_client"]; ok {
		return state.restart(n)
	}
	if _, ok := step["fetch_token"]; ok {
		return oboStep(state, step, expect)
	}
	if _, ok := step["oauth_refresh"]; ok {
		return oboStep(state, step, expect)
	}
	if m, ok := step["set_mode"]; ok {
		var mode string
		json.Unmarshal(m, &mode)
		return client.SetMode(cf.Mode(mode))
	}
	if m, ok := step["mock"]; ok {
		return mockCall("POST", "/__mock/state", m, nil)
	}
	if s, ok := step["sleep_ms"]; ok {
		var ms int
		json.Unmarshal(s, &ms)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return nil
	}
	if _, ok := step["websocket"]; ok {
		return wsStep(client, step, expect)
	}
	if c, ok := step["concurrent"]; ok {
		var n int
		json.Unmarshal(c, &n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := call(client, step)
				if err == nil {
					err = check(expect, out)
				}
				errs[i] = err
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("concurrent call %d: %v", i, err)
			}
		}
		return nil
	}
	times := 1
	if r, ok := step["repeat"]; ok {
		json.Unmarshal(r, &times)
	}
	for i := 0; i < times; i++ {
		out, err := call(client, step)
		if err != nil {
			return err
		}
		if err := check(expect, out); err != nil {
			return err
		}
		if err := saveMovedTo(step["save_moved_to"], out, vars); err != nil {
			return err
		}
		if s, ok := step["save"]; ok {
			var save map[string]string
			json.Unmarshal(s, &save)
			var body any
			json.Unmarshal(out.body, &body)
			for name, ptr := range save {
				v, ok := pointer(body, ptr)
				if !ok {
					return fmt.Errorf("save: %s not in body", ptr)
				}
				if s, isStr := v.(string); isStr {
					vars[name] = s
				} else {
					b, _ := json.Marshal(v)
					vars[name] = string(b)
				}
			}
		}
	}
	return nil
}

func pointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

type reqSpec struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]any    `json:"query"`
	JSON    json.RawMessage   `json:"json"`
	Headers map[string]string `json:"headers"`
}

func buildRequest(raw json.RawMessage) (*cf.Request, error) {
	var keys map[string]json.RawMessage
	json.Unmarshal(raw, &keys)
	if err := checkKeys(keys, "request", "method", "path", "query", "json", "headers"); err != nil {
		return nil, err
	}
	var spec reqSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	r := &cf.Request{Method: spec.Method, Path: spec.Path}
	if len(spec.Query) > 0 {
		r.Query = url.Values{}
		for k, v := range spec.Query {
			r.Query.Set(k, fmt.Sprint(v))
		}
	}
	if len(spec.Headers) > 0 {
		r.Header = http.Header{}
		for k, v := range spec.Headers {
			r.Header.Set(k, v)
		}
	}
	if spec.JSON != nil {
		r.JSON = spec.JSON
	}
	return r, nil
}

func fromError(out *outcome, err error) {
	out.err = err
	out.hasAttempt = true
	var (
		api *cf.APIError
		au  *cf.AuthError
		re  *cf.ReauthRequiredError
		tr  *cf.TransportError
		to  *cf.TimeoutError
		si  *cf.StreamInterruptedError
		cs  *cf.ConversationStrandedError
	)
	switch {
	case errors.As(err, &api):
		out.credential, out.attempts = api.Credential, api.Attempts
	case errors.As(err, &cs):
		out.credential, out.attempts = cs.Credential, cs.Attempts
	case errors.As(err, &au):
		out.credential, out.attempts = au.Credential, au.Attempts
	case errors.As(err, &re):
		out.credential, out.attempts = re.Credential, re.Attempts
	case errors.As(err, &tr):
		out.credential, out.attempts = tr.Credential, tr.Attempts
	case errors.As(err, &to):
		out.credential, out.attempts = to.Credential, to.Attempts
	case errors.As(err, &si):
		out.credential, out.attempts = si.Credential, si.Attempts
	default:
		out.hasAttempt = false
	}
}

func call(client *cf.Client, step map[string]json.RawMessage) (*outcome, error) {
	ctx := context.Background()
	out := &outcome{}
	started := time.Now()
	defer func() { out.elapsed = time.Since(started) }()
	if raw, ok := step["request"]; ok {
		req, err := buildRequest(raw)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(ctx, req)
		if err != nil {
			fromError(out, err)
		} else {
			out.status, out.credential, out.attempts, out.hasAttempt, out.body = resp.StatusCode, resp.Credential, resp.Attempts, true, resp.Body
			out.moved = resp.ConversationMoved
		}
		return out, nil
	}
	if raw, ok := step["upload"]; ok {
		var keys map[string]json.RawMessage
		json.Unmarshal(raw, &keys)
		if err := checkKeys(keys, "upload", "path", "filename", "content"); err != nil {
			return nil, err
		}
		var spec struct{ Path, Filename, Content string }
		json.Unmarshal(raw, &spec)
		resp, err := client.Upload(ctx, spec.Path, spec.Filename, []byte(spec.Content))
		if err != nil {
			fromError(out, err)
		} else {
			out.status, out.credential, out.attempts, out.hasAttempt, out.body = resp.StatusCode, resp.Credential, resp.Attempts, true, resp.Body
		}
		return out, nil
	}
	if raw, ok := step["stream"]; ok {
		req, err := buildRequest(raw)
		if err != nil {
			return nil, err
		}
		s, err := client.Stream(ctx, req)
		if err != nil {
			fromError(out, err)
			return out, nil
		}
		defer s.Close()
		out.status, out.credential, out.attempts, out.hasAttempt = s.StatusCode, s.Credential, s.Attempts, true
		out.moved = s.ConversationMoved
		for {
			ev, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				out.err = err
				break
			}
			out.events = append(out.events, ev.Event)
		}
		return out, nil
	}
	return nil, fmt.Errorf("step has no call")
}

func num(raw json.RawMessage) int64 {
	var n int64
	json.Unmarshal(raw, &n)
	return n
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func check(expect map[string]json.RawMessage, out *outcome) error {
	if err := checkKeys(expect, "expect", "status", "credential", "attempts", "json_code", "body_contains", "error",
		"events_min", "first_event", "last_event", "events_before_error", "elapsed_ms_min", "conversation_moved", "data_len"); err != nil {
		return err
	}
	if raw, ok := expect["error"]; ok {
		var want map[string]json.RawMessage
		json.Unmarshal(raw, &want)
		if err := checkKeys(want, "expect.error", "kind", "code", "http_status", "previous_code", "previous_credential",
			"conversation_id", "conversation_owner", "bot_credential", "file_id", "message_contains",
			"oauth_error", "authorize_url_contains"); err != nil {
			return err
		}
		if out.err == nil {
			return fmt.Errorf("expected a %s error, the call succeeded", str(want["kind"]))
		}
		if err := checkStranded(want, out.err); err != nil {
			return err
		}
		if err := checkOAuthError(want, out.err); err != nil {
			return err
		}
		if k, ok := want["kind"]; ok && string(cf.KindOf(out.err)) != str(k) {
			return fmt.Errorf("error kind: expected %s, got %s (%T: %v)", str(k), cf.KindOf(out.err), out.err, out.err)
		}
		code, status, prev := errorFields(out.err)
		if c, ok := want["code"]; ok && num(c) != code {
			return fmt.Errorf("error.code: expected %d, got %d (%v)", num(c), code, out.err)
		}
		if c, ok := want["http_status"]; ok && num(c) != int64(status) {
			return fmt.Errorf("error.http_status: expected %d, got %d", num(c), status)
		}
		if c, ok := want["previous_code"]; ok {
			pc, _, _ := errorFields(prev)
			if prev == nil || pc != num(c) {
				return fmt.Errorf("error.previous_code: expected %d, got %v", num(c), prev)
			}
		}
		if c, ok := want["previous_credential"]; ok {
			var api *cf.APIError
			if prev == nil || !errors.As(prev, &api) || api.Credential != str(c) {
				return fmt.Errorf("error.previous_credential: expected %s, got %v", str(c), prev)
			}
		}
	} else if out.err != nil {
		return fmt.Errorf("unexpected error %T: %v", out.err, out.err)
	}
	if v, ok := expect["status"]; ok && int64(out.status) != num(v) {
		return fmt.Errorf("status: expected %d, got %d", num(v), out.status)
	}
	if v, ok := expect["credential"]; ok && out.credential != str(v) {
		return fmt.Errorf("credential: expected %s, got %q", str(v), out.credential)
	}
	if v, ok := expect["attempts"]; ok && (!out.hasAttempt || int64(out.attempts) != num(v)) {
		return fmt.Errorf("attempts: expected %d, got %d", num(v), out.attempts)
	}
	if v, ok := expect["json_code"]; ok {
		var body struct {
			Code *int64 `json:"code"`
		}
		json.Unmarshal(out.body, &body)
		if body.Code == nil || *body.Code != num(v) {
			return fmt.Errorf("json_code: expected %d in %s", num(v), out.body)
		}
	}
	if v, ok := expect["body_contains"]; ok && !strings.Contains(string(out.body), str(v)) {
		return fmt.Errorf("body_contains: %q not in %s", str(v), out.body)
	}
	if v, ok := expect["events_min"]; ok && int64(len(out.events)) < num(v) {
		return fmt.Errorf("events_min: expected at least %d, got %v", num(v), out.events)
	}
	if v, ok := expect["events_before_error"]; ok && int64(len(out.events)) != num(v) {
		return fmt.Errorf("events_before_error: expected %d, got %v", num(v), out.events)
	}
	if v, ok := expect["first_event"]; ok && (len(out.events) == 0 || out.events[0] != str(v)) {
		return fmt.Errorf("first_event: expected %s, got %v", str(v), out.events)
	}
	if v, ok := expect["last_event"]; ok && (len(out.events) == 0 || out.events[len(out.events)-1] != str(v)) {
		return fmt.Errorf("last_event: expected %s, got %v", str(v), out.events)
	}
	if v, ok := expect["elapsed_ms_min"]; ok && out.elapsed < time.Duration(num(v))*time.Millisecond {
		return fmt.Errorf("elapsed_ms_min: expected >= %d ms, took %v", num(v), out.elapsed)
	}
	if v, ok := expect["data_len"]; ok {
		if err := checkDataLen(v, out.body); err != nil {
			return err
		}
	}
	if v, ok := expect["conversation_moved"]; ok {
		return checkMoved(v, out.moved, "conversation_moved")
	}
	return nil
}

// errorFields: the Coze code, HTTP status and previous error of any cozefallback error.
func errorFields(err error) (int64, int, error) {
	var (
		api *cf.APIError
		au  *cf.AuthError
		re  *cf.ReauthRequiredError
		tr  *cf.TransportError
		to  *cf.TimeoutError
		si  *cf.StreamInterruptedError
		cs  *cf.ConversationStrandedError
	)
	switch {
	case err == nil:
		return 0, 0, nil
	case errors.As(err, &api):
		return api.Code, api.HTTPStatus, api.Previous
	case errors.As(err, &cs):
		return 0, 0, cs.Previous
	case errors.As(err, &au):
		return 0, au.HTTPStatus, au.Previous
	case errors.As(err, &re):
		return re.Code, re.HTTPStatus, re.Previous
	case errors.As(err, &tr):
		return 0, 0, tr.Previous
	case errors.As(err, &to):
		return 0, 0, to.Previous
	case errors.As(err, &si):
		return si.Code, 0, nil
	}
	return 0, 0, nil
}

func checkMock(raw json.RawMessage) error {
	var want map[string]json.RawMessage
	json.Unmarshal(raw, &want)
	if err := checkKeys(want, "expect_mock", "token_mints", "requests_by_credential", "by_path", "total_requests",
		"websocket_handshakes", "websocket_sessions"); err != nil {
		return err
	}
	if err := checkWSMock(want); err != nil {
		return err
	}
	var stats struct {
		Requests struct {
			Total        int64            `json:"total"`
			ByCredential map[string]int64 `json:"by_credential"`
			ByPath       map[string]int64 `json:"by_path"`
		} `json:"requests"`
		TokenMints map[string]int64 `json:"token_mints"`
	}
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		return err
	}
	groups := map[string]map[string]int64{
		"token_mints": stats.TokenMints, "requests_by_credential": stats.Requests.ByCredential, "by_path": stats.Requests.ByPath,
	}
	for key, have := range groups {
		if w, ok := want[key]; ok {
			var exp map[string]int64
			json.Unmarshal(w, &exp)
			for name, n := range exp {
				if have[name] != n {
					return fmt.Errorf("mock %s.%s: expected %d, got %d", key, name, n, have[name])
				}
			}
		}
	}
	if w, ok := want["total_requests"]; ok && num(w) != stats.Requests.Total {
		return fmt.Errorf("mock total_requests: expected %d, got %d", num(w), stats.Requests.Total)
	}
	return nil
}
