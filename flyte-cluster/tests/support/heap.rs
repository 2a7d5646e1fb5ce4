//! The heap a test uses, counted: a global allocator over the system's that keeps the bytes
//! live and their peak, and [`measured`], which runs a step and says how far above its start
//! the heap went. A test file includes it with `#[path = "support/heap.rs"] mod heap;`; it
//! becomes that test binary's allocator.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub const MIB: usize = 1 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The largest single block asked for: a value held serialized whole is one block its size.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn asked(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            asked(layout.size());
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            asked(new_size);
            if new_size > layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What a step did to the heap, in MiB above where it started, and how long it took.
pub struct Measure {
    /// The highest the heap went while the step ran.
    pub peak: f64,
    /// What the step left allocated.
    pub left: f64,
    /// The largest single block the step allocated (or grew one to), in MiB.
    pub largest: f64,
    pub secs: f64,
}

/// Runs `step`, and returns what it returned with its [`Measure`].
pub fn measured<T>(step: impl FnOnce() -> T) -> (T, Measure) {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    let t = Instant::now();
    let out = step();
    let secs = t.elapsed().as_secs_f64();
    let mib = |bytes: usize| bytes.saturating_sub(start) as f64 / MIB as f64;
    let measure = Measure {
        peak: mib(PEAK.load(Ordering::Relaxed)),
        left: mib(LIVE.load(Ordering::Relaxed)),
        largest: LARGEST.load(Ordering::Relaxed) as f64 / MIB as f64,
        secs,
    };
    (out, measure)
}
