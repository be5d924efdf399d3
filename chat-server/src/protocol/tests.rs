use super::*;

use serde_json::Value;

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
            }),
            filter: None,
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
            client_id: "c-1".into(),
            reply_to: None,
        }
    );
    assert_eq!(parse(r#"{"type":"rooms"}"#).unwrap(), ClientMessage::Rooms);
    assert_eq!(
        parse(r#"{"type":"create_room","name":"ops"}"#).unwrap(),
        ClientMessage::CreateRoom {
            name: "ops".into(),
            timers: Default::default(),
            private: false
        }
    );
    assert_eq!(
        parse(r#"{"type":"create_room","name":"ops","private":true}"#).unwrap(),
        ClientMessage::CreateRoom {
            name: "ops".into(),
            timers: Default::default(),
            private: true
        }
    );
    assert_eq!(
        parse(r#"{"type":"create_room","name":"ops","private":"yes"}"#)
            .unwrap_err()
            .field,
        Some("private")
    );
    assert_eq!(
        parse(r#"{"type":"add_participant","room":"ops-1","username":"Bob_2"}"#).unwrap(),
        ClientMessage::AddParticipant {
            room: "ops-1".into(),
            username: "Bob_2".into()
        }
    );
    assert_eq!(
        parse(r#"{"type":"remove_participant","room":"ops-1","username":"b"}"#)
            .unwrap_err()
            .field,
        Some("username")
    );
    assert_eq!(
        parse(r#"{"type":"delete_room","room":"ops"}"#).unwrap(),
        ClientMessage::DeleteRoom { room: "ops".into() }
    );
    assert_eq!(
        pong_for(r#"{"type":"ping","id":7}"#),
        r#"{"type":"pong","id":7}"#
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
            client_id: "1".into(),
            reply_to: None,
        }
    );
    assert_eq!(
        parse(r#"{"type":"join","room":"a","since":null}"#).unwrap(),
        ClientMessage::Join {
            room: "a".into(),
            since: None,
            filter: None,
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
        user: Some("ann"),
        guest: false,
        email: None,
        time: "2026-11-23T09:00:00.000Z",
        topic: Some("intro"),
        content: "<img src=x onerror=alert(1)>",
        client_id: "c-1",
        reply_to: None,
    };
    let frame = complete_frame(&draft.frame_prefix(), 42);
    let v: Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["offset"], 42);
    assert_eq!(v["name"], "Ann \"A\"");
    assert_eq!(v["email"], Value::Null);
    assert_eq!(
        (&v["user"], &v["guest"]),
        (&Value::from("ann"), &Value::from(false))
    );
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
        "\u{200b}",
        "\u{feff}",
        "\u{a0}",
        "\\u0301",
        "\"name\":\"x\",",
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
            Ok(ClientMessage::Hello { name, .. }) => {
                accepted += 1;
                // Whatever got through is already canonical and free of invisible characters.
                assert_eq!(validate_name(&name, 64).as_ref(), Ok(&name), "{text:?}");
            }
            Ok(ClientMessage::Send { topic: Some(t), .. }) => {
                accepted += 1;
                assert_eq!(
                    validate_topic(Some(&t), 64),
                    Ok(Some(t.clone())),
                    "{text:?}"
                );
            }
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

fn pong_for(frame: &str) -> String {
    match parse(frame).unwrap() {
        ClientMessage::Ping { id } => ServerFrame::Pong { id: &id }.to_json(),
        other => panic!("{frame}: {other:?}"),
    }
}

#[test]
fn ping_ids_are_echoed_exactly_and_bounded() {
    for id in [
        "12345678901234567890123",
        "1E+300",
        "0.1000000000000000055511151231257827",
        r#"[1, {"b":2,"a":1}]"#,
        r#""\u00e9""#,
        "null",
    ] {
        let pong = pong_for(&format!(r#"{{"type":"ping","id":{id}}}"#));
        assert_eq!(pong, format!(r#"{{"type":"pong","id":{id}}}"#));
    }
    assert_eq!(
        pong_for(r#"{"type":"ping"}"#),
        r#"{"type":"pong","id":null}"#
    );
    let at_limit = format!(r#""{}""#, "x".repeat(126));
    assert!(parse(&format!(r#"{{"type":"ping","id":{at_limit}}}"#)).is_ok());
    let over = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(127));
    assert_eq!(field_of(&over), Some("id"));
}

#[test]
fn duplicate_keys_anywhere_are_bad_json() {
    for s in [
        r#"{"type":"send","room":"a","room":"b","content":"x","client_id":"c"}"#,
        r#"{"type":"hello","type":"hello","name":"Ann"}"#,
        r#"{"type":"join","room":"a","since":{"epoch":"e","offset":1,"offset":2}}"#,
        r#"{"type":"ping","id":[{"k":1,"k":1}]}"#,
        r#"{"type":"ping","id":1,"id":2}"#,
    ] {
        assert_eq!(parse(s).unwrap_err().code, ErrorCode::BadJson, "{s}");
    }
    // Equal values under different keys, and equal keys in sibling objects, are fine.
    assert!(parse(r#"{"type":"ping","id":[{"k":1},{"k":1}]}"#).is_ok());
}

/// Characters that render as nothing or reorder text: never part of a name or topic.
const INVISIBLE: &[char] = &[
    '\u{202e}',
    '\u{202a}',
    '\u{2066}',
    '\u{2069}',
    '\u{200e}',
    '\u{200f}',
    '\u{61c}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{2060}',
    '\u{2061}',
    '\u{2064}',
    '\u{feff}',
    '\u{ad}',
    '\u{180e}',
    '\u{e0001}',
    '\u{e0041}',
    '\u{e007f}',
    '\u{3164}',
    '\u{115f}',
    '\u{ffa0}',
    '\u{34f}',
    '\u{fff9}',
    '\u{1d173}',
    '\u{e000}',
    '\u{10ffff}',
];

#[test]
fn names_and_topics_refuse_invisible_and_bidi_characters() {
    for &c in INVISIBLE {
        for raw in [
            format!("Ann{c}"),
            format!("{c}Ann"),
            format!("A{c}nn"),
            c.to_string(),
        ] {
            assert!(
                validate_name(&raw, 64).is_err(),
                "name {raw:?} ({:04X})",
                c as u32
            );
            assert!(
                validate_topic(Some(&raw), 64).is_err(),
                "topic {raw:?} ({:04X})",
                c as u32
            );
        }
    }
    // Variation selectors and combining marks need a visible character to sit on.
    for raw in [
        "\u{fe0f}",
        " \u{fe0f}",
        "\u{301}",
        "a \u{301}",
        "\u{fe0f}\u{fe0f}",
    ] {
        assert!(validate_name(raw, 64).is_err(), "{raw:?}");
    }
    assert_eq!(
        validate_name("\u{2764}\u{fe0f}", 64).unwrap(),
        "\u{2764}\u{fe0f}"
    );
    assert_eq!(validate_name("e\u{301}", 64).unwrap(), "\u{e9}");
}

#[test]
fn names_are_nfc_with_single_spaces() {
    assert_eq!(
        validate_name("  Zoe\u{301}   Lee  ", 64).unwrap(),
        "Zo\u{e9} Lee"
    );
    assert_eq!(validate_name("Ann\u{a0}Lee", 64).unwrap(), "Ann Lee");
    assert_eq!(
        validate_name("Ann\u{3000}\u{2003} Lee", 64).unwrap(),
        "Ann Lee"
    );
    assert_eq!(
        validate_topic(Some(" new \u{a0} year "), 64)
            .unwrap()
            .as_deref(),
        Some("new year")
    );
    assert!(validate_name("\u{a0}\u{3000}", 64).is_err());
    // The length limit applies to what is kept: 64 composed characters from 128 decomposed ones.
    assert!(validate_name(&"e\u{301}".repeat(64), 64).is_ok());
    assert!(validate_name(&"e\u{301}".repeat(65), 64).is_err());
    assert!(validate_email(Some("a\u{200b}@example.com")).is_err());
}

/// A name from a small alphabet of letters, decomposed forms, spaces and invisible characters.
fn random_name(rng: &mut XorShift) -> String {
    const ALPHABET: &[&str] = &[
        "a",
        "B",
        "é",
        "e\u{301}",
        "Å",
        "A\u{30a}",
        "ß",
        "中",
        "😀",
        "\u{2764}\u{fe0f}",
        " ",
        "  ",
        "\u{a0}",
        "\u{3000}",
        "\u{2003}",
        "\u{202e}",
        "\u{200b}",
        "\u{200d}",
        "\u{feff}",
        "\u{ad}",
        "\u{e0041}",
        "\u{fe0f}",
        "\u{301}",
        "\u{3164}",
        "\u{7}",
    ];
    (0..1 + rng.below(8))
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

#[test]
fn accepted_names_are_canonical_so_no_two_spellings_give_two_looks() {
    use unicode_normalization::UnicodeNormalization;
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let raw = random_name(&mut rng);
        let Ok(name) = validate_name(&raw, 64) else {
            refused += 1;
            continue;
        };
        accepted += 1;
        assert_eq!(name, name.nfc().collect::<String>(), "{raw:?} is not NFC");
        assert_eq!(name.trim(), name, "{raw:?}");
        assert!(!name.contains("  "), "{raw:?}");
        assert!(
            name.chars().all(|c| c == ' ' || !c.is_whitespace()),
            "{raw:?}"
        );
        assert!(!name.chars().any(|c| INVISIBLE.contains(&c)), "{raw:?}");
        // Idempotent: the stored name validates to itself.
        assert_eq!(validate_name(&name, 64).as_ref(), Ok(&name), "{raw:?}");
        // Other spellings of the same text land on the same name.
        let decomposed: String = name.nfd().collect();
        assert_eq!(validate_name(&decomposed, 64).as_ref(), Ok(&name));
        let spaced = format!(" {}\u{a0}", name.replace(' ', "\u{3000} "));
        assert_eq!(validate_name(&spaced, 64).as_ref(), Ok(&name));
        // An invisible character anywhere makes it a refusal, never another name.
        let at = rng.below(name.chars().count() + 1);
        let c = INVISIBLE[rng.below(INVISIBLE.len())];
        let mut sneaky: Vec<char> = name.chars().collect();
        sneaky.insert(at, c);
        let sneaky: String = sneaky.into_iter().collect();
        assert!(validate_name(&sneaky, 64).is_err(), "{sneaky:?}");
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn search_and_filters_are_parsed_queries() {
    let join = parse(r##"{"type":"join","room":"a","filter":"#deploy OR from:ann"}"##).unwrap();
    let ClientMessage::Join {
        filter: Some(filter),
        ..
    } = join
    else {
        panic!("{join:?}");
    };
    assert_eq!(filter.to_string(), "#deploy OR from:ann");
    let blank = parse(r#"{"type":"join","room":"a","filter":"  "}"#).unwrap();
    assert!(matches!(blank, ClientMessage::Join { filter: None, .. }));
    let search = parse(r#"{"type":"search","room":"a","query":"x y","limit":500,"before":9}"#);
    assert!(
        matches!(
            &search,
            Ok(ClientMessage::Search { text, limit: 200, before: 9, .. }) if text == "x y"
        ),
        "{search:?}"
    );
    let e = parse(r#"{"type":"search","room":"a","query":"x AND (y"}"#).unwrap_err();
    assert_eq!(
        (e.code, e.position, e.field),
        (ErrorCode::BadQuery, Some(6), Some("query"))
    );
    let frame: serde_json::Value = serde_json::from_str(&e.to_frame()).unwrap();
    assert_eq!(
        (frame["code"].as_str(), frame["position"].as_u64()),
        (Some("bad_query"), Some(6))
    );
    let e = parse(r#"{"type":"join","room":"a","filter":"NOT"}"#).unwrap_err();
    assert_eq!(
        (e.code, e.position, e.field),
        (ErrorCode::BadQuery, Some(3), Some("filter"))
    );
    for missing in [
        r#"{"type":"search","room":"a"}"#,
        r#"{"type":"search","room":"a","query":"x","after":1}"#,
    ] {
        assert_eq!(
            parse(missing).unwrap_err().code,
            ErrorCode::InvalidField,
            "{missing}"
        );
    }
}
