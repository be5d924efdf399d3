//! The CRD's schema against the server's flag parser: every env var the operator sets is a real
//! server setting and every setting is passed, and each default, range, enum and username rule of
//! `spec.chat` is the server's own. The helpers that read both sides live in `tests.rs`.

use super::*;

#[test]
fn every_env_var_is_a_real_server_setting_and_every_setting_is_passed() {
    const DOCS: &str = include_str!("../../../../../docs/configuration.md");
    let server = server_flags();
    assert!(server.len() >= 20, "{:?}", server.keys());
    // The two settings without a default are passed only when set: set them here.
    let app = ChatApp::test()
        .with_external_database()
        .with_support_api(None, |_| {})
        .with_chat(|c| {
            c.client_address_header = Some("X-Forwarded-For".into());
            c.public_url = Some("http://chat.example.com".into());
        });
    let unset: Vec<String> = chat_env(&ChatApp::test())
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        !unset.contains(&"CHATAPP_PUBLIC_URL".to_owned()),
        "{unset:?}"
    );
    assert!(!unset.contains(&"CHATAPP_CLIENT_ADDRESS_HEADER".to_owned()));
    assert!(!unset.contains(&"CHATAPP_DATABASE_URL".to_owned()));
    assert!(!unset.contains(&"CHATAPP_GRPC_LISTEN".to_owned()));
    let set: Vec<String> = chat_env(&app).into_iter().map(|e| e.name).collect();
    for name in &set {
        let env_only = ENV_ONLY.iter().any(|(n, _)| n == name);
        assert!(
            server.contains_key(name) || name == "RUST_LOG" || env_only,
            "{name} is not a chat-server setting"
        );
        assert!(
            DOCS.contains(&format!("`{name}`")),
            "{name} is not in docs/configuration.md"
        );
    }
    for name in server.keys() {
        if NOT_PASSED.iter().any(|(n, _)| n == name) {
            assert!(!set.contains(name), "{name} is passed after all");
            continue;
        }
        assert!(
            set.contains(name),
            "{name} is a server setting the operator does not pass"
        );
    }
}

/// The server's default for `arg` as JSON, typed like `like` (the CRD's default).
fn server_default(arg: &Arg, like: &Value) -> Value {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let one = values.first().cloned().unwrap_or_default();
    match like {
        Value::Number(_) => serde_json::json!(one.parse::<f64>().expect("a number")),
        Value::Bool(_) => serde_json::json!(one.parse::<bool>().expect("true or false")),
        Value::Array(_) => values
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
            .map(|v| Value::String(v.to_owned()))
            .collect(),
        _ => Value::String(one),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

#[test]
fn every_crd_default_is_the_servers() {
    let flags = server_flags();
    let schema = chat_schema();
    let mut compared = Vec::new();
    for (env, arg) in &flags {
        let field = setting_field(env);
        let Some(prop) = schema.get(&field) else {
            continue;
        };
        let crd = &prop["default"];
        if arg.get_default_values().is_empty() && arg.get_action().takes_values() {
            // Unset is the server's default (publicUrl, clientAddressHeader): none in the CRD.
            assert!(
                crd.is_null(),
                "spec.chat.{field} has a default, the server none"
            );
            compared.push(field);
            continue;
        }
        assert!(!crd.is_null(), "spec.chat.{field} has no default");
        let server = server_default(arg, crd);
        if let Some((_, why)) = OWN_DEFAULTS.iter().find(|(f, _)| *f == field) {
            assert!(!same(crd, &server), "{field} is the server's again: {why}");
        } else {
            assert!(
                same(crd, &server),
                "spec.chat.{field} defaults to {crd}, the server ({env}) to {server}"
            );
        }
        compared.push(field);
    }
    let unmatched: Vec<_> = schema
        .keys()
        .filter(|f| !compared.contains(f) && f.as_str() != "logLevel")
        .collect();
    assert!(
        unmatched.is_empty(),
        "spec.chat fields without a server flag: {unmatched:?}"
    );
    assert!(compared.len() >= 31, "{compared:?}");
    let database = section_schema("database");
    let unmatched: Vec<_> = database
        .keys()
        .filter(|f| {
            !["external", "managed"].contains(&f.as_str())
                && !compared.contains(&format!("database.{f}"))
        })
        .collect();
    assert!(
        unmatched.is_empty(),
        "spec.database settings without a server flag: {unmatched:?}"
    );
}

/// A number as the server's flag parser reads it (integers without a fraction).
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

#[test]
fn every_crd_range_is_the_servers() {
    let flags = server_flags();
    let schema = chat_schema();
    let mut checked = 0;
    for (env, arg) in &flags {
        let field = setting_field(env);
        let Some(prop) = schema.get(&field) else {
            continue;
        };
        let at = format!("spec.{field} vs {env}");
        let narrower = OWN_RANGES.iter().any(|(f, _)| *f == field);
        let accepts = |v: &str| server_accepts(arg, v);
        if let (Some(min), Some(max)) = (prop["minimum"].as_f64(), prop["maximum"].as_f64()) {
            let exclusive = prop["exclusiveMinimum"] == true;
            let integer = prop["type"] == "integer";
            let step = if integer { 1.0 } else { 0.001 };
            assert!(
                accepts(&number(max)),
                "{at}: the server refuses the maximum"
            );
            assert!(
                narrower || !accepts(&number(max + 1.0)),
                "{at}: the server allows more"
            );
            if exclusive {
                assert!(
                    !accepts(&number(min)),
                    "{at}: the server allows the minimum"
                );
                assert!(accepts(&number(min + step)), "{at}: just above the minimum");
            } else {
                assert!(
                    accepts(&number(min)),
                    "{at}: the server refuses the minimum"
                );
                assert!(!accepts(&number(min - 1.0)), "{at}: the server allows less");
            }
            // An integer field must not hide fractions the server takes (sendRate did).
            let fraction = number(min.max(0.0) + 1.5);
            assert!(
                !(integer && accepts(&fraction)),
                "{at}: the server accepts {fraction}, the CRD only integers"
            );
            checked += 1;
        }
        if let Some(max) = prop["maxLength"].as_u64() {
            let max = max as usize;
            assert!(accepts(&"a".repeat(max)), "{at}: longest");
            assert!(!accepts(&"a".repeat(max + 1)), "{at}: too long");
            checked += 1;
        }
    }
    assert!(checked >= 28, "only {checked} limits compared");
}

#[test]
fn every_crd_enum_is_the_servers() {
    let flags = server_flags();
    let schema = chat_schema();
    let mut checked = 0;
    for (env, arg) in &flags {
        let Some(values) = schema
            .get(&setting_field(env))
            .and_then(|p| p["enum"].as_array())
        else {
            continue;
        };
        let crd: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let server: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert_eq!(crd, server, "{env}: the CRD's values and the server's");
        checked += 1;
    }
    assert!(checked >= 1, "cookieSecure is an enum");
}

#[test]
fn the_admin_rule_is_the_servers() {
    same_username_rule("admins", "CHATAPP_ADMINS");
}

#[test]
fn the_support_agent_rule_is_the_servers() {
    same_username_rule("supportAgents", "CHATAPP_SUPPORT_AGENTS");
}

/// The CRD's rule for the usernames of `spec.chat.<field>`, the controller's and the server's
/// parser of `env` accept and refuse the same names.
fn same_username_rule(field: &str, env: &str) {
    let schema = chat_schema();
    let item = &schema[field]["items"];
    let pattern = regex_lite(item["pattern"].as_str().expect("a pattern"));
    let (min, max) = (item["minLength"].as_u64(), item["maxLength"].as_u64());
    assert_eq!((min, max), (Some(3), Some(32)), "{item}");
    let flag = &server_flags()[env];
    for name in ["abc", "Ann-Marie_2", &"x".repeat(32)] {
        assert!(pattern(name) && server_accepts(flag, name), "{name}");
        assert!(crate::controller::validate::is_username(name), "{name}");
    }
    for bad in ["ab", &"x".repeat(33), "a b", "ann.m", "émile"] {
        let crd_ok = pattern(bad) && (3..=32).contains(&bad.chars().count());
        assert!(!crd_ok && !server_accepts(flag, bad), "{field}: {bad}");
        assert!(!crate::controller::validate::is_username(bad), "{bad}");
    }
}

/// The CRD's one admin pattern, `^[A-Za-z0-9_-]+$`, as a predicate (no regex crate here).
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
    assert_eq!(
        pattern, "^[A-Za-z0-9_-]+$",
        "update this test with the pattern"
    );
    |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }
}
