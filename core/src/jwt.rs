//! Signing the single-use RS256 JWTs that a JWT app exchanges for access tokens (docs/PROTOCOL.md, "JWT apps").

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::redact::Secret;
use crate::util::unix_now;

/// The grant type of the JWT exchange.
pub(crate) const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_name: Option<&'a str>,
}

/// Where one side's PEM private key comes from, as configured: the key text or a file, and the side's name.
///
/// The key material only, not a `CredentialConfig`, so this module sits below `config` (which calls
/// [`load_signing_key`] to validate).
pub(crate) struct KeyMaterial<'a> {
    /// `"personal"` or `"enterprise"`: the prefix of the field an error names (`enterprise.private_key`).
    pub(crate) side: &'a str,
    /// The PEM text itself.
    pub(crate) private_key: Option<&'a Secret>,
    /// The path of a PEM file.
    pub(crate) private_key_file: Option<&'a Path>,
}

/// The claims and header fields that do not change between the JWTs of one app.
pub(crate) struct AppClaims {
    /// The app (client) id: the `iss` claim.
    pub(crate) client_id: String,
    /// The public key id: the `kid` header.
    pub(crate) key_id: String,
    /// The `aud` claim (see [`audience`]).
    pub(crate) audience: String,
    /// The optional `session_name` claim.
    pub(crate) session_name: Option<String>,
}

/// A loaded JWT app key with the claims that do not change between tokens.
pub(crate) struct JwtSigner {
    key: EncodingKey,
    header: Header,
    client_id: String,
    audience: String,
    session_name: Option<String>,
}

impl JwtSigner {
    /// Loads and checks the key, then keeps it with the fixed claims.
    pub(crate) fn new(key: &KeyMaterial<'_>, claims: AppClaims) -> Result<Self> {
        let key = load_signing_key(key)?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(claims.key_id);
        header.typ = Some("JWT".into());
        Ok(JwtSigner {
            key,
            header,
            client_id: claims.client_id,
            audience: claims.audience,
            session_name: claims.session_name,
        })
    }

    /// Signs a fresh JWT: a new `jti` every time, because Coze accepts each JWT once.
    pub(crate) fn sign(&self) -> Result<String> {
        let now = unix_now();
        let claims = Claims {
            iss: &self.client_id,
            aud: &self.audience,
            iat: now,
            exp: now + 600,
            jti: new_jti(),
            session_name: self.session_name.as_deref(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| {
            Error::new(
                crate::ErrorKind::Auth,
                format!("could not sign the JWT: {e}"),
            )
        })
    }
}

/// Reads and checks the PEM key of a JWT credential; the error names the field.
pub(crate) fn load_signing_key(key: &KeyMaterial<'_>) -> Result<EncodingKey> {
    let side = key.side;
    let (field, pem) = match (key.private_key, key.private_key_file) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                format!("{side}.private_key_file"),
                "set private_key or private_key_file, not both",
            ));
        }
        (Some(key), None) => (format!("{side}.private_key"), key.expose().to_string()),
        (None, Some(path)) => {
            let field = format!("{side}.private_key_file");
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::config(&field, format!("cannot read {}: {e}", path.display()))
            })?;
            warn_if_world_readable(path);
            (field, text)
        }
        (None, None) => {
            return Err(Error::config(
                format!("{side}.private_key"),
                "a JWT credential needs private_key or private_key_file",
            ));
        }
    };
    let pem = unescape_newlines(pem);
    if !pem.contains("-----BEGIN PRIVATE KEY-----")
        && !pem.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        return Err(Error::config(
            field,
            format!(
                "is not a PEM RSA private key: expected a BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY block, found {}",
                what_pem_is(&pem)
            ),
        ));
    }
    let key = EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| Error::config(&field, unusable_key(&e)))?;
    // Sign once now: a PEM that parses but is not RSA (an EC key in PKCS#8) only fails here.
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &serde_json::json!({"probe": true}),
        &key,
    )
    .map_err(|e| Error::config(&field, unusable_key(&e)))?;
    Ok(key)
}

/// A PEM pasted into an environment variable or a .env file often has literal `\n` for its line breaks.
fn unescape_newlines(pem: String) -> String {
    if !pem.contains('\n') && pem.contains("\\n") {
        pem.replace("\\r", "").replace("\\n", "\n")
    } else {
        pem
    }
}

/// What a text that is not a PEM RSA private key looks like, in words (never the text itself).
fn what_pem_is(pem: &str) -> String {
    let t = pem.trim();
    if t.is_empty() {
        return "an empty text".into();
    }
    for (marker, what) in [
        (
            "PUBLIC KEY-----",
            "a public key: the app signs with its private key",
        ),
        ("CERTIFICATE-----", "a certificate"),
        (
            "EC PRIVATE KEY-----",
            "an EC key: Coze JWT apps use RSA keys",
        ),
        (
            "OPENSSH PRIVATE KEY-----",
            "an OpenSSH key: export the RSA key as PEM (PKCS#8)",
        ),
        (
            "ENCRYPTED PRIVATE KEY-----",
            "an encrypted key: decrypt it first",
        ),
    ] {
        if t.contains(marker) {
            return what.into();
        }
    }
    format!("{} characters without a PEM block", t.chars().count())
}

/// Why a PEM block that looked right could not be used, in words.
fn unusable_key(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidKeyFormat => {
            "is not a usable RSA private key: the PEM block does not decode to an RSA key \
                                (damaged or cut base64, or a key of another type)"
                .into()
        }
        K::InvalidRsaKey(why) => format!("is not a usable RSA private key: {why}"),
        _ => "is not a usable RSA private key: RS256 signing with it failed".into(),
    }
}

/// Warns once per key file per process: a client reads its key more than once (validation, then signing).
#[cfg(unix)]
fn warn_if_world_readable(path: &std::path::Path) {
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Mutex, OnceLock};
    static WARNED: OnceLock<Mutex<HashSet<std::path::PathBuf>>> = OnceLock::new();
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o004 == 0 {
        return;
    }
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let first = WARNED
        .get_or_init(Default::default)
        .lock()
        .map(|mut seen| seen.insert(key))
        .unwrap_or(false);
    if first {
        tracing::warn!(path = %path.display(), "the private key file is world-readable; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_path: &std::path::Path) {}

/// A JWT id: 32 random bytes from the OS, hex-encoded (unique across forked processes too). Coze accepts each
/// JWT once.
fn new_jti() -> String {
    let mut jti = [0u8; 32];
    crate::runtime::fill_unique(&mut jti);
    hex::encode(jti)
}

/// `aud` claim: the API host without scheme, with `:port` when the base URL names one.
pub(crate) fn audience(base: &url::Url) -> String {
    let host = base.host_str().unwrap_or_default();
    match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jti_is_unique_across_100_000_mints() {
        let ids: std::collections::HashSet<String> = (0..100_000).map(|_| new_jti()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.iter().all(|id| id.len() == 64));
    }
}
