//! socket.io 4 over a raw WebSocket: Engine.IO v4 text packets carrying socket.io packets, with
//! the events of `loadtest/bench/peers/socketio/server.js`. The packets used:
//!
//! - `0{"sid":…,"pingInterval":…}` Engine.IO open (server) -> the client connects to the main
//!   namespace with `40`, answered `40{"sid":…}` (or `44{…}`, a connect error);
//! - `42[event,…]` an event, `42<id>[event,…]` one that asks for an ack, `43<id>[…]` the ack;
//! - `2` ping (server) -> `3` pong (client); `41` the namespace is closed.
//!
//! Joining is `420["join",ROOM]` answered by `430[…]` (ack id 0); sends use their sequence number
//! (from 1) as ack id and carry the stamps in `client_id` and `content`; there are no offsets.

use std::borrow::Cow;

use serde::Deserialize;

use super::{Event, Step, stamp_of_client_id, write_fields};
use crate::stats::read_stamp;

/// The Engine.IO path and query of a WebSocket-only client.
const ENGINE_IO: &str = "/socket.io/?EIO=4&transport=websocket";

/// The fields of a `message` event or a send's ack that the benchmark reads.
#[derive(Debug, Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    room: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// `ws://HOST:PORT` -> `ws://HOST:PORT/socket.io/?EIO=4&transport=websocket`; a URL that names
/// its Engine.IO version already is kept.
pub(super) fn handshake_url(url: &str) -> String {
    if url.contains("EIO=") {
        return url.to_owned();
    }
    format!("{}{ENGINE_IO}", url.trim_end_matches('/'))
}

/// open -> connect; connected -> join; join's ack -> done.
pub(super) fn handshake(text: &str, room: &str) -> Step {
    match text.as_bytes() {
        [b'0', b'{', ..] => Step::Send("40".into()),
        [b'4', b'0', ..] => Step::Send(format!(r#"420["join","{room}"]"#)),
        [b'4', b'3', b'0', b'[', ..] => Step::Joined(0),
        [b'4', b'4', ..] => Step::Fail("socketio_connect_error".into()),
        [b'4', b'1', ..] | [b'1', ..] => Step::Fail("socketio_disconnect".into()),
        [b'2'] => Step::Send("3".into()),
        _ => Step::Wait,
    }
}

/// `42SEQ["send",{"room":…,"client_id":…,"content":…}]`.
pub(super) fn send_frame(
    out: &mut String,
    room: &str,
    id: usize,
    seq: u64,
    micros: u64,
    bytes: usize,
) {
    use std::fmt::Write;
    let _ = write!(out, r#"42{seq}["send",{{"#);
    write_fields(out, room, id, seq, micros, bytes);
    out.push_str("}]");
}

/// One Engine.IO packet.
pub(super) fn decode(text: &str) -> Event<'_> {
    if text == "2" {
        return Event::Ping("3");
    }
    if let Some(args) = text.strip_prefix("42") {
        return match serde_json::from_str::<(Cow<'_, str>, Payload<'_>)>(args) {
            Ok((event, p)) if event == "message" => Event::Message {
                room: p.room,
                offset: None,
                sent: p.content.as_deref().and_then(read_stamp),
            },
            Ok(_) => Event::Other,
            Err(_) => Event::Bad,
        };
    }
    if let Some(rest) = text.strip_prefix("43") {
        let args = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        return match serde_json::from_str::<(Payload<'_>,)>(args) {
            Ok((p,)) => Event::Ack {
                offset: None,
                sent: p.client_id.as_deref().and_then(stamp_of_client_id),
            },
            Err(_) => Event::Bad,
        };
    }
    if text.starts_with("41") || text.starts_with("44") || text.starts_with('1') {
        return Event::Error {
            code: Cow::Borrowed("socketio_disconnect"),
            answers_send: false,
        };
    }
    Event::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn urls_get_the_engine_io_path_once() {
        assert_eq!(
            handshake_url("ws://127.0.0.1:3000"),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            handshake_url("ws://127.0.0.1:3000/"),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        let given = "ws://127.0.0.1:3000/x/?EIO=4&transport=websocket";
        assert_eq!(handshake_url(given), given);
    }

    #[test]
    fn the_handshake_is_open_connect_join_ack() {
        let open = r#"0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        assert_eq!(handshake(open, "r"), Step::Send("40".into()));
        assert_eq!(
            handshake(r#"40{"sid":"b"}"#, "bench-1"),
            Step::Send(r#"420["join","bench-1"]"#.into())
        );
        assert_eq!(
            handshake(r#"430[{"room":"bench-1"}]"#, "bench-1"),
            Step::Joined(0)
        );
        assert_eq!(handshake("2", "r"), Step::Send("3".into()));
        assert_eq!(
            handshake(r#"44{"message":"nope"}"#, "r"),
            Step::Fail("socketio_connect_error".into())
        );
        assert_eq!(handshake(r#"42["other"]"#, "r"), Step::Wait);
    }

    #[test]
    fn sends_are_events_with_an_ack_id_and_their_stamps() {
        let frame = Protocol::Socketio.send_frame("bench-0", 7, 3, 123_456, 64);
        let json = frame.strip_prefix("423").expect(&frame);
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v[0], "send");
        assert_eq!(v[1]["room"], "bench-0");
        assert_eq!(v[1]["client_id"], "7.3.123456");
        let content = v[1]["content"].as_str().unwrap();
        assert_eq!(content.len(), 64);
        assert_eq!(read_stamp(content), Some(123_456));
    }

    #[test]
    fn messages_acks_and_pings_decode() {
        let m = r#"42["message",{"room":"r","client_id":"1.2.9","content":"0000000000000042 xx"}]"#;
        assert_eq!(
            decode(m),
            Event::Message {
                room: Some("r".into()),
                offset: None,
                sent: Some(42)
            }
        );
        assert_eq!(
            decode(r#"4317[{"client_id":"1.17.99"}]"#),
            Event::Ack {
                offset: None,
                sent: Some(99)
            }
        );
        assert_eq!(decode("2"), Event::Ping("3"));
        assert_eq!(decode(r#"42["typing",{}]"#), Event::Other);
        assert_eq!(decode("42not json"), Event::Bad);
        assert!(matches!(
            decode("41"),
            Event::Error {
                answers_send: false,
                ..
            }
        ));
        // A whole send frame read back as the server relays it is a message with the stamp.
        let sent = Protocol::Socketio.send_frame("r", 1, 1, 77, 20);
        let relayed = sent.replacen("421[\"send\"", "42[\"message\"", 1);
        assert!(matches!(
            decode(&relayed),
            Event::Message { sent: Some(77), .. }
        ));
    }
}
