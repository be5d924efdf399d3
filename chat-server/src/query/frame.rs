//! What a query looks at in a message: [`MessageView`], and [`StoredMessage`], the fields of a
//! stored `message` frame read back (the frame is the one copy of a message the server keeps).

use std::borrow::Cow;

use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// The parts of a message a query can test.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The sender's display name.
    pub name: &'a str,
    /// The sender's username; `None` for a guest.
    pub user: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub content: &'a str,
    /// Server time, milliseconds since the epoch.
    pub time_ms: u64,
}

/// A `message` frame's fields, borrowed from the frame where JSON escaping allows.
#[derive(Debug, Deserialize)]
pub struct StoredMessage<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    /// The message's offset in its room.
    #[serde(default)]
    pub offset: u64,
}

impl<'a> StoredMessage<'a> {
    /// The fields of `frame`, or `None` when it is not a readable `message` frame.
    pub fn read(frame: &'a str) -> Option<Self> {
        serde_json::from_str(frame).ok()
    }

    /// The view a query matches.
    pub fn view(&self) -> MessageView<'_> {
        let time_ms = OffsetDateTime::parse(&self.time, &Rfc3339)
            .ok()
            .and_then(|t| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
            .unwrap_or(0);
        MessageView {
            name: &self.name,
            user: self.user.as_deref(),
            topic: self.topic.as_deref(),
            content: &self.content,
            time_ms,
        }
    }
}
