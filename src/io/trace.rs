//! (feature `tracing`) What the hosts tell [`tracing`](https://docs.rs/tracing): one event
//! per connection attempt, handshake, token fetch, token rejection, store step, warning and
//! request outcome, under a span per call. Without the feature these are empty functions.
//!
//! Every field is a number, a name or a `Display` of this crate's error and warning types,
//! which carry no secret: no header, no body, no token, no key, no URL query is traced.
//!
//! | event (target `mtls_core`) | level | fields |
//! |---|---|---|
//! | `connecting` | debug | `host`, `port` |
//! | `reconnecting` (the session's kept-alive connection ended, or a request is retried on a new one) | info | `host`, `port`, `connection` (the session's how-manyth) |
//! | `connect failed` | warn | `host`, `port`, `error` (the OS's words) |
//! | `handshake complete` | info | `tls_version`, `client_cert_requested` |
//! | `token fetched` | info | `expires_in_secs` |
//! | `token rejected (401): retrying with a new one` | warn | `request` |
//! | `token loaded from the store` / `store lease taken` / `token published to the store` / `rejected token removed from the store` / `token store answers again` | info (lease: debug) | |
//! | `token store unavailable` | warn | `error` |
//! | `warning` | warn | `warning` |
//! | `connection closed` | debug | `error` (absent when orderly) |
//! | `response` | info | `request` (its index in the call), `status` |
//! | `request failed` | warn | `request`, `kind` (`NotSent` / `OutcomeUnknown`), `error` |
//! | `strong customer authentication required` | info | `request` |
//!
//! Spans: `mtls.request` (`host`) around each call of `StdClient`/`Session`, `Pool`,
//! `TokioClient` and `TokioPool`.

#[cfg(feature = "tracing")]
mod on {
    use crate::auth::StoreNotice;
    use crate::client::Event;
    use crate::io::session::Outcome;
    use crate::io::RequestError;

    pub(crate) fn span(host: &str) -> tracing::Span {
        tracing::info_span!(target: "mtls_core", "mtls.request", host)
    }

    pub(crate) fn connecting(host: &str, port: u16, connection: u32) {
        if connection > 1 {
            // A kept-alive connection ended, or a request is retried on a new one.
            tracing::info!(target: "mtls_core", host, port, connection, "reconnecting");
        } else {
            tracing::debug!(target: "mtls_core", host, port, "connecting");
        }
    }

    pub(crate) fn connect_failed(host: &str, port: u16, error: &dyn core::fmt::Display) {
        tracing::warn!(target: "mtls_core", host, port, %error, "connect failed");
    }

    pub(crate) fn event(event: &Event) {
        match event {
            Event::Connected {
                version,
                client_cert_requested,
            } => tracing::info!(
                target: "mtls_core",
                tls_version = ?version,
                client_cert_requested,
                "handshake complete"
            ),
            Event::TokenFetched { expires_in } => tracing::info!(
                target: "mtls_core",
                expires_in_secs = expires_in.as_secs(),
                "token fetched"
            ),
            Event::Warning(warning) => {
                tracing::warn!(target: "mtls_core", %warning, "warning")
            }
            Event::ConnectionClosed { error: Some(error) } => {
                tracing::debug!(target: "mtls_core", %error, "connection closed")
            }
            Event::ConnectionClosed { error: None } => {
                tracing::debug!(target: "mtls_core", "connection closed")
            }
            // Outcomes and rejections are traced with the request's index (`outcome`,
            // `token_rejected`).
            _ => {}
        }
    }

    pub(crate) fn token_rejected(index: Option<usize>) {
        tracing::warn!(
            target: "mtls_core",
            request = index,
            "token rejected (401): retrying with a new one"
        );
    }

    pub(crate) fn outcome(index: usize, outcome: &Outcome) {
        match outcome {
            Ok(response) => tracing::info!(
                target: "mtls_core",
                request = index,
                status = response.status,
                "response"
            ),
            Err(RequestError::Failed { failure, transport }) => match transport {
                Some(transport) => tracing::warn!(
                    target: "mtls_core",
                    request = index,
                    kind = ?failure.kind,
                    error = %failure.error,
                    %transport,
                    "request failed"
                ),
                None => tracing::warn!(
                    target: "mtls_core",
                    request = index,
                    kind = ?failure.kind,
                    error = %failure.error,
                    "request failed"
                ),
            },
            Err(RequestError::ScaRequired { .. }) => tracing::info!(
                target: "mtls_core",
                request = index,
                "strong customer authentication required"
            ),
        }
    }

    pub(crate) fn store(notice: &StoreNotice) {
        match notice {
            StoreNotice::Unavailable(error) => {
                tracing::warn!(target: "mtls_core", %error, "token store unavailable")
            }
            StoreNotice::Recovered => {
                tracing::info!(target: "mtls_core", "token store answers again")
            }
            StoreNotice::Loaded => {
                tracing::info!(target: "mtls_core", "token loaded from the store")
            }
            StoreNotice::LeaseTaken => {
                tracing::debug!(target: "mtls_core", "store lease taken")
            }
            StoreNotice::Published => {
                tracing::info!(target: "mtls_core", "token published to the store")
            }
            StoreNotice::Removed => {
                tracing::info!(target: "mtls_core", "rejected token removed from the store")
            }
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod on {
    use crate::auth::StoreNotice;
    use crate::client::Event;
    use crate::io::session::Outcome;

    /// A span that is nothing.
    pub(crate) struct Span;

    impl Span {
        pub(crate) fn entered(self) -> Span {
            self
        }
    }

    pub(crate) fn span(_: &str) -> Span {
        Span
    }
    pub(crate) fn connecting(_: &str, _: u16, _: u32) {}
    pub(crate) fn connect_failed(_: &str, _: u16, _: &dyn core::fmt::Display) {}
    pub(crate) fn event(_: &Event) {}
    pub(crate) fn token_rejected(_: Option<usize>) {}
    pub(crate) fn outcome(_: usize, _: &Outcome) {}
    pub(crate) fn store(_: &StoreNotice) {}
}

pub(crate) use on::*;
