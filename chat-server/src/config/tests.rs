//! Tests of the settings: defaults, ranges, the parsers, and that docs/configuration.md lists
//! every flag with its variable and default.

use super::*;

#[test]
fn defaults_match_the_documented_values() {
    let c = Config::defaults();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert!(c.redis_url.is_none());
    assert_eq!(c.history_len, 200);
    assert_eq!(c.max_content_bytes, 4096);
    assert_eq!(c.max_frame_bytes, 65_536);
    assert!(c.origin_allowlist().is_empty());
}

#[test]
fn flags_parse_and_bad_values_are_refused() {
    let c = Config::try_parse_from([
        "chat-server",
        "--allowed-origins",
        "https://Chat.Example.com/, http://localhost:3000",
        "--history-len",
        "5",
    ])
    .unwrap();
    assert_eq!(
        c.origin_allowlist(),
        ["https://chat.example.com", "http://localhost:3000"]
    );
    assert_eq!(c.history_len, 5);
    let c = Config::try_parse_from([
        "chat-server",
        "--public-url",
        "HTTP://Node:30222/chat",
        "--allowed-origins",
        "https://a.example:443,*",
    ])
    .unwrap();
    assert_eq!(
        c.public_url.as_ref().unwrap().as_str(),
        "http://node:30222/chat"
    );
    assert_eq!(c.origin_allowlist(), ["https://a.example", "*"]);
    for bad in ["node:30222", "ftp://node", "http://", "/relative", "null"] {
        assert!(
            Config::try_parse_from(["chat-server", "--public-url", bad]).is_err(),
            "{bad}"
        );
        assert!(
            Config::try_parse_from(["chat-server", "--allowed-origins", bad]).is_err(),
            "{bad}"
        );
    }
    assert!(Config::try_parse_from(["chat-server", "--history-len", "0"]).is_err());
    assert!(Config::try_parse_from(["chat-server", "--redis-prefix", "a b"]).is_err());
    assert!(Config::try_parse_from(["chat-server", "--listen", "nope"]).is_err());
    for rate in ["0", "-1", "NaN", "inf", "100001"] {
        assert!(
            Config::try_parse_from(["chat-server", "--send-rate", rate]).is_err(),
            "{rate}"
        );
    }
    let slow = Config::try_parse_from(["chat-server", "--send-rate", "0.5"]).unwrap();
    assert_eq!(slow.send_rate, 0.5);
}

#[test]
fn account_settings_parse_with_their_ranges() {
    let c = Config::defaults();
    assert!(c.admins.iter().all(String::is_empty));
    assert!(!c.guest_posting);
    assert_eq!(c.cookie_secure, CookieSecure::Auto);
    assert!(!c.cookie_is_secure());
    assert_eq!(c.session_ttl(), Duration::from_secs(720 * 3600));
    let c = Config::try_parse_from([
        "chat-server",
        "--admins",
        "Root, ops-1",
        "--guest-posting",
        "true",
        "--public-url",
        "https://chat.example.com",
    ])
    .unwrap();
    assert_eq!(c.admins, ["Root", "ops-1"]);
    assert!(c.guest_posting && c.cookie_is_secure());
    let c = Config::try_parse_from([
        "chat-server",
        "--support-agents",
        "Ann,bob_2",
        "--guest-support",
        "true",
    ])
    .unwrap();
    assert_eq!(c.support_agents, ["Ann", "bob_2"]);
    assert!(c.guest_support && !Config::defaults().guest_support);
    let never = [
        "chat-server",
        "--public-url",
        "https://x.example",
        "--cookie-secure",
        "never",
    ];
    assert!(!Config::try_parse_from(never).unwrap().cookie_is_secure());
    for bad in [
        ["--admins", "a b"],
        ["--admins", "x"],
        ["--support-agents", "a b"],
        ["--guest-support", "yes"],
        ["--session-ttl-hours", "0"],
        ["--session-ttl-hours", "8761"],
        ["--guest-posting", "yes"],
        ["--cookie-secure", "sometimes"],
        ["--general-clear-mins", "1441"],
        ["--timed-minute-ms", "99"],
    ] {
        let argv = ["chat-server"].into_iter().chain(bad);
        assert!(Config::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

/// Rows of the flag table in docs/configuration.md: (flag, env, default).
fn documented(doc: &str) -> Vec<(String, String, String)> {
    doc.lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|l| {
            let cells: Vec<String> = l
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            (cells[1].clone(), cells[2].clone(), cells[3].clone())
        })
        .collect()
}

#[test]
fn every_flag_is_documented_with_its_env_and_default() {
    let doc = include_str!("../../../docs/configuration.md");
    let readme = include_str!("../../../README.md");
    assert!(
        readme.contains("(docs/configuration.md)"),
        "README links the one configuration table"
    );
    let rows = documented(doc);
    let cmd = <Config as clap::CommandFactory>::command();
    let flags: Vec<_> = cmd
        .get_arguments()
        .filter(|a| a.get_long().is_some() && a.get_long() != Some("help"))
        .filter(|a| a.get_long() != Some("version"))
        .collect();
    assert_eq!(rows.len(), flags.len(), "documented rows: {rows:#?}");
    for arg in flags {
        let long = format!("--{}", arg.get_long().unwrap());
        let row = rows
            .iter()
            .find(|r| r.0 == long)
            .unwrap_or_else(|| panic!("{long} is not in docs/configuration.md"));
        let env = arg.get_env().unwrap().to_str().unwrap();
        assert_eq!(row.1, env, "{long}");
        let default: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        match default.join(",") {
            none if none.is_empty() => {
                assert!(
                    ["unset", "empty"].contains(&row.2.as_str()),
                    "{long}: {row:?}"
                )
            }
            values => assert_eq!(row.2, values, "{long}"),
        }
    }
}
