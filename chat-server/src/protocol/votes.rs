//! Replies and votes on the wire: parsing `send.reply_to` and `vote`, and merging a message's
//! current counts into its stored frame. Stored frames never hold counts (they change after the
//! send, and a frame is cached verbatim); pages get them merged in when they are served, from one
//! batched read of the store ([`Tally`]).

use serde_json::{Map, Value};

use super::{ClientMessage, ProtocolError, validate_room};

/// A message's replies and votes as one reader sees them: counts for everyone, `mine` (1, -1 or
/// 0) for the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub up: u64,
    pub down: u64,
    pub replies: u64,
    pub mine: i8,
}

impl Tally {
    /// Whether there is nothing but zeros (the stores leave such messages out of a read).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `reply_to`: absent, null, or an offset of 1 or more.
pub(super) fn parse_reply_to(obj: &Map<String, Value>) -> Result<Option<u64>, ProtocolError> {
    match obj.get("reply_to") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ProtocolError::field(
                "reply_to",
                "reply_to must be the offset (an integer >= 1) of a message in the same room",
            )),
        },
    }
}

/// `vote {room, offset, value}` with value 1 (up), -1 (down) or 0 (withdraw).
pub(super) fn parse_vote(obj: &Map<String, Value>) -> Result<ClientMessage, ProtocolError> {
    let room = match obj.get("room") {
        Some(Value::String(r)) => validate_room(r, "room")?,
        _ => return Err(ProtocolError::field("room", "room must be a string")),
    };
    let offset = obj
        .get("offset")
        .and_then(Value::as_u64)
        .filter(|o| *o >= 1)
        .ok_or_else(|| ProtocolError::field("offset", "offset must be an integer >= 1"))?;
    let value = match obj.get("value").and_then(Value::as_i64) {
        Some(v @ -1..=1) => v as i8,
        _ => {
            return Err(ProtocolError::field(
                "value",
                "value must be 1 (up), -1 (down) or 0 (withdraw)",
            ));
        }
    };
    Ok(ClientMessage::Vote {
        room,
        offset,
        value,
    })
}

/// The offset of a stored `message` frame: the last top-level `"offset":` key (inside a JSON
/// string a quote is always escaped, so user text cannot forge one).
pub fn frame_offset(frame: &str) -> Option<u64> {
    let at = frame.rfind("\"offset\":")? + "\"offset\":".len();
    let digits = frame[at..].bytes().take_while(u8::is_ascii_digit).count();
    frame[at..at + digits].parse().ok()
}

/// Whether a stored frame is a deleted message's tombstone (`"deleted":true`; inside a JSON
/// string a quote is always escaped, so user text cannot forge the key). A tombstone has no
/// replies or votes: none are served with it, and none can be added to it.
pub fn is_tombstone(frame: &str) -> bool {
    frame.contains("\"deleted\":true")
}

/// `frame` with its `reply_count` and `votes {up, down}` (zeros included), and `my_vote` when the
/// reader voted; a tombstone as it is.
pub fn with_tally(frame: &str, tally: &Tally) -> String {
    let Some(body) = frame.strip_suffix('}').filter(|_| !is_tombstone(frame)) else {
        return frame.to_owned();
    };
    let mut out = String::with_capacity(frame.len() + 64);
    out.push_str(body);
    out.push_str(&format!(
        ",\"reply_count\":{},\"votes\":{{\"up\":{},\"down\":{}}}",
        tally.replies, tally.up, tally.down
    ));
    if tally.mine != 0 {
        out.push_str(&format!(",\"my_vote\":{}", tally.mine));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Limits, complete_frame};

    fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        ClientMessage::parse(text, &Limits::default())
    }

    #[test]
    fn votes_and_replies_parse_and_bad_values_name_their_field() {
        assert_eq!(
            parse(r#"{"type":"vote","room":"general","offset":3,"value":-1}"#).unwrap(),
            ClientMessage::Vote {
                room: "general".into(),
                offset: 3,
                value: -1
            }
        );
        for (bad, field) in [
            (
                r#"{"type":"vote","room":"general","offset":3,"value":2}"#,
                "value",
            ),
            (
                r#"{"type":"vote","room":"general","offset":3,"value":"1"}"#,
                "value",
            ),
            (
                r#"{"type":"vote","room":"general","offset":0,"value":1}"#,
                "offset",
            ),
            (
                r#"{"type":"vote","room":"Gen","offset":1,"value":1}"#,
                "room",
            ),
            (
                r#"{"type":"send","room":"a","content":"x","client_id":"1","reply_to":0}"#,
                "reply_to",
            ),
            (
                r#"{"type":"send","room":"a","content":"x","client_id":"1","reply_to":-4}"#,
                "reply_to",
            ),
        ] {
            assert_eq!(parse(bad).unwrap_err().field, Some(field), "{bad}");
        }
        let send = r#"{"type":"send","room":"a","content":"x","client_id":"1","reply_to":7}"#;
        assert!(matches!(
            parse(send).unwrap(),
            ClientMessage::Send {
                reply_to: Some(7),
                ..
            }
        ));
    }

    #[test]
    fn counts_are_merged_into_a_stored_frame_as_valid_json() {
        let prefix = r#"{"type":"message","content":"say \"offset\":9","reply_to":2,"offset":"#;
        let frame = complete_frame(prefix, 41);
        assert_eq!(frame_offset(&frame), Some(41));
        let v: Value = serde_json::from_str(&with_tally(&frame, &Tally::default())).unwrap();
        assert_eq!(v["reply_count"], 0);
        assert_eq!(v["votes"], serde_json::json!({"up": 0, "down": 0}));
        assert!(v.get("my_vote").is_none());
        let tally = Tally {
            up: 3,
            down: 1,
            replies: 2,
            mine: -1,
        };
        let v: Value = serde_json::from_str(&with_tally(&frame, &tally)).unwrap();
        assert_eq!(v["offset"], 41);
        assert_eq!(v["reply_count"], 2);
        assert_eq!(v["votes"]["up"], 3);
        assert_eq!(v["votes"]["down"], 1);
        assert_eq!(v["my_vote"], -1);
        assert_eq!(v["content"], "say \"offset\":9");
    }
}
