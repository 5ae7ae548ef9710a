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
    /// New display name (at most 100 characters); `null` or empty clears it. Absent: unchanged.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub display_name: Option<Option<String>>,
    /// New avatar URL (http or https); `null` or empty clears it. Absent: unchanged.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>, max_length = 2048, pattern = r"^(https?://\S+)?$")]
    pub avatar_url: Option<Option<String>>,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let path = warp::path("api").and(warp::path("v1")).and(warp::path!("profile"));
    let get = path.and(warp::get()).and(with(app)).and(user(app)).then(get);
    let patch = path.and(warp::patch()).and(with(app)).and(user(app)).and(json()).then(update);
    any_of!(get, patch)
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
    body.apply(&app, &who.id).await?;
    get(app, who).await
}

impl ProfileUpdate {
    /// Checks and saves the fields given (also used by sign-up and `PUT /auth/v1/user`'s `data`).
    pub(super) async fn apply(&self, app: &App, user_id: &str) -> ApiResult<()> {
        if self
            .display_name
            .as_ref()
            .and_then(Option::as_deref)
            .is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(
                "invalid_name",
                "A display name is at most 100 characters, without control characters.",
            ));
        }
        let name = self.display_name.as_ref().map(|n| n.as_deref().map(str::trim).filter(|n| !n.is_empty()));
        let avatar = self.avatar_url.as_ref().map(|u| u.as_deref().filter(|u| !u.is_empty()));
        if let Some(Some(u)) = avatar {
            let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")).unwrap_or("");
            if rest.is_empty() || u.len() > 2048 || u.contains(char::is_whitespace) {
                return Err(ApiError::bad_request(
                    "invalid_url",
                    "The avatar URL must be an http(s) address of at most 2048 characters.",
                ));
            }
        }
        Ok(app.db.update_profile(user_id, name, avatar).await?)
    }
}
