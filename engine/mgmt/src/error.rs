//! The one error shape of the API: an HTTP status and
//! `{"error": {"code": …, "message": …, "errors": […]}}`, where `errors`
//! carries configuration errors with file, line and fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use headend_model::config::ConfigErrors;
use serde::Serialize;

/// One configuration error, as `check` prints it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigProblem {
    /// The file.
    pub file: String,
    /// 1-based line (0: no single place).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// A configuration's errors as JSON records.
pub fn problems(e: &ConfigErrors) -> Vec<ConfigProblem> {
    e.0.iter()
        .map(|c| ConfigProblem {
            file: c.file.display().to_string(),
            line: c.line,
            message: c.message.clone(),
            fix: c.fix.clone(),
        })
        .collect()
}

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Configuration errors, when a candidate configuration was refused.
    pub errors: Vec<ConfigProblem>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ConfigProblem>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }
    /// 400: the request is malformed.
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    /// 401: no valid credentials.
    pub fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    /// 403: authenticated, not allowed.
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    /// 409: conflicts with what exists.
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", m)
    }
    /// 422: a configuration was refused.
    pub fn config(e: &ConfigErrors) -> ApiError {
        let mut a = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "config_invalid",
            "the configuration is invalid; the running one stays",
        );
        a.errors = problems(e);
        a
    }
    /// 429: too many failed logins.
    pub fn too_many(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m)
    }
    /// 503: the store did not take the change.
    pub fn unavailable(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
    }
    /// 500.
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m)
    }
}

impl From<headend_store::StoreError> for ApiError {
    fn from(e: headend_store::StoreError) -> ApiError {
        ApiError::unavailable(format!("store: {e}"))
    }
}

impl From<crate::users::UserError> for ApiError {
    fn from(e: crate::users::UserError) -> ApiError {
        use crate::users::UserError as U;
        match e {
            U::BadName(_) | U::BadPassword | U::BadRole(_) => ApiError::bad_request(e.to_string()),
            U::Exists(_) => ApiError::conflict(e.to_string()),
            U::Unknown(_) => ApiError::not_found(e.to_string()),
            U::Store(s) => s.into(),
            U::Hash(_) | U::Corrupt(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                errors: self.errors,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
