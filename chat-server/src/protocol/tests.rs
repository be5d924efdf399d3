use super::*;

fn parse(s: &str) -> Result<ClientMessage, ProtocolError> {
    ClientMessage::parse(s, &Limits::default())
}

fn field_of(s: &str) -> Option<&'static str> {
    let err = parse(s).expect_err(s);
    assert_eq!(err.code, ErrorCode::InvalidField, "{s}: {err:?}");
    err.field
}

#[test]
fn parses_every_documented_client_frame() {
    assert_eq!(
        parse(r#"{"type":"hello","name":" Ann ","email":"ann@example.com"}"#).unwrap(),
        ClientMessage::Hello {
            name: "Ann".into(),
            email: Some("ann@example.com".into())
        }
    );
    assert_eq!(
        parse(r#"{"type":"join","room":"general","since":{"epoch":"e1","offset":41}}"#).unwrap(),
        ClientMessage::Join {
            room: "general".into(),
            since: Some(Since {
                epoch: "e1".into(),
                offset: 41
            })
        }
    );
    assert_eq!(
        parse(r#"{"type":"leave","room":"general"}"#).unwrap(),
        ClientMessage::Leave {
            room: "general".into()
        }
    );
    assert_eq!(
        parse(
            r#"{"type":"send","room":"general","topic":"intro","content":"hi","client_id":"c-1"}"#
        )
        .unwrap(),
        ClientMessage::Send {
            room: "general".into(),
            topic: Some("intro".into()),
            content: "hi".into(),
            client_id: "c-1".into()
        }
    );
    assert_eq!(parse(r#"{"type":"rooms"}"#).unwrap(), ClientMessage::Rooms);
    assert_eq!(
        parse(r#"{"type":"create_room","name":"ops"}"#).unwrap(),
        ClientMessage::CreateRoom { name: "ops".into() }
    );
    assert_eq!(
        parse(r#"{"type":"ping","id":7}"#).unwrap(),
        ClientMessage::Ping {
            id: serde_json::json!(7)
        }
    );
}

#[test]
fn unknown_fields_are_ignored_and_optional_fields_may_be_null_or_empty() {
    assert_eq!(
        parse(r#"{"type":"hello","name":"Bo","email":"","extra":[1,2]}"#).unwrap(),
        ClientMessage::Hello {
            name: "Bo".into(),
            email: None
        }
    );
    assert_eq!(
        parse(r#"{"type":"send","room":"a","topic":null,"content":"x","client_id":"1"}"#).unwrap(),
        ClientMessage::Send {
            room: "a".into(),
            topic: None,
            content: "x".into(),
            client_id: "1".into()
        }
    );
    assert_eq!(
        parse(r#"{"type":"join","room":"a","since":null}"#).unwrap(),
        ClientMessage::Join {
            room: "a".into(),
            since: None
        }
    );
}

#[test]
fn malformed_frames_get_bad_json_or_unknown_type() {
    for s in ["", "{", "not json", "[1,2]", "42", "\"hello\""] {
        assert_eq!(parse(s).unwrap_err().code, ErrorCode::BadJson, "{s:?}");
    }
    for s in [r#"{}"#, r#"{"type":"shout"}"#, r#"{"name":"x"}"#] {
        assert_eq!(parse(s).unwrap_err().code, ErrorCode::UnknownType, "{s:?}");
    }
    assert_eq!(field_of(r#"{"type":5}"#), Some("type"));
}

#[test]
fn each_invalid_field_is_named() {
    assert_eq!(field_of(r#"{"type":"hello"}"#), Some("name"));
    assert_eq!(field_of(r#"{"type":"hello","name":"   "}"#), Some("name"));
    assert_eq!(field_of(r#"{"type":"hello","name":42}"#), Some("name"));
    assert_eq!(
        field_of(&format!(
            r#"{{"type":"hello","name":"{}"}}"#,
            "a".repeat(65)
        )),
        Some("name")
    );
    assert_eq!(
        field_of(r#"{"type":"hello","name":"a\u0007b"}"#),
        Some("name")
    );
    for email in [
        "nope", "a@b", "a b@c.d", "@x.org", "a@.org", "a@x..org", "a@x.org.",
    ] {
        let s = format!(r#"{{"type":"hello","name":"a","email":"{email}"}}"#);
        assert_eq!(field_of(&s), Some("email"), "{email}");
    }
    assert_eq!(field_of(r#"{"type":"join"}"#), Some("room"));
    assert_eq!(
        field_of(r#"{"type":"join","room":"Big Room"}"#),
        Some("room")
    );
    assert_eq!(field_of(r#"{"type":"join","room":"-x"}"#), Some("room"));
    assert_eq!(
        field_of(&format!(r#"{{"type":"join","room":"{}"}}"#, "r".repeat(33))),
        Some("room")
    );
    assert_eq!(
        field_of(r#"{"type":"join","room":"a","since":{"offset":1}}"#),
        Some("since")
    );
    assert_eq!(
        field_of(r#"{"type":"join","room":"a","since":{"epoch":"e","offset":-1}}"#),
        Some("since")
    );
    assert_eq!(
        field_of(r#"{"type":"join","room":"a","since":3}"#),
        Some("since")
    );
    let send = |extra: &str| format!(r#"{{"type":"send","room":"a","client_id":"c",{extra}}}"#);
    assert_eq!(field_of(&send(r#""content":"""#)), Some("content"));
    assert_eq!(field_of(&send(r#""content":" \n ""#)), Some("content"));
    assert_eq!(field_of(&send(r#""content":"a\u0000b""#)), Some("content"));
    assert_eq!(
        field_of(&send(&format!(r#""content":"{}""#, "x".repeat(4097)))),
        Some("content")
    );
    assert_eq!(field_of(&send(r#""content":"x","topic":7"#)), Some("topic"));
    assert_eq!(
        field_of(&send(&format!(
            r#""content":"x","topic":"{}""#,
            "t".repeat(65)
        ))),
        Some("topic")
    );
    assert_eq!(
        field_of(r#"{"type":"send","room":"a","content":"x","client_id":"has space"}"#),
        Some("client_id")
    );
    assert_eq!(
        field_of(r#"{"type":"send","room":"a","content":"x"}"#),
        Some("client_id")
    );
    assert_eq!(
        field_of(r#"{"type":"create_room","name":"Ops!"}"#),
        Some("name")
    );
}

#[test]
fn limits_are_in_bytes_for_content_and_characters_for_names() {
    let four_k_of_euros = "€".repeat(1365); // 4095 bytes
    assert!(validate_content(&four_k_of_euros, 4096).is_ok());
    assert!(validate_content(&format!("{four_k_of_euros}ab"), 4096).is_err());
    assert!(validate_name(&"é".repeat(64), 64).is_ok());
    assert!(validate_content("line one\nline two\ttabbed", 4096).is_ok());
    let tight = Limits {
        max_content_bytes: 3,
        ..Limits::default()
    };
    let err = ClientMessage::parse(
        r#"{"type":"send","room":"a","content":"four","client_id":"c9"}"#,
        &tight,
    )
    .unwrap_err();
    assert_eq!(err.field, Some("content"));
    assert_eq!(
        err.client_id.as_deref(),
        Some("c9"),
        "the error names the failing send"
    );
}

#[test]
fn message_frames_are_serialised_once_and_completed_with_the_offset() {
    let draft = MessageDraft {
        room: "general",
        id: "id-1",
        name: "Ann \"A\"",
        email: None,
        time: "2026-11-23T09:00:00.000Z",
        topic: Some("intro"),
        content: "<img src=x onerror=alert(1)>",
        client_id: "c-1",
    };
    let frame = complete_frame(&draft.frame_prefix(), 42);
    let v: Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["offset"], 42);
    assert_eq!(v["name"], "Ann \"A\"");
    assert_eq!(v["email"], Value::Null);
    assert_eq!(v["content"], "<img src=x onerror=alert(1)>");
    let arr = frames_array(&[frame.clone().into(), frame.into()]).unwrap();
    let v: Value = serde_json::from_str(arr.get()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(frames_array(&[]).unwrap().get(), "[]");
}

#[test]
fn error_frames_carry_code_field_and_client_id() {
    let err = ProtocolError::field("content", "too long").for_client(Some("c-1".into()));
    let v: Value = serde_json::from_str(&err.to_frame()).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["code"], "invalid_field");
    assert_eq!(v["field"], "content");
    assert_eq!(v["client_id"], "c-1");
    let v: Value =
        serde_json::from_str(&ProtocolError::new(ErrorCode::RateLimited, "slow down").to_frame())
            .unwrap();
    assert!(v.get("field").is_none());
}

/// A small deterministic generator, so the fuzz test below is repeatable without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mangled_frames_never_panic_and_every_refusal_is_a_valid_error_frame() {
    let seeds = [
        r#"{"type":"hello","name":"Ann","email":"ann@example.com"}"#,
        r#"{"type":"join","room":"general","since":{"epoch":"e1","offset":41}}"#,
        r#"{"type":"send","room":"general","topic":"intro","content":"hi \u00e9","client_id":"c-1"}"#,
        r#"{"type":"create_room","name":"ops"}"#,
        r#"{"type":"ping","id":[1,{"a":null}]}"#,
    ];
    let pieces = [
        "\"",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "null",
        "true",
        "-1",
        "1e999",
        "18446744073709551616",
        "\\u0000",
        "\\ud800",
        "é",
        "\u{202e}",
        "\"type\"",
        "\"send\"",
        "\"since\"",
        " ",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..20_000 {
        let mut s: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(s.len() + 1);
            match rng.below(3) {
                0 if at < s.len() => {
                    s.remove(at);
                }
                1 => s
                    .splice(at..at, pieces[rng.below(pieces.len())].chars())
                    .for_each(drop),
                _ => s.truncate(at),
            }
        }
        let text: String = s.into_iter().collect();
        match parse(&text) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                let frame: serde_json::Value = serde_json::from_str(&e.to_frame())
                    .unwrap_or_else(|err| panic!("{text:?} gave a broken error frame: {err}"));
                assert_eq!(frame["type"], "error", "{text:?}");
                assert_eq!(frame["code"], e.code.as_str(), "{text:?}");
            }
        }
    }
    // Both paths were exercised, or the mangling was too weak (or too strong) to mean anything.
    assert!(
        accepted > 100 && refused > 100,
        "accepted {accepted}, refused {refused}"
    );
}
