//! Pure domain types: validated values that every way in (HTTP, CLI, provider
//! formats) must pass through before anything reaches the store.
//!
//! Nothing here does I/O. Each type has a `parse` that names the field and the
//! offending value when it refuses, so an HTTP 422 or an import report can say
//! exactly what was wrong.

pub mod call;
pub mod filter;
pub mod period;
pub mod phone;
pub mod raw;
pub mod role;

#[cfg(test)]
mod proptests;

pub use call::{CallDirection, CallStatus, NewCall, Provider};
pub use filter::LineFilter;
pub use period::{Period, parse_timezone};
pub use phone::{E164, Region};
pub use raw::Raw;
pub use role::Role;

/// A value that was refused, with the field it came in and a message a person
/// can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (body key, query parameter or column) the value came in.
    pub field: String,
    /// What was wrong, quoting the value.
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
