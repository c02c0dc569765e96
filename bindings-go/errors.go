package cozefallback

/*
#include "cozefallback.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unsafe"
)

func deadlineOf(ctx context.Context) (time.Time, bool) {
	if ctx == nil {
		return time.Time{}, false
	}
	return ctx.Deadline()
}

// Kind names the kind of failure, the same names as every other binding and the conformance scenarios.
type Kind string

// The kinds of error.
const (
	KindConfig            Kind = "config"
	KindAPI               Kind = "api"
	KindAuth              Kind = "auth"
	KindReauthRequired    Kind = "reauth_required"
	KindTransport         Kind = "transport"
	KindTimeout           Kind = "timeout"
	KindStreamInterrupted Kind = "stream_interrupted"
	KindCancelled         Kind = "cancelled"
	KindInvalidArgument   Kind = "invalid_argument"
	KindInternal          Kind = "internal"
	// KindConversationStranded: a chat named a conversation (or a file) only the other credential reaches.
	KindConversationStranded Kind = "conversation_stranded"
)

// Error is implemented by every error this package returns; use errors.As with the concrete types
// (*APIError, *ConfigError, *ReauthRequiredError, ...) to read their fields.
type Error interface {
	error
	Kind() Kind
}

// KindOf returns the kind of err (or of the cozefallback error it wraps), or "" when it is not one of ours.
func KindOf(err error) Kind {
	var e Error
	if errors.As(err, &e) {
		return e.Kind()
	}
	return ""
}

// ConfigError: the configuration is invalid. Field names the offending field ("enterprise.private_key_file").
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Msg }
func (e *ConfigError) Kind() Kind    { return KindConfig }

// APIError: Coze answered with a business error code, or with an HTTP error status (Code is then 0).
// Msg is Coze's own message (the body's msg); Error() adds the code, the log id and, when both credentials
// failed, the first credential's error, which Previous holds. Response is the failed answer as sent.
type APIError struct {
	Code       int64
	Msg        string
	LogID      string
	HTTPStatus int
	Credential string
	Attempts   int
	Previous   error
	Response   *FailedResponse
	text       string
}

func (e *APIError) Error() string { return orMsg(e.text, e.Msg) }
func (e *APIError) Kind() Kind    { return KindAPI }

// AuthError: an OAuth endpoint refused (OAuthError is its error code, e.g. "invalid_client"), or a token could
// not be minted.
type AuthError struct {
	OAuthError string
	Msg        string // the OAuth error_message
	LogID      string
	HTTPStatus int
	Credential string
	Attempts   int
	Previous   error
	Response   *FailedResponse
	text       string
}

func (e *AuthError) Error() string { return orMsg(e.text, e.Msg) }
func (e *AuthError) Kind() Kind    { return KindAuth }

// FailedResponse is an answer that failed, as the server sent it.
type FailedResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

func orMsg(text, msg string) string {
	if text != "" {
		return text
	}
	return msg
}

// ReauthRequiredError: an OBO user token was rejected even after a refresh, or its refresh was refused; send
// the user to AuthorizeURL. OAuthError is the token endpoint's error code when a refused refresh led here
// ("invalid_grant"), else "".
type ReauthRequiredError struct {
	AuthorizeURL string
	OAuthError   string
	Code         int64
	Msg          string
	LogID        string
	HTTPStatus   int
	Credential   string
	Attempts     int
	Previous     error
}

func (e *ReauthRequiredError) Error() string { return e.Msg }
func (e *ReauthRequiredError) Kind() Kind    { return KindReauthRequired }

// TransportError: the connection failed (connect, reset, TLS, DNS) or the answer was unreadable.
type TransportError struct {
	Msg        string
	LogID      string
	Credential string
	Attempts   int
	Previous   error
}

func (e *TransportError) Error() string { return e.Msg }
func (e *TransportError) Kind() Kind    { return KindTransport }

// TimeoutError: a timeout fired (connect, first byte, idle stream, overall deadline). When the context's
// deadline caused it, errors.Is(err, context.DeadlineExceeded) is true.
type TimeoutError struct {
	Msg        string
	Credential string
	Attempts   int
	Previous   error
	cause      error
}

func (e *TimeoutError) Error() string { return e.Msg }
func (e *TimeoutError) Kind() Kind    { return KindTimeout }
func (e *TimeoutError) Unwrap() error { return e.cause }

// StreamInterruptedError: a stream broke after EventsDelivered events had reached the caller; nothing was
// replayed.
type StreamInterruptedError struct {
	EventsDelivered int
	Code            int64
	Msg             string
	LogID           string
	Credential      string
	Attempts        int
}

func (e *StreamInterruptedError) Error() string { return e.Msg }
func (e *StreamInterruptedError) Kind() Kind    { return KindStreamInterrupted }

// ConversationStrandedError: a chat named a conversation (or a file) created with the credential that no
// longer reaches the bot after the move, and it was not carried over (conversations.on_stranded "error", or
// a file: files are never carried over). ConversationID (or FileID) names it, ConversationOwner is the
// credential that reaches it and BotCredential the one that reaches the bot ("personal" or "enterprise");
// Previous holds the API error of the refused call. The message says what to do.
//
//	var se *cozefallback.ConversationStrandedError
//	if errors.As(err, &se) {
//		// start a new conversation with se.BotCredential's workspace and store its id
//	}
type ConversationStrandedError struct {
	ConversationID    string // "" when the chat named none (a stranded file)
	FileID            string // "" unless a file is what only ConversationOwner reaches
	ConversationOwner string
	BotCredential     string
	Msg               string
	LogID             string
	Credential        string
	Attempts          int
	Previous          error
}

func (e *ConversationStrandedError) Error() string { return e.Msg }
func (e *ConversationStrandedError) Kind() Kind    { return KindConversationStranded }

// CancelledError: the call was cancelled; errors.Is(err, context.Canceled) (or DeadlineExceeded) is true
// when the context caused it.
type CancelledError struct {
	Msg   string
	cause error
}

func (e *CancelledError) Error() string { return e.Msg }
func (e *CancelledError) Kind() Kind    { return KindCancelled }
func (e *CancelledError) Unwrap() error { return e.cause }

// InvalidArgumentError: an argument was malformed (bad method, header, path...).
type InvalidArgumentError struct{ Msg string }

func (e *InvalidArgumentError) Error() string { return e.Msg }
func (e *InvalidArgumentError) Kind() Kind    { return KindInvalidArgument }

// InternalError: a bug inside the library (a panic caught at the FFI boundary).
type InternalError struct{ Msg string }

func (e *InternalError) Error() string { return e.Msg }
func (e *InternalError) Kind() Kind    { return KindInternal }

// ErrClosed is returned by calls on a closed Client or Stream.
var ErrClosed = errors.New("cozefallback: use of a closed client or stream")

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// convertError turns a C error into a Go error (and frees nothing: the caller owns cerr). ctx, when done,
// becomes the cause of a cancellation or timeout.
func convertError(cerr *C.cozefallback_error, ctx context.Context) error {
	if cerr == nil {
		return &InternalError{Msg: "cozefallback: a call failed without an error object"}
	}
	msg := goString(C.cozefallback_error_message(cerr))
	logid := goString(C.cozefallback_error_logid(cerr))
	cred := goString(C.cozefallback_error_credential(cerr))
	code := int64(C.cozefallback_error_code(cerr))
	status := int(C.cozefallback_error_http_status(cerr))
	attempts := int(C.cozefallback_error_attempts(cerr))
	var previous error
	if p := C.cozefallback_error_previous(cerr); p != nil {
		previous = convertError(p, nil)
	}
	cozeMsg := msg
	if m := C.cozefallback_error_coze_message(cerr); m != nil {
		cozeMsg = C.GoString(m)
	}
	var failed *FailedResponse
	if r := C.cozefallback_error_response(cerr); r != nil {
		var n C.size_t
		data := C.cozefallback_response_body(r, &n)
		failed = &FailedResponse{
			StatusCode: int(C.cozefallback_response_status(r)),
			Header:     responseHeaders(r),
			Body:       C.GoBytes(unsafe.Pointer(data), C.int(n)),
		}
	}
	var cause error
	if ctx != nil {
		cause = ctx.Err()
	}
	switch C.cozefallback_error_kind(cerr) {
	case C.COZEFALLBACK_STATUS_CONFIG:
		return &ConfigError{Field: goString(C.cozefallback_error_field(cerr)), Msg: msg}
	case C.COZEFALLBACK_STATUS_API:
		return &APIError{Code: code, Msg: cozeMsg, LogID: logid, HTTPStatus: status, Credential: cred, Attempts: attempts, Previous: previous, Response: failed, text: msg}
	case C.COZEFALLBACK_STATUS_AUTH:
		return &AuthError{OAuthError: goString(C.cozefallback_error_oauth_error(cerr)), Msg: cozeMsg, LogID: logid, HTTPStatus: status, Credential: cred, Attempts: attempts, Previous: previous, Response: failed, text: msg}
	case C.COZEFALLBACK_STATUS_REAUTH_REQUIRED:
		return &ReauthRequiredError{AuthorizeURL: goString(C.cozefallback_error_authorize_url(cerr)),
			OAuthError: goString(C.cozefallback_error_oauth_error(cerr)), Code: code, Msg: msg, LogID: logid, HTTPStatus: status, Credential: cred, Attempts: attempts, Previous: previous}
	case C.COZEFALLBACK_STATUS_TRANSPORT:
		return &TransportError{Msg: msg, LogID: logid, Credential: cred, Attempts: attempts, Previous: previous}
	case C.COZEFALLBACK_STATUS_TIMEOUT:
		// The context's deadline is handed to the core as the call's overall deadline, which may fire a hair
		// before the context itself reports it.
		if dl, ok := deadlineOf(ctx); ok && cause == nil && time.Until(dl) < 100*time.Millisecond {
			cause = context.DeadlineExceeded
		}
		if cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
			return &CancelledError{Msg: msg, cause: cause}
		}
		return &TimeoutError{Msg: msg, Credential: cred, Attempts: attempts, Previous: previous, cause: cause}
	case C.COZEFALLBACK_STATUS_STREAM_INTERRUPTED:
		return &StreamInterruptedError{EventsDelivered: int(C.cozefallback_error_events_delivered(cerr)), Code: code, Msg: msg, LogID: logid, Credential: cred, Attempts: attempts}
	case C.COZEFALLBACK_STATUS_CANCELLED:
		if cause != nil && errors.Is(cause, context.DeadlineExceeded) {
			return &TimeoutError{Msg: fmt.Sprintf("the context deadline passed: %s", msg), Credential: cred, Attempts: attempts, cause: cause}
		}
		if cause == nil {
			cause = context.Canceled
		}
		return &CancelledError{Msg: msg, cause: cause}
	case C.COZEFALLBACK_STATUS_INVALID_ARGUMENT:
		return &InvalidArgumentError{Msg: msg}
	case C.COZEFALLBACK_STATUS_CONVERSATION_STRANDED:
		return &ConversationStrandedError{
			ConversationID:    goString(C.cozefallback_error_conversation_id(cerr)),
			FileID:            goString(C.cozefallback_error_file_id(cerr)),
			ConversationOwner: goString(C.cozefallback_error_conversation_owner(cerr)),
			BotCredential:     goString(C.cozefallback_error_bot_credential(cerr)),
			Msg:               msg, LogID: logid, Credential: cred, Attempts: attempts, Previous: previous,
		}
	default:
		return &InternalError{Msg: msg}
	}
}
