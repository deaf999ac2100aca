//! `mtls check`: the pre-flight report on the client identity.

use clap::Args;
use mtls_core::client::{Auth, BaseUrl};
use mtls_core::identity::load::{LoadedIdentity, Origin};
use mtls_core::identity::ClientAuthUsage;
use mtls_core::io::std_adapter::{wall_clock_now, StdClient};
use mtls_core::io::RequestError;
use mtls_core::presets::check_base_url;
use mtls_core::tls::{verify_client_chain, CertificateProblem, HandshakeSummary};
use mtls_core::ClientConfig;

use crate::config::{load_identity, resolve_base_url, timeout, trust};
use crate::{error, non_empty, warning, Fail, IdentityArgs};

/// Arguments of `mtls check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Base URL or preset to check as well (optional): a Mangopay host without api-mtls
    /// gets a warning.
    #[arg(long, env = "MTLS_BASE_URL", value_name = "URL|PRESET")]
    pub base_url: Option<String>,
    /// Also open a TLS connection to the base URL (no token, no request) and report what
    /// the server asks of the client certificate: TLS version, whether it asked, the CA
    /// names it accepts, its own certificate chain.
    #[arg(long)]
    pub connect: bool,
    /// Seconds to wait for the connection and the handshake (with --connect).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// Runs `mtls check`: prints what the leaf certificate says and whether it is usable now,
/// and with `--connect` what the server's handshake says. Exit 1 when it would not work
/// (expired, not yet valid, not allowed for clientAuth, refused or not asked for by the
/// server), 2 when it cannot be loaded.
pub fn run(args: CheckArgs) -> Result<(), Fail> {
    let loaded = load_identity(&args.identity)?;
    let info = loaded.identity.info();
    let mut usable = true;
    println!("formats:      {}", formats(&loaded));
    println!("subject:      {}", info.subject);
    println!("issuer:       {}", info.issuer);
    println!("subject alt:  {}", list_or_none(&info.subject_alt_names));
    println!("key usage:    {}", list_or_none(&info.extended_key_usages));
    println!("key:          {}", info.key_algorithm);
    println!("valid from:   {}", format_unix(info.not_before));
    println!("valid until:  {}", format_unix(info.not_after));
    println!(
        "clientAuth:   {}",
        match info.client_auth {
            ClientAuthUsage::Allowed => "allowed (extended key usage lists clientAuth)",
            ClientAuthUsage::Unrestricted => "allowed (no extended key usage restriction)",
            ClientAuthUsage::NotAllowed => "NOT allowed (extended key usage lacks clientAuth)",
        }
    );
    if info.client_auth == ClientAuthUsage::NotAllowed {
        error("the certificate does not allow TLS client authentication: ask for one with extendedKeyUsage clientAuth (`mtls csr` makes such a request)");
        usable = false;
    }
    println!(
        "chain:        {} certificate(s); key matches the certificate: {}",
        loaded.identity.chain().len(),
        if info.key_match_checked {
            "yes"
        } else {
            "not checkable before a handshake"
        }
    );
    match &loaded.ca {
        Some(ca) => {
            println!("server CA:    {} custom certificate(s)", ca.certs().len());
            // Where one private PKI signs both sides (a sandbox, your own API), this is what
            // the server will check; a public API's client CA is its own: informative only.
            match verify_client_chain(&loaded.identity, ca, wall_clock_now()) {
                Ok(()) => println!("chain vs CA:  verifies against the custom CA for clientAuth"),
                Err(problem) => println!(
                    "chain vs CA:  does not verify against the custom CA ({}); fine when the \
                     API's client CA is not this server CA",
                    chain_problem(problem)
                ),
            }
        }
        None => println!("server CA:    Mozilla root store (no custom CA)"),
    }
    let base_url = match non_empty(args.base_url) {
        Some(base) => {
            let url = resolve_base_url(&base);
            match BaseUrl::parse(&url) {
                Ok(parsed) => {
                    println!("base URL:     {url}");
                    if let Some(w) = check_base_url(parsed.host()) {
                        warning(&w.to_string());
                    }
                }
                Err(e) => return Err(Fail::config(format_args!("base URL: {e}"))),
            }
            Some(url)
        }
        None => None,
    };
    match loaded.identity.check(wall_clock_now()) {
        Ok(report) => {
            println!("expires in:   {} days", report.days_to_expiry);
            for w in &report.warnings {
                warning(&w.to_string());
            }
        }
        Err(e) => {
            println!("expires in:   -");
            error(&format!("client identity: {e}"));
            return Err(Fail::Failed);
        }
    }
    if args.connect {
        let Some(url) = base_url else {
            return Err(Fail::config(
                "--connect needs the base URL: set MTLS_BASE_URL or --base-url",
            ));
        };
        usable &= connect(&url, &loaded, args.timeout)?;
    }
    if usable {
        Ok(())
    } else {
        Err(Fail::Failed)
    }
}

/// Opens one connection to `url` with the identity and prints what the handshake showed.
/// False when the server would not take the certificate.
fn connect(url: &str, loaded: &LoadedIdentity, secs: u64) -> Result<bool, Fail> {
    let mut config =
        ClientConfig::new(url, Auth::CertificateOnly, &loaded.identity, trust(loaded)?)
            .map_err(Fail::config)?;
    let wait = timeout(secs)?;
    config.request_timeout = wait;
    let mut client = StdClient::new(config);
    client.set_timeouts(wait, wait);
    let handshake = match client.connect() {
        Ok(handshake) => handshake,
        Err(e) => {
            println!("handshake:    failed");
            // The failure's own words, without the "(request not sent)" of a request.
            let why = match &e {
                RequestError::Failed {
                    failure,
                    transport: Some(detail),
                } => format!("{}: {detail}", failure.error),
                RequestError::Failed { failure, .. } => failure.error.to_string(),
                other => other.to_string(),
            };
            error(&format!("connect to {url}: {why}"));
            return Ok(false);
        }
    };
    Ok(report_handshake(&handshake))
}

/// Prints the handshake summary; false when the server did not ask for the certificate or
/// lists CAs none of which issued it.
fn report_handshake(handshake: &HandshakeSummary) -> bool {
    let mut usable = true;
    println!("handshake:    {} completed", handshake.version);
    if handshake.client_cert_requested {
        println!("cert asked:   yes, during the handshake");
    } else {
        println!("cert asked:   NO");
        error("the server did not ask for a client certificate during the handshake, so none was sent: check that the base URL is the API's mTLS host (Mangopay: api-mtls...), and that the server requests the certificate in the handshake (a server that asks only after it, by renegotiation or TLS 1.3 post-handshake auth, cannot get it from this client)");
        usable = false;
    }
    if handshake.client_cert_requested {
        if handshake.acceptable_issuers.is_empty() {
            println!("CAs accepted: (none listed: any CA the server trusts)");
        } else {
            for (i, name) in handshake.acceptable_issuers.iter().enumerate() {
                let label = if i == 0 {
                    "CAs accepted:"
                } else {
                    "             "
                };
                println!("{label} {name}");
            }
        }
        match handshake.issuer_acceptable {
            Some(true) => println!("our issuer:   among the CAs the server accepts"),
            Some(false) => {
                println!("our issuer:   NOT among the CAs the server accepts");
                error("the server lists the CAs it accepts for client certificates and none of them issued this certificate (or its chain): use the certificate the API issued for this environment (sandbox and production differ), with its intermediate in the chain file");
                usable = false;
            }
            None => {}
        }
    }
    for (i, cert) in handshake.server_chain.iter().enumerate() {
        let label = if i == 0 {
            "server chain:"
        } else {
            "             "
        };
        println!(
            "{label} {}: subject {}; issuer {}; valid until {}",
            i,
            cert.subject,
            cert.issuer,
            format_unix(cert.not_after)
        );
    }
    if let Some(leaf) = handshake.server_chain.first() {
        println!("server names: {}", list_or_none(&leaf.subject_alt_names));
    }
    usable
}

/// What was read, and from where: `certificate chain PEM (2 certificates, from a file); key
/// PKCS#1 PEM (RSA PRIVATE KEY) (from Base64)`.
fn formats(loaded: &LoadedIdentity) -> String {
    let origin = |o: Origin| match o {
        Origin::Path => "from a file",
        Origin::Base64 => "from Base64",
    };
    let key_form = loaded.identity.key_form();
    if key_form == mtls_core::identity::KeyForm::Pkcs12 {
        return format!(
            "PKCS#12 archive ({}), {} certificate(s)",
            origin(loaded.key_origin),
            loaded.identity.chain().len()
        );
    }
    format!(
        "certificate chain PEM ({} certificate(s), {}); key {} ({})",
        loaded.identity.chain().len(),
        origin(loaded.cert_origin),
        key_form,
        origin(loaded.key_origin)
    )
}

/// A client chain problem in client terms (the type's own words speak of server
/// certificates).
fn chain_problem(problem: CertificateProblem) -> &'static str {
    match problem {
        CertificateProblem::UnknownIssuer => "not issued by it, or the intermediate is missing",
        CertificateProblem::BadSignature => "a signature does not verify",
        CertificateProblem::Expired => "a certificate has expired",
        CertificateProblem::NotValidYet => "a certificate is not valid yet",
        CertificateProblem::Revoked => "revoked",
        CertificateProblem::InvalidPurpose => "not allowed for TLS client authentication",
        _ => "unacceptable",
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        String::from("(none)")
    } else {
        items.join(", ")
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn format_unix(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // In range by construction: 1 <= d <= 31, 1 <= m <= 12.
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::format_unix;

    #[test]
    fn dates_format_in_utc() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_unix(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }
}
