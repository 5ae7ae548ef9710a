//! `/api/v1/projects`: create, list, read, rename, delete. Everyone in a project sees it; only
//! its owner changes it.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use super::{NameBody, name, owner_of};
use crate::app::App;
use crate::store::Project;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let base = warp::path("api").and(warp::path("v1")).and(warp::path("projects"));
    let list = base.and(warp::path::end()).and(warp::get()).and(with(app)).and(user(app)).then(list);
    let create = base.and(warp::path::end()).and(warp::post()).and(with(app)).and(user(app)).and(json()).then(create);
    let one = base.and(warp::path::param::<String>()).and(warp::path::end());
    let get = one.and(warp::get()).and(with(app)).and(user(app)).then(get);
    let patch = one.and(warp::patch()).and(with(app)).and(user(app)).and(json()).then(rename);
    let delete = one.and(warp::delete()).and(with(app)).and(user(app)).then(delete);
    any_of!(list, create, get, patch, delete)
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, description = "Projects the caller owns or belongs to", body = [Project]), (status = 401, body = ErrorBody)))]
pub(super) async fn list(app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    Ok(warp::reply::json(&app.db.projects_of(&who.id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Project), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, description = "The caller owns as many projects as this relay allows", body = ErrorBody)))]
pub(super) async fn create(app: Arc<App>, who: AuthUser, body: NameBody) -> ApiResult<Response> {
    let n = name(&body.name, "project")?;
    let owned = app.db.count_owned_projects(&who.id).await?;
    let max = app.config.limits.max_projects_per_user;
    super::room_for(owned, max, "too_many_projects", "Your projects number", "delete one you no longer use first.")?;
    let p = app.db.create_project(&n, &who.id).await?;
    app.events.membership(&who.id, &p.id);
    Ok(warp::reply::with_status(warp::reply::json(&p), StatusCode::CREATED).into_response())
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
pub(super) async fn get(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let p = app.db.project_for(&id, &who.id).await?.ok_or_else(|| ApiError::not_found("project"))?;
    Ok(warp::reply::json(&p).into_response())
}

#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])), request_body = NameBody,
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = Project), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn rename(id: String, app: Arc<App>, who: AuthUser, body: NameBody) -> ApiResult<Response> {
    owner_of(&app, &id, &who, "rename the project").await?;
    app.db.rename_project(&id, &name(&body.name, "project")?).await?;
    app.events.project("project", &id, serde_json::json!({"action": "updated", "project_id": id}));
    get(id, app, who).await
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 204, description = "Deleted with its devices, sessions and invitations"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    owner_of(&app, &id, &who, "delete the project").await?;
    let devices = app.db.devices_of_project(&id).await?;
    let members = app.db.members(&id).await?;
    for d in &devices {
        app.hub.evict_device(&d.id).await;
    }
    app.db.delete_project(&id).await?;
    app.events.project("project", &id, serde_json::json!({"action": "deleted", "project_id": id}));
    for m in members {
        app.events.membership(&m.user_id, &id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
