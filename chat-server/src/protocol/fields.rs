//! The field rules shared by client frames: reading a required or optional string or flag out of
//! a frame's object, and validating names, emails, topics, content, room names and client ids.
//! Each returns the value in its canonical form or an `invalid_field` [`ProtocolError`].

use serde_json::{Map, Value};

use super::ProtocolError;
use super::text::{self, Unfit};
use crate::limits::{MAX_CLIENT_ID_CHARS, MAX_EMAIL_CHARS, MAX_EMAIL_LOCAL_BYTES, MAX_ROOM_CHARS};

pub(super) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ProtocolError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be a string"),
        )),
        None => Err(ProtocolError::field(field, format!("{field} is required"))),
    }
}

pub(super) fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ProtocolError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be a string or null"),
        )),
    }
}

pub(super) fn optional_bool(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<bool, ProtocolError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A sender name in its canonical spelling (see `text`), 1..=max characters of it.
pub fn validate_name(raw: &str, max: usize) -> Result<String, ProtocolError> {
    let out_of_range =
        || ProtocolError::field("name", format!("name must be 1 to {max} characters"));
    let name = match text::canonical(raw) {
        Ok(name) => name,
        Err(Unfit::Blank) => return Err(out_of_range()),
        Err(why) => {
            return Err(ProtocolError::field(
                "name",
                format!("name {}", why.explain()),
            ));
        }
    };
    if name.chars().count() > max {
        return Err(out_of_range());
    }
    Ok(name)
}

/// An optional email: empty means none; otherwise a plausible `local@domain.tld`.
pub fn validate_email(raw: Option<&str>) -> Result<Option<String>, ProtocolError> {
    let Some(email) = raw.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let bad = || ProtocolError::field("email", "email must look like name@example.com");
    if email.chars().count() > MAX_EMAIL_CHARS
        || has_control(email)
        || text::has_invisible(email)
        || email.chars().any(char::is_whitespace)
    {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_BYTES || local.contains('@') || !domain_ok
    {
        return Err(bad());
    }
    Ok(Some(email.to_owned()))
}

/// An optional topic in its canonical spelling (see `text`); blank means none.
pub fn validate_topic(raw: Option<&str>, max: usize) -> Result<Option<String>, ProtocolError> {
    let topic = match raw.map(text::canonical) {
        None | Some(Err(Unfit::Blank)) => return Ok(None),
        Some(Err(why)) => {
            return Err(ProtocolError::field(
                "topic",
                format!("topic {}", why.explain()),
            ));
        }
        Some(Ok(topic)) => topic,
    };
    if topic.chars().count() > max {
        return Err(ProtocolError::field(
            "topic",
            format!("topic must be at most {max} characters"),
        ));
    }
    Ok(Some(topic))
}

/// Message content: 1..=max bytes, not blank, no control characters but newline and tab.
pub fn validate_content(raw: &str, max: usize) -> Result<String, ProtocolError> {
    if raw.is_empty() || raw.len() > max {
        return Err(ProtocolError::field(
            "content",
            format!("content must be 1 to {max} bytes"),
        ));
    }
    if raw.trim().is_empty() {
        return Err(ProtocolError::field("content", "content must not be blank"));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(ProtocolError::field(
            "content",
            "content must not contain control characters other than newline and tab",
        ));
    }
    Ok(raw.to_owned())
}

/// A room name: 1..=32 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn validate_room(raw: &str, field: &'static str) -> Result<String, ProtocolError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ROOM_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && raw.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ProtocolError::field(
            field,
            format!(
                "{field} must be 1 to {MAX_ROOM_CHARS} characters of a-z, 0-9, '-' or '_', \
                 starting with a letter or digit"
            ),
        ))
    }
}

/// A client-chosen id: 1..=64 printable ASCII characters.
pub fn validate_client_id(raw: &str) -> Result<String, ProtocolError> {
    if raw.is_empty()
        || raw.len() > MAX_CLIENT_ID_CHARS
        || !raw.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ProtocolError::field(
            "client_id",
            format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} printable ASCII characters"),
        ));
    }
    Ok(raw.to_owned())
}
