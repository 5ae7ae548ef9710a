//! `/functions/v1/*`: the reference's edge functions, same paths and bodies: pairing,
//! session start/end, connected nodes, invitations. `apikey` headers are accepted and ignored.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, client_ip, host, json, user, with};
use crate::app::App;
use crate::auth::secrets;
use crate::hub::NodeInfo;
use crate::store::Role;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

#[derive(Deserialize, ToSchema)]
pub struct PairRequest {
    pub pairing_code: String,
    /// Replaces the device's name when given.
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PairResponse {
    pub device_id: String,
    /// The device's secret. Shown once; the relay keeps only its hash.
    pub token: String,
    /// Where the connector dials: `wss://relay.example.com` (it appends `/connect`).
    pub relay_url: String,
}

#[derive(Deserialize, ToSchema)]
pub struct DeviceRef {
    pub device_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    pub session_id: String,
}

#[derive(Deserialize, ToSchema)]
pub struct SessionRef {
    pub session_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Done {
    pub ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Nodes {
    pub nodes: Vec<NodeInfo>,
}

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    pub project_id: String,
    pub email: super::auth::Email,
}

#[derive(Serialize, ToSchema)]
pub struct InviteResponse {
    /// `added` (the email has an account and joined now) or `invited` (joins on sign-up).
    pub status: &'static str,
    pub message: String,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let base = warp::path("functions").and(warp::path("v1"));
    let pair = base
        .and(warp::path!("pair-device"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip())
        .and(host())
        .and(json())
        .then(pair_device);
    let start = base
        .and(warp::path!("start-session"))
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(json())
        .then(start_session);
    let end = base
        .and(warp::path!("end-session"))
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(json())
        .then(end_session);
    let nodes = base.and(warp::path!("relay-nodes")).and(warp::get()).and(with(app)).and(user(app)).then(relay_nodes);
    let invite = base
        .and(warp::path!("invite-member"))
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(host())
        .and(json())
        .then(invite_member);
    any_of!(pair, start, end, nodes, invite)
}

#[utoipa::path(post, path = "/functions/v1/pair-device", tag = "functions", request_body = PairRequest,
    responses((status = 200, body = PairResponse),
              (status = 401, description = "The code is wrong, used or expired", body = ErrorBody),
              (status = 429, description = "Too many attempts from this address", body = ErrorBody)))]
pub(super) async fn pair_device(
    app: Arc<App>,
    ip: IpAddr,
    host: Option<String>,
    body: PairRequest,
) -> ApiResult<Response> {
    if !app.pair_limit.check(ip) {
        return Err(ApiError::too_many("Too many pairing attempts from your address: wait a minute, then try again."));
    }
    let code = secrets::normalise_code(&body.pairing_code);
    if code.len() != secrets::CODE_LEN {
        return Err(ApiError::bad_request(
            "invalid_pairing_code",
            format!("A pairing code has {} characters; copy it again from the dashboard.", secrets::CODE_LEN),
        ));
    }
    let name = body.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(|n| super::clip(n, 100));
    let token = secrets::token();
    let device = app.db.pair(&code, name.as_deref(), &secrets::hash(&token)).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_pairing_code",
            "This pairing code is not valid: it was mistyped, already used, or is older than 24 hours. Generate a new code in the dashboard (device menu → Regenerate code).",
        )
    })?;
    // A connector still running with the old token must stop, not retry forever.
    app.hub.evict_device(&device.id).await;
    tracing::info!(device = %device.id, "device paired");
    app.events.project(
        "device",
        &device.project_id,
        serde_json::json!({"action": "paired", "device_id": device.id, "project_id": device.project_id}),
    );
    let body = PairResponse { device_id: device.id, token, relay_url: app.relay_ws_url(host.as_deref()) };
    Ok(warp::reply::json(&body).into_response())
}

#[utoipa::path(post, path = "/functions/v1/start-session", tag = "functions", security(("bearer" = [])), request_body = DeviceRef,
    responses((status = 200, body = SessionCreated), (status = 404, body = ErrorBody),
              (status = 409, description = "The device is offline", body = ErrorBody)))]
pub(super) async fn start_session(app: Arc<App>, who: AuthUser, body: DeviceRef) -> ApiResult<Response> {
    let (device, _) =
        app.db.device_for(&body.device_id, &who.id).await?.ok_or_else(|| ApiError::not_found("device"))?;
    if !app.hub.is_online(&device.id) {
        return Err(ApiError::conflict(
            "device_offline",
            format!(
                "Failed to create session: \"{}\" is offline. Start relay-connector on it (or check its service), then try again.",
                device.name
            ),
        ));
    }
    let session_id = app.db.create_session(&device.id, &who.id).await?;
    tracing::info!(session = %session_id, device = %device.id, user = %who.id, "session created");
    Ok(warp::reply::json(&SessionCreated { session_id }).into_response())
}

#[utoipa::path(post, path = "/functions/v1/end-session", tag = "functions", security(("bearer" = [])), request_body = SessionRef,
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
pub(super) async fn end_session(app: Arc<App>, who: AuthUser, body: SessionRef) -> ApiResult<Response> {
    let s = app.db.session(&body.session_id).await?.ok_or_else(|| ApiError::not_found("session"))?;
    // Anyone who could attach to the session may end it: its user and the project's members.
    if app.db.role(&s.project_id, &who.id).await?.is_none() {
        return Err(ApiError::not_found("session"));
    }
    app.hub.end_session(&s.id, privaclaw_proto::kind::reason::USER_EXIT, true).await;
    Ok(warp::reply::json(&Done { ok: true }).into_response())
}

#[utoipa::path(get, path = "/functions/v1/relay-nodes", tag = "functions", security(("bearer" = [])),
    responses((status = 200, description = "Connectors and AI nodes connected now, in the caller's projects", body = Nodes)))]
pub(super) async fn relay_nodes(app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let projects = app.db.project_ids_of(&who.id).await?;
    Ok(warp::reply::json(&Nodes { nodes: app.hub.nodes(&projects) }).into_response())
}

#[utoipa::path(post, path = "/functions/v1/invite-member", tag = "functions", security(("bearer" = [])), request_body = InviteRequest,
    responses((status = 200, body = InviteResponse), (status = 400, body = ErrorBody),
              (status = 403, description = "Only owners invite", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn invite_member(
    app: Arc<App>,
    who: AuthUser,
    host: Option<String>,
    body: InviteRequest,
) -> ApiResult<Response> {
    let project = app.db.project_for(&body.project_id, &who.id).await?.ok_or_else(|| ApiError::not_found("project"))?;
    if app.db.role(&project.id, &who.id).await? != Some(Role::Owner) {
        return Err(ApiError::owner_only("invite members"));
    }
    let email = super::auth::normalise_email(&body.email.0)?;
    let link = format!("{}/auth", app.public_url(host.as_deref()));
    let (status, message) = match app.db.user_by_email(&email).await? {
        Some(u) if u.id == who.id => {
            return Err(ApiError::bad_request("invalid_email", "You already own this project."));
        }
        Some(u) => {
            let added = app.db.add_member(&project.id, &u.id, Some(&who.id)).await?;
            app.events.membership(&u.id, &project.id);
            app.events.project(
                "member",
                &project.id,
                serde_json::json!({"action": "added", "project_id": project.id, "user_id": u.id}),
            );
            app.mailer
                .send(
                    &email,
                    "You were added to a PrivaClaw project",
                    format!("{} added you to \"{}\". Sign in: {link}\n", who.email, project.name),
                )
                .await;
            (
                "added",
                if added {
                    "Member added to project".to_string()
                } else {
                    "Already a member of this project".to_string()
                },
            )
        }
        None => {
            app.db.invite(&project.id, &email, &who.id).await?;
            app.events.project(
                "invitation",
                &project.id,
                serde_json::json!({"action": "created", "project_id": project.id}),
            );
            app.mailer
                .send(
                    &email,
                    "You are invited to a PrivaClaw project",
                    format!("{} invited you to \"{}\". Sign up with this email: {link}\n", who.email, project.name),
                )
                .await;
            ("invited", "Invitation sent".to_string())
        }
    };
    Ok(warp::reply::json(&InviteResponse { status, message }).into_response())
}
