//! The sandbox's throwaway PKI: what `TestCa` issues verifies where it should, and nowhere else.

use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_sandbox::{IssueSpec, TestCa, Usage};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

fn roots(ca: &TestCa) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    Arc::new(roots)
}

fn client_verifier(ca: &TestCa) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(
        roots(ca),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap()
}

fn verify_client(ca: &TestCa, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    client_verifier(ca)
        .verify_client_cert(cert, &[], UnixTime::now())
        .map(|_| ())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs openssl with `args`, returning stdout; panics with stderr on failure.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mtls-sandbox-pki-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn p256_client_cert_verifies_against_the_ca() {
    let ca = TestCa::new("pki test CA").unwrap();
    let issued = ca.issue(&IssueSpec::client("client-a")).unwrap();
    verify_client(&ca, &issued.cert_der).unwrap();

    assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    let key = issued.key_pem.as_ref().expect("a key was generated");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    // The PEM and DER forms are the same certificate.
    let from_pem = rustls_pki_types::pem::PemObject::from_pem_slice(issued.cert_pem.as_bytes());
    let from_pem: CertificateDer<'static> = from_pem.unwrap();
    assert_eq!(from_pem, issued.cert_der);
    // The CA certificate round-trips the same way.
    let ca_from_pem: CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
    assert_eq!(ca_from_pem, ca.cert_der());
}

#[test]
fn a_client_cert_from_another_ca_is_rejected() {
    let ca = TestCa::new("pki test CA").unwrap();
    let other = TestCa::new("another CA").unwrap();
    let issued = other.issue(&IssueSpec::client("client-b")).unwrap();
    let err = verify_client(&ca, &issued.cert_der).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
}

#[test]
fn a_server_only_eku_leaf_is_not_a_client_cert() {
    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("client-c");
    spec.usage = Usage::ServerOnlyEku;
    let issued = ca.issue(&spec).unwrap();
    assert!(verify_client(&ca, &issued.cert_der).is_err());

    // Without any EKU extension the certificate is good for any purpose.
    spec.usage = Usage::NoEku;
    let issued = ca.issue(&spec).unwrap();
    verify_client(&ca, &issued.cert_der).unwrap();
}

#[test]
fn an_expired_client_cert_is_rejected() {
    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("client-d");
    spec.not_before_unix = unix_now() - 10 * 86_400;
    spec.not_after_unix = unix_now() - 86_400;
    let issued = ca.issue(&spec).unwrap();
    let err = verify_client(&ca, &issued.cert_der).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
                | rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ExpiredContext { .. }
                )
        ),
        "{err:?}"
    );
}

#[test]
fn an_inverted_validity_window_is_refused() {
    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("client-e");
    spec.not_after_unix = spec.not_before_unix;
    assert!(ca.issue(&spec).is_err());
}

#[test]
fn server_cert_verifies_for_localhost_and_loopback_ip() {
    let ca = TestCa::new("pki test CA").unwrap();
    let issued = ca
        .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
        .unwrap();
    let verifier = WebPkiServerVerifier::builder_with_provider(
        roots(&ca),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let name = ServerName::try_from(name).unwrap();
        verifier
            .verify_server_cert(&issued.cert_der, &[], &name, &[], UnixTime::now())
            .unwrap();
    }
    let wrong = ServerName::try_from("example.com").unwrap();
    assert!(verifier
        .verify_server_cert(&issued.cert_der, &[], &wrong, &[], UnixTime::now())
        .is_err());
}

#[test]
fn external_rsa_key_gets_a_cert_with_exactly_its_spki() {
    let key_path = temp_path("rsa.key");
    let key_path = key_path.to_str().unwrap();
    openssl(&["genrsa", "-out", key_path, "2048"]);
    let spki = openssl(&["pkey", "-in", key_path, "-pubout", "-outform", "DER"]);

    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("rsa-client");
    spec.public_key_der = Some(spki.clone());
    let issued = ca.issue(&spec).unwrap();
    assert!(issued.key_pem.is_none());
    assert!(
        contains(&issued.cert_der, &spki),
        "SPKI not in the certificate"
    );
    verify_client(&ca, &issued.cert_der).unwrap();

    // And openssl agrees that the certificate's public key is the one we hold.
    let cert_path = temp_path("rsa.crt");
    std::fs::write(&cert_path, &issued.cert_pem).unwrap();
    let cert_spki = openssl(&[
        "x509",
        "-in",
        cert_path.to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    let from_key = openssl(&["pkey", "-in", key_path, "-pubout"]);
    assert_eq!(cert_spki, from_key);
}

#[test]
fn external_p256_key_gets_a_cert_with_exactly_its_spki() {
    let key_path = temp_path("ec.key");
    let key_path = key_path.to_str().unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key_path,
    ]);
    let spki = openssl(&["pkey", "-in", key_path, "-pubout", "-outform", "DER"]);
    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("ec-client");
    spec.public_key_der = Some(spki.clone());
    let issued = ca.issue(&spec).unwrap();
    assert!(contains(&issued.cert_der, &spki));
    verify_client(&ca, &issued.cert_der).unwrap();
}

#[test]
fn garbage_public_key_is_a_typed_error() {
    let ca = TestCa::new("pki test CA").unwrap();
    let mut spec = IssueSpec::client("bad");
    for bad in [
        &[][..],
        &[0x30, 0x00][..],
        &[0x30, 0x82, 0xff, 0xff][..],
        &[0x04, 0x03, 0x01, 0x02, 0x03][..],
    ] {
        spec.public_key_der = Some(bad.to_vec());
        assert!(ca.issue(&spec).is_err());
    }
}

#[test]
fn issued_debug_does_not_print_the_key() {
    let ca = TestCa::new("pki test CA").unwrap();
    let issued = ca.issue(&IssueSpec::client("debug")).unwrap();
    let key = issued.key_pem.as_ref().unwrap();
    let body: String = key.lines().nth(1).unwrap().into();
    assert!(!format!("{issued:?}").contains(&body));
    assert!(!format!("{ca:?}").contains("PRIVATE"));
}
