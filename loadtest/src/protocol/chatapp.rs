//! chat-server's own protocol (docs/protocol.md), as much of it as a benchmark client needs:
//! `hello` -> `welcome`, `join` -> `joined` (with the room's offset), `send` -> `ack` and
//! `message` frames with offsets, `error` frames. Presence signals (`typing`, `read`) are written
//! by the client's session, which only sends them on this protocol.

use std::{borrow::Cow, sync::LazyLock};

use memchr::memmem::Finder;

use serde::Deserialize;

use super::{Event, Step, write_fields};
use crate::stats::read_stamp;

/// The fields of a server frame the benchmark reads; everything else is skipped unparsed.
#[derive(Debug, Deserialize)]
pub(crate) struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub room: Option<Cow<'a, str>>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub client_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
}

/// The `hello` of client `id`.
pub(super) fn hello(id: usize) -> String {
    format!(r#"{{"type":"hello","name":"bench-{id}"}}"#)
}

/// `welcome` -> send `join`; `joined` -> done; `error` -> failed; anything else is skipped.
pub(super) fn handshake(text: &str, room: &str) -> Step {
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        return Step::Fail("bad_frame".into());
    };
    match frame.kind.as_ref() {
        "welcome" => Step::Send(format!(r#"{{"type":"join","room":"{room}"}}"#)),
        "joined" => Step::Joined(frame.offset.unwrap_or(0)),
        "error" => Step::Fail(frame.code.map_or("error".into(), Cow::into_owned)),
        _ => Step::Wait,
    }
}

/// `{"type":"send",...}` with the send stamps of [`write_fields`].
pub(super) fn send_frame(
    out: &mut String,
    room: &str,
    id: usize,
    seq: u64,
    micros: u64,
    bytes: usize,
) {
    out.push_str(r#"{"type":"send","#);
    write_fields(out, room, id, seq, micros, bytes);
    out.push('}');
}

/// One server frame.
pub(super) fn decode(text: &str) -> Event<'_> {
    // Online-count pushes are the most frequent frame while thousands join: skip them unparsed.
    if text.starts_with(r#"{"type":"rooms""#) {
        return Event::Other;
    }
    if let Some(message) = message_as_written(text) {
        return message;
    }
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        return Event::Bad;
    };
    match frame.kind.as_ref() {
        "message" => Event::Message {
            room: frame.room,
            offset: frame.offset,
            sent: frame.content.as_deref().and_then(read_stamp),
        },
        "ack" => Event::Ack {
            offset: frame.offset,
            sent: frame.client_id.as_deref().and_then(stamp_of_client_id),
        },
        // An error with a `client_id` answers one of our sends; without one it answers something
        // else (a guest's `read`, a refused `typing`).
        "error" => Event::Error {
            code: frame.code.unwrap_or(Cow::Borrowed("error")),
            answers_send: frame.client_id.is_some(),
        },
        _ => Event::Other,
    }
}

/// A `message` frame as chat-server writes it (`type` and `room` first, `offset` last: the store
/// completes a serialised prefix with it), read without a JSON parse; `None` for any other shape,
/// which [`decode`] parses. At 400,000 deliveries a second the parse was a third of chat-bench's
/// CPU, and the one-core generator, not the server, set the fanout's latency (docs/benchmarks.md,
/// "Issue #10, round 4").
fn message_as_written(text: &str) -> Option<Event<'_>> {
    // Built once: `str::find` with a string pattern sets up its searcher on every call, which
    // was a fifth of chat-bench's CPU at 800,000 deliveries a second (round 5).
    static CONTENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(r#""content":""#));
    const OFFSET: &str = r#","offset":"#;
    let rest = text.strip_prefix(r#"{"type":"message","room":""#)?;
    let (room, rest) = rest.split_once('"')?;
    if room.contains('\\') {
        return None;
    }
    let body = rest.strip_suffix('}')?;
    // The offset's digits end the frame, after `,"offset":`.
    let digits = body.len() - body.bytes().rev().take_while(u8::is_ascii_digit).count();
    let offset = body[digits..].parse().ok()?;
    body[..digits].strip_suffix(OFFSET)?;
    // Within a JSON string every `"` is escaped: these are keys, never text, and nothing the
    // server nests in a message comes before its `content`.
    let content = &body[CONTENT.find(body.as_bytes())? + CONTENT.needle().len()..];
    Some(Event::Message {
        room: Some(Cow::Borrowed(room)),
        offset: Some(offset),
        sent: read_stamp(content),
    })
}

/// The send time in a client id written by [`write_fields`].
pub(crate) fn stamp_of_client_id(client_id: &str) -> Option<u64> {
    client_id.rsplit('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn send_frames_are_valid_protocol_and_carry_their_stamp() {
        let frame = Protocol::Chatapp.send_frame("bench-0", 7, 3, 123_456, 64);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["room"], "bench-0");
        assert_eq!(v["client_id"], "7.3.123456");
        let content = v["content"].as_str().unwrap();
        assert_eq!(content.len(), 64, "{content}");
        assert_eq!(read_stamp(content), Some(123_456));
        assert_eq!(
            stamp_of_client_id(v["client_id"].as_str().unwrap()),
            Some(123_456)
        );
        // Tiny sizes still carry the stamp.
        let tiny = Protocol::Chatapp.send_frame("r", 0, 1, 5, 1);
        let v: serde_json::Value = serde_json::from_str(&tiny).unwrap();
        assert_eq!(read_stamp(v["content"].as_str().unwrap()), Some(5));
    }

    /// Message frames as the server writes them: read without the parser exactly as with it;
    /// any other shape is left to the parser.
    #[test]
    fn a_message_as_written_reads_as_the_parser_reads_it() {
        let written = [
            r#"{"type":"message","room":"general","id":"0b7c","name":"Ann","user":null,"guest":true,"email":"ann@example.com","time":"2026-11-23T09:00:00.123Z","topic":"intro","content":"hi","client_id":"c-1","offset":42}"#,
            r#"{"type":"message","room":"general","id":"5d1e","name":"Bob","user":"bob","guest":false,"email":null,"time":"t","topic":null,"content":"agreed","client_id":"c-2","reply_to":41,"offset":43}"#,
            r#"{"type":"message","room":"bench-0","id":"a","name":"x \"content\":\"1 \",\"offset\":5}","email":null,"time":"t","topic":null,"content":"0000001234567890 xxxx","client_id":"1.2.3","offset":7}"#,
            r#"{"type":"message","room":"bench-0","id":"a","name":"n","content":"000000123456789","offset":8}"#,
        ];
        for frame in written {
            let parsed = serde_json::from_str::<Frame<'_>>(frame).unwrap();
            let expected = Event::Message {
                room: parsed.room,
                offset: parsed.offset,
                sent: parsed.content.as_deref().and_then(read_stamp),
            };
            assert_eq!(message_as_written(frame), Some(expected), "{frame}");
        }
        assert_eq!(
            message_as_written(written[2]),
            Some(Event::Message {
                room: Some("bench-0".into()),
                offset: Some(7),
                sent: Some(1_234_567_890)
            })
        );
        for other in [
            r#"{"type":"message","room":"r","offset":9,"content":"0000000000000001"}"#,
            r#"{"type":"message","room":"a\"b","content":"0000000000000001","offset":9}"#,
            r#"{"type":"message","room":"r","content":null,"offset":9}"#,
            r#"{"type":"message","room":"r","content":"0000000000000001","offset":9,"votes":{}}"#,
            r#"{"type":"ack","room":"r","offset":9}"#,
            // The digits that end it must be the offset's.
            r#"{"type":"message","room":"r","content":"0000000000000001","reply_to":9}"#,
            r#"{"type":"message","room":"r","content":"0000000000000001","offset":}"#,
            r#"{"type":"message","room":"r","content":"0000000000000001","offset":99999999999999999999}"#,
        ] {
            assert_eq!(message_as_written(other), None, "{other}");
        }
    }

    #[test]
    fn frames_parse_with_unknown_fields_and_escapes() {
        let e = decode(
            r#"{"type":"message","room":"r","offset":9,"id":"x","name":"a\"b","email":null,"time":"t","topic":null,"content":"0000000000000001 \u00e9","client_id":"1.2.3","extra":[1,{"a":2}]}"#,
        );
        assert_eq!(
            e,
            Event::Message {
                room: Some("r".into()),
                offset: Some(9),
                sent: Some(1)
            }
        );
        let e = decode(
            r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"1.1.1"}"#,
        );
        assert_eq!(
            e,
            Event::Error {
                code: "rate_limited".into(),
                answers_send: true
            }
        );
        let e = decode(r#"{"type":"error","code":"login_required"}"#);
        assert!(
            matches!(
                e,
                Event::Error {
                    answers_send: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = decode(r#"{"type":"ack","offset":4,"client_id":"1.2.77"}"#);
        assert_eq!(
            e,
            Event::Ack {
                offset: Some(4),
                sent: Some(77)
            }
        );
        assert_eq!(decode(r#"{"type":"rooms","rooms":[]}"#), Event::Other);
        assert_eq!(decode("not json"), Event::Bad);
    }

    #[test]
    fn the_handshake_is_hello_welcome_join_joined() {
        assert_eq!(
            Protocol::Chatapp.opening(3).as_deref(),
            Some(r#"{"type":"hello","name":"bench-3"}"#)
        );
        assert_eq!(
            handshake(r#"{"type":"welcome","guest_posting":true}"#, "r"),
            Step::Send(r#"{"type":"join","room":"r"}"#.into())
        );
        assert_eq!(handshake(r#"{"type":"rooms"}"#, "r"), Step::Wait);
        assert_eq!(
            handshake(r#"{"type":"joined","room":"r","offset":12}"#, "r"),
            Step::Joined(12)
        );
        assert_eq!(
            handshake(r#"{"type":"error","code":"room_not_found"}"#, "r"),
            Step::Fail("room_not_found".into())
        );
    }
}
