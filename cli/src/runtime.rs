//! The tokio runtime a subcommand runs its async work on.

/// A multi-threaded tokio runtime for a subcommand, or an error message.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))
}
