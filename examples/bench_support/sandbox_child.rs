//! A sandbox in a child process (this example run with `serve`), so the parent's
//! `getrusage(RUSAGE_SELF)` counts the clients' CPU only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use super::Fallible;

/// The longest a child sandbox lives, whatever the parent does.
const SERVER_LIFETIME: Duration = Duration::from_secs(900);

/// A sandbox running in a child process (`<example> serve`), with what a client needs.
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub base_url: String,
    pub client_id: String,
    pub api_key: String,
    pub basic: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// A client certificate from the sandbox's CA for `tests/fixtures/rsa2048-pkcs8.pem`.
    pub rsa_cert_pem: String,
}

pub struct Stats {
    pub token_requests: u64,
}

impl Server {
    pub fn start() -> Fallible<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        // The child's first lines: base URL, client id, API key, Basic header, then the
        // four PEMs (CA, P-256 client cert and key, RSA client cert), each ended by a line `.`.
        fn line(stdout: &mut BufReader<ChildStdout>) -> Fallible<String> {
            let mut text = String::new();
            stdout.read_line(&mut text)?;
            Ok(text.trim_end().to_string())
        }
        fn pem(stdout: &mut BufReader<ChildStdout>) -> Fallible<String> {
            let mut text = String::new();
            loop {
                let l = line(stdout)?;
                if l == "." {
                    return Ok(text);
                }
                if l.is_empty() || text.len() > 64 * 1024 {
                    return Err("the sandbox process did not describe itself".into());
                }
                text.push_str(&l);
                text.push('\n');
            }
        }
        let base_url = line(&mut stdout)?;
        let client_id = line(&mut stdout)?;
        let api_key = line(&mut stdout)?;
        let basic = line(&mut stdout)?;
        let ca_pem = pem(&mut stdout)?;
        let cert_pem = pem(&mut stdout)?;
        let key_pem = pem(&mut stdout)?;
        let rsa_cert_pem = pem(&mut stdout)?;
        Ok(Server {
            child,
            stdin,
            stdout,
            base_url,
            client_id,
            api_key,
            basic,
            ca_pem,
            cert_pem,
            key_pem,
            rsa_cert_pem,
        })
    }

    pub fn stats(&mut self) -> Fallible<Stats> {
        writeln!(self.stdin, "stats")?;
        let mut text = String::new();
        self.stdout.read_line(&mut text)?;
        Ok(Stats {
            token_requests: text.trim().parse()?,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its stdin stops the child; wait for it.
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// The child: a sandbox, described on stdout, then `stats` answered until `quit` or EOF.
pub fn serve() -> Fallible<bool> {
    std::thread::spawn(|| {
        std::thread::sleep(SERVER_LIFETIME);
        std::process::exit(2);
    });
    let mut config = mtls_sandbox::SandboxConfig::default();
    // reqwest may open a few more connections than it has callers (a new one when none is
    // back in its pool yet).
    config.max_connections = 256;
    let sandbox = mtls_sandbox::Sandbox::start(config)?;
    let issued = sandbox.issue_client_identity()?;
    let key = issued.key_pem.as_ref().ok_or("the sandbox issued no key")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sandbox.base_url())?;
    writeln!(out, "{}", sandbox.client_id())?;
    writeln!(out, "{}", sandbox.api_key())?;
    writeln!(out, "{}", sandbox.basic_authorization())?;
    let mut rsa = mtls_sandbox::IssueSpec::client("bench-rsa");
    rsa.public_key_der =
        Some(include_bytes!("../../tests/fixtures/rsa2048-pkcs8.spki.der").to_vec());
    let rsa = sandbox.issue(&rsa)?;
    for pem in [&sandbox.ca_pem(), &issued.cert_pem, key, &rsa.cert_pem] {
        writeln!(out, "{}\n.", pem.trim_end())?;
    }
    out.flush()?;
    for line in std::io::stdin().lines() {
        match line?.trim() {
            "stats" => {
                writeln!(out, "{}", sandbox.token_requests())?;
                out.flush()?;
            }
            _ => break,
        }
    }
    Ok(true)
}
