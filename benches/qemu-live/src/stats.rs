//! Measuring memory: a counting allocator around the heap, and a painted stack.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use cortex_m_semihosting::hprintln;
use embedded_alloc::LlffHeap;

/// `embedded-alloc`'s linked-list heap, counting as it goes.
pub struct CountingHeap {
    heap: LlffHeap,
    /// Bytes the program asked for and has not freed.
    live: AtomicUsize,
    peak_live: AtomicUsize,
    /// The allocator's own count of bytes in use (block rounding and alignment included):
    /// the figure a heap must be able to hold, fragmentation aside.
    peak_used: AtomicUsize,
    allocs: AtomicUsize,
}

impl CountingHeap {
    pub const fn new() -> Self {
        CountingHeap {
            heap: LlffHeap::empty(),
            live: AtomicUsize::new(0),
            peak_live: AtomicUsize::new(0),
            peak_used: AtomicUsize::new(0),
            allocs: AtomicUsize::new(0),
        }
    }

    /// # Safety
    /// Once, before any allocation, with memory used by nothing else.
    pub unsafe fn init(&self, start: usize, size: usize) {
        unsafe { self.heap.init(start, size) }
    }

    /// (peak in use as the allocator counts it, peak of requested bytes).
    pub fn peaks(&self) -> (usize, usize) {
        (self.peak_used.load(Relaxed), self.peak_live.load(Relaxed))
    }
}

unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.heap.alloc(layout) };
        if p.is_null() {
            hprintln!(
                "OOM: {} B (align {}) with {} B in use",
                layout.size(),
                layout.align(),
                self.heap.used()
            );
        } else {
            let live = self.live.fetch_add(layout.size(), Relaxed) + layout.size();
            self.peak_live.fetch_max(live, Relaxed);
            self.peak_used.fetch_max(self.heap.used(), Relaxed);
            self.allocs.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.heap.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Relaxed);
    }
}

/// Prints the heap figures so far.
pub fn mark(at: &str) {
    let h = &super::HEAP;
    hprintln!(
        "{}: heap live {} B, peak {} B (requested {} B), {} allocations; stack peak {} B",
        at,
        h.live.load(Relaxed),
        h.peak_used.load(Relaxed),
        h.peak_live.load(Relaxed),
        h.allocs.load(Relaxed),
        stack_peak()
    );
}

extern "C" {
    /// First free RAM word after .bss/.uninit (cortex-m-rt's link.x).
    static mut __sheap: u32;
    /// Top of RAM, where the stack starts (cortex-m-rt's link.x).
    static _stack_start: u32;
}
const PAINT: u32 = 0xa5a5_a5a5;

/// Fills the free RAM between the statics and (64 bytes below) the live stack with a pattern.
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize - 64;
    // SAFETY: nothing uses the RAM between the end of the statics and the live stack.
    unsafe {
        let mut p = core::ptr::addr_of_mut!(__sheap);
        while (p as usize) < sp {
            core::ptr::write_volatile(p, PAINT);
            p = p.add(1);
        }
    }
}

/// Bytes of stack ever used: from the top of RAM down to the lowest overwritten word.
pub fn stack_peak() -> usize {
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
