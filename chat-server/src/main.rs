//! Wires the chat server: parse the config, set up logging, build the state, serve until
//! SIGTERM or Ctrl-C.

use chat_server::{Config, config::LogFormat};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Pretty => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let listener = chat_server::server::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let backend = if config.redis_url.is_some() {
        "redis"
    } else {
        "in-memory"
    };
    let state = chat_server::build_state(config).await?;
    tracing::info!(%addr, backend, "chat-server ready");
    println!("chat-server listening on http://{addr} ({backend} backend)");
    chat_server::serve(listener, state, shutdown_signal()).await?;
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
