//! `/api/v1/sessions`: session history (start, end, device, user), filtered by project,
//! device and status. Visible: sessions on devices of the caller's projects.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, user, with};
use crate::app::App;
use crate::store::{SessionFilter, SessionRow};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only sessions of this project.
    pub project_id: Option<String>,
    /// Only sessions of this device.
    pub device_id: Option<String>,
    /// `active` or `ended`.
    pub status: Option<Status>,
    /// At most this many rows (default 100, at most 500), newest first.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Ended,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Ended => "ended",
        }
    }
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let v1 = warp::path("api").and(warp::path("v1"));
    let all = v1
        .and(warp::path!("sessions"))
        .and(warp::get())
        .and(with(app))
        .and(user(app))
        .and(warp::query::<HistoryQuery>())
        .then(history);
    let of_project = v1
        .and(warp::path!("projects" / String / "sessions"))
        .and(warp::get())
        .and(with(app))
        .and(user(app))
        .and(warp::query::<HistoryQuery>())
        .then(project_history);
    any_of!(all, of_project)
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, body = [SessionRow]), (status = 400, body = ErrorBody)))]
pub(super) async fn history(app: Arc<App>, who: AuthUser, q: HistoryQuery) -> ApiResult<Response> {
    let f = SessionFilter {
        project_id: q.project_id.as_deref(),
        device_id: q.device_id.as_deref(),
        status: q.status.map(Status::as_str),
        limit: match q.limit {
            None => 100,
            Some(n @ 1..=500) => n,
            Some(_) => return Err(ApiError::bad_request("invalid_query", "limit must be between 1 and 500.")),
        },
    };
    Ok(warp::reply::json(&app.db.session_history(&who.id, &f).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/sessions", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id"), HistoryQuery),
    responses((status = 200, body = [SessionRow]), (status = 404, body = ErrorBody)))]
pub(super) async fn project_history(
    project_id: String,
    app: Arc<App>,
    who: AuthUser,
    mut q: HistoryQuery,
) -> ApiResult<Response> {
    super::member_of(&app, &project_id, &who).await?;
    q.project_id = Some(project_id);
    history(app, who, q).await
}
