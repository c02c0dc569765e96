// Package cozefallback is a Coze OpenAPI client holding two credentials, the old personal one and the new
// enterprise one, that moves each request to the credential that works, so a workspace can move from the
// personal to the enterprise edition with no failed call. It wraps libcozefallback (the Rust core) over cgo:
// every decision (fallback, stickiness, token cache, retries, metrics) is the core's.
//
//	client, err := cozefallback.FromEnv() // COZE_API_BASE, COZE_API_TOKEN, COZE_API_TOKEN_ENTERPRISE, ...
//	resp, err := client.PostJSON(ctx, "/v3/chat", map[string]any{"bot_id": botID, "user_id": "u1", ...})
//	fmt.Println(resp.Credential, resp.Attempts, string(resp.Body))
//
// A Client is safe for concurrent use. Every call takes a context.Context: its deadline and cancellation
// stop the call in the core, not only the wait.
package cozefallback

/*
#include <stdlib.h>
#include "cozefallback.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Version is the version of libcozefallback linked in.
func Version() string { return C.GoString(C.cozefallback_version()) }

// Client is a dual-credential Coze client. Safe for concurrent use; Close releases it.
type Client struct {
	mu      sync.RWMutex
	ptr     *C.cozefallback_client
	hook    *conversationHook // OnConversationMoved
	refresh *refreshHook      // OnTokenRefresh
}

// New builds a client from a Config.
func New(cfg Config) (*Client, error) {
	doc, err := json.Marshal(cfg)
	if err != nil {
		return nil, &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: cannot encode the config: %v", err)}
	}
	return NewFromJSON(string(doc))
}

// NewFromJSON builds a client from the shared JSON configuration document.
func NewFromJSON(config string) (*Client, error) {
	cs := C.CString(config)
	defer C.free(unsafe.Pointer(cs))
	var ptr *C.cozefallback_client
	var cerr *C.cozefallback_error
	if C.cozefallback_client_new(cs, &ptr, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, nil)
	}
	return wrapClient(ptr), nil
}

// FromEnv builds a client from the official SDKs' environment variables: COZE_API_BASE, COZE_API_TOKEN
// (personal PAT), COZE_API_TOKEN_ENTERPRISE (enterprise PAT), or COZE_JWT_OAUTH_CLIENT_ID,
// COZE_JWT_OAUTH_PRIVATE_KEY / COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH, COZE_JWT_OAUTH_PUBLIC_KEY_ID with
// COZE_PERSONAL_ACCOUNT_ID and/or COZE_ENTERPRISE_ID.
func FromEnv() (*Client, error) {
	var ptr *C.cozefallback_client
	var cerr *C.cozefallback_error
	if C.cozefallback_client_new_from_env(&ptr, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, nil)
	}
	return wrapClient(ptr), nil
}

func wrapClient(ptr *C.cozefallback_client) *Client {
	c := &Client{ptr: ptr, hook: newConversationHook(), refresh: newRefreshHook()}
	runtime.SetFinalizer(c, (*Client).Close)
	return c
}

// Close cancels the calls and streams in flight on the client (they return a *CancelledError at once) and
// releases it; later calls return ErrClosed. Idempotent. A finalizer calls it too.
func (c *Client) Close() error {
	// Cancel first, under the read lock the calls in flight hold too: they return promptly and release it.
	c.mu.RLock()
	if c.ptr != nil {
		C.cozefallback_client_close(c.ptr)
	}
	c.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.cozefallback_client_free(c.ptr)
		c.ptr = nil
		// Only now: every call (and so every carry-over or refresh that could run a hook) has returned.
		c.hook.handle.Delete()
		c.refresh.handle.Delete()
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// acquire returns the live handle under the read lock; release with c.mu.RUnlock().
func (c *Client) acquire() (*C.cozefallback_client, error) {
	c.mu.RLock()
	if c.ptr == nil {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	return c.ptr, nil
}

// Request is one Coze OpenAPI call.
type Request struct {
	Method string // "GET", "POST", ...
	// Path below the base URL ("/v3/chat"), optionally with a query string; a full URL only when it points at
	// the configured base URL.
	Path   string
	Query  url.Values
	Header http.Header // Authorization is always set by the client; a caller's value is dropped.
	// The body: JSON (encoded with encoding/json) when non-nil, else Body with ContentType.
	JSON        any
	Body        []byte
	ContentType string
	// Timeout bounds the whole call (fallback and retries included); 0 keeps the configured total. A context
	// deadline applies as well. A negative Timeout, or one longer than MaxTimeout (24 h), is refused with an
	// *InvalidArgumentError before anything is sent.
	Timeout time.Duration
	// RetryNonIdempotent, when set, overrides retry.non_idempotent of the config for this request.
	RetryNonIdempotent *bool

	dropHopHeaders bool // the Transport's request: Header still holds what the client sets itself
}

// Response is a successful answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Credential string // "personal" or "enterprise": the credential that served it
	Attempts   int    // HTTP attempts, fallback and retries included
	LogID      string // the Coze log id (X-Tt-Logid)
	// ConversationMoved is set when the call named a conversation stranded by the move and was carried over
	// to a new one (conversations.on_stranded "carry_over" or "new"); nil otherwise.
	ConversationMoved *ConversationMoved
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// MaxTimeout is the longest Request.Timeout the library accepts (one day); a longer one is an
// *InvalidArgumentError. A context deadline further away than this is left to the context's cancellation.
var MaxTimeout = time.Duration(C.cozefallback_max_timeout_ms()) * time.Millisecond

// timeout is the call's overall limit: Request.Timeout, shortened by the context's deadline; 0 keeps the
// configured total. A negative Request.Timeout is refused: C takes an unsigned number of milliseconds.
func (r *Request) timeout(ctx context.Context) (time.Duration, error) {
	if r.Timeout < 0 {
		return 0, &InvalidArgumentError{Msg: fmt.Sprintf(
			"cozefallback: Request.Timeout must be 0 (the configured total) or a positive duration of at most %v, got %v",
			MaxTimeout, r.Timeout)}
	}
	timeout := r.Timeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			left = time.Millisecond
		}
		if left <= MaxTimeout && (timeout == 0 || left < timeout) {
			timeout = left
		}
	}
	return timeout, nil
}

// watch ties ctx to a cancel token: when ctx is done the token is cancelled, which stops the call inside the
// core. stop must be called once the call returned; it frees the token.
func watch(ctx context.Context) (tok *C.cozefallback_cancel_token, stop func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, contextError(ctx)
	}
	done := ctx.Done()
	if done == nil {
		return nil, func() {}, nil
	}
	C.cozefallback_cancel_token_new(&tok, nil)
	// No goroutine per call: the context runs the cancel only if it ends while the call is in flight.
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		C.cozefallback_cancel_token_cancel(tok, nil)
		close(fired)
	})
	return tok, func() {
		if !stopAfter() {
			<-fired // the cancel has started: let it finish before the token is freed
		}
		C.cozefallback_cancel_token_free(tok)
	}, nil
}

func contextError(ctx context.Context) error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return &TimeoutError{Msg: "the context deadline passed before the call", cause: err}
	}
	return &CancelledError{Msg: "the context was cancelled before the call", cause: err}
}

// Do sends a request through the fallback. Any Coze error comes back as an error (*APIError, *AuthError,
// *ReauthRequiredError, *TransportError, *TimeoutError, *CancelledError, *ConversationStrandedError...).
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	req, err := r.build(ctx)
	if err != nil {
		return nil, err
	}
	defer C.cozefallback_request_free(req)
	return c.send(ctx, func(ptr *C.cozefallback_client, tok *C.cozefallback_cancel_token, out **C.cozefallback_response, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_client_send(ptr, req, tok, out, cerr)
	})
}

type sendFn func(*C.cozefallback_client, *C.cozefallback_cancel_token, **C.cozefallback_response, **C.cozefallback_error) uint32

func (c *Client) send(ctx context.Context, fn sendFn) (*Response, error) {
	ptr, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	var resp *C.cozefallback_response
	var cerr *C.cozefallback_error
	st := fn(ptr, tok, &resp, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, ctx)
	}
	defer C.cozefallback_response_free(resp)
	return toResponse(resp), nil
}

// Get sends a GET of path with optional query parameters.
func (c *Client) Get(ctx context.Context, path string, query url.Values) (*Response, error) {
	return c.Do(ctx, &Request{Method: http.MethodGet, Path: path, Query: query})
}

// PostJSON sends a POST of path with body encoded as JSON.
func (c *Client) PostJSON(ctx context.Context, path string, body any) (*Response, error) {
	if body == nil {
		body = struct{}{}
	}
	return c.Do(ctx, &Request{Method: http.MethodPost, Path: path, JSON: body})
}

// Upload sends data as multipart/form-data (one part named "file", sent as filename) to apiPath
// (Coze: "/v1/files/upload"). The content is buffered so a fallback can replay it.
func (c *Client) Upload(ctx context.Context, apiPath, filename string, data []byte) (*Response, error) {
	cp, cf := C.CString(apiPath), C.CString(filename)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cf))
	var ptr *C.uint8_t
	if len(data) > 0 {
		ptr = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	return c.send(ctx, func(cl *C.cozefallback_client, tok *C.cozefallback_cancel_token, out **C.cozefallback_response, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_client_upload_bytes(cl, cp, ptr, C.size_t(len(data)), cf, tok, out, cerr)
	})
}

// UploadFile uploads the file at filePath (its base name is sent as the file name) to apiPath.
func (c *Client) UploadFile(ctx context.Context, apiPath, filePath string) (*Response, error) {
	cp, cf := C.CString(apiPath), C.CString(filePath)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cf))
	return c.send(ctx, func(cl *C.cozefallback_client, tok *C.cozefallback_cancel_token, out **C.cozefallback_response, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_client_upload_file(cl, cp, cf, tok, out, cerr)
	})
}

// SetMode changes the routing mode at run time: the cut-over switch.
func (c *Client) SetMode(mode Mode) error {
	ptr, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.mu.RUnlock()
	cm := C.CString(string(mode))
	defer C.free(unsafe.Pointer(cm))
	var cerr *C.cozefallback_error
	if C.cozefallback_client_set_mode(ptr, cm, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return convertError(cerr, nil)
	}
	return nil
}

// Metrics returns the metrics snapshot (counters and histograms, the mode in force) as decoded JSON.
func (c *Client) Metrics() (map[string]any, error) {
	text, err := c.metricsText(true)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, &InternalError{Msg: fmt.Sprintf("cozefallback: metrics are not JSON: %v", err)}
	}
	return m, nil
}

// MetricsPrometheus returns the metrics in the Prometheus text exposition format.
func (c *Client) MetricsPrometheus() (string, error) { return c.metricsText(false) }

func (c *Client) metricsText(asJSON bool) (string, error) {
	ptr, err := c.acquire()
	if err != nil {
		return "", err
	}
	defer c.mu.RUnlock()
	var out *C.char
	var cerr *C.cozefallback_error
	var st uint32
	if asJSON {
		st = C.cozefallback_client_metrics_json(ptr, &out, &cerr)
	} else {
		st = C.cozefallback_client_metrics_prometheus(ptr, &out, &cerr)
	}
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return "", convertError(cerr, nil)
	}
	defer C.cozefallback_string_free(out)
	return C.GoString(out), nil
}
