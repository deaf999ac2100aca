//! Wire work for the state machine: the token request and API requests as HTTP bytes, and
//! handing them to TLS. No state changes here: the callers in `state` decide what follows.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use zeroize::Zeroizing;

use super::state::Link;
use super::{ApiRequest, ClientConfig};
use crate::auth::{CachedToken, Credentials, TokenRequest, IDEMPOTENCY_KEY_HEADER};
use crate::error::Error;
use crate::http::{self, Request, ResponseContext};

/// An encoded request: its bytes (wiped when dropped: they carry credentials or a token)
/// and how its response is framed.
pub(super) struct Encoded {
    bytes: Zeroizing<Vec<u8>>,
    context: ResponseContext,
}

/// The OAuth2 client-credentials request, with the Basic credentials.
pub(super) fn token_request(
    config: &ClientConfig,
    credentials: &Credentials,
) -> Result<Encoded, Error> {
    let token_request = TokenRequest::with_path(credentials, &config.token_path)?;
    let headers = token_request.headers();
    let values: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|h| {
            core::str::from_utf8(h.expose_value())
                .ok()
                .map(|v| (h.name(), v))
        })
        .collect();
    let target = format!("{}{}", config.path_prefix, token_request.path());
    let host = host_header(&config.host, config.port);
    let request = Request::new(token_request.method(), &host, &target)
        .headers(&values)
        .body(token_request.body());
    encode(&request, config)
}

/// An API request, with `token` as `Bearer` when there is one. The client owns
/// `Authorization` when it holds a token: a caller header of that name is refused.
pub(super) fn api_request(
    config: &ClientConfig,
    api: &ApiRequest,
    token: Option<&CachedToken>,
) -> Result<Encoded, Error> {
    if token.is_some() {
        if let Some(index) = api
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
        {
            return Err(Error::Http(http::HttpError::Local(
                http::LocalError::ReservedHeader { index },
            )));
        }
    }
    let bearer = token.map(CachedToken::bearer_header);
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(api.headers.len() + 2);
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.expose()));
    }
    if let Some(key) = &api.idempotency_key {
        headers.push((IDEMPOTENCY_KEY_HEADER, key.as_str()));
    }
    for (n, v) in &api.headers {
        headers.push((n.as_str(), v.as_str()));
    }
    let target = format!("{}{}", config.path_prefix, api.path);
    let host = host_header(&config.host, config.port);
    let mut request = Request::new(&api.method, &host, &target).headers(&headers);
    if let Some(body) = &api.body {
        request = request.body(body);
    }
    encode(&request, config)
}

/// Encodes a request, refusing one whose ciphertext could not fit the outgoing buffer
/// before any byte of it is queued.
fn encode(request: &Request<'_>, config: &ClientConfig) -> Result<Encoded, Error> {
    let limits = config.tls_limits;
    let mut bytes = Zeroizing::new(Vec::new());
    request
        .encode_to_vec(&mut bytes, limits.max_plaintext_out)
        .map_err(|e| match e {
            http::LocalError::InsufficientSize(_) => Error::RequestTooLarge,
            other => Error::Http(http::HttpError::Local(other)),
        })?;
    if ciphertext_bound(bytes.len()) > limits.max_outgoing {
        return Err(Error::RequestTooLarge);
    }
    Ok(Encoded {
        bytes,
        context: request.response_context(),
    })
}

/// Queues an encoded request on the connection; returns the ciphertext offset where it
/// starts (see `Conn::Requesting::tx_mark`).
pub(super) fn transmit(link: &mut Link, request: Encoded) -> Result<u64, Error> {
    let mark = link.tx_taken + link.tls.pending_transmit().len() as u64;
    let queued = link.tls.send_plaintext(&request.bytes)?;
    if queued < request.bytes.len() {
        return Err(Error::RequestTooLarge);
    }
    link.decoder.expect_response(request.context)?;
    Ok(mark)
}

/// The most ciphertext `len` bytes of plaintext can become: per record of at most 16 KiB,
/// a 5-byte header plus at most 27 bytes of nonce, tag and content type (TLS 1.2 AES-GCM
/// needs 24, TLS 1.3 needs 17), rounded up to 32.
fn ciphertext_bound(len: usize) -> usize {
    len.saturating_add(len.div_ceil(16 * 1024).max(1).saturating_mul(32))
}

/// The `Host` header: IPv6 literals bracketed, the port only when not 443.
fn host_header(host: &str, port: u16) -> String {
    let bracketed = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        String::from(host)
    };
    if port == 443 {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    }
}
