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
//! | `<prefix>:support` | hash | support conversation's room → its record (JSON, `support::Conversation`); changed only by `support_swap.lua` (compare-and-set) |
//! | `<prefix>:support:clients` | hash | client key (username lower case, `ext:<id>`, `guest:<hex>`) → its support room (`support_open.lua`) |
//! | `<prefix>:deleted` | set | rooms deleted and not created again: a send or heartbeat racing the deletion does not make them anew |
//! | `<prefix>:room:<room>:gone` | string | Redis-only mode: the room's tombstone in its own slot, set when its deletion wiped it (value: the fresh epoch), removed when it is created again; `append.lua` refuses a room that has one |
//! | `<prefix>:instances` | sorted set | replica id → last heartbeat (ms, Redis clock) |
//! | `<prefix>:presence` | hash | `<room>\|<replica id>` → that replica's members in the room |
//! | `<prefix>:room:<room>:events` | sharded pub/sub channel (`SPUBLISH`/`SSUBSCRIBE`) | the room's own events, heard only by replicas with members in it: `m <epoch> <offset> <room> <time_ms> <frame>`, votes `v <room> <offset> <up> <down>`, replies `p <room> <offset> <count>`, a timed room cleared `c <through> <room>` or expired `x <room>`, typing `t <replica> <conn> <room> <frame>`, or a notice `n <room> <frame>` (`edited`, `deleted`, an ephemeral message: stored in no key) |
//! | `<prefix>:events` | pub/sub channel | the rare events every replica hears: `r` (rooms or counts changed), a private room's participants changed `a <room>`, a room deleted `d <room>`, a read position moved `u <room> <user>` (the user's `unread` is due wherever they are connected, in the room or not), a support conversation opened or changed `q <room>`, a session end `s1 <token hash>` / `sa <user> <except token hash or ->` |
//! | `<prefix>:user:<username lower case>` | string | Redis-only mode: the account, JSON (with its Argon2id hash) |
//! | `<prefix>:user:<username lower case>:sessions` | set | Redis-only mode: the user's session token hashes |
//! | `<prefix>:strikes:account:<username lower case>`, `<prefix>:strikes:address:<ip>` | hash with TTL | failed logins (`failures`) and the end of the current block (`until`, ms, Redis clock); gone an hour after the last failure |
//! | `<prefix>:session:<token hash>` | string with TTL | Redis-only mode: the session's user and expiry `"<user> <expires ms>"`, gone at expiry |
//! | `<prefix>:cache:<room>:<epoch>` | sorted set | durable mode only: the recent window of a room, score = offset, member = the frame |
//! | `<prefix>:timers` | hash | Redis-only mode: timed room → `"<clear mins> <expire mins> <last active ms>"` |
//! | `<prefix>:timed` | sorted set | Redis-only mode: `c\|<room>` (next clear) and `x\|<room>` (expiry check) → when due (ms) |
//! | `<prefix>:room:<room>:cleared` | string | Redis-only mode: the offset the room's history was last cleared through |
//! | `<prefix>:expired` | sorted set | Redis-only mode: rooms that expired in the last minute → when; a heartbeat does not register them again |
//! | `<prefix>:room:<room>:tally` | hash | Redis-only mode: `<offset>:u`, `<offset>:d`, `<offset>:r` → up votes, down votes, replies of a message; `<offset>:v:<username lower case>` → that user's vote (1 or -1); `swept` → the size after the last sweep of trimmed messages' fields |
//! | `<prefix>:room:<room>:reads` | hash | Redis-only mode: user (lower case) → `"<offset> <display name>"`, the read positions (receipts) |
//! | `<prefix>:user:<username lower case>:reads` | hash | Redis-only mode: room → the user's read position (unread counts) |
//! | `<prefix>:user:<username lower case>:mentions` | hash | Redis-only mode: room → unread mention offsets, space-separated, newest `MAX_MENTIONS_KEPT` |

/// Builds every key and channel name under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    /// Redis Cluster (`--redis-cluster`): names carry hash tags, so every key (and the sharded
    /// channel) of a room shares one slot, every global key another, and each user's keys one.
    cluster: bool,
}

impl Keys {
    /// The schema under `prefix` (`--redis-prefix`): the names above on a standalone Redis; with
    /// hash tags on a Redis Cluster (`cluster`): `<prefix>:room:{<room>}:…`,
    /// `<prefix>:cache:{<room>}:…`, `{<prefix>}:rooms` (every global key and the events channel),
    /// `<prefix>:user:{<user>}…`, `<prefix>:session:{<hash>}`, `<prefix>:strikes:{<kind>:<id>}`.
    pub(super) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    /// `s` as a hash tag in cluster mode, as is otherwise.
    fn tag(&self, s: &str) -> String {
        if self.cluster {
            format!("{{{s}}}")
        } else {
            s.to_owned()
        }
    }

    /// A global key: one slot for all of them in cluster mode.
    fn global(&self, what: &str) -> String {
        format!("{}:{what}", self.tag(&self.prefix))
    }

    fn room(&self, room: &str, what: &str) -> String {
        format!("{}:room:{}:{what}", self.prefix, self.tag(room))
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
        self.global("incarnation")
    }

    /// The set of room names.
    pub(super) fn rooms(&self) -> String {
        self.global("rooms")
    }

    /// Rooms' creators and participants, by room.
    pub(super) fn access(&self) -> String {
        self.global("access")
    }

    /// Support conversations, by room (JSON records, `support::Conversation`).
    pub(super) fn support(&self) -> String {
        self.global("support")
    }

    /// Each client key's support room.
    pub(super) fn support_clients(&self) -> String {
        self.global("support:clients")
    }

    /// Rooms deleted and not created again.
    pub(super) fn deleted(&self) -> String {
        self.global("deleted")
    }

    /// A deleted room's tombstone, in the room's slot (`append.lua` refuses such a room).
    pub(super) fn gone(&self, room: &str) -> String {
        self.room(room, "gone")
    }

    /// Live replicas and their last heartbeat.
    pub(super) fn instances(&self) -> String {
        self.global("instances")
    }

    /// Members per (room, replica).
    pub(super) fn presence(&self) -> String {
        self.global("presence")
    }

    /// The durable mode's cache of a room's recent messages in one epoch.
    pub(super) fn cache(&self, room: &str, epoch: &str) -> String {
        format!("{}:cache:{}:{epoch}", self.prefix, self.tag(room))
    }

    /// An account (Redis-only mode).
    pub(super) fn user(&self, key: &str) -> String {
        format!("{}:user:{}", self.prefix, self.tag(key))
    }

    /// The session token hashes of an account (Redis-only mode).
    pub(super) fn user_sessions(&self, key: &str) -> String {
        format!("{}:user:{}:sessions", self.prefix, self.tag(key))
    }

    /// A login session, by token hash (Redis-only mode).
    pub(super) fn session(&self, token_hash: &str) -> String {
        format!("{}:session:{}", self.prefix, self.tag(token_hash))
    }

    /// Failed-login strikes against an account or an address (`kind`).
    pub(super) fn strikes(&self, kind: &str, id: &str) -> String {
        format!(
            "{}:strikes:{}",
            self.prefix,
            self.tag(&format!("{kind}:{id}"))
        )
    }

    /// Timed rooms' settings and last activity (Redis-only mode).
    pub(super) fn timers(&self) -> String {
        self.global("timers")
    }

    /// When each timed room's next clear and expiry check are due (Redis-only mode).
    pub(super) fn timed(&self) -> String {
        self.global("timed")
    }

    /// Rooms that just expired, so a heartbeat racing the expiry does not bring them back.
    pub(super) fn expired(&self) -> String {
        self.global("expired")
    }

    /// The offset a room was last cleared through.
    pub(super) fn cleared(&self, room: &str) -> String {
        self.room(room, "cleared")
    }

    /// A room's votes, vote counts and reply counts per message.
    pub(super) fn tally(&self, room: &str) -> String {
        self.room(room, "tally")
    }

    /// A room's read positions, by user.
    pub(super) fn room_reads(&self, room: &str) -> String {
        self.room(room, "reads")
    }

    /// A user's read positions, by room.
    pub(super) fn user_reads(&self, key: &str) -> String {
        format!("{}:user:{}:reads", self.prefix, self.tag(key))
    }

    /// A user's unread mention offsets, by room.
    pub(super) fn user_mentions(&self, key: &str) -> String {
        format!("{}:user:{}:mentions", self.prefix, self.tag(key))
    }

    /// The pub/sub channel of the events every replica hears (`events.rs` routes them).
    pub(super) fn events(&self) -> String {
        self.global("events")
    }

    /// A room's sharded pub/sub channel: its messages and other events, heard only by the
    /// replicas with members in it. Named like the room's keys, so it lives in their slot.
    pub(super) fn room_events(&self, room: &str) -> String {
        self.room(room, "events")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_stable() {
        let k = Keys::new("chatapp", false);
        assert_eq!(k.stream("general"), "chatapp:room:general:stream");
        assert_eq!(k.seq("ops"), "chatapp:room:ops:seq");
        assert_eq!(k.epoch("ops"), "chatapp:room:ops:epoch");
        assert_eq!(k.idempotency("ops"), "chatapp:room:ops:idem");
        assert_eq!(k.incarnation(), "chatapp:incarnation");
        assert_eq!(k.rooms(), "chatapp:rooms");
        assert_eq!(k.access(), "chatapp:access");
        assert_eq!(k.deleted(), "chatapp:deleted");
        assert_eq!(k.gone("ops"), "chatapp:room:ops:gone");
        assert_eq!(k.instances(), "chatapp:instances");
        assert_eq!(k.presence(), "chatapp:presence");
        assert_eq!(k.events(), "chatapp:events");
        assert_eq!(k.room_events("ops"), "chatapp:room:ops:events");
        assert_eq!(k.cache("ops", "e1"), "chatapp:cache:ops:e1");
        assert_eq!(k.user("ann"), "chatapp:user:ann");
        assert_eq!(k.user_sessions("ann"), "chatapp:user:ann:sessions");
        assert_eq!(k.session("ab12"), "chatapp:session:ab12");
        assert_eq!(k.strikes("account", "ann"), "chatapp:strikes:account:ann");
        assert_eq!(k.timers(), "chatapp:timers");
        assert_eq!(k.timed(), "chatapp:timed");
        assert_eq!(k.expired(), "chatapp:expired");
        assert_eq!(k.cleared("ops"), "chatapp:room:ops:cleared");
        assert_eq!(k.tally("ops"), "chatapp:room:ops:tally");
        assert_eq!(k.room_reads("ops"), "chatapp:room:ops:reads");
        assert_eq!(k.user_reads("ann"), "chatapp:user:ann:reads");
        assert_eq!(k.user_mentions("ann"), "chatapp:user:ann:mentions");
    }

    #[test]
    fn in_a_cluster_a_rooms_keys_share_a_slot_and_so_do_the_global_ones() {
        let k = Keys::new("chatapp", true);
        for key in [
            k.stream("ops"),
            k.seq("ops"),
            k.epoch("ops"),
            k.idempotency("ops"),
            k.cleared("ops"),
            k.gone("ops"),
            k.tally("ops"),
            k.room_reads("ops"),
            k.room_events("ops"),
            k.cache("ops", "e1"),
        ] {
            assert!(key.contains("{ops}"), "{key}");
        }
        assert_eq!(k.stream("ops"), "chatapp:room:{ops}:stream");
        for key in [
            k.incarnation(),
            k.rooms(),
            k.access(),
            k.support(),
            k.support_clients(),
            k.deleted(),
            k.instances(),
            k.presence(),
            k.timers(),
            k.timed(),
            k.expired(),
            k.events(),
        ] {
            assert!(key.starts_with("{chatapp}:"), "{key}");
        }
        assert_eq!(k.user_reads("ann"), "chatapp:user:{ann}:reads");
        assert_eq!(k.strikes("address", "::1"), "chatapp:strikes:{address:::1}");
    }
}
