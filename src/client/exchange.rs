//! Wire work for the state machine: the token request and API requests as HTTP bytes, and
//! handing them to TLS. No state changes here: the callers in `state` decide what follows.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use zeroize::{Zeroize, Zeroizing};

use super::state::Link;
use super::{ApiRequest, ClientConfig};
use crate::auth::{CachedToken, Credentials, TokenRequest, IDEMPOTENCY_KEY_HEADER};
use crate::error::Error;
use crate::http::{self, Request, ResponseContext};

/// The buffers requests are written through, kept by the client between requests so a
/// warm request allocates nothing: the `Host` value (computed once), the request-target,
/// the `Authorization` value and the encoded bytes. The last two carry credentials or a
/// token: they are wiped after each request (and when dropped), their capacity kept.
pub(super) struct Scratch {
    host: String,
    target: String,
    authorization: Zeroizing<String>,
    wire: Zeroizing<Vec<u8>>,
}

impl Scratch {
    pub(super) fn new(config: &ClientConfig) -> Scratch {
        Scratch {
            host: host_header(&config.host, config.port),
            target: String::new(),
            authorization: Zeroizing::new(String::new()),
            wire: Zeroizing::new(Vec::new()),
        }
    }

    /// Wipes what the last request left (its credentials or token), keeping the capacity.
    fn wipe(&mut self) {
        self.authorization.zeroize();
        self.wire.zeroize();
    }
}

/// Header lists up to this long are built on the stack; longer ones allocate.
const INLINE_HEADERS: usize = 8;

/// A request's header list: on the stack when short.
// Inline on purpose: boxing the short list would be the allocation it exists to avoid (it
// lives for one call; 8 entries are 128 bytes on a 32-bit target).
#[allow(clippy::large_enum_variant)]
enum HeaderList<'a> {
    Inline(heapless::Vec<(&'a str, &'a str), INLINE_HEADERS>),
    Heap(Vec<(&'a str, &'a str)>),
}

impl<'a> HeaderList<'a> {
    fn with_capacity(n: usize) -> Self {
        if n <= INLINE_HEADERS {
            HeaderList::Inline(heapless::Vec::new())
        } else {
            HeaderList::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, header: (&'a str, &'a str)) {
        match self {
            HeaderList::Inline(v) => {
                if let Err(header) = v.push(header) {
                    // More than announced: move to the heap rather than lose a header.
                    let mut heap: Vec<(&'a str, &'a str)> = v.iter().copied().collect();
                    heap.push(header);
                    *self = HeaderList::Heap(heap);
                }
            }
            HeaderList::Heap(v) => v.push(header),
        }
    }

    fn as_slice(&self) -> &[(&'a str, &'a str)] {
        match self {
            HeaderList::Inline(v) => v,
            HeaderList::Heap(v) => v,
        }
    }
}

/// The OAuth2 client-credentials request, with the Basic credentials, encoded into
/// `scratch`; returns how its response is framed.
pub(super) fn token_request(
    config: &ClientConfig,
    credentials: &Credentials,
    scratch: &mut Scratch,
) -> Result<ResponseContext, Error> {
    let encoded = encode_token_request(config, credentials, scratch);
    if encoded.is_err() {
        scratch.wipe(); // the credentials may be in it
    }
    encoded
}

fn encode_token_request(
    config: &ClientConfig,
    credentials: &Credentials,
    scratch: &mut Scratch,
) -> Result<ResponseContext, Error> {
    let token_request = TokenRequest::with_path(credentials, &config.token_path)?;
    let headers = token_request.headers();
    let mut values = HeaderList::with_capacity(headers.len());
    for h in headers.iter() {
        if let Ok(v) = core::str::from_utf8(h.expose_value()) {
            values.push((h.name(), v));
        }
    }
    let Scratch {
        host, target, wire, ..
    } = scratch;
    target.clear();
    target.push_str(&config.path_prefix);
    target.push_str(token_request.path());
    let request = Request::new(token_request.method(), host, target)
        .headers(values.as_slice())
        .body(token_request.body());
    encode(&request, config, wire)
}

/// An API request, with `token` as `Bearer` when there is one, encoded into `scratch`;
/// returns how its response is framed. The client owns `Authorization` when it holds a
/// token: a caller header of that name is refused.
pub(super) fn api_request(
    config: &ClientConfig,
    scratch: &mut Scratch,
    api: &ApiRequest,
    token: Option<&CachedToken>,
) -> Result<ResponseContext, Error> {
    let encoded = encode_api_request(config, scratch, api, token);
    if encoded.is_err() {
        scratch.wipe(); // the token may be in it
    }
    encoded
}

fn encode_api_request(
    config: &ClientConfig,
    scratch: &mut Scratch,
    api: &ApiRequest,
    token: Option<&CachedToken>,
) -> Result<ResponseContext, Error> {
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
    let Scratch {
        host,
        target,
        authorization,
        wire,
    } = scratch;
    let mut headers = HeaderList::with_capacity(api.headers.len() + 2);
    if let Some(token) = token {
        token.token().write_bearer(authorization);
        headers.push(("Authorization", authorization.as_str()));
    }
    if let Some(key) = &api.idempotency_key {
        headers.push((IDEMPOTENCY_KEY_HEADER, key.as_str()));
    }
    for (n, v) in &api.headers {
        headers.push((n.as_str(), v.as_str()));
    }
    target.clear();
    target.push_str(&config.path_prefix);
    target.push_str(&api.path);
    let mut request = Request::new(&api.method, host, target).headers(headers.as_slice());
    if let Some(body) = &api.body {
        request = request.body(body);
    }
    encode(&request, config, wire)
}

/// Encodes a request into `wire` (emptied first), refusing one whose ciphertext could not
/// fit the outgoing buffer before any byte of it is queued.
fn encode(
    request: &Request<'_>,
    config: &ClientConfig,
    wire: &mut Vec<u8>,
) -> Result<ResponseContext, Error> {
    let limits = config.tls_limits;
    wire.zeroize();
    request
        .encode_to_vec(wire, limits.max_plaintext_out)
        .map_err(|e| match e {
            http::LocalError::InsufficientSize(_) => Error::RequestTooLarge,
            other => Error::Http(http::HttpError::Local(other)),
        })?;
    if ciphertext_bound(wire.len()) > limits.max_outgoing {
        return Err(Error::RequestTooLarge);
    }
    Ok(request.response_context())
}

/// Queues the request encoded in `scratch` on the connection, then wipes `scratch`; returns
/// the ciphertext offset where it starts (see `Conn::Requesting::tx_mark`).
pub(super) fn transmit(
    link: &mut Link,
    scratch: &mut Scratch,
    context: ResponseContext,
) -> Result<u64, Error> {
    let sent = queue(link, &scratch.wire, context);
    scratch.wipe();
    sent
}

fn queue(link: &mut Link, bytes: &[u8], context: ResponseContext) -> Result<u64, Error> {
    let mark = link.tx_taken + link.tls.pending_transmit().len() as u64;
    let queued = link.tls.send_plaintext(bytes)?;
    if queued < bytes.len() {
        return Err(Error::RequestTooLarge);
    }
    link.decoder.expect_response(context)?;
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
