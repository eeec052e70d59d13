//! Process-wide settings `main` makes before anything else runs.

/// Makes every file this process creates private from its first instant (`umask 077`):
/// sdnd's store, its WAL and its keys are never readable by others, not even for a moment.
pub fn private_umask() {
    // SAFETY: umask has no preconditions and can't fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Large blocks (a password check's 19 MiB of argon2 memory) are mapped and unmapped each
/// time instead of staying in the allocator's per-thread arenas, so the memory a flood of
/// logins took returns to the system when it ends. Without it glibc raises its threshold
/// after the first such block and keeps one per blocking thread.
pub fn return_large_blocks() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning; 1 MiB is a valid threshold.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
