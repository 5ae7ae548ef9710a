//! Request extractors shared by every route: the app state, the signed-in user, a size-capped
//! JSON body with a clear error, the client's address and the relay's origin (`proxy.rs`).

use super::error::ApiError;
use crate::app::App;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use warp::Filter;

/// JSON bodies larger than this are refused.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The addresses of the TCP connection (the client's, and ours it reached), put on each
/// request by the server loop.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// A request authenticated with a valid access token of a sign-in that is still active.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    /// The sign-in (auth session) the token belongs to.
    pub session_id: String,
}

/// The relay's public origin as this request should see it: `https://relay.example.com`.
#[derive(Clone, Debug)]
pub struct Origin(pub String);

impl Origin {
    /// The `ws(s)://` form connectors keep as `relay_url`.
    pub fn ws(&self) -> String {
        crate::proxy::ws_url(&self.0)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn with(app: &Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone + use<> {
    let app = app.clone();
    warp::any().map(move || app.clone())
}

fn conn() -> impl Filter<Extract = (Conn,), Error = Infallible> + Clone {
    // Requests built without the server loop (none in production) count as local.
    warp::ext::optional::<Conn>().map(|c: Option<Conn>| {
        c.unwrap_or(Conn { peer: SocketAddr::from(([127, 0, 0, 1], 0)), local: SocketAddr::from(([127, 0, 0, 1], 0)) })
    })
}

/// The client's address: the TCP peer, or what a trusted proxy says it is.
pub fn client_ip(app: &Arc<App>) -> impl Filter<Extract = (IpAddr,), Error = warp::Rejection> + Clone + use<> {
    with(app)
        .and(conn())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(|app: Arc<App>, c: Conn, fwd: Option<String>| app.proxies.client(c.peer.ip(), fwd.as_deref()))
}

/// The relay's origin for links and URLs it hands out: `--public-url`, else the address the
/// connection reached (or a trusted proxy's forwarded host); never a client's `Host` header.
pub fn origin(app: &Arc<App>) -> impl Filter<Extract = (Origin,), Error = warp::Rejection> + Clone + use<> {
    with(app)
        .and(conn())
        .and(warp::header::optional::<String>("x-forwarded-host"))
        .and(warp::header::optional::<String>("x-forwarded-proto"))
        .map(|app: Arc<App>, c: Conn, host: Option<String>, proto: Option<String>| {
            Origin(match &app.config.public_url {
                Some(u) => u.trim_end_matches('/').to_string(),
                None => {
                    app.proxies.origin(c.peer.ip(), c.local, app.config.serves_tls(), host.as_deref(), proto.as_deref())
                }
            })
        })
}

/// The bearer token's user, or a 401 that says how to get a token.
pub fn user(app: &Arc<App>) -> impl Filter<Extract = (AuthUser,), Error = warp::Rejection> + Clone + use<> {
    with(app).and(warp::header::optional::<String>("authorization")).and_then(
        |app: Arc<App>, header: Option<String>| async move {
            let header = header.ok_or_else(|| {
                warp::reject::custom(ApiError::unauthorized(
                    "Sign in first: send 'Authorization: Bearer <access_token>' (POST /auth/v1/token).",
                ))
            })?;
            let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or_else(|| {
                warp::reject::custom(ApiError::unauthorized(
                    "The Authorization header must be 'Bearer <access_token>'.",
                ))
            })?;
            authenticate(&app, token.trim()).await.map_err(warp::reject::custom)
        },
    )
}

/// The user of an access token that is valid, unexpired, and whose sign-in is still active.
pub async fn authenticate(app: &App, token: &str) -> Result<AuthUser, ApiError> {
    let expired = || {
        ApiError::unauthorized(
            "The access token is invalid or expired: refresh it (grant_type=refresh_token) or sign in again.",
        )
    };
    let claims = app.keys.verify(token).ok_or_else(expired)?;
    if !app.db.sign_in_active(&claims.session_id, &claims.sub).await? {
        return Err(ApiError::unauthorized(
            "This sign-in has ended (signed out, password changed, or access revoked): sign in again.",
        ));
    }
    Ok(AuthUser { id: claims.sub, email: claims.email, session_id: claims.session_id })
}

/// The request body, at most `BODY_LIMIT` bytes, with or without a Content-Length (some
/// clients send a bare POST, e.g. to log out).
pub fn body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::body::stream().and_then(collect)
}

async fn collect<S, B>(chunks: S) -> Result<bytes::Bytes, warp::Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use bytes::BufMut;
    use futures_util::StreamExt;
    let mut chunks = std::pin::pin!(chunks);
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| {
            warp::reject::custom(ApiError::bad_request("bad_body", "The request body could not be read."))
        })?;
        if buf.len() + chunk.remaining() > BODY_LIMIT as usize {
            return Err(warp::reject::custom(ApiError::new(
                warp::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("Request bodies are limited to {BODY_LIMIT} bytes."),
            )));
        }
        buf.put(chunk);
    }
    Ok(buf.freeze())
}

/// A JSON body of type `T` (see [`body`]); malformed input gets a 400 saying what is wrong.
pub fn json<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    body().and_then(|body: bytes::Bytes| async move {
        // Every body of this API is an object; serde alone would also take a struct from an array.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            let msg = "The request body must be a JSON object.";
            return Err(warp::reject::custom(ApiError::bad_request("invalid_json", msg)));
        }
        serde_json::from_slice::<T>(&body).map_err(|e| {
            let msg = if e.is_data() {
                format!("The request body has the wrong fields: {e}.")
            } else {
                format!("The request body is not valid JSON: {e}.")
            };
            warp::reject::custom(ApiError::bad_request("invalid_json", msg))
        })
    })
}
