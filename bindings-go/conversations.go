package cozefallback

/*
#include <stdint.h>
#include <stdlib.h>
#include "cozefallback.h"

// Defined in conversations_hook.c: the C hook that hands each carry-over to the Go hook, and the conversion
// of a cgo.Handle to the hook's user_data.
void cozefallback_go_conversation_trampoline(const char *from, const char *to, uint32_t messages_copied,
                                             void *user_data);
void *cozefallback_go_handle_ptr(uintptr_t handle);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ConversationMoved says that a call named a conversation stranded by the move (it belongs to the account of
// the other credential) and was carried over: From is the id the call named, To the new conversation it was
// sent to (store it: later calls should name To), MessagesCopied how many of the latest messages were copied.
//
//	resp, err := client.PostJSON(ctx, "/v3/chat?conversation_id="+old, chat)
//	if err == nil && resp.ConversationMoved != nil {
//		store.Save(user, resp.ConversationMoved.To)
//	}
type ConversationMoved struct {
	From           string
	To             string
	MessagesCopied int
}

// conversationMoved reads what a C accessor wrote; nil when the call carried nothing over.
func conversationMoved(moved C.bool, from, to *C.char, copied C.uint32_t) *ConversationMoved {
	if !bool(moved) {
		return nil
	}
	return &ConversationMoved{From: goString(from), To: goString(to), MessagesCopied: int(copied)}
}

func streamMoved(sp *C.cozefallback_stream) *ConversationMoved {
	var from, to *C.char
	var copied C.uint32_t
	moved := C.cozefallback_stream_conversation_moved(sp, &from, &to, &copied)
	return conversationMoved(moved, from, to, copied)
}

// conversationHook is the Go side of a client's hook. The C library holds a cgo.Handle to it for the client's
// whole life, so replacing or removing the function never invalidates a handle a carry-over may still use.
type conversationHook struct {
	mu     sync.Mutex // serialises OnConversationMoved: the stored function and the C hook change together
	fn     atomic.Pointer[func(from, to string, messagesCopied int)]
	handle cgo.Handle
}

func newConversationHook() *conversationHook {
	h := &conversationHook{}
	h.handle = cgo.NewHandle(h)
	return h
}

//export cozefallbackGoConversationMoved
func cozefallbackGoConversationMoved(from, to *C.char, copied C.uint32_t, handle C.uintptr_t) {
	// The app's function runs on a library thread: a panic in it must not take the process down (the core has
	// already kept the new mapping), so it is recovered here and the call goes on.
	defer func() { _ = recover() }()
	hook, ok := cgo.Handle(handle).Value().(*conversationHook)
	if !ok {
		return
	}
	if fn := hook.fn.Load(); fn != nil {
		(*fn)(C.GoString(from), C.GoString(to), int(copied))
	}
}

// OnConversationMoved installs fn, called once per carry-over (after the new mapping is in place, before the
// call is sent again) with the stranded conversation id, the new one and the number of messages copied, so the
// app can store the new id; nil removes it. It replaces an earlier function; on a closed client it does
// nothing.
//
//	client.OnConversationMoved(func(from, to string, messagesCopied int) {
//		store.Replace(from, to) // after a restart: client.MapConversation(from, to)
//	})
//
// fn runs on one of the library's threads, not on the goroutine that made the call, possibly for several
// conversations at once; it should return promptly and must not call the client's blocking methods (Do,
// Stream...). A panic in fn is recovered and ignored: the call goes on with the new conversation.
func (c *Client) OnConversationMoved(fn func(from, to string, messagesCopied int)) {
	ptr, err := c.acquire()
	if err != nil {
		return
	}
	defer c.mu.RUnlock()
	c.hook.mu.Lock()
	defer c.hook.mu.Unlock()
	if fn == nil {
		c.hook.fn.Store(nil)
		C.cozefallback_client_set_conversation_hook(ptr, nil, nil, nil)
		return
	}
	c.hook.fn.Store(&fn)
	C.cozefallback_client_set_conversation_hook(ptr,
		C.cozefallback_conversation_hook(C.cozefallback_go_conversation_trampoline),
		C.cozefallback_go_handle_ptr(C.uintptr_t(c.hook.handle)), nil)
}

// MapConversation preloads a mapping the app stored after an earlier carry-over (from OnConversationMoved or
// Response.ConversationMoved), typically after a restart: later calls naming from are sent to to, and to is
// never carried over again. An empty id, equal ids or an id with a NUL byte is an *InvalidArgumentError; a
// closed client gives ErrClosed.
//
//	for from, to := range store.All() {
//		if err := client.MapConversation(from, to); err != nil { ... }
//	}
func (c *Client) MapConversation(from, to string) error {
	for _, arg := range [][2]string{{"from", from}, {"to", to}} {
		if strings.IndexByte(arg[1], 0) >= 0 {
			return &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: MapConversation: `%s` contains a NUL byte", arg[0])}
		}
	}
	ptr, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.mu.RUnlock()
	cfrom, cto := C.CString(from), C.CString(to)
	defer C.free(unsafe.Pointer(cfrom))
	defer C.free(unsafe.Pointer(cto))
	var cerr *C.cozefallback_error
	if C.cozefallback_client_map_conversation(ptr, cfrom, cto, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return convertError(cerr, nil)
	}
	return nil
}
