package cozefallback

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// Config mirrors the shared JSON configuration schema (the same document configures the client from C, Go,
// Python, Node, the CLI and Rust). Zero values are left out, so the core's defaults apply; pointers mark the
// fields where zero is meaningful.
type Config struct {
	BaseURL           string          `json:"base_url,omitempty"`
	Personal          *Credential     `json:"personal,omitempty"`
	Enterprise        *Credential     `json:"enterprise,omitempty"`
	Mode              Mode            `json:"mode,omitempty"`
	Fallback          *FallbackConfig `json:"fallback,omitempty"`
	Retry             *RetryConfig    `json:"retry,omitempty"`
	Timeouts          *TimeoutConfig  `json:"timeouts,omitempty"`
	TLS               *TLSConfig      `json:"tls,omitempty"`
	AllowInsecureHTTP bool            `json:"allow_insecure_http,omitempty"`
	// MaxRequestBytes bounds a request body (default 64 MiB).
	MaxRequestBytes uint64 `json:"max_request_bytes,omitempty"`
	// MaxEventBytes bounds one stream event (default 16 MiB).
	MaxEventBytes uint64 `json:"max_event_bytes,omitempty"`
	// MaxResponseBytes bounds a whole answer, retries of one call counted together (default 256 MiB).
	MaxResponseBytes uint64 `json:"max_response_bytes,omitempty"`
	// Deprecated: MaxBodyBytes is the old name of MaxRequestBytes; set only one of them.
	MaxBodyBytes uint64 `json:"max_body_bytes,omitempty"`
	// WSBaseURL is the WebSocket base of the realtime APIs (default: derived from BaseURL,
	// https://api.coze.cn -> wss://ws.coze.cn).
	WSBaseURL string `json:"ws_base_url,omitempty"`
	// Conversations says what a chat naming a conversation stranded by the move does (docs/CONVERSATIONS.md).
	Conversations *ConversationsConfig `json:"conversations,omitempty"`
	// State shares the routing state of a fleet of clients in Redis (docs/FLEET.md).
	State *StateConfig `json:"state,omitempty"`
}

// StateConfig is the `state` section: the Redis store a fleet of clients shares its mode, routes, conversation
// bindings and carry-overs (and, with ShareTokens, minted access tokens) through, under keys starting with
// KeyPrefix.
//
//	cfg.State = &cozefallback.StateConfig{RedisURL: "redis://:pw@redis:6379/0", KeyPrefix: "cozefallback:"}
type StateConfig struct {
	RedisURL    string `json:"redis_url,omitempty"`
	KeyPrefix   string `json:"key_prefix,omitempty"`
	ShareTokens bool   `json:"share_tokens,omitempty"`
}

// Format prints the state section with the Redis URL's user information masked, for every verb, so a logged
// config never shows the Redis password.
func (s StateConfig) Format(f fmt.State, _ rune) {
	shown := s.RedisURL
	if u, err := url.Parse(s.RedisURL); err == nil && u.User != nil {
		u.User = url.User("***")
		shown = u.String()
	} else if err != nil && shown != "" {
		shown = "***"
	}
	fmt.Fprintf(f, "StateConfig{RedisURL:%s KeyPrefix:%s ShareTokens:%t}", shown, s.KeyPrefix, s.ShareTokens)
}

// ConversationsConfig is the "conversations" section: what a chat naming a conversation that belongs to the
// other credential's account does (docs/CONVERSATIONS.md).
//
//	cfg.Conversations = &cozefallback.ConversationsConfig{OnStranded: cozefallback.OnStrandedCarryOver,
//		CarryOverMessages: cozefallback.Ptr[uint32](10)}
type ConversationsConfig struct {
	// OnStranded: OnStrandedCarryOver (the default), OnStrandedNew or OnStrandedError.
	OnStranded OnStranded `json:"on_stranded,omitempty"`
	// CarryOverMessages: how many of the latest messages a carry-over copies (0..50, default 20).
	CarryOverMessages *uint32 `json:"carry_over_messages,omitempty"`
}

// OnStranded is the value of conversations.on_stranded.
type OnStranded string

// The values of conversations.on_stranded.
const (
	// OnStrandedCarryOver copies the latest messages into a new conversation and sends the call there.
	OnStrandedCarryOver OnStranded = "carry_over"
	// OnStrandedNew sends the call to a new, empty conversation.
	OnStrandedNew OnStranded = "new"
	// OnStrandedError fails the call with a *ConversationStrandedError.
	OnStrandedError OnStranded = "error"
)

// Credential is one credential. Type is "pat" (Token), "jwt" (ClientID, PrivateKey or PrivateKeyFile,
// PublicKeyID, AccountID or EnterpriseID, SessionName, TTLSecs, Scope) or "oauth" for an OBO user token
// (ClientID, ClientSecret, AccessToken, RefreshToken, ExpiresAt, RedirectURI).
type Credential struct {
	Type           string          `json:"type"`
	Token          string          `json:"token,omitempty"`
	ClientID       string          `json:"client_id,omitempty"`
	PrivateKey     string          `json:"private_key,omitempty"`
	PrivateKeyFile string          `json:"private_key_file,omitempty"`
	PublicKeyID    string          `json:"public_key_id,omitempty"`
	AccountID      string          `json:"account_id,omitempty"`
	EnterpriseID   string          `json:"enterprise_id,omitempty"`
	SessionName    string          `json:"session_name,omitempty"`
	TTLSecs        uint64          `json:"ttl_secs,omitempty"`
	Scope          json.RawMessage `json:"scope,omitempty"`
	ClientSecret   string          `json:"client_secret,omitempty"`
	AccessToken    string          `json:"access_token,omitempty"`
	RefreshToken   string          `json:"refresh_token,omitempty"`
	ExpiresAt      uint64          `json:"expires_at,omitempty"`
	RedirectURI    string          `json:"redirect_uri,omitempty"`
}

// Format prints a credential with its secrets (token, private key, client secret, access and refresh tokens)
// masked, for every verb (%v, %+v, %#v, %s), so a logged config never leaks one.
func (c Credential) Format(f fmt.State, _ rune) {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	fmt.Fprintf(f, "Credential{Type:%s ClientID:%s PublicKeyID:%s AccountID:%s EnterpriseID:%s PrivateKeyFile:%s "+
		"Token:%s PrivateKey:%s ClientSecret:%s AccessToken:%s RefreshToken:%s}",
		c.Type, c.ClientID, c.PublicKeyID, c.AccountID, c.EnterpriseID, c.PrivateKeyFile,
		mask(c.Token), mask(c.PrivateKey), mask(c.ClientSecret), mask(c.AccessToken), mask(c.RefreshToken))
}

// PAT is a personal access token credential.
func PAT(token string) *Credential { return &Credential{Type: "pat", Token: token} }

// FallbackConfig says what makes a request switch credential.
type FallbackConfig struct {
	Codes         []int64 `json:"codes,omitempty"`
	NotFoundCodes []int64 `json:"not_found_codes,omitempty"`
	StickyTTLSecs *uint64 `json:"sticky_ttl_secs,omitempty"`
	Sticky        *bool   `json:"sticky,omitempty"`
}

// RetryConfig bounds the retries of transient failures.
type RetryConfig struct {
	MaxRetries          *uint32 `json:"max_retries,omitempty"`
	NonIdempotent       bool    `json:"non_idempotent,omitempty"`
	BaseDelayMs         uint64  `json:"base_delay_ms,omitempty"`
	MaxDelayMs          uint64  `json:"max_delay_ms,omitempty"`
	BudgetPer10Requests *uint32 `json:"budget_per_10_requests,omitempty"`
}

// TLSConfig adds trusted CA certificates to the system's (the SSL_CERT_FILE variable is honoured as well).
type TLSConfig struct {
	// CAFile is a PEM file of one or more CA certificates.
	CAFile string `json:"ca_file,omitempty"`
}

// TimeoutConfig sets the per-attempt and overall time limits, in milliseconds.
type TimeoutConfig struct {
	ConnectMs   uint64 `json:"connect_ms,omitempty"`
	FirstByteMs uint64 `json:"first_byte_ms,omitempty"`
	IdleMs      uint64 `json:"idle_ms,omitempty"`
	TotalMs     uint64 `json:"total_ms,omitempty"`
}

// Mode is the routing mode.
type Mode string

// The routing modes.
const (
	PersonalFirst   Mode = "personal_first"
	EnterpriseFirst Mode = "enterprise_first"
	PersonalOnly    Mode = "personal_only"
	EnterpriseOnly  Mode = "enterprise_only"
)

// Ptr returns a pointer to v, for the optional fields of Config.
func Ptr[T any](v T) *T { return &v }
