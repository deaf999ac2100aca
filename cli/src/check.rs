//! `mtls check`: the pre-flight report on the client identity.

use clap::Args;
use mtls_core::client::BaseUrl;
use mtls_core::identity::ClientAuthUsage;
use mtls_core::io::std_adapter::wall_clock_now;
use mtls_core::presets::check_base_url;

use crate::config::{load_identity, resolve_base_url};
use crate::{error, non_empty, warning, Fail, IdentityArgs};

/// Arguments of `mtls check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Base URL or preset to check as well (optional): a Mangopay host without api-mtls
    /// gets a warning.
    #[arg(long, env = "MTLS_BASE_URL", value_name = "URL|PRESET")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// Runs `mtls check`: prints what the leaf certificate says and whether it is usable now.
/// Exit 1 when it is expired or not yet valid, 2 when it cannot be loaded.
pub fn run(args: CheckArgs) -> Result<(), Fail> {
    let loaded = load_identity(&args.identity)?;
    let info = loaded.identity.info();
    println!("subject:      {}", info.subject);
    println!("issuer:       {}", info.issuer);
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
        Some(ca) => println!("server CA:    {} custom certificate(s)", ca.certs().len()),
        None => println!("server CA:    Mozilla root store (no custom CA)"),
    }
    if let Some(base) = non_empty(args.base_url) {
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
    }
    match loaded.identity.check(wall_clock_now()) {
        Ok(report) => {
            println!("expires in:   {} days", report.days_to_expiry);
            for w in &report.warnings {
                warning(&w.to_string());
            }
            Ok(())
        }
        Err(e) => {
            println!("expires in:   -");
            error(&format!("client identity: {e}"));
            Err(Fail::Failed)
        }
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
