//! The page shell (head, top bar, navigation), notices and error pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use super::session::Viewer;
use crate::analytics::views::ViewError;
use crate::domain::Invalid;
use crate::http::error::ApiError;
use crate::store::StoreError;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Compare,
    Calls,
    Numbers,
}

const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234f46e5'/%3E%3Cpath d='M9 21v-4M14 21V11M19 21v-7M24 21V8' stroke='white' stroke-width='3' stroke-linecap='round'/%3E%3C/svg%3E";

fn logo() -> Markup {
    html! {
        svg.logo viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" {
            rect width="32" height="32" rx="8" fill="currentColor" {}
            path d="M9 21v-4M14 21V11M19 21v-7M24 21V8" stroke="white" stroke-width="3" stroke-linecap="round" {}
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light";
            title { (title) " · linewise" }
            link rel="icon" href=(FAVICON);
            link rel="stylesheet" href=(assets::css_url());
            script src=(assets::js_url()) defer {}
        }
    }
}

/// A page for a signed-in user. `carry` is the query string (without `?`)
/// the Dashboard and Calls links keep, so the selection follows the user.
pub fn shell(title: &str, viewer: &Viewer, nav: Nav, carry: &str, body: Markup) -> Markup {
    let with = |path: &str| {
        if carry.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{carry}")
        }
    };
    let links = [
        (Nav::Dashboard, "Dashboard", with("/")),
        (Nav::Compare, "Compare", "/compare".to_string()),
        (Nav::Calls, "Calls", with("/calls")),
        (Nav::Numbers, "Phone numbers", "/phone-numbers".to_string()),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    div.topbar-inner {
                        a.brand href="/" { (logo()) span { "linewise" } }
                        nav.mainnav aria-label="Main" {
                            @for (n, label, href) in &links {
                                @if *n == nav {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        div.account {
                            span.who title=(viewer.user.email) {
                                span.email { (viewer.user.email) }
                                span.role { (viewer.user.role.as_str().replace('_', " ")) }
                            }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button.btn.btn-ghost.btn-sm type="submit" id="sign-out" { "Sign out" }
                            }
                        }
                    }
                }
                main.container id="main" { (body) }
                footer.footer { "linewise · per-line call analytics" }
            }
        }
    }
}

/// A page without the signed-in chrome: login and errors.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main.bare-main id="main" {
                    a.brand.brand-lg href="/" { (logo()) span { "linewise" } }
                    (body)
                }
            }
        }
    }
}

/// A success or error message at the top of a page.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! {
        div class={ "notice notice-" (kind) } role=(if kind == "error" { "alert" } else { "status" }) {
            (text)
        }
    }
}

/// An empty state.
pub fn empty(title: &str, detail: &str) -> Markup {
    html! {
        div.empty {
            svg viewBox="0 0 48 48" width="44" height="44" aria-hidden="true" {
                rect x="6" y="10" width="36" height="28" rx="6" fill="none" stroke="currentColor" stroke-width="2.5" {}
                path d="M14 30v-4M21 30v-9M28 30v-6M35 30v-12" stroke="currentColor" stroke-width="2.5" stroke-linecap="round" {}
            }
            p.empty-title { (title) }
            @if !detail.is_empty() { p.muted { (detail) } }
        }
    }
}

/// What a form field is called on the pages, for error messages.
pub fn field_label(field: &str) -> &str {
    match field {
        "number" => "Number",
        "friendlyName" => "Name",
        "type" => "Type",
        "metadata" => "Metadata",
        "capabilities" => "Capabilities",
        "phoneNumber" | "phoneNumbers" => "Phone number",
        "groupId" => "Group",
        "from" => "From",
        "to" => "To",
        "tz" => "Timezone",
        "period" => "Period",
        "name" => "Group name",
        "description" => "Description",
        "email" => "Email",
        "password" => "Password",
        "cursor" => "Page",
        other => other,
    }
}

/// A message as a sentence: capitalised, with a full stop.
fn sentence(s: String) -> String {
    let mut chars = s.chars();
    let mut out = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => return s,
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A page that explains what went wrong, with the right status.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    pub back: (String, String),
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        PageError {
            status,
            title: title.into(),
            detail: sentence(detail.into()),
            back: ("/".into(), "Back to the dashboard".into()),
        }
    }

    pub fn back(mut self, href: impl Into<String>, label: impl Into<String>) -> Self {
        self.back = (href.into(), label.into());
        self
    }

    pub fn invalid(i: &Invalid) -> Self {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Please check “{}”", field_label(&i.field)),
            format!("{}: {}", field_label(&i.field), i.message),
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        PageError::new(StatusCode::NOT_FOUND, "Not found", what)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let status = e.status_code();
        match e {
            ApiError::Invalid(i) => PageError::invalid(&i),
            ApiError::InvalidItems { details, message } => PageError::new(
                status,
                "Please check the form",
                if details.is_empty() {
                    message
                } else {
                    details
                        .iter()
                        .map(|d| format!("{}: {}", field_label(&d.field), d.message))
                        .collect::<Vec<_>>()
                        .join(" · ")
                },
            ),
            ApiError::Forbidden(m) => PageError::new(status, "You don't have access to this", m),
            ApiError::NotFound(m) => PageError::not_found(m),
            ApiError::Conflict(m) => PageError::new(status, "That clashes with existing data", m),
            ApiError::RateLimited { retry_after } => PageError::new(
                status,
                "Too many attempts",
                format!("Try again in {} minute(s).", retry_after.div_ceil(60)),
            ),
            ApiError::Unavailable => PageError::new(
                status,
                "The database is unavailable",
                "Please try again in a few seconds.",
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                PageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The problem has been logged. Please try again.",
                )
            }
            other => PageError::new(status, "That didn't work", other.to_string()),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<Invalid> for PageError {
    fn from(i: Invalid) -> Self {
        PageError::invalid(&i)
    }
}

impl From<ViewError> for PageError {
    fn from(e: ViewError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = bare(
            &self.title,
            html! {
                section.card.error-card {
                    p.error-code { (self.status.as_u16()) }
                    h1 { (self.title) }
                    p.error-detail { (self.detail) }
                    a.btn.btn-primary href=(self.back.0) { (self.back.1) }
                }
            },
        );
        (self.status, body).into_response()
    }
}
