package cozefallback

/*
#include "cozefallback.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"sync"
	"unsafe"
)

// Event is one server-sent event.
type Event struct {
	Event string // the event name ("message" when the server named none)
	Data  string // the data lines joined with "\n"
	ID    string // the id: field, "" when absent
}

// Stream is an open server-sent event stream. Next returns io.EOF at its end. The context given to
// Client.Stream governs every Next: cancelling it stops a blocked Next. Close is idempotent.
type Stream struct {
	mu   sync.Mutex
	ptr  *C.cozefallback_stream
	ctx  context.Context
	tok  *C.cozefallback_cancel_token
	stop func()

	// StatusCode, Credential ("personal" or "enterprise"), Attempts and LogID of the stream's response.
	StatusCode int
	Credential string
	Attempts   int
	LogID      string
	// ConversationMoved is set when the chat named a stranded conversation and was carried over before the
	// stream opened; nil otherwise.
	ConversationMoved *ConversationMoved
}

// Stream opens a server-sent event stream (e.g. POST /v3/chat with "stream": true). The core falls back on
// the response head or on a leading error event; once an event has been delivered nothing is replayed.
func (c *Client) Stream(ctx context.Context, r *Request) (*Stream, error) {
	req, err := r.build(ctx)
	if err != nil {
		return nil, err
	}
	defer C.cozefallback_request_free(req)
	ptr, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	var sp *C.cozefallback_stream
	var cerr *C.cozefallback_error
	if C.cozefallback_stream_open(ptr, req, tok, &sp, &cerr) != C.COZEFALLBACK_STATUS_OK {
		stop()
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, ctx)
	}
	return newStream(sp, ctx, tok, stop), nil
}

func newStream(sp *C.cozefallback_stream, ctx context.Context, tok *C.cozefallback_cancel_token, stop func()) *Stream {
	s := &Stream{
		ptr:        sp,
		ctx:        ctx,
		tok:        tok,
		stop:       stop,
		StatusCode: int(C.cozefallback_stream_status(sp)),
		Credential: goString(C.cozefallback_stream_credential(sp)),
		Attempts:   int(C.cozefallback_stream_attempts(sp)),
		LogID:      goString(C.cozefallback_stream_logid(sp)),

		ConversationMoved: streamMoved(sp),
	}
	runtime.SetFinalizer(s, (*Stream).Close)
	return s
}

// sendAny sends a request and takes whichever answer the server gives: a whole answer, or a stream when it
// answers text/event-stream (the core decides, with the same fallback). For the Transport.
func (c *Client) sendAny(ctx context.Context, r *Request) (*Response, *Stream, error) {
	req, err := r.build(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer C.cozefallback_request_free(req)
	ptr, err := c.acquire()
	if err != nil {
		return nil, nil, err
	}
	defer c.mu.RUnlock()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, nil, err
	}
	var resp *C.cozefallback_response
	var sp *C.cozefallback_stream
	var cerr *C.cozefallback_error
	if C.cozefallback_client_send_any(ptr, req, tok, &resp, &sp, &cerr) != C.COZEFALLBACK_STATUS_OK {
		stop()
		defer C.cozefallback_error_free(cerr)
		return nil, nil, convertError(cerr, ctx)
	}
	if resp != nil {
		stop()
		defer C.cozefallback_response_free(resp)
		return toResponse(resp), nil, nil
	}
	return nil, newStream(sp, ctx, tok, stop), nil
}

// Next waits for the next event; io.EOF at the end. A broken stream gives *StreamInterruptedError.
func (s *Stream) Next() (*Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return nil, ErrClosed
	}
	var ev *C.cozefallback_event
	var cerr *C.cozefallback_error
	if C.cozefallback_stream_next(s.ptr, s.tok, &ev, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, s.ctx)
	}
	if ev == nil {
		return nil, io.EOF
	}
	defer C.cozefallback_event_free(ev)
	return &Event{
		Event: goString(C.cozefallback_event_name(ev)),
		Data:  goString(C.cozefallback_event_data(ev)),
		ID:    goString(C.cozefallback_event_id(ev)),
	}, nil
}

// NextSSE waits for the next event and returns it as server-sent-event text framed by the core
// (`id:`, `event:`, one `data:` line per data line, a blank line; docs/FORMS.md); io.EOF at the end. The
// Transport uses it to hand an SDK an SSE body. Each call consumes one event, as Next does.
//
//	for {
//		frame, err := stream.NextSSE()
//		if err == io.EOF {
//			break
//		}
//		if err != nil {
//			return err
//		}
//		os.Stdout.Write(frame)
//	}
func (s *Stream) NextSSE() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return nil, ErrClosed
	}
	var text *C.char
	var n C.size_t
	var cerr *C.cozefallback_error
	if C.cozefallback_stream_next_sse(s.ptr, s.tok, &text, &n, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, s.ctx)
	}
	if text == nil {
		return nil, io.EOF
	}
	defer C.cozefallback_string_free(text)
	return C.GoBytes(unsafe.Pointer(text), C.int(n)), nil
}

// Close stops reading and releases the stream. Idempotent; a finalizer calls it too.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.cozefallback_stream_free(s.ptr)
		s.ptr = nil
		s.stop()
		runtime.SetFinalizer(s, nil)
	}
	return nil
}
