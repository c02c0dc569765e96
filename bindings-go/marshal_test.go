package cozefallback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

// What a request carries through the one-crossing build (marshal.c), and what comes back through the
// one-crossing read, checked on the wire against a plain Go server.
type echoed struct {
	Method, Path, Auth, ContentType, Body string
	Query                                 url.Values
	Header                                http.Header
}

func echoServer(t *testing.T, extraHeaders int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for i := 0; i < extraHeaders; i++ {
			w.Header().Set(fmt.Sprintf("X-Extra-%02d", i), fmt.Sprintf("v%d", i))
		}
		w.Header().Add("X-Twice", "one")
		w.Header().Add("X-Twice", "two")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "", "data": echoed{
			Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), Body: string(body), Query: r.URL.Query(), Header: r.Header,
		}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func echoClient(t *testing.T, srv *httptest.Server) *cf.Client {
	t.Helper()
	c, err := cf.New(cf.Config{BaseURL: srv.URL, Personal: cf.PAT("pat_echo_personal")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func decodeEcho(t *testing.T, body []byte) echoed {
	t.Helper()
	var out struct {
		Data echoed `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return out.Data
}

func TestRequestCarriesQueryHeadersBodyAndManyResponseHeaders(t *testing.T) {
	srv := echoServer(t, 40) // more headers than one read takes
	c := echoClient(t, srv)
	h := http.Header{}
	h.Add("X-Multi", "a")
	h.Add("X-Multi", "b")
	h.Set("Authorization", "Bearer caller-value-dropped")
	ctx, cancel := context.WithCancel(context.Background()) // a context that can end: the cancel-token path
	defer cancel()
	resp, err := c.Do(ctx, &cf.Request{
		Method: "POST", Path: "/v1/echo", Query: url.Values{"q": {"1", "2"}, "name": {"a b&c"}},
		Header: h, Body: []byte(`{"x":1}`), ContentType: "application/json",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeEcho(t, resp.Body)
	if got.Method != "POST" || got.Path != "/v1/echo" || got.Body != `{"x":1}` || got.ContentType != "application/json" {
		t.Fatalf("request as the server saw it: %+v", got)
	}
	if got.Auth != "Bearer pat_echo_personal" {
		t.Fatalf("Authorization must be the client's, got %q", got.Auth)
	}
	if fmt.Sprint(got.Query["q"]) != "[1 2]" || got.Query.Get("name") != "a b&c" {
		t.Fatalf("query: %v", got.Query)
	}
	if fmt.Sprint(got.Header["X-Multi"]) != "[a b]" {
		t.Fatalf("repeated header: %v", got.Header["X-Multi"])
	}
	for i := 0; i < 40; i++ {
		if v := resp.Header.Get(fmt.Sprintf("X-Extra-%02d", i)); v != fmt.Sprintf("v%d", i) {
			t.Fatalf("response header %d: %q (of %d headers)", i, v, len(resp.Header))
		}
	}
	if fmt.Sprint(resp.Header["X-Twice"]) != "[one two]" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("response headers: %v", resp.Header)
	}
	if resp.StatusCode != 200 || resp.Credential != "personal" || resp.Attempts != 1 {
		t.Fatalf("response: %d %s %d", resp.StatusCode, resp.Credential, resp.Attempts)
	}
}

func TestTransportSendsTheCallersHeadersButNotItsAuthorization(t *testing.T) {
	srv := echoServer(t, 0)
	c := echoClient(t, srv)
	hc := &http.Client{Transport: &cf.Transport{Client: c}}
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/echo?k=v", bytes.NewReader([]byte("plain body")))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer sdk-token")
	req.Header.Set("User-Agent", "cozego/test")
	req.Header.Set("X-Coze-Client-User-Agent", `{"lang":"go"}`)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	got := decodeEcho(t, body)
	if got.Method != "PUT" || got.Body != "plain body" || got.ContentType != "text/plain" || got.Query.Get("k") != "v" {
		t.Fatalf("request as the server saw it: %+v", got)
	}
	if got.Auth != "Bearer pat_echo_personal" || got.Header.Get("User-Agent") != "cozego/test" ||
		got.Header.Get("X-Coze-Client-User-Agent") != `{"lang":"go"}` {
		t.Fatalf("headers as the server saw them: %v", got.Header)
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("X-Twice") != "one" {
		t.Fatalf("answer: length %d of %d, headers %v", resp.ContentLength, len(body), resp.Header)
	}
}
