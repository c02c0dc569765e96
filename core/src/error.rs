//! One error type for every failure the client can report.
//!
//! The error is a flat struct rather than a deep enum so that each binding (C, Go, Python, Node) can map it
//! field by field without knowing Coze: the kind decides the class or code, the rest are attributes.

use std::fmt;

use crate::credential::CredentialKind;
use crate::redact::redact;

/// What went wrong, coarse enough for a binding to pick an exception class or error code from.
///
/// ```
/// use cozefallback::ErrorKind;
/// assert_eq!(ErrorKind::ReauthRequired.as_str(), "reauth_required");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is invalid; `field` names the offending field.
    Config,
    /// Coze answered with a business error (`code` != 0), an HTTP error status, or a 3xx redirect that was not
    /// followed (`http_status` says which).
    Api,
    /// An OAuth endpoint refused (`invalid_client`, `invalid_grant`, ...), or a token could not be minted.
    Auth,
    /// An OBO user token was rejected even after a refresh: the user must authorize again.
    ReauthRequired,
    /// The connection failed (connect, reset, TLS, DNS), the answer was unreadable, or it passed a size bound
    /// (`max_event_bytes`, `max_response_bytes`; the message names it).
    Transport,
    /// A timeout fired (connect, first byte, idle stream, overall deadline).
    Timeout,
    /// A stream broke after at least one event had reached the caller; nothing was replayed.
    StreamInterrupted,
    /// The caller cancelled the call.
    Cancelled,
    /// An argument was malformed (bad method, header, NULL pointer in C...).
    InvalidArgument,
    /// A bug: a panic was caught at an FFI boundary.
    Internal,
    /// A chat names a conversation (or file) owned by one credential while only the other credential reaches
    /// its bot now, and `conversations.on_stranded` is `"error"` (or the file cannot be carried):
    /// [`Error::conversation_id`], [`Error::conversation_owner`], [`Error::bot_credential`], [`Error::file_id`].
    ConversationStranded,
}

impl ErrorKind {
    /// The stable snake_case name used by every binding and by the conformance scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Api => "api",
            ErrorKind::Auth => "auth",
            ErrorKind::ReauthRequired => "reauth_required",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Internal => "internal",
            ErrorKind::ConversationStranded => "conversation_stranded",
        }
    }
}

/// A failed call. Messages never contain a secret (tokens, keys, client secrets are redacted).
///
/// ```
/// use cozefallback::{Error, ErrorKind};
/// let err = Error::config("personal.token", "must not be empty");
/// assert_eq!(err.kind(), ErrorKind::Config);
/// assert!(err.to_string().contains("personal.token"));
/// ```
#[derive(Clone)]
pub struct Error(Box<ErrorData>);

/// The fields of an [`Error`], boxed so that `Result<T, Error>` stays one pointer wide.
#[derive(Clone)]
#[doc(hidden)]
pub struct ErrorData {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    pub(crate) code: Option<i64>,
    pub(crate) http_status: Option<u16>,
    pub(crate) logid: Option<String>,
    pub(crate) credential: Option<CredentialKind>,
    pub(crate) authorize_url: Option<String>,
    pub(crate) oauth_error: Option<String>,
    pub(crate) events_delivered: u64,
    pub(crate) attempts: u32,
    pub(crate) coze_message: Option<String>,
    pub(crate) response: Option<FailedResponse>,
    pub(crate) previous: Option<Box<Error>>,
    pub(crate) stranded: Option<Box<Stranded>>,
}

/// What a `ConversationStranded` error names.
#[derive(Clone, Debug)]
pub(crate) struct Stranded {
    pub(crate) conversation_id: Option<String>,
    pub(crate) file_id: Option<String>,
    pub(crate) owner: CredentialKind,
    pub(crate) bot_credential: CredentialKind,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorData {
            kind,
            message: redact(&message.into()),
            field: None,
            code: None,
            http_status: None,
            logid: None,
            credential: None,
            authorize_url: None,
            oauth_error: None,
            events_delivered: 0,
            attempts: 0,
            coze_message: None,
            response: None,
            previous: None,
            stranded: None,
        }))
    }

    /// A configuration error naming `field` (a dotted path such as `enterprise.private_key_file`).
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        // A field path is built from the caller's keys, and a token pasted as a key is still a token.
        let field = redact(&field.into());
        let mut err = Error::new(
            ErrorKind::Config,
            format!("invalid config `{field}`: {}", message.into()),
        );
        err.field = Some(field);
        err
    }

    /// An invalid argument passed by the caller (a binding uses this for NULL or non-UTF-8 input).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// An internal failure, such as a panic caught at an FFI boundary.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub(crate) fn transport(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transport, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    pub(crate) fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "the call was cancelled")
    }

    pub(crate) fn with_credential(mut self, credential: CredentialKind) -> Self {
        self.credential = Some(credential);
        self
    }

    pub(crate) fn with_previous(mut self, previous: Error) -> Self {
        self.previous = Some(Box::new(previous));
        self
    }

    /// The coarse kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// Human-readable description (already redacted).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// For config errors: the dotted name of the offending field.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
    /// The Coze business code (`code` of the body, or of a stream `error` event).
    pub fn code(&self) -> Option<i64> {
        self.code
    }
    /// The HTTP status of the answer that failed, if there was one.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }
    /// The Coze log id (`X-Tt-Logid` header or `detail.logid`), for support tickets.
    pub fn logid(&self) -> Option<&str> {
        self.logid.as_deref()
    }
    /// The credential used by the failing attempt.
    pub fn credential(&self) -> Option<CredentialKind> {
        self.credential
    }
    /// For `ReauthRequired`: where to send the user to authorize again.
    pub fn authorize_url(&self) -> Option<&str> {
        self.authorize_url.as_deref()
    }
    /// For `Auth`: the OAuth `error_code` (`invalid_client`, `invalid_grant`, ...).
    pub fn oauth_error(&self) -> Option<&str> {
        self.oauth_error.as_deref()
    }
    /// For `StreamInterrupted`: how many events had reached the caller.
    pub fn events_delivered(&self) -> u64 {
        self.events_delivered
    }
    /// Coze's own message (`msg`, or `error_message` of an OAuth error), without anything this library added.
    pub fn coze_message(&self) -> Option<&str> {
        self.coze_message.as_deref()
    }
    /// The answer that failed, as the server sent it (for `Api` and `Auth` errors that had one): lets an
    /// HTTP-client adapter hand an SDK the same error response it would have seen without the fallback.
    pub fn response(&self) -> Option<&FailedResponse> {
        self.response.as_ref()
    }
    /// HTTP attempts the call made before failing, fallback and retries included (token requests excluded).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// When both credentials failed: the first credential's error.
    pub fn previous(&self) -> Option<&Error> {
        self.previous.as_deref()
    }
    /// For `ConversationStranded`: the conversation the call named.
    pub fn conversation_id(&self) -> Option<&str> {
        self.stranded.as_ref()?.conversation_id.as_deref()
    }
    /// For `ConversationStranded` about a file: the file id the call named.
    pub fn file_id(&self) -> Option<&str> {
        self.stranded.as_ref()?.file_id.as_deref()
    }
    /// For `ConversationStranded`: the credential that owns the conversation (or file).
    pub fn conversation_owner(&self) -> Option<CredentialKind> {
        self.stranded.as_ref().map(|s| s.owner)
    }
    /// For `ConversationStranded`: the credential that reaches the bot or workflow now.
    pub fn bot_credential(&self) -> Option<CredentialKind> {
        self.stranded.as_ref().map(|s| s.bot_credential)
    }
}

impl std::ops::Deref for Error {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(logid) = &self.logid {
            write!(f, " (logid {logid})")?;
        }
        if let Some(prev) = &self.previous {
            write!(
                f,
                "; before that, with the {} credential: {}",
                prev.credential.map_or("other", |c| c.as_str()),
                prev.message
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(v) = &self.field {
            d.field("field", v);
        }
        if let Some(v) = self.code {
            d.field("code", &v);
        }
        if let Some(v) = self.http_status {
            d.field("http_status", &v);
        }
        if let Some(v) = &self.logid {
            d.field("logid", v);
        }
        if let Some(v) = self.credential {
            d.field("credential", &v);
        }
        d.field("attempts", &self.attempts);
        if let Some(v) = &self.stranded {
            d.field("stranded", v);
        }
        if let Some(v) = &self.previous {
            d.field("previous", v);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

/// The status, headers and body of an answer that failed.
#[derive(Clone)]
pub struct FailedResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: bytes::Bytes,
}

impl fmt::Debug for FailedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_used_as_a_key_is_masked_in_the_field_too() {
        let err = super::Error::config("personal.pat_abcdef123456", "unknown field");
        assert_eq!(err.field(), Some("personal.pat_***"));
        assert!(!err.to_string().contains("abcdef"), "{err}");
    }
}
