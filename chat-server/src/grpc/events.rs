//! The chat's server frames as the support API's messages: pure functions from a frame's JSON
//! (docs/protocol.md) to `chatapp.support.v1` values, so the mapping is tested without a server.
//! Frames about other rooms, and the client's own typing, map to nothing.

use serde_json::Value;

use super::proto::{
    Ack, Conversation, Deleted, Edited, Event, Message, Receipt, Refused, Resync, State, Typing,
    event::Event as E,
};

/// The conversation a `support_opened` or `support_state` frame describes.
pub(crate) fn conversation_of(frame: &Value, client_key: &str) -> Option<Conversation> {
    let state = match frame["state"].as_str() {
        Some("waiting") => State::Waiting,
        Some("open") => State::Open,
        Some("closed") => State::Closed,
        _ => State::Unspecified,
    };
    Some(Conversation {
        room: frame["room"].as_str()?.to_owned(),
        state: state.into(),
        taken_by: frame["taken_by"].as_str().map(str::to_owned),
        taken_by_name: frame["taken_by_name"].as_str().map(str::to_owned),
        client: client_key.to_owned(),
    })
}

/// A `message` frame (live or in a page) as the API's message; `None` without an offset (an
/// ephemeral message is not part of the conversation's history).
pub(crate) fn message_of(frame: &Value, client_key: &str) -> Option<Message> {
    let text = |field: &str| frame[field].as_str().unwrap_or_default().to_owned();
    let user = text("user");
    Some(Message {
        offset: frame["offset"].as_u64()?,
        id: text("id"),
        name: text("name"),
        from_client: user.eq_ignore_ascii_case(client_key),
        user,
        time: text("time"),
        content: text("content"),
        client_msg_id: text("client_id"),
        deleted: frame["deleted"].as_bool().unwrap_or(false),
    })
}

/// An `ack` frame as the API's `Ack`.
pub(crate) fn ack_of(frame: &Value) -> Ack {
    let text = |field: &str| frame[field].as_str().unwrap_or_default().to_owned();
    Ack {
        room: text("room"),
        offset: frame["offset"].as_u64().unwrap_or(0),
        id: text("id"),
        duplicate: frame["duplicate"].as_bool().unwrap_or(false),
        client_msg_id: text("client_id"),
    }
}

/// An `error` frame as a refused request of a `Chat` call.
pub(crate) fn refused_of(frame: &Value) -> Refused {
    let text = |field: &str| frame[field].as_str().unwrap_or_default().to_owned();
    let message = match frame["field"].as_str() {
        Some(field) => format!("{field}: {}", text("message")),
        None => text("message"),
    };
    Refused {
        client_msg_id: text("client_id"),
        code: text("code"),
        message,
    }
}

/// The event a live frame of the conversation's room is, if any (messages are handled by the
/// caller, which keeps them in offset order).
pub(crate) fn event_of(frame: &Value, room: &str, client_key: &str) -> Option<Event> {
    if frame["room"].as_str() != Some(room) {
        return None;
    }
    let text = |field: &str| frame[field].as_str().unwrap_or_default().to_owned();
    let event = match frame["type"].as_str()? {
        "typing" if !text("user").eq_ignore_ascii_case(client_key) => E::Typing(Typing {
            name: text("name"),
            user: text("user"),
        }),
        "receipts" => E::Receipt(Receipt {
            offset: frame["offset"].as_u64()?,
            count: u32::try_from(frame["count"].as_u64()?).unwrap_or(u32::MAX),
            names: frame["names"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }),
        "support_state" => E::State(conversation_of(frame, client_key)?),
        "edited" => E::Edited(Edited {
            offset: frame["offset"].as_u64()?,
            content: text("content"),
        }),
        "deleted" => E::Deleted(Deleted {
            offset: frame["offset"].as_u64()?,
        }),
        "resync" => E::Resync(Resync {}),
        _ => return None,
    };
    Some(Event { event: Some(event) })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ROOM: &str = "support-0123456789";
    const CLIENT: &str = "ext:c1";

    #[test]
    fn opened_and_state_frames_are_conversations() {
        let frame = json!({"type":"support_state","room":ROOM,"state":"open","taken_by":"ann","taken_by_name":"Ann"});
        let c = conversation_of(&frame, CLIENT).unwrap();
        assert_eq!(
            (c.state(), c.taken_by.as_deref(), c.client.as_str()),
            (State::Open, Some("ann"), CLIENT)
        );
        let waiting =
            json!({"type":"support_opened","room":ROOM,"state":"waiting","taken_by":null});
        let c = conversation_of(&waiting, CLIENT).unwrap();
        assert_eq!((c.state(), c.taken_by), (State::Waiting, None));
        let event = event_of(&frame, ROOM, CLIENT).unwrap();
        assert!(matches!(event.event, Some(E::State(_))), "{event:?}");
    }

    #[test]
    fn messages_say_whether_the_client_sent_them() {
        let agent = json!({"type":"message","room":ROOM,"offset":3,"id":"i","name":"Ann","user":"ann","time":"t","content":"hello","client_id":"m1"});
        let m = message_of(&agent, CLIENT).unwrap();
        assert_eq!(
            (m.offset, m.from_client, m.content.as_str()),
            (3, false, "hello")
        );
        let own = json!({"type":"message","room":ROOM,"offset":4,"user":"ext:c1","content":"hi"});
        assert!(message_of(&own, CLIENT).unwrap().from_client);
        let ephemeral = json!({"type":"message","room":ROOM,"ephemeral":true,"content":"x"});
        assert_eq!(message_of(&ephemeral, CLIENT), None);
    }

    #[test]
    fn agents_typing_and_receipts_are_events_the_clients_own_typing_is_not() {
        let typing = json!({"type":"typing","room":ROOM,"name":"Ann","user":"ann"});
        assert!(matches!(
            event_of(&typing, ROOM, CLIENT).unwrap().event,
            Some(E::Typing(_))
        ));
        let own = json!({"type":"typing","room":ROOM,"name":"C","user":"ext:c1"});
        assert_eq!(event_of(&own, ROOM, CLIENT), None);
        let receipts = json!({"type":"receipts","room":ROOM,"offset":4,"count":1,"names":["Ann"]});
        let Some(E::Receipt(r)) = event_of(&receipts, ROOM, CLIENT).unwrap().event else {
            panic!("a receipt")
        };
        assert_eq!((r.offset, r.count, r.names), (4, 1, vec!["Ann".to_owned()]));
    }

    #[test]
    fn acks_and_errors_keep_the_senders_message_id() {
        let ack =
            json!({"type":"ack","client_id":"m1","room":ROOM,"offset":5,"id":"i","duplicate":true});
        let ack = ack_of(&ack);
        assert_eq!(
            (ack.offset, ack.duplicate, ack.client_msg_id.as_str()),
            (5, true, "m1")
        );
        let error = json!({"type":"error","code":"invalid_field","field":"content","message":"too long","client_id":"m2"});
        let refused = refused_of(&error);
        assert_eq!(
            (
                refused.client_msg_id.as_str(),
                refused.code.as_str(),
                refused.message.as_str()
            ),
            ("m2", "invalid_field", "content: too long")
        );
    }

    #[test]
    fn other_rooms_and_other_frames_are_nothing() {
        let other = json!({"type":"typing","room":"general","name":"Ann","user":"ann"});
        assert_eq!(event_of(&other, ROOM, CLIENT), None);
        let rooms = json!({"type":"rooms","rooms":[]});
        assert_eq!(event_of(&rooms, ROOM, CLIENT), None);
    }
}
