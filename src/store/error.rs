//! The storage layer's error type.

/// What went wrong in a value store. Every variant names the store's URL
/// (password masked) so a message can be acted on without context.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL could not be understood; nothing was opened.
    #[error(
        "invalid store URL `{url}`: {reason} (expected mem:, sled:PATH, sqlite:PATH, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB)"
    )]
    InvalidUrl {
        /// The URL as given (password masked).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The store exists in principle but could not be opened or reached.
    #[error("cannot open store `{url}`: {reason}")]
    Open {
        /// The store's URL (password masked).
        url: String,
        /// The backend's reason.
        reason: String,
    },
    /// An operation on an open store failed.
    #[error("store `{url}`: {op} failed: {reason}")]
    Io {
        /// The store's URL (password masked).
        url: String,
        /// The operation (get, create, replace, scan, flush…).
        op: &'static str,
        /// The backend's reason.
        reason: String,
    },
    /// A value larger than the store accepts, refused before it is sent.
    #[error(
        "store `{url}`: the value at `{key}` is {bytes} bytes, more than this store accepts ({limit} bytes: {why}); nothing of this write was sent"
    )]
    ValueTooLarge {
        /// The store's URL (password masked).
        url: String,
        /// The key the value was to be written at.
        key: String,
        /// The value's size.
        bytes: usize,
        /// The largest value the store accepts.
        limit: usize,
        /// Where the limit comes from and how to raise it.
        why: String,
    },
    /// The backend answered something that breaks the contract.
    #[error("store `{url}`: {op} returned an unexpected answer: {reason}")]
    Protocol {
        /// The store's URL (password masked).
        url: String,
        /// The operation.
        op: &'static str,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl StoreError {
    /// Builds an [`StoreError::Io`] from any displayable backend error.
    pub fn io(url: &str, op: &'static str, err: impl std::fmt::Display) -> Self {
        StoreError::Io {
            url: url.to_string(),
            op,
            reason: err.to_string(),
        }
    }
}
