//! Opt-in session resumption: a bounded store of TLS 1.3 tickets and TLS 1.2 sessions shared
//! by the connections of one [`TlsConfig`](super::TlsConfig) (so of one client or pool),
//! that keeps only sessions in which the server asked for, and got, our certificate.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

use super::SeenRequest;

/// TLS 1.3 tickets kept per server: a server sends a few per connection (nginx: two), each
/// usable once.
const TICKETS_PER_SERVER: usize = 4;

/// A bounded, shared store of resumable TLS sessions, for
/// [`TlsConfig::with_resumption`](super::TlsConfig::with_resumption). Clones share the same
/// store. Off by default: see the [`tls`](super) module docs for the trade-off.
///
/// It holds, per server name (at most `max_servers`, the least recently stored forgotten
/// first), up to 4 TLS 1.3 tickets and one TLS 1.2 session, and only sessions in which the
/// server asked for our client certificate: a resumed connection is bound to the
/// certificate of the full handshake that made the session.
///
/// ```
/// use mtls_core::tls::SessionStore;
/// let store = SessionStore::new(8);
/// assert!(store.is_empty());
/// assert_eq!(store.max_servers(), 8);
/// ```
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Store>,
}

impl core::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The sessions themselves are secrets (resumption keys); only the counts show.
        f.debug_struct("SessionStore")
            .field("max_servers", &self.inner.max_servers)
            .field("sessions", &self.len())
            .finish()
    }
}

impl SessionStore {
    /// An empty store for up to `max_servers` server names (at least 1).
    pub fn new(max_servers: usize) -> SessionStore {
        SessionStore {
            inner: Arc::new(Store {
                max_servers: max_servers.max(1),
                servers: spin::Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// The most server names it keeps sessions for.
    pub fn max_servers(&self) -> usize {
        self.inner.max_servers
    }

    /// How many resumable sessions it holds (TLS 1.3 tickets plus TLS 1.2 sessions).
    pub fn len(&self) -> usize {
        self.inner
            .servers
            .lock()
            .iter()
            .map(|s| s.tickets.len() + usize::from(s.tls12.is_some()))
            .sum()
    }

    /// Whether it holds no resumable session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every session: the next connection to each server is a full handshake.
    pub fn clear(&self) {
        self.inner.servers.lock().clear();
    }

    pub(crate) fn shared(&self) -> Arc<Store> {
        self.inner.clone()
    }
}

/// What is kept for one server name.
struct Entry {
    server: ServerName<'static>,
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tickets: VecDeque<Tls13ClientSessionValue>,
}

/// The shared state behind a [`SessionStore`].
pub(crate) struct Store {
    max_servers: usize,
    /// Least recently stored first.
    servers: spin::Mutex<VecDeque<Entry>>,
}

impl Store {
    /// The entry for `server`, moved to the back (most recent), created if missing.
    fn with_entry<R>(&self, server: &ServerName<'_>, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut servers = self.servers.lock();
        let entry = match servers.iter().position(|e| &e.server == server) {
            Some(i) => servers.remove(i),
            None => None,
        };
        let mut entry = entry.unwrap_or_else(|| Entry {
            server: server.to_owned(),
            kx_hint: None,
            tls12: None,
            tickets: VecDeque::new(),
        });
        let r = f(&mut entry);
        while servers.len() >= self.max_servers {
            servers.pop_front();
        }
        servers.push_back(entry);
        r
    }

    /// Reads the entry for `server` without reordering.
    fn read<R>(&self, server: &ServerName<'_>, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let mut servers = self.servers.lock();
        servers.iter_mut().find(|e| &e.server == server).map(f)
    }
}

/// One connection's view of the shared store: it takes sessions from it, and gives back
/// only sessions whose server asked for our certificate (or that resumed such a session).
pub(crate) struct ConnStore {
    shared: Arc<Store>,
    seen: Arc<SeenRequest>,
    /// A stored session was handed to rustls to offer.
    offered: AtomicBool,
    /// A full handshake ended without the server asking for our certificate: nothing of this
    /// connection is stored.
    blocked: AtomicBool,
}

impl core::fmt::Debug for ConnStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnStore").finish_non_exhaustive()
    }
}

impl ConnStore {
    pub(crate) fn new(shared: Arc<Store>, seen: Arc<SeenRequest>) -> ConnStore {
        ConnStore {
            shared,
            seen,
            offered: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
        }
    }

    /// Whether a session of this connection may be stored: the server asked for our
    /// certificate in this handshake, or this connection offered a stored session (which
    /// was made that way); never after [`ConnStore::full_handshake_without_request`].
    fn may_store(&self) -> bool {
        !self.blocked.load(Ordering::Relaxed)
            && (self.seen.asked() || self.offered.load(Ordering::Relaxed))
    }

    /// The handshake was full and the server did not ask for our certificate: store nothing
    /// from it, and drop the TLS 1.2 session rustls may already have stored for `server`.
    pub(crate) fn full_handshake_without_request(&self, server: &ServerName<'_>) {
        self.blocked.store(true, Ordering::Relaxed);
        self.shared.read(server, |e| e.tls12 = None);
    }
}

impl ClientSessionStore for ConnStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.shared
            .with_entry(&server_name, |e| e.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.shared.read(server_name, |e| e.kx_hint).flatten()
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        if self.may_store() {
            self.shared
                .with_entry(&server_name, |e| e.tls12 = Some(value));
        }
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        let found = self.shared.read(server_name, |e| e.tls12.clone()).flatten();
        if found.is_some() {
            self.offered.store(true, Ordering::Relaxed);
        }
        found
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.shared.read(server_name, |e| e.tls12 = None);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        if self.may_store() {
            self.shared.with_entry(&server_name, |e| {
                if e.tickets.len() >= TICKETS_PER_SERVER {
                    e.tickets.pop_front();
                }
                e.tickets.push_back(value);
            });
        }
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        // Newest first: it has the longest life left.
        let found = self
            .shared
            .read(server_name, |e| e.tickets.pop_back())
            .flatten();
        if found.is_some() {
            self.offered.store(true, Ordering::Relaxed);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &'static str) -> ServerName<'static> {
        ServerName::try_from(host).unwrap()
    }

    fn asked() -> Arc<SeenRequest> {
        let seen = Arc::new(SeenRequest::default());
        *seen.names.lock() = Some(alloc::vec::Vec::new());
        seen
    }

    #[test]
    fn the_store_is_bounded_by_servers_and_forgets_the_oldest() {
        let store = SessionStore::new(2);
        let conn = ConnStore::new(store.shared(), asked());
        for host in ["a.example", "b.example", "c.example"] {
            conn.set_kx_hint(name(host), NamedGroup::X25519);
        }
        assert_eq!(
            conn.kx_hint(&name("a.example")),
            None,
            "the oldest is forgotten"
        );
        assert_eq!(conn.kx_hint(&name("c.example")), Some(NamedGroup::X25519));
        assert_eq!(store.inner.servers.lock().len(), 2);
        // Hints are not sessions.
        assert!(store.is_empty());
        store.clear();
        assert_eq!(conn.kx_hint(&name("c.example")), None);
        assert_eq!(SessionStore::new(0).max_servers(), 1);
    }

    #[test]
    fn nothing_is_offered_from_an_empty_store_and_a_blocked_connection_drops_its_session() {
        let store = SessionStore::new(4);
        let conn = ConnStore::new(store.shared(), Arc::new(SeenRequest::default()));
        assert!(conn.take_tls13_ticket(&name("a.example")).is_none());
        assert!(conn.tls12_session(&name("a.example")).is_none());
        // Not asked, nothing offered: nothing may be stored.
        assert!(!conn.may_store());
        let asked_conn = ConnStore::new(store.shared(), asked());
        assert!(asked_conn.may_store());
        asked_conn.full_handshake_without_request(&name("a.example"));
        assert!(!asked_conn.may_store());
    }
}
