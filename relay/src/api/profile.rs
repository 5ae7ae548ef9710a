//! `/api/v1/profile`: the caller's own display name and avatar (nobody else's).

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use crate::app::App;
use crate::store::Profile;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

#[derive(Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// New display name; `null` clears it. Absent: unchanged.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// New avatar URL (http or https); `null` clears it. Absent: unchanged.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let path = warp::path("api").and(warp::path("v1")).and(warp::path!("profile"));
    let get = path.and(warp::get()).and(with(app)).and(user(app)).then(get);
    let patch = path.and(warp::patch()).and(with(app)).and(user(app)).and(json()).then(update);
    get.map(Reply::into_response).or(patch.map(Reply::into_response)).unify().boxed()
}

#[utoipa::path(get, path = "/api/v1/profile", tag = "profile", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody)))]
pub(super) async fn get(app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let p = app.db.profile(&who.id).await?.ok_or_else(|| ApiError::unauthorized("This account no longer exists."))?;
    Ok(warp::reply::json(&p).into_response())
}

#[utoipa::path(patch, path = "/api/v1/profile", tag = "profile", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody)))]
pub(super) async fn update(app: Arc<App>, who: AuthUser, body: ProfileUpdate) -> ApiResult<Response> {
    let name = body.display_name.as_ref().map(|n| n.as_deref().map(str::trim).filter(|n| !n.is_empty()));
    if name.flatten().is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::bad_request("invalid_name", "The display name is too long: at most 100 characters."));
    }
    let avatar = body.avatar_url.as_ref().map(|u| u.as_deref().map(str::trim).filter(|u| !u.is_empty()));
    if let Some(Some(u)) = avatar {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 2048 {
            return Err(ApiError::bad_request(
                "invalid_url",
                "The avatar URL must be an http(s) address of at most 2048 characters.",
            ));
        }
    }
    app.db.update_profile(&who.id, name, avatar).await?;
    get(app, who).await
}
