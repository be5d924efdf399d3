//! The Redis key schema: the one place a key or channel name is spelled. Every script receives
//! its keys from here as `KEYS` (never builds one from `ARGV`), which keeps the layout reviewable
//! in one file and is what Redis Cluster needs to route a script.
//!
//! | key | type | what |
//! |---|---|---|
//! | `<prefix>:room:<room>:stream` | stream | history; entry id `0-<offset>`, field `f` = the frame |
//! | `<prefix>:room:<room>:seq` | string | last offset given out |
//! | `<prefix>:room:<room>:epoch` | string | the room's epoch, set with its first message |
//! | `<prefix>:room:<room>:idem` | hash with TTL | client id → `"<offset> <id> <digest> <time_ms>"` |
//! | `<prefix>:incarnation` | string | random per dataset; a room's epoch is derived from it |
//! | `<prefix>:rooms` | set | room names |
//! | `<prefix>:access` | hash | room → `private <creator> <participant>...` or `public <creator>` (rooms with a creator or participants; usernames are lowercase keys) |
//! | `<prefix>:deleted` | set | rooms deleted and not created again: a send or heartbeat racing the deletion does not make them anew |
//! | `<prefix>:instances` | sorted set | replica id → last heartbeat (ms, Redis clock) |
//! | `<prefix>:presence` | hash | `<room>\|<replica id>` → that replica's members in the room |
//! | `<prefix>:events` | pub/sub channel | `m <epoch> <offset> <room> <time_ms> <frame>`, `r` (rooms or counts changed), `p <room>` (participants changed), `d <room>` (room deleted), or a session end `s1 <token hash>` / `sa <user> <except token hash or ->` |
//! | `<prefix>:user:<username lower case>` | string | Redis-only mode: the account, JSON (with its Argon2id hash) |
//! | `<prefix>:user:<username lower case>:sessions` | set | Redis-only mode: the user's session token hashes |
//! | `<prefix>:strikes:account:<username lower case>`, `<prefix>:strikes:address:<ip>` | hash with TTL | failed logins (`failures`) and the end of the current block (`until`, ms, Redis clock); gone an hour after the last failure |
//! | `<prefix>:session:<token hash>` | string with TTL | Redis-only mode: the session's user and expiry `"<user> <expires ms>"`, gone at expiry |
//! | `<prefix>:cache:<room>:<epoch>` | sorted set | durable mode only: the recent window of a room, score = offset, member = the frame |

/// Builds every key and channel name under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    /// The schema under `prefix` (`--redis-prefix`).
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn room(&self, room: &str, what: &str) -> String {
        format!("{}:room:{room}:{what}", self.prefix)
    }

    /// A room's history stream.
    pub(super) fn stream(&self, room: &str) -> String {
        self.room(room, "stream")
    }

    /// A room's offset counter.
    pub(super) fn seq(&self, room: &str) -> String {
        self.room(room, "seq")
    }

    /// A room's epoch.
    pub(super) fn epoch(&self, room: &str) -> String {
        self.room(room, "epoch")
    }

    /// A room's idempotency records, by client id.
    pub(super) fn idempotency(&self, room: &str) -> String {
        self.room(room, "idem")
    }

    /// This Redis dataset's incarnation: gone, and made anew, when Redis lost its data.
    pub(super) fn incarnation(&self) -> String {
        format!("{}:incarnation", self.prefix)
    }

    /// The set of room names.
    pub(super) fn rooms(&self) -> String {
        format!("{}:rooms", self.prefix)
    }

    /// Rooms' creators and participants, by room.
    pub(super) fn access(&self) -> String {
        format!("{}:access", self.prefix)
    }

    /// Rooms deleted and not created again.
    pub(super) fn deleted(&self) -> String {
        format!("{}:deleted", self.prefix)
    }

    /// Live replicas and their last heartbeat.
    pub(super) fn instances(&self) -> String {
        format!("{}:instances", self.prefix)
    }

    /// Members per (room, replica).
    pub(super) fn presence(&self) -> String {
        format!("{}:presence", self.prefix)
    }

    /// The durable mode's cache of a room's recent messages in one epoch.
    pub(super) fn cache(&self, room: &str, epoch: &str) -> String {
        format!("{}:cache:{room}:{epoch}", self.prefix)
    }

    /// An account (Redis-only mode).
    pub(super) fn user(&self, key: &str) -> String {
        format!("{}:user:{key}", self.prefix)
    }

    /// The session token hashes of an account (Redis-only mode).
    pub(super) fn user_sessions(&self, key: &str) -> String {
        format!("{}:user:{key}:sessions", self.prefix)
    }

    /// A login session, by token hash (Redis-only mode).
    pub(super) fn session(&self, token_hash: &str) -> String {
        format!("{}:session:{token_hash}", self.prefix)
    }

    /// Failed-login strikes against an account or an address (`kind`).
    pub(super) fn strikes(&self, kind: &str, id: &str) -> String {
        format!("{}:strikes:{kind}:{id}", self.prefix)
    }

    /// The pub/sub channel of store events.
    pub(super) fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_stable() {
        let k = Keys::new("chatapp");
        assert_eq!(k.stream("general"), "chatapp:room:general:stream");
        assert_eq!(k.seq("ops"), "chatapp:room:ops:seq");
        assert_eq!(k.epoch("ops"), "chatapp:room:ops:epoch");
        assert_eq!(k.idempotency("ops"), "chatapp:room:ops:idem");
        assert_eq!(k.incarnation(), "chatapp:incarnation");
        assert_eq!(k.rooms(), "chatapp:rooms");
        assert_eq!(k.access(), "chatapp:access");
        assert_eq!(k.deleted(), "chatapp:deleted");
        assert_eq!(k.instances(), "chatapp:instances");
        assert_eq!(k.presence(), "chatapp:presence");
        assert_eq!(k.events(), "chatapp:events");
        assert_eq!(k.cache("ops", "e1"), "chatapp:cache:ops:e1");
        assert_eq!(k.user("ann"), "chatapp:user:ann");
        assert_eq!(k.user_sessions("ann"), "chatapp:user:ann:sessions");
        assert_eq!(k.session("ab12"), "chatapp:session:ab12");
        assert_eq!(k.strikes("account", "ann"), "chatapp:strikes:account:ann");
    }
}
