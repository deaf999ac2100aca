//! `mtls request METHOD PATH... [--data BODY] [-H 'Name: value']...`

use std::io::{Read, Write};

use clap::Args;
use mtls_core::auth::IdempotencyKey;
use mtls_core::client::Event;
use mtls_core::http::Response;
use mtls_core::io::std_adapter::StdClient;
use mtls_core::presets::ErrorBody;
use mtls_core::ApiRequest;

use crate::config::{client_config, ApiArgs};
use crate::{error, warning, Fail};

/// Headers the client sets itself; a `-H` for one of them is refused.
const RESERVED_HEADERS: [&str; 5] = [
    "authorization",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
];

/// Arguments of `mtls request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// HTTP method (GET, POST, PUT, DELETE, ...; case-insensitive).
    pub method: String,
    /// Paths under the base URL, e.g. /v2.01/{client_id}/users/123; one request each.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Request body: the text itself, @FILE to read a file, or - to read stdin. Sent with
    /// every PATH; Content-Type defaults to application/json.
    #[arg(short = 'd', long, value_name = "BODY|@FILE|-")]
    pub data: Option<String>,
    /// Extra header, 'Name: value' (repeatable). An Idempotency-Key header makes a POST safe
    /// to retry on a new connection.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Report connections and token fetches on stderr.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `mtls request`.
pub fn run(args: RequestArgs) -> Result<(), Fail> {
    let method = parse_method(&args.method)?;
    let body = match &args.data {
        Some(data) => Some(read_body(data)?),
        None => None,
    };
    let headers = parse_headers(&args.headers)?;
    let (config, client_id) = client_config(&args.api)?;

    // Every path is checked before any traffic; the requests themselves are built one at a
    // time as the client takes them, so memory does not grow with the number of paths.
    let labels = args
        .paths
        .iter()
        .map(|path| expand_path(path, &client_id))
        .collect::<Result<Vec<String>, Fail>>()?;
    let has_type = headers
        .iter()
        .any(|h| matches!(h, Header::Other(n, _) if n.eq_ignore_ascii_case("content-type")));
    let requests = labels.iter().map(|path| {
        let mut request = ApiRequest::new(&method, path);
        for header in &headers {
            request = match header {
                Header::IdempotencyKey(key) => request.idempotency_key(*key),
                Header::Other(name, value) => request.header(name, value),
            };
        }
        if let Some(body) = &body {
            if !has_type {
                request = request.header("Content-Type", "application/json");
            }
            request = request.body(body.clone());
        }
        request
    });

    let mut client = StdClient::new(config);
    let io_timeout = client.client().config().request_timeout;
    client.set_timeouts(
        io_timeout.min(std::time::Duration::from_secs(10)),
        io_timeout,
    );
    let mut failures = Failures::new(&method);
    let mut stdout = std::io::stdout().lock();
    // Each outcome is printed as it arrives: memory stays bounded by one response.
    client.request_each(requests, |index, outcome| {
        let path = &labels[index];
        match outcome {
            Ok(response) if response.status < 400 => {
                failures.flush();
                if let Err(e) = write_body(&mut stdout, &response.body) {
                    failures.add(path, format!("writing the response to stdout: {e}"));
                }
            }
            Ok(response) => failures.add(path, http_error(&response)),
            Err(e) => failures.add(path, e.to_string()),
        }
    });
    report_notices(&mut client.take_notices(), args.verbose);
    failures.flush();
    if let Err(e) = stdout.flush() {
        error(&format!("writing to stdout: {e}"));
        return Err(Fail::Failed);
    }
    if failures.any {
        Err(Fail::Failed)
    } else {
        Ok(())
    }
}

/// Failure lines for stderr. Consecutive failures with the same message (one failed token
/// exchange or handshake ends every queued request) share one line naming all their paths.
struct Failures<'a> {
    method: &'a str,
    pending: Option<(Vec<String>, String)>,
    any: bool,
}

impl<'a> Failures<'a> {
    fn new(method: &'a str) -> Failures<'a> {
        Failures {
            method,
            pending: None,
            any: false,
        }
    }

    fn add(&mut self, path: &str, message: String) {
        self.any = true;
        match &mut self.pending {
            Some((paths, pending)) if *pending == message => paths.push(path.to_owned()),
            _ => {
                self.flush();
                self.pending = Some((vec![path.to_owned()], message));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((paths, message)) = self.pending.take() {
            error(&format!("{} {}: {message}", self.method, paths.join(", ")));
        }
    }
}

/// `HTTP 404`, plus the API's own message when the body is a Mangopay or Mastercard error.
fn http_error(response: &Response) -> String {
    let mut message = format!("HTTP {}", response.status);
    match ErrorBody::parse(&response.body) {
        ErrorBody::Unrecognised(_) => {
            if !response.reason.is_empty() {
                message.push(' ');
                message.push_str(&response.reason);
            }
        }
        parsed => {
            message.push_str(": ");
            message.push_str(&parsed.to_string());
        }
    }
    message
}

/// Writes a body, adding a line break when it does not end with one, so that several bodies
/// come out one per line.
fn write_body(out: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    out.write_all(body)?;
    if !body.is_empty() && !body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Prints warnings (always) and, with `--verbose`, connections and token fetches. Never a
/// token: the events carry only lifetimes.
fn report_notices(notices: &mut Vec<Event>, verbose: bool) {
    for event in notices.drain(..) {
        match event {
            Event::Warning(w) => warning(&w.to_string()),
            Event::Connected {
                version,
                client_cert_requested,
            } if verbose => {
                let cert = if client_cert_requested {
                    "client certificate requested"
                } else {
                    "client certificate NOT requested"
                };
                eprintln!("mtls: connected ({version}, {cert})");
            }
            Event::TokenFetched { expires_in } if verbose => {
                eprintln!(
                    "mtls: access token fetched (expires in {} s)",
                    expires_in.as_secs()
                );
            }
            Event::TokenRejected(_) if verbose => {
                eprintln!("mtls: token rejected with 401; retrying once with a new token");
            }
            Event::ConnectionClosed { error: Some(e) } if verbose => {
                eprintln!("mtls: connection closed: {e}");
            }
            _ => {}
        }
    }
}

/// The method, upper-cased; refuses anything that is not an HTTP token.
fn parse_method(method: &str) -> Result<String, Fail> {
    let ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return Err(Fail::config(format_args!("invalid HTTP method {method:?}")));
    }
    Ok(method.to_ascii_uppercase())
}

/// A path with `{client_id}` replaced and a leading `/` added when missing.
fn expand_path(path: &str, client_id: &str) -> Result<String, Fail> {
    let path = path.replace("{client_id}", client_id);
    if path.is_empty()
        || path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(Fail::config(format_args!(
            "invalid path {path:?}: no spaces, control characters or '#'"
        )));
    }
    Ok(if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    })
}

/// One `-H` header, parsed.
#[derive(Debug)]
enum Header {
    /// `Idempotency-Key`, validated (16-36 letters, digits, dashes).
    IdempotencyKey(IdempotencyKey),
    /// Any other header.
    Other(String, String),
}

/// Parses `Name: value` headers; refuses the ones the client sets itself.
fn parse_headers(raw: &[String]) -> Result<Vec<Header>, Fail> {
    let mut headers = Vec::with_capacity(raw.len());
    for (i, h) in raw.iter().enumerate() {
        let Some((name, value)) = h.split_once(':') else {
            // Never echo it: a malformed header may well be a credential.
            return Err(Fail::config(format_args!(
                "-H header #{} is not 'Name: value'",
                i + 1
            )));
        };
        let name = name.trim();
        let value = value.trim();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(Fail::config(format_args!("invalid header name {name:?}")));
        }
        if value.chars().any(char::is_control) {
            return Err(Fail::config(format_args!(
                "header {name}: the value contains a control character"
            )));
        }
        if RESERVED_HEADERS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            // Never echo the value: it may be a credential.
            return Err(Fail::config(format_args!(
                "header {name} is set by mtls itself and cannot be given with -H"
            )));
        }
        if name.eq_ignore_ascii_case("idempotency-key") {
            let key = IdempotencyKey::new(value)
                .map_err(|e| Fail::config(format_args!("header Idempotency-Key: {e}")))?;
            headers.push(Header::IdempotencyKey(key));
        } else {
            headers.push(Header::Other(name.to_owned(), value.to_owned()));
        }
    }
    Ok(headers)
}

/// The body of `--data`: the text, `@FILE`, or `-` for stdin.
fn read_body(data: &str) -> Result<Vec<u8>, Fail> {
    if data == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut body)
            .map_err(|e| Fail::config(format_args!("--data -: reading stdin: {e}")))?;
        return Ok(body);
    }
    if let Some(path) = data.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| Fail::config(format_args!("--data @{path}: {e}")));
    }
    Ok(data.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_expand_client_id_and_gain_a_slash() {
        assert_eq!(
            expand_path("v2.01/{client_id}/users/1", "acme").unwrap(),
            "/v2.01/acme/users/1"
        );
        assert!(expand_path("/a b", "acme").is_err());
    }

    #[test]
    fn headers_parse_and_reserved_ones_are_refused_without_echo() {
        let parsed = parse_headers(&["X-Trace: abc".into()]).unwrap();
        assert!(matches!(&parsed[0], Header::Other(n, v) if n == "X-Trace" && v == "abc"));
        match parse_headers(&["Authorization: Bearer s3cret".into()]) {
            Err(Fail::Config(m)) => assert!(!m.contains("s3cret"), "{m}"),
            other => panic!("{other:?}"),
        }
        match parse_headers(&["Bearer-s3cret".into()]) {
            Err(Fail::Config(m)) => assert!(!m.contains("s3cret"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(parse_headers(&["Idempotency-Key: short".into()]).is_err());
        assert!(matches!(
            parse_headers(&["idempotency-key: order-2026-000123-try1".into()]).unwrap()[0],
            Header::IdempotencyKey(_)
        ));
    }

    #[test]
    fn methods_are_upper_cased_tokens() {
        assert_eq!(parse_method("get").unwrap(), "GET");
        assert!(parse_method("GE T").is_err());
    }
}
