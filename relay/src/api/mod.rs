//! The HTTP API: `/auth/v1` (accounts), `/functions/v1` (the reference's edge functions),
//! `/api/v1` (resources, realtime events, the OpenAPI document), `/healthz` and `/readyz` (metrics.rs).
//!
//! Every permission is checked here, on the server, with the reference's rules: a project
//! and its devices, team and sessions are visible to its members and changed by its owner;
//! for anyone else they do not exist (404). Profiles and skill configs are their user's
//! alone. Errors are JSON `{error, message}` (see [`error`]).

/// One filter out of several routes, each answering with any `Reply`, boxed to keep compile
/// times sane.
macro_rules! any_of {
    ($first:expr $(, $rest:expr)* $(,)?) => {
        warp::Filter::boxed(
            warp::Filter::map($first, warp::Reply::into_response)
                $(.or(warp::Filter::map($rest, warp::Reply::into_response)).unify())*
        )
    };
}

pub mod auth;
pub mod devices;
pub mod downloads;
pub mod error;
pub mod events;
pub mod filters;
pub mod functions;
pub mod history;
pub mod nodes;
pub mod openapi;
pub mod profile;
pub mod projects;
pub mod skills;
pub mod team;

use crate::app::App;
use crate::store::Role;
use error::{ApiError, ApiResult};
use filters::AuthUser;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// `{"name": "…"}`: creating or renaming a project or device.
#[derive(Deserialize, ToSchema)]
pub struct NameBody {
    /// 1–100 characters, not only spaces, no control characters; trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: String,
}

/// The pattern of a name: something besides spaces, no control characters.
pub const NAME_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$";

/// Every API route, each group boxed to keep compile times sane.
pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let health = crate::metrics::health_routes(app);
    let openapi = warp::path!("api" / "v1" / "openapi.json").and(warp::get()).map(openapi::document);
    any_of!(
        health,
        openapi,
        auth::routes(app),
        functions::routes(app),
        downloads::routes(app),
        projects::routes(app),
        devices::routes(app),
        team::routes(app),
        history::routes(app),
        profile::routes(app),
        skills::routes(app),
        events::routes(app),
        nodes::routes(app)
    )
}

/// Turns rejections into JSON errors. `None` means "not an API path": the caller serves the
/// web app instead.
pub fn recover(r: &Rejection) -> Option<Response> {
    if let Some(e) = r.find::<ApiError>() {
        return Some(e.clone().into_response());
    }
    let e = if r.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::bad_request("invalid_query", "The query string has invalid parameters.")
    } else if r.find::<warp::reject::MissingHeader>().is_some() || r.find::<warp::reject::InvalidHeader>().is_some() {
        ApiError::bad_request("invalid_header", "A required header is missing or invalid.")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This path does not accept this HTTP method; see /api/v1/openapi.json.",
        )
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send JSON.")
    } else {
        return None;
    };
    Some(e.into_response())
}

/// The JSON 404 for unknown API paths.
pub fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint: see /api/v1/openapi.json for the API.")
        .into_response()
}

pub async fn recover_api(r: Rejection) -> Result<Response, Rejection> {
    recover(&r).ok_or(r)
}

/// The caller's role in the project; 404 if they are not in it.
pub async fn member_of(app: &App, project_id: &str, who: &AuthUser) -> ApiResult<Role> {
    app.db.role(project_id, &who.id).await?.ok_or_else(|| ApiError::not_found("project"))
}

/// Succeeds only for the project's owner: 404 for strangers, 403 for members.
pub async fn owner_of(app: &App, project_id: &str, who: &AuthUser, action: &str) -> ApiResult<()> {
    match member_of(app, project_id, who).await? {
        Role::Owner => Ok(()),
        Role::Member => Err(ApiError::owner_only(action)),
    }
}

/// Refuses one more of something past its `--max-…` limit: 429 `code`, saying `what` there
/// are (and that this relay allows no more) and `then` what to do.
pub fn room_for(count: i64, max: u32, code: &'static str, what: &str, then: &str) -> ApiResult<()> {
    if count < i64::from(max) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        code,
        format!("{what} {count}, the most this relay allows: {then}"),
    ))
}

/// A trimmed name of 1–100 characters.
pub fn name(raw: &str, what: &str) -> ApiResult<String> {
    let n = raw.trim();
    if n.is_empty() {
        return Err(ApiError::bad_request("invalid_name", format!("Give the {what} a name.")));
    }
    if raw.chars().count() > 100 || raw.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("A {what} name is at most 100 characters, without control characters."),
        ));
    }
    Ok(n.to_string())
}

/// At most `max` characters of `s`.
pub fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Deserializes a field that may be absent (`None`), null (`Some(None)`) or set.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
