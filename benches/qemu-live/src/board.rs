//! The board: the CMSDK APB UART as an `embedded-io` byte stream, the clocks, the stand-in
//! RNG and the semihosting command line.

use core::ptr::{read_volatile, write_volatile};
use core::time::Duration;

use mtls_core::time::{Instant, UnixTime};

/// UART0 of the mps2-an500 (CMSDK APB UART); QEMU connects it to its first `-serial`.
const UART0_BASE: usize = 0x4000_4000;
const DATA: usize = 0x000;
const STATE: usize = 0x004;
const CTRL: usize = 0x008;
const BAUDDIV: usize = 0x010;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// Polls of an empty receiver after which a read returns what it has: the bytes of one burst
/// arrive back to back, and the caller is better served with what is there than by waiting.
const IDLE_POLLS: u32 = 200;
/// Idle cycles between two polls of an empty receiver (see [`Uart::pause`]).
const POLL_PAUSE: u32 = 200;
/// A read with no client deadline gives up (TimedOut) after this long without a byte.
const READ_LIMIT: Duration = Duration::from_secs(30);

/// Bytes written to and read from the UART (reported at the end of the run).
pub static TX_BYTES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
pub static RX_BYTES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The UART as a byte stream. A UART has no end of stream: a closed TCP connection on the
/// QEMU side looks like silence, which the client's timeouts handle.
pub struct Uart {
    base: usize,
    deadline: Option<Instant>,
}

/// Why a UART transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// No byte before the deadline the session set (or [`READ_LIMIT`]).
    TimedOut,
    /// The session asked for a second connection: there is only the one UART link.
    NoSecondConnection,
}

impl core::fmt::Display for UartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            UartError::TimedOut => "no byte from the UART before the deadline",
            UartError::NoSecondConnection => {
                "the UART carries one connection and it is gone: restart the run"
            }
        })
    }
}

impl embedded_io::Error for UartError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            UartError::TimedOut => embedded_io::ErrorKind::TimedOut,
            UartError::NoSecondConnection => embedded_io::ErrorKind::NotConnected,
        }
    }
}

impl Uart {
    /// UART0, enabled for both directions.
    pub fn uart0() -> Uart {
        let uart = Uart {
            base: UART0_BASE,
            deadline: None,
        };
        // QEMU's model drops characters while the divisor is under 16; the value is
        // otherwise irrelevant in emulation (a real board sets its baud rate here).
        uart.write_reg(BAUDDIV, 16);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        // Nothing can have arrived yet (the server speaks after the ClientHello). In QEMU a
        // read of DATA is what tells the emulator the receiver has room: without it, it
        // would not start listening to the socket until something else woke it.
        let _ = uart.read_reg(DATA);
        uart
    }

    /// The next read fails with TimedOut once `left` has passed without a byte.
    pub fn bound_next_read(&mut self, left: Option<Duration>) {
        let left = left.map_or(READ_LIMIT, |l| l.min(READ_LIMIT));
        self.deadline = Some(monotonic_now() + left);
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: a CMSDK UART register of the mps2 memory map; volatile MMIO.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_reg(&self, offset: usize, value: u32) {
        // SAFETY: as in read_reg.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn rx_ready(&self) -> bool {
        self.read_reg(STATE) & STATE_RX_FULL != 0
    }

    /// A pause between two polls of an empty receiver. In QEMU every register access takes
    /// the emulator's global lock, and a guest polling back to back keeps its I/O thread
    /// from ever delivering the next byte; on a real board it only saves bus traffic.
    fn pause() {
        for _ in 0..POLL_PAUSE {
            cortex_m::asm::nop();
        }
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = UartError;
}

impl embedded_io::Read for Uart {
    /// Blocks until a byte arrives (or the deadline passes), then takes the rest of the burst.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self
            .deadline
            .take()
            .unwrap_or_else(|| monotonic_now() + READ_LIMIT);
        let mut polls: u32 = 0;
        while !self.rx_ready() {
            Self::pause();
            polls = polls.wrapping_add(1);
            // The clock is a semihosting call: look at it now and then only.
            if polls.is_multiple_of(1024) && monotonic_now() >= deadline {
                return Err(UartError::TimedOut);
            }
        }
        let mut n = 0;
        let mut idle = 0;
        while n < buf.len() && idle < IDLE_POLLS {
            if self.rx_ready() {
                buf[n] = self.read_reg(DATA) as u8;
                n += 1;
                idle = 0;
            } else {
                Self::pause();
                idle += 1;
            }
        }
        RX_BYTES.fetch_add(n, core::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        for &b in buf {
            while self.read_reg(STATE) & STATE_TX_FULL != 0 {}
            self.write_reg(DATA, u32::from(b));
        }
        TX_BYTES.fetch_add(buf.len(), core::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartError> {
        while self.read_reg(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}

/// The wall clock for certificate validity: the host's time through semihosting
/// `SYS_TIME` (seconds since the Unix epoch). Stand-in for a battery-backed RTC.
pub fn rtc_now() -> UnixTime {
    // SAFETY: SYS_TIME takes no argument block.
    let secs = unsafe { cortex_m_semihosting::syscall1(cortex_m_semihosting::nr::TIME, 0) };
    UnixTime::since_unix_epoch(Duration::from_secs(secs as u64))
}

/// The monotonic clock: semihosting `SYS_CLOCK` (centiseconds since the run started).
/// Stand-in for SysTick or a hardware timer.
pub fn monotonic_now() -> Instant {
    // SAFETY: SYS_CLOCK takes no argument block.
    let cs = unsafe { cortex_m_semihosting::syscall1(cortex_m_semihosting::nr::CLOCK, 0) };
    Instant::from_millis(cs as u64 * 10)
}

/// The `getrandom` backend the crypto provider draws on (ClientHello random, key shares,
/// ECDSA nonces). **A STAND-IN, NOT RANDOM**: splitmix64 seeded from the host's clock, so
/// every run differs but anyone can predict it. A real board reads its TRNG here (e.g. the
/// STM32 RNG peripheral's DR register, the nRF RNG, the RP2040 ROSC), or a DRBG seeded by it.
pub fn stand_in_rng(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    static mut STATE: u64 = 0;
    // SAFETY: single core, no interrupts touch STATE.
    let state = unsafe { &mut *core::ptr::addr_of_mut!(STATE) };
    if *state == 0 {
        let secs = rtc_now().as_secs();
        let cs = monotonic_now().as_millis();
        *state = (secs << 20) ^ cs ^ 0x9e37_79b9_7f4a_7c15;
    }
    for chunk in buf.chunks_mut(8) {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    Ok(())
}
getrandom::register_custom_getrandom!(stand_in_rng);

/// Options from the semihosting command line (`-append "heap=N limits=small"`).
pub struct Args {
    /// Bytes of heap to use.
    pub heap: Option<usize>,
    /// The small-device limits preset.
    pub small: bool,
    /// A third request whose answer (a 24 KiB body) is larger than `Limits::small()` allows.
    pub big: bool,
}

impl Args {
    pub fn from_semihosting() -> Args {
        let mut buf = [0u8; 256];
        let mut block = [buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes to block[0] and the length
        // back into block[1].
        let rc = unsafe {
            cortex_m_semihosting::syscall1(
                cortex_m_semihosting::nr::GET_CMDLINE,
                block.as_mut_ptr() as usize,
            )
        };
        // SAFETY: the host wrote block[1]; read it as memory the compiler did not see change.
        let len = unsafe { read_volatile(&block[1]) }.min(buf.len());
        let line = if rc == 0 {
            core::str::from_utf8(&buf[..len]).unwrap_or("")
        } else {
            ""
        };
        let mut args = Args {
            heap: None,
            small: false,
            big: false,
        };
        for word in line.split_ascii_whitespace() {
            if let Some(n) = word.strip_prefix("heap=") {
                args.heap = n.parse().ok();
            } else if word == "limits=small" {
                args.small = true;
            } else if word == "big" {
                args.big = true;
            }
        }
        args
    }
}
