//! The support desk: clients' conversations with the support agents. A conversation is a private
//! room (`support-<10 hex>`, marked `support` in its access record, so agents may see it) whose
//! messages, typing and reads are those of any room; beside it the stores keep a
//! [`Conversation`] record (its state, holder, last message, waiting time, unread count), changed
//! only by [`Conversation::apply`] (`conversation.rs`). `queue.rs` orders the records into the
//! `support_queue` frame; `feed.rs` is the task that keeps every local agent connection's queue
//! current (one store read per change per replica, at most one push per
//! [`SUPPORT_PUSH_EVERY`](crate::limits::SUPPORT_PUSH_EVERY) per connection). The frames'
//! handlers are `session/support.rs`; the records' storage is `store/support.rs`.

mod conversation;
mod feed;
mod queue;

pub(crate) use self::conversation::{Action, Actor, Conversation, Refusal, State};
pub(crate) use self::feed::run;
pub(crate) use self::queue::queue_frame;

/// How every support room's name begins; no other room may be created with it.
pub(crate) const ROOM_PREFIX: &str = "support-";
/// Hex digits of randomness in a support room's name.
const ROOM_SUFFIX_CHARS: usize = 10;
/// How a guest's client key begins (a username cannot hold `:`).
const GUEST_PREFIX: &str = "guest:";
/// Hex digits of a guest's client key.
const GUEST_KEY_CHARS: usize = 20;

/// Whether `room` is named like a support conversation's room.
pub(crate) fn is_support_room(room: &str) -> bool {
    room.starts_with(ROOM_PREFIX)
}

/// Whether a room created with `create_room {name}` would look like a support room (a private
/// room `support` gets the name `support-<suffix>`): such names are refused.
pub(crate) fn is_reserved_name(name: &str) -> bool {
    name == ROOM_PREFIX.trim_end_matches('-') || is_support_room(name)
}

/// A new support room's name.
pub(crate) fn new_room_name() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{ROOM_PREFIX}{}", &suffix[..ROOM_SUFFIX_CHARS])
}

/// A new guest resume token (128 random bits, hex).
pub(crate) fn new_resume_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The SHA-256 (hex) of a resume token, as the conversation keeps it (hashed like session
/// tokens).
pub(crate) fn resume_hash(token: &str) -> String {
    crate::accounts::token::token_hash(token)
}

/// The client key of the guest holding `token`: derived from the token's hash, so the token
/// finds its conversation and nothing else does.
pub(crate) fn guest_key(token: &str) -> String {
    format!("{GUEST_PREFIX}{}", &resume_hash(token)[..GUEST_KEY_CHARS])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_names_and_guest_keys() {
        let room = new_room_name();
        assert!(is_support_room(&room) && room.len() == ROOM_PREFIX.len() + ROOM_SUFFIX_CHARS);
        assert!(
            crate::protocol::validate_room(&room, "room").is_ok(),
            "{room}"
        );
        assert!(is_reserved_name("support") && is_reserved_name("support-x"));
        assert!(!is_reserved_name("supporters") && !is_reserved_name("general"));
        let token = new_resume_token();
        assert_eq!(token.len(), crate::protocol::RESUME_TOKEN_CHARS);
        let key = guest_key(&token);
        assert_eq!(key, guest_key(&token));
        assert_ne!(key, guest_key(&new_resume_token()));
        assert!(key.starts_with("guest:") && key.len() == 6 + GUEST_KEY_CHARS);
        assert!(
            crate::accounts::validate_username(&key).is_err(),
            "no username collides"
        );
    }
}
