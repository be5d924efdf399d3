//! [`ApiError`]: every error answer of the accounts endpoints, in one place:
//! `{"error": {"code", "message", "field"?}}` with its status and, for waits, `Retry-After`.
//! Store failures are logged here once and answered `unavailable` without internals.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::password::Busy;
use crate::protocol::ProtocolError;

/// An error answer of the accounts API.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub(super) fn bad_credentials(retry_after: Duration) -> Self {
        Self {
            retry_after: (!retry_after.is_zero()).then_some(retry_after),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong username or password",
            )
        }
    }

    pub(super) fn rate_limited(wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many attempts; try again in {} s", retry_secs(wait)),
            )
        }
    }

    pub(super) fn login_required() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "login_required", "log in first")
    }

    pub(super) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the account store is unavailable; try again",
        )
    }

    pub(super) fn taken() -> Self {
        Self {
            field: Some("username"),
            ..Self::new(
                StatusCode::CONFLICT,
                "username_taken",
                "this username is taken",
            )
        }
    }

    pub(super) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as Content-Type: application/json",
        )
    }

    pub(super) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "cross-site request refused",
        )
    }

    pub(super) fn bad_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "the body must be a JSON object",
        )
    }
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        Self {
            field: e.field,
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", e.message)
        }
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        tracing::warn!(error = %e, "account store operation failed");
        Self::unavailable()
    }
}

impl From<Busy> for ApiError {
    fn from(_: Busy) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is busy; try again",
        )
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        let mut res = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(wait) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(wait)));
        }
        res
    }
}
