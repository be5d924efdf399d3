//! chatapp operator: turns each `ChatApp` (group `chatapp.dev`) into a running chat.
//!
//! [`run`] is the one entry: it serves health and metrics on the given listener, makes sure the
//! default ChatApp exists when asked, and runs the controller until `shutdown` resolves. The
//! binary (`main.rs`) only parses flags, builds the client and the listener, and wires signals.

pub mod build;
pub mod bundle;
pub mod controller;
pub mod crd;
pub mod error;
pub mod metrics;
pub mod render;
pub mod validate;
pub mod web;

#[cfg(test)]
mod crd_tests;
#[cfg(test)]
pub(crate) mod fixtures;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::events::Reporter;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::crd::{ChatApp, ChatAppSpec};
use crate::error::{Error, Result};

/// Name of the ChatApp the operator creates with `--ensure-default`.
pub const DEFAULT_NAME: &str = "default";
/// NodePort of the default ChatApp's chat.
pub const DEFAULT_NODE_PORT: i32 = 30222;
/// NodePort of the default ChatApp's Locust web UI (when its loadTest is enabled).
pub const DEFAULT_LOCUST_NODE_PORT: i32 = 30223;

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The namespace whose ChatApps are reconciled.
    pub namespace: String,
    /// Create the `default` ChatApp in `namespace` at start when it does not exist.
    pub ensure_default: bool,
    /// Chat-server image of the default ChatApp (None: the CRD's default).
    pub default_image: Option<String>,
    /// ChatApps reconciled at once.
    pub concurrency: u16,
    /// Reporting instance of events (the pod name).
    pub instance: Option<String>,
}

/// The `default` ChatApp: NodePort 30222, Locust (when enabled) on 30223.
pub fn default_chatapp(image: Option<&str>) -> ChatApp {
    let mut spec = ChatAppSpec::defaulted();
    spec.service.node_port = Some(DEFAULT_NODE_PORT);
    spec.load_test.node_port = Some(DEFAULT_LOCUST_NODE_PORT);
    if let Some(image) = image {
        spec.image = image.to_owned();
    }
    ChatApp::new(DEFAULT_NAME, spec)
}

/// Creates the default ChatApp unless one of that name exists. Returns whether it created it.
pub async fn ensure_default(
    client: &Client,
    namespace: &str,
    image: Option<&str>,
) -> Result<bool, kube::Error> {
    let api: Api<ChatApp> = Api::namespaced(client.clone(), namespace);
    match api
        .create(&PostParams::default(), &default_chatapp(image))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(err),
    }
}

/// Retries [`ensure_default`] with backoff (the CRD may still be getting established when the
/// bundle was applied a moment ago).
async fn ensure_default_until_done(client: Client, settings: Settings) {
    let mut delay = Duration::from_secs(1);
    loop {
        match ensure_default(
            &client,
            &settings.namespace,
            settings.default_image.as_deref(),
        )
        .await
        {
            Ok(created) => {
                info!(namespace = %settings.namespace, created, "default ChatApp ensured");
                return;
            }
            Err(err) => {
                warn!(error = %err, retry_in_s = delay.as_secs(), "cannot ensure the default ChatApp yet")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// Serves health/metrics on `listener` and runs the controller until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    client: Client,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let shutdown = shutdown.boxed().shared();
    let metrics = Arc::new(metrics::Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let state = web::State {
        registry: Arc::new(registry),
        ready: Arc::default(),
    };
    let web = tokio::spawn(
        axum::serve(listener, web::app(state.clone()).into_make_service())
            .with_graceful_shutdown(shutdown.clone())
            .into_future(),
    );
    let ensure = settings
        .ensure_default
        .then(|| tokio::spawn(ensure_default_until_done(client.clone(), settings.clone())));
    let reporter = Reporter {
        controller: controller::FIELD_MANAGER.into(),
        instance: settings.instance.clone(),
    };
    let ctx = Arc::new(controller::Context::new(client, reporter, metrics));
    info!(namespace = %settings.namespace, "operator starting");
    state.ready.store(true, Ordering::Relaxed);
    controller::controller(ctx, &settings.namespace, settings.concurrency, shutdown).await;
    if let Some(ensure) = ensure {
        ensure.abort();
    }
    web.await
        .map_err(|e| Error::Serve(std::io::Error::other(e)))?
        .map_err(Error::Serve)?;
    info!("operator stopped");
    Ok(())
}
