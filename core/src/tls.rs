//! HTTPS trust: extra root certificates (config `tls.ca_file`, the `SSL_CERT_FILE` variable) on top of the
//! platform's store, and TLS failures told in plain words.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The variable OpenSSL, curl, Python and Node tools read for a CA bundle.
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// TLS settings (`"tls"` in the config).
///
/// ```
/// let config = cozefallback::Config::from_json(r#"{
///     "base_url": "https://coze.internal.example",
///     "personal": {"type": "pat", "token": "pat_x"},
///     "tls": {"ca_file": "/etc/company/ca.pem"}
/// }"#).unwrap();
/// assert_eq!(config.tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/company/ca.pem")));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of one or more CA certificates to trust in addition to the system's roots (a company
    /// proxy's CA, a private gateway).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Every extra root to trust: `tls.ca_file`, then the file named by `SSL_CERT_FILE` when it is set.
///
/// On Linux the platform verifier (rustls-native-certs) also reads `SSL_CERT_FILE` itself and then skips the
/// system store; reading it here as well makes it work on macOS and Windows, where the OS verifier ignores it,
/// and turns a missing or empty file into an error that names the variable.
pub(crate) fn extra_roots(
    config: &TlsConfig,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<reqwest::Certificate>> {
    let mut roots = Vec::new();
    if let Some(path) = &config.ca_file {
        roots.extend(read_bundle(path, "tls.ca_file")?);
    }
    if let Some(path) = env(SSL_CERT_FILE).filter(|p| !p.is_empty()) {
        roots.extend(read_bundle(Path::new(&path), SSL_CERT_FILE)?);
    }
    Ok(roots)
}

fn read_bundle(path: &Path, field: &str) -> Result<Vec<reqwest::Certificate>> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(field, format!("cannot read {shown}: {}", io_reason(&e))))?;
    let expected = "expected PEM text with BEGIN CERTIFICATE blocks";
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|_| {
        Error::config(
            field,
            format!("{shown} is not a PEM certificate bundle: {expected}"),
        )
    })?;
    if certs.is_empty() {
        return Err(Error::config(
            field,
            format!("{shown} holds no certificate: {expected}"),
        ));
    }
    Ok(certs)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Why the HTTP client could not be built. The usual cause is a machine with no CA bundle at all (a slim
/// container image): say so, and how to fix it, instead of reporting an internal error.
pub(crate) fn build_error(err: &reqwest::Error) -> Error {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        text = format!("{text}: {e}");
        source = e.source();
    }
    if text.contains("No CA certificates") {
        return Error::config(
            "tls",
            "no trusted root certificates were found on this machine (SSL_CERT_FILE / SSL_CERT_DIR or the \
             system bundle): install the CA bundle (the ca-certificates package), or set SSL_CERT_FILE or \
             tls.ca_file",
        );
    }
    Error::internal(format!("could not build the HTTP client: {text}"))
}

/// A TLS failure behind a reqwest error, in words (`None` when the failure is not about TLS).
pub(crate) fn describe_failure(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(tls) = as_rustls(e) {
            let host = err
                .url()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(443)))
                })
                .unwrap_or_else(|| "the server".to_string());
            return Some(format!("TLS handshake with {host} failed: {}", words(tls)));
        }
        source = e.source();
    }
    None
}

/// The extra roots of [`extra_roots`] as DER, for the WebSocket connector (which builds its own rustls config).
pub(crate) fn extra_roots_der(
    config: &TlsConfig,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut paths = Vec::new();
    if let Some(path) = &config.ca_file {
        paths.push((path.clone(), "tls.ca_file"));
    }
    if let Some(path) = env(SSL_CERT_FILE).filter(|p| !p.is_empty()) {
        paths.push((PathBuf::from(path), SSL_CERT_FILE));
    }
    let mut roots = Vec::new();
    for (path, field) in paths {
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::config(
                field,
                format!("cannot read {}: {}", path.display(), io_reason(&e)),
            )
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::config(
                    field,
                    format!("{} is not a PEM certificate bundle", path.display()),
                )
            })?;
        roots.extend(certs);
    }
    Ok(roots)
}

/// A TLS failure inside an io error (as tokio-rustls reports it), in words; `None` when it is not about TLS.
pub(crate) fn describe_io_failure(err: &std::io::Error, host: &str) -> Option<String> {
    as_rustls(err).map(|tls| format!("TLS handshake with {host} failed: {}", words(tls)))
}

/// `std::io::Error` hides its inner error from `source()` (and the connector nests one io error in another),
/// so look inside each explicitly.
fn as_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = e;
    for _ in 0..8 {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        current = inner;
    }
    None
}

const TRUST_HINT: &str =
    "trust its CA with `tls.ca_file` in the config or the SSL_CERT_FILE variable";

fn words(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "the server's certificate is not signed by a trusted certificate authority ({TRUST_HINT})"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is this machine's clock right?)"
                    .to_string()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is for another host name".to_string()
            }
            C::Revoked => "the server's certificate has been revoked".to_string(),
            C::BadSignature
            | C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "the server's certificate has a bad or unsupported signature".to_string()
            }
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "the server's certificate is not meant for a TLS server".to_string()
            }
            other => format!("the server's certificate was refused: {other}"),
        },
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server did not answer in TLS (is it a plain http:// server?)".to_string()
        }
        E::NoCertificatesPresented => "the server sent no certificate".to_string(),
        E::PeerIncompatible(_) => {
            "the server and this client share no TLS version or cipher suite".to_string()
        }
        E::AlertReceived(alert) => format!("the server ended the handshake (TLS alert {alert:?})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(value: Option<&str>) -> impl Fn(&str) -> Option<OsString> {
        let value = value.map(OsString::from);
        move |name| (name == SSL_CERT_FILE).then(|| value.clone()).flatten()
    }

    #[test]
    fn missing_files_name_their_source() {
        let cfg = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
        };
        let err = extra_roots(&cfg, env_with(None)).unwrap_err();
        assert_eq!(err.field(), Some("tls.ca_file"));
        assert!(
            err.message().contains("/nonexistent/ca.pem: no such file")
                || err.message().contains("no such file"),
            "{err}"
        );

        let err =
            extra_roots(&TlsConfig::default(), env_with(Some("/nonexistent/b.pem"))).unwrap_err();
        assert_eq!(err.field(), Some(SSL_CERT_FILE));
        assert!(err.message().contains("/nonexistent/b.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path =
            std::env::temp_dir().join(format!("cozefallback-notpem-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let cfg = TlsConfig {
            ca_file: Some(path.clone()),
        };
        let err = extra_roots(&cfg, env_with(None)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err.field(), Some("tls.ca_file"));
        assert!(err.message().contains("BEGIN CERTIFICATE"), "{err}");
    }

    #[test]
    fn nothing_set_means_no_extra_roots() {
        assert!(
            extra_roots(&TlsConfig::default(), env_with(None))
                .unwrap()
                .is_empty()
        );
        assert!(
            extra_roots(&TlsConfig::default(), env_with(Some("")))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn certificate_errors_read_as_words() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let text = words(&unknown);
        assert!(
            text.contains("not signed by a trusted certificate authority"),
            "{text}"
        );
        assert!(
            text.contains("tls.ca_file") && text.contains("SSL_CERT_FILE"),
            "{text}"
        );
        // As the connector reports it: an io error inside an io error.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown);
        let wrapped = std::io::Error::other(inner);
        assert!(as_rustls(&wrapped).is_some());
    }
}
