//! A bare-metal Cortex-M7 firmware that drives mtls-core's real API, so the linker keeps
//! what a device using the core would carry: identity loading (PEM, P-256), the rustls
//! client configuration with a custom trust anchor, the sans-IO client, and the start of a
//! TLS handshake. Inputs come from `read_volatile` on statics (a stand-in for an RTC, a
//! receive DMA buffer and a TRNG), so nothing is const-folded away.
//!
//! Build: `cargo build --release` (see README.md). With `--features heap-stats` it is built
//! for QEMU's `mps2-an500` instead, counts the heap's peak and prints it over semihosting.

#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use core::time::Duration;

use cortex_m_rt::entry;
#[cfg(not(feature = "heap-stats"))]
use embedded_alloc::LlffHeap;
#[cfg(not(feature = "heap-stats"))]
use panic_halt as _;

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, Client, ClientConfig};

/// The heap handed to `embedded-alloc`. Change it here; see README.md for how much the flow
/// below needs.
const HEAP_SIZE: usize = 128 * 1024;

static CERT_PEM: &[u8] = include_bytes!("../pki/cert.pem");
static KEY_PEM: &[u8] = include_bytes!("../pki/key.pem");
#[cfg(not(feature = "heap-stats"))]
static CA_PEM: &[u8] = include_bytes!("../pki/ca.pem");
/// The heap-stats run trusts the CA of the local server it recorded (see heap-run.sh).
#[cfg(feature = "heap-stats")]
static CA_PEM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trust.pem"));

/// Rounds of poll_transmit / handle_input / poll_event.
const TICKS: u64 = if cfg!(feature = "heap-stats") { 32 } else { 4 };

static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[cfg(not(feature = "heap-stats"))]
#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

#[cfg(feature = "heap-stats")]
#[global_allocator]
static HEAP: stats::Tracking = stats::Tracking::new();

/// Stand-in for a battery-backed RTC: seconds since the Unix epoch (2026-11-26).
static mut RTC_SECONDS: u64 = 1_795_700_000;
/// Stand-in for a receive DMA buffer: what the transport read from the server.
static mut RX_BUF: [u8; 512] = [0; 512];
static mut RX_LEN: usize = 0;
/// Where ciphertext to send goes (a transmit DMA buffer).
static mut TX_BUF: [u8; 2048] = [0; 2048];
static mut TX_LEN: usize = 0;
/// What the flow observed; a debugger (or the heap-stats run) reads it.
static mut STATUS: u32 = 0;
static mut EVENTS: u32 = 0;

/// The `getrandom` backend rustls-rustcrypto draws on. This dummy is NOT random: a real
/// board reads its TRNG here (e.g. the STM32 RNG peripheral's DR register).
fn board_rng(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    static mut STATE: u32 = 0x2545_f491;
    for b in buf.iter_mut() {
        // SAFETY: single core, no interrupts touch STATE.
        unsafe {
            let mut x = read_volatile(addr_of!(STATE));
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            write_volatile(addr_of_mut!(STATE), x);
            *b = x as u8;
        }
    }
    Ok(())
}
getrandom::register_custom_getrandom!(board_rng);

fn set_status(code: u32) {
    // SAFETY: single core, no interrupts touch STATUS.
    unsafe { write_volatile(addr_of_mut!(STATUS), code) }
}

fn note_event(event: Event) {
    let code = match event {
        Event::Connected { .. } => 1,
        Event::TokenFetched { .. } => 2,
        Event::TokenRejected(_) => 3,
        Event::Response(_, response) => 0x100 | u32::from(response.status),
        Event::ScaRequired { .. } => 4,
        Event::Failed(_, _) => 5,
        Event::ConnectionClosed { .. } => 6,
        Event::Warning(_) => 7,
        _ => 8,
    };
    // SAFETY: single core, no interrupts touch EVENTS.
    unsafe {
        write_volatile(
            addr_of_mut!(EVENTS),
            (read_volatile(addr_of!(EVENTS)) << 4) | code,
        )
    }
}

/// Returns 0 when the handshake was started, else where the flow stopped.
fn run() -> u32 {
    // SAFETY: single core; the statics are only read here.
    let now_secs = unsafe { read_volatile(addr_of!(RTC_SECONDS)) };
    let wall = UnixTime::since_unix_epoch(Duration::from_secs(now_secs));

    let identity = match Identity::from_pem(CERT_PEM, KEY_PEM) {
        Ok(id) => id,
        Err(_) => return 1,
    };
    let ca = match CaBundle::from_pem(CA_PEM) {
        Ok(ca) => ca,
        Err(_) => return 2,
    };
    let credentials = match Credentials::new("device-01", "api-key-from-secure-storage") {
        Ok(c) => c,
        Err(_) => return 3,
    };
    let config = match ClientConfig::new(
        "https://api.example.com/v1",
        Auth::ClientCredentials(credentials),
        &identity,
        Trust::Custom(ca),
    ) {
        Ok(c) => c,
        Err(_) => return 4,
    };
    #[cfg(feature = "heap-stats")]
    stats::mark("after ClientConfig::new");

    let mut client = Client::new(config);
    let _id = client.send(ApiRequest::get("/status"), Instant::from_millis(0));
    if client
        .open_connection(Instant::from_millis(0), wall)
        .is_err()
    {
        return 5;
    }
    #[cfg(feature = "heap-stats")]
    stats::mark("after open_connection");

    let mut sent = 0usize;
    for tick in 1..=TICKS {
        let now = Instant::from_millis(tick * 10);
        // SAFETY: single core; TX_BUF is only used here. The pointer goes through a volatile
        // read so the optimiser cannot see that nothing (no DMA) reads the buffer back.
        let tx = unsafe {
            let p = addr_of_mut!(TX_BUF);
            &mut *read_volatile(&p)
        };
        let n = client.poll_transmit(tx);
        sent += n;
        unsafe { write_volatile(addr_of_mut!(TX_LEN), n) };
        #[cfg(feature = "heap-stats")]
        stats::transmitted(&tx[..n], tick);

        #[cfg(feature = "heap-stats")]
        stats::receive(tick);
        // SAFETY: as above; RX_LEN/RX_BUF stand for a DMA buffer filled by hardware.
        let rx_len = unsafe { read_volatile(addr_of!(RX_LEN)) }.min(512);
        if rx_len > 0 {
            let rx = unsafe { read_volatile(addr_of!(RX_BUF)) };
            let taken = client.handle_input(&rx[..rx_len], now);
            #[cfg(feature = "heap-stats")]
            stats::taken(taken, rx_len);
            #[cfg(not(feature = "heap-stats"))]
            let _ = taken;
        }
        while let Some(event) = client.poll_event() {
            #[cfg(feature = "heap-stats")]
            stats::event(&event);
            note_event(event);
        }
    }
    #[cfg(feature = "heap-stats")]
    stats::mark("after the exchange");
    if sent == 0 {
        return 6;
    }
    0
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "heap-stats")]
    stats::paint_stack();
    // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
    unsafe { HEAP.init(addr_of_mut!(HEAP_MEM) as usize, HEAP_SIZE) }
    let code = run();
    set_status(code);
    #[cfg(feature = "heap-stats")]
    stats::report(code);
    #[allow(unreachable_code)]
    loop {
        cortex_m::asm::wfi();
    }
}

/// Peak-tracking allocator and semihosting report, for the QEMU run only.
#[cfg(feature = "heap-stats")]
mod stats {
    use core::alloc::{GlobalAlloc, Layout};
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use cortex_m_semihosting::{debug, hprint, hprintln};
    use embedded_alloc::LlffHeap;

    pub struct Tracking {
        heap: LlffHeap,
        /// Bytes the program asked for and has not freed.
        live: AtomicUsize,
        peak_live: AtomicUsize,
        /// The allocator's own count (with its alignment and block rounding).
        peak_used: AtomicUsize,
        allocs: AtomicUsize,
    }

    impl Tracking {
        pub const fn new() -> Self {
            Tracking {
                heap: LlffHeap::empty(),
                live: AtomicUsize::new(0),
                peak_live: AtomicUsize::new(0),
                peak_used: AtomicUsize::new(0),
                allocs: AtomicUsize::new(0),
            }
        }

        pub unsafe fn init(&self, start: usize, size: usize) {
            unsafe { self.heap.init(start, size) }
        }
    }

    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { self.heap.alloc(layout) };
            if !p.is_null() {
                let live = self.live.fetch_add(layout.size(), Relaxed) + layout.size();
                self.peak_live.fetch_max(live, Relaxed);
                self.peak_used.fetch_max(self.heap.used(), Relaxed);
                self.allocs.fetch_add(1, Relaxed);
            } else {
                hprintln!("OOM: {} bytes (align {})", layout.size(), layout.align());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { self.heap.dealloc(ptr, layout) };
            self.live.fetch_sub(layout.size(), Relaxed);
        }
    }

    pub fn mark(at: &str) {
        let h = &super::HEAP;
        hprintln!(
            "{}: live {} B, peak live {} B, peak used {} B, allocations {}",
            at,
            h.live.load(Relaxed),
            h.peak_live.load(Relaxed),
            h.peak_used.load(Relaxed),
            h.allocs.load(Relaxed)
        );
    }

    /// The recorded server flight, fed 512 bytes a tick after the ClientHello went out.
    static FLIGHT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/flight.bin"));
    static FED: AtomicUsize = AtomicUsize::new(0);

    pub fn transmitted(bytes: &[u8], tick: u64) {
        if bytes.is_empty() {
            return;
        }
        // One line per chunk, parsed by heap-run.sh; hex through a stack buffer, so the
        // report itself does not touch the heap it measures.
        hprint!("TX tick {} {} B: ", tick, bytes.len());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for chunk in bytes.chunks(64) {
            let mut text = [0u8; 128];
            for (i, b) in chunk.iter().enumerate() {
                text[2 * i] = HEX[usize::from(b >> 4)];
                text[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            hprint!(
                "{}",
                core::str::from_utf8(&text[..2 * chunk.len()]).unwrap_or("?")
            );
        }
        hprintln!();
        mark("after transmit");
    }

    pub fn receive(_tick: u64) {
        let fed = FED.load(Relaxed);
        let n = (FLIGHT.len() - fed).min(512);
        // SAFETY: single core; the size build's stand-in DMA buffer.
        unsafe {
            let buf = &mut *core::ptr::addr_of_mut!(super::RX_BUF);
            buf[..n].copy_from_slice(&FLIGHT[fed..fed + n]);
            core::ptr::write_volatile(core::ptr::addr_of_mut!(super::RX_LEN), n);
        }
    }

    pub fn taken(taken: usize, offered: usize) {
        FED.fetch_add(taken, Relaxed);
        hprintln!("RX {}/{} B taken", taken, offered);
        mark("after handle_input");
    }

    pub fn event(event: &mtls_core::client::Event) {
        hprintln!("event: {:?}", event);
    }

    extern "C" {
        /// First free RAM word after .bss/.uninit (cortex-m-rt's link.x).
        static mut __sheap: u32;
        /// Top of RAM, where the stack starts (cortex-m-rt's link.x).
        static _stack_start: u32;
    }
    const PAINT: u32 = 0xa5a5_a5a5;

    /// Fills the free RAM below the current stack pointer with a pattern.
    pub fn paint_stack() {
        let sp = cortex_m::register::msp::read() as usize - 64;
        // SAFETY: between the end of the statics and (below) the live stack nothing is used.
        unsafe {
            let mut p = core::ptr::addr_of_mut!(__sheap);
            while (p as usize) < sp {
                core::ptr::write_volatile(p, PAINT);
                p = p.add(1);
            }
        }
    }

    /// Bytes of stack ever used: from the top of RAM to the lowest overwritten word.
    fn stack_peak() -> usize {
        // SAFETY: reads the painted region only.
        unsafe {
            let top = core::ptr::addr_of!(_stack_start) as usize;
            let mut p: *const u32 = core::ptr::addr_of!(__sheap);
            while (p as usize) < top && core::ptr::read_volatile(p) == PAINT {
                p = p.add(1);
            }
            top - p as usize
        }
    }

    pub fn report(code: u32) -> ! {
        mark("end");
        hprintln!("stack peak {} B", stack_peak());
        // SAFETY: single core.
        let (tx, events) = unsafe {
            (
                core::ptr::read_volatile(core::ptr::addr_of!(super::TX_LEN)),
                core::ptr::read_volatile(core::ptr::addr_of!(super::EVENTS)),
            )
        };
        hprintln!(
            "status {} (0 = handshake started), last TX chunk {} B, events {:#x}",
            code,
            tx,
            events
        );
        debug::exit(if code == 0 {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        hprintln!("panic: {}", info);
        debug::exit(debug::EXIT_FAILURE);
        loop {
            cortex_m::asm::wfi();
        }
    }
}
