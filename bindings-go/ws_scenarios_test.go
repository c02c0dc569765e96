package cozefallback_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

// Every tests/scenarios/websocket/*.json through the Go session API (one subtest per file); the `websocket`
// step and its expectations as tests/scenarios/README.md describes them.
func TestWebSocketScenarios(t *testing.T) { runScenarioDir(t, "websocket", 10, runScenario) }

// wsExpectKeys are the keys of a step's `expect` that only a `websocket` step has.
var wsExpectKeys = []string{"events", "close_code", "logid"}

// wsResult is what a websocket step saw besides the common outcome.
type wsResult struct {
	closeCode int
	logid     bool
}

// wsStep runs one `websocket` step (`repeat` times) and checks its `expect`.
func wsStep(client *cf.Client, step map[string]json.RawMessage, expect map[string]json.RawMessage) error {
	times := 1
	if r, ok := step["repeat"]; ok {
		json.Unmarshal(r, &times)
	}
	common := map[string]json.RawMessage{}
	for k, v := range expect {
		common[k] = v
	}
	for _, k := range wsExpectKeys {
		delete(common, k)
	}
	for i := 0; i < times; i++ {
		out, res, err := wsRun(client, step["websocket"])
		if err != nil {
			return err
		}
		if err := check(common, out); err != nil {
			return err
		}
		if err := checkWS(expect, out, res); err != nil {
			return err
		}
	}
	return nil
}

type wsSpec struct {
	Path  string            `json:"path"`
	Query map[string]any    `json:"query"`
	Send  []json.RawMessage `json:"send"`
	On    []json.RawMessage `json:"on"`
	Until string            `json:"until"`
}

type wsRule struct {
	Event string          `json:"event"`
	Send  json.RawMessage `json:"send"`
}

func wsRun(client *cf.Client, raw json.RawMessage) (*outcome, wsResult, error) {
	var keys map[string]json.RawMessage
	json.Unmarshal(raw, &keys)
	if err := checkKeys(keys, "websocket", "path", "query", "send", "on", "until"); err != nil {
		return nil, wsResult{}, err
	}
	var spec wsSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, wsResult{}, fmt.Errorf("websocket: %v", err)
	}
	rules := make([]wsRule, len(spec.On))
	for i, r := range spec.On {
		var rk map[string]json.RawMessage
		json.Unmarshal(r, &rk)
		if err := checkKeys(rk, "websocket.on", "event", "send"); err != nil {
			return nil, wsResult{}, err
		}
		json.Unmarshal(r, &rules[i])
	}
	var query url.Values
	if len(spec.Query) > 0 {
		query = url.Values{}
		for k, v := range spec.Query {
			query.Set(k, fmt.Sprint(v))
		}
	}
	ctx := context.Background()
	out := &outcome{}
	started := time.Now()
	session, err := client.WebSocket(ctx, spec.Path, query)
	if err != nil {
		fromError(out, err)
		out.elapsed = time.Since(started)
		return out, wsResult{}, nil
	}
	defer session.Close()
	// Sent at once, before the server's first event: held, and replayed on a fallback.
	for _, ev := range spec.Send {
		if err := session.Send(ctx, ev); err != nil {
			out.err = err
		}
	}
	if out.err == nil {
		wsRead(ctx, session, rules, spec.Until, out)
	}
	out.credential, out.attempts, out.hasAttempt = session.Credential(), session.Attempts(), true
	out.elapsed = time.Since(started)
	return out, wsResult{closeCode: session.CloseCode(), logid: session.LogID() != ""}, nil
}

// wsRead reads events until one named until, the end or an error; each rule answers an event of its name.
func wsRead(ctx context.Context, session *cf.WebSocketSession, rules []wsRule, until string, out *outcome) {
	for {
		ev, err := session.Next(ctx)
		if err == io.EOF {
			return
		}
		if err != nil {
			out.err = err
			return
		}
		name := ev.EventType
		if ev.IsBinary() {
			name = "binary"
		}
		for _, r := range rules {
			if r.Event == name {
				if err := session.Send(ctx, r.Send); err != nil {
					out.err = err
					return
				}
			}
		}
		out.events = append(out.events, name)
		if until != "" && name == until {
			return
		}
	}
}

func checkWS(expect map[string]json.RawMessage, out *outcome, res wsResult) error {
	if raw, ok := expect["events"]; ok {
		var want []string
		if err := json.Unmarshal(raw, &want); err != nil {
			return fmt.Errorf("expect.events must be an array of names: %v", err)
		}
		if len(want) != len(out.events) || (len(want) > 0 && !reflect.DeepEqual(want, out.events)) {
			return fmt.Errorf("events: expected %v, got %v", want, out.events)
		}
	}
	if raw, ok := expect["close_code"]; ok && num(raw) != int64(res.closeCode) {
		return fmt.Errorf("close_code: expected %d, got %d", num(raw), res.closeCode)
	}
	if raw, ok := expect["logid"]; ok {
		var want bool
		json.Unmarshal(raw, &want)
		if want != res.logid {
			return fmt.Errorf("logid: expected present=%v, got present=%v", want, res.logid)
		}
	}
	return nil
}

// checkWSMock checks the websocket_* keys of expect_mock against /__mock/stats.
func checkWSMock(want map[string]json.RawMessage) error {
	hs, hasHS := want["websocket_handshakes"]
	ss, hasSS := want["websocket_sessions"]
	if !hasHS && !hasSS {
		return nil
	}
	var stats struct {
		WebSocket struct {
			Handshakes   int64            `json:"handshakes"`
			ByCredential map[string]int64 `json:"by_credential"`
			Sessions     []map[string]any `json:"sessions"`
		} `json:"websocket"`
	}
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		return err
	}
	ws := stats.WebSocket
	if hasHS {
		var exp map[string]int64
		json.Unmarshal(hs, &exp)
		for name, n := range exp {
			got := ws.ByCredential[name]
			if name == "total" {
				got = ws.Handshakes
			}
			if got != n {
				return fmt.Errorf("mock websocket_handshakes.%s: expected %d, got %d", name, n, got)
			}
		}
	}
	if hasSS {
		return checkWSSessions(ss, ws.Sessions)
	}
	return nil
}

// checkWSSessions: exactly as many sessions as listed, each on the fields given, in order.
func checkWSSessions(raw json.RawMessage, got []map[string]any) error {
	var want []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		return fmt.Errorf("websocket_sessions must be an array of objects: %v", err)
	}
	if len(want) != len(got) {
		return fmt.Errorf("mock websocket_sessions: expected %d session(s), got %d: %v", len(want), len(got), got)
	}
	for i, w := range want {
		if err := checkKeys(w, "websocket_sessions[]", "credential", "outcome", "status", "code", "pong", "received", "received_ids"); err != nil {
			return err
		}
		for key, value := range w {
			var expected any
			json.Unmarshal(value, &expected)
			var actual any
			switch key {
			case "received":
				actual = fieldList(got[i]["received"], "event_type")
			case "received_ids":
				actual = fieldList(got[i]["received"], "id")
			default:
				actual = got[i][key]
			}
			if !reflect.DeepEqual(actual, expected) {
				return fmt.Errorf("mock websocket_sessions[%d].%s: expected %s, got %v", i, key, value, actual)
			}
		}
	}
	return nil
}

func fieldList(received any, field string) []any {
	list, _ := received.([]any)
	out := make([]any, 0, len(list))
	for _, r := range list {
		m, _ := r.(map[string]any)
		out = append(out, m[field])
	}
	return out
}
