//! mtls-core's whole flow on an emulated Cortex-M7 (QEMU `mps2-an500`), over a live byte
//! stream: the board's UART0 (a CMSDK APB UART, driven through `embedded-io` in
//! [`board::Uart`]) is bridged by QEMU to a TCP connection to a real nginx on loopback
//! (`-serial tcp:127.0.0.1:PORT`), so every TLS byte the firmware writes reaches the server.
//!
//! The flow (see run.sh): a P-256 client identity and the server's root CA from pki/, a
//! [`Session`] over the UART, then `GET /v2.01/qemu-device/users/1` and `.../users/2`: the
//! first opens the TLS 1.3 connection (mutual authentication, the server's RSA-2048 chain
//! verified against the root, its name and validity against the RTC), fetches the OAuth2
//! token (Basic credentials, `POST /v2.01/oauth/token`) and sends the GET; the second reuses
//! the kept-alive connection. The outcomes, the peak heap (counting allocator) and the peak
//! stack (painted) are printed over semihosting; QEMU exits 0 only if everything matched.
//!
//! What is a stand-in here, and what a real board plugs in instead (see README.md):
//! - the RNG ([`board::stand_in_rng`]): NOT random; a real board reads its TRNG;
//! - the RTC: the host's time through semihosting `SYS_TIME`; a real board reads its RTC;
//! - the monotonic clock: semihosting `SYS_CLOCK`; a real board uses SysTick or a timer;
//! - the byte stream: the UART; a real board hands a TCP socket (smoltcp, embassy-net).
//!
//! Run-time options come from the semihosting command line (QEMU's `-append`):
//! `heap=N` (bytes of the heap array given to the allocator, default all of it) and
//! `limits=small|default` (the client's buffer bounds).

#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod stats;

use alloc::format;
use core::time::Duration;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event};
use mtls_core::http::Limits;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{Connector, Session};
use mtls_core::time::UnixTime;
use mtls_core::tls::{TlsLimits, Trust};
use mtls_core::{ApiRequest, ClientConfig};

use board::{Uart, UartError};

/// The device's certificate and key (P-256, PKCS#8), and the server's root CA: a throwaway
/// test PKI made by pki.sh.
static CERT_PEM: &[u8] = include_bytes!("../pki/device-cert.pem");
static KEY_PEM: &[u8] = include_bytes!("../pki/device-key.pem");
static ROOT_PEM: &[u8] = include_bytes!("../pki/server-root.pem");

/// The OAuth2 client the nginx of run.sh accepts. A test secret: a real device keeps its API
/// key in secure storage.
const CLIENT_ID: &str = "qemu-device";
const API_KEY: &str = "qemu-live-test-key";

/// The first `heap=N` bytes of this array are the heap (all of it by default).
const HEAP_MAX: usize = 256 * 1024;
static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; HEAP_MAX] =
    [core::mem::MaybeUninit::uninit(); HEAP_MAX];

#[global_allocator]
static HEAP: stats::CountingHeap = stats::CountingHeap::new();

/// Hands the UART to the session once: QEMU bridges it to one TCP connection, so there is
/// no second one to open (a reconnect would fail, and the run with it).
struct UartConnector {
    uart: Option<Uart>,
}

impl Connector for UartConnector {
    type Transport = Uart;

    fn connect(&mut self, _host: &str, _port: u16) -> Result<Uart, UartError> {
        self.uart.take().ok_or(UartError::NoSecondConnection)
    }

    fn bound_read(&mut self, uart: &mut Uart, left: Option<Duration>) {
        uart.bound_next_read(left);
    }

    fn wall_clock(&self) -> UnixTime {
        board::rtc_now()
    }
}

/// Where the run stopped, when it did not finish.
type Failed = &'static str;

/// The configuration, in its own frame (not inlined), so its parsing's stack is given back
/// before the flow runs.
#[inline(never)]
fn setup(small: bool) -> Result<ClientConfig, Failed> {
    let identity = Identity::from_pem(CERT_PEM, KEY_PEM).map_err(|_| "identity")?;
    stats::mark("after Identity::from_pem");
    let ca = CaBundle::from_pem(ROOT_PEM).map_err(|_| "trust anchor")?;
    stats::mark("after CaBundle::from_pem");
    let credentials = Credentials::new(CLIENT_ID, API_KEY).map_err(|_| "credentials")?;
    let mut config = ClientConfig::new(
        "https://localhost",
        Auth::ClientCredentials(credentials),
        &identity,
        Trust::Custom(ca),
    )
    .map_err(|e| {
        hprintln!("config: {}", e);
        "ClientConfig::new"
    })?;
    if small {
        config.tls_limits = TlsLimits::small();
        config.http_limits = Limits::small();
    }
    stats::mark("after ClientConfig::new");
    Ok(config)
}

#[inline(never)]
fn run(small: bool, big: bool) -> Result<(), Failed> {
    let config = setup(small)?;

    let connector = UartConnector {
        uart: Some(Uart::uart0()),
    };
    let mut session = Session::new(config, connector, board::monotonic_now);
    let mut ok = true;
    for user in ["1", "2"] {
        let path = format!("/v2.01/{CLIENT_ID}/users/{user}");
        let expected =
            format!(r#"{{"Id":"{user}","Tag":"nginx","ClientCertDN":"CN=qemu-device"}}"#);
        match session.request(ApiRequest::get(&path)) {
            Ok(response) => {
                let body = core::str::from_utf8(&response.body).unwrap_or("(not UTF-8)");
                hprintln!("GET {} -> {} {}", path, response.status, body);
                if response.status != 200 || body != expected {
                    hprintln!("FAIL: expected 200 {}", expected);
                    ok = false;
                }
            }
            Err(e) => {
                hprintln!("GET {} failed: {}", path, e);
                ok = false;
            }
        }
        stats::mark("after the GET");
    }
    if big {
        // The worst case the limits allow: with the defaults the 24 KiB answer is taken
        // whole; with `Limits::small()` (16 KiB bodies) it is refused at its head, and the
        // heap stays bounded.
        let path = "/v2.01/qemu-device/big";
        match (session.request(ApiRequest::get(path)), small) {
            (Ok(response), false)
                if response.status == 200 && response.body.len() == 24 * 1024 + 2 =>
            {
                hprintln!("GET {} -> 200, {} B body", path, response.body.len());
            }
            // Refused for its size, at once: not retried on another connection.
            (Err(e), true) if format!("{}", e).contains("body larger than the limit") => {
                hprintln!("GET {} refused as expected: {}", path, e)
            }
            (Ok(response), _) => {
                hprintln!(
                    "FAIL: GET {} -> {}, {} B body",
                    path,
                    response.status,
                    response.body.len()
                );
                ok = false;
            }
            (Err(e), _) => {
                hprintln!("FAIL: GET {} failed: {}", path, e);
                ok = false;
            }
        }
        stats::mark("after the big GET");
    }
    let mut connected = 0;
    let mut tokens = 0;
    let mut limit_hit = false;
    for notice in &session.notices {
        match notice {
            Event::Connected {
                version,
                client_cert_requested,
            } => {
                connected += 1;
                hprintln!(
                    "connected: {}, client certificate requested: {}",
                    version,
                    client_cert_requested
                );
            }
            Event::TokenFetched { expires_in } => {
                tokens += 1;
                hprintln!("token fetched, expires in {} s", expires_in.as_secs());
            }
            Event::Warning(warning) => hprintln!("warning: {}", warning),
            Event::ConnectionClosed { error: Some(e) } => {
                limit_hit |= matches!(e, mtls_core::Error::Http(_));
                hprintln!("connection closed: {}", e);
            }
            _ => hprintln!("other notice"),
        }
    }
    hprintln!(
        "connections opened: {} (both GETs on one kept-alive connection when 1)",
        session.connections()
    );
    if session.connections() != 1 || connected != 1 || tokens != 1 {
        hprintln!("FAIL: expected one connection, one handshake and one token");
        ok = false;
    }
    if big && small && !limit_hit {
        hprintln!("FAIL: the big answer did not end the connection with an HTTP limit error");
        ok = false;
    }
    if ok {
        Ok(())
    } else {
        Err("the flow")
    }
}

#[entry]
fn main() -> ! {
    stats::paint_stack();
    let args = board::Args::from_semihosting();
    let heap = args.heap.unwrap_or(HEAP_MAX).min(HEAP_MAX);
    // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, heap) }
    hprintln!(
        "qemu-live: heap {} B, limits {}; RNG: NOT RANDOM (stand-in, see board.rs)",
        heap,
        if args.small { "small" } else { "default" }
    );
    hprintln!(
        "sizes: Client {} B, Session {} B, ClientConfig {} B, Response {} B",
        core::mem::size_of::<mtls_core::Client>(),
        core::mem::size_of::<Session<UartConnector, fn() -> mtls_core::time::Instant>>(),
        core::mem::size_of::<ClientConfig>(),
        core::mem::size_of::<mtls_core::http::Response>()
    );
    let result = run(args.small, args.big);
    hprintln!(
        "UART: {} B sent, {} B received",
        board::TX_BYTES.load(core::sync::atomic::Ordering::Relaxed),
        board::RX_BYTES.load(core::sync::atomic::Ordering::Relaxed)
    );
    let (peak_used, peak_live) = HEAP.peaks();
    let stack = stats::stack_peak();
    match result {
        Ok(()) => {
            hprintln!("PASS");
            hprintln!(
                "heap_peak_bytes={} heap_peak_requested_bytes={} stack_peak_bytes={}",
                peak_used,
                peak_live,
                stack
            );
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(at) => {
            hprintln!("FAIL at {}", at);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic is a bug (mtls-core answers bad input with errors, never a panic). The device
/// build reports only that it happened, as a shipped firmware would: formatting the message
/// keeps every panic site's message and source location in flash (about 49 KB here, 17 KB
/// for the locations alone). Build with `--features panic-messages` to see where.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    #[cfg(feature = "panic-messages")]
    hprintln!("panic: {}", info);
    #[cfg(not(feature = "panic-messages"))]
    {
        let _ = info;
        hprintln!("panic (rebuild with --features panic-messages for its message and place)");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
