//! The WebSocket wire: the base URL rule, TCP + TLS (the roots the HTTP client trusts) and the handshake.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error as WsError};

use crate::classify;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::redact::Secret;
use crate::urls::{explicit_ws_base, is_loopback};

/// Any byte stream the session runs on: plain TCP (loopback `ws://`) or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open WebSocket connection.
pub(crate) type Ws = WebSocketStream<Box<dyn Io>>;

/// Largest frame or message accepted from the server (Coze audio chunks are far smaller).
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The WebSocket base: `ws_base_url` when set, else derived from the HTTP base (`https://api.X` ->
/// `wss://ws.X`, `http` -> `ws`; a loopback host keeps its host and port).
///
/// ```text
/// https://api.coze.cn     -> wss://ws.coze.cn
/// https://api.coze.com    -> wss://ws.coze.com
/// http://127.0.0.1:8080   -> ws://127.0.0.1:8080
/// ```
pub(crate) fn ws_base(config: &Config, http_base: &url::Url) -> Result<url::Url> {
    if let Some(raw) = &config.ws_base_url {
        return explicit_ws_base(raw, config.allow_insecure_http);
    }
    let mut url = http_base.clone();
    let scheme = if http_base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    url.set_scheme(scheme)
        .map_err(|()| Error::config("base_url", "cannot derive the WebSocket base from it"))?;
    if !is_loopback(&url)
        && let Some(rest) = url.host_str().and_then(|h| h.strip_prefix("api."))
    {
        let host = format!("ws.{rest}");
        url.set_host(Some(&host)).map_err(|e| {
            Error::config("base_url", format!("cannot derive the WebSocket host: {e}"))
        })?;
    }
    Ok(url)
}

/// The session's URL: `path` under the base (or a full `ws(s)://` URL on the base's origin), plus the query.
pub(crate) fn session_url<K: AsRef<str>, V: AsRef<str>>(
    base: &url::Url,
    path: &str,
    query: impl IntoIterator<Item = (K, V)>,
) -> Result<url::Url> {
    let mut url = if path.starts_with("ws://") || path.starts_with("wss://") {
        let url = url::Url::parse(path)
            .map_err(|e| Error::invalid_argument(format!("path is not a URL: {e}")))?;
        if url.origin() != base.origin() {
            return Err(Error::invalid_argument(format!(
                "refusing to send credentials to {}: only the WebSocket base {} receives them",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            )));
        }
        url
    } else {
        let full = format!(
            "{}/{}",
            base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url::Url::parse(&full)
            .map_err(|e| Error::invalid_argument(format!("path {path:?} is not valid: {e}")))?
    };
    let pairs: Vec<(String, String)> = query
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs.iter());
    }
    if url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        return Err(Error::invalid_argument(
            "the query must not carry `authorization`: the client sends the token in the handshake's Authorization header",
        ));
    }
    Ok(url)
}

/// Opens one connection with one token: TCP within the connect timeout, TLS, then the handshake within the
/// first-byte timeout (and the deadline). Answers the connection and the handshake answer's log id.
pub(crate) async fn open(
    config: &Config,
    url: &url::Url,
    token: &Secret,
    deadline: Instant,
) -> Result<(Ws, Option<String>)> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_argument("the WebSocket URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let shown = format!("{host}:{port}");
    let left = || deadline.saturating_duration_since(Instant::now());
    let connect_limit = Duration::from_millis(config.timeouts.connect_ms).min(left());
    let tcp = match tokio::time::timeout(connect_limit, TcpStream::connect((host.as_str(), port)))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(Error::transport(format!(
                "could not connect to {shown}: {e}"
            )));
        }
        Err(_) => {
            return Err(Error::timeout(format!(
                "could not connect to {shown} within {} ms",
                connect_limit.as_millis()
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let handshake_limit = Duration::from_millis(config.timeouts.first_byte_ms).min(left());
    let request = handshake_request(url, token)?;
    let opened = tokio::time::timeout(handshake_limit, async {
        let io: Box<dyn Io> = if url.scheme() == "wss" {
            Box::new(tls_connect(config, &host, tcp).await?)
        } else {
            Box::new(tcp)
        };
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        tokio_tungstenite::client_async_with_config(request, io, Some(ws_config))
            .await
            .map_err(|e| handshake_error(e, &shown))
    })
    .await;
    match opened {
        Ok(Ok((ws, resp))) => {
            let logid = resp
                .headers()
                .get("x-tt-logid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok((ws, logid))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::timeout(format!(
            "the WebSocket handshake with {shown} got no answer within {} ms",
            handshake_limit.as_millis()
        ))),
    }
}

fn handshake_request(
    url: &url::Url,
    token: &Secret,
) -> Result<tungstenite::handshake::client::Request> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::invalid_argument(format!("not a WebSocket URL: {e}")))?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        Error::new(
            ErrorKind::Auth,
            "the token contains characters not allowed in a header",
        )
    })?;
    auth.set_sensitive(true);
    let headers = request.headers_mut();
    headers.insert("authorization", auth);
    let version = env!("CARGO_PKG_VERSION");
    if let Ok(ua) = HeaderValue::from_str(&format!("cozefallback/{version}")) {
        headers.insert("user-agent", ua);
    }
    let client_ua =
        serde_json::json!({"version": version, "lang": "rust", "os_name": std::env::consts::OS});
    if let Ok(v) = HeaderValue::from_str(&client_ua.to_string()) {
        headers.insert("x-coze-client-user-agent", v);
    }
    Ok(request)
}

/// A refused handshake reads like an HTTP answer (Coze code, status, log id); anything else is transport.
fn handshake_error(err: WsError, shown: &str) -> Error {
    match err {
        WsError::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            let header = resp
                .headers()
                .get("x-tt-logid")
                .and_then(|v| v.to_str().ok());
            let logid = classify::logid(header, &body);
            let outcome = classify::classify(status, &body);
            let mut e = classify::to_error(&outcome, status, logid, &body);
            let hint = if status == 403 && matches!(outcome, classify::Outcome::Http) {
                " (no Coze code: the account may lack access to the realtime APIs, which another credential does not fix)"
            } else {
                ""
            };
            e.message = format!("the WebSocket handshake was refused: {}{hint}", e.message);
            e.http_status = Some(status);
            e
        }
        WsError::Io(io) => match crate::tls::describe_io_failure(&io, shown) {
            Some(words) => Error::transport(words),
            None => Error::transport(format!("the WebSocket handshake with {shown} failed: {io}")),
        },
        other => Error::transport(format!(
            "the WebSocket handshake with {shown} failed: {other}"
        )),
    }
}

async fn tls_connect(
    config: &Config,
    host: &str,
    tcp: TcpStream,
) -> std::result::Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tls = tls_config(config)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| Error::invalid_argument(format!("{host:?} is not a valid TLS server name")))?;
    let shown = format!("{host}:443");
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| match crate::tls::describe_io_failure(&e, &shown) {
            Some(words) => Error::transport(words),
            None => Error::transport(format!("TLS handshake with {host} failed: {e}")),
        })
}

/// The roots the HTTP client trusts: the platform's, plus `tls.ca_file` and `SSL_CERT_FILE`.
fn tls_config(config: &Config) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra = crate::tls::extra_roots_der(&config.tls, |name| std::env::var_os(name))?;
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| Error::config("tls", format!("cannot load the trusted roots: {e}")))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // The WebSocket upgrade is an HTTP/1.1 request.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_of(http: &str, ws: Option<&str>) -> Result<url::Url> {
        let config = Config {
            base_url: http.into(),
            ws_base_url: ws.map(str::to_string),
            ..Config::default()
        };
        ws_base(&config, &config.parsed_base_url()?)
    }

    #[test]
    fn the_base_follows_the_http_base() {
        let got = |http| base_of(http, None).unwrap().to_string();
        assert_eq!(got("https://api.coze.cn"), "wss://ws.coze.cn/");
        assert_eq!(got("https://api.coze.com"), "wss://ws.coze.com/");
        assert_eq!(got("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/");
        assert_eq!(got("http://localhost:9"), "ws://localhost:9/");
        assert_eq!(
            got("https://gateway.example/coze"),
            "wss://gateway.example/coze"
        );
    }

    #[test]
    fn an_explicit_base_must_be_safe() {
        assert_eq!(
            base_of("https://api.coze.cn", Some("wss://rt.example/"))
                .unwrap()
                .as_str(),
            "wss://rt.example/"
        );
        let err = base_of("https://api.coze.cn", Some("ws://rt.example")).unwrap_err();
        assert_eq!(err.field(), Some("ws_base_url"));
        assert!(err.message().contains("clear text"), "{err}");
        let err = base_of("https://api.coze.cn", Some("https://rt.example")).unwrap_err();
        assert!(err.message().contains("not ws or wss"), "{err}");
        base_of("https://api.coze.cn", Some("ws://127.0.0.1:9")).unwrap();
    }

    #[test]
    fn the_token_stays_on_the_base() {
        let base = url::Url::parse("wss://ws.coze.cn").unwrap();
        let url = session_url(&base, "/v1/chat", [("bot_id", "73")]).unwrap();
        assert_eq!(url.as_str(), "wss://ws.coze.cn/v1/chat?bot_id=73");
        let err = session_url(&base, "wss://evil.example/v1/chat", [("a", "b")]).unwrap_err();
        assert!(
            err.message().contains("refusing to send credentials"),
            "{err}"
        );
        let err = session_url(&base, "v1/chat", [("authorization", "Bearer x")]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}
