//! JSON as the protocol reads it. Like `serde_json::Value`, except that a key given twice in one
//! object is an error: serde_json keeps the last, another reader may keep the first, and a frame
//! must mean one thing to every reader. And a ping's `id`, kept as the client wrote it.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Number, Value, map::Entry, value::RawValue};

/// Longest `ping` id, in bytes of JSON text.
pub const MAX_PING_ID_BYTES: usize = 128;

/// Parse `text`, refusing duplicate keys at any depth.
pub(super) fn from_str(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value without duplicate keys")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(map.next_value::<Strict>()?.0);
                }
                Entry::Occupied(slot) => {
                    let shown: String = slot.key().chars().take(32).collect();
                    return Err(de::Error::custom(format_args!("duplicate key \"{shown}\"")));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A `ping` id: any JSON value of at most [`MAX_PING_ID_BYTES`], echoed byte for byte (a number
/// is not rounded through `f64`, an object keeps its key order).
#[derive(Debug, Clone)]
pub struct PingId(Box<RawValue>);

impl PingId {
    /// The `id` of a ping frame already checked by [`from_str`]; `None` when it is too long.
    pub(super) fn from_frame(text: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Ping<'a> {
            #[serde(borrow)]
            id: Option<&'a RawValue>,
        }
        let id = serde_json::from_str::<Ping>(text).ok()?.id;
        let id = id.unwrap_or(RawValue::NULL);
        (id.get().len() <= MAX_PING_ID_BYTES).then(|| Self(id.to_owned()))
    }

    /// The id as JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for PingId {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Serialize for PingId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
