//! Frame parsing and the client's accounting, without a server.

use super::*;

#[test]
fn send_frames_are_valid_protocol_and_carry_their_stamp() {
    let frame = send_frame("bench-0", 7, 3, 123_456, 64);
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(v["type"], "send");
    assert_eq!(v["room"], "bench-0");
    assert_eq!(v["client_id"], "7.3.123456");
    let content = v["content"].as_str().unwrap();
    assert_eq!(content.len(), 64, "{content}");
    assert_eq!(read_stamp(content), Some(123_456));
    assert_eq!(
        stamp_of_client_id(v["client_id"].as_str().unwrap()),
        Some(123_456)
    );
    // Tiny sizes still carry the stamp.
    let v: serde_json::Value = serde_json::from_str(&send_frame("r", 0, 1, 5, 1)).unwrap();
    assert_eq!(read_stamp(v["content"].as_str().unwrap()), Some(5));
}

#[test]
fn frames_parse_with_unknown_fields_and_escapes() {
    let f: Frame<'_> = serde_json::from_str(
        r#"{"type":"message","room":"r","offset":9,"id":"x","name":"a\"b","email":null,"time":"t","topic":null,"content":"0000000000000001 \u00e9","client_id":"1.2.3","extra":[1,{"a":2}]}"#,
    )
    .unwrap();
    assert_eq!(f.kind, "message");
    assert_eq!(f.offset, Some(9));
    assert_eq!(read_stamp(f.content.as_deref().unwrap()), Some(1));
    let f: Frame<'_> = serde_json::from_str(
        r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"1.1.1"}"#,
    )
    .unwrap();
    assert_eq!(f.code.as_deref(), Some("rate_limited"));
}
