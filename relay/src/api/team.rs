//! `/api/v1/projects/{id}/members` and `/invitations`: everyone in a project sees its team;
//! only the owner removes members or cancels invitations (a member may leave). Invitations
//! are created with `/functions/v1/invite-member` and accepted through their link
//! (`/api/v1/invitations/preview` and `/accept`). Someone removed (or leaving) loses their
//! open terminals of the project at once.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use super::{member_of, owner_of};
use crate::app::App;
use crate::auth::secrets;
use crate::hub::Revoked;
use crate::store::{Invitation, InvitationPreview, Member, Role, Scope};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let project =
        warp::path("api").and(warp::path("v1")).and(warp::path("projects")).and(warp::path::param::<String>());
    let members = project.and(warp::path("members"));
    let list_members = members.and(warp::path::end()).and(warp::get()).and(with(app)).and(user(app)).then(list_members);
    let remove_member = members
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::delete())
        .and(with(app))
        .and(user(app))
        .then(remove_member);
    let invitations = project.and(warp::path("invitations"));
    let list_invitations =
        invitations.and(warp::path::end()).and(warp::get()).and(with(app)).and(user(app)).then(list_invitations);
    let cancel = invitations
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::delete())
        .and(with(app))
        .and(user(app))
        .then(cancel_invitation);
    let link = warp::path("api").and(warp::path("v1")).and(warp::path("invitations"));
    let preview = link.and(warp::path!("preview")).and(warp::post()).and(with(app)).and(json()).then(preview);
    let accept =
        link.and(warp::path!("accept")).and(warp::post()).and(with(app)).and(user(app)).and(json()).then(accept);
    any_of!(list_members, remove_member, list_invitations, cancel, preview, accept)
}

/// An invitation link's lifetime.
const INVITATION_TTL: i64 = 7 * 24 * 3600;

pub fn invitation_expiry() -> i64 {
    crate::store::now_unix() + INVITATION_TTL
}

/// Refuses one more member or invitation past `--max-members-per-project`.
pub async fn check_room(app: &App, project_id: &str) -> ApiResult<()> {
    let team = app.db.team_size(project_id).await?;
    let max = app.config.limits.max_members_per_project;
    let then = "remove someone or cancel an invitation first.";
    super::room_for(team, max, "too_many_members", "This project's members and pending invitations number", then)
}

#[derive(Deserialize, ToSchema)]
pub struct InvitationToken {
    /// The `token` of the invitation link.
    pub token: String,
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invitation_invalid",
        "This invitation link is invalid, already used, cancelled or expired: ask the project's owner for a new one.",
    )
}

#[utoipa::path(post, path = "/api/v1/invitations/preview", tag = "team", request_body = InvitationToken,
    responses((status = 200, description = "Where the link leads, before accepting it", body = InvitationPreview),
              (status = 404, body = ErrorBody)))]
pub(super) async fn preview(app: Arc<App>, body: InvitationToken) -> ApiResult<Response> {
    let p = app.db.pending_invitation(&secrets::hash(&body.token)).await?.ok_or_else(gone)?;
    Ok(warp::reply::json(&p).into_response())
}

#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "team", security(("bearer" = [])), request_body = InvitationToken,
    responses((status = 200, description = "Joined: the project, as the new member sees it", body = crate::store::Project),
              (status = 404, body = ErrorBody)))]
pub(super) async fn accept(app: Arc<App>, who: AuthUser, body: InvitationToken) -> ApiResult<Response> {
    let project_id = app.db.accept_invitation(&secrets::hash(&body.token), &who.id).await?.ok_or_else(gone)?;
    tracing::info!(user = %who.id, project = %project_id, "invitation accepted");
    app.events.membership(&who.id, &project_id);
    app.events.project(
        "member",
        &project_id,
        serde_json::json!({"action": "added", "project_id": project_id, "user_id": who.id}),
    );
    app.events.project("invitation", &project_id, serde_json::json!({"action": "accepted", "project_id": project_id}));
    let p = app.db.project_for(&project_id, &who.id).await?.ok_or_else(gone)?;
    Ok(warp::reply::json(&p).into_response())
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/members", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = [Member]), (status = 404, body = ErrorBody)))]
pub(super) async fn list_members(project_id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    member_of(&app, &project_id, &who).await?;
    Ok(warp::reply::json(&app.db.members(&project_id).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}/members/{user_id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id"), ("user_id" = String, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed"), (status = 409, description = "The owner cannot be removed", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_member(
    project_id: String,
    user_id: String,
    app: Arc<App>,
    who: AuthUser,
) -> ApiResult<Response> {
    let role = member_of(&app, &project_id, &who).await?;
    let leaving = user_id == who.id;
    if role != Role::Owner && !leaving {
        return Err(ApiError::owner_only("remove members"));
    }
    if role == Role::Owner && leaving {
        return Err(ApiError::conflict(
            "owner_cannot_leave",
            "The owner cannot leave their project; delete it instead.",
        ));
    }
    if !app.db.remove_member(&project_id, &user_id).await? {
        return Err(ApiError::not_found("member"));
    }
    // Their access ends now, not at their next sign-in: open terminals of the project close,
    // the sessions they started end, and their event stream drops the project.
    let why = if leaving {
        "You left this project: its terminals are closed to you."
    } else {
        "You were removed from this project: ask its owner to invite you again."
    };
    app.hub.revoke(&Revoked { user_id: &user_id, project_id: Some(&project_id), scope: &Scope::All, why });
    app.hub.end_sessions_of(&user_id, &project_id).await;
    app.events.membership(&user_id, &project_id);
    app.events.project(
        "member",
        &project_id,
        serde_json::json!({"action": "removed", "project_id": project_id, "user_id": user_id}),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/invitations", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = [Invitation]), (status = 404, body = ErrorBody)))]
pub(super) async fn list_invitations(project_id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    member_of(&app, &project_id, &who).await?;
    Ok(warp::reply::json(&app.db.invitations(&project_id).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}/invitations/{invitation_id}", tag = "team", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id"), ("invitation_id" = String, Path, description = "Invitation id")),
    responses((status = 204, description = "Cancelled"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cancel_invitation(
    project_id: String,
    invitation_id: String,
    app: Arc<App>,
    who: AuthUser,
) -> ApiResult<Response> {
    owner_of(&app, &project_id, &who, "cancel invitations").await?;
    if !app.db.cancel_invitation(&project_id, &invitation_id).await? {
        return Err(ApiError::not_found("pending invitation"));
    }
    app.events.project("invitation", &project_id, serde_json::json!({"action": "cancelled", "project_id": project_id}));
    Ok(StatusCode::NO_CONTENT.into_response())
}
