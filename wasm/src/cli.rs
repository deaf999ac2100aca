//! The command form (`wasi:cli/run`): `request METHOD PATH... [--data BODY] [-H 'Name: value']`,
//! configured by the same `MTLS_*` variables as the native `mtls` command.

use std::io::Write as _;
use std::string::String;
use std::vec::Vec;

use mtls_core::ApiRequest;

use crate::session::new_session;
use mtls_core::io::RequestError;

const USAGE: &str =
    "usage: mtls_wasi.wasm request METHOD PATH... [--data BODY] [-H 'Name: value']...
Sends each PATH (under MTLS_BASE_URL) with METHOD on one connection and prints each body.
Configuration: MTLS_BASE_URL, MTLS_CLIENT_ID, MTLS_API_KEY, MTLS_CERT_PATH / MTLS_CERT_B64,
MTLS_KEY_PATH / MTLS_KEY_B64, MTLS_KEY_PASSPHRASE, MTLS_CA_PATH / MTLS_CA_B64,
MTLS_PKCS12_PATH / MTLS_PKCS12_B64, MTLS_PKCS12_PASSWORD. Files need `--dir` in wasmtime.
Exit status: 0 when every request got a 2xx/3xx response, 1 otherwise.";

/// A parsed `request` command.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestArgs {
    /// HTTP method, upper-cased.
    pub method: String,
    /// One request per path.
    pub paths: Vec<String>,
    /// Body for every request.
    pub data: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<RequestArgs, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("request") => {}
        Some("-h" | "--help" | "help") | None => return Err(String::from(USAGE)),
        Some(other) => return Err(format!("unknown command `{other}`\n{USAGE}")),
    }
    let mut positional = Vec::new();
    let mut data = None;
    let mut headers = Vec::new();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-d" | "--data" => {
                let value = it.next().ok_or("--data needs a value")?;
                data = Some(value.clone());
            }
            "-H" | "--header" => {
                let value = it.next().ok_or("-H needs a value")?;
                headers.push(parse_header(value, headers.len() + 1)?);
            }
            "-h" | "--help" => return Err(String::from(USAGE)),
            other => {
                if let Some(v) = other.strip_prefix("--data=") {
                    data = Some(String::from(v));
                } else if let Some(v) = other.strip_prefix("--header=") {
                    headers.push(parse_header(v, headers.len() + 1)?);
                } else if other.starts_with('-') && other.len() > 1 {
                    return Err(format!("unknown option `{other}`\n{USAGE}"));
                } else {
                    positional.push(other.to_owned());
                }
            }
        }
    }
    let mut positional = positional.into_iter();
    let method = positional
        .next()
        .ok_or_else(|| format!("missing METHOD\n{USAGE}"))?
        .to_ascii_uppercase();
    let paths: Vec<String> = positional.collect();
    if paths.is_empty() {
        return Err(format!("missing PATH\n{USAGE}"));
    }
    if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
        return Err(format!("PATH must start with `/`: {bad}"));
    }
    Ok(RequestArgs {
        method,
        paths,
        data,
        headers,
    })
}

/// `Name: value`; the `n`-th `-H`. A malformed one is never echoed: it may be a credential.
fn parse_header(value: &str, n: usize) -> Result<(String, String), String> {
    let (name, v) = value
        .split_once(':')
        .ok_or_else(|| format!("-H header #{n} is not `Name: value`"))?;
    Ok((name.trim().to_owned(), v.trim().to_owned()))
}

/// Runs the command; false means failure (the host exits non-zero). Messages go to stderr.
pub fn run(args: &[String], env: &[(String, String)]) -> bool {
    let args = match parse(args) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            return false;
        }
    };
    let config = match crate::config::from_env(env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtls: configuration: {e}");
            return false;
        }
    };
    let mut session = new_session(config);
    let requests = args.paths.iter().map(|path| {
        let mut r = ApiRequest::new(&args.method, path);
        for (n, v) in &args.headers {
            r = r.header(n, v);
        }
        if let Some(d) = &args.data {
            if !args
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                r = r.header("Content-Type", "application/json");
            }
            r = r.body(d.as_bytes().to_vec());
        }
        r
    });
    let mut ok = true;
    let mut stdout = std::io::stdout().lock();
    // Each outcome is printed as it arrives: memory stays bounded by one response.
    session.request_each(requests, |index, outcome| {
        let path = &args.paths[index];
        match outcome {
            Ok(response) => {
                print_body(&mut stdout, &response.body);
                if response.status >= 400 {
                    eprintln!("mtls: {} {path}: HTTP {}", args.method, response.status);
                    ok = false;
                }
            }
            Err(e) => {
                if let RequestError::ScaRequired { response, .. } = &e {
                    print_body(&mut stdout, &response.body);
                }
                eprintln!("mtls: {} {path}: {e}", args.method);
                ok = false;
            }
        }
    });
    for notice in &session.notices {
        if let mtls_core::client::Event::Warning(w) = notice {
            eprintln!("mtls: warning: {w}");
        }
    }
    // Nothing useful to do if stdout is gone.
    let _ = stdout.flush();
    ok
}

fn print_body(out: &mut impl std::io::Write, body: &[u8]) {
    // A closed stdout is not worth failing the request over.
    let _ = out.write_all(body);
    if !body.ends_with(b"\n") {
        let _ = out.write_all(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| String::from(*a)).collect()
    }

    #[test]
    fn parses_paths_data_and_headers() {
        let parsed = parse(&args(&[
            "request", "post", "/a", "/b", "--data", "{}", "-H", "X-One: 1",
        ]))
        .unwrap();
        assert_eq!(parsed.method, "POST");
        assert_eq!(parsed.paths, ["/a", "/b"]);
        assert_eq!(parsed.data.as_deref(), Some("{}"));
        assert_eq!(parsed.headers, [(String::from("X-One"), String::from("1"))]);
    }

    #[test]
    fn a_malformed_header_is_refused_without_echo() {
        let secret = "Bearer-sEcReT-token-value";
        for form in [
            args(&["request", "GET", "/a", "-H", "X-One: 1", "-H", secret]),
            args(&["request", "GET", "/a", &format!("--header={secret}")]),
        ] {
            let message = parse(&form).unwrap_err();
            assert!(message.contains("is not `Name: value`"), "{message}");
            assert!(!message.contains(secret), "the value is echoed: {message}");
        }
    }

    #[test]
    fn refuses_missing_parts() {
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["request", "GET"])).is_err());
        assert!(parse(&args(&["request", "GET", "users"])).is_err());
        assert!(parse(&args(&["request", "GET", "/a", "-H", "novalue"])).is_err());
        assert!(parse(&args(&["fetch", "GET", "/a"])).is_err());
    }
}
