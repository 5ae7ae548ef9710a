//! `/api/v1/projects/{id}/members` and `/invitations`: everyone in a project sees its team;
//! only the owner removes members or cancels invitations (a member may leave). Invitations
//! are created with `/functions/v1/invite-member`.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, user, with};
use super::{member_of, owner_of};
use crate::app::App;
use crate::store::{Invitation, Member, Role};
use std::sync::Arc;
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
    any_of!(list_members, remove_member, list_invitations, cancel)
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
