//! Shared by `tests/wasi_component.rs` and `examples/wasi_timing.rs`: finding the WASI
//! component (built by `wasm/build.sh`) and its two test hosts, writing certificates for
//! it, and running it with a time bound. Missing pieces fail loudly, naming the command
//! that provides them (`bash wasm/test-hosts.sh` provides all of them).
//!
//! The hosts take the same grants, input and output (see `wasm/host/src/main.rs`):
//!
//! - [`Host::Wasmtime`]: `wasm/host`, a Rust binary embedding the `wasmtime` and
//!   `wasmtime-wasi` crates (`MTLS_WASI_HOST=/path/to/mtls-wasi-host`, else
//!   `wasm/host/target/{release,debug}/mtls-wasi-host`);
//! - [`Host::Jco`]: `wasm/jco/host.mjs`, which transpiles the component with jco and runs it
//!   on Node (`NODE=/path/to/node`, else `node` on PATH; `npm ci` in `wasm/jco`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mtls_sandbox::Sandbox;

/// Longest a single host run may take before the test kills it.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The grants `wasmtime run -S inherit-network -S allow-ip-name-lookup` gives.
pub const NETWORK: &[&str] = &["inherit-network", "allow-ip-name-lookup"];

const SETUP: &str = "bash wasm/test-hosts.sh";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn component() -> PathBuf {
    let path = std::env::var_os("MTLS_WASI_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("wasm/target/mtls_wasi.wasm"));
    assert!(
        path.is_file(),
        "the WASI component is missing at {}: run `bash wasm/build.sh` (or `{SETUP}`), \
         or set MTLS_WASI_COMPONENT",
        path.display()
    );
    path
}

/// A component host; both run the same component with the same grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// `wasm/host`: Wasmtime embedded as a library.
    Wasmtime,
    /// `wasm/jco/host.mjs`: jco's transpiled component on Node.
    Jco,
}

impl Host {
    /// The program and the arguments before the subcommand's own.
    fn command(self, subcommand: &str) -> Command {
        match self {
            Host::Wasmtime => {
                let mut cmd = Command::new(rust_host());
                cmd.arg(subcommand);
                cmd
            }
            Host::Jco => {
                let script = repo().join("wasm/jco/host.mjs");
                let modules = repo().join("wasm/jco/node_modules/@bytecodealliance/jco");
                assert!(
                    modules.is_dir(),
                    "jco is not installed in wasm/jco: run `npm ci` there (or `{SETUP}`)"
                );
                let mut cmd = Command::new(node());
                cmd.arg(script).arg(subcommand);
                cmd
            }
        }
    }
}

/// The Rust test host binary.
pub fn rust_host() -> PathBuf {
    if let Some(path) = std::env::var_os("MTLS_WASI_HOST") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MTLS_WASI_HOST={} is not a file",
            path.display()
        );
        return path;
    }
    let target = repo().join("wasm/host/target");
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("mtls-wasi-host"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the Rust WASI test host is missing from {}: run `{SETUP}` (or `cargo build \
                 --release --locked` in wasm/host), or set MTLS_WASI_HOST",
                target.display()
            )
        })
}

fn node() -> PathBuf {
    if let Some(path) = std::env::var_os("NODE") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("node"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("Node.js was not found on PATH (set NODE=/path/to/node); jco needs Node 18+")
    })
}

/// What a host run left: its status and both streams as text.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// For assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The `time I MS` lines an `api` run prints on stderr, in milliseconds.
    pub fn request_times(&self) -> Vec<f64> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("time "))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect()
    }
}

/// A directory with a client certificate, its key and a CA, removed on drop.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// The sandbox's client identity and CA.
    pub fn write(sandbox: &Sandbox, tag: &str) -> Certs {
        let issued = sandbox.issue_client_identity().unwrap();
        // The sandbox generated the key, so it is there.
        let key = issued.key_pem.as_ref().unwrap();
        Certs::write_pems(tag, &issued.cert_pem, key, &sandbox.ca_pem())
    }

    /// `client.pem`, `client.key` and `ca.pem` with these contents.
    pub fn write_pems(tag: &str, cert: &str, key: &str, ca: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("mtls-wasi-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("client.pem"), cert).unwrap();
        std::fs::write(dir.join("client.key"), key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca).unwrap();
        Certs { dir }
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    pub fn env(&self, sandbox: &Sandbox) -> Vec<(String, String)> {
        sandbox.env_vars(
            self.dir.join("client.pem"),
            self.dir.join("client.key"),
            self.dir.join("ca.pem"),
        )
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `HOST run -S FLAG... --dir CERTS --env NAME=VALUE... COMPONENT ARGS...`: the component's
/// `wasi:cli/run`, as `wasmtime run` would run it.
pub fn run_component(
    host: Host,
    wasi_flags: &[&str],
    certs: &Certs,
    env: &[(String, String)],
    args: &[&str],
) -> Run {
    let mut cmd = host.command("run");
    grant(&mut cmd, wasi_flags);
    cmd.arg("--dir").arg(&certs.dir);
    for (name, value) in env {
        cmd.arg("--env").arg(format!("{name}={value}"));
    }
    cmd.arg(component()).args(args);
    bounded(host, cmd, "")
}

/// `HOST api -S FLAG... COMPONENT < session`: the `mtls:client/api` export; `session` is
/// the JSON built by [`session_json`].
pub fn run_session(host: Host, wasi_flags: &[&str], session: &str) -> Run {
    let mut cmd = host.command("api");
    grant(&mut cmd, wasi_flags);
    cmd.arg(component());
    bounded(host, cmd, session)
}

fn grant(cmd: &mut Command, wasi_flags: &[&str]) {
    for flag in wasi_flags {
        cmd.args(["-S", flag]);
    }
}

/// Runs `cmd` with `stdin` as its input, killing it after [`RUN_LIMIT`].
fn bounded(host: Host, mut cmd: Command, stdin: &str) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start the {host:?} host {cmd:?}: {e}"));
    // Readers on their own threads, so that a full pipe never stalls the child.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    {
        let mut input = child.stdin.take().unwrap();
        // A host that exits without reading its input is judged by its output instead.
        let _ = input.write_all(stdin.as_bytes());
    }
    let start = Instant::now();
    // Bounded wait: a hung runtime fails the test instead of hanging CI.
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the host") {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the {host:?} host ran longer than {RUN_LIMIT:?}; stderr:\n{}",
                err.join().unwrap()
            );
        }
        // Short, so that timing figures are not rounded up to the poll period.
        std::thread::sleep(Duration::from_millis(1));
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub fn user_path(sandbox: &Sandbox, id: u32) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

/// How the session JSON carries the identity and the CA: the WIT `identity` / `ca` cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `pem`: the files' text.
    Pem,
    /// `base64`: each whole file Base64-encoded (the `MTLS_*_B64` form).
    Base64,
}

/// The `api` input: `{"config": <the WIT config record>, "requests": [...]}` with GET
/// requests for `paths` (each with `Accept: application/json`).
pub struct SessionSpec<'a> {
    pub base_url: &'a str,
    pub client_id: &'a str,
    pub api_key: &'a str,
    pub cert: &'a str,
    pub key: &'a str,
    pub ca: &'a str,
    pub form: Form,
    pub paths: &'a [String],
}

pub fn session_json(s: &SessionSpec<'_>) -> String {
    let pem = |text: &str| match s.form {
        Form::Pem => json_string(text),
        Form::Base64 => {
            use base64::Engine as _;
            json_string(&base64::engine::general_purpose::STANDARD.encode(text))
        }
    };
    let case = match s.form {
        Form::Pem => "pem",
        Form::Base64 => "base64",
    };
    let requests: Vec<String> = s
        .paths
        .iter()
        .map(|p| {
            format!(
                r#"{{"method": "GET", "path": {}, "headers": [["Accept", "application/json"]]}}"#,
                json_string(p)
            )
        })
        .collect();
    format!(
        r#"{{"config": {{"base-url": {}, "client-id": {}, "api-key": {},
  "identity": {{"{case}": {{"cert": {}, "key": {}}}}},
  "ca": {{"{case}": {}}}, "timeout-ms": 10000}},
 "requests": [{}]}}"#,
        json_string(s.base_url),
        json_string(s.client_id),
        json_string(s.api_key),
        pem(s.cert),
        pem(s.key),
        pem(s.ca),
        requests.join(", ")
    )
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
