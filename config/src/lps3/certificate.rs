//! `clientCertificatePath` files read into a [`ClientIdentity`]: PEM with
//! the certificate chain and its private key, or PKCS#12 (`.pfx`, `.p12`)
//! opened with `clientCertificatePassword`. The key is checked against the
//! certificate now, so a wrong file is refused before any load.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::plan::ClientIdentity;

/// Reads the certificate and key at `path`; the error says what is wrong
/// with the file, for the caller to put after its plan line.
pub(super) fn read(path: &Path, password: Option<&str>) -> Result<ClientIdentity, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let (chain, key) = match extension.as_deref() {
        Some("pfx" | "p12") => pkcs12(&bytes, password.unwrap_or_default())?,
        // .pem, .cer and .crt: PEM text, or (.cer) one DER certificate.
        _ => pem_pair(&bytes)?,
    };
    check(&chain, &key)?;
    Ok(ClientIdentity {
        path: path.to_owned(),
        chain,
        key,
    })
}

/// A PKCS#12 archive's first key and the chain that goes with it.
fn pkcs12(bytes: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, Vec<u8>), String> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let store =
        KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
            format!("not a PKCS#12 file lps can open with clientCertificatePassword: {e}")
        })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err("the PKCS#12 file holds no private key with its certificate".to_owned());
    };
    let certs = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    Ok((certs, chain.key().as_der().to_vec()))
}

/// The certificates and the first private key of a PEM file.
fn pem_pair(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<u8>), String> {
    let pem_error = |e: pem::Error| format!("not a PEM file lps can read: {e}");
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(bytes) {
        chain.push(cert.map_err(pem_error)?.to_vec());
    }
    if chain.is_empty() {
        if bytes.starts_with(&[0x30]) {
            // A DER certificate (.cer): a key never comes with it.
            return Err(no_key());
        }
        return Err("it holds no PEM certificate (BEGIN CERTIFICATE)".to_owned());
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok((chain, key.secret_der().to_vec())),
        Err(pem::Error::NoItemsFound) if contains(bytes, b"ENCRYPTED PRIVATE KEY") => Err(
            "its private key is encrypted; lps reads an unencrypted PEM key, or a .pfx/.p12 \
             with clientCertificatePassword"
                .to_owned(),
        ),
        Err(pem::Error::NoItemsFound) => Err(no_key()),
        Err(e) => Err(pem_error(e)),
    }
}

fn no_key() -> String {
    "it holds a certificate without its private key: LPS finds the key in the Windows \
     certificate store, lps needs it in the file (a PEM with the certificate and its key, or a \
     .pfx/.p12)"
        .to_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The key is one the engine's TLS can sign with, and the certificate's.
fn check(chain: &[Vec<u8>], key: &[u8]) -> Result<(), String> {
    let certs = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::try_from(key.to_vec())
        .map_err(|e| format!("its private key is not one lps can read: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::sign::CertifiedKey::from_der(certs, key, &provider)
        .map(|_| ())
        .map_err(|e| format!("its certificate and key are not usable together: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Made {
        cert_pem: String,
        cert_der: Vec<u8>,
        key_pem: String,
        key_der: Vec<u8>,
    }

    fn made() -> Made {
        let made = rcgen::generate_simple_self_signed(vec!["lps-client".to_string()])
            .expect("rcgen makes a self-signed certificate");
        Made {
            cert_pem: made.cert.pem(),
            cert_der: made.cert.der().to_vec(),
            key_pem: made.signing_key.serialize_pem(),
            key_der: made.signing_key.serialize_der(),
        }
    }

    fn pkcs12(m: &Made, password: &str) -> Vec<u8> {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let key = PrivateKey::from_der(&m.key_der).expect("rcgen's key is PKCS#8");
        let cert = Certificate::from_der(&m.cert_der).expect("rcgen's certificate parses");
        let mut store = KeyStore::new();
        let chain = PrivateKeyChain::new("id-1", key, [cert]);
        store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
        store
            .writer(password)
            .write()
            .expect("p12-keystore writes it")
    }

    fn read_as(
        dir: &Path,
        name: &str,
        bytes: &[u8],
        password: Option<&str>,
    ) -> Result<ClientIdentity, String> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("scratch file");
        read(&path, password)
    }

    #[test]
    fn pem_and_pkcs12_give_the_chain_and_key() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let m = made();
        let both = format!("{}{}", m.cert_pem, m.key_pem);
        let pem = read_as(dir.path(), "c.pem", both.as_bytes(), None).expect("a PEM pair");
        assert_eq!(
            (pem.chain.clone(), pem.key.clone()),
            (vec![m.cert_der.clone()], m.key_der.clone())
        );
        // The key may come first, and a .crt holding both is read as well.
        let reversed = format!("{}{}", m.key_pem, m.cert_pem);
        let crt = read_as(dir.path(), "c.crt", reversed.as_bytes(), None).expect("a .crt pair");
        assert_eq!(crt.chain, pem.chain);
        let p12 = read_as(dir.path(), "c.PFX", &pkcs12(&m, "s3cret"), Some("s3cret"))
            .expect("a .pfx with its password");
        assert_eq!((p12.chain, p12.key), (vec![m.cert_der], m.key_der));
    }

    #[test]
    fn a_file_lps_cannot_present_says_why() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let (m, other) = (made(), made());
        let no_key = no_key();
        let mismatched = format!("{}{}", m.cert_pem, other.key_pem);
        let cases: [(&str, Vec<u8>, Option<&str>, &str); 6] = [
            ("only.crt", m.cert_pem.clone().into_bytes(), None, &no_key),
            ("only.cer", m.cert_der.clone(), None, &no_key),
            (
                "empty.pem",
                b"nothing here".to_vec(),
                None,
                "it holds no PEM certificate (BEGIN CERTIFICATE)",
            ),
            (
                "wrong.pem",
                mismatched.into_bytes(),
                None,
                "its certificate and key are not usable together: ",
            ),
            (
                "bad.p12",
                pkcs12(&m, "right"),
                Some("wrong"),
                "not a PKCS#12 file lps can open with clientCertificatePassword: ",
            ),
            (
                "text.pfx",
                b"not der".to_vec(),
                None,
                "not a PKCS#12 file lps can open with clientCertificatePassword: ",
            ),
        ];
        for (name, bytes, password, expected) in cases {
            let message = read_as(dir.path(), name, &bytes, password).expect_err(name);
            assert!(message.starts_with(expected), "{name}: {message}");
        }
        let gone = read(&dir.path().join("gone.pem"), None).expect_err("a missing file");
        assert!(gone.starts_with("cannot read it: "), "{gone}");
    }
}
