//! `mtls sandbox`: the local mTLS sandbox (`mtls-sandbox`) in the foreground.

use std::path::PathBuf;

use clap::Args;

use crate::Fail;

/// Arguments of `mtls sandbox`.
///
/// There is no `--port`: `mtls_sandbox::Sandbox::start` always binds a free port on
/// `127.0.0.1`, and the address is printed.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Directory for client-cert.pem, client-key.pem and ca.pem (created if missing).
    /// Default: a new directory under the system temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Client id the sandbox expects (in the Basic credentials and in API paths).
    #[arg(long, value_name = "ID", default_value = "sandbox-client")]
    pub client_id: String,
    /// Lifetime of the access tokens it hands out, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub token_lifetime: i64,
}

/// Starts the sandbox, writes the client files, prints the `export` lines, and serves until
/// the process is killed.
pub fn run(args: SandboxArgs) -> Result<(), Fail> {
    use std::io::Write;

    use mtls_sandbox::{Sandbox, SandboxConfig};

    let mut config = SandboxConfig::default();
    config.client_id = args.client_id;
    config.token_lifetime_secs = args.token_lifetime;
    let sandbox = Sandbox::start(config).map_err(Fail::config)?;

    let dir = match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Fail::config(format_args!("--dir {}: {e}", dir.display())))?;
            dir
        }
        None => new_temp_dir()?,
    };
    let identity = sandbox
        .issue_client_identity()
        .map_err(|e| Fail::config(format_args!("sandbox: {e}")))?;
    let cert_path = dir.join("client-cert.pem");
    let key_path = dir.join("client-key.pem");
    let ca_path = dir.join("ca.pem");
    write_file(&cert_path, identity.cert_pem.as_bytes(), false)?;
    let key_pem = identity
        .key_pem
        .as_ref()
        .ok_or_else(|| Fail::config("the sandbox issued a certificate without a key"))?;
    write_file(&key_path, key_pem.as_bytes(), true)?;
    write_file(&ca_path, sandbox.ca_pem().as_bytes(), false)?;

    let mut out = std::io::stdout().lock();
    let mut print = || -> std::io::Result<()> {
        writeln!(
            out,
            "# mtls sandbox listening on {} ({}); client certificates from its CA required",
            sandbox.base_url(),
            sandbox.addr()
        )?;
        writeln!(out, "# files in {}", dir.display())?;
        // Printing MTLS_API_KEY is deliberate: it is this local sandbox's own throwaway key,
        // random per run and useless once the process ends. Handing it to the user is the
        // whole point of the command. Real API keys are never printed by `mtls`.
        writeln!(
            out,
            "# MTLS_API_KEY is this sandbox's throwaway key, valid only while it runs"
        )?;
        for (name, value) in sandbox.env_vars(&cert_path, &key_path, &ca_path) {
            writeln!(out, "export {name}={}", shell_quote(&value))?;
        }
        writeln!(
            out,
            "# then: mtls request GET /v2.01/{}/users/1",
            sandbox.client_id()
        )?;
        writeln!(out, "# serving until killed (Ctrl-C)")?;
        out.flush()
    };
    print().map_err(|e| Fail::config(format_args!("writing to stdout: {e}")))?;

    // The sandbox serves on its own threads; this thread only keeps it alive. Ctrl-C (SIGINT)
    // ends the process with the default handler.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// A fresh directory under the system temporary directory.
fn new_temp_dir() -> Result<PathBuf, Fail> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("mtls-sandbox-{}-{stamp}", std::process::id()));
    std::fs::create_dir(&dir)
        .map_err(|e| Fail::config(format_args!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Writes a file; `private` ones (the key) are readable by the owner only on Unix.
fn write_file(path: &std::path::Path, contents: &[u8], private: bool) -> Result<(), Fail> {
    use std::io::Write;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let write = || -> std::io::Result<()> {
        let mut file = options.open(path)?;
        // `mode` only applies to a new file: tighten a file that already existed too, before
        // the key goes in.
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents)
    };
    write().map_err(|e| Fail::config(format_args!("writing {}: {e}", path.display())))
}

/// `value` quoted for a POSIX shell: single quotes, with `'` written as `'\''`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
