//! Exit codes, documented in one place, and the error type that carries them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: every provider ok |
//! | 1 | failure: a provider failed, the store could not be written or read |
//! | 2 | usage error: bad flag, unknown provider, invalid config; nothing was done |
//! | 3 | the store is locked by another run |
//! | 130 | cancelled by the user |

/// Every provider ok.
pub const OK: u8 = 0;
/// A provider failed, or the store could not be used.
pub const FAILURE: u8 = 1;
/// Bad usage; nothing was done.
pub const USAGE: u8 = 2;
/// The store is locked by another run.
pub const LOCKED: u8 = 3;
/// Cancelled by the user.
pub const CANCELLED: u8 = 130;

/// An error that ends the process with a specific exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub code: u8,
    pub message: String,
}

impl ExitError {
    /// A usage error (exit 2).
    pub fn usage(message: String) -> Self {
        Self { code: USAGE, message }
    }

    /// A runtime failure (exit 1).
    pub fn failure(message: String) -> Self {
        Self { code: FAILURE, message }
    }
}
