//! `/api/v1/projects/{id}/devices` and `/api/v1/devices/{id}`: add a device (with its pairing
//! code), list, rename, regenerate the code, delete. Members see devices; owners change them,
//! and only owners see pairing codes.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use super::{NameBody, member_of, name, owner_of};
use crate::app::App;
use crate::auth::secrets;
use crate::store::{Device, Role, now_unix};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let v1 = warp::path("api").and(warp::path("v1"));
    let of_project = v1
        .and(warp::path("projects"))
        .and(warp::path::param::<String>())
        .and(warp::path("devices"))
        .and(warp::path::end());
    let list = of_project.and(warp::get()).and(with(app)).and(user(app)).then(list);
    let create = of_project.and(warp::post()).and(with(app)).and(user(app)).and(json()).then(create);
    let one = v1.and(warp::path("devices")).and(warp::path::param::<String>());
    let get = one.and(warp::path::end()).and(warp::get()).and(with(app)).and(user(app)).then(get);
    let patch = one.and(warp::path::end()).and(warp::patch()).and(with(app)).and(user(app)).and(json()).then(rename);
    let delete = one.and(warp::path::end()).and(warp::delete()).and(with(app)).and(user(app)).then(delete);
    let code = one.and(warp::path!("pairing-code")).and(warp::post()).and(with(app)).and(user(app)).then(regenerate);
    any_of!(list, create, get, patch, delete, code)
}

/// `{"name": "…", "kind": "…"}`: a new device.
#[derive(Deserialize, ToSchema)]
pub struct NewDevice {
    /// 1–100 characters, not only spaces, no control characters; trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: String,
    /// What it is until it connects and says so itself: `connector` (the default) or
    /// `openclaw`, an AI node (the AI-nodes page lists it, the project page offers no terminal).
    #[schema(value_type = Option<DeviceKind>)]
    pub kind: Option<String>,
}

/// The kinds a new device may be given.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the kind travels as a string
pub enum DeviceKind {
    #[schema(rename = "connector")]
    Connector,
    #[schema(rename = "openclaw")]
    Openclaw,
}

/// The device if the caller is in its project (404 otherwise), and their role.
async fn device_of(app: &App, id: &str, who: &AuthUser) -> ApiResult<(Device, Role)> {
    app.db.device_for(id, &who.id).await?.ok_or_else(|| ApiError::not_found("device"))
}

async fn owned_device(app: &App, id: &str, who: &AuthUser, action: &str) -> ApiResult<Device> {
    match device_of(app, id, who).await? {
        (d, Role::Owner) => Ok(d),
        _ => Err(ApiError::owner_only(action)),
    }
}

/// A fresh pairing code (valid for `--pairing-code-ttl`); retried on the (rare) collision
/// with another device's code.
async fn with_new_code<T, F, Fut>(app: &App, mut attempt: F) -> ApiResult<T>
where
    F: FnMut(String, i64) -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let ttl = app.config.limits.pairing_code_ttl as i64;
    for _ in 0..5 {
        match attempt(secrets::pairing_code(), now_unix() + ttl).await {
            Err(e) if crate::store::is_unique_violation(&e) => continue,
            other => return Ok(other?),
        }
    }
    Err(ApiError::conflict("busy", "Could not generate a unique pairing code; try again."))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/devices", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = [Device]), (status = 404, body = ErrorBody)))]
pub(super) async fn list(project_id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let role = member_of(&app, &project_id, &who).await?;
    let devices: Vec<Device> =
        app.db.devices_of_project(&project_id).await?.into_iter().map(|d| d.for_role(role)).collect();
    Ok(warp::reply::json(&devices).into_response())
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/devices", tag = "devices", security(("bearer" = [])), request_body = NewDevice,
    params(("id" = String, Path, description = "Project id")),
    responses((status = 201, description = "The device, with its one-time `pairing_code`", body = Device),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, description = "The project has as many devices as this relay allows", body = ErrorBody)))]
pub(super) async fn create(project_id: String, app: Arc<App>, who: AuthUser, body: NewDevice) -> ApiResult<Response> {
    owner_of(&app, &project_id, &who, "add devices").await?;
    let n = name(&body.name, "device")?;
    let kind = match body.kind.as_deref() {
        None | Some("connector") => "connector",
        Some("openclaw") => "openclaw",
        Some(_) => {
            return Err(ApiError::bad_request("invalid_kind", "kind must be connector or openclaw (an AI node)."));
        }
    };
    let devices = app.db.count_devices(&project_id).await?;
    let max = app.config.limits.max_devices_per_project;
    super::room_for(
        devices,
        max,
        "too_many_devices",
        "This project's devices number",
        "delete one you no longer use first.",
    )?;
    let device = with_new_code(&app, |code, exp| {
        let (app, project_id, n) = (app.clone(), project_id.clone(), n.clone());
        async move { app.db.create_device(&project_id, &n, kind, &code, exp).await }
    })
    .await?;
    app.events.project(
        "device",
        &project_id,
        serde_json::json!({"action": "created", "device_id": device.id, "project_id": project_id}),
    );
    Ok(warp::reply::with_status(warp::reply::json(&device), StatusCode::CREATED).into_response())
}

#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)))]
pub(super) async fn get(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    Ok(warp::reply::json(&device_of(&app, &id, &who).await?.0).into_response())
}

#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", security(("bearer" = [])), request_body = NameBody,
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn rename(id: String, app: Arc<App>, who: AuthUser, body: NameBody) -> ApiResult<Response> {
    let d = owned_device(&app, &id, &who, "rename devices").await?;
    app.db.rename_device(&id, &name(&body.name, "device")?).await?;
    app.events.project(
        "device",
        &d.project_id,
        serde_json::json!({"action": "updated", "device_id": id, "project_id": d.project_id}),
    );
    get(id, app, who).await
}

#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 204, description = "Deleted; its connector is disconnected and must be paired again"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let d = owned_device(&app, &id, &who, "delete devices").await?;
    app.hub.evict_device(&id).await;
    app.db.delete_device(&id).await?;
    app.events.project(
        "device",
        &d.project_id,
        serde_json::json!({"action": "deleted", "device_id": id, "project_id": d.project_id}),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v1/devices/{id}/pairing-code", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, description = "The device with its new `pairing_code`; the old code no longer works", body = Device),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn regenerate(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    owned_device(&app, &id, &who, "regenerate pairing codes").await?;
    with_new_code(&app, |code, exp| {
        let (app, id) = (app.clone(), id.clone());
        async move { app.db.set_pairing_code(&id, &code, exp).await }
    })
    .await?;
    get(id, app, who).await
}
