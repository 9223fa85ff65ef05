//! The session cookie, the signed-in user of a page, and forms checked
//! against CSRF.
//!
//! The cookie holds the same JWT the API issues (HttpOnly, SameSite=Strict,
//! and Secure unless the server is reached over plain http on this machine:
//! see [`secure`]). A form that changes something
//! carries `csrf` = SHA-256 hex of `"csrf:" + cookie value`: a page of
//! another site can neither read the cookie nor compute it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::layout::PageError;
use crate::http::AppState;
use crate::http::extract::AuthUser;

/// The session cookie's name.
pub const COOKIE: &str = "lw_session";
/// Largest form body a page accepts.
pub const FORM_LIMIT: usize = 64 * 1024;

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session.
pub fn csrf_token(session: &str) -> String {
    let d = Sha256::digest(format!("csrf:{session}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a host (`localhost`, `127.0.0.1`, `[::1]`, any port) is this
/// machine. `authority` is a URL's or a `Host` header's `host[:port]`.
fn is_loopback(authority: &str) -> bool {
    let a = authority.trim();
    let a = a.rsplit_once('@').map_or(a, |(_, host)| host);
    let host = match a.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(h, _)| h),
        // A bare IPv6 address has more than one ':'.
        None if a.matches(':').count() > 1 => a,
        None => a.split_once(':').map_or(a, |(h, _)| h),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1")
}

/// The first value of a request header, trimmed.
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether the cookies of an answer are `Secure`: always, unless the
/// server is reached over plain http on this machine (`localhost`,
/// `127.0.0.1` or `[::1]`, any port), where some browsers drop a Secure
/// cookie. The public URL decides when it is set; otherwise `request`, the
/// headers of the request being answered, does. Without either, Secure.
pub fn secure(state: &AppState, request: Option<&HeaderMap>) -> bool {
    match (state.public_url.as_deref(), request) {
        (Some(url), _) => secure_at(url),
        (None, Some(headers)) => secure_for(headers),
        (None, None) => true,
    }
}

/// Secure unless the public URL is `http://` on this machine.
fn secure_at(public_url: &str) -> bool {
    let url = public_url.trim().to_ascii_lowercase();
    match url.strip_prefix("http://") {
        Some(rest) => !is_loopback(rest.split(['/', '?', '#']).next().unwrap_or("")),
        None => true,
    }
}

/// Secure unless the request's host (`X-Forwarded-Host`, else `Host`) is
/// this machine and no proxy says it came over https.
fn secure_for(headers: &HeaderMap) -> bool {
    let https = first_value(headers, "x-forwarded-proto")
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || headers
            .get_all(header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .filter_map(|part| part.split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("proto")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
            });
    let host = first_value(headers, "x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    https || !host.is_some_and(is_loopback)
}

/// `Set-Cookie` for a cookie living `max_age` seconds (0 clears it), in
/// answer to a request with headers `request` (see [`secure`]).
pub fn set_cookie(
    state: &AppState,
    request: Option<&HeaderMap>,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let mut c = format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={}",
        max_age.max(0)
    );
    if secure(state, request) {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `next` target that stays on this site: a path, not `//host` or `/\host`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2000
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

/// The signed-in user of a page, with the CSRF token for its forms.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: AuthUser,
    pub csrf: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.user.role.can_manage_lines()
    }

    /// A tag vouching that `text` (the notice a redirect carries after a
    /// change) comes from this session: hex HMAC-SHA256 of it, keyed with
    /// the session's CSRF token, which another site can neither read nor
    /// compute. A link made elsewhere cannot carry it.
    pub fn vouch(&self, text: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.csrf.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"notice\n");
        mac.update(text.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `tag` is this session's [`vouch`](Viewer::vouch) for
    /// `text`, compared in constant time.
    pub fn vouches_for(&self, text: &str, tag: &str) -> bool {
        bool::from(self.vouch(text).as_bytes().ct_eq(tag.as_bytes()))
    }

    /// Refuses users who may not change lines and groups.
    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "You can't make this change",
                format!(
                    "Your role ({}) can view phone numbers and groups but not change them. Ask an admin.",
                    self.user.role
                ),
            )
            .back("/phone-numbers", "Back to phone numbers"))
        }
    }
}

/// The user a session token names, when it is valid, the user active and
/// the token not revoked (the same check as the API's bearer tokens).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Option<AuthUser>, PageError> {
    Ok(crate::http::extract::authenticate(state, token).await?.ok())
}

/// Sends a visitor without a valid session to the login page, remembering
/// the page they asked for, and drops a stale cookie.
fn to_login(state: &AppState, parts: &Parts, had_cookie: bool) -> Response {
    let next = if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    };
    let target = if next == "/" {
        "/login".to_string()
    } else {
        format!(
            "/login?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    };
    let mut res = Redirect::to(&target).into_response();
    if had_cookie {
        res.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(state, Some(&parts.headers), COOKIE, "", "/", 0),
        );
    }
    res
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(to_login(state, parts, false));
        };
        match authenticate(state, &token).await {
            Ok(Some(user)) => Ok(Viewer {
                user,
                csrf: csrf_token(&token),
            }),
            Ok(None) => Err(to_login(state, parts, true)),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The decoded fields of a form, in order.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value of `key`, `""` when absent.
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or("").trim().to_string()
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox named `key` was ticked.
    pub fn checked(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty())
    }
}

/// A form posted by a signed-in user, its CSRF token checked.
pub struct Posted {
    pub viewer: Viewer,
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "That form is too large",
                format!("A form may carry at most {} KiB.", FORM_LIMIT / 1024),
            )
            .into_response()
        })?;
        let form = Form::parse(&bytes);
        let given = form.get("csrf").unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(viewer.csrf.as_bytes())) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form did not carry a valid security token, so nothing was changed. Reload the page and try again.",
            )
            .into_response());
        }
        Ok(Posted { viewer, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/calls?period=7d")), "/calls?period=7d");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/a\r\nSet-Cookie: x")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_are_secure_unless_on_this_machine_over_http() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:3000",
            "[::1]:80",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "ops.example.com",
            "localhost.example.com",
            "127.0.0.2",
            "[::2]",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
        assert!(secure_at("https://ops.example.com"));
        assert!(secure_at("https://localhost:8443/"));
        assert!(secure_at("http://ops.example.com"));
        assert!(!secure_at("http://localhost:3000/"));
        assert!(!secure_at("HTTP://127.0.0.1"));
        assert!(!secure_at("http://[::1]:8080/x"));

        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(!secure_for(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(!secure_for(&headers(&[("host", "localhost")])));
        assert!(secure_for(&headers(&[("host", "ops.example.com")])));
        assert!(secure_for(&headers(&[])));
        assert!(secure_for(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("x-forwarded-proto", "https"),
        ])));
        assert!(secure_for(&headers(&[
            ("host", "localhost"),
            ("forwarded", "for=1.2.3.4;proto=\"https\""),
        ])));
        assert!(secure_for(&headers(&[
            ("host", "localhost:3000"),
            ("x-forwarded-host", "ops.example.com"),
        ])));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lw_session=abc.def; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc.def"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(csrf_token("x").len(), 64);
        assert_ne!(csrf_token("x"), csrf_token("y"));
    }
}
