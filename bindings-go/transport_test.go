package cozefallback_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

// What coze-go does on the wire (request.go: RawRequest / StreamRequest): JSON body, Content-Type
// application/json, its own Authorization header, then {code,msg,data} or an SSE body. The real SDK is
// exercised by bindings-go/cozego (a separate module, see README); this test holds the Transport to the same
// contract with net/http alone.
func cozeGoStyleChat(t *testing.T, hc *http.Client, stream bool) (code int64, events []string, status int) {
	t.Helper()
	body, _ := json.Marshal(chatBody(stream))
	req, _ := http.NewRequest("POST", mockURL+"/v3/chat", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer pat_the_sdk_thinks_it_uses")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event:"); ok {
				events = append(events, name)
			}
		}
		return 0, events, resp.StatusCode
	}
	var out struct {
		Code int64  `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Code, nil, resp.StatusCode
}

func TestTransportKeepsCozeGoChatWorkingAcrossTheMove(t *testing.T) {
	c := newClient(t)
	hc := &http.Client{Transport: &cf.Transport{Client: c}}
	if code, _, status := cozeGoStyleChat(t, hc, false); code != 0 || status != 200 {
		t.Fatalf("before the move: code %d status %d", code, status)
	}
	if err := mockCall("POST", "/__mock/state", map[string]any{"moved": true}, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cozeGoStyleChat(t, hc, false); code != 0 {
		t.Fatalf("after the move: code %d", code)
	}
	_, events, _ := cozeGoStyleChat(t, hc, true)
	if len(events) < 2 || events[len(events)-1] != "done" {
		t.Fatalf("stream after the move: %v", events)
	}
	var stats struct {
		Requests struct {
			ByCredential map[string]int64 `json:"by_credential"`
		} `json:"requests"`
	}
	mockCall("GET", "/__mock/stats", nil, &stats)
	if stats.Requests.ByCredential["enterprise"] < 2 || stats.Requests.ByCredential["unauthenticated"] != 0 {
		t.Fatalf("the SDK's Authorization must never reach the server: %v", stats.Requests.ByCredential)
	}
}

func TestTransportGivesCozeErrorsBackAsCozeAnswers(t *testing.T) {
	c := newClient(t)
	hc := &http.Client{Transport: &cf.Transport{Client: c}}
	req, _ := http.NewRequest("GET", mockURL+"/v1/bots/7359999999999999999", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Code   int64 `json:"code"`
		Detail struct {
			LogID string `json:"logid"`
		} `json:"detail"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if out.Code != 4200 || out.Detail.LogID == "" || resp.Header.Get("X-Tt-Logid") == "" {
		t.Fatalf("%d %+v", resp.StatusCode, out)
	}
	// Another host never receives the credentials.
	req, _ = http.NewRequest("GET", "http://127.0.0.2:1/v1/bots/"+bot(0), nil)
	if _, err := hc.Do(req); err == nil {
		t.Fatal("a request to another host was sent")
	}
}
