//! Allocator tuning for the binaries that declare mimalloc as their global
//! allocator (`src/main.rs`, the benchmarks).
//!
//! A training step allocates and frees hundreds of multi-megabyte tensors. By
//! default mimalloc gives freed pages back to the kernel after a delay (1 s in the
//! v3 that libmimalloc-sys builds), about one step, so the next step faults them
//! in again and the kernel zeroes them (`clear_page_erms` was
//! ~12% of a `tiny` step in `perf`). Keeping them makes the step ~8% faster
//! (`cargo bench --bench model_step`); peak memory is unchanged, the process
//! merely keeps it until it exits.
//!
//! Kept pages were still zeroed again: mimalloc marks its arenas for transparent
//! huge pages, and the kernel splits and re-faults those 2 MB pages, zeroing
//! ~4.6 GB per `model_step` benchmark run (AMD Zen 4). With huge pages off for the process
//! ([`no_transparent_huge_pages`]) the pages are faulted once, in the first
//! steps, and `clear_page_erms` fell from 18% to under 1% of a steady `tiny`
//! training step (`perf`, AMD Zen 4).

/// mimalloc's `mi_option_purge_delay`, which the Rust bindings do not name: in
/// `mimalloc.h` (v2 and v3 alike) it is the option just before
/// `mi_option_use_numa_nodes`. [`keep_freed_memory`] checks that it holds the
/// purge delay's default before changing it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// mimalloc's default purge delay in milliseconds (v2, v3), to recognise the option.
const DEFAULT_PURGE_DELAY_MS: [std::os::raw::c_long; 2] = [10, 1000];

/// Tells mimalloc never to return freed memory to the kernel. Returns whether
/// the option was set: it is left alone when the user set
/// `MIMALLOC_PURGE_DELAY`, or when it does not hold mimalloc's default (a
/// mimalloc whose options are numbered differently).
pub fn keep_freed_memory() -> bool {
    // SAFETY: reading and setting an option are plain calls into mimalloc,
    // valid at any time and from any thread.
    unsafe {
        let current = libmimalloc_sys::mi_option_get(PURGE_DELAY);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() || !DEFAULT_PURGE_DELAY_MS.contains(&current) {
            return false;
        }
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
    true
}

/// Turns transparent huge pages off for this process (Linux
/// `PR_SET_THP_DISABLE`; it also holds for child processes). Returns whether
/// the call succeeded; elsewhere it does nothing and returns `false`.
pub fn no_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and only
        // sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Both allocator settings of a long training or sampling process:
/// [`keep_freed_memory`] and [`no_transparent_huge_pages`]. Call it first
/// thing in `main`.
pub fn tune_for_tensors() {
    keep_freed_memory();
    no_transparent_huge_pages();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_found_and_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the user's setting wins, by design
        }
        // SAFETY: as in `keep_freed_memory`
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert!(keep_freed_memory(), "option {PURGE_DELAY} holds {before}");
        // SAFETY: as above
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, -1);
        assert!(!keep_freed_memory(), "a second call finds the option already changed and leaves it");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_turned_off_for_the_process() {
        assert!(no_transparent_huge_pages());
        // SAFETY: PR_GET_THP_DISABLE reads the flag
        assert_eq!(
            unsafe {
                libc::prctl(libc::PR_GET_THP_DISABLE, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong)
            },
            1
        );
    }
}
