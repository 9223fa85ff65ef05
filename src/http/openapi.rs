//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the request and response types themselves, and served
//! at `GET /api/openapi.json`. A route added to the router without an
//! annotation here fails `tests/api/openapi.rs`.
//!
//! The error answers every route shares are defined once below, as
//! reusable responses over [`ErrorBody`].

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
    schema::ObjectBuilder,
};
use utoipa::{Modify, OpenApi, ToResponse};

use super::api::{
    analytics, audit, auth, calls, groups, health, import, ingest_keys, phone_numbers, users,
    webhooks,
};
use super::error::ErrorBody;
use super::metrics;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "linewise",
        description = "Per-line call analytics for businesses that run many phone lines. \
            JSON with camelCase keys; instants are RFC 3339 UTC. Every error is \
            `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}`."
    ),
    paths(
        document,
        health::health,
        auth::login,
        auth::me,
        auth::logout,
        users::list,
        users::create,
        users::get,
        users::update,
        users::delete,
        phone_numbers::list,
        phone_numbers::upsert,
        phone_numbers::dropdown,
        phone_numbers::discover,
        phone_numbers::primary,
        phone_numbers::bulk,
        phone_numbers::get,
        phone_numbers::update,
        phone_numbers::delete,
        groups::list,
        groups::create,
        groups::get,
        groups::update,
        groups::delete,
        groups::add_members,
        groups::remove_member,
        calls::create,
        calls::list,
        import::upload,
        analytics::dashboard,
        analytics::timeseries,
        analytics::breakdown,
        analytics::compare,
        analytics::export,
        ingest_keys::list,
        ingest_keys::create,
        ingest_keys::revoke,
        webhooks::exotel_passthru,
        webhooks::exotel_status,
        webhooks::twilio,
        audit::list,
        metrics::scrape,
    ),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            Invalid,
            RateLimited,
            Unavailable
        )
    ),
    modifiers(&SecuritySchemes, &OperationIds),
    security(("bearer" = [])),
    tags(
        (name = "meta", description = "Health, this document and the Prometheus figures"),
        (name = "auth", description = "Sign in; the signed-in user"),
        (name = "users", description = "Users and the lines they may see (super_admin)"),
        (name = "phone-numbers", description = "The business's lines"),
        (name = "groups", description = "Named sets of lines"),
        (name = "calls", description = "Call records in and out"),
        (name = "analytics", description = "Figures over a period, for the lines a filter and the user's access allow"),
        (name = "ingest-keys", description = "Keys for providers and scripts that send calls"),
        (name = "webhooks", description = "Live provider callbacks"),
        (name = "audit", description = "Who changed what"),
    )
)]
pub struct ApiDoc;

/// The security schemes: a Bearer token (a user's JWT, or an ingest key on
/// `POST /api/calls`) and an ingest key as `?token=` (the Exotel webhook).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from POST /api/auth/login; on POST /api/calls an ingest key (lwk_…) also",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("LINEWISE_METRICS_TOKEN, when it is set"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ingest_key",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "An ingest key (lwk_…) from POST /api/ingest-keys",
            ))),
        );
    }
}

/// Operation ids unique across the document: `users.update`, not `update`.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    *id = format!("{tag}.{id}");
                }
            }
        }
    }
}

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// `GET /api/openapi.json`: this document; no token needed.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object),
    )
)]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn seconds_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some(description))
        .build()
}

/// Answers that many routes share, as one entry of their `responses(…)`.
macro_rules! shared_responses {
    ($($(#[$doc:meta])* $name:ident => [$($status:literal => $response:ident),+]),+ $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                [$(($status, stringify!($response))),+]
                    .into_iter()
                    .map(|(status, name)| {
                        (status.to_string(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(name)))
                    })
                    .collect()
            }
        }
    )+};
}

shared_responses! {
    /// Every route behind a token: no or a bad token, the database down.
    SignedIn => ["401" => Unauthorized, "503" => Unavailable],
    /// Every route that reads a JSON body: malformed, too large, invalid.
    JsonBody => ["400" => BadRequest, "413" => PayloadTooLarge, "422" => Invalid],
}

/// Reusable error responses: `(status = 404, response = NotFound)`.
macro_rules! error_responses {
    ($($name:ident => $description:literal $(+ $header:literal : $header_doc:literal)?),+ $(,)?) => {$(
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                #[allow(unused_mut)]
                let mut r = error_response($description);
                $(r = r.header($header, seconds_header($header_doc));)?
                (stringify!($name), r.build().into())
            }
        }
    )+};
}

error_responses! {
    BadRequest => "Malformed: the body is not valid JSON (code `bad_request`)",
    Unauthorized => "No token, or a bad, expired or revoked one (code `unauthorized`); \
        `WWW-Authenticate: Bearer` is sent",
    Forbidden => "The role may not do this, or the line is not one of the user's (code `forbidden`)",
    NotFound => "No such object (code `not_found`)",
    Conflict => "Clashes with an existing object (code `conflict`)",
    PayloadTooLarge => "The body is over the route's size limit (code `payload_too_large`)",
    Invalid => "A value is invalid: `field` names it (code `invalid`), or `details` lists \
        every bad field of every bad item (code `invalid_items`)",
    RateLimited => "Too many failed sign-ins, or too many exports running for this user \
        (code `rate_limited`)"
        + "Retry-After": "Seconds until another attempt is allowed",
    Unavailable => "The database is unavailable (code `unavailable`), or the server is at a \
        bound it keeps to stay responsive: too many sign-ins waiting for a password check, \
        too many exports running (code `busy`)"
        + "Retry-After": "Seconds to wait before trying again",
}
