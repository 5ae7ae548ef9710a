//! `/auth/v1/*`: the relay is its own auth server, with a GoTrue-compatible subset so
//! Supabase-style clients work: sign-up, password and refresh-token grants, user, logout,
//! recovery and verification links.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::filters::{AuthUser, Origin, client_ip, json, origin, user, with};
use super::profile::ProfileUpdate;
use crate::app::App;
use crate::auth::{password, secrets};
use crate::config::Signups;
use crate::store::{RefreshUse, Scope, User, now_unix};
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
/// How long a sign-in made by a reset link may set a new password without the current one.
const RECOVERY_WINDOW: i64 = 15 * 60;

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub email: Email,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// Optional profile fields at sign-up.
    #[schema(value_type = Option<ProfileUpdate>)]
    pub data: Option<Data>,
    /// The token of an invitation link: lets this sign-up through on a relay with
    /// `--signups invite`. (Joining the project is a separate step:
    /// `POST /api/v1/invitations/accept`.)
    pub invite_token: Option<String>,
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
    /// A new password; needs `current_password`, unless this sign-in came from a reset link
    /// in the last 15 minutes. Every other sign-in of the account is ended.
    pub password: Option<String>,
    /// The password in use now.
    pub current_password: Option<String>,
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
    /// Sign out only the sign-in this refresh token belongs to.
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
    let signup = base
        .and(warp::path!("signup"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip(app))
        .and(origin(app))
        .and(json())
        .then(signup);
    let token = base
        .and(warp::path!("token"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip(app))
        .and(warp::query::<HashMap<String, String>>())
        .and(json())
        .then(token);
    let get_user = base.and(warp::path!("user")).and(warp::get()).and(with(app)).and(user(app)).then(get_user);
    let put_user = base
        .and(warp::path!("user"))
        .and(warp::put())
        .and(with(app))
        .and(user(app))
        .and(client_ip(app))
        .and(json())
        .then(put_user);
    let logout = base
        .and(warp::path!("logout"))
        .and(warp::post())
        .and(with(app))
        .and(user(app))
        .and(warp::query::<HashMap<String, String>>())
        .and(super::filters::body())
        .then(logout);
    let recover = base
        .and(warp::path!("recover"))
        .and(warp::post())
        .and(with(app))
        .and(client_ip(app))
        .and(origin(app))
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

/// Signs `u` in: a new sign-in with an access token and its first refresh token.
/// `recovery`: made by a reset link, so it may set a password without the current one.
async fn sign_in(app: &App, u: &User, recovery: bool) -> ApiResult<TokenResponse> {
    let session = app.db.create_sign_in(&u.id, recovery.then(|| now_unix() + RECOVERY_WINDOW)).await?;
    let refresh = secrets::token();
    app.db.store_refresh_token(&secrets::hash(&refresh), &u.id, &session, now_unix() + REFRESH_TTL).await?;
    tokens(app, u, &session, refresh).await
}

/// An access token for sign-in `session` of `u`, with `refresh`.
async fn tokens(app: &App, u: &User, session: &str, refresh: String) -> ApiResult<TokenResponse> {
    Ok(TokenResponse {
        access_token: app.keys.issue(&u.id, &u.email, session),
        token_type: "bearer",
        expires_in: app.keys.ttl,
        expires_at: now_unix() + app.keys.ttl,
        refresh_token: refresh,
        user: user_out(app, u).await?,
    })
}

fn busy(_: password::Busy) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "The relay is busy checking passwords: try again in a few seconds.",
    )
}

fn user_exists() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "user_already_exists",
        "An account with this email already exists: sign in, or reset the password.",
    )
}

/// What sign-up answers when the address has to be confirmed: the same whether or not the
/// address already had an account.
fn confirmation_sent(id: &str, email: &str) -> Response {
    let user = serde_json::json!({"id": id, "email": email, "email_confirmed_at": null, "user_metadata": {}});
    reply_json(
        &serde_json::json!({"id": id, "email": email, "confirmation_sent_at": crate::store::now_iso(), "user": user}),
    )
    .into_response()
}

#[utoipa::path(post, path = "/auth/v1/signup", tag = "auth", request_body = Credentials,
    responses((status = 200, description = "Signed up and signed in (no email confirmation on this relay); or, where addresses are confirmed by email, the same answer whether or not the address already had an account (its owner is mailed instead)", body = TokenResponse),
              (status = 400, body = ErrorBody), (status = 403, description = "Sign-ups are closed, or invitation-only and no valid invite_token was given", body = ErrorBody),
              (status = 422, description = "The email already has an account (relays without email confirmation)", body = ErrorBody),
              (status = 429, description = "Too many sign-ups from this address", body = ErrorBody),
              (status = 503, description = "Too many passwords being hashed: retry shortly", body = ErrorBody)))]
pub(super) async fn signup(app: Arc<App>, ip: IpAddr, origin: Origin, body: Credentials) -> ApiResult<Response> {
    let email = normalise_email(&body.email.0)?;
    check_password(&body.password)?;
    if !app.limits.signup.check(ip).await {
        return Err(ApiError::too_many("Too many sign-ups from your address: wait a minute, then try again."));
    }
    let first = app.db.count_users().await? == 0;
    let invited = match body.invite_token.as_deref() {
        Some(t) => app.db.pending_invitation(&secrets::hash(t)).await?.is_some(),
        None => false,
    };
    match app.config.signups {
        _ if first => {}
        Signups::Open => {}
        Signups::Invite if invited => {}
        Signups::Invite => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "signups_invite_only",
                "This relay only accepts people who were invited: open the invitation link a project owner gave you, and sign up from there.",
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
    let confirms = app.mailer.confirms();
    if let Some(existing) = app.db.user_by_email(&email).await? {
        if !confirms {
            return Err(user_exists());
        }
        // Say nothing a stranger could learn from: hash as a new account would, answer as for
        // one, and tell the address's owner instead.
        app.hasher.waste(body.password).await.map_err(busy)?;
        let text = if existing.email_confirmed_at.is_some() {
            format!(
                "Someone tried to create a PrivaClaw account with this address, which already has one. \
                 If it was you, sign in, or reset your password: {origin}/auth?mode=forgot\n"
            )
        } else {
            let link = confirm_link(&app, &existing.id, &origin).await?;
            format!("Open this link to confirm your account:\n{link}\n")
        };
        app.mailer.send_later(email.clone(), "Your PrivaClaw account".into(), text);
        return Ok(confirmation_sent(&crate::store::new_id(), &email));
    }
    let hash = app.hasher.hash(body.password).await.map_err(busy)?;
    let user = match app.db.create_user(&email, &hash, !confirms).await {
        Ok(u) => u,
        Err(e) if crate::store::is_unique_violation(&e) => return Err(user_exists()),
        Err(e) => return Err(e.into()),
    };
    save_data(&app, &user.id, body.data).await?;
    tracing::info!(user = %user.id, "account created");
    if !confirms {
        return Ok(reply_json(&sign_in(&app, &user, false).await?).into_response());
    }
    let link = confirm_link(&app, &user.id, &origin).await?;
    app.mailer.send_later(
        email.clone(),
        "Confirm your PrivaClaw account".into(),
        format!("Open this link to confirm your account:\n{link}\n"),
    );
    Ok(confirmation_sent(&user.id, &email))
}

/// A fresh email-confirmation link for `user_id`.
async fn confirm_link(app: &App, user_id: &str, origin: &Origin) -> ApiResult<String> {
    let token = secrets::token();
    app.db.store_one_time_token(&secrets::hash(&token), user_id, "signup", now_unix() + CONFIRM_TTL).await?;
    Ok(format!("{origin}/auth/v1/verify?type=signup&token={token}"))
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
    if !app.limits.login.check(ip).await {
        return Err(ApiError::too_many("Too many sign-in attempts from your address: wait a minute, then try again."));
    }
    let (Some(email), Some(pw)) = (body.email, body.password) else {
        return Err(ApiError::bad_request("invalid_request", "Send both email and password."));
    };
    let email = email.trim().to_lowercase();
    let user = check_password_of(app, &email, pw).await?;
    if user.email_confirmed_at.is_none() {
        return Err(ApiError::bad_request(
            "email_not_confirmed",
            "Confirm your email first: open the link we sent to it.",
        ));
    }
    sign_in(app, &user, false).await
}

/// The account of `email` if `password` is its password. Failures count against the account
/// (from every address together), so one account cannot be guessed at from many addresses.
async fn check_password_of(app: &App, email: &str, password: String) -> ApiResult<User> {
    if app.limits.account_failures.blocked(email).await {
        return Err(ApiError::too_many(
            "Too many failed sign-ins for this account: wait 15 minutes, or reset the password by email.",
        ));
    }
    let user = app.db.user_by_email(email).await?;
    let ok = app.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await.map_err(busy)?;
    match user {
        Some(u) if ok => {
            app.limits.account_failures.clear(email).await;
            Ok(u)
        }
        _ => {
            app.limits.account_failures.fail(email).await;
            Err(ApiError::bad_request(
                "invalid_grant",
                "Invalid login credentials: check the email and password, or reset the password.",
            ))
        }
    }
}

async fn refresh_grant(app: &App, body: TokenRequest) -> ApiResult<TokenResponse> {
    let token = body
        .refresh_token
        .ok_or_else(|| ApiError::bad_request("invalid_request", "Send {\"refresh_token\": \"…\"}."))?;
    let invalid =
        |why: &str| ApiError::bad_request("invalid_grant", format!("Invalid Refresh Token: {why}. Sign in again."));
    let successor = app.keys.successor(&token);
    let reuse = app.config.refresh_reuse_interval as i64;
    let found = app
        .db
        .rotate_refresh_token(&secrets::hash(&token), &secrets::hash(&successor), reuse, now_unix() + REFRESH_TTL)
        .await?;
    match found {
        RefreshUse::Rotated { user_id, session_id } | RefreshUse::Reused { user_id, session_id } => {
            let user = app.db.user_by_id(&user_id).await?.ok_or_else(|| invalid("the account no longer exists"))?;
            tokens(app, &user, &session_id, successor).await
        }
        RefreshUse::Replayed { user_id } => {
            tracing::warn!(user = %user_id, "a spent refresh token was presented again; the account's sign-ins were revoked");
            app.signed_out(&user_id, Scope::All, REVOKED_REPLAY);
            Err(invalid("it was already used (every session of this account was signed out, as a precaution)"))
        }
        RefreshUse::Invalid => Err(invalid("it is unknown, expired or signed out")),
    }
}

/// Why sign-ins ended, as the people affected are told.
const REVOKED_REPLAY: &str =
    "An old sign-in token of your account was used again, so every sign-in was ended as a precaution: sign in again.";
const REVOKED_PASSWORD: &str = "The account's password was changed: sign in again with the new one.";
const REVOKED_LOGOUT: &str = "You signed out: sign in again to continue.";

#[utoipa::path(get, path = "/auth/v1/user", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody)))]
pub(super) async fn get_user(app: Arc<App>, who: AuthUser) -> ApiResult<UserOut> {
    let u =
        app.db.user_by_id(&who.id).await?.ok_or_else(|| ApiError::unauthorized("This account no longer exists."))?;
    user_out(&app, &u).await
}

#[utoipa::path(put, path = "/auth/v1/user", tag = "auth", security(("bearer" = [])), request_body = UserUpdate,
    responses((status = 200, body = UserOut), (status = 400, description = "Bad input, or the current password is missing or wrong", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn put_user(app: Arc<App>, who: AuthUser, ip: IpAddr, body: UserUpdate) -> ApiResult<UserOut> {
    if let Some(p) = body.password {
        check_password(&p)?;
        if !app.limits.signup.check(ip).await {
            return Err(ApiError::too_many(
                "Too many password changes from your address: wait a minute, then try again.",
            ));
        }
        if !app.db.in_recovery(&who.session_id).await? {
            let current = body.current_password.ok_or_else(|| {
                ApiError::bad_request(
                    "current_password_required",
                    "To change the password, also send the current one as current_password (forgot it? use a reset link).",
                )
            })?;
            check_password_of(&app, &who.email, current).await.map_err(|e| match e.code {
                "invalid_grant" => ApiError::bad_request(
                    "wrong_password",
                    "The current password is wrong: type it again, or reset the password by email.",
                ),
                _ => e,
            })?;
        }
        let hash = app.hasher.hash(p).await.map_err(busy)?;
        app.db.set_password(&who.id, &hash).await?;
        // This sign-in stays; every other one, and every reset link still unused, ends now.
        app.revoke_sign_ins(&who.id, Scope::AllBut(who.session_id.clone()), REVOKED_PASSWORD).await?;
        tracing::info!(user = %who.id, "password changed; other sign-ins revoked");
    }
    save_data(&app, &who.id, body.data).await?;
    get_user(app, who).await
}

#[utoipa::path(post, path = "/auth/v1/logout", tag = "auth", security(("bearer" = [])), request_body(content = Option<LogoutRequest>, description = "Optional: sign out only the sign-in of this refresh token"),
    params(("scope" = Option<String>, Query, description = "`global` (every sign-in of the account, the default), `local` (this one) or `others` (all but this one)")),
    responses((status = 204, description = "Signed out: the tokens stop working and open terminals and event streams of those sign-ins are closed"), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(
    app: Arc<App>,
    who: AuthUser,
    query: HashMap<String, String>,
    body: bytes::Bytes,
) -> ApiResult<StatusCode> {
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
    let token_session = match only {
        Some(t) => app.db.sign_in_of_refresh_token(&secrets::hash(&t), &who.id).await?,
        None => None,
    };
    let scope = match (query.get("scope").map(String::as_str), token_session) {
        (Some("local"), _) => Scope::Only(who.session_id.clone()),
        (Some("others"), _) => Scope::AllBut(who.session_id.clone()),
        (Some("global"), _) => Scope::All,
        (Some(_), _) => {
            return Err(ApiError::bad_request("invalid_query", "scope must be global, local or others."));
        }
        (None, Some(s)) => Scope::Only(s),
        (None, None) => Scope::All,
    };
    app.revoke_sign_ins(&who.id, scope, REVOKED_LOGOUT).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/v1/recover", tag = "auth", request_body = EmailRequest,
    responses((status = 200, description = "If the account exists, a reset link is on its way (or printed on the relay's console); the answer and its timing are the same either way"),
              (status = 429, body = ErrorBody)))]
pub(super) async fn recover(app: Arc<App>, ip: IpAddr, origin: Origin, body: EmailRequest) -> ApiResult<Response> {
    if !app.limits.login.check(ip).await {
        return Err(ApiError::too_many("Too many attempts from your address: wait a minute, then try again."));
    }
    let email = normalise_email(&body.email.0)?;
    // Everything that depends on whether the account exists happens after the answer, so the
    // answer's timing cannot tell.
    let later = app.clone();
    tokio::spawn(async move {
        let app = later;
        let user = match app.db.user_by_email(&email).await {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => return tracing::warn!(error = %e, "cannot look up an account for a reset link"),
        };
        let token = secrets::token();
        let stored =
            app.db.store_one_time_token(&secrets::hash(&token), &user.id, "recovery", now_unix() + RECOVERY_TTL).await;
        if let Err(e) = stored {
            return tracing::warn!(error = %e, "cannot store a reset link");
        }
        let link = format!("{origin}/reset-password?token={token}");
        let text = format!("Open this link within an hour to choose a new password:\n{link}\n");
        app.mailer.send(&email, "Reset your PrivaClaw password", text).await;
    });
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
    responses((status = 200, description = "Signed in; after a recovery link, PUT /auth/v1/user may set a new password without the current one for 15 minutes", body = TokenResponse),
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
    if kind == "recovery" {
        app.limits.account_failures.clear(&user.email).await;
    }
    sign_in(&app, &user, kind == "recovery").await
}
