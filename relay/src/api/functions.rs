//! `/functions/v1/*`: the reference's edge functions, same paths and bodies: pairing,
//! session start/end, connected nodes, invitations. `apikey` headers are accepted and ignored.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, Origin, client_ip, json, origin, user, with};
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
    /// `added` (the address has a confirmed account and joined now) or `invited` (joins by
    /// opening `invite_url`).
    pub status: &'static str,
    pub message: String,
    /// The invitation link, shown once: whoever opens it (signed in, or after signing up)
    /// joins the project. It is also mailed when the relay sends email. Valid for 7 days.
    pub invite_url: Option<String>,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let base = warp::path("functions").and(warp::path("v1"));
    let pair = base
        .and(warp::path!("pair-device"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip(app))
        .and(origin(app))
        .and(json())
        .then(pair_device)
        .map(pairing_error);
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
        .and(origin(app))
        .and(json())
        .then(invite_member);
    any_of!(pair, start, end, nodes, invite)
}

/// The reference connector prints only the `error` field of a refused pairing: there, the
/// sentence; the code stays in `code`, and `message` keeps the sentence for our connector.
fn pairing_error(r: ApiResult<Response>) -> Response {
    match r {
        Ok(res) => res,
        Err(e) => {
            let body = serde_json::json!({"error": e.message, "code": e.code, "message": e.message});
            warp::reply::with_status(warp::reply::json(&body), e.status).into_response()
        }
    }
}

#[utoipa::path(post, path = "/functions/v1/pair-device", tag = "functions", request_body = PairRequest,
    responses((status = 200, body = PairResponse),
              (status = 401, description = "The code is wrong, used or expired. Errors of this endpoint carry the sentence in `error` too (the reference connector prints only that field) and the code in `code`", body = ErrorBody),
              (status = 429, description = "Too many attempts from this address, or too many wrong codes from everyone in the last minute", body = ErrorBody)))]
pub(super) async fn pair_device(app: Arc<App>, ip: IpAddr, origin: Origin, body: PairRequest) -> ApiResult<Response> {
    if !app.limits.pair.check(ip).await {
        return Err(ApiError::too_many("Too many pairing attempts from your address: wait a minute, then try again."));
    }
    // Wrong codes from everyone together: what bounds the chance of guessing a live code.
    if app.limits.pair_failures.blocked("").await {
        return Err(ApiError::too_many(
            "Pairing is paused for a minute: this relay received too many wrong pairing codes. Try again in a minute.",
        ));
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
    let Some(device) = app.db.pair(&code, name.as_deref(), &secrets::hash(&token)).await? else {
        app.limits.pair_failures.fail("").await;
        let minutes = app.config.limits.pairing_code_ttl.div_ceil(60);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_pairing_code",
            format!(
                "This pairing code is not valid: it was mistyped, already used, or is older than {minutes} minutes. \
                 Generate a new code in the dashboard (device menu → Regenerate code)."
            ),
        ));
    };
    // A connector still running with the old token must stop, not retry forever.
    app.hub.evict_device(&device.id).await;
    tracing::info!(device = %device.id, "device paired");
    app.events.project(
        "device",
        &device.project_id,
        serde_json::json!({"action": "paired", "device_id": device.id, "project_id": device.project_id}),
    );
    let body = PairResponse { device_id: device.id, token, relay_url: origin.ws() };
    Ok(warp::reply::json(&body).into_response())
}

#[utoipa::path(post, path = "/functions/v1/start-session", tag = "functions", security(("bearer" = [])), request_body = DeviceRef,
    responses((status = 200, body = SessionCreated), (status = 404, body = ErrorBody),
              (status = 409, description = "The device is offline", body = ErrorBody),
              (status = 429, description = "Too many open sessions for this user or device", body = ErrorBody)))]
pub(super) async fn start_session(app: Arc<App>, who: AuthUser, body: DeviceRef) -> ApiResult<Response> {
    let (device, _) =
        app.db.device_for(&body.device_id, &who.id).await?.ok_or_else(|| ApiError::not_found("device"))?;
    if !app.online(&device.id).await {
        return Err(ApiError::conflict(
            "device_offline",
            format!(
                "Failed to create session: \"{}\" is offline. Start relay-connector on it (or check its service), then try again.",
                device.name
            ),
        ));
    }
    let limits = &app.config.limits;
    let (mine, on_device) = app.db.open_sessions(&who.id, &device.id).await?;
    let end_one = "end one (Sessions tab, or exit its shell), then try again.";
    super::room_for(mine, limits.max_sessions_per_user, "too_many_sessions", "Your open sessions number", end_one)?;
    let what = format!("The open sessions of \"{}\" number", device.name);
    super::room_for(on_device, limits.max_sessions_per_device, "too_many_sessions", &what, end_one)?;
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
    let by = Some((who.id.as_str(), who.email.as_str()));
    let ending = crate::hub::Ending { reason: privaclaw_proto::kind::reason::USER_EXIT, status: None, by };
    app.hub.end_session_everywhere(&s.id, ending).await;
    Ok(warp::reply::json(&Done { ok: true }).into_response())
}

#[utoipa::path(get, path = "/functions/v1/relay-nodes", tag = "functions", security(("bearer" = [])),
    responses((status = 200, description = "Connectors and AI nodes connected now, in the caller's projects", body = Nodes)))]
pub(super) async fn relay_nodes(app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let projects = app.db.project_ids_of(&who.id).await?;
    let here = app.hub.nodes(&projects);
    let nodes = match &app.cluster {
        Some(c) => c.nodes(here, &projects).await,
        None => here,
    };
    Ok(warp::reply::json(&Nodes { nodes }).into_response())
}

#[utoipa::path(post, path = "/functions/v1/invite-member", tag = "functions", security(("bearer" = [])), request_body = InviteRequest,
    responses((status = 200, body = InviteResponse), (status = 400, body = ErrorBody),
              (status = 403, description = "Only owners invite", body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, description = "The project has as many members and invitations as this relay allows", body = ErrorBody)))]
pub(super) async fn invite_member(
    app: Arc<App>,
    who: AuthUser,
    origin: Origin,
    body: InviteRequest,
) -> ApiResult<Response> {
    let project = app.db.project_for(&body.project_id, &who.id).await?.ok_or_else(|| ApiError::not_found("project"))?;
    if app.db.role(&project.id, &who.id).await? != Some(Role::Owner) {
        return Err(ApiError::owner_only("invite members"));
    }
    let email = super::auth::normalise_email(&body.email.0)?;
    let existing = app.db.user_by_email(&email).await?;
    if existing.as_ref().is_some_and(|u| u.id == who.id) {
        return Err(ApiError::bad_request("invalid_email", "You already own this project."));
    }
    // An address is someone's only once it is confirmed, which only a relay that sends email
    // does. Anywhere else, whoever signed up first could be using it: they join through the
    // link the owner hands over.
    if let Some(u) = existing.filter(|u| u.email_confirmed_at.is_some() && app.mailer.confirms()) {
        if app.db.role(&project.id, &u.id).await?.is_none() {
            super::team::check_room(&app, &project.id).await?;
        }
        let added = app.db.add_member(&project.id, &u.id, Some(&who.id)).await?;
        app.events.membership(&u.id, &project.id);
        app.events.project(
            "member",
            &project.id,
            serde_json::json!({"action": "added", "project_id": project.id, "user_id": u.id}),
        );
        app.mailer.send_later(
            email,
            "You were added to a PrivaClaw project".into(),
            format!("{} added you to \"{}\". Sign in: {origin}/auth\n", who.email, project.name),
        );
        let message = if added { "Member added to project" } else { "Already a member of this project" };
        return Ok(warp::reply::json(&InviteResponse { status: "added", message: message.into(), invite_url: None })
            .into_response());
    }
    super::team::check_room(&app, &project.id).await?;
    let token = secrets::token();
    app.db.invite(&project.id, &email, &who.id, &secrets::hash(&token), super::team::invitation_expiry()).await?;
    app.events.project("invitation", &project.id, serde_json::json!({"action": "created", "project_id": project.id}));
    let url = format!("{origin}/invite?token={token}");
    let message = if app.mailer.confirms() {
        app.mailer.send_later(
            email.clone(),
            "You are invited to a PrivaClaw project".into(),
            format!(
                "{} invited you to \"{}\". Open this link to join (it works once, for 7 days):\n{url}\n",
                who.email, project.name
            ),
        );
        format!("Invitation sent to {email}. The link below also works: it is shown only now.")
    } else {
        format!(
            "Invitation created. This relay sends no email: give {email} this link yourself (it is shown only now, works once, for 7 days)."
        )
    };
    Ok(warp::reply::json(&InviteResponse { status: "invited", message, invite_url: Some(url) }).into_response())
}
