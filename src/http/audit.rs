//! What the audit log records: one entry per change to a line, group,
//! user or ingest key, naming who made it and the object before and after.
//!
//! The store writes each entry in the change's own transaction (see
//! [`crate::store::Audit`]); this module says who the actor is and how the
//! objects look. Snapshots are the API's own views, which never carry a
//! password hash or an ingest key or its hash.

use serde::Serialize;
use serde_json::{Value, json};

use super::api::{ingest_keys::KeyView, phone_numbers::PhoneNumberView, users::UserView};
use super::extract::AuthUser;
use crate::store::{Audit, AuditViews, GroupRow, IngestKeyRow, PhoneNumberRow, UserRow};

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
fn snapshot<T: Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// The API's views, as the audit log keeps them.
pub struct ApiViews;

impl AuditViews for ApiViews {
    fn phone_number(&self, row: &PhoneNumberRow) -> Value {
        snapshot(&PhoneNumberView::from(row.clone()))
    }
    /// A group with all its members (the API view narrows them to the viewer's lines).
    fn group(&self, g: &GroupRow) -> Value {
        json!({"id": g.id, "name": g.name, "description": g.description, "phoneNumberIds": g.phone_number_ids})
    }
    fn user(&self, row: &UserRow) -> Value {
        snapshot(&UserView::from(row.clone()))
    }
    fn ingest_key(&self, row: &IngestKeyRow) -> Value {
        snapshot(&KeyView::from(row.clone()))
    }
}

/// A change made by a signed-in user.
pub fn by(actor: &AuthUser) -> Audit<'_> {
    Audit {
        actor_id: Some(actor.id),
        actor_email: Some(&actor.email),
        views: &ApiViews,
    }
}

/// A change made by linewise itself or its command line (`cli`, `demo`,
/// `first-run`), with no signed-in user.
pub const fn system(what: &'static str) -> Audit<'static> {
    Audit {
        actor_id: None,
        actor_email: Some(what),
        views: &ApiViews,
    }
}
