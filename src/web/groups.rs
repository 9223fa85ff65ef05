//! The groups part of the phone-numbers page: each group's card, and the
//! forms that create a group, add and remove its lines, and delete it.
//! Every change goes through the API's group handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::layout::PageError;
use super::numbers::{admin, api_body, respond, to_page};
use super::session::{Posted, Viewer};
use crate::domain::Invalid;
use crate::http::AppState;
use crate::http::api::{groups, phone_numbers};
use crate::http::extract::{ApiJson, path_id};
use crate::store::{GroupRow, PhoneNumberRow};

pub(super) fn group_card(
    g: &GroupRow,
    active: &[PhoneNumberRow],
    all: &[PhoneNumberRow],
    viewer: &Viewer,
) -> Markup {
    let members: Vec<&PhoneNumberRow> = all
        .iter()
        .filter(|l| g.phone_number_ids.contains(&l.id))
        .collect();
    let addable: Vec<&PhoneNumberRow> = active
        .iter()
        .filter(|l| !g.phone_number_ids.contains(&l.id))
        .collect();
    html! {
        article.group data-group=(g.id) {
            div.group-head {
                h3 { (g.name) }
                span.muted { (members.len()) " lines" }
            }
            @if let Some(d) = g.description.as_deref().filter(|d| !d.trim().is_empty()) {
                p.muted.group-desc { (d) }
            }
            div.chips {
                @if members.is_empty() { span.muted { "No lines yet" } }
                @for m in &members {
                    span.chip.chip-member {
                        (phone_numbers::label(m))
                        @if viewer.is_admin() {
                            form method="post" action={ "/groups/" (g.id) "/members/" (m.id) "/remove" } {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button.chip-remove type="submit" aria-label={ "Remove " (phone_numbers::label(m)) " from " (g.name) } { "×" }
                            }
                        }
                    }
                }
            }
            @if viewer.is_admin() {
                div.group-actions {
                    @if !addable.is_empty() {
                        form.inline-form method="post" action={ "/groups/" (g.id) "/members" } {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            label.sr-only for={ "add-" (g.id) } { "Line to add to " (g.name) }
                            select id={ "add-" (g.id) } name="phoneNumberId" {
                                @for l in &addable { option value=(l.id) { (phone_numbers::label(l)) } }
                            }
                            button.btn.btn-secondary.btn-sm type="submit" { "Add" }
                        }
                    }
                    details.danger {
                        summary { "Delete group…" }
                        form method="post" action={ "/groups/" (g.id) "/delete" } {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            label.check { input type="checkbox" name="confirm" value="1" required; "Yes, delete “" (g.name) "” (its lines stay)" }
                            button.btn.btn-danger.btn-sm type="submit" { "Delete group" }
                        }
                    }
                }
            }
        }
    }
}

/// A group id from the path, once the user is known to be an admin.
fn group_for_admin(viewer: &Viewer, id: &str) -> Result<i64, PageError> {
    viewer.require_admin()?;
    Ok(path_id("group", id)?)
}

/// `POST /groups`: creates a group.
pub async fn create_group(State(state): State<AppState>, p: Posted) -> Response {
    respond(
        async {
            let who = admin(&p.viewer)?;
            let description = p.form.text("description");
            let body = json!({
                "name": p.form.get("name").unwrap_or(""),
                "description": if description.is_empty() { Value::Null } else { Value::String(description) },
            });
            let _ = groups::create(State(state.clone()), who, ApiJson(api_body(body)?))
                .await
                .map_err(|e| PageError::from(e).back("/phone-numbers#groups", "Back to groups"))?;
            Ok(to_page(&p.viewer, "group-created", None))
        }
        .await,
    )
}

/// `POST /groups/:id/members` with `phoneNumberId`.
pub async fn add_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Response {
    respond(
        async {
            let gid = group_for_admin(&p.viewer, &id)?;
            let who = admin(&p.viewer)?;
            let line = p.form.text("phoneNumberId");
            let line: i64 = line.parse().map_err(|_| {
                PageError::invalid(&Invalid::new(
                    "phoneNumberId",
                    format!("'{line}' is not a line id"),
                ))
            })?;
            let body = json!({ "phoneNumberIds": [line] });
            let _ = groups::add_members(
                State(state.clone()),
                who,
                Path(gid.to_string()),
                ApiJson(api_body(body)?),
            )
            .await
            .map_err(|e| PageError::from(e).back("/phone-numbers#groups", "Back to groups"))?;
            Ok(to_page(&p.viewer, "member-added", None))
        }
        .await,
    )
}

/// `POST /groups/:id/members/:line/remove`.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((id, line)): Path<(String, String)>,
    p: Posted,
) -> Response {
    respond(
        async {
            let gid = group_for_admin(&p.viewer, &id)?;
            let who = admin(&p.viewer)?;
            let _ = groups::remove_member(State(state.clone()), who, Path((gid.to_string(), line)))
                .await
                .map_err(|e| PageError::from(e).back("/phone-numbers#groups", "Back to groups"))?;
            Ok(to_page(&p.viewer, "member-removed", None))
        }
        .await,
    )
}

/// `POST /groups/:id/delete` with the `confirm` box ticked.
pub async fn delete_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Response {
    respond(
        async {
            let gid = group_for_admin(&p.viewer, &id)?;
            let who = admin(&p.viewer)?;
            if !p.form.checked("confirm") {
                return Err(PageError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Please confirm",
                    "Tick “Yes, delete” to delete the group.",
                )
                .back("/phone-numbers#groups", "Back to groups"));
            }
            groups::delete(State(state.clone()), who, Path(gid.to_string())).await?;
            Ok(to_page(&p.viewer, "group-deleted", None))
        }
        .await,
    )
}
