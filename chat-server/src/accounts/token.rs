//! Session tokens and the session cookie. A token is 32 bytes from the OS's random source,
//! base64url without padding (43 characters); only its SHA-256 (hex) is ever stored or published,
//! so a copy of the database or of Redis signs nobody in. The cookie is `HttpOnly`,
//! `SameSite=Lax`, `Path=/`, with the session's lifetime as `Max-Age`, `Secure` per
//! `--cookie-secure`.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "chatapp_session";
/// Length of a token in its cookie form.
const TOKEN_CHARS: usize = 43;

/// A new random token (256 bits), as the cookie carries it.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a token, hex: the only form the server keeps.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session token of a request's `Cookie` headers, when one is there and well-formed.
pub fn from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_owned())
        .filter(|t| t.len() == TOKEN_CHARS && URL_SAFE_NO_PAD.decode(t).is_ok())
}

/// The `Set-Cookie` value that stores `token` for `max_age_secs`.
pub fn set_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    Cookie::build((COOKIE_NAME, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs as i64))
        .secure(secure)
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&a));
        assert_eq!(hash, token_hash(&a));
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_read_back() {
        let token = new_token();
        let set = set_cookie(&token, 3600, false);
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Secure"), "{set}");
        assert!(set_cookie(&token, 1, true).contains("Secure"));
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {COOKIE_NAME}={token}");
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        assert_eq!(from_headers(&headers), Some(token));
        headers.insert(
            header::COOKIE,
            format!("{COOKIE_NAME}=short").parse().unwrap(),
        );
        assert_eq!(from_headers(&headers), None, "malformed tokens are ignored");
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
