//! The value parsers of the settings that clap cannot check by itself: URLs, origins, usernames,
//! rates and the Redis prefix. Each returns the message `--help` users see on a bad value.

/// An http(s) URL with a host, as browsers open it.
pub(super) fn parse_public_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

/// An allowlist entry: `*`, or an http(s) origin in its serialised form (lower-case host, no
/// default port, no trailing slash), which is how a browser writes its `Origin` header.
pub(super) fn parse_origin(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Ok(String::new()),
        "*" => Ok("*".into()),
        origin => Ok(parse_public_url(origin)?.origin().ascii_serialization()),
    }
}

/// An admin's username, by the username rule (an empty entry is skipped).
pub(super) fn parse_admin(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Ok(String::new()),
        name => crate::accounts::validate_username(name)
            .map(|_| name.to_owned())
            .map_err(|e| e.message),
    }
}

pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 100_000.0 => Ok(r),
        _ => Err("a number of messages per second above 0 and at most 100000".into()),
    }
}

pub(super) fn parse_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1 to 64 characters of a-z, A-Z, 0-9, '-', '_', '.', ':'".into())
    }
}
