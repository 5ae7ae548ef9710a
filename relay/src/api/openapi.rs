//! The OpenAPI document at `/api/v1/openapi.json`, generated from the handlers' own
//! annotations so it cannot drift from the code (a test also calls every path it lists).
//!
//! Not in it: the WebSocket endpoints `/connect` and `/session`, whose frames are described in
//! `docs/protocol.md`.

use super::{auth, devices, downloads, error, events, functions, history, nodes, profile, projects, skills, team};
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
        team::list_members, team::remove_member, team::list_invitations, team::cancel_invitation, team::preview, team::accept,
        history::history, history::project_history,
        profile::get, profile::update,
        skills::list, skills::create, skills::get, skills::update, skills::delete,
        events::events,
        nodes::command,
    ),
    components(schemas(error::ErrorBody, skills::SkillSlug, skills::PrivaclawConfig, history::Status)),
    modifiers(&Bearer, &CommonErrors),
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

/// Errors every operation of a kind can answer, added in one place rather than on each
/// handler: 401 wherever a token is required, 400 wherever there is input to get wrong.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                let r = &mut op.responses.responses;
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    r.entry("401".into()).or_insert_with(|| error("Missing, invalid or expired access token").into());
                }
                if op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    r.entry("400".into()).or_insert_with(|| error("Malformed input").into());
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head]
        .into_iter()
        .filter_map(Option::as_mut)
}

static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(Doc::openapi);

pub fn document() -> warp::reply::Json {
    warp::reply::json(&*DOC)
}

/// The methods the API serves at `path` (for the `Allow` header of a 405), if any.
pub fn allowed_methods(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    DOC.paths.paths.iter().find_map(|(template, item)| {
        let t: Vec<&str> = template.split('/').collect();
        let same = t.len() == segments.len() && t.iter().zip(&segments).all(|(a, b)| a.starts_with('{') || a == b);
        same.then(|| {
            let methods = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ];
            methods.iter().filter(|(_, op)| op.is_some()).map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
        })
    })
}
