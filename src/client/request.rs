//! What callers queue: an owned API request.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use crate::auth::IdempotencyKey;

/// Identifies a request queued with [`super::Client::send`]; its outcome event carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The sequence number (0, 1, 2, ... per client).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// An API call: method, path under the base URL, extra headers, optional body.
///
/// `Authorization`, `Host`, `Content-Length` and `Connection` are set by the client.
///
/// ```
/// use mtls_core::client::ApiRequest;
/// use mtls_core::auth::IdempotencyKey;
/// let get = ApiRequest::get("/v2.01/my-client/users/123");
/// assert!(get.is_retry_safe());
/// let post = ApiRequest::post("/v2.01/my-client/payins", br#"{"Amount":100}"#.to_vec())
///     .header("Content-Type", "application/json");
/// assert!(!post.is_retry_safe());
/// let post = post.idempotency_key(IdempotencyKey::from_random([7; 16]));
/// assert!(post.is_retry_safe());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The common methods are borrowed (no allocation), others owned.
    pub(super) method: Cow<'static, str>,
    /// Path (and query) under the base URL, starting with `/`.
    pub(super) path: String,
    /// Extra headers. Values are not secret-redacted: do not put credentials here.
    pub(super) headers: Vec<(String, String)>,
    /// Sent with `Content-Length`.
    pub(super) body: Option<Vec<u8>>,
    /// Sent as `Idempotency-Key`; makes a POST safe to retry.
    pub(super) idempotency_key: Option<IdempotencyKey>,
}

impl core::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

impl ApiRequest {
    /// A request with any method.
    pub fn new(method: &str, path: &str) -> ApiRequest {
        const COMMON: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
        let method = match COMMON.iter().find(|m| **m == method) {
            Some(m) => Cow::Borrowed(*m),
            None => Cow::Owned(String::from(method)),
        };
        ApiRequest {
            method,
            path: String::from(path),
            headers: Vec::new(),
            body: None,
            idempotency_key: None,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> ApiRequest {
        ApiRequest::new("GET", path)
    }

    /// `POST path` with `body`.
    pub fn post(path: &str, body: Vec<u8>) -> ApiRequest {
        ApiRequest::new("POST", path).body(body)
    }

    /// `PUT path` with `body`.
    pub fn put(path: &str, body: Vec<u8>) -> ApiRequest {
        ApiRequest::new("PUT", path).body(body)
    }

    /// `DELETE path`.
    pub fn delete(path: &str) -> ApiRequest {
        ApiRequest::new("DELETE", path)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> ApiRequest {
        self.headers.push((String::from(name), String::from(value)));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: Vec<u8>) -> ApiRequest {
        self.body = Some(body);
        self
    }

    /// Sets the idempotency key.
    #[must_use]
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> ApiRequest {
        self.idempotency_key = Some(key);
        self
    }

    /// The path (and query) under the base URL.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether repeating the request cannot do harm: an idempotent method (RFC 9110
    /// section 9.2.2) or an idempotency key.
    pub fn is_retry_safe(&self) -> bool {
        matches!(&*self.method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS")
            || self.idempotency_key.is_some()
    }
}

/// A request the client holds until it ends.
pub(super) struct Pending {
    pub(super) id: RequestId,
    pub(super) request: ApiRequest,
    /// Connections it was written to.
    pub(super) attempts: u8,
    /// A `401` already cost it a token refresh.
    pub(super) auth_retried: bool,
    /// A transport took some of its bytes on some connection: from then on it is never
    /// reported as not sent.
    pub(super) maybe_sent: bool,
}
