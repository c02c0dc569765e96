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
	"io"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// WebSocketEvent is one frame from the server: a JSON event (Raw is set) or a binary frame (Binary is set).
// Coze's events are {"id", "event_type", "data", "detail": {"logid"}}.
type WebSocketEvent struct {
	EventType string          // "chat.created", "conversation.message.delta", "error", ...; "" for a binary frame
	ID        string          // the event's id ("" when absent or not a string)
	Data      json.RawMessage // the event's data as sent; nil when absent
	Detail    json.RawMessage // the event's detail ({"logid": ...}); nil when absent
	Raw       json.RawMessage // the whole JSON object; nil for a binary frame
	Binary    []byte          // the bytes of a binary frame; nil for a JSON event
}

// IsBinary reports whether the frame is a binary frame.
func (e *WebSocketEvent) IsBinary() bool { return e.Raw == nil }

// LogID is the event's detail.logid ("" when absent).
func (e *WebSocketEvent) LogID() string {
	var d struct {
		LogID string `json:"logid"`
	}
	if len(e.Detail) > 0 && json.Unmarshal(e.Detail, &d) == nil {
		return d.LogID
	}
	return ""
}

// Decode decodes the event's data into v.
func (e *WebSocketEvent) Decode(v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("cozefallback: the %q event has no data", e.EventType)
	}
	return json.Unmarshal(e.Data, v)
}

// WebSocketSession is an open session of Coze's realtime APIs (/v1/chat, /v1/audio/speech,
// /v1/audio/transcriptions) with the fallback of the core: events sent before the server's first event are held
// and replayed on the other credential if that first event (or the handshake) refuses the credential; once an
// event reached the caller nothing is replayed. Send and Next may run in different goroutines at once. Close
// is idempotent; a finalizer calls it too.
type WebSocketSession struct {
	mu     sync.RWMutex
	ptr    *C.cozefallback_websocket
	client *Client // keeps the client (and so the core's runtime) alive while the session is
	final  wsResult
}

// wsResult is the session's result, kept when the handle is freed.
type wsResult struct {
	credential string
	attempts   int
	delivered  int
	closeCode  int
	logid      string
}

// WebSocket opens a session on the WebSocket base (wss://ws.coze.cn for https://api.coze.cn, or the config's
// ws_base_url), e.g. path "/v1/chat" with query {"bot_id": {"7350..."}} (one value per key; nil for none).
// ctx bounds the handshakes (both credentials) and cancels them in the core. A handshake refused with a
// fallback code connects with the other credential; a 403 without a Coze code is an *APIError (the account
// lacks access to the realtime APIs, which no other credential fixes).
func (c *Client) WebSocket(ctx context.Context, path string, query url.Values) (*WebSocketSession, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, &InvalidArgumentError{Msg: "cozefallback: the WebSocket path contains a NUL byte"}
	}
	qjson, err := queryJSON(query)
	if err != nil {
		return nil, err
	}
	ptr, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var cq *C.char
	if qjson != "" {
		cq = C.CString(qjson)
		defer C.free(unsafe.Pointer(cq))
	}
	var ws *C.cozefallback_websocket
	var cerr *C.cozefallback_error
	st := C.cozefallback_websocket_open(ptr, cp, cq, tok, &ws, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, ctx)
	}
	s := &WebSocketSession{ptr: ws, client: c}
	runtime.SetFinalizer(s, (*WebSocketSession).Close)
	return s, nil
}

// queryJSON turns the query into the JSON object of strings the C library takes ("" for none).
func queryJSON(query url.Values) (string, error) {
	if len(query) == 0 {
		return "", nil
	}
	obj := make(map[string]string, len(query))
	for k, vs := range query {
		switch len(vs) {
		case 0:
		case 1:
			obj[k] = vs[0]
		default:
			return "", &InvalidArgumentError{Msg: fmt.Sprintf(
				"cozefallback: the WebSocket query parameter %q has %d values; the realtime APIs take one value per key", k, len(vs))}
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: cannot encode the WebSocket query: %v", err)}
	}
	return string(b), nil
}

type wsCall func(*C.cozefallback_websocket, *C.cozefallback_cancel_token, **C.cozefallback_error) uint32

// call runs fn on the live handle with ctx tied to a cancel token.
func (s *WebSocketSession) call(ctx context.Context, fn wsCall) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return ErrClosed
	}
	tok, stop, err := watch(ctx)
	if err != nil {
		return err
	}
	var cerr *C.cozefallback_error
	st := fn(s.ptr, tok, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return convertError(cerr, ctx)
	}
	return nil
}

// Send sends one event, marshalled with encoding/json to a JSON object (a map, a struct, a json.RawMessage),
// as a text frame: e.g. map[string]any{"id": "1", "event_type": "chat.update", "data": ...}. Anything that
// is not a JSON object is an *InvalidArgumentError. ctx cancels the send in the core.
func (s *WebSocketSession) Send(ctx context.Context, event any) error {
	b, err := json.Marshal(event)
	if err != nil {
		return &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: cannot encode the WebSocket event: %v", err)}
	}
	ce := C.CString(string(b))
	defer C.free(unsafe.Pointer(ce))
	return s.call(ctx, func(ws *C.cozefallback_websocket, tok *C.cozefallback_cancel_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_websocket_send(ws, ce, tok, cerr)
	})
}

// SendBinary sends one binary frame (held and replayed like Send's events).
func (s *WebSocketSession) SendBinary(ctx context.Context, data []byte) error {
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	return s.call(ctx, func(ws *C.cozefallback_websocket, tok *C.cozefallback_cancel_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_websocket_send_binary(ws, p, C.size_t(len(data)), tok, cerr)
	})
}

// Next waits for the next frame; io.EOF once the server closed normally (close code 1000, 1001 or none) or
// Close was called. A connection that breaks after the first event (a reset, the idle timeout, another close
// code) is a *StreamInterruptedError with EventsDelivered; before the first event a silent server is a
// *TimeoutError, and both credentials refusing is an *APIError. ctx cancels the wait in the core
// (*CancelledError, or *TimeoutError for its deadline). After Close, ErrClosed.
func (s *WebSocketSession) Next(ctx context.Context) (*WebSocketEvent, error) {
	var ev *C.cozefallback_ws_event
	err := s.call(ctx, func(ws *C.cozefallback_websocket, tok *C.cozefallback_cancel_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_websocket_next(ws, tok, &ev, cerr)
	})
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, io.EOF
	}
	defer C.cozefallback_ws_event_free(ev)
	return toWebSocketEvent(ev), nil
}

func toWebSocketEvent(ev *C.cozefallback_ws_event) *WebSocketEvent {
	text := C.cozefallback_ws_event_json(ev)
	if text == nil {
		var n C.size_t
		data := C.cozefallback_ws_event_binary(ev, &n)
		return &WebSocketEvent{Binary: C.GoBytes(unsafe.Pointer(data), C.int(n))}
	}
	e := &WebSocketEvent{
		EventType: goString(C.cozefallback_ws_event_type(ev)),
		Raw:       json.RawMessage(C.GoString(text)),
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(e.Raw, &fields) == nil {
		e.Data, e.Detail = fields["data"], fields["detail"]
		_ = json.Unmarshal(fields["id"], &e.ID) // a non-string id stays "" (Raw has it)
	}
	return e
}

// Close sends a close frame (waiting at most 2 s), ends the session (a Next waiting in another goroutine
// returns io.EOF) and releases it; later Send and Next return ErrClosed, and the accessors keep the session's
// result. Idempotent.
func (s *WebSocketSession) Close() error {
	// Close first, under the read lock a waiting Next holds too: it returns at once and releases it.
	s.mu.RLock()
	if s.ptr != nil {
		C.cozefallback_websocket_close(s.ptr, nil)
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		s.final = s.result()
		C.cozefallback_websocket_free(s.ptr)
		s.ptr = nil
		s.client = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// result reads the session's result from the live handle (the lock held).
func (s *WebSocketSession) result() wsResult {
	r := wsResult{
		credential: goString(C.cozefallback_websocket_credential(s.ptr)),
		attempts:   int(C.cozefallback_websocket_attempts(s.ptr)),
		delivered:  int(C.cozefallback_websocket_events_delivered(s.ptr)),
		closeCode:  int(C.cozefallback_websocket_close_code(s.ptr)),
	}
	if l := C.cozefallback_websocket_logid(s.ptr); l != nil {
		r.logid = C.GoString(l)
		C.cozefallback_string_free(l)
	}
	return r
}

func (s *WebSocketSession) get() wsResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return s.final
	}
	return s.result()
}

// Credential is the credential connected now, "personal" or "enterprise" (final once the first event was
// delivered).
func (s *WebSocketSession) Credential() string { return s.get().credential }

// Attempts counts the handshakes so far, over both credentials.
func (s *WebSocketSession) Attempts() int { return s.get().attempts }

// LogID is the log id (X-Tt-Logid) of the last handshake answer, "" when the server sent none.
func (s *WebSocketSession) LogID() string { return s.get().logid }

// EventsDelivered counts the events Next returned so far.
func (s *WebSocketSession) EventsDelivered() int { return s.get().delivered }

// CloseCode is the server's close code once it closed the session (1000, 1011, ...), else 0.
func (s *WebSocketSession) CloseCode() int { return s.get().closeCode }
