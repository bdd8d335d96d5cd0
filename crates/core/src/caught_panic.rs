//! Panics of third-party readers turned into errors: `parquet` and
//! `tokenizers` panic on some malformed files, and a reader of a user's file
//! must answer with an error that names it instead.

/// Runs `read`; a panic inside it becomes `Err` with the panic's message.
pub(crate) fn catch_as_message<T>(read: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    std::panic::catch_unwind(read).map_err(|panic| {
        panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
    })
}
