//! The chat-server is the one source of every limit. Its own flag parser (`chat_server::Config`
//! and clap's `CommandFactory`, with its ranges, value parsers and defaults) is checked here
//! against the CRD: every `spec.chat` field is a server flag with the same default, the CRD's
//! range is one the server accepts at both ends and refuses just outside, and the server reads
//! back the values the spec asked for. Nothing else of chat-server is named, so its modules can
//! move freely.

use std::collections::BTreeMap;

use chat_server::Config;
use clap::{Arg, CommandFactory, Parser};
use kube::CustomResourceExt;
use serde_json::Value;

use super::chat_env;
use crate::crd::{ChatApp, ChatSettings, CookieSecure};
use crate::fixtures::TestApp;

/// CRD defaults that differ from the server's on purpose, with the reason.
const OWN_DEFAULTS: &[(&str, &str)] = &[(
    "drainDelaySecs",
    "in a cluster, proxies need a few seconds to drop a terminating pod; a lone process does not",
)];

/// CRD ranges narrower than the server's on purpose (the server takes any u32/u64), with the reason.
const OWN_RANGES: &[(&str, &str)] = &[
    (
        "database.retentionDays",
        "a century is long enough; the schema keeps typos such as 3650000 out",
    ),
    (
        "database.retentionMessages",
        "a JSON integer the API server and kubectl keep exact, far above any room",
    ),
];

/// The server's flags that have an environment variable, by that variable.
fn server_flags() -> BTreeMap<String, Arg> {
    Config::command()
        .get_arguments()
        .filter_map(|a| Some((a.get_env()?.to_str()?.to_owned(), a.clone())))
        .collect()
}

/// `CHATAPP_HISTORY_LEN` -> `historyLen`, the ChatSettings field that feeds it.
fn chat_field(env: &str) -> String {
    let mut out = String::new();
    for (i, word) in env.trim_start_matches("CHATAPP_").split('_').enumerate() {
        let word = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&word);
        } else {
            out.push_str(&word[..1].to_ascii_uppercase());
            out.push_str(&word[1..]);
        }
    }
    out
}

/// Settings whose spec field is not the variable's name in camel case, with the field.
const RENAMED: &[(&str, &str)] = &[("CHATAPP_GENERAL_CLEAR_MINS", "generalClearMinutes")];

/// Server settings the operator never passes, with the reason.
const NOT_PASSED: &[(&str, &str)] = &[(
    "CHATAPP_TIMED_MINUTE_MS",
    "test only: shortens the timed rooms' minute so tests need not wait minutes",
)];

/// Settings the server reads from its environment only (never a flag: a secret has no place on a
/// command line), with the reason. The operator passes them; the docs list them.
const ENV_ONLY: &[(&str, &str)] = &[(
    "CHATAPP_SUPPORT_API_TOKEN",
    "the support API's bearer token, from a Secret",
)];

/// The durable mode's settings live in `spec.database`, next to the database they are about.
const DATABASE_SETTINGS: &[(&str, &str)] = &[
    ("CHATAPP_DATABASE_MAX_CONNECTIONS", "maxConnections"),
    ("CHATAPP_RETENTION_DAYS", "retentionDays"),
    ("CHATAPP_RETENTION_MESSAGES", "retentionMessages"),
];

/// The schema of every field of `spec.<section>`, by name.
fn section_schema(section: &str) -> serde_json::Map<String, Value> {
    let crd = serde_json::to_value(ChatApp::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        [section]["properties"]
        .as_object()
        .unwrap()
        .clone()
}

/// Settings of the Redis the chat uses, in `spec.redis`, by their path under it.
const REDIS_SETTINGS: &[(&str, &str)] = &[("CHATAPP_REDIS_CLUSTER", "external.cluster")];

/// The schema of every `spec.chat` field and of the `spec.database` and `spec.redis` settings,
/// by their path under spec (`historyLen`, `database.retentionDays`, `redis.external.cluster`).
fn chat_schema() -> serde_json::Map<String, Value> {
    let mut all = section_schema("chat");
    let redis = section_schema("redis");
    for (_, path) in REDIS_SETTINGS {
        let (object, field) = path.split_once('.').unwrap();
        let schema = redis[object]["properties"][field].clone();
        all.insert(format!("redis.{path}"), schema);
    }
    let database = section_schema("database");
    for (_, field) in DATABASE_SETTINGS {
        all.insert(format!("database.{field}"), database[*field].clone());
    }
    all
}

/// The spec field (path under spec) that feeds the server variable `env`.
fn setting_field(env: &str) -> String {
    if let Some((_, field)) = RENAMED.iter().find(|(e, _)| *e == env) {
        return (*field).to_owned();
    }
    if let Some((_, path)) = REDIS_SETTINGS.iter().find(|(e, _)| *e == env) {
        return format!("redis.{path}");
    }
    match DATABASE_SETTINGS.iter().find(|(e, _)| *e == env) {
        Some((_, field)) => format!("database.{field}"),
        None => chat_field(env),
    }
}

/// Whether the server accepts `value` for the flag `arg` alone.
fn server_accepts(arg: &Arg, value: &str) -> bool {
    let flag = format!("--{}={value}", arg.get_long().unwrap());
    Config::try_parse_from(["chat-server", flag.as_str()]).is_ok()
}

/// The command line equivalent to `app`'s environment: each variable becomes the flag that
/// declares it as its `env`. A Secret-backed variable gets a stand-in value.
fn server_argv(app: &ChatApp) -> Vec<String> {
    let flags = server_flags();
    let mut argv = vec!["chat-server".to_owned()];
    for var in chat_env(app) {
        if var.name == "RUST_LOG" {
            continue; // read by tracing's EnvFilter, not by the flag parser
        }
        let Some(arg) = flags.get(&var.name) else {
            let env_only = ENV_ONLY.iter().any(|(n, _)| *n == var.name);
            assert!(env_only, "{} is no chat-server flag's env", var.name);
            continue;
        };
        let value = var.value.unwrap_or_else(|| match var.name.as_str() {
            "CHATAPP_DATABASE_URL" => "postgres://chat:pw@from-the-secret:5432/chat".to_owned(),
            "CHATAPP_SUPPORT_API_TOKEN" => "t".repeat(64),
            _ => "redis://from-the-secret:6379".to_owned(),
        });
        argv.push(format!("--{}={value}", arg.get_long().unwrap()));
    }
    argv
}

fn server_config(app: &ChatApp) -> Result<Config, clap::Error> {
    Config::try_parse_from(server_argv(app))
}

/// What the server's parser read for the setting `env` from `app`'s environment, as written
/// (for settings this test reads without naming the server's struct fields).
fn server_value(app: &ChatApp, env: &str) -> Option<String> {
    let matches = Config::command()
        .try_get_matches_from(server_argv(app))
        .unwrap_or_else(|e| panic!("{e}"));
    let id = server_flags()[env].get_id().clone();
    let raw: Vec<String> = matches
        .get_raw(id.as_str())?
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    Some(raw.join(","))
}

fn at_the_edges() -> Vec<ChatSettings> {
    let low = |c: &mut ChatSettings| {
        c.history_len = 1;
        c.max_content_bytes = 1;
        c.max_name_chars = 1;
        c.max_topic_chars = 1;
        c.max_frame_bytes = 1024;
        c.max_rooms = 1;
        c.max_connections = 1;
        c.send_rate = 0.5;
        c.send_burst = 1;
        c.outbound_queue = 8;
        c.ping_interval_secs = 1;
        c.header_timeout_secs = 1;
        c.presence_ttl_secs = 3;
        c.drain_delay_secs = 0;
        c.shutdown_grace_secs = 0;
        c.redis_prefix = "a".into();
        c.write_timeout_secs = 1;
        c.hello_timeout_secs = 1;
        c.request_rate = 0.5;
        c.request_burst = 1;
        c.reply_bytes_per_sec = 65_536;
        c.max_connections_per_address = 1;
        c.address_send_rate = 0.5;
        c.address_send_burst = 1;
        c.rooms_per_address_per_hour = 1;
        c.session_ttl_hours = 1;
        c.cookie_secure = CookieSecure::Never;
        c.admins = vec!["abc".into()];
        c.support_agents = vec!["abc".into()];
        c.general_clear_minutes = 0;
    };
    let high = |c: &mut ChatSettings| {
        c.history_len = 100_000;
        c.max_content_bytes = 1_048_576;
        c.max_name_chars = 1024;
        c.max_topic_chars = 1024;
        c.max_frame_bytes = 16_777_216;
        c.max_rooms = 1_000_000;
        c.max_connections = 1_000_000;
        c.send_rate = 100_000.0;
        c.send_burst = 10_000_000;
        c.outbound_queue = 1_000_000;
        c.ping_interval_secs = 3600;
        c.header_timeout_secs = 600;
        c.presence_ttl_secs = 3600;
        c.drain_delay_secs = 600;
        c.shutdown_grace_secs = 3600;
        c.redis_prefix = "team-a:chat_1.x".into();
        c.allowed_origins = vec!["https://chat.example.com".into(), "*".into()];
        c.write_timeout_secs = 600;
        c.hello_timeout_secs = 600;
        c.request_rate = 100_000.0;
        c.request_burst = 10_000_000;
        c.reply_bytes_per_sec = 1_073_741_824;
        c.max_connections_per_address = 1_000_000;
        c.address_send_rate = 100_000.0;
        c.address_send_burst = 10_000_000;
        c.rooms_per_address_per_hour = 1_000_000;
        c.general_clear_minutes = 1440;
        c.client_address_header = Some("X-Forwarded-For".into());
        c.public_url = Some("https://chat.example.com:8443/chat".into());
        c.session_ttl_hours = 8760;
        c.cookie_secure = CookieSecure::Always;
        c.guest_posting = true;
        c.admins = vec!["Ann-Marie_2".into(), "x".repeat(32)];
        c.support_agents = vec!["Ann-Marie_2".into(), "y".repeat(32)];
        c.guest_support = true;
    };
    let mut out = vec![ChatSettings::default()];
    for f in [low, high] {
        let mut c = ChatSettings::default();
        f(&mut c);
        out.push(c);
    }
    out
}

#[test]
fn the_server_accepts_the_operators_environment_at_every_edge() {
    for settings in at_the_edges() {
        let app = ChatApp::test().with_chat(|c| *c = settings.clone());
        let config = server_config(&app).unwrap_or_else(|e| panic!("{settings:?}: {e}"));
        assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(config.redis_url.as_deref(), Some("redis://demo-redis:6379"));
        assert_eq!(config.history_len, settings.history_len as u32);
        assert_eq!(config.max_content_bytes, settings.max_content_bytes as u32);
        assert_eq!(config.max_frame_bytes, settings.max_frame_bytes as u32);
        assert_eq!(config.send_rate, settings.send_rate);
        assert_eq!(config.drain_delay_secs, settings.drain_delay_secs as u64);
        assert_eq!(
            config.shutdown_grace_secs,
            settings.shutdown_grace_secs as u64
        );
        assert_eq!(config.redis_prefix, settings.redis_prefix);
        assert_eq!(
            config.allowed_origins.len(),
            settings.allowed_origins.len().max(1)
        );
        assert_eq!(format!("{:?}", config.log_format), "Json");
        assert_eq!(
            config.write_timeout_secs,
            settings.write_timeout_secs as u64
        );
        assert_eq!(
            config.hello_timeout_secs,
            settings.hello_timeout_secs as u64
        );
        assert_eq!(config.request_rate, settings.request_rate);
        assert_eq!(config.request_burst, settings.request_burst as u32);
        assert_eq!(
            config.reply_bytes_per_sec,
            settings.reply_bytes_per_sec as u32
        );
        assert_eq!(
            config.max_connections_per_address,
            settings.max_connections_per_address as u32
        );
        assert_eq!(config.address_send_rate, settings.address_send_rate);
        assert_eq!(
            config.address_send_burst,
            settings.address_send_burst as u32
        );
        assert_eq!(
            config.rooms_per_address_per_hour,
            settings.rooms_per_address_per_hour as u32
        );
        assert_eq!(config.client_address_header, settings.client_address_header);
        assert_eq!(
            config.general_clear_mins,
            settings.general_clear_minutes as u32
        );
        assert_eq!(
            config.public_url.map(|u| u.to_string()),
            settings.public_url
        );
        let admins: Vec<&String> = config.admins.iter().filter(|a| !a.is_empty()).collect();
        assert_eq!(admins, settings.admins.iter().collect::<Vec<_>>());
        assert_eq!(config.guest_posting, settings.guest_posting);
        assert_eq!(
            format!("{:?}", config.cookie_secure).to_lowercase(),
            settings.cookie_secure.as_str()
        );
        assert_eq!(config.session_ttl_hours, settings.session_ttl_hours as u32);
        assert_eq!(
            server_value(&app, "CHATAPP_SUPPORT_AGENTS").unwrap_or_default(),
            settings.support_agents.join(",")
        );
        assert_eq!(
            server_value(&app, "CHATAPP_GUEST_SUPPORT").as_deref(),
            Some(settings.guest_support.to_string().as_str())
        );
    }
}

#[test]
fn the_support_api_reaches_the_server_at_every_port() {
    for port in [1024, 50051, 65_535] {
        let app = ChatApp::test().with_support_api(None, |a| a.port = port);
        server_config(&app).unwrap_or_else(|e| panic!("{port}: {e}"));
        assert_eq!(
            server_value(&app, "CHATAPP_GRPC_LISTEN"),
            Some(format!("0.0.0.0:{port}"))
        );
    }
    // Off: no listener, so the server's gRPC stays off and wants no token.
    let env = chat_env(&ChatApp::test());
    assert!(
        !env.iter()
            .any(|v| v.name.contains("GRPC") || v.name.contains("SUPPORT_API")),
        "{env:?}"
    );
}

#[test]
fn a_default_replica_may_hold_as_many_connections_as_its_open_files_allow() {
    // 19,000 sockets + the server's reserve of 1,000 = a 20,000 open-files limit (the
    // measurement in docs/benchmarks.md); the server raises its soft limit to the hard one.
    let config = server_config(&ChatApp::test()).unwrap();
    assert_eq!(config.max_connections, 19_000);
    assert_eq!(
        u64::from(config.max_connections) + chat_server::open_files::FD_RESERVE,
        20_000
    );
    assert_eq!(
        server_value(&ChatApp::test(), "CHATAPP_MAX_CONNECTIONS").as_deref(),
        Some("19000")
    );
}

#[test]
fn an_external_redis_url_reaches_the_same_flag() {
    let config = server_config(&ChatApp::test().with_external_redis()).unwrap();
    assert_eq!(
        config.redis_url.as_deref(),
        Some("redis://from-the-secret:6379")
    );
}

#[test]
fn an_external_redis_cluster_reaches_the_server_and_the_managed_redis_is_a_single_node() {
    let mut app = ChatApp::test()
        .with_external_redis()
        .with_external_database();
    app.spec.redis.external.as_mut().unwrap().cluster = true;
    let config = server_config(&app).unwrap();
    assert!(config.redis_cluster);
    assert!(!server_config(&ChatApp::test()).unwrap().redis_cluster);
    assert!(
        !server_config(&ChatApp::test().with_external_redis())
            .unwrap()
            .redis_cluster
    );
}

#[test]
fn the_database_settings_reach_the_server_at_every_edge() {
    for (connections, days, messages) in [(8, 0, 0), (2, 1, 1), (1000, 36_500, 1_000_000_000)] {
        let app = ChatApp::test().with_external_database();
        let mut app = app;
        let db = app.spec.database.as_mut().unwrap();
        db.max_connections = connections;
        db.retention_days = days;
        db.retention_messages = messages;
        let config = server_config(&app).unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://chat:pw@from-the-secret:5432/chat")
        );
        assert_eq!(config.database_max_connections, connections as u32);
        assert_eq!(config.retention_days, days as u32);
        assert_eq!(config.retention_messages, messages as u64);
    }
    // Redis-only mode passes none of them: the server's own defaults stand.
    let config = server_config(&ChatApp::test()).unwrap();
    assert_eq!(config.database_url, None);
}

#[test]
fn the_database_url_comes_from_the_secret_and_never_from_a_value() {
    let env = chat_env(&ChatApp::test().with_external_database());
    let url = env
        .iter()
        .find(|v| v.name == "CHATAPP_DATABASE_URL")
        .expect("the URL is passed");
    assert_eq!(url.value, None, "{url:?}");
    let key = url
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!((key.name.as_str(), key.key.as_str()), ("pg-app", "uri"));
}

#[test]
fn a_value_outside_the_crd_range_would_be_refused_by_the_server() {
    // The check above has teeth: the server's parser refuses what the CRD's schema keeps out.
    let app = ChatApp::test().with_chat(|c| c.history_len = 0);
    assert!(server_config(&app).is_err());
    let app = ChatApp::test().with_chat(|c| c.redis_prefix = "a b".into());
    assert!(server_config(&app).is_err());
    let app = ChatApp::test().with_chat(|c| c.send_rate = 0.0);
    assert!(server_config(&app).is_err());
}

mod schema;
