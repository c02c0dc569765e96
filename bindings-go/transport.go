package cozefallback

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Transport is an http.RoundTripper that sends every request through a Client, so code written for
// github.com/coze-dev/coze-go keeps its typed API and gains the fallback:
//
//	t := &cozefallback.Transport{Client: client}
//	api := coze.NewCozeAPI(coze.NewTokenAuth("unused"), coze.WithBaseURL(base),
//		coze.WithHttpClient(&http.Client{Transport: t}))
//
// The Client sets Authorization itself (the credential that serves the request); the caller's Authorization
// header is dropped. Requests must target the Client's base URL: tokens are never sent to another host.
// Whether the answer streams is the server's to say: a text/event-stream answer is relayed event by event as
// it arrives (re-encoded as server-sent events), anything else whole. When the request fails with a Coze
// error that came with an answer, the SDK gets that answer as the server sent it (status, headers, body), so
// its own error handling keeps working; other failures (transport, timeout, cancel) are returned as errors.
//
// Bound calls with the request's context or the Client's timeouts rather than http.Client.Timeout: for any
// RoundTripper that is not its own, net/http enforces Client.Timeout with a goroutine and a timer per request
// (about a third of a loopback round trip in bench/go); a context deadline reaches the core directly.
type Transport struct {
	Client *Client
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	r := &Request{
		Method:         req.Method,
		Path:           req.URL.String(),
		Header:         req.Header, // read in place: build leaves out what the client sets itself
		Body:           body,
		ContentType:    req.Header.Get("Content-Type"),
		dropHopHeaders: true,
	}
	resp, stream, err := t.Client.sendAny(req.Context(), r)
	if err != nil {
		return failedAnswer(req, err)
	}
	if stream != nil {
		h := http.Header{}
		h.Set("Content-Type", "text/event-stream")
		if stream.LogID != "" {
			h.Set("X-Tt-Logid", stream.LogID)
		}
		return answer(req, stream.StatusCode, h, &sseBody{stream: stream}, -1), nil
	}
	resp.Header.Del("Content-Length")
	resp.Header.Del("Transfer-Encoding")
	return answer(req, resp.StatusCode, resp.Header, io.NopCloser(bytes.NewReader(resp.Body)), int64(len(resp.Body))), nil
}

// readBody reads and closes the request's body (nil when there is none), sized by its Content-Length.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	defer req.Body.Close()
	if req.ContentLength <= 0 {
		return io.ReadAll(req.Body)
	}
	buf := bytes.NewBuffer(make([]byte, 0, req.ContentLength+1)) // +1: EOF is seen without growing
	_, err := buf.ReadFrom(req.Body)
	return buf.Bytes(), err
}

func answer(req *http.Request, status int, h http.Header, body io.ReadCloser, length int64) *http.Response {
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: body, ContentLength: length, Request: req,
	}
}

// failedAnswer hands back the failed answer as the server sent it; errors without one stay errors.
func failedAnswer(req *http.Request, err error) (*http.Response, error) {
	var failed *FailedResponse
	var api *APIError
	var auth *AuthError
	switch {
	case errors.As(err, &api):
		failed = api.Response
	case errors.As(err, &auth):
		failed = auth.Response
	}
	if failed == nil {
		return nil, err
	}
	h := failed.Header.Clone()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(failed.Body)))
	return answer(req, failed.StatusCode, h, io.NopCloser(bytes.NewReader(failed.Body)), int64(len(failed.Body))), nil
}

// sseBody relays a Stream as server-sent-event text framed by the core (cozefallback_stream_next_sse), pulling
// one event per refill. Close stops the stream; a Read blocked on the server is stopped by the request's context.
type sseBody struct {
	mu     sync.Mutex
	stream *Stream
	buf    []byte // the unread rest of the last event's text
	err    error
}

func (b *sseBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.buf, b.err = b.stream.NextSSE()
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *sseBody) Close() error { return b.stream.Close() }
