//! Timed rooms on the wire: the `clear_every_mins` and `expire_after_mins` of `create_room`, the
//! values allowed for each, and how they are listed. The schedule itself is the store's
//! (`store::timed`) and the sweeper's (`crate::timed`).

use serde::Serialize;
use serde_json::{Map, Value};

use super::ProtocolError;

/// Clear intervals a room creator may pick, in minutes (0 = never).
pub const CLEAR_CHOICES: [u32; 6] = [0, 1, 2, 3, 5, 10];
/// Expiries after inactivity a room creator may pick, in minutes (0 = never).
pub const EXPIRE_CHOICES: [u32; 4] = [0, 2, 5, 10];

/// A room's timers, in minutes; 0 is never. Listed in `rooms` entries and `room_created`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timers {
    /// Every how many minutes the room's history is cleared.
    pub clear_every_mins: u32,
    /// After how many minutes without a message the room is deleted.
    pub expire_after_mins: u32,
}

impl Timers {
    /// Whether neither timer is set.
    pub fn is_never(&self) -> bool {
        self.clear_every_mins == 0 && self.expire_after_mins == 0
    }

    /// The timers of a `create_room` frame: each absent, null or one of its choices.
    pub(super) fn parse(obj: &Map<String, Value>) -> Result<Self, ProtocolError> {
        Ok(Self {
            clear_every_mins: choice(obj, "clear_every_mins", &CLEAR_CHOICES)?,
            expire_after_mins: choice(obj, "expire_after_mins", &EXPIRE_CHOICES)?,
        })
    }
}

fn choice(
    obj: &Map<String, Value>,
    field: &'static str,
    choices: &[u32],
) -> Result<u32, ProtocolError> {
    let value = match obj.get(field) {
        None | Some(Value::Null) => return Ok(0),
        Some(v) => v.as_u64(),
    };
    match value {
        Some(n) if choices.iter().any(|c| u64::from(*c) == n) => Ok(n as u32),
        _ => {
            let listed: Vec<String> = choices.iter().map(u32::to_string).collect();
            Err(ProtocolError::field(
                field,
                format!("{field} must be one of {} (0 = never)", listed.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Timers, ProtocolError> {
        let Value::Object(obj) = serde_json::from_str(json).unwrap() else {
            panic!("not an object")
        };
        Timers::parse(&obj)
    }

    #[test]
    fn only_the_listed_choices_are_accepted() {
        assert_eq!(parse("{}").unwrap(), Timers::default());
        let t = parse(r#"{"clear_every_mins":5,"expire_after_mins":null}"#).unwrap();
        assert_eq!((t.clear_every_mins, t.expire_after_mins), (5, 0));
        for c in CLEAR_CHOICES {
            for e in EXPIRE_CHOICES {
                let json = format!(r#"{{"clear_every_mins":{c},"expire_after_mins":{e}}}"#);
                assert_eq!(parse(&json).unwrap().expire_after_mins, e);
            }
        }
        for bad in [
            r#"{"clear_every_mins":4}"#,
            r#"{"clear_every_mins":-1}"#,
            r#"{"clear_every_mins":"5"}"#,
            r#"{"clear_every_mins":1.5}"#,
            r#"{"expire_after_mins":1}"#,
            r#"{"expire_after_mins":3}"#,
            r#"{"expire_after_mins":99999999999999999999}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_field", "{bad}");
            assert!(e.field.is_some(), "{bad}");
        }
    }
}
