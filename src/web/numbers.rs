//! `/phone-numbers`: the registry of lines (groups are in `groups.rs`). Everyone sees
//! the lines they may see; admins get the controls. Every change goes
//! through the API's handler for it (same validation, same rules), after
//! the role is checked here: the server refuses a manager's or an agent's
//! write whatever the page showed them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::format::{count, phone};
use super::groups::group_card;
use super::layout::{Nav, PageError, empty, field_label, notice, shell};
use super::selection::{encode, visible_groups, visible_lines};
use super::session::{Form, Posted, Viewer};
use crate::domain::Invalid;
use crate::http::AppState;
use crate::http::access::may_see;
use crate::http::api::{groups, phone_numbers};
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, QueryPairs, path_id};
use crate::store::{LineScope, PhoneNumberRow};

/// Line types offered in the form (any short slug is accepted).
const TYPES: &[&str] = &[
    "exophone",
    "sip",
    "landline",
    "twilio",
    "mobile",
    "toll-free",
];
/// Empty metadata rows offered for new keys.
const BLANK_ROWS: usize = 2;

/// What the add or edit form holds, to show it again after a refusal.
#[derive(Debug, Clone, Default)]
struct Draft {
    number: String,
    name: String,
    kind: String,
    active: bool,
    primary: bool,
    meta: Vec<(String, String)>,
}

impl Draft {
    fn blank() -> Draft {
        Draft {
            kind: "exophone".into(),
            active: true,
            ..Default::default()
        }
    }

    fn of(l: &PhoneNumberRow) -> Draft {
        Draft {
            number: phone(&l.number),
            name: l.friendly_name.clone().unwrap_or_default(),
            kind: l.kind.clone(),
            active: l.is_active,
            primary: l.is_primary,
            meta: l
                .metadata
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), meta_text(v))).collect())
                .unwrap_or_default(),
        }
    }

    fn from_form(f: &Form) -> Draft {
        let keys = f.all("metaKey");
        let values = f.all("metaValue");
        Draft {
            number: f.text("number"),
            name: f.text("friendlyName"),
            kind: f.text("type"),
            active: f.checked("isActive"),
            primary: f.checked("isPrimary"),
            meta: keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    (
                        k.trim().to_string(),
                        values.get(i).copied().unwrap_or("").trim().to_string(),
                    )
                })
                .filter(|(k, v)| !k.is_empty() || !v.is_empty())
                .collect(),
        }
    }

    /// The API body for this draft. Metadata values are text, except that
    /// a non-text value left unchanged keeps its JSON type.
    fn body(&self, before: Option<&Value>) -> Result<Value, Invalid> {
        let mut meta = Map::new();
        for (i, (k, v)) in self.meta.iter().enumerate() {
            if k.is_empty() {
                return Err(Invalid::new(
                    "metadata",
                    format!("row {} has the value '{v}' but no key", i + 1),
                ));
            }
            if meta.contains_key(k) {
                return Err(Invalid::new(
                    "metadata",
                    format!("the key '{k}' is given twice"),
                ));
            }
            let value = match before.and_then(|b| b.get(k)) {
                Some(old) if !old.is_string() && meta_text(old) == *v => old.clone(),
                _ => Value::String(v.clone()),
            };
            meta.insert(k.clone(), value);
        }
        Ok(json!({
            "number": self.number,
            "friendlyName": self.name,
            "type": if self.kind.is_empty() { "exophone" } else { self.kind.as_str() },
            "isActive": self.active,
            "isPrimary": self.primary,
            "metadata": Value::Object(meta),
        }))
    }
}

fn meta_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Deserialises an API body built here; a failure is a bug, shown as one.
pub(super) fn api_body<T: DeserializeOwned>(v: Value) -> Result<T, PageError> {
    serde_json::from_value(v).map_err(|e| {
        PageError::from(ApiError::Internal(format!(
            "web form body does not fit the API: {e}"
        )))
    })
}

pub(super) fn admin(viewer: &Viewer) -> Result<Admin, PageError> {
    viewer.require_admin()?;
    Ok(Admin::check(viewer.user.clone())?)
}

/// The query parameters of a notice, in the order they are vouched for.
const NOTICE_KEYS: [&str; 4] = ["done", "id", "discovered", "total"];

/// Back to the page with a notice of what was done, vouched for by the
/// viewer's session (see [`Viewer::vouch`]): a link from anywhere else
/// shows no notice, so the page never claims a change nobody made.
pub(super) fn notice_redirect(viewer: &Viewer, pairs: Vec<(&str, String)>) -> Response {
    let notice = encode(&pairs);
    let tag = viewer.vouch(&notice);
    // The fragment replaces the form's `#add`, which would otherwise carry over.
    Redirect::to(&format!(
        "/phone-numbers?{notice}&{}#main",
        encode(&[("tag", tag)])
    ))
    .into_response()
}

pub(super) fn to_page(viewer: &Viewer, done: &str, id: Option<i64>) -> Response {
    let mut pairs = vec![("done", done.to_string())];
    if let Some(id) = id {
        pairs.push(("id", id.to_string()));
    }
    notice_redirect(viewer, pairs)
}

pub(super) fn respond(r: Result<Response, PageError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------- the page

/// `GET /phone-numbers`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, q: QueryPairs) -> Response {
    let message = done_message(&state, &viewer, &q).await;
    respond(
        render(&state, &viewer, message, &Draft::blank(), None)
            .await
            .map(|m| m.into_response()),
    )
}

/// The notice of a change the viewer made, when the URL carries one their
/// session vouches for. It names a line only when the viewer may see it.
async fn done_message(
    state: &AppState,
    viewer: &Viewer,
    q: &QueryPairs,
) -> Option<(&'static str, String)> {
    let pairs: Vec<(&str, String)> = NOTICE_KEYS
        .into_iter()
        .filter_map(|k| q.get(k).map(|v| (k, v.to_string())))
        .collect();
    if pairs.is_empty() || !viewer.vouches_for(&encode(&pairs), q.get("tag")?) {
        return None;
    }
    let name = match q.get("id").and_then(|i| i.parse::<i64>().ok()) {
        Some(id) => match state.store.get_phone_number(id).await {
            Ok(l) if may_see(&viewer.user, &l) => phone_numbers::label(&l),
            _ => "The line".into(),
        },
        None => "The line".into(),
    };
    if let Some(found) = q.get("discovered") {
        let found: u64 = found.parse().ok()?;
        let total: u64 = q.get("total")?.parse().ok()?;
        return Some((
            "success",
            match found {
                0 => format!(
                    "Discovery found no new numbers: every number in the call records is registered ({total} in total)."
                ),
                1 => format!(
                    "Discovery found 1 new number in the call records and registered it ({total} in total)."
                ),
                n => format!(
                    "Discovery found {n} new numbers in the call records and registered them ({total} in total)."
                ),
            },
        ));
    }
    let text = match q.get("done")? {
        "added" => format!("{name} was added."),
        "updated" => format!("{name} was updated."),
        "saved" => format!("{name} was saved."),
        "primary" => format!("{name} is now the primary line."),
        "activated" => format!("{name} is active again."),
        "deactivated" => format!("{name} was deactivated; its calls stay."),
        "deleted" => "The number was deleted; its call records stay.".to_string(),
        "group-created" => "The group was created.".to_string(),
        "member-added" => "The line was added to the group.".to_string(),
        "member-removed" => "The line was removed from the group.".to_string(),
        "group-deleted" => "The group was deleted.".to_string(),
        _ => return None,
    };
    Some(("success", text))
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    message: Option<(&'static str, String)>,
    draft: &Draft,
    error: Option<&Invalid>,
) -> Result<Markup, PageError> {
    let lines = visible_lines(state, &viewer.user, true).await?;
    let active: Vec<PhoneNumberRow> = lines.iter().filter(|l| l.is_active).cloned().collect();
    let groups = visible_groups(state, &viewer.user, &active).await?;
    let is_admin = viewer.is_admin();
    let n_active = active.len();
    let body = html! {
        div.page-head {
            div.page-title {
                h1 { "Phone numbers" }
                p.muted { (count(lines.len() as i64)) " lines" span.dot { "·" } (count(n_active as i64)) " active" }
            }
            @if is_admin {
                div.head-actions {
                    form method="post" action="/phone-numbers/discover" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button.btn.btn-secondary type="submit" id="discover" { "Find numbers in calls" }
                    }
                    a.btn.btn-primary href="#add" { "Add a number" }
                }
            }
        }
        @if let Some((kind, text)) = &message { (notice(kind, text)) }
        @if !is_admin {
            (notice("info", "You can see the lines assigned to you. Only admins can add or change lines and groups."))
        }
        section.card {
            @if lines.is_empty() {
                (empty("No phone numbers yet", if is_admin { "Add one below, or find them in your call records." } else { "No lines are assigned to you yet." }))
            } @else {
                div.table-wrap {
                    table.table.stack id="numbers" {
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Number" }
                            th scope="col" { "Type" }
                            th scope="col" { "Status" }
                            @if is_admin { th scope="col" { span.sr-only { "Actions" } } }
                        } }
                        tbody {
                            @for l in &lines { (line_row(l, viewer)) }
                        }
                    }
                }
            }
        }
        @if is_admin {
            section.card id="add" {
                div.card-head { h2 { "Add a number" } span.muted { "Adding a number that exists updates it" } }
                (line_form("/phone-numbers#add", draft, error, viewer, "Add number"))
            }
        }
        section.card id="groups" {
            div.card-head { h2 { "Groups" } span.muted { "Named sets of lines for the dashboard and comparisons" } }
            @if groups.is_empty() {
                (empty("No groups yet", if is_admin { "Create one below." } else { "" }))
            }
            div.groups {
                @for g in &groups { (group_card(g, &active, &lines, viewer)) }
            }
            @if is_admin {
                form.inline-form #new-group method="post" action="/groups" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    div.field {
                        label for="g-name" { "New group" }
                        input type="text" id="g-name" name="name" required maxlength="100" placeholder="e.g. North region";
                    }
                    div.field.grow {
                        label for="g-desc" { "Description" }
                        input type="text" id="g-desc" name="description" maxlength=(groups::MAX_DESCRIPTION) placeholder="Optional";
                    }
                    div.field.field-apply { button.btn.btn-secondary type="submit" { "Create group" } }
                }
            }
        }
    };
    Ok(shell("Phone numbers", viewer, Nav::Numbers, "", body))
}

fn line_row(l: &PhoneNumberRow, viewer: &Viewer) -> Markup {
    let meta: Vec<(String, String)> = l
        .metadata
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), meta_text(v))).collect())
        .unwrap_or_default();
    html! {
        tr data-id=(l.id) data-number=(l.number) class={ @if !l.is_active { "inactive" } } {
            td data-label="Name" {
                div.cell-main {
                    (l.friendly_name.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or("—"))
                    @if l.is_primary { " " span.badge.badge-primary { "★ Primary" } }
                }
                @if !meta.is_empty() {
                    div.chips {
                        @for (k, v) in &meta { span.chip { span.chip-key { (k) } (v) } }
                    }
                }
            }
            td.mono.nowrap data-label="Number" { (phone(&l.number)) }
            td data-label="Type" { (l.kind) }
            td data-label="Status" {
                @if l.is_active { span.badge.badge-ok { "Active" } } @else { span.badge.badge-muted { "Inactive" } }
            }
            @if viewer.is_admin() {
                td.actions-cell data-label="Actions" { div.actions {
                    a.btn.btn-ghost.btn-sm href={ "/phone-numbers/" (l.id) "/edit" } { "Edit" }
                    @if l.is_active && !l.is_primary {
                        form method="post" action={ "/phone-numbers/" (l.id) "/primary" } {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button.btn.btn-ghost.btn-sm type="submit" data-action="primary" { "Make primary" }
                        }
                    }
                    form method="post" action={ "/phone-numbers/" (l.id) "/active" } {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        @if l.is_active {
                            input type="hidden" name="active" value="0";
                            button.btn.btn-ghost.btn-sm type="submit" { "Deactivate" }
                        } @else {
                            input type="hidden" name="active" value="1";
                            button.btn.btn-ghost.btn-sm type="submit" { "Activate" }
                        }
                    }
                    a.btn.btn-ghost.btn-sm.btn-danger-text href={ "/phone-numbers/" (l.id) "/delete" } { "Delete" }
                } }
            }
        }
    }
}

fn invalid_attr(error: Option<&Invalid>, field: &str) -> Option<&'static str> {
    error.filter(|e| e.field == field).map(|_| "true")
}

fn line_form(
    action: &str,
    d: &Draft,
    error: Option<&Invalid>,
    viewer: &Viewer,
    submit: &str,
) -> Markup {
    let mut rows = d.meta.clone();
    rows.extend(std::iter::repeat_n(
        (String::new(), String::new()),
        BLANK_ROWS,
    ));
    html! {
        form.line-form method="post" action=(action) {
            input type="hidden" name="csrf" value=(viewer.csrf);
            @if let Some(e) = error {
                div.notice.notice-error role="alert" data-field=(e.field) {
                    strong { (field_label(&e.field)) ": " } (e.message)
                }
            }
            div.form-grid {
                div.field {
                    label for="l-number" { "Number" }
                    input type="text" id="l-number" name="number" value=(d.number) required
                        inputmode="tel" autocomplete="off" placeholder="+91 80 4718 0000"
                        aria-invalid=[invalid_attr(error, "number")] aria-describedby="l-number-hint";
                    span.hint id="l-number-hint" { "With country code, or a national number" }
                }
                div.field {
                    label for="l-name" { "Name" }
                    input type="text" id="l-name" name="friendlyName" value=(d.name) maxlength="100"
                        placeholder="e.g. Sales - Delhi" aria-invalid=[invalid_attr(error, "friendlyName")];
                }
                div.field {
                    label for="l-type" { "Type" }
                    input type="text" id="l-type" name="type" value=(d.kind) list="line-types"
                        aria-invalid=[invalid_attr(error, "type")];
                    datalist id="line-types" { @for t in TYPES { option value=(t) {} } }
                }
                div.field.checks {
                    span.label { "Options" }
                    label.check { input type="checkbox" name="isActive" value="1" checked[d.active]; "Active" }
                    label.check { input type="checkbox" name="isPrimary" value="1" checked[d.primary]; "Primary line" }
                }
            }
            fieldset.meta aria-invalid=[invalid_attr(error, "metadata")] {
                legend { "Metadata" }
                p.hint { "Key and value pairs such as department = sales. Empty rows are ignored; clear a key to remove it." }
                @for (i, (k, v)) in rows.iter().enumerate() {
                    div.meta-row {
                        label.sr-only for={ "m-key-" (i) } { "Key " (i + 1) }
                        input type="text" id={ "m-key-" (i) } name="metaKey" value=(k) placeholder="key" maxlength="64";
                        span.eq aria-hidden="true" { "=" }
                        label.sr-only for={ "m-value-" (i) } { "Value " (i + 1) }
                        input type="text" id={ "m-value-" (i) } name="metaValue" value=(v) placeholder="value";
                    }
                }
            }
            div.form-actions {
                button.btn.btn-primary type="submit" { (submit) }
            }
        }
    }
}

// ---------------------------------------------------------------- lines

pub(super) fn refused(e: ApiError) -> Result<Invalid, PageError> {
    match e {
        ApiError::Invalid(i) => Ok(i),
        ApiError::InvalidItems { details, message } => Ok(match details.into_iter().next() {
            Some(d) => Invalid::new(d.field, d.message),
            None => Invalid::new("", message),
        }),
        other => Err(other.into()),
    }
}

/// `POST /phone-numbers`: add (or update by number).
pub async fn add(State(state): State<AppState>, p: Posted) -> Response {
    respond(add_inner(&state, &p).await)
}

async fn add_inner(state: &AppState, p: &Posted) -> Result<Response, PageError> {
    let who = admin(&p.viewer)?;
    let draft = Draft::from_form(&p.form);
    let again = |e: Invalid| async move {
        let page = render(state, &p.viewer, None, &draft_of(p), Some(&e)).await?;
        Ok::<Response, PageError>((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    if draft.number.is_empty() {
        return again(Invalid::new("number", "is required")).await;
    }
    let body = match draft.body(None) {
        Ok(b) => b,
        Err(e) => return again(e).await,
    };
    match phone_numbers::upsert(State(state.clone()), who, ApiJson(api_body(body)?)).await {
        Ok((status, Json(row))) => Ok(to_page(
            &p.viewer,
            if status == StatusCode::CREATED {
                "added"
            } else {
                "updated"
            },
            Some(row.id),
        )),
        Err(e) => again(refused(e)?).await,
    }
}

fn draft_of(p: &Posted) -> Draft {
    Draft::from_form(&p.form)
}

async fn line_for_admin(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<PhoneNumberRow, PageError> {
    viewer.require_admin()?;
    let id = path_id("phone number", id)?;
    state.store.get_phone_number(id).await.map_err(|_| {
        PageError::not_found(format!("No phone number has id {id}."))
            .back("/phone-numbers", "Back to phone numbers")
    })
}

fn edit_page(
    viewer: &Viewer,
    l: &PhoneNumberRow,
    draft: &Draft,
    error: Option<&Invalid>,
) -> Markup {
    let body = html! {
        div.page-head {
            div.page-title {
                p.crumbs { a href="/phone-numbers" { "Phone numbers" } " / " }
                h1 { "Edit " (phone_numbers::label(l)) }
                @if l.friendly_name.as_deref().is_some_and(|n| !n.trim().is_empty()) {
                    p.muted.mono { (phone(&l.number)) }
                }
            }
        }
        section.card {
            (line_form(&format!("/phone-numbers/{}", l.id), draft, error, viewer, "Save changes"))
        }
        section.card.danger-zone {
            div.card-head { h2 { "Delete this number" } }
            p.muted { "Its call records stay and keep counting in “All phone numbers”." }
            a.btn.btn-danger href={ "/phone-numbers/" (l.id) "/delete" } { "Delete…" }
        }
    };
    shell("Edit phone number", viewer, Nav::Numbers, "", body)
}

/// `GET /phone-numbers/:id/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    respond(
        line_for_admin(&state, &viewer, &id)
            .await
            .map(|l| edit_page(&viewer, &l, &Draft::of(&l), None).into_response()),
    )
}

/// `POST /phone-numbers/:id`: saves the edit form.
pub async fn update(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> Response {
    respond(update_inner(&state, &p, &id).await)
}

async fn update_inner(state: &AppState, p: &Posted, id: &str) -> Result<Response, PageError> {
    let l = line_for_admin(state, &p.viewer, id).await?;
    let who = admin(&p.viewer)?;
    let draft = Draft::from_form(&p.form);
    let again = |e: Invalid| {
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            edit_page(&p.viewer, &l, &draft, Some(&e)),
        )
            .into_response())
    };
    if draft.number.is_empty() {
        return again(Invalid::new("number", "is required"));
    }
    let body = match draft.body(Some(&l.metadata)) {
        Ok(b) => b,
        Err(e) => return again(e),
    };
    match phone_numbers::update(
        State(state.clone()),
        who,
        Path(l.id.to_string()),
        ApiJson(api_body(body)?),
    )
    .await
    {
        Ok(Json(row)) => Ok(to_page(&p.viewer, "saved", Some(row.id))),
        Err(e) => again(refused(e)?),
    }
}

async fn change(
    state: &AppState,
    p: &Posted,
    id: &str,
    body: Value,
    done: &str,
) -> Result<Response, PageError> {
    let l = line_for_admin(state, &p.viewer, id).await?;
    let who = admin(&p.viewer)?;
    let _ = phone_numbers::update(
        State(state.clone()),
        who,
        Path(l.id.to_string()),
        ApiJson(api_body(body)?),
    )
    .await?;
    Ok(to_page(&p.viewer, done, Some(l.id)))
}

/// `POST /phone-numbers/:id/primary`.
pub async fn set_primary(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Response {
    respond(change(&state, &p, &id, json!({"isPrimary": true}), "primary").await)
}

/// `POST /phone-numbers/:id/active` with `active=1|0`.
pub async fn set_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted,
) -> Response {
    let on = matches!(p.form.get("active"), Some("1") | Some("true"));
    let done = if on { "activated" } else { "deactivated" };
    respond(change(&state, &p, &id, json!({"isActive": on}), done).await)
}

/// `GET /phone-numbers/:id/delete`: the confirmation step.
pub async fn delete_confirm(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    respond(delete_page(&state, &viewer, &id).await)
}

async fn delete_page(state: &AppState, viewer: &Viewer, id: &str) -> Result<Response, PageError> {
    let l = line_for_admin(state, viewer, id).await?;
    let calls = state
        .store
        .call_counts(&LineScope::Only(vec![l.number.clone()]), 0, i64::MAX)
        .await?
        .calls;
    let body = html! {
        section.card.confirm-card {
            h1 { "Delete " (phone_numbers::label(&l)) "?" }
            p.mono { (phone(&l.number)) }
            p {
                "The number leaves the registry, its groups and the dropdown. "
                @if calls > 0 {
                    "Its call records stay (" strong { (count(calls)) @if calls == 1 { " call" } @else { " calls" } } ") and keep counting in “All phone numbers”."
                } @else { "It has no call records." }
                @if l.is_primary { " It is the primary line: no line will be primary afterwards." }
            }
            form method="post" action={ "/phone-numbers/" (l.id) "/delete" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label.check { input type="checkbox" name="confirm" value="1" required id="confirm"; "Yes, delete this number" }
                div.form-actions {
                    a.btn.btn-ghost href="/phone-numbers" { "Cancel" }
                    button.btn.btn-danger type="submit" { "Delete number" }
                }
            }
        }
    };
    Ok(shell("Delete phone number", viewer, Nav::Numbers, "", body).into_response())
}

/// `POST /phone-numbers/:id/delete` with the `confirm` box ticked.
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> Response {
    respond(delete_inner(&state, &p, &id).await)
}

async fn delete_inner(state: &AppState, p: &Posted, id: &str) -> Result<Response, PageError> {
    let l = line_for_admin(state, &p.viewer, id).await?;
    let who = admin(&p.viewer)?;
    if !p.form.checked("confirm") {
        return Ok(Redirect::to(&format!("/phone-numbers/{}/delete", l.id)).into_response());
    }
    phone_numbers::delete(State(state.clone()), who, Path(l.id.to_string())).await?;
    Ok(to_page(&p.viewer, "deleted", None))
}

/// `POST /phone-numbers/discover`: registers the numbers seen in calls.
pub async fn discover(State(state): State<AppState>, p: Posted) -> Response {
    respond(
        async {
            let who = admin(&p.viewer)?;
            let Json(v) = phone_numbers::discover(State(state.clone()), who).await?;
            let pairs = vec![
                ("done", "discovered".to_string()),
                ("discovered", v.discovered.to_string()),
                ("total", v.total.to_string()),
            ];
            Ok(notice_redirect(&p.viewer, pairs))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_become_api_bodies() {
        let f = Form(vec![
            ("number".into(), " +91 98765 43210 ".into()),
            ("friendlyName".into(), "Sales".into()),
            ("type".into(), "".into()),
            ("isActive".into(), "1".into()),
            ("metaKey".into(), "floor".into()),
            ("metaValue".into(), "3".into()),
            ("metaKey".into(), "team".into()),
            ("metaValue".into(), "north".into()),
            ("metaKey".into(), "".into()),
            ("metaValue".into(), "".into()),
        ]);
        let d = Draft::from_form(&f);
        assert_eq!(d.meta.len(), 2);
        let before = json!({"floor": 3});
        let b = d.body(Some(&before)).unwrap();
        assert_eq!(b["metadata"], json!({"floor": 3, "team": "north"}));
        assert_eq!(b["type"], "exophone");
        assert_eq!(b["isActive"], true);
        assert_eq!(b["isPrimary"], false);
        let b = d.body(None).unwrap();
        assert_eq!(b["metadata"]["floor"], "3");

        let f = Form(vec![
            ("metaKey".into(), "".into()),
            ("metaValue".into(), "orphan".into()),
        ]);
        let e = Draft::from_form(&f).body(None).unwrap_err();
        assert_eq!(e.field, "metadata");
        assert!(e.message.contains("orphan"));
    }
}
