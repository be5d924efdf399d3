//! The election policy as a table of cases, then the [`Elector`] rounds against the fake API
//! server (timers on tokio's paused clock).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::fixtures::{Failure, FakeApi};

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/chat/leases/chatapp-operator";

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn ago(secs: i64) -> Timestamp {
    now() - SignedDuration::from_secs(secs)
}

/// A Lease held by `holder`, renewed at `renewed`, lasting `duration` seconds.
fn lease(holder: Option<&str>, renewed: Option<Timestamp>, duration: Option<i32>) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.name = Some(LEASE_NAME.into());
    lease.metadata.resource_version = Some("7".into());
    lease.spec = Some(LeaseSpec {
        holder_identity: holder.map(Into::into),
        renew_time: renewed.map(MicroTime),
        acquire_time: Some(MicroTime(ago(3600))),
        lease_duration_seconds: duration,
        lease_transitions: Some(4),
        ..Default::default()
    });
    lease
}

fn follow(holder: &str) -> Decision {
    Decision::Follow {
        holder: holder.into(),
    }
}

#[test]
fn decide_covers_every_state_of_the_lease() {
    let cases = [
        ("no lease", None, Decision::Create),
        (
            "ours, even when expired",
            Some(lease(Some("me"), Some(ago(600)), Some(15))),
            Decision::Renew,
        ),
        (
            "renewed 5 s ago",
            Some(lease(Some("other"), Some(ago(5)), Some(15))),
            follow("other"),
        ),
        (
            "renewed 14 s ago",
            Some(lease(Some("other"), Some(ago(14)), Some(15))),
            follow("other"),
        ),
        (
            "expires exactly now",
            Some(lease(Some("other"), Some(ago(15)), Some(15))),
            Decision::TakeOver,
        ),
        (
            "expired",
            Some(lease(Some("other"), Some(ago(16)), Some(15))),
            Decision::TakeOver,
        ),
        (
            "the holder's longer duration counts",
            Some(lease(Some("other"), Some(ago(30)), Some(60))),
            follow("other"),
        ),
        (
            "no duration: ours applies",
            Some(lease(Some("other"), Some(ago(10)), None)),
            follow("other"),
        ),
        (
            "no duration, expired by ours",
            Some(lease(Some("other"), Some(ago(20)), None)),
            Decision::TakeOver,
        ),
        (
            "never renewed",
            Some(lease(Some("other"), None, Some(15))),
            Decision::TakeOver,
        ),
        (
            "released (holder cleared)",
            Some(lease(None, Some(ago(1)), Some(15))),
            Decision::TakeOver,
        ),
        (
            "released (holder empty)",
            Some(lease(Some(""), Some(ago(1)), Some(15))),
            Decision::TakeOver,
        ),
    ];
    for (case, lease, want) in cases {
        assert_eq!(decide(lease.as_ref(), "me", now()), want, "{case}");
    }
}

#[test]
fn claim_writes_what_each_decision_means() {
    let created = claim(None, "me", now(), &Decision::Create).unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some(LEASE_NAME));
    assert_eq!(created.metadata.resource_version, None);
    let spec = created.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("me"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.lease_transitions, Some(0));
    assert_eq!(spec.acquire_time, Some(MicroTime(now())));
    assert_eq!(spec.renew_time, Some(MicroTime(now())));

    let expired = lease(Some("other"), Some(ago(60)), Some(15));
    let taken = claim(Some(&expired), "me", now(), &Decision::TakeOver).unwrap();
    // The read resourceVersion makes the replace conditional.
    assert_eq!(taken.metadata.resource_version.as_deref(), Some("7"));
    let spec = taken.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("me"));
    assert_eq!(spec.lease_transitions, Some(5));
    assert_eq!(spec.acquire_time, Some(MicroTime(now())));
    assert_eq!(spec.renew_time, Some(MicroTime(now())));

    let ours = lease(Some("me"), Some(ago(5)), Some(15));
    let renewed = claim(Some(&ours), "me", now(), &Decision::Renew).unwrap();
    let spec = renewed.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("me"));
    assert_eq!(spec.lease_transitions, Some(4));
    assert_eq!(spec.acquire_time, Some(MicroTime(ago(3600))));
    assert_eq!(spec.renew_time, Some(MicroTime(now())));

    let theirs = lease(Some("other"), Some(ago(5)), Some(15));
    assert_eq!(claim(Some(&theirs), "me", now(), &follow("other")), None);
}

#[test]
fn random_identities_differ() {
    let (a, b) = (random_identity(), random_identity());
    assert!(
        a.starts_with("operator-") && a.len() == "operator-".len() + 16,
        "{a}"
    );
    assert_ne!(a, b);
}

fn elector(client: &kube::Client, me: &str) -> Elector {
    Elector::new(client.clone(), "chat", me.into())
}

fn holder(fake: &FakeApi) -> Option<String> {
    let stored = fake.object(PATH)?;
    stored["spec"]["holderIdentity"].as_str().map(Into::into)
}

fn writes(fake: &FakeApi) -> usize {
    let is_write = |m: &Method| *m == Method::POST || *m == Method::PUT;
    fake.requests()
        .iter()
        .filter(|r| is_write(&r.method) && r.path.contains("/leases"))
        .count()
}

#[tokio::test]
async fn one_replica_leads_and_a_release_hands_over() {
    let (client, fake) = FakeApi::start();
    let (a, b) = (elector(&client, "pod-a"), elector(&client, "pod-b"));
    assert!(a.try_lead().await.unwrap(), "a creates the lease");
    assert_eq!(holder(&fake).as_deref(), Some("pod-a"));
    assert!(!b.try_lead().await.unwrap(), "b follows a fresh lease");
    assert_eq!(writes(&fake), 1, "a follower writes nothing");
    assert!(a.try_lead().await.unwrap(), "a renews");
    assert_eq!(writes(&fake), 2);

    b.release().await.unwrap();
    assert_eq!(
        holder(&fake).as_deref(),
        Some("pod-a"),
        "b cannot release a's lease"
    );
    a.release().await.unwrap();
    assert_eq!(holder(&fake), None);
    assert!(
        b.try_lead().await.unwrap(),
        "b takes the released lease over"
    );
    assert!(!a.try_lead().await.unwrap());
    let stored = fake.object(PATH).unwrap();
    assert_eq!(stored["spec"]["holderIdentity"], "pod-b", "{stored:#}");
    assert_eq!(stored["spec"]["leaseTransitions"], 1, "{stored:#}");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_lost_race_is_not_an_error() {
    let (client, fake) = FakeApi::start();
    // The fake compares with the real clock.
    let renewed = Timestamp::now() - SignedDuration::from_secs(60);
    let mut stale = serde_json::to_value(lease(Some("gone"), Some(renewed), Some(15))).unwrap();
    stale["metadata"]["resourceVersion"] = json!("7");
    fake.insert(PATH, stale.clone());
    // Another standby replaced it between our read and our write: the API server says 409.
    fake.fail(Failure {
        method: Method::PUT,
        path: "/leases/chatapp-operator",
        code: 409,
        times: 1,
    });
    let me = elector(&client, "pod-b");
    assert!(!me.try_lead().await.unwrap());
    assert!(me.try_lead().await.unwrap());
    let stored = fake.object(PATH).unwrap();
    assert_eq!(stored["spec"]["holderIdentity"], "pod-b", "{stored:#}");
    assert_eq!(stored["spec"]["leaseTransitions"], 5, "{stored:#}");

    // A replace carrying an old resourceVersion is refused by the fake as by the API server.
    let old: Lease = serde_json::from_value(stale).unwrap();
    let api: Api<Lease> = Api::namespaced(client, "chat");
    let err = api
        .replace(LEASE_NAME, &PostParams::default(), &old)
        .await
        .unwrap_err();
    assert!(
        matches!(err, KubeError::Api(ref s) if s.code == 409),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_standby_waits_reports_health_and_takes_over_after_a_release() {
    let (client, fake) = FakeApi::start();
    let leader = elector(&client, "pod-a");
    assert!(leader.try_lead().await.unwrap());
    let health = Arc::new(Mutex::new(Vec::new()));
    let seen = health.clone();
    let standby = tokio::spawn(async move {
        let standby = elector(&client, "pod-b");
        standby
            .acquire(move |ok| seen.lock().unwrap().push(ok))
            .await;
    });
    tokio::time::sleep(RETRY_PERIOD * 3).await;
    assert!(
        !standby.is_finished(),
        "the standby must wait for a held lease"
    );
    assert!(
        health.lock().unwrap().iter().all(|ok| *ok) && !health.lock().unwrap().is_empty(),
        "{health:?}"
    );
    leader.release().await.unwrap();
    tokio::time::timeout(RETRY_PERIOD * 2, standby)
        .await
        .expect("the standby takes over at its next round")
        .unwrap();
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
}

#[tokio::test(start_paused = true)]
async fn a_standby_reports_unhealthy_while_the_api_fails() {
    let (client, fake) = FakeApi::start();
    fake.fail(Failure {
        method: Method::GET,
        path: "/leases/",
        code: 500,
        times: 2,
    });
    let health = Arc::new(Mutex::new(Vec::new()));
    let seen = health.clone();
    elector(&client, "pod-a")
        .acquire(move |ok| seen.lock().unwrap().push(ok))
        .await;
    assert_eq!(*health.lock().unwrap(), [false, false]);
    assert_eq!(holder(&fake).as_deref(), Some("pod-a"));
}

#[tokio::test(start_paused = true)]
async fn the_leader_steps_down_before_its_lease_expires_when_renewals_fail() {
    let (client, fake) = FakeApi::start();
    let leader = elector(&client, "pod-a");
    assert!(leader.try_lead().await.unwrap());
    fake.fail(Failure {
        method: Method::PUT,
        path: "/leases/",
        code: 500,
        times: usize::MAX,
    });
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(600), leader.hold())
        .await
        .expect("hold returns when renewals keep failing");
    let held = started.elapsed();
    assert!(
        held >= RENEW_DEADLINE && held < LEASE_DURATION,
        "stepped down after {held:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_leader_steps_down_when_another_replica_holds_the_lease() {
    let (client, fake) = FakeApi::start();
    let leader = elector(&client, "pod-a");
    assert!(leader.try_lead().await.unwrap());
    let mut stolen = fake.object(PATH).unwrap();
    stolen["spec"]["holderIdentity"] = json!("pod-b");
    fake.insert(PATH, stolen);
    tokio::time::timeout(RETRY_PERIOD * 2, leader.hold())
        .await
        .expect("hold returns at the first renewal");
    assert_eq!(
        holder(&fake).as_deref(),
        Some("pod-b"),
        "nothing overwritten"
    );
}

/// Starts the whole operator with leader election as `pod-a`; the sender stops it.
fn start_operator(
    client: kube::Client,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<crate::error::Result<()>>,
) {
    let settings = crate::Settings {
        namespace: "chat".into(),
        ensure_default: false,
        default_image: None,
        concurrency: 1,
        instance: Some("pod-a".into()),
        leader_elect: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = async move {
            let _ = stopped.await;
        };
        crate::run(settings, client, listener, shutdown).await
    });
    (stop, operator)
}

fn watches(fake: &FakeApi) -> usize {
    fake.requests().iter().filter(|r| r.is_watch()).count()
}

#[tokio::test(start_paused = true)]
async fn a_standby_operator_never_reconciles_and_leaves_the_lease_alone() {
    let (client, fake) = FakeApi::start();
    let mut theirs = serde_json::to_value(lease(Some("pod-b"), Some(Timestamp::now()), Some(15)));
    theirs.as_mut().unwrap()["metadata"]["resourceVersion"] = json!("7");
    fake.insert(PATH, theirs.unwrap());
    let (stop, operator) = start_operator(client);
    tokio::time::sleep(RETRY_PERIOD * 4).await;
    stop.send(()).unwrap();
    operator.await.unwrap().expect("a standby stops cleanly");
    assert_eq!(watches(&fake), 0, "{:#?}", fake.requests());
    assert_eq!(writes(&fake), 0, "{:#?}", fake.requests());
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
}

/// Waits (bounded, on the paused clock) until `done` holds for the fake's state.
async fn until(fake: &FakeApi, what: &str, done: impl Fn(&FakeApi) -> bool) {
    let mut waited = Duration::ZERO;
    while !done(fake) {
        assert!(
            waited < Duration::from_secs(60),
            "{what}: {:#?}",
            fake.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}

#[tokio::test(start_paused = true)]
async fn losing_the_lease_steps_down_to_standby_and_campaigns_again() {
    let (client, fake) = FakeApi::start();
    let (stop, operator) = start_operator(client);
    until(&fake, "pod-a leads", |f| {
        holder(f).as_deref() == Some("pod-a") && watches(f) > 0
    })
    .await;
    let first_term = watches(&fake);
    // Another replica took the Lease (renewed just now by the real clock the fake compares with).
    let mut stolen = fake.object(PATH).unwrap();
    stolen["spec"]["holderIdentity"] = json!("pod-b");
    stolen["spec"]["renewTime"] = json!(MicroTime(Timestamp::now()));
    fake.insert(PATH, stolen);

    tokio::time::sleep(RETRY_PERIOD * 4).await;
    assert!(
        !operator.is_finished(),
        "a leader that loses the lease stays up as a standby"
    );
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"), "not overwritten");

    // pod-b goes away and releases: pod-a campaigns, wins, and starts a fresh controller.
    let mut released = fake.object(PATH).unwrap();
    released["spec"]["holderIdentity"] = serde_json::Value::Null;
    fake.insert(PATH, released);
    until(&fake, "pod-a leads again with new watches", |f| {
        holder(f).as_deref() == Some("pod-a") && watches(f) > first_term
    })
    .await;
    stop.send(()).unwrap();
    operator
        .await
        .unwrap()
        .expect("the operator stops cleanly after a lost term");
    assert_eq!(holder(&fake), None, "released at shutdown");
}
