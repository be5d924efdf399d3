//! The health, readiness and metrics endpoints.

use super::*;
use crate::metrics::Metrics;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

async fn get(state: State, path: &str) -> (StatusCode, String) {
    let res = app(state)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    metrics.observe(
        std::time::Duration::from_millis(3),
        Some(&crate::error::Error::MissingNamespace),
    );
    let state = State {
        registry: Arc::new(registry),
        ready: Arc::default(),
    };
    assert_eq!(get(state.clone(), "/healthz").await.0, StatusCode::OK);
    assert_eq!(
        get(state.clone(), "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.ready.store(true, Ordering::Relaxed);
    assert_eq!(get(state.clone(), "/readyz").await.0, StatusCode::OK);
    let (status, body) = get(state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("chatapp_operator_reconciles_total 1"),
        "{body}"
    );
    assert!(
        body.contains("chatapp_operator_reconcile_failures_total{reason=\"namespace\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("chatapp_operator_reconcile_duration_seconds_count 1"),
        "{body}"
    );
}
