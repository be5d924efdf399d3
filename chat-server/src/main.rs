//! Wires the chat server: parse the config, set up logging, build the state, serve until
//! SIGTERM or Ctrl-C.

use anyhow::Context;
use chat_server::{
    Config,
    config::{Command, LogFormat},
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    chat_server::server::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Pretty => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    chat_server::open_files::raise_and_check(config.max_connections);
    if config.command == Some(Command::Migrate) {
        let url = config
            .database_url
            .as_deref()
            .context("migrate needs --database-url or CHATAPP_DATABASE_URL")?;
        let pool = chat_server::store::pg_pool(url, 2)?;
        chat_server::store::PgStore::migrate(&pool).await?;
        println!("database schema is up to date");
        return Ok(());
    }
    let listener = chat_server::server::bind(config.listen)?;
    let addr = listener.local_addr()?;
    // The support API refuses to start without its token: it is never anonymous.
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
    let grpc = match config.grpc_listen {
        None => None,
        Some(grpc_addr) => {
            let token = chat_server::grpc::ApiToken::from_env()
                .context("the support API (--grpc-listen) cannot start")?;
            Some((chat_server::server::bind(grpc_addr)?, token))
        }
    };
    let backend = match (&config.database_url, &config.redis_url) {
        (Some(_), Some(_)) => "postgres + redis",
        (Some(_), None) => "postgres, one replica",
        (None, Some(_)) => "redis",
        (None, None) => "in-memory",
    };
    let state = chat_server::build_state(config).await?;
    tracing::info!(%addr, backend, "chat-server ready");
    println!("chat-server listening on http://{addr} ({backend} backend)");
    let grpc = grpc.map(|(grpc_listener, token)| {
        let grpc_addr = grpc_listener.local_addr().ok();
        tracing::info!(addr = ?grpc_addr, "support API (gRPC) ready");
        tokio::spawn(chat_server::grpc::serve(
            grpc_listener,
            state.clone(),
            token,
        ))
    });
    // Spawned, not run inside `block_on`: on the multi-thread scheduler that serves it from a
    // worker, not from `main`'s own thread, where accepting put every connection's socket
    // registration in that thread's malloc arena among tasks the workers freed (about 0.25 KiB
    // more RSS per idle connection; docs/benchmarks.md, "Issue #10, round 3"). On one CPU the
    // current-thread scheduler runs everything on this thread anyway.
    tokio::spawn(chat_server::serve(listener, state, shutdown_signal()))
        .await
        .context("the server task failed")??;
    if let Some(grpc) = grpc {
        // Its calls ended with the sessions; this waits for their last answers to go out.
        match tokio::time::timeout(grace, grpc).await {
            Ok(served) => served?.context("the support API failed")?,
            Err(_) => tracing::warn!("support API calls still open after the grace period"),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
