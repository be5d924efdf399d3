//! Core NATS over WebSocket (nats-server's `websocket` listener): the text protocol of
//! `INFO`, `CONNECT`, `SUB`, `PUB`, `MSG`, `PING`, `PONG`, `+OK`, `-ERR`, each operation a line
//! ending in CRLF (a `MSG` followed by its payload). A room is the subject `chat.ROOM`, a message's
//! payload the same JSON object socket.io relays (`room`, `client_id`, `content` with the stamp).
//!
//! Joining is `CONNECT` + `SUB` + `PING`, done at the `PONG` (the server has the subscription).
//! Core NATS has no acks: each `PUB` is followed by a `PING`, and its `PONG` (the server answers in
//! order, after processing everything before it on the connection, as a NATS client's `flush()`
//! waits for) stands for the ack. The ack latency is thus "the server has routed the message",
//! measured the same way as a NATS client's flush; it carries no stamp, so the client keeps its
//! send stamps in order. There are no offsets.

use std::borrow::Cow;

use serde::Deserialize;

use super::{Event, Step, write_fields};
use crate::stats::read_stamp;

/// Subjects of rooms: `chat.ROOM`.
const SUBJECT_PREFIX: &str = "chat.";
/// Most bytes kept of an operation that spans frames (1 MiB of payload and its header line).
const MAX_CARRY: usize = (1 << 20) + 4096;
/// What the client says after the server's `INFO`: no `+OK` per operation, its own messages
/// delivered back to it (every member counts the delivery, the sender included, as on the others).
const CONNECT: &str = r#"CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"chat-bench","lang":"rust","version":"0","protocol":1,"echo":true,"headers":false,"no_responders":false}"#;

/// The payload field the benchmark reads.
#[derive(Debug, Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// `INFO` -> connect, subscribe, ping; `PONG` -> done. Operations may be cut across frames: a
/// frame that does not end a line asks for [`Step::More`].
pub(super) fn handshake(text: &str, room: &str) -> Step {
    if !text.ends_with("\r\n") {
        return Step::More;
    }
    for line in text.split("\r\n") {
        match line.split(' ').next().unwrap_or("") {
            "INFO" => {
                return Step::Send(format!(
                    "{CONNECT}\r\nSUB {SUBJECT_PREFIX}{room} 1\r\nPING\r\n"
                ));
            }
            "PONG" => return Step::Joined(0),
            "PING" => return Step::Send("PONG\r\n".into()),
            "-ERR" => return Step::Fail("nats_err".into()),
            _ => {}
        }
    }
    Step::Wait
}

/// `PUB chat.ROOM LEN\r\nPAYLOAD\r\nPING\r\n`, the payload `{"room":…,"client_id":…,"content":…}`.
pub(super) fn send_frame(
    out: &mut String,
    room: &str,
    id: usize,
    seq: u64,
    micros: u64,
    bytes: usize,
) {
    use std::fmt::Write;
    let mut payload = String::with_capacity(96 + room.len() + bytes);
    payload.push('{');
    write_fields(&mut payload, room, id, seq, micros, bytes);
    payload.push('}');
    let _ = write!(
        out,
        "PUB {SUBJECT_PREFIX}{room} {}\r\n{payload}\r\nPING\r\n",
        payload.len()
    );
}

/// The operations of one connection, reassembled across WebSocket frames.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// The start of an operation whose end has not arrived yet.
    carry: Vec<u8>,
}

impl Reader {
    /// Takes one frame's bytes and hands every complete operation to `f`.
    pub(crate) fn feed(&mut self, data: &[u8], f: &mut dyn FnMut(Event<'_>)) {
        if self.carry.is_empty() {
            let used = parse_all(data, f);
            self.carry.extend_from_slice(&data[used..]);
        } else {
            self.carry.extend_from_slice(data);
            let used = parse_all(&self.carry, f);
            self.carry.drain(..used);
        }
        if self.carry.len() > MAX_CARRY {
            self.carry.clear();
            f(Event::Bad);
        }
    }
}

fn parse_all(buf: &[u8], f: &mut dyn FnMut(Event<'_>)) -> usize {
    let mut at = 0;
    while let Some((event, len)) = parse_op(&buf[at..]) {
        f(event);
        at += len;
    }
    at
}

/// The operation at the start of `buf` and its length in bytes; `None` until it is complete.
fn parse_op(buf: &[u8]) -> Option<(Event<'_>, usize)> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = &buf[..eol];
    let next = eol + 2;
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let event = match words.next().unwrap_or_default() {
        b"MSG" => {
            // MSG <subject> <sid> [reply-to] <#bytes>
            let args: Vec<&[u8]> = words.collect();
            let (Some(subject), Some(len)) = (args.first(), args.last().and_then(|l| number(l)))
            else {
                return Some((Event::Bad, next));
            };
            if args.len() < 3 || args.len() > 4 {
                return Some((Event::Bad, next));
            }
            if len > MAX_CARRY {
                return Some((Event::Bad, next));
            }
            let end = next + len;
            if buf.len() < end + 2 {
                return None;
            }
            return Some((message(subject, &buf[next..end]), end + 2));
        }
        b"PING" => Event::Ping("PONG\r\n"),
        b"PONG" => Event::Ack {
            offset: None,
            sent: None,
        },
        b"-ERR" => Event::Error {
            code: Cow::Borrowed("nats_err"),
            answers_send: false,
        },
        b"+OK" | b"INFO" => Event::Other,
        _ => Event::Bad,
    };
    Some((event, next))
}

fn number(digits: &[u8]) -> Option<usize> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn message<'a>(subject: &'a [u8], payload: &'a [u8]) -> Event<'a> {
    let room = std::str::from_utf8(subject)
        .ok()
        .and_then(|s| s.strip_prefix(SUBJECT_PREFIX))
        .map(Cow::Borrowed);
    let sent = std::str::from_utf8(payload)
        .ok()
        .and_then(|p| serde_json::from_str::<Payload<'_>>(p).ok())
        .and_then(|p| p.content.as_deref().and_then(read_stamp));
    Event::Message {
        room,
        offset: None,
        sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn events(reader: &mut Reader, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        reader.feed(data, &mut |e| out.push(format!("{e:?}")));
        out
    }

    #[test]
    fn the_handshake_is_info_connect_sub_ping_pong() {
        let info = "INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n";
        let Step::Send(reply) = handshake(info, "bench-2") else {
            panic!("INFO must be answered");
        };
        let lines: Vec<&str> = reply.split("\r\n").collect();
        assert!(lines[0].starts_with("CONNECT {"), "{reply}");
        let connect: serde_json::Value = serde_json::from_str(&lines[0][8..]).unwrap();
        assert_eq!(connect["verbose"], false);
        assert_eq!(connect["echo"], true);
        assert_eq!(&lines[1..], ["SUB chat.bench-2 1", "PING", ""]);
        assert_eq!(handshake("PONG\r\n", "r"), Step::Joined(0));
        assert_eq!(handshake("PING\r\n", "r"), Step::Send("PONG\r\n".into()));
        assert_eq!(
            handshake("-ERR 'Authorization Violation'\r\n", "r"),
            Step::Fail("nats_err".into())
        );
        assert_eq!(handshake("+OK\r\n", "r"), Step::Wait);
        // Cut frames wait for the rest of the line.
        assert_eq!(handshake("PO", "r"), Step::More);
        assert_eq!(handshake("PONG\r\nMS", "r"), Step::More);
        assert_eq!(handshake("INFO {\"a\":", "r"), Step::More);
    }

    #[test]
    fn sends_are_pub_with_an_exact_length_then_ping() {
        let frame = Protocol::Nats.send_frame("bench-0", 7, 3, 123_456, 64);
        let (header, rest) = frame.split_once("\r\n").unwrap();
        let (payload, tail) = rest.split_once("\r\n").unwrap();
        assert_eq!(header, format!("PUB chat.bench-0 {}", payload.len()));
        assert_eq!(tail, "PING\r\n");
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(v["client_id"], "7.3.123456");
        assert_eq!(read_stamp(v["content"].as_str().unwrap()), Some(123_456));
    }

    #[test]
    fn operations_are_split_and_joined_across_frames() {
        let payload = r#"{"room":"r","client_id":"1.1.5","content":"0000000000000005 x"}"#;
        let stream = format!(
            "MSG chat.r 1 {}\r\n{payload}\r\nPONG\r\nPING\r\n+OK\r\nMSG chat.r 1 _INBOX.x 2\r\nab\r\n",
            payload.len()
        );
        let expected = [
            r#"Message { room: Some("r"), offset: None, sent: Some(5) }"#,
            "Ack { offset: None, sent: None }",
            r#"Ping("PONG\r\n")"#,
            "Other",
            r#"Message { room: Some("r"), offset: None, sent: None }"#,
        ];
        // All at once, and cut at every byte: the same operations in the same order.
        assert_eq!(events(&mut Reader::default(), stream.as_bytes()), expected);
        for cut in 1..stream.len() {
            let mut reader = Reader::default();
            let mut got = events(&mut reader, &stream.as_bytes()[..cut]);
            got.extend(events(&mut reader, &stream.as_bytes()[cut..]));
            assert_eq!(got, expected, "cut at {cut}");
            assert!(reader.carry.is_empty());
        }
    }

    #[test]
    fn bad_input_is_bounded() {
        let mut reader = Reader::default();
        assert_eq!(events(&mut reader, b"WHAT\r\n"), ["Bad"]);
        assert_eq!(events(&mut reader, b"MSG chat.r\r\n"), ["Bad"]);
        // A line that never ends is dropped once it outgrows the largest operation.
        let long = vec![b'x'; MAX_CARRY + 1];
        assert_eq!(events(&mut reader, &long), ["Bad"]);
        assert!(reader.carry.is_empty());
        // A MSG announcing more than the largest payload is refused at once.
        assert_eq!(
            events(&mut reader, b"MSG chat.r 1 99999999999\r\n"),
            ["Bad"]
        );
        assert!(reader.carry.is_empty());
    }
}
