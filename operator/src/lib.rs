//! chatapp operator: turns each `ChatApp` (group `chatapp.dev`) into a running chat.
//!
//! [`run`] is the one entry: it serves health and metrics on the given listener, makes sure the
//! default ChatApp exists when asked, and runs the controller until `shutdown` resolves; with
//! leader election, only while this replica holds the Lease ([`leader`]). The binary (`main.rs`)
//! only parses flags, builds the client and the listener, and wires signals.

pub mod bundle;
pub mod controller;
pub mod crd;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod render;
pub mod resources;
pub mod web;

#[cfg(test)]
pub(crate) mod fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::events::Reporter;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::crd::{ChatApp, ChatAppSpec};
use crate::error::{Error, Result};
use crate::leader::Elector;

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
    /// Reporting instance of events and leader-election identity (the pod name).
    pub instance: Option<String>,
    /// Reconcile only while holding the Lease `chatapp-operator` in `namespace`.
    pub leader_elect: bool,
}

/// The `default` ChatApp: NodePort 30222, Locust (when enabled) on 30223, durable (a managed
/// PostgreSQL).
pub fn default_chatapp(image: Option<&str>) -> ChatApp {
    let mut spec = ChatAppSpec::defaulted();
    spec.service.node_port = Some(DEFAULT_NODE_PORT);
    spec.load_test.node_port = Some(DEFAULT_LOCUST_NODE_PORT);
    // Durable by default: a managed PostgreSQL on a claim of the default StorageClass, or, on a
    // cluster without one, on an emptyDir, with Durable=False NoDefaultStorageClass in status.
    spec.database = Some(
        serde_json::from_value(serde_json::json!({"managed": {}}))
            .expect("a managed database with every default"),
    );
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

/// The caller's shutdown signal, shared by the controller and the election.
type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Serves health/metrics on `listener` and runs the controller until `shutdown` resolves. With
/// `leader_elect` the controller runs only while this replica holds the Lease: a replica that
/// loses it steps down to standby and campaigns again, without exiting.
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
    // The HTTP side outlives the controller (and the lease release), so /metrics answers to the end.
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web = tokio::spawn(
        axum::serve(listener, web::app(state.clone()).into_make_service())
            .with_graceful_shutdown(async {
                let _ = web_stopped.await;
            })
            .into_future(),
    );
    info!(namespace = %settings.namespace, leader_elect = settings.leader_elect, "operator starting");
    if settings.leader_elect {
        run_elected(&settings, client, metrics, &state.ready, shutdown).await;
    } else {
        state.ready.store(true, Ordering::Relaxed);
        run_controller(&settings, client, metrics, shutdown).await;
    }
    let _ = stop_web.send(());
    web.await
        .map_err(|e| Error::Serve(std::io::Error::other(e)))?
        .map_err(Error::Serve)?;
    info!("operator stopped");
    Ok(())
}

/// Campaigns for the Lease and leads until `shutdown` (then releases the Lease). A lost Lease
/// ends the term: the controller stops, its state (caches, backoff) goes with it, and the replica
/// is a standby campaigning again, as a fresh one would. Readiness: a standby is ready while the
/// API server answers its rounds, so a rolling update can replace replicas without waiting for
/// leadership.
async fn run_elected(
    settings: &Settings,
    client: Client,
    metrics: Arc<metrics::Metrics>,
    ready: &AtomicBool,
    shutdown: Shutdown,
) {
    let me = settings
        .instance
        .clone()
        .unwrap_or_else(leader::random_identity);
    let elector = Arc::new(Elector::new(client.clone(), &settings.namespace, me));
    loop {
        info!(
            identity = elector.identity(),
            "waiting for the leader lease"
        );
        tokio::select! {
            () = elector.acquire(|ok| ready.store(ok, Ordering::Relaxed)) => {}
            () = shutdown.clone() => return,
        }
        info!(identity = elector.identity(), "leading");
        ready.store(true, Ordering::Relaxed);
        let lost = lead(
            settings,
            client.clone(),
            metrics.clone(),
            &elector,
            shutdown.clone(),
        )
        .await;
        if !lost {
            break;
        }
        warn!(
            identity = elector.identity(),
            "lost the leader lease: controller stopped, standing by"
        );
    }
    match tokio::time::timeout(leader::RETRY_PERIOD, elector.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => warn!(error = %err, "could not release the leader lease"),
        Err(_) => warn!("releasing the leader lease timed out"),
    }
}

/// One term: runs the controller while `elector` keeps the Lease. Returns true when the Lease
/// was lost, false when `shutdown` came first.
async fn lead(
    settings: &Settings,
    client: Client,
    metrics: Arc<metrics::Metrics>,
    elector: &Arc<Elector>,
    shutdown: Shutdown,
) -> bool {
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = elector.clone();
    let hold = tokio::spawn(async move {
        holder.hold().await;
        let _ = lost_tx.send(());
    });
    // Resolves true when the lease was lost, false when `hold` was stopped first.
    let lost = lost_rx.map(|sent| sent.is_ok()).shared();
    let stop = futures_util::future::select(shutdown, lost.clone()).map(|_| ());
    run_controller(settings, client, metrics, stop).await;
    hold.abort();
    let _ = hold.await;
    lost.await
}

/// Ensures the default ChatApp (when asked) and runs the controller until `stop` resolves.
async fn run_controller(
    settings: &Settings,
    client: Client,
    metrics: Arc<metrics::Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ensure = settings
        .ensure_default
        .then(|| tokio::spawn(ensure_default_until_done(client.clone(), settings.clone())));
    let reporter = Reporter {
        controller: controller::FIELD_MANAGER.into(),
        instance: settings.instance.clone(),
    };
    let ctx = Arc::new(controller::Context::new(client, reporter, metrics));
    controller::controller(ctx, &settings.namespace, settings.concurrency, stop).await;
    if let Some(ensure) = ensure {
        ensure.abort();
    }
}
