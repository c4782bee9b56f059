//! The application's error: what went wrong, in terms a caller can act on. The web
//! layer maps it to HTTP in one place (`web::api::error`), the CLI to exit statuses.

/// A failed use case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is well-formed but not acceptable (422). `code` is part of the contract.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No such object (404). Holds what was looked for, e.g. "key 7".
    #[error("{0} not found")]
    NotFound(String),
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    /// A bug or broken invariant; details are logged, never shown.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A field that failed validation (422 `validation_failed`).
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Error {
        Error::invalid("validation_failed", format!("{field}: {problem}"))
    }

    pub fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound(what.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
