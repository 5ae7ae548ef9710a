//! `POST /api/v1/nodes/{device_id}/commands`: people prompt, inspect, restart and run
//! workflows on their AI nodes. The answer streams back as newline-delimited JSON while the
//! node produces it (see docs/protocol.md, "AI nodes").

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, json, user, with};
use crate::app::App;
use crate::hub::nodes::CommandError;
use crate::store::Role;
use serde::Deserialize;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

/// Prompts longer than this are refused (the whole request body is at most 64 KiB anyway).
const MAX_PROMPT: usize = 32 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommandKind {
    Prompt,
    Status,
    Restart,
    Workflow,
}

#[derive(Deserialize, ToSchema)]
pub struct CommandBody {
    #[serde(rename = "type")]
    pub kind: CommandKind,
    /// `prompt`: `{"prompt": "…"}`; `workflow`: `{"workflow_id": "…", "params": {…}}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "nodes" / String / "commands")
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(json())
        .then(command)
        .map(Reply::into_response)
        .boxed()
}

fn string<'a>(data: &'a Option<serde_json::Map<String, serde_json::Value>>, key: &str) -> Option<&'a str> {
    data.as_ref()?.get(key)?.as_str()
}

#[utoipa::path(post, path = "/api/v1/nodes/{device_id}/commands", tag = "nodes", security(("bearer" = [])), request_body = CommandBody,
    params(("device_id" = String, Path, description = "The node's device id")),
    responses((status = 200, description = "NDJSON: `accepted`, then `token`s, ending with `done`, `status` or `error`", content_type = "application/x-ndjson"),
              (status = 403, description = "Restart is for the project's owner", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "The node is offline, or the device is not a node", body = ErrorBody)))]
pub(super) async fn command(device_id: String, app: Arc<App>, who: AuthUser, body: CommandBody) -> ApiResult<Response> {
    let (device, role) = app.db.device_for(&device_id, &who.id).await?.ok_or_else(|| ApiError::not_found("node"))?;
    let bad = |m: &str| ApiError::bad_request("invalid_command", m.to_string());
    let (name, args) = match body.kind {
        CommandKind::Prompt => {
            let prompt = string(&body.data, "prompt").ok_or_else(|| bad("A prompt needs data.prompt, a string."))?;
            if prompt.len() > MAX_PROMPT {
                return Err(bad("The prompt is too long: at most 32 KiB."));
            }
            ("prompt", Some(serde_json::json!({ "prompt": prompt })))
        }
        CommandKind::Workflow => {
            let id = string(&body.data, "workflow_id").filter(|w| !w.is_empty() && w.len() <= 128);
            let id = id.ok_or_else(|| bad("A workflow needs data.workflow_id (1–128 characters)."))?;
            let params =
                body.data.as_ref().and_then(|d| d.get("params")).cloned().unwrap_or_else(|| serde_json::json!({}));
            if !params.is_object() {
                return Err(bad("data.params must be a JSON object."));
            }
            ("workflow", Some(serde_json::json!({ "workflow_id": id, "params": params })))
        }
        CommandKind::Status => ("status", None),
        CommandKind::Restart if role != Role::Owner => return Err(ApiError::owner_only("restart nodes")),
        CommandKind::Restart => ("restart", None),
    };
    let lines = match app.hub.command(&device.id, name, args.clone()) {
        Ok((_, lines)) => Ok(lines),
        Err(CommandError::Offline) => elsewhere(&app, &device.id, name, args).await,
        Err(e) => Err(e),
    };
    let lines = lines.map_err(|e| match e {
        CommandError::Offline => ApiError::conflict(
            "node_offline",
            format!("\"{}\" is offline: commands are not queued. Start the node, wait until it shows online, and send again.", device.name),
        ),
        CommandError::NotANode => ApiError::conflict(
            "not_a_node",
            format!("\"{}\" is a terminal connector, not an AI node: it takes no commands.", device.name),
        ),
    })?;
    let mut res = warp::reply::stream(ReceiverStream::new(lines)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

/// The node is not connected here: through the relay of the cluster that holds it, if any.
async fn elsewhere(
    app: &App,
    device_id: &str,
    name: &str,
    args: Option<serde_json::Value>,
) -> Result<tokio::sync::mpsc::Receiver<crate::hub::nodes::Line>, CommandError> {
    let Some(c) = &app.cluster else { return Err(CommandError::Offline) };
    match app.db.holder(device_id).await {
        Ok(Some(relay)) if relay != c.me => c.command(&relay, device_id, name, args).await,
        _ => Err(CommandError::Offline),
    }
}
