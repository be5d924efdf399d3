//! Support conversations in every mode: the contract ([`Store::support_open`],
//! [`Store::support_change`] and the reads) and the one way a conversation changes, a
//! compare-and-set loop over [`Conversation::apply`]: read the record, apply the rule, write the
//! result only if the record is still the one read (else read again). So of two agents taking one
//! conversation at once, on any replicas, exactly one wins and the other is refused `taken`.
//! Each backend keeps the records and swaps them atomically, announcing every change on the bus
//! (`q <room>`, `StoreEvent::SupportChanged`) so every replica refreshes its agents' queues:
//! `memory/support.rs` (a map under a lock), `redis/support.rs` (one hash of JSON records and an
//! index by client, `scripts/support_open.lua` and `support_swap.lua`) and
//! `postgres/support.rs` (`migrations/0009_support.sql`).

use super::{Error, Result, Store};
use crate::support::{Action, Conversation, Refusal};

/// Reads and swaps one change may take before it gives up (`Error::Contended`): each failed swap
/// means another change succeeded, so this only bounds the work of one request.
const SWAP_ATTEMPTS: usize = 16;

/// What `support_open` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The record given was stored: a new conversation.
    New(Conversation),
    /// The client had a conversation already: this one.
    Existing(Conversation),
}

/// What became of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No conversation in that room.
    Missing,
    /// The rule refused it.
    Refused(Refusal),
    /// Nothing to change: the conversation as it is.
    Unchanged(Box<Conversation>),
    /// Changed and announced.
    Changed {
        old: Box<Conversation>,
        new: Box<Conversation>,
    },
}

impl Store {
    /// Store `new` unless its client has a conversation already (then that one), announcing a
    /// new one.
    pub(crate) async fn support_open(&self, new: &Conversation) -> Result<Opened> {
        match self {
            Store::Memory(s) => s.support_open(new).await,
            Store::Redis(s) => s.support_open(new).await,
            Store::Postgres(s) => s.support_open(new).await,
        }
    }

    /// The conversation of `room`.
    pub(crate) async fn support_get(&self, room: &str) -> Result<Option<Conversation>> {
        match self {
            Store::Memory(s) => s.support_get(room).await,
            Store::Redis(s) => s.support_get(room).await,
            Store::Postgres(s) => s.support_get(room).await,
        }
    }

    /// The conversation of a client key.
    pub(crate) async fn support_find(&self, client: &str) -> Result<Option<Conversation>> {
        match self {
            Store::Memory(s) => s.support_find(client).await,
            Store::Redis(s) => s.support_find(client).await,
            Store::Postgres(s) => s.support_find(client).await,
        }
    }

    /// Every conversation, in no order (`support::queue_frame` orders and bounds them).
    pub(crate) async fn support_list(&self) -> Result<Vec<Conversation>> {
        match self {
            Store::Memory(s) => s.support_list().await,
            Store::Redis(s) => s.support_list().await,
            Store::Postgres(s) => s.support_list().await,
        }
    }

    /// Apply `action` to `room`'s conversation at `now` (ms), atomically against every other
    /// change on every replica, and announce it.
    pub(crate) async fn support_change(
        &self,
        room: &str,
        action: &Action<'_>,
        now: u64,
    ) -> Result<Outcome> {
        for _ in 0..SWAP_ATTEMPTS {
            let Some(old) = self.support_get(room).await? else {
                return Ok(Outcome::Missing);
            };
            let new = match old.apply(action, now) {
                Err(refusal) => return Ok(Outcome::Refused(refusal)),
                Ok(None) => return Ok(Outcome::Unchanged(Box::new(old))),
                Ok(Some(new)) => new,
            };
            if self.support_swap(&old, &new).await? {
                return Ok(Outcome::Changed {
                    old: Box::new(old),
                    new: Box::new(new),
                });
            }
        }
        Err(Error::Contended(room.to_owned()))
    }

    /// Forget `client`'s conversation with its room and history (an account deletion: a later
    /// account of the same name inherits nothing), announcing it.
    pub(crate) async fn support_forget(&self, client: &str) -> Result<()> {
        let Some(conv) = self.support_find(client).await? else {
            return Ok(());
        };
        self.delete_room(&conv.room).await?;
        match self {
            Store::Memory(s) => s.support_remove(&conv).await,
            Store::Redis(s) => s.support_remove(&conv).await,
            Store::Postgres(s) => s.support_remove(&conv).await,
        }
    }

    /// Replace `old` by `new` if the stored record is still `old`, and announce it; false when
    /// it is not.
    async fn support_swap(&self, old: &Conversation, new: &Conversation) -> Result<bool> {
        match self {
            Store::Memory(s) => s.support_swap(old, new).await,
            Store::Redis(s) => s.support_swap(old, new).await,
            Store::Postgres(s) => s.support_swap(old, new).await,
        }
    }
}
