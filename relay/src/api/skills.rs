//! `/api/v1/skill-configs`: AI-node configurations. Each belongs to the user who made it and
//! is visible to nobody else; stored sealed, since it holds the node's token. For the `privaclaw` skill the config must hold a `relay_url`
//! (wss:// or https://) and an `auth_token` of at least 8 characters, as the skill requires.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use crate::app::App;
use crate::store::SkillConfig;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

#[derive(Deserialize, ToSchema)]
pub struct SkillConfigBody {
    /// The skill: `privaclaw` (the default). Fixed once created.
    #[schema(value_type = Option<SkillSlug>, nullable)]
    pub skill_slug: Option<String>,
    /// The node this configures: a UUID or a custom id.
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub node_id: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[schema(value_type = PrivaclawConfig)]
    pub config: serde_json::Value,
}

/// The skills this relay knows.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the slug travels as a string
pub enum SkillSlug {
    #[schema(rename = "privaclaw")]
    Privaclaw,
}

/// What the PrivaClaw skill reads (other keys are kept as UI settings).
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the config is stored as the JSON it arrives as
pub struct PrivaclawConfig {
    /// The relay the node dials: `wss://…` or `https://…`.
    #[schema(pattern = r"^(wss|https)://\S+$")]
    relay_url: String,
    /// The node's secret, at least 8 characters.
    #[schema(min_length = 8)]
    auth_token: String,
    /// Usually the same as the config's `node_id`.
    node_id: Option<String>,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let base = warp::path("api").and(warp::path("v1")).and(warp::path("skill-configs"));
    let list = base
        .and(warp::path::end())
        .and(warp::get())
        .and(with(app))
        .and(user(app))
        .and(warp::query::<HashMap<String, String>>())
        .then(list);
    let create = base.and(warp::path::end()).and(warp::post()).and(with(app)).and(user(app)).and(json()).then(create);
    let one = base.and(warp::path::param::<String>()).and(warp::path::end());
    let get = one.and(warp::get()).and(with(app)).and(user(app)).then(get);
    let put = one.and(warp::put()).and(with(app)).and(user(app)).and(json()).then(update);
    let delete = one.and(warp::delete()).and(with(app)).and(user(app)).then(delete);
    any_of!(list, create, get, put, delete)
}

/// Checks a config the way the PrivaClaw skill needs it (public for the fuzz target).
pub fn validate(slug: &str, body: &SkillConfigBody) -> ApiResult<()> {
    let bad = |m: &str| Err(ApiError::bad_request("invalid_config", m.to_string()));
    if slug != "privaclaw" {
        return bad("skill_slug must be 'privaclaw': the only skill this relay knows.");
    }
    let node = body.node_id.trim();
    if node.is_empty() || node.chars().count() > 128 {
        return bad("node_id must be 1–128 characters (a UUID or your own id).");
    }
    if body.name.trim().is_empty() || body.name.chars().count() > 100 || body.name.chars().any(char::is_control) {
        return bad("name must be 1–100 characters.");
    }
    if !body.config.is_object() || body.config.to_string().len() > 16 * 1024 {
        return bad("config must be a JSON object of at most 16 KiB.");
    }
    let url = body.config.get("relay_url").and_then(|v| v.as_str()).unwrap_or("");
    let rest = url.strip_prefix("wss://").or_else(|| url.strip_prefix("https://")).unwrap_or("");
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return bad("config.relay_url must start with wss:// or https://.");
    }
    if body.config.get("auth_token").and_then(|v| v.as_str()).is_none_or(|t| t.chars().count() < 8) {
        return bad("config.auth_token must be at least 8 characters.");
    }
    if body.config.get("node_id").is_some_and(|v| !v.is_string()) {
        return bad("config.node_id must be a string.");
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/skill-configs", tag = "skills", security(("bearer" = [])),
    params(("skill_slug" = Option<String>, Query, description = "Only this skill's configs")),
    responses((status = 200, body = [SkillConfig])))]
pub(super) async fn list(app: Arc<App>, who: AuthUser, q: HashMap<String, String>) -> ApiResult<Response> {
    let rows = app.db.skill_configs(&app.sealer, &who.id, q.get("skill_slug").map(String::as_str)).await?;
    Ok(warp::reply::json(&rows).into_response())
}

#[utoipa::path(post, path = "/api/v1/skill-configs", tag = "skills", security(("bearer" = [])), request_body = SkillConfigBody,
    responses((status = 201, body = SkillConfig), (status = 400, body = ErrorBody),
              (status = 409, description = "This node already has a config for this skill", body = ErrorBody),
              (status = 429, description = "The caller has as many configs as this relay allows", body = ErrorBody)))]
pub(super) async fn create(app: Arc<App>, who: AuthUser, body: SkillConfigBody) -> ApiResult<Response> {
    let slug = body.skill_slug.clone().unwrap_or_else(|| "privaclaw".into());
    validate(&slug, &body)?;
    let configs = app.db.count_skill_configs(&who.id).await?;
    let max = app.config.limits.max_skill_configs_per_user;
    super::room_for(configs, max, "too_many_configs", "Your node configurations number", "delete one first.")?;
    let c =
        app.db.create_skill_config(&app.sealer, &who.id, &slug, body.node_id.trim(), body.name.trim(), &body.config);
    match c.await {
        Ok(c) => Ok(warp::reply::with_status(warp::reply::json(&c), StatusCode::CREATED).into_response()),
        Err(e) if crate::store::is_unique_violation(&e) => Err(ApiError::conflict(
            "duplicate_node",
            "You already have a configuration for this node id: edit that one, or pick another node id.",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/v1/skill-configs/{id}", tag = "skills", security(("bearer" = [])),
    params(("id" = String, Path, description = "Config id")),
    responses((status = 200, body = SkillConfig), (status = 404, body = ErrorBody)))]
pub(super) async fn get(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    let c = app.db.skill_config(&app.sealer, &id, &who.id).await?.ok_or_else(|| ApiError::not_found("skill config"))?;
    Ok(warp::reply::json(&c).into_response())
}

#[utoipa::path(put, path = "/api/v1/skill-configs/{id}", tag = "skills", security(("bearer" = [])), request_body = SkillConfigBody,
    params(("id" = String, Path, description = "Config id")),
    responses((status = 200, body = SkillConfig), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Another of your configurations uses this node id", body = ErrorBody)))]
pub(super) async fn update(id: String, app: Arc<App>, who: AuthUser, body: SkillConfigBody) -> ApiResult<Response> {
    let current =
        app.db.skill_config(&app.sealer, &id, &who.id).await?.ok_or_else(|| ApiError::not_found("skill config"))?;
    if body.skill_slug.as_deref().is_some_and(|s| s != current.skill_slug) {
        return Err(ApiError::bad_request(
            "invalid_config",
            "skill_slug cannot change: create a new configuration instead.",
        ));
    }
    validate(&current.skill_slug, &body)?;
    let u = app.db.update_skill_config(&app.sealer, &id, &who.id, body.node_id.trim(), body.name.trim(), &body.config);
    match u.await {
        Ok(_) => get(id, app, who).await,
        Err(e) if crate::store::is_unique_violation(&e) => {
            Err(ApiError::conflict("duplicate_node", "Another of your configurations already uses this node id."))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(delete, path = "/api/v1/skill-configs/{id}", tag = "skills", security(("bearer" = [])),
    params(("id" = String, Path, description = "Config id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(id: String, app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    if !app.db.delete_skill_config(&id, &who.id).await? {
        return Err(ApiError::not_found("skill config"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
