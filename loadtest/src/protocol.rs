//! The wire protocols chat-bench speaks (`--protocol`): chat-server's own (docs/protocol.md, the
//! default), socket.io 4 over a raw WebSocket and core NATS over WebSocket, the last two so that
//! `loadtest/bench/peers.sh` measures those servers with the same generator. Each adapter is a set
//! of pure functions in its own module: the handshake up to "joined", the send frame carrying the
//! send stamp, and a decoder turning what the server sends into `Event`s. The client (socket,
//! phases, accounting) is the same for every protocol and lives in the private `client` module.

use std::borrow::Cow;

use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::write_stamp;

mod chatapp;
mod nats;
mod socketio;

pub(crate) use chatapp::{Frame, stamp_of_client_id};

/// A wire protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// chat-server's protocol (docs/protocol.md): `hello`, `join`, `send`, `ack` with offsets.
    #[default]
    Chatapp,
    /// socket.io 4 (Engine.IO v4 over WebSocket) with the events of
    /// `loadtest/bench/peers/socketio/server.js`: `join`, `send` and `message`, acks by callback.
    Socketio,
    /// Core NATS over WebSocket: a room is the subject `chat.ROOM`; the "ack" of a send is the
    /// `PONG` to a `PING` sent right after its `PUB` (NATS has no acks: a client's flush).
    Nats,
}

/// What one server frame (or, for NATS, one protocol operation) means to a client.
#[derive(Debug, PartialEq)]
pub(crate) enum Event<'a> {
    /// A chat message in `room`; `sent` is the send stamp in its content (none: not ours).
    Message {
        room: Option<Cow<'a, str>>,
        offset: Option<u64>,
        sent: Option<u64>,
    },
    /// The answer to one of our sends; `sent` is its stamp, or `None` when acks come in the order
    /// of the sends and carry nothing (NATS: the client keeps the stamps).
    Ack {
        offset: Option<u64>,
        sent: Option<u64>,
    },
    /// An error; `answers_send` when it settles one of our sends.
    Error {
        code: Cow<'a, str>,
        answers_send: bool,
    },
    /// The server's keep-alive, to be answered with this frame.
    Ping(&'static str),
    /// A frame that is not ours to parse.
    Bad,
    /// Anything else (room lists, presence, `+OK`): skipped.
    Other,
}

/// What the client does with a frame read during the handshake.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Keep reading.
    Wait,
    /// The frame ends in the middle of something: read the next one and call again with both.
    More,
    /// Send this frame, then keep reading.
    Send(String),
    /// Joined; the room's offset at the join (0 where there are no offsets).
    Joined(u64),
    /// The handshake failed, with this error code.
    Fail(String),
}

impl Protocol {
    /// The URL of the WebSocket handshake for `url` as given: socket.io gets its Engine.IO path
    /// and query unless the URL already has them.
    pub(crate) fn handshake_url(self, url: &str) -> String {
        match self {
            Protocol::Socketio => socketio::handshake_url(url),
            Protocol::Chatapp | Protocol::Nats => url.to_owned(),
        }
    }

    /// The frame the client sends as soon as the WebSocket is open, if any.
    pub(crate) fn opening(self, id: usize) -> Option<String> {
        match self {
            Protocol::Chatapp => Some(chatapp::hello(id)),
            Protocol::Socketio | Protocol::Nats => None,
        }
    }

    /// What to do with `frame`, read while connecting to and joining `room`.
    pub(crate) fn handshake(self, frame: &str, room: &str) -> Step {
        match self {
            Protocol::Chatapp => chatapp::handshake(frame, room),
            Protocol::Socketio => socketio::handshake(frame, room),
            Protocol::Nats => nats::handshake(frame, room),
        }
    }

    /// One send to `room` of `content_bytes` bytes of content, stamped with `micros`.
    pub(crate) fn send_frame(
        self,
        room: &str,
        id: usize,
        seq: u64,
        micros: u64,
        content_bytes: usize,
    ) -> String {
        let mut out = String::with_capacity(128 + room.len() + content_bytes);
        match self {
            Protocol::Chatapp => {
                chatapp::send_frame(&mut out, room, id, seq, micros, content_bytes)
            }
            Protocol::Socketio => {
                socketio::send_frame(&mut out, room, id, seq, micros, content_bytes)
            }
            Protocol::Nats => nats::send_frame(&mut out, room, id, seq, micros, content_bytes),
        }
        out
    }

    /// A frame as a WebSocket message: text, except NATS, whose clients send binary.
    pub(crate) fn message(self, frame: String) -> Message {
        match self {
            Protocol::Nats => Message::binary(frame),
            Protocol::Chatapp | Protocol::Socketio => Message::text(frame),
        }
    }

    /// Whether acks arrive in send order without saying which send they answer.
    pub(crate) fn acks_in_order(self) -> bool {
        self == Protocol::Nats
    }

    /// A fresh decoder for one connection.
    pub(crate) fn decoder(self) -> Decoder {
        match self {
            Protocol::Chatapp => Decoder::Chatapp,
            Protocol::Socketio => Decoder::Socketio,
            Protocol::Nats => Decoder::Nats(nats::Reader::default()),
        }
    }
}

/// Turns a connection's frames into [`Event`]s. Only NATS keeps state: its operations may span
/// WebSocket frames, and one frame may hold several.
#[derive(Debug, Default)]
pub(crate) enum Decoder {
    #[default]
    Chatapp,
    Socketio,
    Nats(nats::Reader),
}

impl Decoder {
    /// Decodes one WebSocket message (text or binary), handing each event to `f`.
    pub(crate) fn decode(&mut self, message: &Message, f: &mut dyn FnMut(Event<'_>)) {
        match (self, message) {
            (Decoder::Chatapp, Message::Text(text)) => f(chatapp::decode(text)),
            (Decoder::Socketio, Message::Text(text)) => f(socketio::decode(text)),
            (Decoder::Nats(reader), Message::Text(text)) => reader.feed(text.as_bytes(), f),
            (Decoder::Nats(reader), Message::Binary(data)) => reader.feed(data, f),
            _ => {}
        }
    }
}

/// Writes `"room":…,"client_id":"ID.SEQ.MICROS","content":"STAMP xxx…"`: the fields every
/// adapter's send carries, with the send time in both the content (every recipient times the
/// delivery) and the client id (the sender times the ack), so no lookup table is needed.
fn write_fields(out: &mut String, room: &str, id: usize, seq: u64, micros: u64, bytes: usize) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#""room":"{room}","client_id":"{id}.{seq}.{micros}","content":""#
    );
    write_stamp(out, micros);
    out.push(' ');
    out.extend(std::iter::repeat_n('x', bytes.saturating_sub(17)));
    out.push('"');
}
