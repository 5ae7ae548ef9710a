//! Request extractors shared by every route: the app state, the signed-in user, a size-capped
//! JSON body with a clear error, the client's address.

use super::error::ApiError;
use crate::app::App;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use warp::Filter;

/// JSON bodies larger than this are refused.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The peer address of the TCP connection, put on each request by the server loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// A request authenticated with a valid access token.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
}

pub fn with(app: &Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone + use<> {
    let app = app.clone();
    warp::any().map(move || app.clone())
}

pub fn client_ip() -> impl Filter<Extract = (IpAddr,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddr>()
        .map(|a: Option<ClientAddr>| a.map_or(IpAddr::from([127, 0, 0, 1]), |a| a.0.ip()))
}

pub fn host() -> impl Filter<Extract = (Option<String>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("x-forwarded-host")
        .and(warp::header::optional::<String>("host"))
        .map(|fwd: Option<String>, host: Option<String>| fwd.or(host))
}

/// The bearer token's user, or a 401 that says how to get a token.
pub fn user(app: &Arc<App>) -> impl Filter<Extract = (AuthUser,), Error = warp::Rejection> + Clone + use<> {
    with(app).and(warp::header::optional::<String>("authorization")).and_then(
        |app: Arc<App>, header: Option<String>| async move {
            authenticate(&app, header.as_deref()).map_err(warp::reject::custom)
        },
    )
}

pub fn authenticate(app: &App, header: Option<&str>) -> Result<AuthUser, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::unauthorized("Sign in first: send 'Authorization: Bearer <access_token>' (POST /auth/v1/token).")
    })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("The Authorization header must be 'Bearer <access_token>'."))?;
    let claims = app.keys.verify(token.trim()).ok_or_else(|| {
        ApiError::unauthorized(
            "The access token is invalid or expired: refresh it (grant_type=refresh_token) or sign in again.",
        )
    })?;
    Ok(AuthUser { id: claims.sub, email: claims.email })
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
