//! The WebSocket under every browser session: the HTTP/1.1 handshake (RFC 6455 4.2) and
//! [`Socket`], tungstenite's WebSocket with changes that keep an idle connection small and a
//! delivery cheap. tungstenite formats every frame into a write buffer that grows to the largest
//! amount ever buffered and never shrinks; behind axum's socket that was the largest frame or
//! batch the connection ever wrote (a 100-room `rooms` list is about 10 KB, a `joined` page more),
//! kept for the connection's life (docs/benchmarks.md, "Issue #10, round 2"). Here tungstenite
//! writes each frame through at once into [`Buffered`], whose buffer collects a batch until the
//! session flushes and is released once the socket took it. A text message, every delivery,
//! does not go through tungstenite at all: a server frame is unmasked, so the frame is its 2-10
//! header bytes and the shared payload as it is; both go straight into the batch (tungstenite's
//! frame machinery and its own copy were a fifth of a delivery's time, docs/benchmarks.md "Issue
//! #10, round 3"). A text message longer than [`FRAGMENT_BYTES`] goes out as several frames of
//! one message (RFC 6455 5.4). tungstenite still writes ping, pong and close, in order with the
//! text frames, and reads. Batching is unchanged: one syscall per flush. The session sees axum's
//! `Message`, as before.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    body::{Body, Bytes},
    extract::{
        Request,
        ws::{CloseFrame, Message, Utf8Bytes},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{Sink, Stream};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::{
    Error as WsError, Message as WsMessage, Utf8Bytes as WsUtf8Bytes,
    protocol::{CloseFrame as WsCloseFrame, Role, WebSocketConfig, frame::coding::CloseCode},
};

/// Most payload bytes in one frame written. A longer text message is sent as several frames,
/// so tungstenite's write buffer, which keeps its largest size, stays about this small.
pub(crate) const FRAGMENT_BYTES: usize = 512;

/// A checked WebSocket handshake: the `101` response to send and the upgrade it leads to.
pub(crate) struct Handshake {
    pub(crate) response: Response,
    pub(crate) upgrade: OnUpgrade,
}

/// Check a WebSocket handshake request (HTTP/1.1, RFC 6455 4.2.1); refused with the status
/// axum's `WebSocketUpgrade` gave for the same fault.
#[allow(clippy::result_large_err)] // a refusal is an HTTP response, built once per request
pub(crate) fn handshake(req: &mut Request) -> Result<Handshake, Response> {
    let refuse = |status: StatusCode, why: &'static str| Err((status, why).into_response());
    if req.method() != Method::GET {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket handshake must be GET\n",
        );
    }
    let headers = req.headers();
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Connection header must include upgrade\n",
        );
    }
    if !header_is(headers, header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Upgrade header must be websocket\n",
        );
    }
    if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Version must be 13\n",
        );
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing\n");
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let Some(upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "connection cannot be upgraded\n",
        );
    };
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("a 101 with valid headers");
    Ok(Handshake { response, upgrade })
}

fn header_is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// One upgraded connection's WebSocket (the server side), speaking axum's [`Message`].
pub(crate) struct Socket<T = TokioIo<Upgraded>> {
    inner: WebSocketStream<Buffered<T>>,
    /// A close was sent or received: tungstenite refuses data frames from then on, and so do the
    /// text frames written past it.
    closing: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Socket<T> {
    /// The server side of an upgraded connection. `config`'s write buffer size is replaced:
    /// every frame is written through to [`Buffered`] at once.
    pub(crate) async fn new(io: T, config: WebSocketConfig) -> Self {
        let config = config.write_buffer_size(0);
        let io = Buffered::new(io);
        let inner = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        Self {
            inner,
            closing: false,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for Socket<T> {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(read) = ready!(Pin::new(&mut self.inner).poll_next(cx)) else {
                return Poll::Ready(None);
            };
            if matches!(read, Ok(WsMessage::Close(_))) {
                self.closing = true; // tungstenite queued its reply
            }
            // A raw frame is never read (tungstenite assembles messages); skip it if it were.
            if let Some(message) = read.and_then(from_tungstenite).transpose() {
                return Poll::Ready(Some(message));
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Socket<T> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        match message {
            Message::Text(_) | Message::Close(_) if self.closing => Err(WsError::Protocol(
                tungstenite::error::ProtocolError::SendAfterClosing,
            )),
            Message::Text(text) => {
                // Beside tungstenite, which holds nothing unwritten: it writes every frame through
                // to `Buffered` at once (a pong it owes goes out at the next flush, and a control
                // frame may come between any two frames, RFC 6455 5.4).
                let out = self.inner.get_mut();
                for (header, payload) in fragments(text.as_bytes()) {
                    out.push_frame(header.as_bytes(), payload);
                }
                Ok(())
            }
            other => {
                self.closing |= matches!(other, Message::Close(_));
                Pin::new(&mut self.inner).start_send(to_tungstenite(other))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A text message as frames of at most [`FRAGMENT_BYTES`] payload bytes: the first a text frame,
/// the rest continuations, the last final; each a header and a slice of the payload, which
/// [`Buffered::push_frame`] copies (slices of the shared `Bytes` cost two reference counts a
/// frame, each an atomic operation on a line every recipient's session touches). (The text is
/// UTF-8 already; a fragment may end inside a character, which RFC 6455 allows: the receiver
/// checks the whole message.)
fn fragments(text: &[u8]) -> impl Iterator<Item = (Header, &[u8])> {
    let count = text.len().div_ceil(FRAGMENT_BYTES).max(1);
    (0..count).map(move |i| {
        let start = i * FRAGMENT_BYTES;
        let end = (start + FRAGMENT_BYTES).min(text.len());
        let opcode = if i == 0 { OPCODE_TEXT } else { OPCODE_CONTINUE };
        let header = Header::new(i + 1 == count, opcode, end - start);
        (header, &text[start..end])
    })
}

const OPCODE_CONTINUE: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;

/// An unmasked frame's header (RFC 6455 5.2): 2 bytes, 4 with a 16-bit length, 10 with a 64-bit.
#[derive(Debug, Clone, Copy)]
struct Header {
    bytes: [u8; 10],
    len: u8,
}

impl Header {
    fn new(fin: bool, opcode: u8, payload: usize) -> Self {
        let mut bytes = [0; 10];
        bytes[0] = if fin { 0x80 } else { 0 } | opcode;
        let len = if payload < 126 {
            bytes[1] = payload as u8;
            2
        } else if let Ok(short) = u16::try_from(payload) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload as u64).to_be_bytes());
            10
        };
        Self { bytes, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

fn to_tungstenite(message: Message) -> WsMessage {
    match message {
        Message::Text(text) => WsMessage::Text(WsUtf8Bytes::from(text.as_str())),
        Message::Binary(data) => WsMessage::Binary(data),
        Message::Ping(data) => WsMessage::Ping(data),
        Message::Pong(data) => WsMessage::Pong(data),
        Message::Close(close) => WsMessage::Close(close.map(|c| WsCloseFrame {
            code: CloseCode::from(c.code),
            reason: WsUtf8Bytes::from(c.reason.as_str()),
        })),
    }
}

fn from_tungstenite(message: WsMessage) -> Result<Option<Message>, WsError> {
    let utf8 = |bytes: Bytes| Utf8Bytes::try_from(bytes).map_err(|e| WsError::Utf8(e.to_string()));
    Ok(Some(match message {
        WsMessage::Text(text) => Message::Text(utf8(text.into())?),
        WsMessage::Binary(data) => Message::Binary(data),
        WsMessage::Ping(data) => Message::Ping(data),
        WsMessage::Pong(data) => Message::Pong(data),
        WsMessage::Close(close) => Message::Close(match close {
            Some(c) => Some(CloseFrame {
                code: c.code.into(),
                reason: utf8(c.reason.into())?,
            }),
            None => None,
        }),
        WsMessage::Frame(_) => return Ok(None),
    }))
}

/// The connection under tungstenite: writes collect in a buffer that the next flush hands to
/// the socket and then releases, so a connection that is not writing holds none. Text frames are
/// put here directly ([`Self::push_frame`]): their payload is copied once, into the batch the
/// socket reads, which costs less than handing the socket a slice per frame (one `writev` with
/// two slices a frame made the kernel's copy twice as slow as the copy it saved,
/// docs/benchmarks.md "Issue #10, round 3"). It takes every write at once; what bounds it is the
/// session, which flushes after every batch (`session.rs`, `WRITE_BATCH_BYTES`) and waits for
/// the flush.
pub(crate) struct Buffered<T> {
    io: T,
    out: Vec<u8>,
    /// How much of `out` the socket took already.
    written: usize,
}

/// A batch's buffer starts this large, so a batch of small frames does not reallocate often (from
/// 512 B, a full batch of 16 KiB grew five times: `realloc` was 2 % of a delivery's time in the
/// 1,000-member fanout). Released after each flush, so it is no memory of an idle connection.
const FIRST_CAPACITY: usize = 4096;

impl<T> Buffered<T> {
    pub(crate) fn new(io: T) -> Self {
        Self {
            io,
            out: Vec::new(),
            written: 0,
        }
    }

    fn push(&mut self, buf: &[u8]) {
        if self.out.capacity() == 0 {
            self.out.reserve(buf.len().max(FIRST_CAPACITY));
        }
        self.out.extend_from_slice(buf);
    }

    /// Append a frame: its header and its payload.
    fn push_frame(&mut self, header: &[u8], payload: &[u8]) {
        self.out.reserve(header.len() + payload.len());
        self.push(header);
        self.push(payload);
    }

    /// Bytes waiting for the next flush.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.out.len() - self.written
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Buffered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Buffered<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.written < this.out.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &this.out[this.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.written += n;
        }
        // All taken: give the buffer back rather than keep the largest batch ever written.
        this.out = Vec::new();
        this.written = 0;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
