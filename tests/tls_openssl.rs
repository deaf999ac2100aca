//! Handshakes against `openssl s_server -Verify 1`: a peer we did not write checks our client
//! certificate. `bash scripts/test.sh` installs openssl; the server listens on loopback only.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use mtls_core::internals::{TlsConnection, TlsEvent};
use mtls_core::tls::{Alert, TlsConfig, TlsError, TlsLimits, TlsVersion};

/// `certificate_required` (RFC 8446 section 6).
const CERTIFICATE_REQUIRED: Alert = Alert(116);
/// `handshake_failure`.
const HANDSHAKE_FAILURE: Alert = Alert(40);
/// `unknown_ca`.
const UNKNOWN_CA: Alert = Alert(48);

struct OpensslServer {
    child: Child,
    port: u16,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_s_server(dir: &Path, version_flag: &str) -> OpensslServer {
    for _attempt in 0..5 {
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-www",
                "-Verify",
                "1",
                "-verify_return_error",
                version_flag,
            ])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.join("server.pem"))
            .arg("-key")
            .arg(dir.join("server.key"))
            .arg("-CAfile")
            .arg(dir.join("ca.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl must be installed (run `bash scripts/test.sh`, which installs it)");
        let mut server = OpensslServer { child, port };
        // Wait until it listens (a probe connection it accepts and drops), bounded.
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(_)) = server.child.try_wait() {
                break; // the port was taken in the meantime: try another
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    panic!("could not start openssl s_server");
}

/// Drives `tls` over a socket: sends `request` once open, collects plaintext until EOF.
fn exchange(
    tls: &mut TlsConnection,
    port: u16,
    request: &[u8],
) -> (Vec<TlsEvent>, Vec<u8>, Result<(), TlsError>) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut events = Vec::new();
    let mut received = Vec::new();
    let mut sent = false;
    let mut closed = false;
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..1000 {
        let out = tls.pending_transmit().to_vec();
        if !out.is_empty() {
            // The server may already have closed after a fatal alert.
            let _ = sock.write_all(&out);
            tls.consume_transmit(out.len());
        }
        while let Some(ev) = tls.poll_event() {
            events.push(ev);
        }
        if closed {
            // Our close_notify is out; the connection reads nothing after it.
            return (events, received, tls.handle_eof());
        }
        // s_server -www waits for our close_notify after its page.
        if sent
            && tls.is_open()
            && received
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"</html>"))
        {
            tls.close().unwrap();
            closed = true;
            continue;
        }
        if tls.is_open() && !sent {
            tls.send_plaintext(request).unwrap();
            sent = true;
            continue;
        }
        // A read error (timeout, reset) ends the exchange like EOF does.
        let n = sock.read(&mut buf).unwrap_or_default();
        if n == 0 {
            let end = tls.handle_eof();
            while let Some(ev) = tls.poll_event() {
                events.push(ev);
            }
            return (events, received, end);
        }
        let mut offset = 0;
        while offset < n {
            match tls.handle_input(&buf[offset..n]) {
                Ok(taken) => offset += taken,
                Err(e) => return (events, received, Err(e)),
            }
            received.extend_from_slice(tls.plaintext());
            let len = tls.plaintext().len();
            if let Err(e) = tls.consume_plaintext(len) {
                return (events, received, Err(e));
            }
        }
    }
    panic!("no end after 1000 turns");
}

struct Pki {
    dir: PathBuf,
    pki: TestServerPki,
}

fn pki(tag: &str) -> Pki {
    let pki = TestServerPki::new();
    let dir = std::env::temp_dir().join(format!("mtls-core-openssl-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca.cert_pem()).unwrap();
    std::fs::write(dir.join("server.pem"), &pki.server.cert_pem).unwrap();
    std::fs::write(
        dir.join("server.key"),
        pki.server.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    Pki { dir, pki }
}

#[test]
fn every_key_form_completes_a_handshake_with_openssl_s_server() {
    let p = pki("ok");
    for key in ["rsa2048-pkcs1", "rsa2048-pkcs8", "p256-pkcs8", "p256-sec1"] {
        let identity = identity_for_fixture(&p.pki.ca, key);
        let config = client_config(&p.pki, &identity);
        for (flag, version) in [
            ("-tls1_3", TlsVersion::Tls13),
            ("-tls1_2", TlsVersion::Tls12),
        ] {
            let server = start_s_server(&p.dir, flag);
            let mut tls =
                TlsConnection::new(&config, "localhost", TlsLimits::default(), wall_now()).unwrap();
            let (events, body, end) = exchange(&mut tls, server.port, b"GET / HTTP/1.0\r\n\r\n");
            assert_eq!(
                events.first(),
                Some(&TlsEvent::HandshakeComplete {
                    version,
                    client_cert_requested: true
                }),
                "{key} {flag}"
            );
            let text = String::from_utf8_lossy(&body);
            assert!(text.starts_with("HTTP/1.0 200 ok"), "{key} {flag}: {text}");
            // s_server -www prints the client certificate it verified.
            assert!(
                text.contains("client.sandbox.example"),
                "{key} {flag}: {text}"
            );
            assert!(
                end.is_ok()
                    || end
                        == Err(TlsError::Truncated {
                            during_handshake: false
                        })
            );
        }
    }
    std::fs::remove_dir_all(&p.dir).unwrap();
}

#[test]
fn openssl_s_server_rejects_missing_and_foreign_client_certificates() {
    let p = pki("reject");
    let stranger = mtls_sandbox::TestCa::new("stranger CA").unwrap();
    let foreign = identity_for_fixture(&stranger, "p256-sec1");
    let foreign_config = client_config(&p.pki, &foreign);
    let anonymous = TlsConfig::without_client_identity(p.pki.trust()).unwrap();
    for flag in ["-tls1_3", "-tls1_2"] {
        let server = start_s_server(&p.dir, flag);
        let mut tls = TlsConnection::new(
            &foreign_config,
            "localhost",
            TlsLimits::default(),
            wall_now(),
        )
        .unwrap();
        let (_, body, end) = exchange(&mut tls, server.port, b"GET / HTTP/1.0\r\n\r\n");
        assert!(body.is_empty());
        let err = end.unwrap_err();
        assert!(err.is_client_certificate_rejection(), "{flag}: {err:?}");
        assert_eq!(err, TlsError::AlertReceived(UNKNOWN_CA), "{flag}");
        drop(server);

        let server = start_s_server(&p.dir, flag);
        let mut tls =
            TlsConnection::new(&anonymous, "localhost", TlsLimits::default(), wall_now()).unwrap();
        let (_, body, end) = exchange(&mut tls, server.port, b"GET / HTTP/1.0\r\n\r\n");
        assert!(body.is_empty());
        let expected = if flag == "-tls1_3" {
            CERTIFICATE_REQUIRED
        } else {
            HANDSHAKE_FAILURE
        };
        assert_eq!(end, Err(TlsError::AlertReceived(expected)), "{flag}");
    }
    std::fs::remove_dir_all(&p.dir).unwrap();
}
