//! `--tls`: a throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made at
//! start, so that clients can be tested over real HTTPS (trusting the CA) and refused (not trusting it).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::keys::pem;

/// The CA and server certificate as PEM text, and the acceptor that serves the server certificate.
pub(crate) struct TlsMaterial {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub acceptor: TlsAcceptor,
}

/// Where the certificate files went.
pub(crate) struct TlsFiles {
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
}

/// Generated once per process (like the JWT app keys): every TLS server of a process shares one CA.
pub(crate) fn material() -> io::Result<&'static TlsMaterial> {
    static MATERIAL: OnceLock<TlsMaterial> = OnceLock::new();
    if let Some(m) = MATERIAL.get() {
        return Ok(m);
    }
    let generated = generate()?;
    Ok(MATERIAL.get_or_init(|| generated))
}

fn generate() -> io::Result<TlsMaterial> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::other(format!("TLS certificate generation failed ({what}): {e}"))
    };
    let ca_key = KeyPair::generate().map_err(|e| err("CA key", &e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", &e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "coze-mock test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| err("CA certificate", &e))?;

    let server_key = KeyPair::generate().map_err(|e| err("server key", &e))?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(|e| err("server", &e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "coze-mock 127.0.0.1");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .map_err(|e| err("server certificate", &e))?;

    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key_der)
        .map_err(|e| err("server config", &e))?;
    // Offer HTTP/2 first, as real API front ends do; HTTP/1.1 for clients without it.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: pem("CERTIFICATE", ca_cert.der()),
        server_cert_pem: pem("CERTIFICATE", server_cert.der()),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

/// Writes `ca.pem` and `server_cert.pem` to `dir` (beside the JWT app keys).
pub(crate) fn write_files(material: &TlsMaterial, dir: &Path) -> io::Result<TlsFiles> {
    let ca_file = dir.join("ca.pem");
    let server_cert_file = dir.join("server_cert.pem");
    std::fs::write(&ca_file, &material.ca_pem)?;
    std::fs::write(&server_cert_file, &material.server_cert_pem)?;
    Ok(TlsFiles {
        ca_file,
        server_cert_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_pem_and_shared() {
        let a = material().unwrap();
        let b = material().unwrap();
        assert!(std::ptr::eq(a, b));
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(
            a.server_cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----\n")
        );
        assert_ne!(a.ca_pem, a.server_cert_pem);
    }
}
