//! Conversations started before the move (docs/CONVERSATIONS.md) through the C ABI: the carry-over a call
//! reports, the hook called after each carry-over, a mapping preloaded after a restart, and the fields of a
//! CONVERSATION_STRANDED error. The core decides when a conversation is stranded and carries it over; this
//! module only converts.

use std::ffi::{CString, c_char, c_void};
use std::ptr;
use std::sync::Arc;

use cozefallback::{ConversationHook, ConversationMoved};

use super::client::cozefallback_client;
use super::error::{cozefallback_error, cozefallback_status, credential_ptr, guard};
use super::ffi::{access, arg_ref, arg_str, cstring, read_or};
use super::response::cozefallback_response;
use super::stream::cozefallback_stream;

/// A carry-over as C strings, kept in the response or stream that reports it.
pub(crate) struct MovedC {
    from: CString,
    to: CString,
    messages_copied: u32,
}

impl MovedC {
    pub(crate) fn from_core(m: &ConversationMoved) -> MovedC {
        MovedC {
            from: cstring(&m.from),
            to: cstring(&m.to),
            messages_copied: m.messages_copied,
        }
    }
}

/// Called once per carry-over with the stranded conversation id (`from`), the new one (`to`), the number of
/// messages copied into it, and the `user_data` given to `cozefallback_client_set_conversation_hook`.
///
/// `from` and `to` are borrowed for the call only: copy them to keep them.
pub type cozefallback_conversation_hook = Option<
    unsafe extern "C" fn(
        from: *const c_char,
        to: *const c_char,
        messages_copied: u32,
        user_data: *mut c_void,
    ),
>;

/// The caller's `user_data`, handed back untouched on whichever thread runs the hook.
struct UserData(*mut c_void);
// SAFETY: the library never dereferences it; the caller promises (header docs) that the callback may use it
// from any thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Writes a carry-over (or none) into the optional out-pointers and says whether there was one.
unsafe fn write_moved(
    moved: Option<&MovedC>,
    from: *mut *const c_char,
    to: *mut *const c_char,
    messages_copied: *mut u32,
) -> bool {
    // SAFETY: each out-pointer is NULL or points to writable storage of its type (header docs).
    unsafe {
        if !from.is_null() {
            *from = moved.map_or(ptr::null(), |m| m.from.as_ptr());
        }
        if !to.is_null() {
            *to = moved.map_or(ptr::null(), |m| m.to.as_ptr());
        }
        if !messages_copied.is_null() {
            *messages_copied = moved.map_or(0, |m| m.messages_copied);
        }
    }
    moved.is_some()
}

/// Whether this call carried a stranded conversation over (`conversations.on_stranded` "carry_over" or
/// "new"); when it did, `*from` is the conversation id the call named, `*to` the new conversation it was sent
/// to and `*messages_copied` how many messages were copied. When it did not (or `response` is NULL) they are
/// set to NULL, NULL and 0. Each out-pointer may be NULL.
///
/// ```c
/// const char *from, *to;
/// uint32_t copied;
/// if (cozefallback_response_conversation_moved(resp, &from, &to, &copied))
///     store_conversation_id(user, to); // later calls should name `to`
/// ```
///
/// Ownership: `*from` and `*to` are borrowed from `response` and live as long as it.
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_conversation_moved(
    response: *const cozefallback_response,
    from: *mut *const c_char,
    to: *mut *const c_char,
    messages_copied: *mut u32,
) -> bool {
    access(false, || unsafe {
        let moved = response.as_ref().and_then(|r| r.moved.as_ref());
        write_moved(moved, from, to, messages_copied)
    })
}

/// As `cozefallback_response_conversation_moved`, for a stream: a streaming chat is carried over before the
/// stream opens, so this is known as soon as `cozefallback_stream_open` returns.
///
/// Ownership: `*from` and `*to` are borrowed from `stream` and live as long as it.
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_conversation_moved(
    stream: *const cozefallback_stream,
    from: *mut *const c_char,
    to: *mut *const c_char,
    messages_copied: *mut u32,
) -> bool {
    access(false, || unsafe {
        let moved = stream.as_ref().and_then(|s| s.moved.as_ref());
        write_moved(moved, from, to, messages_copied)
    })
}

/// Installs the hook called once per carry-over, after the new mapping is in place and before the call is
/// sent again, so the app can store the new conversation id; `callback` NULL removes it. Replaces an earlier
/// hook.
///
/// ```c
/// static void on_moved(const char *from, const char *to, uint32_t copied, void *user_data) {
///     store_mapping(user_data, from, to); // copy the strings: they are borrowed for this call only
/// }
/// cozefallback_client_set_conversation_hook(client, on_moved, my_store, &err);
/// ```
///
/// The callback runs on one of the library's worker threads (not the thread that made the call), possibly on
/// several at once for different conversations; it must return promptly, must not unwind (C++ exception,
/// longjmp) out of itself, and must not make blocking calls on a client (`cozefallback_client_send`...);
/// `cozefallback_client_map_conversation` is fine. `from` and `to` are borrowed for the call only.
/// Ownership: borrows `client`; `user_data` is handed to every call untouched and is never freed by the
/// library. A carry-over already running when the hook is replaced may still call the old one: release
/// `user_data` only once the calls in flight on the client have returned. Thread safety: any thread.
/// Errors: INVALID_ARGUMENT (NULL client).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_set_conversation_hook(
    client: *const cozefallback_client,
    callback: cozefallback_conversation_hook,
    user_data: *mut c_void,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let client = arg_ref(client, "client")?;
        let hook = callback.map(|callback| {
            let user_data = UserData(user_data);
            Arc::new(move |m: &ConversationMoved| {
                let (from, to) = (cstring(&m.from), cstring(&m.to));
                let user_data = &user_data;
                // SAFETY: the caller's callback, with NUL-terminated strings alive for the call.
                callback(from.as_ptr(), to.as_ptr(), m.messages_copied, user_data.0);
            }) as ConversationHook
        });
        client.inner.inner().set_conversation_hook(hook);
        Ok(())
    })
}

/// Preloads a mapping the app stored after an earlier carry-over (from the hook or
/// `cozefallback_response_conversation_moved`), typically after a restart: later calls naming `from` are sent
/// to `to` in one round trip, and `to` is never carried over again.
///
/// ```c
/// // at start-up, for every mapping the app saved
/// if (cozefallback_client_map_conversation(client, old_id, new_id, &err) != COZEFALLBACK_STATUS_OK) ...
/// ```
///
/// Ownership: borrows every argument for the call (the ids are copied). Thread safety: any thread,
/// concurrently with calls. Errors: INVALID_ARGUMENT (NULL or non-UTF-8 argument, an empty id, `from` equal
/// to `to`; the message names the argument).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_map_conversation(
    client: *const cozefallback_client,
    from: *const c_char,
    to: *const c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let client = arg_ref(client, "client")?;
        let (from, to) = (arg_str(from, "from")?, arg_str(to, "to")?);
        client.inner.inner().map_conversation(from, to)
    })
}

/// For CONVERSATION_STRANDED: the conversation id the chat named, or NULL when it named none (a chat about a
/// stranded file, see `cozefallback_error_file_id`, may name none).
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_conversation_id(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("conversation_id")) }
}

/// For CONVERSATION_STRANDED: the file id the chat named that was uploaded with the other credential (files
/// are not carried over: upload it again with the credential that reaches the bot), or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_file_id(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("file_id")) }
}

/// For CONVERSATION_STRANDED: the credential that owns (reaches) the conversation or file, "personal" or
/// "enterprise", or NULL.
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_conversation_owner(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe {
        read_or(error, ptr::null(), |e| {
            credential_ptr(e.core.conversation_owner())
        })
    }
}

/// For CONVERSATION_STRANDED: the credential that reaches the bot, "personal" or "enterprise", or NULL.
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_bot_credential(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe {
        read_or(error, ptr::null(), |e| {
            credential_ptr(e.core.bot_credential())
        })
    }
}
