//! Real mTLS handshakes between our sans-IO client and an in-memory rustls server that
//! requires client certificates.

mod common;

use common::*;
use mtls_core::identity::Identity;
use mtls_core::internals::TlsEvent;
use mtls_core::tls::{Alert, CertificateProblem, TlsConfig, TlsError, TlsVersion};
use mtls_sandbox::TestCa;
use rustls::version::{TLS12, TLS13};
use rustls::ServerConnection;

/// `certificate_required` (RFC 8446 section 6).
const CERTIFICATE_REQUIRED: Alert = Alert(116);
/// `unknown_ca`.
const UNKNOWN_CA: Alert = Alert(48);

const KEYS: [&str; 4] = ["rsa2048-pkcs1", "rsa2048-pkcs8", "p256-pkcs8", "p256-sec1"];

fn version_of(v: &'static rustls::SupportedProtocolVersion) -> TlsVersion {
    if v.version == rustls::ProtocolVersion::TLSv1_3 {
        TlsVersion::Tls13
    } else {
        TlsVersion::Tls12
    }
}

fn assert_success(out: &Outcome, version: TlsVersion, cert: &[u8]) {
    assert_eq!(out.client_error, None, "{out:?}");
    assert_eq!(out.server_error, None, "{out:?}");
    assert_eq!(
        out.client_events,
        vec![TlsEvent::HandshakeComplete {
            version,
            client_cert_requested: true
        }]
    );
    assert_eq!(out.server_received, b"GET /ping");
    assert_eq!(out.client_received, b"pong");
    let seen = out
        .server_saw_client_cert
        .as_ref()
        .expect("server saw no client cert");
    assert_eq!(seen[0].as_ref(), cert);
}

#[test]
fn handshake_succeeds_for_every_key_form_and_version() {
    let pki = TestServerPki::new();
    for key in KEYS {
        let issued = client_cert_for_fixture(&pki.ca, key);
        let identity =
            Identity::from_pem(issued.cert_pem.as_bytes(), &fixture(&format!("{key}.pem")))
                .unwrap();
        let config = client_config(&pki, &identity);
        for version in [&TLS13, &TLS12] {
            let mut server = ServerConnection::new(pki.server_config(&[version], true)).unwrap();
            let mut tls = client(&config, "localhost");
            let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
            assert_success(&out, version_of(version), issued.cert_der.as_ref());
            assert_eq!(tls.version(), Some(version_of(version)), "{key}");
        }
    }
}

#[test]
fn byte_by_byte_and_random_splits_give_the_same_outcome() {
    let pki = TestServerPki::new();
    let issued = client_cert_for_fixture(&pki.ca, "p256-sec1");
    let identity =
        Identity::from_pem(issued.cert_pem.as_bytes(), &fixture("p256-sec1.pem")).unwrap();
    let config = client_config(&pki, &identity);
    for version in [&TLS13, &TLS12] {
        let mut server = ServerConnection::new(pki.server_config(&[version], true)).unwrap();
        let mut tls = client(&config, "localhost");
        let out = converse(&mut tls, &mut server, &mut |_| 1, b"GET /ping", b"pong");
        assert_success(&out, version_of(version), issued.cert_der.as_ref());

        for seed in 1..=8u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut server = ServerConnection::new(pki.server_config(&[version], true)).unwrap();
            let mut tls = client(&config, "localhost");
            let mut split = |left: usize| (rng.next() as usize % 300).min(left) + 1;
            let out = converse(&mut tls, &mut server, &mut split, b"GET /ping", b"pong");
            assert_success(&out, version_of(version), issued.cert_der.as_ref());
        }
    }
}

#[test]
fn server_rejects_a_client_without_a_certificate() {
    let pki = TestServerPki::new();
    let config = TlsConfig::without_client_identity(pki.trust()).unwrap();
    for (version, alert) in [
        (&TLS13, CERTIFICATE_REQUIRED),
        (&TLS12, CERTIFICATE_REQUIRED),
    ] {
        let mut server = ServerConnection::new(pki.server_config(&[version], true)).unwrap();
        let mut tls = client(&config, "localhost");
        let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
        assert_eq!(
            out.client_error,
            Some(TlsError::AlertReceived(alert)),
            "{out:?}"
        );
        assert!(out
            .client_error
            .as_ref()
            .unwrap()
            .is_client_certificate_rejection());
        assert!(out.client_received.is_empty());
        assert!(out
            .client_error
            .unwrap()
            .to_string()
            .contains("rejected the client certificate (TLS alert certificate_required)"));
    }
}

#[test]
fn server_rejects_a_client_certificate_from_an_unknown_ca() {
    let pki = TestServerPki::new();
    let stranger = TestCa::new("some other CA").unwrap();
    let identity = identity_for_fixture(&stranger, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    for version in [&TLS13, &TLS12] {
        let mut server = ServerConnection::new(pki.server_config(&[version], true)).unwrap();
        let mut tls = client(&config, "localhost");
        let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
        assert_eq!(
            out.client_error,
            Some(TlsError::AlertReceived(UNKNOWN_CA)),
            "{out:?}"
        );
        assert!(out.server_error.unwrap().contains("UnknownIssuer"));
    }
}

#[test]
fn client_rejects_an_untrusted_server() {
    let pki = TestServerPki::new();
    // A server whose CA the client does not trust, then one whose CA merely has the same name.
    for (other, problem) in [
        (
            TestServerPki::named("another CA"),
            CertificateProblem::UnknownIssuer,
        ),
        (TestServerPki::new(), CertificateProblem::BadSignature),
    ] {
        let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
        let config = client_config(&pki, &identity);
        for version in [&TLS13, &TLS12] {
            let mut server = ServerConnection::new(other.server_config(&[version], true)).unwrap();
            let mut tls = client(&config, "localhost");
            let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
            assert_eq!(out.client_error, Some(TlsError::ServerCertificate(problem)));
            assert!(out.server_received.is_empty());
            // The fatal alert we owe the server is ready to send.
            let alert = tls.pending_transmit().to_vec();
            // TLS 1.2: a plaintext alert record (0x15); TLS 1.3: an encrypted one (0x17), after
            // the middlebox-compatibility ChangeCipherSpec (0x14).
            let last_record_type = if alert[0] == 0x14 { alert[6] } else { alert[0] };
            assert!([0x15, 0x17].contains(&last_record_type), "{alert:x?}");
            // The connection stays dead.
            assert_eq!(
                tls.handle_input(b"more"),
                Err(TlsError::ServerCertificate(problem))
            );
        }
    }
}

#[test]
fn client_rejects_a_wrong_hostname() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    let mut server = ServerConnection::new(pki.server_config(&[&TLS13], true)).unwrap();
    let mut tls = client(&config, "api-mtls.wrong.example");
    let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
    assert_eq!(
        out.client_error,
        Some(TlsError::ServerCertificate(
            CertificateProblem::NotValidForName
        ))
    );
}

#[test]
fn a_server_that_never_asks_for_a_client_certificate_is_reported() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    for version in [&TLS13, &TLS12] {
        let mut server = ServerConnection::new(pki.server_config(&[version], false)).unwrap();
        let mut tls = client(&config, "localhost");
        let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
        assert_eq!(out.client_error, None);
        assert_eq!(
            out.client_events,
            vec![TlsEvent::HandshakeComplete {
                version: version_of(version),
                client_cert_requested: false
            }]
        );
        assert_eq!(out.server_saw_client_cert, None);
    }
}

#[test]
fn end_without_close_notify_is_truncation_and_close_notify_is_clean() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);

    let mut server = ServerConnection::new(pki.server_config(&[&TLS13], true)).unwrap();
    let mut tls = client(&config, "localhost");
    let out = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
    assert_eq!(out.client_received, b"pong");
    assert_eq!(
        tls.handle_eof(),
        Err(TlsError::Truncated {
            during_handshake: false
        })
    );

    let mut server = ServerConnection::new(pki.server_config(&[&TLS13], true)).unwrap();
    let mut tls = client(&config, "localhost");
    let _ = converse(&mut tls, &mut server, &mut |n| n, b"GET /ping", b"pong");
    server.send_close_notify();
    let out = converse(&mut tls, &mut server, &mut |n| n, b"", b"");
    assert_eq!(out.client_events, vec![TlsEvent::PeerClosed]);
    assert!(tls.peer_closed());
    assert_eq!(tls.handle_eof(), Ok(()));

    // The transport ends in the middle of the handshake.
    let mut tls = client(&config, "localhost");
    assert_eq!(
        tls.handle_eof(),
        Err(TlsError::Truncated {
            during_handshake: true
        })
    );
}

#[test]
fn garbage_from_the_server_is_a_typed_error() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    for garbage in [
        &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
        &[0x16, 0x03, 0x03, 0xff, 0xff][..],
        &[0u8; 64][..],
    ] {
        let mut tls = client(&config, "localhost");
        let result = tls.handle_input(garbage);
        // Either an error now, or a wait for more bytes that can never form a valid record.
        if let Err(e) = result {
            assert!(
                matches!(
                    e,
                    TlsError::PeerMisbehaved | TlsError::Incompatible | TlsError::BufferFull
                ),
                "{e:?}"
            );
        } else {
            assert!(tls.is_handshaking());
            assert_eq!(
                tls.handle_eof(),
                Err(TlsError::Truncated {
                    during_handshake: true
                })
            );
        }
    }
}

#[test]
fn invalid_server_name_is_refused() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    let err = mtls_core::internals::TlsConnection::new(
        &config,
        "not a host name",
        Default::default(),
        wall_now(),
    )
    .unwrap_err();
    assert_eq!(err, TlsError::InvalidServerName);
}

/// Once the doc example of `TlsConnection`: the ClientHello is ready before any input.
#[test]
fn client_hello_is_ready_before_any_input() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-pkcs8");
    let config = client_config(&pki, &identity);
    let now =
        mtls_core::time::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_790_000_000));
    let tls = mtls_core::internals::TlsConnection::new(
        &config,
        "api-mtls.sandbox.mangopay.com",
        Default::default(),
        now,
    )
    .unwrap();
    assert!(!tls.pending_transmit().is_empty());
    assert!(tls.is_handshaking());
}

/// The alert codes this file names are the ones the protocol gives those names.
#[test]
fn alert_constants_match_their_names() {
    assert_eq!(CERTIFICATE_REQUIRED.name(), Some("certificate_required"));
    assert_eq!(UNKNOWN_CA.name(), Some("unknown_ca"));
}
