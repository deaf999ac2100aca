//! The sans-IO TLS connection the client drives: rustls' unbuffered client connection.
//!
//! The caller moves bytes: ciphertext in through [`TlsConnection::handle_input`], ciphertext
//! out through [`TlsConnection::pending_transmit`] and [`TlsConnection::consume_transmit`],
//! plaintext both ways through [`TlsConnection::send_plaintext`] and
//! [`TlsConnection::plaintext`]. Every buffer is bounded by [`TlsLimits`].
//!
//! Contracts:
//! - After any call that mutates the connection, drain it: send `pending_transmit()`, read
//!   `plaintext()`, and take `poll_event()` until `None`.
//! - A transport end without the server's `close_notify` MUST be reported with
//!   [`TlsConnection::handle_eof`], which returns [`TlsError::Truncated`]: a truncated stream is
//!   never mistaken for a clean end.
//! - After an error the connection is dead; every later call returns the same error. The
//!   fatal alert rustls queued for the peer is still in `pending_transmit()`.
//! - Once our close_notify is queued ([`TlsConnection::close`]), nothing more is read:
//!   [`TlsConnection::handle_input`] returns [`TlsError::Closed`] (what arrives is not
//!   silently dropped), ciphertext still buffered is discarded, and the end of the transport
//!   is a clean end. RFC 8446 §6.1 lets the closing side stop reading; and rustls 0.23 must
//!   not see a bad record after its close_notify (it would answer with a fatal alert, which
//!   a debug assertion forbids: a panic on peer input in debug builds, found by fuzzing;
//!   rustls/rustls#959).

use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};

use super::{HandshakeSummary, SeenRequest, TlsConfig, TlsError, TlsLimits, TlsVersion};

/// Something the host should know about the connection; edge-triggered, each reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum TlsEvent {
    /// The handshake finished; application data can flow.
    HandshakeComplete {
        /// Negotiated version.
        version: TlsVersion,
        /// False when the server never sent a CertificateRequest: the mTLS factor was not
        /// used on this connection. True also for a resumed session (opt-in, see
        /// [`TlsConfig::with_resumption`]): only sessions whose server asked for our
        /// certificate are stored, and the resumed one stays bound to it.
        client_cert_requested: bool,
    },
    /// The server sent close_notify: everything it sent has been received.
    PeerClosed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Open,
}

/// One client-side mTLS connection over bytes the caller moves.
///
/// It is opened with [`TlsConnection::new`], and the ClientHello is ready in
/// [`TlsConnection::pending_transmit`] before any input (the test
/// `client_hello_is_ready_before_any_input` in `tests/tls_handshake.rs`).
pub struct TlsConnection {
    conn: UnbufferedClientConnection,
    limits: TlsLimits,
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
    plaintext_in: Vec<u8>,
    plaintext_out: Vec<u8>,
    phase: Phase,
    close_requested: bool,
    close_sent: bool,
    peer_closed: bool,
    /// Decryption stopped because `plaintext_in` was full; consuming resumes it.
    paused: bool,
    error: Option<TlsError>,
    events: heapless::Deque<TlsEvent, 4>,
    /// What the server's CertificateRequest carried.
    seen: Arc<SeenRequest>,
    /// With resumption on: this connection's view of the session store, and the name its
    /// sessions are stored under.
    sessions: Option<Sessions>,
    /// Our identity, for the handshake summary.
    ours: Option<Arc<CertifiedKey>>,
}

impl core::fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConnection")
            .field("phase", &self.phase)
            .field("incoming", &self.incoming.len())
            .field("outgoing", &self.outgoing.len())
            .field("plaintext_in", &self.plaintext_in.len())
            .field("peer_closed", &self.peer_closed)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A connection's part in opt-in resumption.
struct Sessions {
    store: Arc<super::resumption::ConnStore>,
    /// The name its sessions are stored under.
    name: ServerName<'static>,
    resolver: Arc<super::RecordingResolver>,
}

/// What one `process_tls_records` step asked for, computed while rustls holds its borrows.
enum Step {
    Continue,
    NeedInput,
    Failed(TlsError),
}

impl TlsConnection {
    /// Starts a handshake with `server_name` (a DNS name or an IP address, also sent as SNI).
    /// `now` is the wall-clock time against which the server's certificate is verified.
    /// The ClientHello is in [`TlsConnection::pending_transmit`] when this returns.
    pub fn new(
        config: &TlsConfig,
        server_name: &str,
        limits: TlsLimits,
        now: UnixTime,
    ) -> Result<TlsConnection, TlsError> {
        let name = ServerName::try_from(server_name)
            .map_err(|_| TlsError::InvalidServerName)?
            .to_owned();
        let seen = Arc::new(SeenRequest::default());
        let (rustls_config, sessions) = config.for_connection(now, seen.clone());
        let sessions = sessions.map(|(store, resolver)| Sessions {
            store,
            name: name.clone(),
            resolver,
        });
        let conn = UnbufferedClientConnection::new(rustls_config, name)
            .map_err(|e| TlsError::from_rustls(&e))?;
        let mut tls = TlsConnection {
            conn,
            limits,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            plaintext_in: Vec::new(),
            plaintext_out: Vec::new(),
            phase: Phase::Handshaking,
            close_requested: false,
            close_sent: false,
            peer_closed: false,
            paused: false,
            error: None,
            events: heapless::Deque::new(),
            seen,
            sessions,
            ours: config.certified_key.clone(),
        };
        tls.process()?;
        Ok(tls)
    }

    /// Feeds ciphertext received from the server. Returns how many bytes were taken: fewer
    /// than `data.len()` only when decrypted plaintext is waiting to be consumed; offer the
    /// rest again after [`TlsConnection::consume_plaintext`]. One record's plaintext is held
    /// at a time: the records after it wait as ciphertext until it is consumed.
    /// Calling it with an empty slice just resumes processing.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        self.handle_input_into(data, None)
    }

    /// [`TlsConnection::handle_input`], handing each record's plaintext to `sink` first
    /// while nothing is waiting in [`TlsConnection::plaintext`]: `sink` returns how many
    /// bytes it took from the front (none is fine), and only the rest is copied into the
    /// plaintext buffer. The client gives its HTTP decoder here, so that a full 16 KiB record
    /// is not held twice over beside rustls' own copy (a small device's worst case).
    pub(crate) fn handle_input_into(
        &mut self,
        data: &[u8],
        mut sink: Option<Sink<'_>>,
    ) -> Result<usize, TlsError> {
        self.check_alive()?;
        if self.close_sent {
            return Err(TlsError::Closed);
        }
        let mut taken = 0;
        loop {
            let room = self.limits.max_incoming.saturating_sub(self.incoming.len());
            let n = room.min(data.len() - taken);
            extend_capped(
                &mut self.incoming,
                &data[taken..taken + n],
                self.limits.max_incoming,
            );
            taken += n;
            if !self.plaintext_in.is_empty() {
                // Plaintext is waiting: the next record is decrypted once it is consumed,
                // so that a small device never holds two records' plaintext at once.
                self.paused = true;
                break;
            }
            let before = (self.incoming.len(), self.plaintext_in.len());
            self.process_into(reborrow(&mut sink))?;
            let stalled = before == (self.incoming.len(), self.plaintext_in.len());
            if taken == data.len() || stalled || !self.plaintext_in.is_empty() {
                break;
            }
        }
        if taken < data.len()
            && self.incoming.len() >= self.limits.max_incoming
            && self.plaintext_in.is_empty()
        {
            // Full of ciphertext that cannot be processed and nothing for the caller to drain:
            // a record larger than the limit allows.
            return Err(self.fail(TlsError::BufferFull));
        }
        Ok(taken)
    }

    /// The transport reached end of stream. `Ok` only when the server closed cleanly with
    /// close_notify, or after ours (nothing more was to be read); otherwise
    /// [`TlsError::Truncated`].
    pub fn handle_eof(&mut self) -> Result<(), TlsError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.peer_closed || self.close_sent {
            return Ok(());
        }
        Err(self.fail(TlsError::Truncated {
            during_handshake: self.phase == Phase::Handshaking,
        }))
    }

    /// Queues application data. It is encrypted at once when the handshake is complete,
    /// otherwise when it completes. Returns how many bytes were queued (fewer than offered
    /// when the outgoing buffers are full).
    pub fn send_plaintext(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        self.check_alive()?;
        if self.close_requested {
            return Err(TlsError::Closed);
        }
        let room = self
            .limits
            .max_plaintext_out
            .saturating_sub(self.plaintext_out.len());
        let n = room.min(data.len());
        self.plaintext_out.extend_from_slice(&data[..n]);
        self.process()?;
        Ok(n)
    }

    /// Decrypted application data not yet consumed.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext_in
    }

    /// Marks `n` bytes of [`TlsConnection::plaintext`] as consumed. When decryption had
    /// paused for the plaintext waiting, it resumes here once all of it is consumed, so more
    /// plaintext (or an error found in the records waiting) may follow at once.
    pub fn consume_plaintext(&mut self, n: usize) -> Result<(), TlsError> {
        let n = n.min(self.plaintext_in.len());
        self.plaintext_in.drain(..n);
        release_spare(&mut self.plaintext_in);
        if self.paused && self.error.is_none() && self.plaintext_in.is_empty() {
            self.process()?;
        }
        Ok(())
    }

    /// Zeroes the spare capacity of the inbound buffers, where records decrypted in place
    /// and plaintext already consumed linger. Called after a response that carried a secret
    /// (the token); the bytes still waiting are untouched.
    pub fn wipe_consumed(&mut self) {
        use zeroize::Zeroize;
        self.incoming.spare_capacity_mut().zeroize();
        self.plaintext_in.spare_capacity_mut().zeroize();
    }

    /// Ciphertext waiting to be written to the transport.
    pub fn pending_transmit(&self) -> &[u8] {
        &self.outgoing
    }

    /// Marks `n` bytes of [`TlsConnection::pending_transmit`] as written.
    pub fn consume_transmit(&mut self, n: usize) {
        let n = n.min(self.outgoing.len());
        self.outgoing.drain(..n);
    }

    /// Copies pending ciphertext into `buf` and consumes what was copied; returns the count.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.outgoing.len());
        buf[..n].copy_from_slice(&self.outgoing[..n]);
        self.consume_transmit(n);
        n
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<TlsEvent> {
        self.events.pop_front()
    }

    /// Sends close_notify (after any queued application data). Once it is queued, the
    /// connection reads nothing more (see the module docs).
    pub fn close(&mut self) -> Result<(), TlsError> {
        self.check_alive()?;
        self.close_requested = true;
        self.process()
    }

    /// True until the handshake completes.
    pub fn is_handshaking(&self) -> bool {
        self.phase == Phase::Handshaking
    }

    /// True when application data can be sent and received: handshake done, no error, no
    /// close from either side.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
            && self.error.is_none()
            && !self.close_requested
            && !self.peer_closed
    }

    /// True once the server's close_notify has been received.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The error that killed the connection, if any.
    pub fn error(&self) -> Option<&TlsError> {
        self.error.as_ref()
    }

    /// Negotiated version, once known.
    pub fn version(&self) -> Option<TlsVersion> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls13),
            rustls::ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls12),
            _ => None,
        }
    }

    /// What the handshake showed, once it is complete.
    pub fn handshake_summary(&self) -> Option<HandshakeSummary> {
        if self.is_handshaking() {
            return None;
        }
        Some(HandshakeSummary::new(
            self.version()?,
            &self.seen,
            self.ours.as_deref(),
            self.conn.peer_certificates().unwrap_or(&[]),
        ))
    }

    fn check_alive(&self) -> Result<(), TlsError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A `handshake_failure` on an open connection whose server never asked for the client
    /// certificate: the server asked for it after the handshake (renegotiation), and rustls
    /// refused. Said so, because the alert alone sends users to the cipher suites.
    fn explain(&self, error: TlsError) -> TlsError {
        let late_request = self.phase == Phase::Open
            && !self.seen.certificate_bound()
            && error == TlsError::AlertReceived(super::Alert::HANDSHAKE_FAILURE);
        if late_request {
            TlsError::CertificateAskedAfterHandshake
        } else {
            error
        }
    }

    /// Whether the connection is bound to our certificate: the server asked for it during
    /// the handshake, or the handshake resumed a session in which it had (see
    /// [`TlsConfig::with_resumption`](super::TlsConfig::with_resumption)).
    pub fn client_cert_requested(&self) -> bool {
        self.seen.certificate_bound()
    }

    /// Whether the handshake resumed a stored session (no certificate exchanged in it).
    // Read through the hidden door (`internals`) by the tests and the bench.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn resumed(&self) -> bool {
        self.seen.resumed()
    }

    fn fail(&mut self, error: TlsError) -> TlsError {
        self.error = Some(error.clone());
        error
    }

    /// Runs rustls until it needs input or the caller must drain something. Bounded: each
    /// turn of the loop consumes input, produces output or changes phase, and the loop stops
    /// after a fixed number of turns regardless.
    fn process(&mut self) -> Result<(), TlsError> {
        self.process_into(None)
    }

    /// [`TlsConnection::process`], with the plaintext sink of
    /// [`TlsConnection::handle_input_into`].
    fn process_into(&mut self, mut sink: Option<Sink<'_>>) -> Result<(), TlsError> {
        // With resumption, the resolver is shared: hold its turn while handshaking so that
        // what the server asks is recorded for this connection.
        let resolver = match &self.sessions {
            Some(s) if self.phase == Phase::Handshaking => Some(s.resolver.clone()),
            _ => None,
        };
        let seen = self.seen.clone();
        let _turn = resolver.as_ref().map(|r| r.turn(&seen));
        for _ in 0..256 {
            match self.step(reborrow(&mut sink)) {
                Step::Continue => continue,
                Step::NeedInput => return Ok(()),
                Step::Failed(e) => {
                    self.flush_alert();
                    self.incoming.clear();
                    let e = self.explain(e);
                    return Err(self.fail(e));
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, mut sink: Option<Sink<'_>>) -> Step {
        let TlsConnection {
            conn,
            limits,
            incoming,
            outgoing,
            plaintext_in,
            plaintext_out,
            phase,
            close_requested,
            close_sent,
            peer_closed,
            paused,
            events,
            seen,
            sessions,
            ..
        } = self;
        let mut opened = false;
        if *close_sent {
            // Nothing is read after our close_notify (see the module docs).
            incoming.clear();
        }
        let large_incoming = incoming.capacity() > RETAINED_CAPACITY;
        let UnbufferedStatus { discard, state } = conn.process_tls_records(incoming);
        let step = match state {
            Err(e) => Step::Failed(TlsError::from_rustls(&e)),
            Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                // Application data is readable only with the handshake done. It can come
                // before the first `WriteTraffic` (in the same input as the server's
                // Finished): the connection is open from here, so no plaintext is ever
                // handed out while `is_handshaking()` (found by the `tls_client` fuzz target:
                // a TLS 1.2 Finished, data and a broken record in one input).
                if *phase == Phase::Handshaking {
                    *phase = Phase::Open;
                    opened = true;
                }
                *paused = false;
                let mut step = Step::Continue;
                // A record just decrypted from a large `incoming`: rustls holds its
                // plaintext, so give the ciphertext's buffer back before copying it out
                // (the next turn reads it), or a full record would be held three times.
                let defer = discard > 0 && large_incoming;
                while let Some(len) = traffic.peek_len().filter(|_| !defer) {
                    if plaintext_in.len() + len.get() > limits.max_plaintext_in {
                        // Backpressure: the records stay queued in rustls until the caller
                        // consumes plaintext.
                        *paused = true;
                        step = Step::NeedInput;
                        break;
                    }
                    match traffic.next_record() {
                        Some(Ok(record)) => {
                            let taken = match sink.as_deref_mut() {
                                Some(sink) if plaintext_in.is_empty() => {
                                    sink(record.payload).min(record.payload.len())
                                }
                                _ => 0,
                            };
                            extend_capped(
                                plaintext_in,
                                &record.payload[taken..],
                                limits.max_plaintext_in,
                            )
                        }
                        Some(Err(e)) => {
                            step = Step::Failed(TlsError::from_rustls(&e));
                            break;
                        }
                        None => break,
                    }
                }
                if !plaintext_in.is_empty() && !matches!(step, Step::Failed(_)) {
                    // One record's plaintext at a time (see `handle_input`).
                    *paused = true;
                    step = Step::NeedInput;
                }
                step
            }
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                match encode_into(outgoing, limits.max_outgoing, |buf| data.encode(buf)) {
                    Ok(()) => Step::Continue,
                    Err(e) => Step::Failed(e),
                }
            }
            Ok(ConnectionState::TransmitTlsData(data)) => {
                // The bytes are in `outgoing`; the caller takes them from there.
                data.done();
                Step::Continue
            }
            Ok(ConnectionState::BlockedHandshake) => Step::NeedInput,
            Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                if *phase == Phase::Handshaking {
                    *phase = Phase::Open;
                    opened = true;
                }
                let mut step = Step::NeedInput;
                // Records carry at most 16 KiB of plaintext.
                for chunk in plaintext_out.chunks(16 * 1024) {
                    if let Err(e) = encode_into(outgoing, limits.max_outgoing, |buf| {
                        traffic.encrypt(chunk, buf)
                    }) {
                        step = Step::Failed(e);
                        break;
                    }
                }
                // It may carry credentials or a token.
                zeroize::Zeroize::zeroize(plaintext_out);
                if *close_requested && !*close_sent && !matches!(step, Step::Failed(_)) {
                    match encode_into(outgoing, limits.max_outgoing, |buf| {
                        traffic.queue_close_notify(buf)
                    }) {
                        Ok(()) => *close_sent = true,
                        Err(e) => step = Step::Failed(e),
                    }
                }
                step
            }
            Ok(ConnectionState::PeerClosed) => {
                *peer_closed = true;
                let _ = events.push_back(TlsEvent::PeerClosed);
                Step::Continue
            }
            Ok(ConnectionState::Closed) => Step::NeedInput,
            Ok(_) => Step::NeedInput,
        };
        incoming.drain(..discard.min(incoming.len()));
        release_spare(incoming);
        if opened {
            let version = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
                _ => TlsVersion::Tls13,
            };
            // The queue holds 4 events and at most 2 are ever pushed; a full queue drops nothing real.
            if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                seen.set_resumed();
            } else if !seen.asked() {
                if let Some(sessions) = sessions {
                    sessions
                        .store
                        .full_handshake_without_request(&sessions.name);
                }
            }
            let _ = events.push_back(TlsEvent::HandshakeComplete {
                version,
                client_cert_requested: seen.certificate_bound(),
            });
        }
        step
    }

    /// After a fatal error rustls has queued an alert for the peer; move it to `outgoing`.
    ///
    /// Exactly one more call into rustls, with the same input buffer: a queued alert is handed
    /// out before any input is read, whereas a second call would re-read the bytes that killed
    /// the connection and raise a second fatal alert.
    fn flush_alert(&mut self) {
        let TlsConnection {
            conn,
            incoming,
            outgoing,
            limits,
            ..
        } = self;
        let UnbufferedStatus { state, .. } = conn.process_tls_records(incoming);
        if let Ok(ConnectionState::EncodeTlsData(mut data)) = state {
            // Best effort: a full buffer only means the peer gets no alert.
            let _ = encode_into(outgoing, limits.max_outgoing, |buf| data.encode(buf));
        }
    }
}

/// The plaintext sink of [`TlsConnection::handle_input_into`].
type Sink<'a> = &'a mut dyn FnMut(&[u8]) -> usize;

/// Lends the sink for one call (a shorter borrow: `as_deref_mut` would keep the first one).
fn reborrow<'s>(sink: &'s mut Option<Sink<'_>>) -> Option<Sink<'s>> {
    match sink {
        Some(sink) => Some(&mut **sink),
        None => None,
    }
}

/// Size errors rustls reports when a caller buffer is too small.
trait InsufficientSize {
    fn required_size(&self) -> Option<usize>;
}

impl InsufficientSize for EncodeError {
    fn required_size(&self) -> Option<usize> {
        match self {
            EncodeError::InsufficientSize(e) => Some(e.required_size),
            _ => None,
        }
    }
}

impl InsufficientSize for EncryptError {
    fn required_size(&self) -> Option<usize> {
        match self {
            EncryptError::InsufficientSize(e) => Some(e.required_size),
            _ => None,
        }
    }
}

/// The capacity an inbound buffer keeps when drained: room for the records of a typical API
/// answer, so that warm requests allocate nothing (tests/http_alloc.rs).
const RETAINED_CAPACITY: usize = 4 * 1024;

/// Gives back the memory of a drained inbound buffer larger than [`RETAINED_CAPACITY`], after
/// a large record: otherwise its 16-18 KiB stay reserved beside the next record's buffers
/// (the worst case a server can impose on a small device, measured in benches/qemu-live).
/// What is still waiting (at most half of [`RETAINED_CAPACITY`]) is copied out first, into
/// an allocation of its size (none when empty); the old one is wiped before it is freed: it
/// held records decrypted in place.
fn release_spare(buf: &mut Vec<u8>) {
    if buf.capacity() <= RETAINED_CAPACITY || buf.len() > RETAINED_CAPACITY / 2 {
        return;
    }
    let kept = buf.as_slice().to_vec();
    zeroize::Zeroize::zeroize(buf);
    *buf = kept;
}

/// Appends `data` to `buf`, its capacity growing as a `Vec`'s does but never past `cap` (the
/// buffer's limit, which the caller has checked): plain doubling would reserve up to twice
/// the limit, 37 KiB for one 18.5 KiB record (measured on a Cortex-M in benches/qemu-live).
/// An empty buffer is replaced rather than grown, so its old allocation (wiped: it may hold
/// consumed plaintext) is freed before the new one is made, not after.
fn extend_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) {
    let need = buf.len() + data.len();
    if buf.is_empty() && need > buf.capacity() {
        zeroize::Zeroize::zeroize(buf);
        *buf = Vec::new();
    }
    if need > buf.capacity() {
        let target = buf.capacity().saturating_mul(2).clamp(need, cap.max(need));
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(data);
}

/// Appends what `write` produces to `out`, growing it to the size rustls asks for, never past
/// `max` bytes in total.
fn encode_into<E: InsufficientSize>(
    out: &mut Vec<u8>,
    max: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
) -> Result<(), TlsError> {
    let start = out.len();
    // A first guess that fits most records; rustls tells us if it needs more.
    let mut want = 1024;
    for _ in 0..2 {
        if start + want > max {
            out.truncate(start);
            return Err(TlsError::BufferFull);
        }
        out.resize(start + want, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(e) => match e.required_size() {
                Some(required) => want = required,
                None => {
                    out.truncate(start);
                    return Err(TlsError::Internal);
                }
            },
        }
    }
    out.truncate(start);
    Err(TlsError::Internal)
}
