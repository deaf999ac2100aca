//! A real Apache httpd (mod_ssl) on loopback, for the one client-certificate setup that
//! rustls cannot serve: a certificate asked for *after* the handshake (issue 13).
//!
//! Include it with `#[path = "support/apache.rs"] mod apache;`. `bash scripts/test.sh`
//! installs Debian's `apache2`; `$APACHE_BIN` overrides the binary (default
//! `/usr/sbin/apache2`).
//!
//! [`ApacheServer::start`] writes its own `httpd.conf` into a fresh temporary directory
//! and runs `apache2 -X` (one process, in the foreground) on `127.0.0.1:<free port>` with
//! the TLS versions asked for. Static files: `GET /index.html` answers `ok`, `GET
//! /v2.01/users/1` answers `{"Id":"1"}`; a POST to `/v2.01/oauth/token` is refused `405` by
//! the static handler, once the certificate check let it through.
//!
//! Where the client certificate is required ([`CertCheck`]):
//! - `PerDirectory`: `SSLVerifyClient require` inside `<Location /v2.01>` only, as Apache's
//!   guides show for protecting part of a site. The handshake does not ask for the
//!   certificate; a request under `/v2.01` makes Apache ask afterwards: by renegotiation in
//!   TLS 1.2 (rustls refuses it, Apache logs `AH02261: Re-negotiation handshake failed` and
//!   sends a `handshake_failure` alert), by post-handshake authentication in TLS 1.3 (rustls
//!   does not offer it, Apache logs `AH10158: cannot perform post-handshake authentication`
//!   and answers `403`).
//! - `VirtualHost`: `SSLVerifyClient require` for the whole server: asked in the handshake.
//!
//! Run as root, Apache serves as `nobody`, so the directory and files are world-readable
//! (test material only).

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Apache requires the client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertCheck {
    /// In `<Location /v2.01>` only: asked after the handshake.
    PerDirectory,
    /// For the whole virtual host: asked in the handshake.
    VirtualHost,
}

/// A running Apache; killed and its directory removed on drop.
pub struct ApacheServer {
    child: Child,
    dir: PathBuf,
    /// The port on 127.0.0.1.
    pub port: u16,
}

impl ApacheServer {
    /// Starts Apache with the server certificate (PEM chain and key), the CA it checks
    /// client certificates against, `protocols` as in `SSLProtocol` (e.g. `+TLSv1.2`) and
    /// the check placement. Fails with [`io::ErrorKind::NotFound`] without Apache.
    pub fn start(
        ca_pem: &str,
        server_cert_pem: &str,
        server_key_pem: &str,
        protocols: &str,
        check: CertCheck,
    ) -> io::Result<ApacheServer> {
        let bin = std::env::var_os("APACHE_BIN")
            .map_or_else(|| PathBuf::from("/usr/sbin/apache2"), PathBuf::from);
        if !bin.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "apache2 not found: run `bash scripts/test.sh` (it installs apache2), or set APACHE_BIN",
            ));
        }
        let dir = temp_dir()?;
        fs::create_dir_all(dir.join("www/v2.01/users"))?;
        fs::write(dir.join("www/index.html"), "ok")?;
        fs::write(dir.join("www/v2.01/users/1"), r#"{"Id":"1"}"#)?;
        fs::write(dir.join("ca.pem"), ca_pem)?;
        fs::write(dir.join("server.pem"), server_cert_pem)?;
        fs::write(dir.join("server.key"), server_key_pem)?;
        for sub in ["", "www", "www/v2.01", "www/v2.01/users"] {
            fs::set_permissions(dir.join(sub), fs::Permissions::from_mode(0o755))?;
        }
        let mut last = io::Error::other("no port tried");
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            fs::write(dir.join("httpd.conf"), config(&dir, port, protocols, check))?;
            match launch(&bin, &dir, port) {
                Ok(child) => return Ok(ApacheServer { child, dir, port }),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Apache's error log so far (where it says why it refused).
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The access log so far: `REQUEST-LINE STATUS verify=SSL_CLIENT_VERIFY dn=SUBJECT`.
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for ApacheServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn launch(bin: &Path, dir: &Path, port: u16) -> io::Result<Child> {
    let mut child = Command::new(bin)
        .arg("-X")
        .arg("-f")
        .arg(dir.join("httpd.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("stderr.log"))?)
        .spawn()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    let problem = loop {
        if let Some(status) = child.try_wait()? {
            break format!("apache2 exited early ({status})");
        }
        // The pid file is written once the listener is bound: a connect then reaches us.
        if dir.join("httpd.pid").is_file()
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            break format!("apache2 not accepting on {addr} after 10 s");
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
    let kind = if detail.contains("Address already in use") {
        io::ErrorKind::AddrInUse
    } else {
        io::ErrorKind::Other
    };
    Err(io::Error::new(kind, detail))
}

fn config(dir: &Path, port: u16, protocols: &str, check: CertCheck) -> String {
    let d = dir.display();
    let m = "/usr/lib/apache2/modules";
    let (server_wide, per_directory) = match check {
        CertCheck::VirtualHost => ("SSLVerifyClient require\nSSLVerifyDepth 2", ""),
        CertCheck::PerDirectory => (
            "",
            "<Location /v2.01>\n  SSLVerifyClient require\n  SSLVerifyDepth 2\n</Location>",
        ),
    };
    format!(
        r#"ServerRoot {d}
DefaultRuntimeDir {d}
PidFile {d}/httpd.pid
Mutex file:{d}
Listen 127.0.0.1:{port}
ServerName localhost
User nobody
Group nogroup
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule ssl_module {m}/mod_ssl.so
ErrorLog {d}/error.log
LogLevel info
LogFormat "%r %>s verify=%{{SSL_CLIENT_VERIFY}}x dn=%{{SSL_CLIENT_S_DN}}x" short
CustomLog {d}/access.log short
DocumentRoot {d}/www
<Directory {d}/www>
  Require all granted
  AllowOverride None
</Directory>
SSLEngine on
SSLProtocol -all {protocols}
SSLCertificateFile {d}/server.pem
SSLCertificateKeyFile {d}/server.key
SSLCACertificateFile {d}/ca.pem
{server_wide}
{per_directory}
"#
    )
}

/// A new directory under the system temp dir.
fn temp_dir() -> io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mtls-apache-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir)?;
    Ok(dir)
}
