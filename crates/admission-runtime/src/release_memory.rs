//! Keeps the process's resident memory near the model's own size.
//!
//! A sync reads megabytes of JSON, and a preparation assembles the whole encoded root: large,
//! short-lived buffers, mostly on blocking threads, next to a model of many small long-lived
//! allocations. With glibc's defaults, the first large buffer freed raises the mmap threshold to
//! its size, so later buffers of that size come from the heap arenas, and whatever they leave
//! behind stays resident: measured, the process kept about twice the model's heap for nothing.

/// Large buffers (256 KiB and more) always get their own mapping, returned to the system when
/// freed; and at most two malloc arenas, so that the model, built on blocking threads, does not
/// leave free memory behind in an arena per thread (per-thread caches keep small allocations
/// uncontended). Call once at start-up, before other threads exist; a no-op on other allocators.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free pages of every malloc arena to the system (glibc's `malloc_trim`); a no-op on
/// other allocators. Takes a few milliseconds on a large heap: call it off the async workers.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
