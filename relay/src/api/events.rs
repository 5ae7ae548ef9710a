//! `GET /api/v1/events`: server-sent events for the dashboard (device online/offline, device,
//! session, member and invitation changes), only for the caller's projects. Authenticate with
//! the `Authorization` header (read the stream with `fetch`): tokens never go in URLs.
//!
//! Events: `ready` (once), `device_status`, `device`, `session`, `project`, `member`,
//! `invitation`, `membership` (your projects changed: refetch), `resync` (events were missed:
//! refetch everything), `revoked` (this sign-in ended — signed out, password changed — and the
//! stream closes; `data.message` says why). Each `data` is a JSON object.

use super::error::{ApiResult, ErrorBody};
use super::filters::{AuthUser, user, with};
use crate::app::App;
use crate::events::Event;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::sse;
use warp::{Filter, Reply};

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path("api")
        .and(warp::path("v1"))
        .and(warp::path!("events"))
        .and(warp::get())
        .and(with(app))
        .and(user(app))
        .then(events)
        .map(Reply::into_response)
        .boxed()
}

#[utoipa::path(get, path = "/api/v1/events", tag = "realtime", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of changes in the caller's projects", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody)))]
pub(super) async fn events(app: Arc<App>, who: AuthUser) -> ApiResult<Response> {
    // Subscribe before reading the project list (and checking the sign-in once more), so no
    // event and no sign-out falls in between.
    let rx = app.events.subscribe();
    let projects = app.db.project_ids_of(&who.id).await?;
    if !app.db.sign_in_active(&who.session_id, &who.id).await? {
        return Err(super::error::ApiError::unauthorized("This sign-in has ended: sign in again."));
    }
    // One task per stream filters the broadcast; a small queue to the client means a client
    // that stops reading stalls only its task, which then lags and gets a `resync`.
    let (tx, out) = mpsc::channel(64);
    tokio::spawn(feed(app, who, rx, projects, tx));
    let stream = sse::keep_alive().interval(std::time::Duration::from_secs(20)).stream(ReceiverStream::new(out));
    Ok(sse::reply(stream).into_response())
}

type Tx = mpsc::Sender<Result<sse::Event, Infallible>>;

async fn feed(app: Arc<App>, who: AuthUser, mut rx: Receiver<Arc<Event>>, mut projects: Vec<String>, tx: Tx) {
    let ready = sse::Event::default().event("ready").json_data(serde_json::json!({"projects": projects}));
    if tx.send(Ok(ready.expect("serializable"))).await.is_err() {
        return;
    }
    loop {
        let out = tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    let visible = match (&ev.user_id, &ev.project_id) {
                        (Some(u), _) => *u == who.id,
                        (None, Some(p)) => projects.contains(p),
                        (None, None) => false,
                    };
                    if !visible {
                        continue;
                    }
                    if ev.scope.as_ref().is_some_and(|s| s.covers(&who.session_id)) {
                        let bye = sse::Event::default().event(ev.name).json_data(&*ev).expect("serializable");
                        let _ = tx.send(Ok(bye)).await;
                        return;
                    }
                    if ev.scope.is_some() {
                        continue;
                    }
                    if ev.name == "membership" {
                        let Ok(p) = app.db.project_ids_of(&who.id).await else { return };
                        projects = p;
                    }
                    sse::Event::default().event(ev.name).json_data(&*ev).expect("serializable")
                }
                Err(RecvError::Lagged(_)) => {
                    // A missed event may have been this sign-in's end: look it up.
                    if !matches!(app.db.sign_in_active(&who.session_id, &who.id).await, Ok(true)) {
                        return;
                    }
                    let Ok(p) = app.db.project_ids_of(&who.id).await else { return };
                    projects = p;
                    sse::Event::default().event("resync").data("{}")
                }
                Err(RecvError::Closed) => return,
            },
            _ = tx.closed() => return,
        };
        if tx.send(Ok(out)).await.is_err() {
            return;
        }
    }
}
