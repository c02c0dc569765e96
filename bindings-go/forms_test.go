package cozefallback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

// A real failure (a bot neither credential finds: 4200 from both) read through the error's JSON form: every
// field of the *APIError and of its Previous, as the mock answered them.
func TestAPIErrorFromTheJSONFormOfARealFailure(t *testing.T) {
	c := newClient(t)
	_, err := c.Get(context.Background(), "/v1/bots/7359999999999999999", nil)
	var api *cf.APIError
	if !errors.As(err, &api) {
		t.Fatalf("want *APIError, got %T %v", err, err)
	}
	const notFound = "resource not found" // the mock's msg for 4200
	if api.Code != 4200 || api.CozeMessage != notFound || api.Msg != api.CozeMessage {
		t.Fatalf("Code %d, CozeMessage %q, Msg %q", api.Code, api.CozeMessage, api.Msg)
	}
	if api.Credential != "enterprise" || api.Attempts != 2 || api.HTTPStatus != 200 {
		t.Fatalf("Credential %q, Attempts %d, HTTPStatus %d", api.Credential, api.Attempts, api.HTTPStatus)
	}
	if api.Response == nil || api.LogID == "" || api.Response.Header.Get("X-Tt-Logid") != api.LogID {
		t.Fatalf("LogID %q, the failed answer %+v", api.LogID, api.Response)
	}
	var body struct {
		Code int64  `json:"code"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(api.Response.Body, &body) != nil || body.Code != 4200 || body.Msg != notFound {
		t.Fatalf("the failed answer's body, as sent: %s", api.Response.Body)
	}
	if !strings.Contains(api.Error(), "4200") || !strings.Contains(api.Error(), api.LogID) {
		t.Fatalf("Error() tells the whole story: %q", api.Error())
	}
	var prev *cf.APIError
	if !errors.As(api.Previous, &prev) {
		t.Fatalf("Previous: want *APIError, got %T %v", api.Previous, api.Previous)
	}
	if prev.Code != 4200 || prev.CozeMessage != notFound || prev.Msg != notFound || prev.Credential != "personal" ||
		prev.Attempts != 1 || prev.LogID == "" || prev.LogID == api.LogID || prev.Previous != nil {
		t.Fatalf("Previous %+v", prev)
	}
	if prev.Response == nil || prev.Response.Header.Get("X-Tt-Logid") != prev.LogID {
		t.Fatalf("Previous' failed answer %+v", prev.Response)
	}
}

// A token endpoint refusing a JWT signed with a key id it does not know: an *AuthError whose CozeMessage is
// Coze's error_message, with Msg holding the same.
func TestAuthErrorCarriesCozeMessage(t *testing.T) {
	newClient(t)
	cfg := `{"base_url":"` + mockURL + `","personal":{"type":"jwt","client_id":"` + infoString("jwt_client_id") +
		`","private_key_file":"` + infoString("private_key_file") + `","public_key_id":"kid_not_registered",` +
		`"account_id":"` + infoString("account_id") + `"}}`
	c, err := cf.NewFromJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "/v1/bots/"+bot(0), nil)
	var auth *cf.AuthError
	if !errors.As(err, &auth) {
		t.Fatalf("want *AuthError, got %T %v", err, err)
	}
	if auth.OAuthError == "" || auth.CozeMessage == "" || auth.Msg != auth.CozeMessage || auth.Credential != "personal" {
		t.Fatalf("OAuthError %q, CozeMessage %q, Msg %q, Credential %q", auth.OAuthError, auth.CozeMessage, auth.Msg, auth.Credential)
	}
	if !strings.Contains(err.Error(), auth.CozeMessage) {
		t.Fatalf("Error() includes Coze's message: %q", err.Error())
	}
}

// The Transport's SSE body is the core's framing of the stream's events: blocks of `event:NAME` and one
// `data:` line each (the mock's chat data has no newline), each ending in a blank line, nothing else.
func TestTransportStreamsTheCoresSSEText(t *testing.T) {
	c := newClient(t)
	hc := &http.Client{Transport: &cf.Transport{Client: c}}
	reqBody, _ := json.Marshal(chatBody(true))
	req, _ := http.NewRequest("POST", mockURL+"/v3/chat", bytes.NewReader(reqBody))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(text), "\n\n") {
		t.Fatalf("the body does not end an event: %q", text)
	}
	blocks := strings.Split(strings.TrimSuffix(string(text), "\n\n"), "\n\n")
	if len(blocks) < 3 {
		t.Fatalf("expected a chat's events, got %q", text)
	}
	for _, block := range blocks {
		lines := strings.Split(block, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event:") || !strings.HasPrefix(lines[1], "data:") {
			t.Fatalf("not an event block: %q", block)
		}
	}
	if last := blocks[len(blocks)-1]; !strings.HasPrefix(last, "event:done") {
		t.Fatalf("the last event is %q", last)
	}
}
