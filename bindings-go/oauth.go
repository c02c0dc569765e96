package cozefallback

/*
#include <stdint.h>
#include <stdlib.h>
#include "cozefallback.h"

// Defined in oauth_hook.c and conversations_hook.c: the C hook that hands each token refresh to the Go hook,
// and the conversion of a cgo.Handle to the hook's user_data.
void cozefallback_go_refresh_trampoline(const char *credential, const char *access_token,
                                        const char *refresh_token, uint64_t expires_at, void *user_data);
void *cozefallback_go_handle_ptr(uintptr_t handle);
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// OAuthToken is what an OAuth call of an OAuthApp hands back for an OBO user: the access token (an "oauth"
// credential's AccessToken), the refresh token (store it: it rotates on every refresh) and when the access
// token expires. Printing it (%v, %+v, %#v, %s) or encoding it as JSON masks both tokens.
//
//	tok, err := app.ExchangeCode(ctx, code, redirectURI, verifier)
//	store.Save(user, tok.RefreshToken)
//	cred := &cozefallback.Credential{Type: "oauth", ClientID: id, AccessToken: tok.AccessToken,
//		RefreshToken: tok.RefreshToken, ExpiresAt: uint64(tok.ExpiresAt.Unix())}
type OAuthToken struct {
	AccessToken  string
	RefreshToken string // "" when the endpoint gave none
	ExpiresAt    time.Time
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}

// String prints the token with its secrets masked.
func (t OAuthToken) String() string {
	return fmt.Sprintf("OAuthToken{AccessToken:%s RefreshToken:%s ExpiresAt:%s}",
		mask(t.AccessToken), mask(t.RefreshToken), t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString (%#v) prints the token with its secrets masked.
func (t OAuthToken) GoString() string { return "cozefallback." + t.String() }

// Format masks the secrets for every verb, as String.
func (t OAuthToken) Format(f fmt.State, verb rune) { fmtMasked(f, verb, t.String(), t.GoString()) }

// MarshalJSON encodes the token with its secrets masked, so a logged or traced value never leaks one.
func (t OAuthToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"access_token": mask(t.AccessToken),
		"refresh_token": mask(t.RefreshToken), "expires_at": t.ExpiresAt.Unix()})
}

// TokenRefresh is what the OnTokenRefresh hook receives after an OBO refresh rotated a credential's tokens:
// the credential ("personal" or "enterprise"), the new access token, the new refresh token (store it: the old
// one no longer works) and when the access token expires. Printing or encoding it masks both tokens.
type TokenRefresh struct {
	Credential   string
	AccessToken  string
	RefreshToken string // "" when the endpoint gave none
	ExpiresAt    time.Time
}

// String prints the refresh with its secrets masked.
func (r TokenRefresh) String() string {
	return fmt.Sprintf("TokenRefresh{Credential:%s AccessToken:%s RefreshToken:%s ExpiresAt:%s}", r.Credential,
		mask(r.AccessToken), mask(r.RefreshToken), r.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString (%#v) prints the refresh with its secrets masked.
func (r TokenRefresh) GoString() string { return "cozefallback." + r.String() }

// Format masks the secrets for every verb, as String.
func (r TokenRefresh) Format(f fmt.State, verb rune) { fmtMasked(f, verb, r.String(), r.GoString()) }

// MarshalJSON encodes the refresh with its secrets masked.
func (r TokenRefresh) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"credential": r.Credential, "access_token": mask(r.AccessToken),
		"refresh_token": mask(r.RefreshToken), "expires_at": r.ExpiresAt.Unix()})
}

// AuthorizeURL is where to send the user's browser (URL), the random State to check on the redirect, and for
// PKCE the CodeVerifier to keep (server-side) until ExchangeCode. Printing or encoding it masks the verifier.
type AuthorizeURL struct {
	URL          string
	State        string
	CodeVerifier string // "" without PKCE
}

// String prints the URL and state with the verifier masked.
func (a AuthorizeURL) String() string {
	return fmt.Sprintf("AuthorizeURL{URL:%s State:%s CodeVerifier:%s}", a.URL, a.State, mask(a.CodeVerifier))
}

// GoString (%#v) prints the URL and state with the verifier masked.
func (a AuthorizeURL) GoString() string { return "cozefallback." + a.String() }

// Format masks the verifier for every verb, as String.
func (a AuthorizeURL) Format(f fmt.State, verb rune) { fmtMasked(f, verb, a.String(), a.GoString()) }

// MarshalJSON encodes the URL and state with the verifier masked.
func (a AuthorizeURL) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"url": a.URL, "state": a.State, "code_verifier": mask(a.CodeVerifier)})
}

// fmtMasked writes the masked text for any verb: %#v gets the Go form, %q a quoted string, the rest the text.
func fmtMasked(f fmt.State, verb rune, text, goText string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, goText)
	case verb == 'q':
		fmt.Fprintf(f, "%q", text)
	default:
		fmt.Fprint(f, text)
	}
}

// DeviceCode is a started device flow: show the user UserCode and VerificationURI, then WaitDeviceToken.
// ExpiresIn is how long the codes stay valid and Interval how long to wait between polls (whole seconds).
type DeviceCode struct {
	DeviceCode      string
	UserCode        string
	VerificationURI string
	ExpiresIn       time.Duration
	Interval        time.Duration
}

// OAuthAppOptions are an OAuthApp's settings beyond its host and client: AllowInsecureHTTP permits http:// to
// a host other than loopback (as Config.AllowInsecureHTTP), CAFile is a PEM file of CA certificates to trust
// besides the system's.
type OAuthAppOptions struct {
	AllowInsecureHTTP bool
	CAFile            string
}

// OAuthApp is an OAuth app (web, PKCE or device) on one Coze host, for OBO user tokens: the authorize URL
// (with PKCE), the code exchange, the refresh and the device flow. Safe for concurrent use; Close releases it.
//
//	app, err := cozefallback.NewOAuthApp("https://api.coze.cn", clientID, "", nil) // a PKCE app: no secret
//	auth, err := app.AuthorizeURL("https://example.com/cb", "", true)
//	// send the browser to auth.URL; on the redirect, with the code it carries:
//	tok, err := app.ExchangeCode(ctx, code, "https://example.com/cb", auth.CodeVerifier)
type OAuthApp struct {
	mu      sync.RWMutex // calls hold it shared; Close exclusively
	ptr     *C.cozefallback_oauth_app
	closing context.Context // done once Close started: calls in flight end with a *CancelledError
	close   context.CancelFunc
}

// NewOAuthApp builds an app on baseURL (such as "https://api.coze.cn", no path) for the app clientID.
// clientSecret is the web app's secret, or "" for PKCE and device apps; opts may be nil. A bad base URL or an
// empty client id is a *ConfigError.
func NewOAuthApp(baseURL, clientID, clientSecret string, opts *OAuthAppOptions) (*OAuthApp, error) {
	if opts == nil {
		opts = &OAuthAppOptions{}
	}
	if err := noNUL("NewOAuthApp", "baseURL", baseURL, "clientID", clientID, "clientSecret", clientSecret,
		"CAFile", opts.CAFile); err != nil {
		return nil, err
	}
	cbase, cid := C.CString(baseURL), C.CString(clientID)
	defer C.free(unsafe.Pointer(cbase))
	defer C.free(unsafe.Pointer(cid))
	csecret, cca := optCString(clientSecret), optCString(opts.CAFile)
	defer freeSecret(csecret, len(clientSecret))
	defer C.free(unsafe.Pointer(cca))
	var ptr *C.cozefallback_oauth_app
	var cerr *C.cozefallback_error
	if C.cozefallback_oauth_app_new(cbase, cid, csecret, C.bool(opts.AllowInsecureHTTP), cca, &ptr, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, nil)
	}
	app := &OAuthApp{ptr: ptr}
	app.closing, app.close = context.WithCancel(context.Background())
	runtime.SetFinalizer(app, (*OAuthApp).Close)
	return app, nil
}

// Close ends the app's calls in flight (they return a *CancelledError) and releases it; later calls return
// ErrClosed. Idempotent. A finalizer calls it too.
func (a *OAuthApp) Close() error {
	a.close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr != nil {
		C.cozefallback_oauth_app_free(a.ptr)
		a.ptr = nil
		runtime.SetFinalizer(a, nil)
	}
	return nil
}

// acquire returns the live handle under the read lock; release with a.mu.RUnlock().
func (a *OAuthApp) acquire() (*C.cozefallback_oauth_app, error) {
	a.mu.RLock()
	if a.ptr == nil {
		a.mu.RUnlock()
		return nil, ErrClosed
	}
	return a.ptr, nil
}

// AuthorizeURL builds the URL to send the user's browser to, with a random State and, when pkce is true, an
// S256 code challenge whose CodeVerifier to keep for ExchangeCode. workspaceID may be "".
//
//	auth, err := app.AuthorizeURL("https://example.com/cb", "", true)
//	session.Save(auth.State, auth.CodeVerifier)
//	http.Redirect(w, r, auth.URL, http.StatusFound)
func (a *OAuthApp) AuthorizeURL(redirectURI, workspaceID string, pkce bool) (*AuthorizeURL, error) {
	if err := noNUL("AuthorizeURL", "redirectURI", redirectURI, "workspaceID", workspaceID); err != nil {
		return nil, err
	}
	ptr, err := a.acquire()
	if err != nil {
		return nil, err
	}
	defer a.mu.RUnlock()
	credirect, cworkspace := C.CString(redirectURI), optCString(workspaceID)
	defer C.free(unsafe.Pointer(credirect))
	defer C.free(unsafe.Pointer(cworkspace))
	var out *C.cozefallback_authorize_url
	var cerr *C.cozefallback_error
	if C.cozefallback_oauth_app_authorize_url(ptr, credirect, cworkspace, C.bool(pkce), &out, &cerr) != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, nil)
	}
	defer C.cozefallback_authorize_url_free(out)
	return &AuthorizeURL{
		URL:          goString(C.cozefallback_authorize_url_url(out)),
		State:        goString(C.cozefallback_authorize_url_state(out)),
		CodeVerifier: goString(C.cozefallback_authorize_url_code_verifier(out)),
	}, nil
}

type tokenFn func(*C.cozefallback_oauth_app, *C.cozefallback_cancel_token, **C.cozefallback_oauth_token, **C.cozefallback_error) uint32

// tokenCall runs one OAuth call that hands back tokens, stopped by ctx or by Close.
func (a *OAuthApp) tokenCall(ctx context.Context, fn tokenFn) (*OAuthToken, error) {
	ptr, err := a.acquire()
	if err != nil {
		return nil, err
	}
	defer a.mu.RUnlock()
	ctx, stopClosing := a.withClosing(ctx)
	defer stopClosing()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	var out *C.cozefallback_oauth_token
	var cerr *C.cozefallback_error
	st := fn(ptr, tok, &out, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, ctx)
	}
	defer C.cozefallback_oauth_token_free(out)
	return &OAuthToken{
		AccessToken:  goString(C.cozefallback_oauth_token_access_token(out)),
		RefreshToken: goString(C.cozefallback_oauth_token_refresh_token(out)),
		ExpiresAt:    time.Unix(int64(C.cozefallback_oauth_token_expires_at(out)), 0),
	}, nil
}

// withClosing is ctx, also cancelled when Close starts.
func (a *OAuthApp) withClosing(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.closing, cancel)
	return ctx, func() { stop(); cancel() }
}

// ExchangeCode exchanges the authorization code of the redirect for tokens. A web app (built with its secret)
// passes codeVerifier ""; a PKCE app passes AuthorizeURL's CodeVerifier. redirectURI must be the one the
// authorize URL named. A refusal is an *AuthError (OAuthError "invalid_grant" for a bad or used code).
//
//	tok, err := app.ExchangeCode(ctx, r.URL.Query().Get("code"), "https://example.com/cb", verifier)
func (a *OAuthApp) ExchangeCode(ctx context.Context, code, redirectURI, codeVerifier string) (*OAuthToken, error) {
	if err := noNUL("ExchangeCode", "code", code, "redirectURI", redirectURI, "codeVerifier", codeVerifier); err != nil {
		return nil, err
	}
	ccode, credirect, cverifier := C.CString(code), C.CString(redirectURI), optCString(codeVerifier)
	defer freeSecret(ccode, len(code))
	defer C.free(unsafe.Pointer(credirect))
	defer freeSecret(cverifier, len(codeVerifier))
	return a.tokenCall(ctx, func(app *C.cozefallback_oauth_app, tok *C.cozefallback_cancel_token, out **C.cozefallback_oauth_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_oauth_app_exchange_code(app, ccode, credirect, cverifier, tok, out, cerr)
	})
}

// Refresh trades a refresh token for new tokens: the answer carries a new refresh token and the old one stops
// working (store the new one). A used or unknown refresh token is an *AuthError with OAuthError
// "invalid_grant".
//
//	tok, err := app.Refresh(ctx, store.RefreshToken(user))
func (a *OAuthApp) Refresh(ctx context.Context, refreshToken string) (*OAuthToken, error) {
	if err := noNUL("Refresh", "refreshToken", refreshToken); err != nil {
		return nil, err
	}
	crefresh := C.CString(refreshToken)
	defer freeSecret(crefresh, len(refreshToken))
	return a.tokenCall(ctx, func(app *C.cozefallback_oauth_app, tok *C.cozefallback_cancel_token, out **C.cozefallback_oauth_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_oauth_app_refresh(app, crefresh, tok, out, cerr)
	})
}

// DeviceCode starts the device flow (workspaceID may be ""): show the user UserCode and VerificationURI, then
// call WaitDeviceToken.
//
//	dc, err := app.DeviceCode(ctx, "")
//	fmt.Printf("open %s and type %s\n", dc.VerificationURI, dc.UserCode)
//	tok, err := app.WaitDeviceToken(ctx, dc)
func (a *OAuthApp) DeviceCode(ctx context.Context, workspaceID string) (*DeviceCode, error) {
	if err := noNUL("DeviceCode", "workspaceID", workspaceID); err != nil {
		return nil, err
	}
	ptr, err := a.acquire()
	if err != nil {
		return nil, err
	}
	defer a.mu.RUnlock()
	ctx, stopClosing := a.withClosing(ctx)
	defer stopClosing()
	tok, stop, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	cworkspace := optCString(workspaceID)
	defer C.free(unsafe.Pointer(cworkspace))
	var out *C.cozefallback_device_code
	var cerr *C.cozefallback_error
	st := C.cozefallback_oauth_app_device_code(ptr, cworkspace, tok, &out, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return nil, convertError(cerr, ctx)
	}
	defer C.cozefallback_device_code_free(out)
	return &DeviceCode{
		DeviceCode:      goString(C.cozefallback_device_code_device_code(out)),
		UserCode:        goString(C.cozefallback_device_code_user_code(out)),
		VerificationURI: goString(C.cozefallback_device_code_verification_uri(out)),
		ExpiresIn:       time.Duration(C.cozefallback_device_code_expires_in(out)) * time.Second,
		Interval:        time.Duration(C.cozefallback_device_code_interval(out)) * time.Second,
	}, nil
}

// PollDeviceToken asks once for the device flow's token. An *AuthError whose OAuthError is
// "authorization_pending" or "slow_down" means "ask again later" (WaitDeviceToken does the waiting).
func (a *OAuthApp) PollDeviceToken(ctx context.Context, deviceCode string) (*OAuthToken, error) {
	if err := noNUL("PollDeviceToken", "deviceCode", deviceCode); err != nil {
		return nil, err
	}
	cdevice := C.CString(deviceCode)
	defer freeSecret(cdevice, len(deviceCode))
	return a.tokenCall(ctx, func(app *C.cozefallback_oauth_app, tok *C.cozefallback_cancel_token, out **C.cozefallback_oauth_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_oauth_app_poll_device_token(app, cdevice, tok, out, cerr)
	})
}

// WaitDeviceToken polls until the user approves code, every code.Interval (5 s more on "slow_down", at most
// 30 s); it gives up with an *AuthError when the user denies ("access_denied"), the code expires
// ("expired_token") or code.ExpiresIn passes, and with a *CancelledError or *TimeoutError when ctx ends.
// ExpiresIn and Interval are whole seconds (a fraction is rounded up); a nil code, a negative or zero number,
// or one out of range is an *InvalidArgumentError.
func (a *OAuthApp) WaitDeviceToken(ctx context.Context, code *DeviceCode) (*OAuthToken, error) {
	if code == nil {
		return nil, &InvalidArgumentError{Msg: "cozefallback: WaitDeviceToken: the device code is nil"}
	}
	if err := noNUL("WaitDeviceToken", "DeviceCode", code.DeviceCode); err != nil {
		return nil, err
	}
	expiresIn, err := wholeSeconds("ExpiresIn", code.ExpiresIn)
	if err != nil {
		return nil, err
	}
	interval, err := wholeSeconds("Interval", code.Interval)
	if err != nil {
		return nil, err
	}
	cdevice := C.CString(code.DeviceCode)
	defer freeSecret(cdevice, len(code.DeviceCode))
	return a.tokenCall(ctx, func(app *C.cozefallback_oauth_app, tok *C.cozefallback_cancel_token, out **C.cozefallback_oauth_token, cerr **C.cozefallback_error) uint32 {
		return C.cozefallback_oauth_app_wait_device_token(app, cdevice, C.uint64_t(expiresIn), C.uint64_t(interval), tok, out, cerr)
	})
}

// wholeSeconds rounds d up to whole seconds; the library checks the range (and refuses 0).
func wholeSeconds(name string, d time.Duration) (uint64, error) {
	if d < 0 {
		return 0, &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: WaitDeviceToken: DeviceCode.%s must not be negative, got %v", name, d)}
	}
	return uint64((d + time.Second - 1) / time.Second), nil
}

// noNUL refuses a string argument with a NUL byte (C would cut it there); pairs are name, value.
func noNUL(fn string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.IndexByte(pairs[i+1], 0) >= 0 {
			return &InvalidArgumentError{Msg: fmt.Sprintf("cozefallback: %s: `%s` contains a NUL byte", fn, pairs[i])}
		}
	}
	return nil
}

// optCString is NULL for "" (the C API's "none"), else a C copy to free.
func optCString(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

// freeSecret zeroes a C copy of a secret (n bytes) before freeing it.
func freeSecret(p *C.char, n int) {
	if p == nil {
		return
	}
	clear(unsafe.Slice((*byte)(unsafe.Pointer(p)), n))
	C.free(unsafe.Pointer(p))
}

// ---- the client: FetchToken and the refresh hook --------------------------------------------------------

// FetchToken mints (or checks) one credential's token now, "personal" or "enterprise": for preflight checks
// and warm-up, and to refresh an expired OBO user token before the next call needs it (OnTokenRefresh is
// called when the refresh rotated the tokens). A refused OBO refresh token is a *ReauthRequiredError, as on a
// call (AuthorizeURL is where to send the user); an unknown or unconfigured credential is an
// *InvalidArgumentError; a closed client gives ErrClosed.
//
//	if err := client.FetchToken(ctx, "personal"); err != nil {
//		log.Printf("personal credential: %v", err)
//	}
func (c *Client) FetchToken(ctx context.Context, credential string) error {
	if err := noNUL("FetchToken", "credential", credential); err != nil {
		return err
	}
	ptr, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.mu.RUnlock()
	tok, stop, err := watch(ctx)
	if err != nil {
		return err
	}
	ccred := C.CString(credential)
	defer C.free(unsafe.Pointer(ccred))
	var cerr *C.cozefallback_error
	st := C.cozefallback_client_fetch_token(ptr, ccred, tok, &cerr)
	stop()
	if st != C.COZEFALLBACK_STATUS_OK {
		defer C.cozefallback_error_free(cerr)
		return convertError(cerr, ctx)
	}
	return nil
}

// refreshHook is the Go side of a client's refresh hook. The C library holds a cgo.Handle to it for the
// client's whole life, so replacing or removing the function never invalidates a handle a refresh may still use.
type refreshHook struct {
	mu     sync.Mutex // serialises OnTokenRefresh: the stored function and the C hook change together
	fn     atomic.Pointer[func(TokenRefresh)]
	handle cgo.Handle
}

func newRefreshHook() *refreshHook {
	h := &refreshHook{}
	h.handle = cgo.NewHandle(h)
	return h
}

//export cozefallbackGoTokenRefreshed
func cozefallbackGoTokenRefreshed(credential, access, refresh *C.char, expiresAt C.uint64_t, handle C.uintptr_t) {
	// The app's function runs on a library thread: a panic in it must not take the process down (the core has
	// already cached the new token), so it is recovered here and the call goes on.
	defer func() { _ = recover() }()
	hook, ok := cgo.Handle(handle).Value().(*refreshHook)
	if !ok {
		return
	}
	if fn := hook.fn.Load(); fn != nil {
		(*fn)(TokenRefresh{
			Credential:   goString(credential),
			AccessToken:  goString(access),
			RefreshToken: goString(refresh),
			ExpiresAt:    time.Unix(int64(expiresAt), 0),
		})
	}
}

// OnTokenRefresh installs fn, called after an OBO refresh rotated a credential's tokens (the old refresh
// token no longer works) so the app can store the new refresh token; nil removes it. It replaces an earlier
// function; on a closed client it does nothing.
//
//	client.OnTokenRefresh(func(r cozefallback.TokenRefresh) {
//		store.SaveRefreshToken(user, r.Credential, r.RefreshToken)
//	})
//
// fn runs on one of the library's threads, not on the goroutine that made the call, possibly for several
// credentials at once; it should return promptly and must not call the client's blocking methods (Do,
// Stream, FetchToken...). A panic in fn is recovered and ignored: the call goes on with the new token.
func (c *Client) OnTokenRefresh(fn func(TokenRefresh)) {
	ptr, err := c.acquire()
	if err != nil {
		return
	}
	defer c.mu.RUnlock()
	c.refresh.mu.Lock()
	defer c.refresh.mu.Unlock()
	if fn == nil {
		c.refresh.fn.Store(nil)
		C.cozefallback_client_set_refresh_hook(ptr, nil, nil, nil)
		return
	}
	c.refresh.fn.Store(&fn)
	C.cozefallback_client_set_refresh_hook(ptr,
		C.cozefallback_refresh_hook(C.cozefallback_go_refresh_trampoline),
		C.cozefallback_go_handle_ptr(C.uintptr_t(c.refresh.handle)), nil)
}
