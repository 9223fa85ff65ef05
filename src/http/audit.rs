//! Writing the audit log: one entry per change to a line, group, user or
//! ingest key, naming who made it and the object before and after.
//!
//! Entries are written just after the change commits, not inside its
//! transaction: the store's write methods take no actor, and threading one
//! through every one of them would rewrite the store. So this is best
//! effort: a failed write is logged as an error and the change stands.
//! Snapshots are the API's own views, which never carry a password hash or
//! an ingest key or its hash.

use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::AuthUser;
use crate::store::{GroupRow, NewAuditEntry};

/// The kinds of object the log covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    PhoneNumber,
    Group,
    User,
    IngestKey,
}

impl ObjectType {
    pub const ALL: [ObjectType; 4] = [
        ObjectType::PhoneNumber,
        ObjectType::Group,
        ObjectType::User,
        ObjectType::IngestKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::PhoneNumber => "phone_number",
            ObjectType::Group => "group",
            ObjectType::User => "user",
            ObjectType::IngestKey => "ingest_key",
        }
    }
}

/// An API view as a JSON snapshot.
pub fn snapshot<T: Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// A group with all its members (the API view narrows them to the viewer's lines).
pub fn group_snapshot(g: &GroupRow) -> Value {
    json!({"id": g.id, "name": g.name, "description": g.description, "phoneNumberIds": g.phone_number_ids})
}

/// Records that `actor` did `action` to an object.
pub async fn record(
    state: &AppState,
    actor: &AuthUser,
    action: &str,
    object_type: ObjectType,
    object_id: Option<i64>,
    before: Option<Value>,
    after: Option<Value>,
) {
    let entry = NewAuditEntry {
        actor_id: Some(actor.id),
        actor_email: Some(actor.email.clone()),
        action: action.into(),
        object_type: object_type.as_str().into(),
        object_id,
        before,
        after,
    };
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(
            cause = %e,
            action,
            object_type = object_type.as_str(),
            object_id,
            "the audit log entry was not written"
        );
    }
}
