//! End-to-end tests of the `mtls` command: the built binary against an in-process sandbox on
//! loopback, configured only through the `MTLS_*` variables (`Sandbox::env_vars`).
//!
//! Every error case also checks that no secret reached stdout or stderr: the API key, access
//! tokens handed out by the (overridden) token endpoint, and the lines of the private key PEM.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_sandbox::{IssueSpec, Issued, Sandbox, SandboxConfig, TestCa};

const BIN: &str = env!("CARGO_BIN_EXE_mtls");

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "mtls-cli-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sandbox, the client files written for it, and the variables that point at them.
struct Setup {
    sandbox: Sandbox,
    _dir: TempDir,
    env: Vec<(String, String)>,
    key_pem: String,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_config(SandboxConfig::default())
    }

    fn with_config(config: SandboxConfig) -> Setup {
        let sandbox = Sandbox::start(config).unwrap();
        let identity = sandbox.issue_client_identity().unwrap();
        Setup::with_identity(sandbox, &identity)
    }

    /// Writes `identity` (and the sandbox CA) to files and builds the environment.
    fn with_identity(sandbox: Sandbox, identity: &Issued) -> Setup {
        let dir = TempDir::new();
        let (cert, key, ca) = (
            dir.path("cert.pem"),
            dir.path("key.pem"),
            dir.path("ca.pem"),
        );
        let key_pem = identity.key_pem.as_ref().unwrap().to_string();
        std::fs::write(&cert, &identity.cert_pem).unwrap();
        std::fs::write(&key, &key_pem).unwrap();
        std::fs::write(&ca, sandbox.ca_pem()).unwrap();
        let env = sandbox.env_vars(&cert, &key, &ca);
        Setup {
            sandbox,
            _dir: dir,
            env,
            key_pem,
        }
    }

    /// The environment with `name` replaced (or removed when `value` is `None`).
    fn env_with(&self, name: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut env: Vec<_> = self
            .env
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        if let Some(v) = value {
            env.push((name.into(), v.into()));
        }
        env
    }

    fn run(&self, args: &[&str]) -> Output {
        mtls(&self.env, args, None)
    }

    /// The secrets of this setup: the API key and every base64 line of the key PEM.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.sandbox.api_key().to_owned()];
        secrets.extend(
            self.key_pem
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(String::from),
        );
        secrets
    }
}

/// Runs the binary with exactly `env` (nothing inherited), optional stdin.
fn mtls(env: &[(String, String)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("the mtls binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails when any secret appears in the output.
fn assert_no_secrets(o: &Output, secrets: &[String]) {
    let (out, err) = (stdout(o), stderr(o));
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!out.contains(secret.as_str()), "secret in stdout: {out}");
        assert!(!err.contains(secret.as_str()), "secret in stderr: {err}");
    }
    assert!(!out.contains("PRIVATE KEY") && !err.contains("PRIVATE KEY"));
}

#[test]
fn get_two_paths_prints_both_bodies_in_order_with_one_token_and_one_connection() {
    let s = Setup::new();
    let o = s.run(&[
        "request",
        "GET",
        "/v2.01/sandbox-client/users/111",
        "/v2.01/{client_id}/wallets/222",
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains(r#""Id":"111""#) && lines[0].contains("users"));
    assert!(lines[1].contains(r#""Id":"222""#) && lines[1].contains("wallets"));
    assert_eq!(stderr(&o), "");
    assert_eq!(s.sandbox.token_requests(), 1);
    assert_eq!(s.sandbox.connections(), 1);
    assert_eq!(s.sandbox.api_requests(), 2);
    let log = s.sandbox.request_log();
    let targets: Vec<&str> = log.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/v2.01/oauth/token",
            "/v2.01/sandbox-client/users/111",
            "/v2.01/sandbox-client/wallets/222"
        ]
    );
}

#[test]
fn http_404_exits_1_with_one_line_naming_the_path_and_status() {
    let s = Setup::new();
    let o = s.run(&["request", "GET", "/nope/missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "", "an error body is not printed to stdout");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mtls: GET /nope/missing: HTTP 404"),
        "{err}"
    );
    assert!(
        err.contains("ressource_not_found"),
        "the Mangopay error: {err}"
    );
    assert_no_secrets(&o, &s.secrets());
}

#[test]
fn bodies_before_a_failure_are_printed_and_the_failure_named() {
    let s = Setup::new();
    let o = s.run(&[
        "request",
        "GET",
        "/v2.01/sandbox-client/users/1",
        "/nope",
        "/v2.01/sandbox-client/users/3",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().next().unwrap().contains(r#""Id":"1""#));
    assert!(out.lines().nth(1).unwrap().contains(r#""Id":"3""#));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("GET /nope: HTTP 404"), "{err}");
    assert_eq!(s.sandbox.connections(), 1);
    assert_eq!(s.sandbox.token_requests(), 1);
}

#[test]
fn bad_api_key_exits_1_naming_the_token_exchange_without_the_key() {
    let s = Setup::new();
    let wrong = "wrong-api-key-5f3a9c1e7b";
    let env = s.env_with("MTLS_API_KEY", Some(wrong));
    let o = mtls(
        &env,
        &[
            "request",
            "GET",
            "/v2.01/sandbox-client/users/1",
            "/v2.01/sandbox-client/users/2",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line for both paths: {err}");
    assert!(err.contains("token exchange"), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("/v2.01/sandbox-client/users/1, /v2.01/sandbox-client/users/2"));
    let mut secrets = s.secrets();
    secrets.push(wrong.into());
    assert_no_secrets(&o, &secrets);
    assert_eq!(s.sandbox.token_requests(), 1, "no retry loop");
    assert_eq!(s.sandbox.api_requests(), 0);
}

#[test]
fn a_token_the_api_refuses_is_never_printed() {
    let s = Setup::new();
    // A well-formed token the API does not know: the call gets 401, one refresh, 401 again.
    let token = "tok-7e1d2c3b4a5f69788796a5b4c3d2e1f0";
    s.sandbox.knobs().set_token_response_override(Some((
        200,
        format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#),
    )));
    let o = s.run(&["request", "GET", "/v2.01/sandbox-client/users/1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("GET /v2.01/sandbox-client/users/1: HTTP 401"),
        "{err}"
    );
    assert_eq!(s.sandbox.token_requests(), 2, "one refresh, no loop");
    let mut secrets = s.secrets();
    secrets.push(token.into());
    assert_no_secrets(&o, &secrets);
}

#[test]
fn a_malformed_token_response_is_a_typed_error_without_the_token() {
    let s = Setup::new();
    let token = "tok-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    s.sandbox.knobs().set_token_response_override(Some((
        200,
        format!(r#"{{"access_token":"{token}","token_type":"mac","expires_in":3600}}"#),
    )));
    let o = s.run(&["request", "GET", "/v2.01/sandbox-client/users/1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("token exchange: token_type is not Bearer"),
        "{err}"
    );
    let mut secrets = s.secrets();
    secrets.push(token.into());
    assert_no_secrets(&o, &secrets);
}

#[test]
fn post_with_data_echoes_from_text_file_and_stdin() {
    let s = Setup::new();
    let o = s.run(&[
        "request",
        "POST",
        "/v2.01/{client_id}/users/natural",
        "--data",
        r#"{"FirstName":"Ada"}"#,
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(
        stdout(&o).contains(r#""FirstName":"Ada""#),
        "{}",
        stdout(&o)
    );

    let dir = TempDir::new();
    let body = dir.path("body.json");
    std::fs::write(&body, r#"{"LastName":"Lovelace"}"#).unwrap();
    let at = format!("@{}", body.display());
    let o = s.run(&["request", "PUT", "/v2.01/sandbox-client/users/9", "-d", &at]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains(r#""Id":"9""#));
    assert!(stdout(&o).contains(r#""LastName":"Lovelace""#));

    let o = mtls(
        &s.env,
        &[
            "request",
            "post",
            "/v2.01/sandbox-client/wallets",
            "--data",
            "-",
            "-H",
            "Idempotency-Key: cli-test-0000000001",
        ],
        Some(br#"{"Currency":"EUR"}"#),
    );
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains(r#""Currency":"EUR""#));
    let last = s.sandbox.request_log().pop().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.idempotency_key.as_deref(), Some("cli-test-0000000001"));
}

#[test]
fn check_prints_subject_issuer_and_days_to_expiry() {
    let s = Setup::new();
    let o = s.run(&["check"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("subject:      CN=sandbox-client"), "{out}");
    assert!(
        out.contains("issuer:       CN=mtls-core sandbox CA"),
        "{out}"
    );
    assert!(out.contains("ECDSA P-256"), "{out}");
    assert!(out.contains("clientAuth:   allowed"), "{out}");
    // Valid for about 365 days from now.
    assert!(
        out.contains("expires in:   364 days") || out.contains("expires in:   365 days"),
        "{out}"
    );
    assert_eq!(stderr(&o), "");
    assert_no_secrets(&o, &s.secrets());
}

#[test]
fn check_of_an_expired_certificate_exits_1() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut spec = IssueSpec::client("expired-client");
    spec.not_before_unix = now - 400 * 86_400;
    spec.not_after_unix = now - 35 * 86_400;
    let issued = sandbox.issue(&spec).unwrap();
    let s = Setup::with_identity(sandbox, &issued);
    let o = s.run(&["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("CN=expired-client"));
    assert!(stderr(&o).contains("expired"), "{}", stderr(&o));
    assert_no_secrets(&o, &s.secrets());

    // The same identity cannot even configure a request: a configuration error.
    let o = s.run(&["request", "GET", "/v2.01/sandbox-client/users/1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expired"), "{}", stderr(&o));
    assert_eq!(s.sandbox.connections(), 0);
}

#[test]
fn an_identity_expiring_soon_works_with_a_warning_on_stderr() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut spec = IssueSpec::client("sandbox-client");
    spec.not_after_unix = now + 10 * 86_400 - 60;
    let issued = sandbox.issue(&spec).unwrap();
    let s = Setup::with_identity(sandbox, &issued);
    let o = s.run(&["request", "GET", "/v2.01/sandbox-client/users/1"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("mtls: warning: the client certificate expires in 9 days"),
        "{err}"
    );
    let o = s.run(&["check"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("mtls: warning: the client certificate expires in 9 days"));
}

#[test]
fn a_certificate_from_another_ca_fails_the_handshake_with_exit_1() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let other = TestCa::new("some other CA").unwrap();
    let issued = other.issue(&IssueSpec::client("sandbox-client")).unwrap();
    let s = Setup::with_identity(sandbox, &issued);
    let o = s.run(&["request", "GET", "/v2.01/sandbox-client/users/1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("GET /v2.01/sandbox-client/users/1: TLS"),
        "{err}"
    );
    assert_eq!(s.sandbox.token_requests(), 0);
    assert_no_secrets(&o, &s.secrets());
}

#[test]
fn missing_configuration_exits_2() {
    let o = mtls(&[], &["request", "GET", "/v2.01/x/users/1"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("MTLS_BASE_URL"), "{err}");
    assert!(err.contains("MTLS_API_KEY"), "{err}");

    // Credentials but no identity.
    let s = Setup::new();
    let env: Vec<_> = s
        .env
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "MTLS_CERT_PATH" | "MTLS_KEY_PATH"))
        .cloned()
        .collect();
    let o = mtls(
        &env,
        &["request", "GET", "/v2.01/sandbox-client/users/1"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no client identity"), "{}", stderr(&o));
    assert_no_secrets(&o, &s.secrets());

    let o = mtls(&[], &["check"], None);
    assert_eq!(o.status.code(), Some(2));

    // A key file that is not there.
    let env = s.env_with("MTLS_KEY_PATH", Some("/nonexistent/key.pem"));
    let o = mtls(&env, &["check"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("private key file: file not found"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.sandbox.connections(), 0);
}

#[test]
fn flags_win_over_environment_variables() {
    let s = Setup::new();
    let base = s.sandbox.base_url();
    let env = s.env_with("MTLS_BASE_URL", Some("https://127.0.0.1:1"));
    let env: Vec<_> = env
        .into_iter()
        .map(|(n, v)| match n.as_str() {
            "MTLS_CERT_PATH" => (n, "/nonexistent/cert.pem".into()),
            _ => (n, v),
        })
        .collect();
    let cert = s
        .env
        .iter()
        .find(|(n, _)| n == "MTLS_CERT_PATH")
        .unwrap()
        .1
        .clone();
    let o = mtls(
        &env,
        &[
            "request",
            "GET",
            "/v2.01/sandbox-client/users/5",
            "--base-url",
            &base,
            "--cert",
            &cert,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains(r#""Id":"5""#));
}

#[test]
fn usage_errors_exit_2_without_echoing_header_values() {
    let s = Setup::new();
    let o = s.run(&["request", "GET"]);
    assert_eq!(o.status.code(), Some(2), "no PATH");
    let o = s.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = s.run(&[
        "request",
        "GET",
        "/v2.01/sandbox-client/users/1",
        "-H",
        "Authorization: Bearer hand-made-secret-123",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        !stderr(&o).contains("hand-made-secret-123"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.sandbox.connections(), 0);
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let s = Setup::new();
    let mut env = s.env.clone();
    env.push(("MTLS_KEY_PASSPHRASE".into(), "passphrase-4b1d7e".into()));
    env.push(("MTLS_PKCS12_PASSWORD".into(), "p12-password-9c2e".into()));
    let mut secrets = s.secrets();
    secrets.push("passphrase-4b1d7e".into());
    secrets.push("p12-password-9c2e".into());
    for args in [
        &["request", "--help"][..],
        &["check", "--help"],
        &["sandbox", "--help"],
        &["--help"],
    ] {
        let o = mtls(&env, args, None);
        assert_eq!(o.status.code(), Some(0));
        assert_no_secrets(&o, &secrets);
        if args[0] == "request" {
            let out = stdout(&o);
            assert!(out.contains("[env: MTLS_API_KEY]"), "{out}");
            assert!(out.contains("[env: MTLS_KEY_PASSPHRASE]"), "{out}");
        }
    }
}

/// Kills the child on drop, so a failing test leaves no sandbox running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sandbox_command_prints_an_environment_that_works() {
    let dir = TempDir::new();
    let files = dir.path("sandbox");
    let child = Command::new(BIN)
        .env_clear()
        .args(["sandbox", "--dir"])
        .arg(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut env = Vec::new();
    let mut transcript = String::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("sandbox output ended early: {transcript}"))
            .unwrap();
        transcript.push_str(&line);
        transcript.push('\n');
        if line.starts_with("# serving") {
            break;
        }
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').unwrap();
            let value = value.trim_matches('\'').to_owned();
            env.push((name.to_owned(), value));
        }
    }
    let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "MTLS_BASE_URL",
        "MTLS_CLIENT_ID",
        "MTLS_API_KEY",
        "MTLS_CERT_PATH",
        "MTLS_KEY_PATH",
        "MTLS_CA_PATH",
    ] {
        assert!(names.contains(&name), "{name} missing: {transcript}");
    }
    assert!(transcript.contains("listening on https://localhost:"));
    let key_path = Path::new(&env.iter().find(|(n, _)| n == "MTLS_KEY_PATH").unwrap().1);
    assert!(key_path.starts_with(&files));
    let key = std::fs::read_to_string(key_path).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    assert!(
        !transcript.contains("PRIVATE KEY"),
        "the key is only in its file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
    }

    let o = mtls(
        &env,
        &[
            "request",
            "GET",
            "/v2.01/{client_id}/users/77",
            "/v2.01/{client_id}/users/78",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().next().unwrap().contains(r#""Id":"77""#),
        "{out}"
    );
    assert!(
        out.lines().nth(1).unwrap().contains(r#""Id":"78""#),
        "{out}"
    );
    let o = mtls(&env, &["check"], None);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains("CN=sandbox-client"));
}

/// `openssl <args>`, which must succeed; its stdout.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (run `bash scripts/test.sh`, which installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn csr_writes_a_key_and_a_request_as_the_mangopay_guide_does_and_the_signed_certificate_loads() {
    let dir = TempDir::new();
    // A CA standing in for the dashboard, made by openssl.
    let (ca_key, ca_pem) = (dir.path("ca.key"), dir.path("ca.pem"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&ca_pem),
        "-subj",
        "/CN=dashboard CA",
        "-days",
        "800",
    ]);
    for (key_type, environment, algorithm, label) in [
        (
            "rsa2048",
            "sandbox",
            "sha256WithRSAEncryption",
            "PRIVATE KEY",
        ),
        ("p256", "production", "ecdsa-with-SHA256", "PRIVATE KEY"),
    ] {
        let (key, csr) = (
            dir.path(&format!("{key_type}.key")),
            dir.path(&format!("{key_type}.csr")),
        );
        let args = [
            "csr",
            "--client-id",
            "acme-42",
            "--environment",
            environment,
            "--key-type",
            key_type,
            "--key-out",
            &s(&key),
            "--csr-out",
            &s(&csr),
        ];
        let out = mtls(&[], &args, None);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("Developers > mTLS certificates"),
            "{}",
            stdout(&out)
        );
        let host = match environment {
            "sandbox" => "acme-42.sandbox.mangopay.com",
            _ => "acme-42.prod.mangopay.com",
        };
        // What openssl sees in the request: the subject in the guide's order, SAN, EKU, a
        // valid self-signature.
        let text = openssl(&["req", "-in", &s(&csr), "-verify", "-noout", "-text"]);
        assert!(
            text.contains(&format!("Subject: CN = {host}, O = Mangopay, C = LU")),
            "{text}"
        );
        assert!(text.contains(&format!("DNS:{host}")), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(text.contains(algorithm), "{text}");
        let key_pem = std::fs::read_to_string(&key).unwrap();
        assert!(
            key_pem.starts_with(&format!("-----BEGIN {label}-----")),
            "PKCS#8 by default"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the key is readable by its owner only");
        }
        // Never overwritten without --force.
        let again = mtls(&[], &args, None);
        assert_eq!(again.status.code(), Some(2));
        assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
        assert_eq!(
            std::fs::read_to_string(&key).unwrap(),
            key_pem,
            "the key is untouched"
        );

        // The dashboard signs it; the normal loader takes the pair.
        let cert = dir.path(&format!("{key_type}.pem"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca_pem),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-days",
            "400",
            "-copy_extensions",
            "copy",
            "-out",
            &s(&cert),
        ]);
        let identity = mtls_core::identity::Identity::from_pem(
            &std::fs::read(&cert).unwrap(),
            key_pem.as_bytes(),
        )
        .unwrap();
        assert!(identity.info().key_match_checked);
        let report = identity
            .check(mtls_core::io::std_adapter::wall_clock_now())
            .unwrap();
        // No warning: clientAuth made it through the CSR into the certificate.
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }
}

#[test]
fn csr_with_a_generic_subject_and_a_traditional_key() {
    let dir = TempDir::new();
    let (key, csr) = (dir.path("k.pem"), dir.path("r.csr"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = mtls(
        &[],
        &[
            "csr",
            "--subject",
            "CN=client.example.test,O=Example\\, Inc,C=FR",
            "--san",
            "client.example.test",
            "--san",
            "alt.example.test",
            "--key-type",
            "p256",
            "--traditional",
            "--key-out",
            &s(&key),
            "--csr-out",
            &s(&csr),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = openssl(&["req", "-in", &s(&csr), "-verify", "-noout", "-text"]);
    assert!(
        text.contains("Subject: CN = client.example.test, O = \"Example, Inc\", C = FR"),
        "{text}"
    );
    assert!(
        text.contains("DNS:client.example.test, DNS:alt.example.test"),
        "{text}"
    );
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    // A client id that cannot be a host name is refused before anything is written.
    let bad = mtls(
        &[],
        &[
            "csr",
            "--client-id",
            "no spaces",
            "--key-out",
            &s(&dir.path("x")),
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(!dir.path("x").exists());
}

/// Issue 13: `mtls check --connect` opens one connection (no token, no request) and says what
/// the server asked of the client certificate.
#[test]
fn check_connect_reports_the_handshake_the_accepted_cas_and_the_server_chain() {
    let s = Setup::new();
    let o = s.run(&["check", "--connect"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "formats:      certificate chain PEM (1 certificate(s), from a file); key PKCS#8 PEM",
        "key usage:    clientAuth",
        "chain vs CA:  verifies against the custom CA for clientAuth",
        "handshake:    TLS 1.3 completed",
        "cert asked:   yes, during the handshake",
        "CAs accepted: CN=mtls-core sandbox CA",
        "our issuer:   among the CAs the server accepts",
        "server chain: 0: subject CN=localhost; issuer CN=mtls-core sandbox CA",
        "server names: DNS:localhost",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // The sandbox counts the handshake on its own thread, maybe after the command exited.
    for _ in 0..200 {
        if s.sandbox.connections() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(s.sandbox.connections(), 1);
    assert_eq!(s.sandbox.token_requests(), 0);
    assert_eq!(s.sandbox.api_requests(), 0);
    assert_no_secrets(&o, &s.secrets());
}

/// A certificate the server refuses: the handshake fails with the refusal named, exit 1.
#[test]
fn check_connect_with_a_certificate_from_another_ca_exits_1_naming_the_refusal() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let other = TestCa::new("some other CA").unwrap();
    let issued = other.issue(&IssueSpec::client("sandbox-client")).unwrap();
    let s = Setup::with_identity(sandbox, &issued);
    let o = s.run(&["check", "--connect"]);
    assert_eq!(o.status.code(), Some(1), "stdout: {}", stdout(&o));
    assert!(
        stdout(&o).contains("chain vs CA:  does not verify"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("handshake:    failed"));
    let err = stderr(&o);
    assert!(
        err.contains("the server rejected the client certificate"),
        "{err}"
    );
    assert!(!err.contains("request not sent"), "{err}");
    assert_no_secrets(&o, &s.secrets());
}

/// A server that never asks for the certificate (the sandbox with client auth off, as a
/// non-mTLS host would be): exit 1 with what to check.
#[test]
fn check_connect_to_a_server_that_does_not_ask_for_the_certificate_exits_1() {
    let s = Setup::new();
    s.sandbox.knobs().set_require_client_cert(false);
    let o = s.run(&["check", "--connect"]);
    assert_eq!(o.status.code(), Some(1), "stdout: {}", stdout(&o));
    assert!(stdout(&o).contains("cert asked:   NO"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("did not ask for a client certificate during the handshake"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_connect_without_a_base_url_is_a_configuration_error() {
    let s = Setup::new();
    let o = mtls(
        &s.env_with("MTLS_BASE_URL", None),
        &["check", "--connect"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--connect needs the base URL"),
        "{}",
        stderr(&o)
    );
}
