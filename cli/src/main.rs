//! `mtls`: call an mTLS-protected API (Mangopay, Mastercard, your own) from the shell.
//!
//! The `mtls-cli` crate of the `mtls-core` workspace; install it with:
//!
//! ```text
//! cargo install --path cli
//! ```
//!
//! # Configuration
//!
//! Everything comes from the `MTLS_*` environment variables of `DESIGN.md`, or from the
//! matching flags (a flag wins over its variable):
//!
//! | variable | flag | what |
//! |---|---|---|
//! | `MTLS_BASE_URL` | `--base-url` | `https://host[:port][/prefix]`, or a preset name: `mangopay-sandbox`, `mangopay-production`, `mastercard-sandbox`, `mastercard-production` |
//! | `MTLS_CLIENT_ID` | `--client-id` | the OAuth client id |
//! | `MTLS_API_KEY` | `--api-key` | the API key (prefer the variable: flags show in `ps`) |
//! | `MTLS_CERT_PATH` / `MTLS_CERT_B64` | `--cert` | client certificate chain (PEM) |
//! | `MTLS_KEY_PATH` / `MTLS_KEY_B64` | `--key` | its private key (PEM) |
//! | `MTLS_KEY_PASSPHRASE` | `--key-passphrase` | passphrase of an encrypted key |
//! | `MTLS_PKCS12_PATH` / `MTLS_PKCS12_B64` | `--pkcs12` | a PKCS#12 archive instead of cert + key |
//! | `MTLS_PKCS12_PASSWORD` | `--pkcs12-password` | its password |
//! | `MTLS_CA_PATH` / `MTLS_CA_B64` | `--ca` | a custom CA for the server (default: Mozilla's roots) |
//!
//! A path wins over the Base64 form when both are set. No secret (API key, token, key
//! material, passwords) is ever printed, in errors, warnings or `--help`.
//!
//! # Commands
//!
//! ```text
//! # One token, one connection, three calls; each body printed on its own line.
//! mtls request GET /v2.01/{client_id}/users/1 /v2.01/{client_id}/users/2 /v2.01/{client_id}/wallets/3
//!
//! # A body inline, from a file, or from stdin (Content-Type defaults to application/json).
//! mtls request POST /v2.01/{client_id}/users/natural --data '{"FirstName":"Ada"}'
//! mtls request POST /v2.01/{client_id}/payins/card/direct --data @payin.json \
//!     -H 'Idempotency-Key: order-2026-000123-try1'
//! echo '{"Tag":"x"}' | mtls request PUT /v2.01/{client_id}/users/1 --data -
//!
//! # Pre-flight check of the client certificate: subject, issuer, key, validity, clientAuth.
//! mtls check
//!
//! # A local mTLS sandbox in the foreground; prints the `export MTLS_...` lines to use it.
//! mtls sandbox --dir /tmp/mtls-sandbox
//! ```
//!
//! `{client_id}` in a path is replaced by the configured client id.
//!
//! # Exit codes
//!
//! - `0`: success.
//! - `1`: a request failed (network, TLS, token exchange, timeout) or answered HTTP >= 400
//!   (like `curl --fail`); for `check`, the certificate is expired or not yet valid. One line
//!   per failure on stderr, `mtls: METHOD PATH: what failed`.
//! - `2`: usage or configuration error (missing or unreadable settings, bad flags).

#![warn(missing_docs)]

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod config;
mod csr;
mod request;
mod sandbox;

/// Call an mTLS-protected API: client certificate + OAuth client-credentials token.
///
/// Settings come from the MTLS_* environment variables or the matching flags (a flag wins).
#[derive(Debug, Parser)]
#[command(name = "mtls", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Send METHOD to each PATH, in order, on one connection with one token; print each body.
    ///
    /// Exits 1 on any failure or HTTP status >= 400 (like `curl --fail`), after printing the
    /// bodies of the requests that succeeded. `{client_id}` in a PATH is replaced by the
    /// client id.
    #[command(after_help = ENV_HELP)]
    Request(request::RequestArgs),
    /// Load the client identity and report on it (subject, issuer, key, validity, clientAuth).
    #[command(after_help = ENV_HELP)]
    Check(check::CheckArgs),
    /// Run a local mTLS sandbox in the foreground.
    ///
    /// Writes a client certificate, its key and the sandbox CA into a directory and prints
    /// the `export MTLS_...=...` lines a client needs. Runs until killed (Ctrl-C).
    Sandbox(sandbox::SandboxArgs),
    /// Generate a private key and a certificate signing request for the API to sign.
    ///
    /// By default as the Mangopay guide's openssl commands: RSA-2048, subject
    /// `CN=<client id>.sandbox.mangopay.com, O=Mangopay, C=LU`, the same name as a DNS
    /// subjectAltName, extendedKeyUsage clientAuth. Never replaces a file without --force.
    Csr(csr::CsrArgs),
}

/// The variables that have no flag, for `--help`.
const ENV_HELP: &str = "Also read from the environment (no flag: secrets stay off the command \
line): MTLS_CERT_B64, MTLS_KEY_B64, MTLS_PKCS12_B64, MTLS_CA_B64 (each a whole PEM or .p12 \
file, Base64-encoded). A *_PATH wins over its *_B64. Exit codes: 0 ok, 1 request or check \
failed (or HTTP >= 400), 2 usage or configuration error.";

/// Why a command stopped; decides the exit code.
#[derive(Debug)]
enum Fail {
    /// Usage or configuration error: exit 2. The message is already one line.
    Config(String),
    /// The operation ran and failed: exit 1. Every failure has been reported on stderr.
    Failed,
}

impl Fail {
    /// A configuration error from any displayable value.
    fn config(message: impl core::fmt::Display) -> Fail {
        Fail::Config(one_line(&message.to_string()))
    }
}

/// Exit code for a usage or configuration error.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failed request or check.
const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Request(args) => request::run(args),
        Command::Check(args) => check::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Csr(args) => csr::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Config(message)) => {
            error(&message);
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Fail::Failed) => ExitCode::from(EXIT_FAILED),
    }
}

/// Prints `mtls: MESSAGE` on stderr, on one line.
fn error(message: &str) {
    let mut stderr = std::io::stderr().lock();
    // Nothing sensible is left to do when stderr itself is gone.
    let _ = writeln!(stderr, "mtls: {}", one_line(message));
}

/// Prints `mtls: warning: MESSAGE` on stderr, on one line.
fn warning(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "mtls: warning: {}", one_line(message));
}

/// `text` with every control character (line breaks included) replaced by a space, so that a
/// server-supplied message cannot break the one-line error format.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A `--flag` value that is set and not blank (empty environment variables count as unset,
/// as in `IdentitySources::from_env`).
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Common arguments of `check` and `request`: where the client identity comes from.
///
/// The Base64 variables (`MTLS_CERT_B64`, `MTLS_KEY_B64`, `MTLS_PKCS12_B64`, `MTLS_CA_B64`)
/// are read from the environment only: secrets do not belong on a command line.
#[derive(Debug, Args)]
struct IdentityArgs {
    /// Client certificate chain, PEM (or set MTLS_CERT_B64).
    #[arg(long, env = "MTLS_CERT_PATH", value_name = "FILE")]
    cert: Option<String>,
    /// Private key of the client certificate, PEM (or set MTLS_KEY_B64).
    #[arg(long, env = "MTLS_KEY_PATH", value_name = "FILE")]
    key: Option<String>,
    /// Passphrase of an encrypted private key.
    #[arg(
        long,
        env = "MTLS_KEY_PASSPHRASE",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    key_passphrase: Option<String>,
    /// PKCS#12 archive (.p12/.pfx) holding the certificate and key (or set MTLS_PKCS12_B64).
    #[arg(long, env = "MTLS_PKCS12_PATH", value_name = "FILE")]
    pkcs12: Option<String>,
    /// Password of the PKCS#12 archive.
    #[arg(
        long,
        env = "MTLS_PKCS12_PASSWORD",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pkcs12_password: Option<String>,
    /// Custom CA for the server's certificate, PEM (or set MTLS_CA_B64). Default: Mozilla's
    /// root store.
    #[arg(long, env = "MTLS_CA_PATH", value_name = "FILE")]
    ca: Option<String>,
}
