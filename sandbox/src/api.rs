//! The sandbox's HTTP side: request framing (httparse, Content-Length only), the token
//! endpoint, the sample resources and the Mangopay-style error bodies.
//!
//! Everything here works on bytes and a locked [`State`]; sockets, TLS and threads are in
//! `server.rs`.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use std::collections::HashMap;
use std::time::Instant;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::server::RequestRecord;
use super::{random_hex, SandboxError};

/// Largest request head (request line and headers) we buffer.
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Largest request body we accept.
pub(super) const MAX_BODY: usize = 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// Most live tokens and remembered idempotency keys; the oldest are dropped beyond.
const MAX_TOKENS: usize = 4096;
const MAX_IDEMPOTENCY_KEYS: usize = 1024;
/// How many [`RequestRecord`]s the log keeps.
pub(super) const MAX_LOG: usize = 1024;
/// The rate limit announced in `X-RateLimit-Remaining` (per 15-minute window, as Mangopay's
/// first window).
const RATE_LIMIT: u64 = 2300;
const RATE_WINDOW_SECS: i64 = 15 * 60;

/// What never changes after start.
pub(super) struct Fixed {
    pub client_id: String,
    pub api_key: Zeroizing<String>,
    pub token_path: String,
    /// `Basic base64(client_id:api_key)`, the exact header value expected.
    pub basic: Zeroizing<String>,
}

impl Fixed {
    pub fn new(client_id: String, api_key: Zeroizing<String>, token_path: String) -> Self {
        let joined = Zeroizing::new(format!("{client_id}:{}", api_key.as_str()));
        let basic = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(joined.as_bytes())
        ));
        Fixed {
            client_id,
            api_key,
            token_path,
            basic,
        }
    }
}

/// The knob values, as set by `SandboxConfig` and changed through `Knobs`.
#[derive(Clone, Debug)]
pub(super) struct KnobValues {
    pub token_lifetime_secs: i64,
    pub force_401_count: u32,
    pub sca_paths: Vec<String>,
    pub truncate_next_response: bool,
    pub slow_response_ms: u64,
    pub close_after_each_response: bool,
    pub close_before_response_count: u32,
    pub token_response_override: Option<(u16, String)>,
    pub require_client_cert: bool,
    pub idle_timeout_ms: u64,
}

/// Mutable server state, behind one mutex.
pub(super) struct State {
    pub knobs: KnobValues,
    /// Live tokens and when they expire (server clock).
    tokens: HashMap<String, Instant>,
    /// Insertion order of `tokens`, to drop the oldest beyond `MAX_TOKENS`.
    token_order: VecDeque<String>,
    /// `Idempotency-Key` -> the response first given to it.
    idempotent: HashMap<String, Response>,
    idempotent_order: VecDeque<String>,
    next_id: u64,
    pub log: VecDeque<RequestRecord>,
}

impl State {
    pub fn new(knobs: KnobValues) -> Self {
        State {
            knobs,
            tokens: HashMap::new(),
            token_order: VecDeque::new(),
            idempotent: HashMap::new(),
            idempotent_order: VecDeque::new(),
            next_id: 1000,
            log: VecDeque::new(),
        }
    }

    /// Forgets every token (as if all were revoked or expired).
    pub fn clear_tokens(&mut self) {
        self.tokens.clear();
        self.token_order.clear();
    }

    fn insert_token(&mut self, token: String, expires: Instant) {
        while self.token_order.len() >= MAX_TOKENS {
            if let Some(old) = self.token_order.pop_front() {
                self.tokens.remove(&old);
            }
        }
        self.token_order.push_back(token.clone());
        self.tokens.insert(token, expires);
    }

    fn remove_token(&mut self, token: &str) {
        self.tokens.remove(token);
        self.token_order.retain(|t| t != token);
    }

    fn remember_idempotent(&mut self, key: String, response: Response) {
        while self.idempotent_order.len() >= MAX_IDEMPOTENCY_KEYS {
            if let Some(old) = self.idempotent_order.pop_front() {
                self.idempotent.remove(&old);
            }
        }
        self.idempotent_order.push_back(key.clone());
        self.idempotent.insert(key, response);
    }
}

/// One parsed request.
pub(super) struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The client asked to close after this request (`Connection: close` or HTTP/1.0).
    pub wants_close: bool,
}

impl Request {
    /// The first header with this name (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Outcome of trying to take one request off the front of the buffer.
pub(super) enum Parsed {
    /// Need more bytes.
    Partial,
    /// A request, and how many bytes of the buffer it used.
    Complete(Request, usize),
    /// The bytes are not a request we accept: answer with this status and close.
    Invalid(u16, &'static str),
}

/// Parses one request from the front of `buf`. Only `Content-Length` bodies are accepted.
pub(super) fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_HEAD {
                Parsed::Invalid(431, "the request head is too large")
            } else {
                Parsed::Partial
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Invalid(431, "the request has too many headers")
        }
        Err(_) => return Parsed::Invalid(400, "the request is not valid HTTP/1.1"),
    };
    if head_len > MAX_HEAD {
        return Parsed::Invalid(431, "the request head is too large");
    }
    // httparse only completes with all of these set.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Invalid(400, "the request line is incomplete");
    };

    let mut content_length: Option<usize> = None;
    let mut wants_close = version == 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Invalid(411, "only Content-Length request bodies are accepted");
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = core::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
            else {
                return Parsed::Invalid(400, "Content-Length is not a number");
            };
            if content_length.is_some_and(|prev| prev != n) {
                return Parsed::Invalid(400, "conflicting Content-Length headers");
            }
            content_length = Some(n);
        }
        if h.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(h.value);
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                wants_close = true;
            }
        }
    }
    let body_len = match (content_length, method) {
        (Some(n), _) => n,
        (None, "POST" | "PUT" | "PATCH") => {
            return Parsed::Invalid(411, "a request body needs Content-Length")
        }
        (None, _) => 0,
    };
    if body_len > MAX_BODY {
        return Parsed::Invalid(413, "the request body is too large");
    }
    let Some(end) = head_len.checked_add(body_len) else {
        return Parsed::Invalid(413, "the request body is too large");
    };
    if buf.len() < end {
        return Parsed::Partial;
    }
    let request = Request {
        method: method.into(),
        target: target.into(),
        headers: req
            .headers
            .iter()
            .map(|h| (String::from(h.name), h.value.to_vec()))
            .collect(),
        body: buf[head_len..end].to_vec(),
        wants_close,
    };
    Parsed::Complete(request, end)
}

/// One response.
#[derive(Clone, Debug)]
pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Self {
        Response {
            status,
            headers: std::vec![("Content-Type", "application/json; charset=utf-8".into())],
            body: body.into_bytes(),
        }
    }

    /// The status line and headers (with `Content-Length` and `Connection`), and the body.
    pub fn encode(&self, close: bool) -> (Vec<u8>, &[u8]) {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        (head.into_bytes(), &self.body)
    }
}

/// Which endpoint a request is for, decided before any knob applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Token,
    Api,
    Other,
}

pub(super) fn classify(fixed: &Fixed, req: &Request) -> Kind {
    let path = req.path();
    if path == fixed.token_path {
        Kind::Token
    } else if path.starts_with("/v2.01/") {
        Kind::Api
    } else {
        Kind::Other
    }
}

/// Clock readings for one request.
pub(super) struct Now {
    pub instant: Instant,
    pub unix: i64,
}

/// Answers one request. `api_count` is the number of API requests so far (for the
/// rate-limit headers).
pub(super) fn handle(
    fixed: &Fixed,
    state: &mut State,
    req: &Request,
    kind: Kind,
    now: &Now,
    api_count: u64,
) -> Result<Response, SandboxError> {
    match kind {
        Kind::Token => token_endpoint(fixed, state, req, now),
        Kind::Api => {
            let mut response = api_endpoint(fixed, state, req, now)?;
            let reset = now.unix - now.unix.rem_euclid(RATE_WINDOW_SECS) + RATE_WINDOW_SECS;
            response
                .headers
                .push(("X-RateLimit", api_count.to_string()));
            response.headers.push((
                "X-RateLimit-Remaining",
                RATE_LIMIT.saturating_sub(api_count).to_string(),
            ));
            response
                .headers
                .push(("X-RateLimit-Reset", reset.to_string()));
            Ok(response)
        }
        Kind::Other => error(
            404,
            "The ressource does not exist",
            "ressource_not_found",
            &[],
            now,
        ),
    }
}

fn token_endpoint(
    fixed: &Fixed,
    state: &mut State,
    req: &Request,
    now: &Now,
) -> Result<Response, SandboxError> {
    if req.method != "POST" {
        let mut r = error(
            405,
            "The token endpoint only accepts POST",
            "method_not_allowed",
            &[],
            now,
        )?;
        r.headers.push(("Allow", "POST".into()));
        return Ok(r);
    }
    if req.header("authorization") != Some(fixed.basic.as_str()) {
        let mut r = error(
            401,
            "Authorization has been denied for this request: invalid client credentials",
            "invalid_client",
            &[],
            now,
        )?;
        r.headers
            .push(("WWW-Authenticate", "Basic realm=\"sandbox\"".into()));
        return Ok(r);
    }
    let form = req
        .header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            ct.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return error(
            400,
            "The token request must be application/x-www-form-urlencoded",
            "param_error",
            &[("Content-Type", "must be application/x-www-form-urlencoded")],
            now,
        );
    }
    let body = core::str::from_utf8(&req.body).unwrap_or("");
    let grant = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "grant_type")
        .map(|(_, v)| v);
    if grant != Some("client_credentials") {
        return error(
            400,
            "One or several required parameters are missing or incorrect",
            "param_error",
            &[("grant_type", "must be client_credentials")],
            now,
        );
    }
    if let Some((status, body)) = &state.knobs.token_response_override {
        return Ok(Response::json(*status, body.clone()));
    }
    let lifetime = state.knobs.token_lifetime_secs;
    let token = random_hex(16)?;
    // A lifetime of zero or less gives a token that is already expired; a huge one is capped
    // where `Instant` can still represent it.
    let wanted = Duration::from_secs(u64::try_from(lifetime).unwrap_or(0));
    let expires = now
        .instant
        .checked_add(wanted)
        .or_else(|| {
            now.instant
                .checked_add(Duration::from_secs(100 * 365 * 86_400))
        })
        .unwrap_or(now.instant);
    state.insert_token(token.clone(), expires);
    Ok(Response::json(
        200,
        format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{lifetime}}}"#),
    ))
}

fn api_endpoint(
    fixed: &Fixed,
    state: &mut State,
    req: &Request,
    now: &Now,
) -> Result<Response, SandboxError> {
    let token = req
        .header("authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());

    if state.knobs.force_401_count > 0 {
        state.knobs.force_401_count -= 1;
        if let Some(token) = token {
            state.remove_token(token);
        }
        return unauthorized("The access token was revoked", now);
    }
    let Some(token) = token else {
        return unauthorized("Authorization has been denied for this request", now);
    };
    match state.tokens.get(token) {
        Some(expires) if *expires > now.instant => {}
        Some(_) => {
            state.remove_token(token);
            return unauthorized("The access token has expired", now);
        }
        None => return unauthorized("The access token is not valid", now),
    }

    let path = req.path();
    if state.knobs.sca_paths.iter().any(|p| p == path) {
        let mut r = error(
            401,
            "Strong customer authentication is required for this action",
            "pending_user_action",
            &[],
            now,
        )?;
        let url = format!("https://sandbox.example/sca/{}", random_hex(8)?);
        r.headers.push((
            "WWW-Authenticate",
            format!("PendingUserAction RedirectUrl={url}"),
        ));
        return Ok(r);
    }

    // /v2.01/{client_id}/{resource...}
    let rest = path.strip_prefix("/v2.01/").unwrap_or("");
    let (client_id, resource) = rest.split_once('/').unwrap_or((rest, ""));
    if client_id != fixed.client_id {
        return error(
            403,
            "The client id in the path does not match the token",
            "forbidden_ressource",
            &[],
            now,
        );
    }
    let segments: Vec<&str> = resource.split('/').filter(|s| !s.is_empty()).collect();
    let Some(collection) = segments.first().copied() else {
        return error(
            404,
            "The ressource does not exist",
            "ressource_not_found",
            &[],
            now,
        );
    };
    let path_id = if segments.len() > 1 {
        segments.last().copied()
    } else {
        None
    };

    match req.method.as_str() {
        "GET" => {
            let id = path_id.map(String::from).unwrap_or_else(|| {
                state.next_id += 1;
                state.next_id.to_string()
            });
            Ok(Response::json(
                200,
                format!(
                    r#"{{"Id":{},"Tag":"sandbox","Resource":{},"CreationDate":{}}}"#,
                    json_string(&id),
                    json_string(collection),
                    now.unix
                ),
            ))
        }
        "POST" | "PUT" => {
            let key = req.header("idempotency-key").map(String::from);
            if req.method == "POST" {
                if let Some(previous) = key.as_ref().and_then(|k| state.idempotent.get(k)) {
                    return Ok(previous.clone());
                }
            }
            let Some(fields) = json_object_fields(&req.body) else {
                return error(
                    400,
                    "The request body must be a JSON object",
                    "param_error",
                    &[("body", "must be a JSON object")],
                    now,
                );
            };
            let id = match (req.method.as_str(), path_id) {
                ("PUT", Some(id)) => String::from(id),
                _ => {
                    state.next_id += 1;
                    state.next_id.to_string()
                }
            };
            let separator = if fields.is_empty() { "" } else { "," };
            let response = Response::json(
                200,
                format!(
                    r#"{{"Id":{},"CreationDate":{}{separator}{fields}}}"#,
                    json_string(&id),
                    now.unix
                ),
            );
            if let (Some(key), "POST") = (key, req.method.as_str()) {
                state.remember_idempotent(key, response.clone());
            }
            Ok(response)
        }
        _ => {
            let mut r = error(
                405,
                "This method is not allowed on this ressource",
                "method_not_allowed",
                &[],
                now,
            )?;
            r.headers.push(("Allow", "GET, POST, PUT".into()));
            Ok(r)
        }
    }
}

fn unauthorized(message: &str, now: &Now) -> Result<Response, SandboxError> {
    let mut r = error(401, message, "invalid_token", &[], now)?;
    r.headers.push((
        "WWW-Authenticate",
        "Bearer realm=\"sandbox\", error=\"invalid_token\"".into(),
    ));
    Ok(r)
}

/// A Mangopay-style error response: `{"Message","Type","Id","Date","errors"}`.
pub(super) fn error(
    status: u16,
    message: &str,
    kind: &str,
    errors: &[(&str, &str)],
    now: &Now,
) -> Result<Response, SandboxError> {
    let mut fields = String::new();
    for (i, (name, what)) in errors.iter().enumerate() {
        if i > 0 {
            fields.push(',');
        }
        fields.push_str(&json_string(name));
        fields.push(':');
        fields.push_str(&json_string(what));
    }
    Ok(Response::json(
        status,
        format!(
            r#"{{"Message":{},"Type":{},"Id":"{}","Date":{},"errors":{{{fields}}}}}"#,
            json_string(message),
            json_string(kind),
            random_hex(8)?,
            now.unix
        ),
    ))
}

/// The inside of a JSON object body (between the outer braces, trimmed), or `None` when the
/// body is not shaped like one object. A shallow check: the sandbox echoes, it does not
/// validate.
fn json_object_fields(body: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(body).ok()?.trim();
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    Some(inner.trim().into())
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reason phrases for the statuses the sandbox (or a token override) may send.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
