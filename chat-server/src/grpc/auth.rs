//! The support API's one credential: the bearer token from `CHATAPP_SUPPORT_API_TOKEN` (a
//! Secret in Kubernetes, never a flag so it stays out of `ps`), checked on every call in constant
//! time. Anything else is `UNAUTHENTICATED`, with the same message whatever was wrong.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

use crate::limits::MIN_SUPPORT_API_TOKEN_CHARS;

/// The environment variable holding the token.
pub const TOKEN_ENV: &str = "CHATAPP_SUPPORT_API_TOKEN";

/// Why the token cannot be used (a start-up error).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{TOKEN_ENV} must be set when --grpc-listen is (the support API is never anonymous)")]
    Missing,
    #[error(
        "{TOKEN_ENV} must be at least {MIN_SUPPORT_API_TOKEN_CHARS} characters (printable ASCII, no spaces)"
    )]
    Weak,
}

/// The support API's bearer token, kept as its SHA-256 so comparisons take the same time
/// whatever the length of what a caller sent.
#[derive(Clone)]
pub struct ApiToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// Check a token: at least [`MIN_SUPPORT_API_TOKEN_CHARS`] of printable ASCII (it travels in
    /// an HTTP/2 header).
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let printable = token.bytes().all(|b| b.is_ascii_graphic());
        if token.len() < MIN_SUPPORT_API_TOKEN_CHARS || !printable {
            return Err(TokenError::Weak);
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// The token from [`TOKEN_ENV`], surrounding whitespace ignored (a Secret written with a
    /// trailing newline works).
    pub fn from_env() -> Result<Self, TokenError> {
        match std::env::var(TOKEN_ENV) {
            Ok(token) => Self::new(token.trim()),
            Err(_) => Err(TokenError::Missing),
        }
    }

    /// Whether `presented` is this token.
    fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        self.digest.ct_eq(&digest).into()
    }

    /// The interceptor of every call: `authorization: Bearer <token>` or `UNAUTHENTICATED`.
    pub(crate) fn check<T>(&self, request: Request<T>) -> Result<Request<T>, Status> {
        // The scheme is case-insensitive (RFC 9110, 11.1); the token is compared exactly.
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.as_bytes().split_at_checked(7))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token);
        match presented {
            Some(token) if self.matches(token) => Ok(request),
            _ => Err(Status::unauthenticated(
                "send `authorization: Bearer <support API token>`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn call(authorization: Option<&str>) -> Result<Request<()>, Status> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        ApiToken::new(TOKEN).unwrap().check(request)
    }

    #[test]
    fn only_the_bearer_token_passes() {
        assert!(call(Some(&format!("Bearer {TOKEN}"))).is_ok());
        assert!(call(Some(&format!("bearer {TOKEN}"))).is_ok());
        for bad in [
            None,
            Some(TOKEN),
            Some("Bearer "),
            Some("Bearer  0123456789abcdef0123456789abcdef"),
            Some("Bearer 0123456789abcdef0123456789abcdeF"),
            Some("Bearer 0123456789abcdef0123456789abcdef0"),
            Some("Basic 0123456789abcdef0123456789abcdef"),
        ] {
            let status = call(bad).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused_at_start() {
        assert!(matches!(ApiToken::new(&TOKEN[1..]), Err(TokenError::Weak)));
        let spaced = format!("{} {}", &TOKEN[..16], &TOKEN[16..]);
        assert!(matches!(ApiToken::new(&spaced), Err(TokenError::Weak)));
        assert!(ApiToken::new(TOKEN).is_ok());
    }
}
