//! Gives freed heap back to the operating system after a model change.
//!
//! A sync parses megabytes of JSON into a value tree and a typed root before packing it, and a
//! preparation assembles the whole encoded root: large, short-lived allocations, mostly on
//! blocking threads. glibc keeps freed memory in each thread's arena, so without this the
//! resident size would stay at the peak of the largest sync instead of the model's own size.

/// Returns free pages of every malloc arena to the system (glibc's `malloc_trim`); a no-op on
/// other allocators. Takes a few milliseconds on a large heap: call it off the async workers.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
