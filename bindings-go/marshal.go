package cozefallback

/*
#include <stdlib.h>
#include "cozefallback.h"
#include "marshal.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unsafe"
)

// The hot path crosses into C once to build a request and once to read an answer: the strings go over in
// one buffer (marshal.c walks it), and the answer's fields and header pointers come back in one struct.

// blockPool recycles the string buffers: the C side copies what it reads, so a buffer is free once the
// build returns.
var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendCString appends s and its NUL. A string with a NUL inside is cut there, as C.CString's copy is
// read by C.
func appendCString(b []byte, s string) []byte {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return append(append(b, s...), 0)
}

// hopHeader reports the request headers the Transport leaves out: the client sets them itself (the
// credential, the body's type and length) or they belong to one connection.
func hopHeader(name string) bool {
	for _, h := range [...]string{"Authorization", "Content-Type", "Content-Length", "Host", "Connection"} {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// build makes the C request; the caller frees it.
func (r *Request) build(ctx context.Context) (*C.cozefallback_request, error) {
	if r == nil {
		return nil, &InvalidArgumentError{Msg: "cozefallback: nil request"}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	body, ctype := r.Body, r.ContentType
	if r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: cannot encode the JSON body: %v", err)}
		}
		body, ctype = b, "application/json"
	}
	timeout, err := r.timeout(ctx)
	if err != nil {
		return nil, err
	}
	var ms uint64
	if timeout > 0 {
		// The core range-checks the value (at most MaxTimeout); its refusal names the value.
		if ms = uint64(timeout.Milliseconds()); ms == 0 {
			ms = 1
		}
	}
	retry := -1
	if r.RetryNonIdempotent != nil {
		retry = 0
		if *r.RetryNonIdempotent {
			retry = 1
		}
	}

	bp := blockPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // a huge one-off header set is not kept
			blockPool.Put(bp)
		}
	}()
	b := appendCString(appendCString((*bp)[:0], method), r.Path)
	nquery := 0
	for k, vs := range r.Query {
		for _, v := range vs {
			b = appendCString(appendCString(b, k), v)
			nquery++
		}
	}
	nheader := 0
	for k, vs := range r.Header {
		if r.dropHopHeaders && hopHeader(k) {
			continue
		}
		for _, v := range vs {
			b = appendCString(appendCString(b, k), v)
			nheader++
		}
	}
	if ctype != "" {
		b = appendCString(b, ctype)
	}
	*bp = b
	var data *C.uint8_t
	if len(body) > 0 {
		data = (*C.uint8_t)(unsafe.Pointer(&body[0]))
	}
	var req *C.cozefallback_request
	var cerr *C.cozefallback_error
	var step C.int
	st := C.cozefallback_go_request_build((*C.char)(unsafe.Pointer(&b[0])), C.size_t(nquery), C.size_t(nheader),
		C.bool(body != nil || ctype != ""), data, C.size_t(len(body)), C.bool(ctype != ""), C.uint64_t(ms), C.int(retry),
		&req, &cerr, &step)
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		if step == C.COZEFALLBACK_GO_STEP_TIMEOUT {
			return nil, &InvalidArgumentError{Msg: "cozefallback: Request.Timeout: " + goString(C.cozefallback_error_message(cerr))}
		}
		return nil, convertError(cerr, nil)
	}
	return req, nil
}

// headerPairs is how many response headers one read takes; an answer with more is read a second time.
const headerPairs = 32

// pairsPool recycles the arrays the C side writes header pointers into (they hold no Go pointer).
var pairsPool = sync.Pool{New: func() any { return new([2 * headerPairs]*C.char) }}

func toResponse(resp *C.cozefallback_response) *Response {
	var v C.cozefallback_go_response_view
	pairs := pairsPool.Get().(*[2 * headerPairs]*C.char)
	defer pairsPool.Put(pairs)
	C.cozefallback_go_response_read(resp, &v, &pairs[0], headerPairs)
	r := &Response{
		StatusCode: int(v.status),
		Body:       C.GoBytes(unsafe.Pointer(v.body), C.int(v.body_len)),
		Credential: goString(v.credential),
		Attempts:   int(v.attempts),
		LogID:      goString(v.logid),

		ConversationMoved: conversationMoved(v.moved, v.moved_from, v.moved_to, v.moved_copied),
	}
	r.Header = headersOf(resp, pairs[:], int(v.header_count))
	return r
}

// headersOf turns the pairs read into an http.Header, reading again when there were more than fitted.
func headersOf(resp *C.cozefallback_response, pairs []*C.char, count int) http.Header {
	if 2*count > len(pairs) {
		pairs = make([]*C.char, 2*count)
		count = int(C.cozefallback_go_response_headers(resp, &pairs[0], C.size_t(count)))
	}
	h := make(http.Header, count)
	for i := 0; i < count; i++ {
		k := headerKey(pairs[2*i])
		h[k] = append(h[k], goString(pairs[2*i+1]))
	}
	return h
}

// headerKeys maps the core's lower-case header names to their canonical Go form, so that the names every
// answer carries (content-type, x-tt-logid, ...) are not copied and canonicalised again for each answer.
var headerKeys = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

// maxHeaderKeys bounds headerKeys: a server inventing header names cannot grow it without end.
const maxHeaderKeys = 256

// headerKey is http.CanonicalHeaderKey of the C string p.
func headerKey(p *C.char) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	view := unsafe.String((*byte)(unsafe.Pointer(p)), n) // borrowed: only for the lookup
	headerKeys.RLock()
	k, ok := headerKeys.m[view]
	headerKeys.RUnlock()
	if ok {
		return k
	}
	name := strings.Clone(view)
	k = http.CanonicalHeaderKey(name)
	headerKeys.Lock()
	if len(headerKeys.m) < maxHeaderKeys {
		headerKeys.m[name] = k
	}
	headerKeys.Unlock()
	return k
}
