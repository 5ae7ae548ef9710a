//! The OpenAPI document at `/api/v1/openapi.json`, generated from the handlers' own
//! annotations so it cannot drift from the code (a test also calls every path it lists).
//!
//! Not in it: the WebSocket endpoints `/connect` and `/session`, whose frames are described in
//! `docs/protocol.md`.

use super::{auth, devices, downloads, error, events, functions, history, profile, projects, skills, team};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PrivaClaw relay API",
        description = "Accounts (/auth/v1, GoTrue-compatible), the edge functions (/functions/v1) and resources (/api/v1) of a PrivaClaw relay. Errors are {\"error\": code, \"message\": sentence}. WebSocket endpoints /connect and /session are described in docs/protocol.md."
    ),
    paths(
        auth::signup, auth::token, auth::get_user, auth::put_user, auth::logout, auth::recover, auth::verify_link, auth::verify,
        functions::pair_device, functions::start_session, functions::end_session, functions::relay_nodes, functions::invite_member, downloads::download,
        projects::list, projects::create, projects::get, projects::rename, projects::delete,
        devices::list, devices::create, devices::get, devices::rename, devices::delete, devices::regenerate,
        team::list_members, team::remove_member, team::list_invitations, team::cancel_invitation,
        history::history, history::project_history,
        profile::get, profile::update,
        skills::list, skills::create, skills::get, skills::update, skills::delete,
        events::events,
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&Bearer),
)]
struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub fn document() -> warp::reply::Json {
    warp::reply::json(&Doc::openapi())
}
