//! `/auth/v1/*`: the relay is its own auth server, with a GoTrue-compatible subset so
//! Supabase-style clients work: sign-up, password and refresh-token grants, user, logout,
//! recovery and verification links.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, client_ip, host, json, user, with};
use super::profile::ProfileUpdate;
use crate::app::App;
use crate::auth::{password, secrets};
use crate::config::Signups;
use crate::store::{RefreshUse, User, now_unix};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Response, json as reply_json};
use warp::{Filter, Reply};

/// A GoTrue-style `data` object. Taken as a map first: serde would also build a struct from
/// an array.
pub type Data = serde_json::Map<String, serde_json::Value>;

/// Saves `data`'s profile fields for `user_id`.
async fn save_data(app: &App, user_id: &str, data: Option<Data>) -> ApiResult<()> {
    let Some(data) = data else { return Ok(()) };
    let update: ProfileUpdate = serde_json::from_value(serde_json::Value::Object(data))
        .map_err(|e| ApiError::bad_request("invalid_json", format!("data has the wrong fields: {e}.")))?;
    update.apply(app, user_id).await
}

/// What `normalise_email` accepts.
const EMAIL_PATTERN: &str = r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]+$";

/// An email address as a request field; checked by [`normalise_email`], described by its pattern.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Email(pub String);

impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(254))
            .pattern(Some(EMAIL_PATTERN))
            .into()
    }
}

impl utoipa::ToSchema for Email {}

const REFRESH_TTL: i64 = 30 * 24 * 3600;
const RECOVERY_TTL: i64 = 3600;
const CONFIRM_TTL: i64 = 24 * 3600;

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub email: Email,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// Optional profile fields at sign-up.
    #[schema(value_type = Option<ProfileUpdate>)]
    pub data: Option<Data>,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub created_at: String,
    pub email_confirmed_at: Option<String>,
    #[schema(value_type = Object)]
    pub user_metadata: serde_json::Value,
}

/// A signed-in session: what sign-up (without email confirmation), both grants and
/// verification return.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// Unix time at which `access_token` expires.
    pub expires_at: i64,
    /// Single use: every refresh returns a new one.
    pub refresh_token: String,
    pub user: UserOut,
}

#[derive(Deserialize, ToSchema)]
pub struct UserUpdate {
    pub password: Option<String>,
    /// Profile fields.
    #[schema(value_type = Option<ProfileUpdate>)]
    pub data: Option<Data>,
}

#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: Email,
}

#[derive(Deserialize, ToSchema)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// `signup` or `recovery`.
    #[serde(rename = "type")]
    pub kind: String,
    pub token: String,
}

/// Bodies returned as JSON.
macro_rules! json_reply {
    ($($t:ty),*) => {$(
        impl Reply for $t {
            fn into_response(self) -> Response {
                reply_json(&self).into_response()
            }
        }
    )*};
}
json_reply!(TokenResponse, UserOut);

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let base = warp::path("auth").and(warp::path("v1"));
    let signup = base.and(warp::path!("signup")).and(warp::post()).and(with(app)).and(host()).and(json()).then(signup);
    let token = base
        .and(warp::path!("token"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip())
        .and(warp::query::<HashMap<String, String>>())
        .and(json())
        .then(token);
    let get_user = base.and(warp::path!("user")).and(warp::get()).and(with(app)).and(user(app)).then(get_user);
    let put_user =
        base.and(warp::path!("user")).and(warp::put()).and(with(app)).and(user(app)).and(json()).then(put_user);
    let logout = base
        .and(warp::path!("logout"))
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(super::filters::body())
        .then(logout);
    let recover = base
        .and(warp::path!("recover"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip())
        .and(host())
        .and(json())
        .then(recover);
    let verify_get = base
        .and(warp::path!("verify"))
        .and(warp::get())
        .and(with(app))
        .and(warp::query::<HashMap<String, String>>())
        .then(verify_link);
    let verify_post = base.and(warp::path!("verify")).and(warp::post()).and(with(app)).and(json()).then(verify);
    any_of!(signup, token, get_user, put_user, logout, recover, verify_get, verify_post)
}

/// Lower-cases an email address after checking its shape, exactly as the schema's pattern
/// says: something, `@`, a domain with a dot inside it, no spaces, one `@`.
pub fn normalise_email(email: &str) -> ApiResult<String> {
    let domain_ok =
        |d: &str| !d.starts_with('.') && d.char_indices().any(|(i, c)| c == '.' && i > 0 && i + 1 < d.len());
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.contains('@') && domain_ok(domain));
    if ok {
        Ok(email.to_lowercase())
    } else {
        Err(ApiError::bad_request("invalid_email", "That is not an email address: use the form name@example.com."))
    }
}

fn check_password(p: &str) -> ApiResult<()> {
    if p.chars().count() < password::MIN_LEN {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("The password is too short: use at least {} characters.", password::MIN_LEN),
        ));
    }
    if p.chars().count() > password::MAX_LEN {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("The password is too long: at most {} characters.", password::MAX_LEN),
        ));
    }
    Ok(())
}

async fn user_out(app: &App, u: &User) -> ApiResult<UserOut> {
    let profile = app.db.profile(&u.id).await?;
    let meta = serde_json::json!({
        "display_name": profile.as_ref().and_then(|p| p.display_name.clone()),
        "avatar_url": profile.as_ref().and_then(|p| p.avatar_url.clone()),
    });
    Ok(UserOut {
        id: u.id.clone(),
        email: u.email.clone(),
        created_at: u.created_at.clone(),
        email_confirmed_at: u.email_confirmed_at.clone(),
        user_metadata: meta,
    })
}

/// Issues an access token and a fresh refresh token for `u`.
async fn session_for(app: &App, u: &User) -> ApiResult<TokenResponse> {
    let refresh = secrets::token();
    app.db.store_refresh_token(&secrets::hash(&refresh), &u.id, now_unix() + REFRESH_TTL).await?;
    Ok(TokenResponse {
        access_token: app.keys.issue(&u.id, &u.email),
        token_type: "bearer",
        expires_in: app.keys.ttl,
        expires_at: now_unix() + app.keys.ttl,
        refresh_token: refresh,
        user: user_out(app, u).await?,
    })
}

#[utoipa::path(post, path = "/auth/v1/signup", tag = "auth", request_body = Credentials,
    responses((status = 200, description = "Signed up and signed in (no email confirmation on this relay)", body = TokenResponse),
              (status = 400, body = ErrorBody), (status = 403, description = "Sign-ups are closed or invitation-only", body = ErrorBody),
              (status = 422, description = "The email already has an account", body = ErrorBody)))]
pub(super) async fn signup(app: Arc<App>, host: Option<String>, body: Credentials) -> ApiResult<Response> {
    let email = normalise_email(&body.email.0)?;
    check_password(&body.password)?;
    let first = app.db.count_users().await? == 0;
    match app.config.signups {
        _ if first => {}
        Signups::Open => {}
        Signups::Invite if app.db.has_pending_invitation(&email).await? => {}
        Signups::Invite => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "signups_invite_only",
                "This relay only accepts people who were invited: ask a project owner to invite this email.",
            ));
        }
        Signups::Closed => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "signups_disabled",
                "This relay does not accept new accounts: ask its operator.",
            ));
        }
    }
    if app.db.user_by_email(&email).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_already_exists",
            "An account with this email already exists: sign in, or reset the password.",
        ));
    }
    let confirmed = !app.mailer.confirms();
    let hash = password::hash(body.password).await;
    let user = match app.db.create_user(&email, &hash, confirmed).await {
        Ok(u) => u,
        Err(e) if crate::store::is_unique_violation(&e) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "user_already_exists",
                "An account with this email already exists: sign in, or reset the password.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    save_data(&app, &user.id, body.data).await?;
    for project in app.db.fulfil_invitations(&email, &user.id).await? {
        app.events.membership(&user.id, &project);
    }
    tracing::info!(user = %user.id, "account created");
    if confirmed {
        return Ok(reply_json(&session_for(&app, &user).await?).into_response());
    }
    let token = secrets::token();
    app.db.store_one_time_token(&secrets::hash(&token), &user.id, "signup", now_unix() + CONFIRM_TTL).await?;
    let link = format!("{}/auth/v1/verify?type=signup&token={token}", app.public_url(host.as_deref()));
    app.mailer
        .send(&email, "Confirm your PrivaClaw account", format!("Open this link to confirm your account:\n{link}\n"))
        .await;
    let out = user_out(&app, &user).await?;
    Ok(reply_json(&serde_json::json!({"id": out.id, "email": out.email, "confirmation_sent_at": crate::store::now_iso(), "user": out})).into_response())
}

#[utoipa::path(post, path = "/auth/v1/token", tag = "auth", request_body = TokenRequest,
    params(("grant_type" = String, Query, description = "`password` or `refresh_token`")),
    responses((status = 200, body = TokenResponse), (status = 400, description = "Wrong credentials or refresh token", body = ErrorBody),
              (status = 429, description = "Too many attempts from this address", body = ErrorBody)))]
pub(super) async fn token(
    app: Arc<App>,
    ip: IpAddr,
    query: HashMap<String, String>,
    body: TokenRequest,
) -> ApiResult<TokenResponse> {
    match query.get("grant_type").map(String::as_str) {
        Some("password") => password_grant(&app, ip, body).await,
        Some("refresh_token") => refresh_grant(&app, body).await,
        _ => Err(ApiError::bad_request(
            "unsupported_grant_type",
            "Use /auth/v1/token?grant_type=password with {email, password}, or ?grant_type=refresh_token with {refresh_token}.",
        )),
    }
}

async fn password_grant(app: &App, ip: IpAddr, body: TokenRequest) -> ApiResult<TokenResponse> {
    if !app.login_limit.check(ip) {
        return Err(ApiError::too_many("Too many sign-in attempts from your address: wait a minute, then try again."));
    }
    let (Some(email), Some(pw)) = (body.email, body.password) else {
        return Err(ApiError::bad_request("invalid_request", "Send both email and password."));
    };
    let user = app.db.user_by_email(&email.trim().to_lowercase()).await?;
    if !password::verify(pw, user.as_ref().map(|u| u.password_hash.clone())).await {
        return Err(ApiError::bad_request(
            "invalid_grant",
            "Invalid login credentials: check the email and password, or reset the password.",
        ));
    }
    let user = user.expect("verified against a stored hash");
    if user.email_confirmed_at.is_none() {
        return Err(ApiError::bad_request(
            "email_not_confirmed",
            "Confirm your email first: open the link we sent to it.",
        ));
    }
    session_for(app, &user).await
}

async fn refresh_grant(app: &App, body: TokenRequest) -> ApiResult<TokenResponse> {
    let token = body
        .refresh_token
        .ok_or_else(|| ApiError::bad_request("invalid_request", "Send {\"refresh_token\": \"…\"}."))?;
    let invalid =
        |why: &str| ApiError::bad_request("invalid_grant", format!("Invalid Refresh Token: {why}. Sign in again."));
    match app.db.use_refresh_token(&secrets::hash(&token), app.config.refresh_reuse_interval as i64).await? {
        RefreshUse::Rotated(user_id) => {
            let user = app.db.user_by_id(&user_id).await?.ok_or_else(|| invalid("the account no longer exists"))?;
            session_for(app, &user).await
        }
        RefreshUse::Replayed => {
            tracing::warn!("a spent refresh token was presented again; the account's sessions were revoked");
            Err(invalid("it was already used (every session of this account was signed out, as a precaution)"))
        }
        RefreshUse::Invalid => Err(invalid("it is unknown or expired")),
    }
}

#[utoipa::path(get, path = "/auth/v1/user", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody)))]
pub(super) async fn get_user(app: Arc<App>, who: AuthUser) -> ApiResult<UserOut> {
    let u =
        app.db.user_by_id(&who.id).await?.ok_or_else(|| ApiError::unauthorized("This account no longer exists."))?;
    user_out(&app, &u).await
}

#[utoipa::path(put, path = "/auth/v1/user", tag = "auth", security(("bearer" = [])), request_body = UserUpdate,
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn put_user(app: Arc<App>, who: AuthUser, body: UserUpdate) -> ApiResult<UserOut> {
    if let Some(p) = body.password {
        check_password(&p)?;
        app.db.set_password(&who.id, &password::hash(p).await).await?;
        tracing::info!(user = %who.id, "password changed");
    }
    save_data(&app, &who.id, body.data).await?;
    get_user(app, who).await
}

#[utoipa::path(post, path = "/auth/v1/logout", tag = "auth", security(("bearer" = [])), request_body(content = Option<LogoutRequest>, description = "Optional: revoke only this refresh token"),
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(app: Arc<App>, who: AuthUser, body: bytes::Bytes) -> ApiResult<StatusCode> {
    // The body is optional (GoTrue clients send none); when sent, it must be what it says.
    let only = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<LogoutRequest>(&body)
            .map_err(|e| {
                ApiError::bad_request("invalid_json", format!("The request body is not a logout request: {e}."))
            })?
            .refresh_token
    };
    match only {
        Some(t) => app.db.revoke_refresh_token(&secrets::hash(&t)).await?,
        None => app.db.revoke_refresh_tokens(&who.id).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/v1/recover", tag = "auth", request_body = EmailRequest,
    responses((status = 200, description = "If the account exists, a reset link was sent (or printed on the relay's console)"),
              (status = 429, body = ErrorBody)))]
pub(super) async fn recover(
    app: Arc<App>,
    ip: IpAddr,
    host: Option<String>,
    body: EmailRequest,
) -> ApiResult<Response> {
    if !app.login_limit.check(ip) {
        return Err(ApiError::too_many("Too many attempts from your address: wait a minute, then try again."));
    }
    let email = normalise_email(&body.email.0)?;
    if let Some(u) = app.db.user_by_email(&email).await? {
        let token = secrets::token();
        app.db.store_one_time_token(&secrets::hash(&token), &u.id, "recovery", now_unix() + RECOVERY_TTL).await?;
        let link = format!("{}/reset-password?token={token}", app.public_url(host.as_deref()));
        app.mailer
            .send(
                &email,
                "Reset your PrivaClaw password",
                format!("Open this link within an hour to choose a new password:\n{link}\n"),
            )
            .await;
    }
    // The same answer either way: this endpoint must not reveal who has an account.
    Ok(reply_json(&serde_json::json!({})).into_response())
}

/// Email links land here; the token is checked when the page posts it back.
#[utoipa::path(get, path = "/auth/v1/verify", tag = "auth",
    params(("type" = Option<String>, Query, description = "`signup` or `recovery`"), ("token" = Option<String>, Query, description = "The one-time token from the email")),
    responses((status = 303, description = "Redirect to the web app")))]
pub(super) async fn verify_link(app: Arc<App>, q: HashMap<String, String>) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let to = match q.get("type").map(String::as_str) {
        Some("signup") => match app.db.take_one_time_token(&secrets::hash(&token), "signup").await {
            Ok(Some(user_id)) => match app.db.confirm_email(&user_id).await {
                Ok(()) => "/auth?confirmed=1".to_string(),
                Err(_) => "/auth?error=server".to_string(),
            },
            _ => "/auth?error=link_expired".to_string(),
        },
        Some("recovery") => format!(
            "/reset-password?token={}",
            token.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "")
        ),
        _ => "/auth?error=bad_link".to_string(),
    };
    warp::http::Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", to)
        .body(Default::default())
        .expect("static response")
}

#[utoipa::path(post, path = "/auth/v1/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, description = "Signed in (then set a new password with PUT /auth/v1/user)", body = TokenResponse),
              (status = 400, body = ErrorBody)))]
pub(super) async fn verify(app: Arc<App>, body: VerifyRequest) -> ApiResult<TokenResponse> {
    let kind = match body.kind.as_str() {
        k @ ("signup" | "recovery") => k,
        _ => {
            return Err(ApiError::bad_request("invalid_request", "type must be 'signup' or 'recovery'."));
        }
    };
    let user_id = app.db.take_one_time_token(&secrets::hash(&body.token), kind).await?.ok_or_else(|| {
        ApiError::bad_request("otp_expired", "This link is invalid, already used or expired: request a new one.")
    })?;
    app.db.confirm_email(&user_id).await?;
    let user = app
        .db
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| ApiError::bad_request("otp_expired", "The account no longer exists."))?;
    session_for(&app, &user).await
}
