//! The sandbox server, driven by a plain rustls buffered client: the token flow, the checks
//! it makes, and one assertion per fault knob.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_sandbox::{IssueSpec, Issued, Sandbox, SandboxConfig, Usage};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

type Tls = StreamOwned<ClientConnection, TcpStream>;

// ---- a minimal HTTPS client for the tests ------------------------------------------------

fn client_config(
    sandbox: &Sandbox,
    identity: Option<&Issued>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(sandbox.ca_pem().as_bytes()).unwrap())
        .unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
    let config = match identity {
        Some(id) => {
            let key =
                PrivateKeyDer::from_pem_slice(id.key_pem.as_ref().unwrap().as_bytes()).unwrap();
            builder
                .with_client_auth_cert(vec![id.cert_der.clone()], key)
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

fn connect_with(sandbox: &Sandbox, config: Arc<ClientConfig>) -> Tls {
    let name = ServerName::try_from(sandbox.server_name())
        .unwrap()
        .to_owned();
    let conn = ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(sandbox.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    StreamOwned::new(conn, tcp)
}

/// A connection with a fresh identity from the sandbox, default protocol versions.
fn connect(sandbox: &Sandbox) -> Tls {
    let identity = sandbox.issue_client_identity().unwrap();
    connect_with(
        sandbox,
        client_config(sandbox, Some(&identity), rustls::DEFAULT_VERSIONS),
    )
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn send(tls: &mut Tls, method: &str, path: &str, headers: &[(&str, &str)], body: &str) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes()).unwrap();
    tls.flush().unwrap();
}

/// Reads one Content-Length-framed response.
fn read_response(tls: &mut Tls) -> io::Result<Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        let status = parsed
            .parse(&buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?;
        if let httparse::Status::Complete(head_len) = status {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let code = parsed.code.unwrap();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                let n = tls.read(&mut chunk)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(buf.len(), head_len + len, "unexpected bytes after the body");
            return Ok(Response {
                status: code,
                headers,
                body: String::from_utf8(buf[head_len..].to_vec()).unwrap(),
            });
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn request(
    tls: &mut Tls,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    send(tls, method, path, headers, body);
    read_response(tls).unwrap()
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const GRANT: &str = "grant_type=client_credentials";

fn token_response(tls: &mut Tls, sandbox: &Sandbox) -> Response {
    request(
        tls,
        "POST",
        "/v2.01/oauth/token",
        &[("Authorization", sandbox.basic_authorization()), FORM],
        GRANT,
    )
}

/// The value of a string field in a flat JSON object (enough for the sandbox's answers).
fn json_field<'a>(body: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\":");
    let rest = &body[body.find(&key)? + key.len()..];
    let rest = rest.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        s.split('"').next()
    } else {
        rest.split([',', '}']).next()
    }
}

fn fetch_token(tls: &mut Tls, sandbox: &Sandbox) -> String {
    let r = token_response(tls, sandbox);
    assert_eq!(r.status, 200, "{}", r.body);
    json_field(&r.body, "access_token").unwrap().to_string()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn user_path(sandbox: &Sandbox, id: &str) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

fn start_with(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig::default();
    f(&mut config);
    Sandbox::start(config).unwrap()
}

// ---- the happy path ---------------------------------------------------------------------

#[test]
fn token_flow_then_two_api_calls_on_one_connection() {
    let sandbox = start();
    let mut tls = connect(&sandbox);

    let r = token_response(&mut tls, &sandbox);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(json_field(&r.body, "token_type"), Some("Bearer"));
    assert_eq!(json_field(&r.body, "expires_in"), Some("3600"));
    let token = json_field(&r.body, "access_token").unwrap().to_string();
    assert_eq!(token.len(), 32);

    let auth = bearer(&token);
    for id in ["123", "456"] {
        let r = request(
            &mut tls,
            "GET",
            &user_path(&sandbox, id),
            &[("Authorization", &auth)],
            "",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(json_field(&r.body, "Id"), Some(id));
        assert_eq!(json_field(&r.body, "Tag"), Some("sandbox"));
        assert!(r.header("x-ratelimit").is_some());
        assert!(r.header("x-ratelimit-remaining").is_some());
        assert!(r.header("x-ratelimit-reset").is_some());
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }

    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 2);
    assert_eq!(sandbox.connections(), 1);
    assert_eq!(
        sandbox.client_cert_cns(),
        vec![Some(sandbox.client_id().to_string())]
    );
    let log = sandbox.request_log();
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|r| r.connection == 1 && r.status == Some(200)));
}

#[test]
fn tls12_works_too() {
    let sandbox = start();
    let identity = sandbox.issue_client_identity().unwrap();
    let config = client_config(&sandbox, Some(&identity), &[&rustls::version::TLS12]);
    let mut tls = connect_with(&sandbox, config);
    fetch_token(&mut tls, &sandbox);
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn post_echoes_the_body_with_an_id_and_replays_an_idempotency_key() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    let auth = bearer(&fetch_token(&mut tls, &sandbox));
    let path = format!("/v2.01/{}/users/natural", sandbox.client_id());
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "sandbox-key-0000000001"),
    ];
    let first = request(&mut tls, "POST", &path, &headers, r#"{"FirstName":"Ada"}"#);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(json_field(&first.body, "FirstName"), Some("Ada"));
    assert!(json_field(&first.body, "Id").is_some());
    let again = request(&mut tls, "POST", &path, &headers, r#"{"FirstName":"Ada"}"#);
    assert_eq!(again.body, first.body);
    let log = sandbox.request_log();
    assert_eq!(
        log[1].idempotency_key.as_deref(),
        Some("sandbox-key-0000000001")
    );
    // The log keeps the body answered to each API request (a replay's too), never the
    // token endpoint's (it carries the token).
    assert_eq!(log[0].response_body, None);
    assert_eq!(log[1].response_body.as_deref(), Some(first.body.as_bytes()));
    assert_eq!(log[2].response_body.as_deref(), Some(again.body.as_bytes()));

    let put = request(
        &mut tls,
        "PUT",
        &user_path(&sandbox, "77"),
        &[("Authorization", &auth)],
        r#"{"Tag":"x"}"#,
    );
    assert_eq!(json_field(&put.body, "Id"), Some("77"));
}

#[test]
fn env_vars_describe_the_sandbox() {
    let sandbox = start();
    let vars = sandbox.env_vars("/tmp/c.pem", "/tmp/k.pem", "/tmp/ca.pem");
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("MTLS_BASE_URL"), sandbox.base_url());
    assert_eq!(
        sandbox.base_url(),
        format!("https://localhost:{}", sandbox.addr().port())
    );
    assert_eq!(get("MTLS_CLIENT_ID"), sandbox.client_id());
    assert_eq!(get("MTLS_API_KEY"), sandbox.api_key());
    assert_eq!(get("MTLS_CERT_PATH"), "/tmp/c.pem");
    assert_eq!(get("MTLS_KEY_PATH"), "/tmp/k.pem");
    assert_eq!(get("MTLS_CA_PATH"), "/tmp/ca.pem");
    assert!(!format!("{sandbox:?}").contains(sandbox.api_key()));
}

// ---- what the server checks -------------------------------------------------------------

#[test]
fn bad_basic_credentials_get_401_with_a_mangopay_error_body() {
    let sandbox = start_with(|c| c.api_key = Some("right-key".into()));
    assert_eq!(sandbox.api_key(), "right-key");
    let mut tls = connect(&sandbox);
    let wrong = format!(
        "Basic {}",
        base64_encode(&format!("{}:wrong-key", sandbox.client_id()))
    );
    let r = request(
        &mut tls,
        "POST",
        "/v2.01/oauth/token",
        &[("Authorization", &wrong), FORM],
        GRANT,
    );
    assert_eq!(r.status, 401);
    for field in ["Message", "Type", "Id", "Date"] {
        assert!(
            json_field(&r.body, field).is_some(),
            "{field} in {}",
            r.body
        );
    }
    assert!(r.body.contains(r#""errors":{"#));
    // The connection stays usable, and the right credentials work on it.
    fetch_token(&mut tls, &sandbox);
    assert_eq!(sandbox.token_requests(), 2);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn token_request_needs_the_form_content_type_and_grant() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    let basic = ("Authorization", sandbox.basic_authorization());
    let r = request(
        &mut tls,
        "POST",
        "/v2.01/oauth/token",
        &[basic, ("Content-Type", "application/json")],
        GRANT,
    );
    assert_eq!(r.status, 400);
    let r = request(
        &mut tls,
        "POST",
        "/v2.01/oauth/token",
        &[basic, FORM],
        "grant_type=password",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("grant_type"));
}

#[test]
fn api_calls_need_a_valid_bearer_token_and_the_right_client_id() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    let path = user_path(&sandbox, "1");
    assert_eq!(request(&mut tls, "GET", &path, &[], "").status, 401);
    let r = request(
        &mut tls,
        "GET",
        &path,
        &[("Authorization", "Bearer 00000000000000000000000000000000")],
        "",
    );
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));

    let auth = bearer(&fetch_token(&mut tls, &sandbox));
    let r = request(
        &mut tls,
        "GET",
        "/v2.01/someone-else/users/1",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(r.status, 403);
    assert!(json_field(&r.body, "Message").is_some());
}

#[test]
fn only_content_length_bodies_are_accepted() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    tls.write_all(
        b"POST /v2.01/oauth/token HTTP/1.1\r\nHost: localhost\r\n\
          Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut tls).unwrap().status, 411);

    let mut tls = connect(&sandbox);
    tls.write_all(b"POST /v2.01/oauth/token HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let r = read_response(&mut tls).unwrap();
    assert_eq!(r.status, 411);
    assert_eq!(r.header("connection"), Some("close"));

    let mut tls = connect(&sandbox);
    tls.write_all(b"GARBAGE\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut tls).unwrap().status, 400);
}

#[test]
fn a_handshake_without_a_client_cert_fails() {
    let sandbox = start();
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let mut tls = connect_with(&sandbox, client_config(&sandbox, None, versions));
        // With TLS 1.3 the client thinks the handshake is done after its Finished; the
        // server's alert arrives on the next read. With TLS 1.2 the handshake itself fails.
        let wrote = tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let read = wrote.and_then(|()| read_response(&mut tls).map(|_| ()));
        let err = read.unwrap_err();
        assert!(
            err.to_string().contains("CertificateRequired")
                || err.to_string().contains("HandshakeFailure"),
            "{err}"
        );
    }
    assert_eq!(sandbox.connections(), 0);
    assert_eq!(sandbox.api_requests() + sandbox.token_requests(), 0);
}

#[test]
fn client_certs_from_another_ca_or_without_client_auth_are_rejected() {
    let sandbox = start();
    let stranger = mtls_sandbox::TestCa::new("not the sandbox CA").unwrap();
    let foreign = stranger.issue(&IssueSpec::client("intruder")).unwrap();
    let mut spec = IssueSpec::client("server-only");
    spec.usage = Usage::ServerOnlyEku;
    let server_only = sandbox.issue(&spec).unwrap();
    for identity in [&foreign, &server_only] {
        let config = client_config(&sandbox, Some(identity), rustls::DEFAULT_VERSIONS);
        let mut tls = connect_with(&sandbox, config);
        let wrote = tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(wrote
            .and_then(|()| read_response(&mut tls).map(|_| ()))
            .is_err());
    }
    assert_eq!(sandbox.connections(), 0);
}

// ---- knobs: one assertion each ----------------------------------------------------------

#[test]
fn knob_token_lifetime_secs() {
    let sandbox = start_with(|c| c.token_lifetime_secs = 1);
    let mut tls = connect(&sandbox);
    let r = token_response(&mut tls, &sandbox);
    assert_eq!(json_field(&r.body, "expires_in"), Some("1"));
    let auth = bearer(json_field(&r.body, "access_token").unwrap());
    let path = user_path(&sandbox, "1");
    assert_eq!(
        request(&mut tls, "GET", &path, &[("Authorization", &auth)], "").status,
        200
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        request(&mut tls, "GET", &path, &[("Authorization", &auth)], "").status,
        401
    );
    // Changed at runtime: applies to tokens issued afterwards.
    sandbox.knobs().set_token_lifetime_secs(0);
    let r = token_response(&mut tls, &sandbox);
    assert_eq!(json_field(&r.body, "expires_in"), Some("0"));
}

#[test]
fn knob_force_401_count_revokes_the_token() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    let auth = bearer(&fetch_token(&mut tls, &sandbox));
    let path = user_path(&sandbox, "1");
    sandbox.knobs().set_force_401_count(1);
    let first = request(&mut tls, "GET", &path, &[("Authorization", &auth)], "");
    let second = request(&mut tls, "GET", &path, &[("Authorization", &auth)], "");
    let fresh = bearer(&fetch_token(&mut tls, &sandbox));
    let third = request(&mut tls, "GET", &path, &[("Authorization", &fresh)], "");
    assert_eq!((first.status, second.status, third.status), (401, 401, 200));
}

#[test]
fn knob_revoke_all_tokens() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    let auth = bearer(&fetch_token(&mut tls, &sandbox));
    sandbox.knobs().revoke_all_tokens();
    let r = request(
        &mut tls,
        "GET",
        &user_path(&sandbox, "1"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn knob_sca_paths_answer_pending_user_action_and_keep_the_token() {
    let sandbox = start();
    let sca = format!("/v2.01/{}/users/9/wallets", sandbox.client_id());
    sandbox.knobs().add_sca_path(&sca);
    let mut tls = connect(&sandbox);
    let auth = bearer(&fetch_token(&mut tls, &sandbox));
    let r = request(&mut tls, "GET", &sca, &[("Authorization", &auth)], "");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("PendingUserAction RedirectUrl=https://sandbox.example/sca/"));
    let after = request(
        &mut tls,
        "GET",
        &user_path(&sandbox, "9"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(after.status, 200);
}

#[test]
fn knob_truncate_next_response() {
    let sandbox = start();
    let mut tls = connect(&sandbox);
    sandbox.knobs().set_truncate_next_response(true);
    send(
        &mut tls,
        "POST",
        "/v2.01/oauth/token",
        &[("Authorization", sandbox.basic_authorization()), FORM],
        GRANT,
    );
    let mut raw = Vec::new();
    let err = tls.read_to_end(&mut raw).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), declared / 2);
}

#[test]
fn knob_slow_response_ms() {
    let sandbox = start_with(|c| c.slow_response_ms = 300);
    let mut tls = connect(&sandbox);
    let started = Instant::now();
    fetch_token(&mut tls, &sandbox);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn knob_close_after_each_response() {
    let sandbox = start();
    sandbox.knobs().set_close_after_each_response(true);
    let mut tls = connect(&sandbox);
    let r = token_response(&mut tls, &sandbox);
    assert_eq!(r.header("connection"), Some("close"));
    // Closed cleanly (close_notify): end of stream, not an error.
    let mut rest = Vec::new();
    assert_eq!(tls.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn knob_close_before_response_count_reads_the_request_and_answers_nothing() {
    let sandbox = start_with(|c| c.close_before_response_count = 1);
    let mut tls = connect(&sandbox);
    let auth = bearer("0123");
    send(
        &mut tls,
        "POST",
        &user_path(&sandbox, "1"),
        &[("Authorization", &auth)],
        "{}",
    );
    let mut raw = Vec::new();
    let result = tls.read_to_end(&mut raw);
    assert!(result.is_err() && raw.is_empty(), "{result:?} {raw:?}");
    let log = sandbox.request_log();
    assert_eq!((log.len(), log[0].status), (1, None));
    // Only the next one: a new connection is answered.
    let mut tls = connect(&sandbox);
    fetch_token(&mut tls, &sandbox);
}

#[test]
fn knob_token_response_override() {
    let sandbox = start();
    sandbox
        .knobs()
        .set_token_response_override(Some((200, r#"{"access_token":"#.into())));
    let mut tls = connect(&sandbox);
    let r = token_response(&mut tls, &sandbox);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"access_token":"#));
    sandbox.knobs().set_token_response_override(None);
    fetch_token(&mut tls, &sandbox);
}

#[test]
fn knob_require_client_cert_off_never_asks_for_one() {
    let sandbox = start_with(|c| c.require_client_cert = false);
    let mut tls = connect_with(
        &sandbox,
        client_config(&sandbox, None, rustls::DEFAULT_VERSIONS),
    );
    fetch_token(&mut tls, &sandbox);
    assert_eq!(sandbox.client_cert_cns(), vec![None]);
}

// ---- lifecycle --------------------------------------------------------------------------

#[test]
fn the_server_stops_on_drop_even_with_an_idle_connection_open() {
    let sandbox = start();
    let addr = sandbox.addr();
    let mut tls = connect(&sandbox);
    fetch_token(&mut tls, &sandbox);
    let started = Instant::now();
    drop(sandbox);
    assert!(started.elapsed() < Duration::from_secs(3));
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err(), "the port is still open");
    // The open connection was closed by the server.
    let mut rest = Vec::new();
    assert!(tls.read_to_end(&mut rest).is_err() || rest.is_empty());
}

#[test]
fn shutdown_is_idempotent_and_invalid_configs_are_refused() {
    let mut sandbox = start();
    sandbox.shutdown();
    sandbox.shutdown();
    let mut config = SandboxConfig::default();
    config.client_id = "a/b".into();
    assert!(Sandbox::start(config).is_err());
}
