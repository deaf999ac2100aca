//! A real nginx on loopback that requires client certificates (`ssl_verify_client on`), so
//! the client can be tested against a server we did not write (issue 5).
//!
//! Include it from an integration test with
//! `#[path = "support/nginx.rs"] mod nginx;`. It needs only `std` and the `base64` crate.
//!
//! # What the server does
//!
//! [`NginxServer::start`] writes its own `nginx.conf` into a fresh temporary directory (the
//! prefix `-p`; config, pid file, error and access logs and every `*_temp_path` live there)
//! and runs `nginx -g 'daemon off;'` in the foreground on `127.0.0.1:<free port>`,
//! TLS 1.2 and 1.3, HTTP/1.1 with keep-alive. Routes (answers are `return`s from `map`/`if`,
//! no upstream and no scripting module):
//!
//! - `POST /v2.01/oauth/token`: `200` with
//!   `{"access_token":"nginx-token-1","token_type":"Bearer","expires_in":3600}` when
//!   `Authorization` is exactly `Basic base64(client_id:api_key)` **and** `Content-Type` is
//!   `application/x-www-form-urlencoded` (optionally followed by `;` parameters, e.g.
//!   `; charset=UTF-8`); otherwise `401` with a Mangopay-style body
//!   `{"Message":..,"Type":"invalid_client","Id":..,"Date":<unix>,"errors":{}}`.
//!   Another method on that path: `405` (`"Type":"method_not_allowed"`).
//! - `GET /v2.01/{client_id}/users/{id}`: `200` with
//!   `{"Id":"<id>","Tag":"nginx","ClientCertDN":"<$ssl_client_s_dn>"}` when
//!   `Authorization` is exactly `Bearer nginx-token-1`; otherwise `401`
//!   (`"Type":"invalid_token"`). `ClientCertDN` is nginx's RFC 2253 form (for an rcgen cert
//!   with only a CN: `CN=<name>`); it is pasted into the JSON unescaped, so give client
//!   certificates a DN without `"` or `\`.
//! - anything else: `404` (`"Type":"ressource_not_found"`).
//!
//! Every response that nginx produces from the config (200, 401, 404, 405), and also nginx's
//! own 400 pages, carries `X-RateLimit: 1, 2, 3, 4`,
//! `X-RateLimit-Remaining: 2299, 2298, 2297, 2296` and
//! `X-RateLimit-Reset: 1700000000, 1700000060, 1700000120, 1700000180`
//! (`add_header ... always`). All JSON answers have `Content-Type: application/json`.
//!
//! # A client without a certificate: HTTP 400, not a TLS alert
//!
//! With `ssl_verify_client on`, nginx asks for a certificate (CertificateRequest listing
//! the CA from `ssl_client_certificate`) but does **not** fail the handshake when none, or a
//! bad one, is sent: its OpenSSL verify callback accepts everything and it does not set
//! `SSL_VERIFY_FAIL_IF_NO_PEER_CERT`. The TLS handshake therefore **completes** (TLS 1.2
//! and 1.3 alike, no alert), and the check happens when the first HTTP request is read:
//!
//! - no client certificate: `HTTP/1.1 400 Bad Request`, `Content-Type: text/html`, body
//!   containing `400 No required SSL certificate was sent`, `Connection: close`; then
//!   nginx sends a `close_notify` alert (level warning, an orderly TLS close) and closes
//!   the TCP connection. On the wire (seen with `openssl s_client -msg`): the client answers
//!   the CertificateRequest with an empty Certificate message and the handshake finishes
//!   normally (in TLS 1.3 nginx then sends two NewSessionTickets).
//! - a certificate that does not verify against the CA (other issuer, expired, ...):
//!   `HTTP/1.1 400 Bad Request`, body containing `400 The SSL certificate error`, then close.
//!
//! Both are logged with status 400 and `$ssl_client_verify` = `NONE` resp. `FAILED:<reason>`.
//! A client test must thus expect a successful handshake followed by a 400 response (the
//! request is never routed: no 401/404 JSON).
//!
//! # Privileges
//!
//! The config has `master_process off;`: one nginx process serves everything. So it runs
//! the same as root and as an ordinary user (there are no worker processes that, under root,
//! would switch to `nobody` and then be unable to use files in our 0700 temp dir), and
//! [`Drop`]'s `SIGKILL` of the child stops the whole server (killing a master process with
//! `SIGKILL` would leave orphaned workers holding the port).
//!
//! # The nginx binary
//!
//! `$NGINX_BIN` if set, else `nginx` on `PATH`, else `/usr/sbin/nginx` (Debian puts it in
//! `/usr/sbin`, which an ordinary user's `PATH` often lacks). If none exists, `start`
//! returns an error of kind [`std::io::ErrorKind::NotFound`].
//!
//! # Access log
//!
//! One line per request:
//! `METHOD URI STATUS "SSL_CLIENT_S_DN" SSL_CLIENT_VERIFY conn=N req=M proto=TLSv1.3 reused=R`,
//! e.g. `GET /v2.01/cid/users/42 200 "CN=client" SUCCESS conn=3 req=2 proto=TLSv1.3 reused=.`
//! (`reused` is `$ssl_session_reused`: `r` on a resumed TLS session, `.` on a full handshake).
//! `conn` is nginx's connection serial number and `req` the request's number on that
//! connection, so keep-alive reuse shows as the same `conn` with growing `req` (`conn=1` is
//! `start`'s readiness probe, which sends no request: the first logged one is `conn=2` or
//! later). Without a client certificate the DN is logged as `"-"`. nginx writes
//! the line just *after* sending the response: use [`NginxServer::wait_access_log_lines`]
//! rather than reading [`NginxServer::access_log`] right after a response.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// The access token that the token endpoint hands out and the API accepts.
pub const NGINX_TOKEN: &str = "nginx-token-1";

/// How long `start` waits for one nginx to accept connections.
const READY_TIMEOUT: Duration = Duration::from_millis(4500);
/// How many ports `start` tries when another process took the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// A running nginx; stopped (killed) and its temp dir removed on drop.
pub struct NginxServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl NginxServer {
    /// Starts nginx as described in the module docs with the given PEMs (`ca_pem` verifies
    /// client certificates; `server_cert_pem` may hold a chain). `client_id` must be
    /// non-empty ASCII letters, digits, `_`, `-` or `.` (it is put into a regex location).
    /// Waits (under 5 s) until the port accepts connections; if the port was taken between
    /// choosing it and nginx binding it, retries on another port (bounded).
    pub fn start(
        ca_pem: &str,
        server_cert_pem: &str,
        server_key_pem: &str,
        client_id: &str,
        api_key: &str,
    ) -> io::Result<NginxServer> {
        Self::start_with_protocols(
            ca_pem,
            server_cert_pem,
            server_key_pem,
            client_id,
            api_key,
            "TLSv1.2 TLSv1.3",
        )
    }

    /// [`NginxServer::start`] offering TLS 1.2 only (nginx's `ssl_protocols TLSv1.2`).
    #[allow(dead_code)] // only some test crates use it
    pub fn start_tls12_only(
        ca_pem: &str,
        server_cert_pem: &str,
        server_key_pem: &str,
        client_id: &str,
        api_key: &str,
    ) -> io::Result<NginxServer> {
        Self::start_with_protocols(
            ca_pem,
            server_cert_pem,
            server_key_pem,
            client_id,
            api_key,
            "TLSv1.2",
        )
    }

    fn start_with_protocols(
        ca_pem: &str,
        server_cert_pem: &str,
        server_key_pem: &str,
        client_id: &str,
        api_key: &str,
        protocols: &str,
    ) -> io::Result<NginxServer> {
        if client_id.is_empty()
            || !client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("client_id {client_id:?}: only ASCII letters, digits, '_', '-', '.'"),
            ));
        }
        let bin = find_nginx()?;
        let dir = make_temp_dir()?;
        let result = (|| {
            fs::write(dir.join("ca.pem"), ca_pem)?;
            fs::write(dir.join("server.pem"), server_cert_pem)?;
            fs::write(dir.join("server.key"), server_key_pem)?;
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{api_key}"))
            );
            let mut last_err = None;
            for _ in 0..PORT_ATTEMPTS {
                let port = free_port()?;
                fs::write(
                    dir.join("nginx.conf"),
                    config(&dir, port, client_id, &basic, protocols),
                )?;
                match launch(&bin, &dir, port)? {
                    Ok(child) => return Ok((port, child)),
                    Err(e) => last_err = Some(e),
                }
            }
            Err(last_err.unwrap_or_else(|| io::Error::other("nginx did not start")))
        })();
        match result {
            Ok((port, child)) => Ok(NginxServer { port, child, dir }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// `https://localhost:PORT`. nginx listens on 127.0.0.1 only: a client that resolves
    /// `localhost` itself must use the IPv4 address (connect to [`NginxServer::addr`]).
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The access log so far (see the module docs for the line format).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// The access log once it has at least `lines` lines, or as it is after 3 s.
    pub fn wait_access_log_lines(&self, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let log = self.access_log();
            if log.lines().count() >= lines || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for NginxServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Starts nginx on `port` and waits until it accepts. The outer error is fatal; the inner
/// one means "try another port" (bind failure or nginx exited).
fn launch(bin: &Path, dir: &Path, port: u16) -> io::Result<io::Result<Child>> {
    let _ = fs::remove_file(dir.join("nginx.pid"));
    let _ = fs::remove_file(dir.join("error.log"));
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("stderr.log"))?)
        .spawn()?;
    let pid = child.id().to_string();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_TIMEOUT;
    let problem = loop {
        if let Some(status) = child.try_wait()? {
            break format!("nginx exited early ({status})");
        }
        let errors = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        if errors.contains("bind()") {
            break format!("nginx could not bind 127.0.0.1:{port}");
        }
        // nginx writes its pid file only after it has bound every listening socket, so a
        // connect that succeeds from then on reaches this nginx, not a port squatter.
        let pid_written = fs::read_to_string(dir.join("nginx.pid")).is_ok_and(|p| p.trim() == pid);
        if pid_written && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(Ok(child));
        }
        if Instant::now() >= deadline {
            break format!("nginx not accepting on 127.0.0.1:{port} after {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let detail = format!(
        "{problem}\n--- error.log\n{}\n--- stderr\n{}",
        fs::read_to_string(dir.join("error.log")).unwrap_or_default(),
        fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    );
    if problem.contains("bind") || detail.contains("Address already in use") {
        Ok(Err(io::Error::new(io::ErrorKind::AddrInUse, detail)))
    } else {
        // A config or certificate error does not go away on another port.
        Err(io::Error::other(detail))
    }
}

/// The nginx configuration. Paths are absolute, all inside `dir`.
fn config(dir: &Path, port: u16, client_id: &str, basic: &str, protocols: &str) -> String {
    let d = dir.display();
    let cid_re = client_id.replace('.', "\\.");
    let err = |message: &str, kind: &str| {
        format!(
            r#"'{{"Message":"{message}","Type":"{kind}","Id":"$request_id","Date":$unix_now,"errors":{{}}}}'"#
        )
    };
    let mut c = String::new();
    let _ = write!(
        c,
        r#"# Written by tests/support/nginx.rs.
# One process, no workers: same behaviour as root and non-root, and SIGKILL stops it all.
master_process off;
error_log {d}/error.log info;
pid {d}/nginx.pid;

events {{
    worker_connections 64;
}}

http {{
    # Map keys hold whole Authorization values (Basic base64(id:key)): longer than 64 bytes.
    map_hash_bucket_size 256;
    client_body_temp_path {d}/client_body_temp;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;

    log_format mtls '$request_method $request_uri $status "$ssl_client_s_dn" $ssl_client_verify conn=$connection req=$connection_requests proto=$ssl_protocol reused=$ssl_session_reused';
    access_log {d}/access.log mtls;

    # No extension-based types: every answer below is JSON.
    types {{ }}
    default_type application/json;
    charset off;
    server_tokens off;
    keepalive_timeout 60s;
    keepalive_requests 1000;

    map $msec $unix_now {{
        "~^(?<secs>[0-9]+)" $secs;
        default 0;
    }}
    map $http_authorization $basic_ok {{
        "{basic}" 1;
        default 0;
    }}
    map $content_type $form_ok {{
        "~*^application/x-www-form-urlencoded[ \t]*(;.*)?$" 1;
        default 0;
    }}
    map "$basic_ok$form_ok" $token_ok {{
        "11" 1;
        default 0;
    }}
    map $http_authorization $bearer_ok {{
        "Bearer {NGINX_TOKEN}" 1;
        default 0;
    }}

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;

        ssl_protocols {protocols};
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_client_certificate {d}/ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 3;
        # TLS 1.3 tickets are on by default; this also keeps TLS 1.2 session ids. A client
        # resumes only if it opts in (tests/resumption_nginx.rs).
        ssl_session_cache shared:mtls:1m;

        add_header X-RateLimit "1, 2, 3, 4" always;
        add_header X-RateLimit-Remaining "2299, 2298, 2297, 2296" always;
        add_header X-RateLimit-Reset "1700000000, 1700000060, 1700000120, 1700000180" always;

        location = /v2.01/oauth/token {{
            if ($request_method != POST) {{
                return 405 {method};
            }}
            if ($token_ok = 0) {{
                return 401 {unauth_client};
            }}
            return 200 '{{"access_token":"{NGINX_TOKEN}","token_type":"Bearer","expires_in":3600}}';
        }}

        location ~ "^/v2\.01/{cid_re}/users/(?<user_id>[^/]+)$" {{
            if ($bearer_ok = 0) {{
                return 401 {unauth_token};
            }}
            return 200 '{{"Id":"$user_id","Tag":"nginx","ClientCertDN":"$ssl_client_s_dn"}}';
        }}

        location / {{
            return 404 {not_found};
        }}
    }}
}}
"#,
        method = err("The token endpoint only accepts POST", "method_not_allowed"),
        unauth_client = err(
            "Authorization has been denied for this request: invalid client credentials",
            "invalid_client"
        ),
        unauth_token = err(
            "Authorization has been denied for this request.",
            "invalid_token"
        ),
        not_found = err("The ressource does not exist", "ressource_not_found"),
    );
    c
}

/// `$NGINX_BIN`, `nginx` on `PATH`, or the usual sbin locations.
fn find_nginx() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("NGINX_BIN") {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "nginx not found: run `bash scripts/test.sh` (it installs nginx-light), or set NGINX_BIN",
            )
        })
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A new, empty directory under the system temp dir.
fn make_temp_dir() -> io::Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let dir = std::env::temp_dir().join(format!(
            "mtls-nginx-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temp dir for nginx"))
}
