//! API errors: `{"error": "<code>", "message": "<what went wrong and what to do>"}` with the
//! right HTTP status. Handlers return them; filters reject with them; `recover` renders them.

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `not_found`, `forbidden`, `invalid_json`.
    pub error: String,
    /// A sentence for people: what went wrong and what to do.
    pub message: String,
}

impl warp::reject::Reject for ApiError {}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code.into(), message: self.message };
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// The caller can see the thing but may not change it (a member, not the owner).
    pub fn owner_only(action: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("Only the project's owner can {action}. Ask the owner to do it."),
        )
    }

    /// Used both for what does not exist and for what belongs to someone else, so strangers
    /// learn nothing about other projects.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No {what} with this id is visible to you: check the id, or ask its owner to add you."),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_many(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "database error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The relay could not complete this because its database failed; try again, and check the relay's log if it persists.",
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
