package cozefallback

/*
#include "cozefallback.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
// CozeMessage is Coze's own message (the body's msg, the key coze_message of docs/FORMS.md); Error() adds the
// code, the log id and, when both credentials failed, the first credential's error, which Previous holds.
// Response is the failed answer as sent.
//
//	var api *cozefallback.APIError
//	if errors.As(err, &api) && api.Code == 4200 {
//		log.Printf("not found: %s (log id %s)", api.CozeMessage, api.LogID)
//	}
type APIError struct {
	Code        int64
	CozeMessage string
	// Deprecated: Msg holds the same value as CozeMessage, the name every binding uses; it stays for
	// existing code.
	Msg        string
	LogID      string
	HTTPStatus int
	Credential string
	Attempts   int
	Previous   error
	Response   *FailedResponse
	text       string
}

func (e *APIError) Error() string { return orMsg(e.text, orMsg(e.CozeMessage, e.Msg)) }
func (e *APIError) Kind() Kind    { return KindAPI }

// AuthError: an OAuth endpoint refused (OAuthError is its error code, e.g. "invalid_client"), or a token could
// not be minted. CozeMessage is the OAuth error_message as Coze sent it.
//
//	var auth *cozefallback.AuthError
//	if errors.As(err, &auth) && auth.OAuthError == "invalid_client" {
//		log.Printf("check the app's client id: %s", auth.CozeMessage)
//	}
type AuthError struct {
	OAuthError  string
	CozeMessage string
	// Deprecated: Msg holds the same value as CozeMessage, the name every binding uses; it stays for
	// existing code.
	Msg        string
	LogID      string
	HTTPStatus int
	Credential string
	Attempts   int
	Previous   error
	Response   *FailedResponse
	text       string
}

func (e *AuthError) Error() string { return orMsg(e.text, orMsg(e.CozeMessage, e.Msg)) }
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

// errorForm is the JSON form of an error (cozefallback_error_to_json, docs/FORMS.md): every Go error type is
// built from it, so the fields are read in one cgo call and named as in every other binding.
type errorForm struct {
	Kind              Kind        `json:"kind"`
	Message           string      `json:"message"`
	Code              int64       `json:"code"`
	CozeMessage       *string     `json:"coze_message"`
	HTTPStatus        int         `json:"http_status"`
	LogID             string      `json:"logid"`
	Credential        string      `json:"credential"`
	Attempts          int         `json:"attempts"`
	Field             string      `json:"field"`
	AuthorizeURL      string      `json:"authorize_url"`
	OAuthError        string      `json:"oauth_error"`
	EventsDelivered   int         `json:"events_delivered"`
	ConversationID    string      `json:"conversation_id"`
	FileID            string      `json:"file_id"`
	ConversationOwner string      `json:"conversation_owner"`
	BotCredential     string      `json:"bot_credential"`
	Response          *failedForm `json:"response"`
	Previous          *errorForm  `json:"previous"`
}

// failedForm is the `response` of an errorForm: the failed answer as the server sent it.
type failedForm struct {
	Status  int         `json:"status"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
}

// convertError turns a C error into a Go error (and frees nothing: the caller owns cerr). ctx, when done,
// becomes the cause of a cancellation or timeout.
func convertError(cerr *C.cozefallback_error, ctx context.Context) error {
	if cerr == nil {
		return &InternalError{Msg: "cozefallback: a call failed without an error object"}
	}
	text := C.cozefallback_error_to_json(cerr)
	if text == nil {
		return &InternalError{Msg: "cozefallback: the error could not be read"}
	}
	defer C.cozefallback_string_free(text)
	var form errorForm
	if err := json.Unmarshal([]byte(C.GoString(text)), &form); err != nil {
		return &InternalError{Msg: "cozefallback: the error's JSON form is unreadable: " + err.Error()}
	}
	var cause error
	if ctx != nil {
		cause = ctx.Err()
	}
	return form.toError(cerr, ctx, cause)
}

// failed is the failed answer, or nil. The JSON form carries the body as text, so a body that is not UTF-8
// (seen as U+FFFD there) is read as bytes from the error handle, when there is one.
func (f *errorForm) failed(cerr *C.cozefallback_error) *FailedResponse {
	if f.Response == nil {
		return nil
	}
	h := make(http.Header, len(f.Response.Headers))
	for _, kv := range f.Response.Headers {
		h.Add(kv[0], kv[1])
	}
	body := []byte(f.Response.Body)
	if cerr != nil && strings.ContainsRune(f.Response.Body, '\uFFFD') {
		if r := C.cozefallback_error_response(cerr); r != nil {
			var n C.size_t
			data := C.cozefallback_response_body(r, &n)
			body = C.GoBytes(unsafe.Pointer(data), C.int(n))
		}
	}
	return &FailedResponse{StatusCode: f.Response.Status, Header: h, Body: body}
}

// toError builds the typed error. cerr (the handle the form was read from, or nil) is only used for a body
// that is not UTF-8; ctx and cause turn a cancellation or timeout into the context's own error.
func (f *errorForm) toError(cerr *C.cozefallback_error, ctx context.Context, cause error) error {
	msg := f.Message
	var previous error
	if f.Previous != nil {
		var prev *C.cozefallback_error
		if cerr != nil {
			prev = C.cozefallback_error_previous(cerr)
		}
		previous = f.Previous.toError(prev, nil, nil)
	}
	cozeMsg := msg
	if f.CozeMessage != nil {
		cozeMsg = *f.CozeMessage
	}
	switch f.Kind {
	case KindConfig:
		return &ConfigError{Field: f.Field, Msg: msg}
	case KindAPI:
		return &APIError{Code: f.Code, CozeMessage: cozeMsg, Msg: cozeMsg, LogID: f.LogID, HTTPStatus: f.HTTPStatus, Credential: f.Credential, Attempts: f.Attempts, Previous: previous, Response: f.failed(cerr), text: msg}
	case KindAuth:
		return &AuthError{OAuthError: f.OAuthError, CozeMessage: cozeMsg, Msg: cozeMsg, LogID: f.LogID, HTTPStatus: f.HTTPStatus, Credential: f.Credential, Attempts: f.Attempts, Previous: previous, Response: f.failed(cerr), text: msg}
	case KindReauthRequired:
		return &ReauthRequiredError{AuthorizeURL: f.AuthorizeURL, OAuthError: f.OAuthError, Code: f.Code, Msg: msg, LogID: f.LogID, HTTPStatus: f.HTTPStatus, Credential: f.Credential, Attempts: f.Attempts, Previous: previous}
	case KindTransport:
		return &TransportError{Msg: msg, LogID: f.LogID, Credential: f.Credential, Attempts: f.Attempts, Previous: previous}
	case KindTimeout:
		// The context's deadline is handed to the core as the call's overall deadline, which may fire a hair
		// before the context itself reports it.
		if dl, ok := deadlineOf(ctx); ok && cause == nil && time.Until(dl) < 100*time.Millisecond {
			cause = context.DeadlineExceeded
		}
		if cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
			return &CancelledError{Msg: msg, cause: cause}
		}
		return &TimeoutError{Msg: msg, Credential: f.Credential, Attempts: f.Attempts, Previous: previous, cause: cause}
	case KindStreamInterrupted:
		return &StreamInterruptedError{EventsDelivered: f.EventsDelivered, Code: f.Code, Msg: msg, LogID: f.LogID, Credential: f.Credential, Attempts: f.Attempts}
	case KindCancelled:
		if cause != nil && errors.Is(cause, context.DeadlineExceeded) {
			return &TimeoutError{Msg: fmt.Sprintf("the context deadline passed: %s", msg), Credential: f.Credential, Attempts: f.Attempts, cause: cause}
		}
		if cause == nil {
			cause = context.Canceled
		}
		return &CancelledError{Msg: msg, cause: cause}
	case KindInvalidArgument:
		return &InvalidArgumentError{Msg: msg}
	case KindConversationStranded:
		return &ConversationStrandedError{
			ConversationID:    f.ConversationID,
			FileID:            f.FileID,
			ConversationOwner: f.ConversationOwner,
			BotCredential:     f.BotCredential,
			Msg:               msg, LogID: f.LogID, Credential: f.Credential, Attempts: f.Attempts, Previous: previous,
		}
	default:
		return &InternalError{Msg: msg}
	}
}
