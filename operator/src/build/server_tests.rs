//! The chat-server's own flag parser (`chat_server::Config`, with its ranges and value parsers)
//! accepts the environment the operator gives its pods, at the edges of every CRD range, and reads
//! back the values the spec asked for. The names are checked against `config.rs` in `tests.rs`.

use chat_server::Config;
use clap::{CommandFactory, Parser};

use super::chat_env;
use crate::crd::{ChatApp, ChatSettings};
use crate::fixtures::TestApp;

/// The command line equivalent to `app`'s environment: each variable becomes the flag that
/// declares it as its `env`. A Secret-backed variable gets a stand-in value.
fn server_config(app: &ChatApp) -> Result<Config, clap::Error> {
    let command = Config::command();
    let mut argv = vec!["chat-server".to_owned()];
    for var in chat_env(app) {
        if var.name == "RUST_LOG" {
            continue; // read by tracing's EnvFilter, not by the flag parser
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == var.name.as_str()))
            .unwrap_or_else(|| panic!("{} is no chat-server flag's env", var.name));
        let value = var
            .value
            .unwrap_or_else(|| "redis://from-the-secret:6379".to_owned());
        argv.push(format!("--{}={value}", arg.get_long().unwrap()));
    }
    Config::try_parse_from(argv)
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
        c.send_rate = 1;
        c.send_burst = 1;
        c.outbound_queue = 8;
        c.ping_interval_secs = 1;
        c.header_timeout_secs = 1;
        c.presence_ttl_secs = 3;
        c.drain_delay_secs = 0;
        c.shutdown_grace_secs = 0;
        c.redis_prefix = "a".into();
    };
    let high = |c: &mut ChatSettings| {
        c.history_len = 100_000;
        c.max_content_bytes = 1_048_576;
        c.max_name_chars = 1024;
        c.max_topic_chars = 1024;
        c.max_frame_bytes = 16_777_216;
        c.max_rooms = 1_000_000;
        c.max_connections = 1_000_000;
        c.send_rate = 100_000;
        c.send_burst = 10_000_000;
        c.outbound_queue = 1_000_000;
        c.ping_interval_secs = 3600;
        c.header_timeout_secs = 600;
        c.presence_ttl_secs = 3600;
        c.drain_delay_secs = 600;
        c.shutdown_grace_secs = 3600;
        c.redis_prefix = "team-a:chat_1.x".into();
        c.allowed_origins = vec!["https://chat.example.com".into(), "*".into()];
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
        assert_eq!(config.send_rate, f64::from(settings.send_rate));
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
        assert_eq!(config.log_format, chat_server::config::LogFormat::Json);
    }
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
fn a_value_outside_the_crd_range_would_be_refused_by_the_server() {
    // The check above has teeth: the server's parser refuses what the CRD's schema keeps out.
    let app = ChatApp::test().with_chat(|c| c.history_len = 0);
    assert!(server_config(&app).is_err());
    let app = ChatApp::test().with_chat(|c| c.redis_prefix = "a b".into());
    assert!(server_config(&app).is_err());
}
