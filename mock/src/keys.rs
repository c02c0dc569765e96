//! The JWT app's RSA key pair: generated once per process, written as PEM files.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::DecodingKey;

/// The key pair as PEM text plus the decoding key that verifies the app's JWTs.
pub(crate) struct AppKeys {
    pub private_pem: String,
    pub public_pem: String,
    pub decoding: DecodingKey,
}

/// RSA 2048 generation takes a noticeable moment, so every server in a process shares one pair.
pub(crate) fn app_keys() -> io::Result<&'static AppKeys> {
    static KEYS: OnceLock<AppKeys> = OnceLock::new();
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let generated = generate()?;
    Ok(KEYS.get_or_init(|| generated))
}

fn generate() -> io::Result<AppKeys> {
    let err = |what: &str| io::Error::other(format!("RSA key generation failed: {what}"));
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| err("generate"))?;
    let private_der: Pkcs8V1Der = pair.as_der().map_err(|_| err("PKCS#8 export"))?;
    let public_der: PublicKeyX509Der =
        pair.public_key().as_der().map_err(|_| err("SPKI export"))?;
    let private_pem = pem("PRIVATE KEY", private_der.as_ref());
    let public_pem = pem("PUBLIC KEY", public_der.as_ref());
    let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
        .map_err(|e| io::Error::other(format!("public key unusable: {e}")))?;
    Ok(AppKeys {
        private_pem,
        public_pem,
        decoding,
    })
}

/// PEM armour: base64 in 64-character lines.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Where the key files went, and whether the directory is ours to delete.
pub(crate) struct KeyFiles {
    pub dir: PathBuf,
    pub private_file: PathBuf,
    pub public_file: PathBuf,
    pub owned_dir: bool,
}

/// Writes `private_key.pem` and `public_key.pem` to `dir` (created if missing), or to a fresh temp dir.
pub(crate) fn write_key_files(keys: &AppKeys, dir: Option<&Path>) -> io::Result<KeyFiles> {
    let (dir, owned_dir) = match dir {
        Some(d) => (d.to_path_buf(), false),
        None => (
            std::env::temp_dir().join(format!(
                "coze-mock-{}-{}",
                std::process::id(),
                crate::util::random_hex(6)
            )),
            true,
        ),
    };
    create_private_dir(&dir)?;
    let private_file = dir.join("private_key.pem");
    let public_file = dir.join("public_key.pem");
    write_private(&private_file, &keys.private_pem)?;
    std::fs::write(&public_file, &keys.public_pem)?;
    Ok(KeyFiles {
        dir,
        private_file,
        public_file,
        owned_dir,
    })
}

/// Creates `dir` (and missing parents) readable by the owner only (0700 on Unix); an existing dir is left as is.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a private key readable by the owner only (0600 on Unix), also when the file already existed.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_wide() {
        let p = pem("PUBLIC KEY", &[7u8; 100]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(*lines.last().unwrap(), "-----END PUBLIC KEY-----");
    }

    #[cfg(unix)]
    #[test]
    fn private_key_and_its_dir_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let keys = app_keys().unwrap();
        let files = write_key_files(keys, None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.private_file), 0o600);
        assert_eq!(mode(&files.dir), 0o700);
        std::fs::remove_dir_all(&files.dir).unwrap();
    }
}
