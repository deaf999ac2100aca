//! A test host for the `mtls-wasi` component (`wasm/`): Wasmtime embedded as a library, with
//! WASI 0.2 from `wasmtime-wasi`. Two ways to use the component:
//!
//! ```text
//! mtls-wasi-host run [GRANTS] COMPONENT [ARG]...    # its wasi:cli/run export, like `wasmtime run`
//! mtls-wasi-host api [GRANTS] COMPONENT < session.json   # its mtls:client/api export
//! ```
//!
//! GRANTS, as in `wasmtime run` (nothing is granted by default):
//! `-S inherit-network` (TCP to any address), `-S allow-ip-name-lookup`,
//! `--dir HOST[::GUEST]` (a preopened directory, read-write), `--env NAME=VALUE`.
//!
//! `run` passes the component's exit status through: 0, 1 for `Err` from `run`, or the code
//! given to `wasi:cli/exit`. A trap prints Wasmtime's error (with the wasm backtrace) and
//! exits 134.
//!
//! `api` reads one JSON object (see [`SessionFile`]): a `config` shaped like the WIT
//! `config` record (kebab-case keys, variants as `{"case": payload}`, PEMs as text) and the
//! `requests` to make on one session. It prints one line per outcome on stdout:
//!
//! ```text
//! open-err CASE DELIVERY MESSAGE          # session.open refused the config (nothing else follows)
//! ok STATUS BODY                          # one per request (newlines in BODY as `\n`)
//! err CASE DELIVERY MESSAGE               # CASE: the WIT error case, DELIVERY: not-sent | outcome-unknown
//! err sca-required STATUS REDIRECT BODY
//! connections N                           # session.connections() after the requests
//! ```
//!
//! and on stderr `time I MS` for each request (wall time of the `request` call). It exits 0
//! when the component behaved (whatever the outcomes), non-zero when the host itself failed.
//! `wasm/jco/host.mjs` is the same program for jco on Node, with the same input and output.
//!
//! Compiled components are cached (Wasmtime's serialized form) under the system temp dir,
//! keyed by the component's bytes and this host's Wasmtime.

use std::hash::{Hash as _, Hasher as _};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Deserialize;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "mtls-wasi",
    path: "../wit",
});

use mtls::client::types::{
    Base64Identity, Ca, Config, Delivery, Error as ApiError, Failure, Identity, PemIdentity,
};

const USAGE: &str = "usage:
  mtls-wasi-host run [GRANTS] COMPONENT [ARG]...
  mtls-wasi-host api [GRANTS] COMPONENT < session.json
GRANTS: -S inherit-network, -S allow-ip-name-lookup, --dir HOST[::GUEST], --env NAME=VALUE";

/// Exit status when the guest trapped (as `wasmtime run`: SIGABRT's 128 + 6).
const TRAP_STATUS: u8 = 134;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match main_with(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mtls-wasi-host: {message}");
            ExitCode::from(2)
        }
    }
}

fn main_with(args: &[String]) -> Result<ExitCode, String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    let (grants, rest) = Grants::parse(rest)?;
    let (component, guest_args) = rest
        .split_first()
        .ok_or_else(|| format!("missing COMPONENT\n{USAGE}"))?;
    let component = Path::new(component);
    match command.as_str() {
        "run" => run(&grants, component, guest_args),
        "api" => {
            if !guest_args.is_empty() {
                return Err(format!("`api` takes no arguments after COMPONENT\n{USAGE}"));
            }
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("read stdin: {e}"))?;
            let session: SessionFile =
                serde_json::from_str(&input).map_err(|e| format!("session JSON: {e}"))?;
            api(&grants, component, session).map(|()| ExitCode::SUCCESS)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

/// What the guest may reach; `wasmtime run`'s flags and defaults (nothing granted).
#[derive(Debug, Default)]
struct Grants {
    network: bool,
    name_lookup: bool,
    dirs: Vec<(PathBuf, String)>,
    env: Vec<(String, String)>,
}

impl Grants {
    /// Takes the options in front of COMPONENT; returns the rest.
    fn parse(mut args: &[String]) -> Result<(Grants, &[String]), String> {
        let mut grants = Grants::default();
        while let Some((flag, rest)) = args.split_first() {
            let value = || rest.first().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "-S" => match value()?.as_str() {
                    "inherit-network" => grants.network = true,
                    "allow-ip-name-lookup" => grants.name_lookup = true,
                    other => return Err(format!("unsupported -S {other}\n{USAGE}")),
                },
                "--dir" => {
                    let spec = value()?;
                    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
                    grants.dirs.push((PathBuf::from(host), guest.to_owned()));
                }
                "--env" => {
                    let spec = value()?;
                    let (name, v) = spec
                        .split_once('=')
                        .ok_or_else(|| format!("--env needs NAME=VALUE: {spec}"))?;
                    grants.env.push((name.to_owned(), v.to_owned()));
                }
                other if other.starts_with('-') => {
                    return Err(format!("unknown option `{other}`\n{USAGE}"))
                }
                _ => return Ok((grants, args)),
            }
            args = &rest[1..];
        }
        Ok((grants, args))
    }

    fn context(&self, args: &[String]) -> Result<WasiCtx, String> {
        let mut builder = WasiCtx::builder();
        builder
            .inherit_stdio()
            .args(args)
            .envs(&self.env)
            .allow_ip_name_lookup(self.name_lookup)
            // As `wasmtime run` (`-S tcp` is on by default): TCP sockets may be created,
            // and the address check below decides where they may connect. wasmtime-wasi
            // itself defaults to no TCP at all, which `inherit_network` does not change.
            .allow_tcp(true);
        if self.network {
            builder.inherit_network();
        }
        for (host, guest) in &self.dirs {
            builder
                .preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| format!("--dir {}: {e:#}", host.display()))?;
        }
        Ok(builder.build())
    }
}

/// The store's data: the WASI context and the guest's resources.
struct HostState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// An engine, the component compiled for it, a linker with WASI 0.2, and a store whose
/// guest sees `args` and the `grants`.
fn instantiate_parts(
    grants: &Grants,
    path: &Path,
    args: &[String],
) -> Result<(Component, Linker<HostState>, Store<HostState>), String> {
    let engine = Engine::default();
    let component = load(&engine, path)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| format!("{e:#}"))?;
    let state = HostState {
        ctx: grants.context(args)?,
        table: ResourceTable::new(),
    };
    Ok((component, linker, Store::new(&engine, state)))
}

/// `wasi:cli/run` with the component's path as the program name.
fn run(grants: &Grants, path: &Path, guest_args: &[String]) -> Result<ExitCode, String> {
    let mut args = vec![path.display().to_string()];
    args.extend_from_slice(guest_args);
    let (component, linker, mut store) = instantiate_parts(grants, path, &args)?;
    let command = Command::instantiate(&mut store, &component, &linker)
        .map_err(|e| format!("instantiate {}: {e:?}", path.display()))?;
    Ok(match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(())) => ExitCode::FAILURE,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            // Exit codes outside 0..=255 cannot be passed on: report them as a failure.
            Some(I32Exit(code)) => ExitCode::from(u8::try_from(*code).unwrap_or(1)),
            None => {
                eprintln!("Error: {e:?}");
                ExitCode::from(TRAP_STATUS)
            }
        },
    })
}

/// The `api` input: a session config and the requests to make on it, in order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SessionFile {
    config: ConfigJson,
    requests: Vec<RequestJson>,
}

/// The WIT `config` record, PEMs as text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigJson {
    base_url: String,
    client_id: String,
    api_key: String,
    identity: IdentityJson,
    #[serde(default)]
    ca: Option<CaJson>,
    #[serde(default)]
    timeout_ms: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum IdentityJson {
    Pem(IdentityParts),
    Base64(IdentityParts),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityParts {
    cert: String,
    key: String,
    #[serde(default)]
    passphrase: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum CaJson {
    Pem(String),
    Base64(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestJson {
    method: String,
    path: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

impl From<ConfigJson> for Config {
    fn from(c: ConfigJson) -> Config {
        Config {
            base_url: c.base_url,
            client_id: c.client_id,
            api_key: c.api_key,
            identity: match c.identity {
                IdentityJson::Pem(p) => Identity::Pem(PemIdentity {
                    cert: p.cert.into_bytes(),
                    key: p.key.into_bytes(),
                    passphrase: p.passphrase,
                }),
                IdentityJson::Base64(b) => Identity::Base64(Base64Identity {
                    cert: b.cert,
                    key: b.key,
                    passphrase: b.passphrase,
                }),
            },
            ca: c.ca.map(|ca| match ca {
                CaJson::Pem(pem) => Ca::Pem(pem.into_bytes()),
                CaJson::Base64(b64) => Ca::Base64(b64),
            }),
            timeout_ms: c.timeout_ms,
        }
    }
}

/// `session.open`, each request, `session.connections`; one line each (module docs).
fn api(grants: &Grants, path: &Path, file: SessionFile) -> Result<(), String> {
    let args = [path.display().to_string()];
    let (component, linker, mut store) = instantiate_parts(grants, path, &args)?;
    let trap = |e: wasmtime::Error| format!("the component trapped: {e:?}");
    let bindings = MtlsWasi::instantiate(&mut store, &component, &linker)
        .map_err(|e| format!("instantiate {}: {e:?}", path.display()))?;
    let session = bindings.mtls_client_api().session();
    let handle = match session
        .call_open(&mut store, &Config::from(file.config))
        .map_err(trap)?
    {
        Ok(handle) => handle,
        Err(e) => {
            println!("open-err {}", describe(&e));
            return Ok(());
        }
    };
    for (i, r) in file.requests.iter().enumerate() {
        let start = Instant::now();
        let outcome = session
            .call_request(
                &mut store,
                handle,
                &r.method,
                &r.path,
                &r.headers,
                r.body.as_ref().map(|b| b.as_bytes()),
            )
            .map_err(trap)?;
        eprintln!("time {} {:.2}", i + 1, start.elapsed().as_secs_f64() * 1e3);
        match outcome {
            Ok(response) => println!("ok {} {}", response.status, one_line(&response.body)),
            Err(e) => println!("err {}", describe(&e)),
        }
    }
    let connections = session.call_connections(&mut store, handle).map_err(trap)?;
    println!("connections {connections}");
    handle.resource_drop(&mut store).map_err(trap)
}

/// `CASE DELIVERY MESSAGE`, or `sca-required STATUS REDIRECT BODY`.
fn describe(e: &ApiError) -> String {
    let (case, f): (&str, &Failure) = match e {
        ApiError::Identity(f) => ("identity", f),
        ApiError::ClientCertificateRejected(f) => ("client-certificate-rejected", f),
        ApiError::Tls(f) => ("tls", f),
        ApiError::Http(f) => ("http", f),
        ApiError::Auth(f) => ("auth", f),
        ApiError::Config(f) => ("config", f),
        ApiError::Timeout(f) => ("timeout", f),
        ApiError::Connection(f) => ("connection", f),
        ApiError::ScaRequired(sca) => {
            return format!(
                "sca-required {} {} {}",
                sca.response.status,
                sca.redirect_url.as_deref().unwrap_or("-"),
                one_line(&sca.response.body)
            )
        }
    };
    let delivery = match f.delivery {
        Delivery::NotSent => "not-sent",
        Delivery::OutcomeUnknown => "outcome-unknown",
    };
    format!("{case} {delivery} {}", f.message)
}

fn one_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body).replace('\n', "\\n")
}

/// The component compiled for `engine`: from the cache when this exact component was
/// compiled before by this Wasmtime, else compiled now and cached.
fn load(engine: &Engine, path: &Path) -> Result<Component, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let dir = std::env::temp_dir().join("mtls-wasi-host-cache");
    let cached = dir.join(format!("{:016x}.cwasm", hasher.finish()));
    if cached.is_file() {
        // SAFETY: the file is one this program wrote (below) from `engine.precompile_component`
        // for these bytes; Wasmtime checks that it was made by a compatible engine.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(component);
        }
    }
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(|e| format!("compile {}: {e:?}", path.display()))?;
    // A cache that cannot be written only costs time on the next run.
    let _ = std::fs::create_dir_all(&dir);
    let partial = dir.join(format!("{}.{}.tmp", std::process::id(), hasher.finish()));
    if std::fs::write(&partial, &compiled).is_ok() {
        // The rename is atomic: a concurrent run reads either no file or a whole one.
        let _ = std::fs::rename(&partial, &cached);
    }
    // SAFETY: `compiled` was just produced by `engine.precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| String::from(*a)).collect()
    }

    #[test]
    fn grants_stop_at_the_component() {
        let args = strings(&[
            "-S",
            "inherit-network",
            "--dir",
            "/tmp/certs",
            "--env",
            "A=b=c",
            "x.wasm",
            "request",
            "-H",
            "X: y",
        ]);
        let (grants, rest) = Grants::parse(&args).unwrap();
        assert!(grants.network && !grants.name_lookup);
        assert_eq!(
            grants.dirs,
            [(PathBuf::from("/tmp/certs"), String::from("/tmp/certs"))]
        );
        assert_eq!(grants.env, [(String::from("A"), String::from("b=c"))]);
        assert_eq!(rest, &args[6..]);
    }

    #[test]
    fn grants_refuse_unknown_flags() {
        assert!(Grants::parse(&strings(&["-S", "inherit-env", "x.wasm"])).is_err());
        assert!(Grants::parse(&strings(&["--env", "NOVALUE", "x.wasm"])).is_err());
        assert!(Grants::parse(&strings(&["--dir"])).is_err());
        assert!(Grants::parse(&strings(&["--fuel", "1", "x.wasm"])).is_err());
    }

    #[test]
    fn session_json_mirrors_the_wit_record() {
        let file: SessionFile = serde_json::from_str(
            r#"{"config": {"base-url": "https://localhost:1", "client-id": "c", "api-key": "k",
                "identity": {"base64": {"cert": "Q0VSVA==", "key": "S0VZ"}},
                "ca": {"pem": "-----BEGIN CERTIFICATE-----"}, "timeout-ms": 500},
              "requests": [{"method": "GET", "path": "/a", "headers": [["Accept", "*/*"]]}]}"#,
        )
        .unwrap();
        let config = Config::from(file.config);
        assert!(matches!(&config.identity, Identity::Base64(b) if b.key == "S0VZ"));
        assert!(matches!(&config.ca, Some(Ca::Pem(p)) if p.starts_with(b"-----BEGIN")));
        assert_eq!(config.timeout_ms, Some(500));
        assert_eq!(file.requests[0].headers[0].1, "*/*");
        assert!(serde_json::from_str::<SessionFile>(r#"{"config": {}, "requests": []}"#).is_err());
    }
}
