//! The lifecycle rule and frames, without IO.

use super::*;

const ANN: &str = r#"{"type":"message","room":"general","id":"i1","name":"Ann D.","user":"Ann","guest":false,"email":"ann@example.com","time":"2026-01-01T00:00:00.000Z","topic":"t","content":"secret","client_id":"c1","offset":7}"#;

fn req<'a>(change: Change<'a>, username: &'static str, admin: bool) -> Rewrite<'a> {
    Rewrite {
        room: "general",
        offset: 7,
        change,
        actor: Actor { username, admin },
        at_ms: 1_767_225_600_000,
    }
}

fn written(d: Decision) -> (Map<String, Value>, Value) {
    let Decision::Write { frame, notice } = d else {
        panic!("not a write: {d:?}")
    };
    (
        serde_json::from_str(&frame).unwrap(),
        serde_json::from_str(&notice).unwrap(),
    )
}

#[test]
fn the_sender_edits_by_username_ignoring_case_and_a_retry_changes_nothing() {
    let edit = req(Change::Edit { content: "fixed" }, "ann", false);
    let (frame, notice) = written(rewrite(&edit, ANN));
    assert_eq!(frame["content"], "fixed");
    assert_eq!(frame["edited"], "2026-01-01T00:00:00.000Z");
    assert_eq!(
        (frame["offset"].as_u64(), &frame["name"]),
        (Some(7), &Value::from("Ann D."))
    );
    assert_eq!(notice["type"], "edited");
    assert_eq!(notice["edited_at"], frame["edited"]);
    let again = rewrite(&edit, &serde_json::to_string(&frame).unwrap());
    assert!(matches!(again, Decision::Unchanged { .. }), "{again:?}");
    let other = req(Change::Edit { content: "fixed" }, "bob", true);
    assert_eq!(
        rewrite(&other, ANN),
        Decision::Refused(Refusal::NotYours),
        "admins edit only their own"
    );
}

#[test]
fn a_tombstone_keeps_who_and_drops_what() {
    let (frame, notice) = written(rewrite(&req(Change::Delete, "root", true), ANN));
    assert!(!ANN.is_empty() && !serde_json::to_string(&frame).unwrap().contains("secret"));
    for gone in ["content", "topic", "email", "edited"] {
        assert!(!frame.contains_key(gone), "{gone} kept: {frame:?}");
    }
    assert_eq!(
        (&frame["deleted"], &frame["user"]),
        (&Value::Bool(true), &Value::from("Ann"))
    );
    assert_eq!(
        notice,
        serde_json::json!({"type":"deleted","room":"general","offset":7})
    );
    let tomb = serde_json::to_string(&frame).unwrap();
    assert!(matches!(
        rewrite(&req(Change::Delete, "ann", false), &tomb),
        Decision::Unchanged { .. }
    ));
    assert_eq!(
        rewrite(&req(Change::Edit { content: "x" }, "ann", false), &tomb),
        Decision::Refused(Refusal::Deleted)
    );
    assert_eq!(
        rewrite(&req(Change::Delete, "bob", false), ANN),
        Decision::Refused(Refusal::NotYours)
    );
}

fn parse(s: &str) -> Result<ClientMessage, ProtocolError> {
    ClientMessage::parse(s, &Limits::default())
}

#[test]
fn edit_delete_and_ephemeral_frames_parse_and_validate_like_send() {
    assert_eq!(
        parse(r#"{"type":"edit","room":"general","offset":3,"content":"new"}"#),
        Ok(ClientMessage::Edit {
            room: "general".into(),
            offset: 3,
            content: "new".into()
        })
    );
    assert_eq!(
        parse(r#"{"type":"delete","room":"general","offset":3}"#),
        Ok(ClientMessage::Delete {
            room: "general".into(),
            offset: 3
        })
    );
    let eph = parse(r#"{"type":"send","room":"a","content":"x","client_id":"c","ephemeral":true}"#);
    assert!(
        matches!(eph, Ok(ClientMessage::Ephemeral { .. })),
        "{eph:?}"
    );
    for plain in ["false", "null"] {
        let frame = format!(
            r#"{{"type":"send","room":"a","content":"x","client_id":"c","ephemeral":{plain}}}"#
        );
        assert!(
            matches!(parse(&frame), Ok(ClientMessage::Send { .. })),
            "{plain}"
        );
    }
    let field = |s: &str| parse(s).unwrap_err().field;
    assert_eq!(
        field(r#"{"type":"delete","room":"general","offset":0}"#),
        Some("offset")
    );
    assert_eq!(
        field(r#"{"type":"delete","room":"general","offset":"1"}"#),
        Some("offset")
    );
    assert_eq!(
        field(r#"{"type":"edit","room":"general","offset":1,"content":"  "}"#),
        Some("content")
    );
    assert_eq!(
        field(r#"{"type":"edit","room":"general","offset":1}"#),
        Some("content")
    );
    let bad = parse(r#"{"type":"send","room":"a","content":"x","client_id":"c","ephemeral":1}"#);
    assert_eq!(bad.unwrap_err().field, Some("ephemeral"));
    let err = parse(r#"{"type":"send","room":"a","content":"","client_id":"c7","ephemeral":true}"#)
        .unwrap_err();
    assert_eq!(
        (err.field, err.client_id.as_deref()),
        (Some("content"), Some("c7"))
    );
}

#[test]
fn an_ephemeral_frame_is_a_message_without_an_offset() {
    let draft = MessageDraft {
        room: "general",
        id: "i",
        name: "Ann",
        user: Some("ann"),
        guest: false,
        email: None,
        time: "t",
        topic: None,
        content: "brb",
        client_id: "c",
        reply_to: None,
    };
    let frame: Value = serde_json::from_str(&ephemeral_frame(&draft)).unwrap();
    assert_eq!(
        (&frame["type"], &frame["ephemeral"]),
        (&Value::from("message"), &Value::Bool(true))
    );
    assert!(frame.get("offset").is_none(), "{frame}");
    let ack: Value = serde_json::from_str(&ephemeral_ack("c", "general", "i")).unwrap();
    assert_eq!(ack["ephemeral"], true);
    assert!(ack.get("offset").is_none(), "{ack}");
}

#[test]
fn a_guest_message_is_nobodys_and_the_display_name_is_not_an_owner() {
    let guest = ANN.replace(r#""user":"Ann""#, r#""user":null"#);
    assert_eq!(
        rewrite(&req(Change::Edit { content: "x" }, "Ann D.", false), &guest),
        Decision::Refused(Refusal::NotYours)
    );
    assert!(matches!(
        rewrite(&req(Change::Delete, "root", true), &guest),
        Decision::Write { .. }
    ));
}
