//! One support API call as an in-process chat session: the bridge starts a [`Session`] over
//! channels as the platform's client (no chat logic is repeated here), writes it the same JSON
//! frames a browser would (`hello`, `support_open`, `join`, `send`, `read`, `typing`, `ping`) and
//! reads what it answers. The session's admission, rate limits and write timeout apply as to any
//! WebSocket; its error frames become gRPC statuses here, in one place.

use std::{convert::Infallible, net::IpAddr, sync::atomic::Ordering};

use axum::extract::ws::{CloseFrame, Message};
use futures_util::stream;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use tonic::Status;

use super::{client::PlatformClient, events::conversation_of, proto::Conversation};
use crate::{
    AppState,
    session::{Admission, Duplex, Session, close},
};

/// Frames queued into the session: a call writes a few requests and the answers to pings.
const TO_SESSION: usize = 16;
/// Frames queued out of the session before its writes wait (and its write timeout runs).
const FROM_SESSION: usize = 64;

/// The platform's client connected as a chat session.
pub(crate) struct Bridge {
    to_session: mpsc::Sender<Message>,
    from_session: mpsc::Receiver<Message>,
    /// The id of the next `ping`.
    pings: u64,
}

impl Bridge {
    /// Start a session as `client`, counted like a WebSocket from `peer`, and identify it.
    pub(crate) async fn connect(
        state: &AppState,
        client: &PlatformClient,
        peer: IpAddr,
    ) -> Result<Self, Status> {
        let lifecycle = &state.lifecycle;
        if lifecycle.draining.load(Ordering::Relaxed) || lifecycle.sessions.is_cancelled() {
            return Err(Status::unavailable("the server is shutting down"));
        }
        let busy = || Status::resource_exhausted("too many connections; retry later");
        let permit = state
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy())?;
        let address = state.addresses.admit(peer).ok_or_else(busy)?;
        let admission = Admission {
            _permit: permit,
            address,
        };
        let (to_session, inbound) = mpsc::channel::<Message>(TO_SESSION);
        let (outbound, from_session) = mpsc::channel::<Message>(FROM_SESSION);
        let input = Box::pin(stream::unfold(inbound, |mut rx| async move {
            rx.recv().await.map(|m| (Ok::<_, Infallible>(m), rx))
        }));
        // Not `sink::unfold`: after one failed write (the call went away) the session still
        // writes its close frame, which `unfold` answers with a panic; `PollSender` with an error.
        let output = Box::pin(PollSender::new(outbound));
        let session = Session::new(state.clone(), admission, client.visitor());
        // Tracked with the WebSockets: shutdown closes it (1001) and waits for it.
        lifecycle.tracker.spawn(session.run(Duplex {
            sink: output,
            stream: input,
        }));
        let mut bridge = Self {
            to_session,
            from_session,
            pings: 0,
        };
        let hello = json!({"type": "hello", "name": client.name, "email": client.email});
        bridge.request(hello, "welcome").await?;
        Ok(bridge)
    }

    /// Open (or find) the client's conversation.
    pub(crate) async fn open(&mut self, client: &PlatformClient) -> Result<Conversation, Status> {
        let opened = self
            .request(json!({"type": "support_open"}), "support_opened")
            .await?;
        conversation_of(&opened, &client.key)
            .ok_or_else(|| Status::internal("the chat answered support_open without a room"))
    }

    /// Join the conversation's room: its `joined` frame (the recent page and the head offset).
    pub(crate) async fn join(&mut self, room: &str) -> Result<Value, Status> {
        self.request(json!({"type": "join", "room": room}), "joined")
            .await
    }

    /// Write a frame and wait for the answer of type `answer` (an `error` fails the call).
    pub(crate) async fn request(&mut self, frame: Value, answer: &str) -> Result<Value, Status> {
        self.post(frame).await?;
        self.answer(|frame| frame["type"] == answer).await
    }

    /// Write a frame that has no answer when it succeeds (`read`, `typing`), then wait until the
    /// session has handled it: it handles frames in order, so its `pong` to a `ping` written
    /// after comes after any error.
    pub(crate) async fn request_quiet(&mut self, frame: Value) -> Result<(), Status> {
        self.post(frame).await?;
        self.pings += 1;
        let id = self.pings;
        self.post(json!({"type": "ping", "id": id})).await?;
        self.answer(|frame| frame["type"] == "pong" && frame["id"] == id)
            .await
            .map(drop)
    }

    /// Read until the frame `is_answer` picks; an `error` first fails the call. Pushes (rooms,
    /// unread, members, receipts...) are not a call's answer and are skipped.
    async fn answer(&mut self, is_answer: impl Fn(&Value) -> bool) -> Result<Value, Status> {
        loop {
            let frame = self.next().await?;
            if is_answer(&frame) {
                return Ok(frame);
            }
            if frame["type"] == "error" {
                return Err(status_of(&frame));
            }
        }
    }

    /// Write a frame to the session.
    pub(crate) async fn post(&mut self, frame: Value) -> Result<(), Status> {
        self.to_session
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|_| Status::unavailable("the chat session ended"))
    }

    /// The session's next text frame. Its WebSocket pings are answered here, so an idle stream
    /// stays open; its close frame ends the call with the status it calls for.
    pub(crate) async fn next(&mut self) -> Result<Value, Status> {
        loop {
            match self.from_session.recv().await {
                None => return Err(Status::unavailable("the chat session ended")),
                Some(Message::Text(text)) => {
                    return serde_json::from_str(&text)
                        .map_err(|_| Status::internal("the chat wrote a frame that is not JSON"));
                }
                Some(Message::Ping(payload)) => {
                    // A full queue means the session is busy reading ours: it is alive.
                    let _ = self.to_session.try_send(Message::Pong(payload));
                }
                Some(Message::Close(frame)) => return Err(status_of_close(frame)),
                Some(_) => {}
            }
        }
    }
}

/// The gRPC status of an `error` frame (docs/protocol.md, "Error codes").
pub(crate) fn status_of(frame: &Value) -> Status {
    let message = frame["message"]
        .as_str()
        .unwrap_or("the chat refused the request");
    let message = match frame["field"].as_str() {
        Some(field) => format!("{field}: {message}"),
        None => message.to_owned(),
    };
    match frame["code"].as_str().unwrap_or("") {
        "invalid_field" | "bad_json" | "unknown_type" | "bad_request" => {
            Status::invalid_argument(message)
        }
        "rate_limited" | "too_many_rooms" => Status::resource_exhausted(message),
        "unavailable" => Status::unavailable(message),
        "client_id_conflict" => Status::already_exists(message),
        "no_such_room" | "not_found" | "no_such_message" => Status::not_found(message),
        "forbidden" | "login_required" => Status::permission_denied(message),
        "taken" | "not_joined" | "not_identified" => Status::failed_precondition(message),
        "session_ended" => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// The gRPC status of the session's close frame.
fn status_of_close(frame: Option<CloseFrame>) -> Status {
    let Some(frame) = frame else {
        return Status::unavailable("the chat session ended");
    };
    let reason = format!("the chat session ended: {}", frame.reason.as_str());
    match frame.code {
        close::SLOW_CONSUMER => Status::resource_exhausted(reason),
        close::POLICY | close::INTERNAL => Status::internal(reason),
        _ => Status::unavailable(reason),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn error_frames_map_to_statuses_naming_the_field() {
        let cases = [
            ("invalid_field", Code::InvalidArgument),
            ("rate_limited", Code::ResourceExhausted),
            ("unavailable", Code::Unavailable),
            ("client_id_conflict", Code::AlreadyExists),
            ("not_found", Code::NotFound),
            ("forbidden", Code::PermissionDenied),
            ("something_new", Code::Internal),
        ];
        for (code, expected) in cases {
            let frame = json!({"type":"error","code":code,"message":"m","field":"content"});
            let status = status_of(&frame);
            assert_eq!(status.code(), expected, "{code}");
            assert_eq!(status.message(), "content: m");
        }
    }

    #[test]
    fn close_frames_map_to_statuses() {
        let close = |code| {
            Some(CloseFrame {
                code,
                reason: "why".into(),
            })
        };
        assert_eq!(
            status_of_close(close(close::GOING_AWAY)).code(),
            Code::Unavailable
        );
        assert_eq!(
            status_of_close(close(close::SLOW_CONSUMER)).code(),
            Code::ResourceExhausted
        );
        assert_eq!(status_of_close(None).code(), Code::Unavailable);
    }
}
