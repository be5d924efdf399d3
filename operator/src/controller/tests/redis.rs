//! An external Redis, against the fake API server: a missing Secret changes nothing and says so,
//! and the managed Redis goes only once the chat is ready on the external one.

use super::*;

const REDIS: &str = "/apis/apps/v1/namespaces/chat/deployments/demo-redis";
const REDIS_SERVICE: &str = "/api/v1/namespaces/chat/services/demo-redis";
const SECRET: &str = "/api/v1/namespaces/chat/secrets/redis-url";

fn redis_secret(key: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-url"},
        "data": {key: "cmVkaXM6Ly9leHQ6NjM3OQ=="}})
}

/// A chat running on its managed Redis, then switched to `spec.redis.external`.
async fn switched_to_external(fake: &FakeApi, ctx: &Arc<Context>) {
    fake.insert_app(&ChatApp::test());
    reconcile_stored(fake, ctx, "demo").await.unwrap();
    assert!(fake.object(REDIS).is_some());
    fake.insert_app(&fake.app("demo").with_external_redis());
    fake.clear_requests();
}

#[tokio::test]
async fn a_missing_redis_secret_changes_nothing_and_says_so() {
    let (client, fake) = FakeApi::start();
    let ctx = context(client);
    switched_to_external(&fake, &ctx).await;
    let chat_before = fake.object("/apis/apps/v1/namespaces/chat/deployments/demo");

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(
        action,
        Action::requeue(crate::controller::WHILE_PROGRESSING)
    );
    assert!(fake.object(REDIS).is_some(), "the managed Redis still runs");
    assert!(fake.object(REDIS_SERVICE).is_some());
    assert!(applies(&fake.requests()).is_empty(), "nothing applied");
    assert_eq!(
        fake.object("/apis/apps/v1/namespaces/chat/deployments/demo"),
        chat_before
    );
    let app = fake.app("demo");
    let (degraded, why, message) = condition(&app, DEGRADED);
    assert_eq!(
        (degraded.as_str(), why.as_str()),
        (TRUE, reason::REDIS_SECRET_MISSING)
    );
    assert!(message.contains("redis-url"), "{message}");
    assert_eq!(condition(&app, READY).0, TRUE, "the chat still serves");

    // The Secret exists but lacks the key: still nothing changes.
    fake.insert(SECRET, redis_secret("other"));
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(REDIS).is_some());
    let (_, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(why, reason::REDIS_SECRET_MISSING);
    assert!(message.contains("no key url"), "{message}");
}

#[tokio::test]
async fn the_managed_redis_goes_only_once_the_chat_is_ready_on_the_external_one() {
    let (client, fake) = FakeApi::start();
    let ctx = context(client);
    switched_to_external(&fake, &ctx).await;
    fake.insert(SECRET, redis_secret("url"));
    fake.set_pods_ready(false);

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let chat = fake
        .object("/apis/apps/v1/namespaces/chat/deployments/demo")
        .unwrap();
    let env = &chat["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.to_string().contains("secretKeyRef"), "{env}");
    assert!(
        fake.object(REDIS).is_some(),
        "kept while pods are not ready"
    );
    assert!(fake.object(REDIS_SERVICE).is_some());
    let app = fake.app("demo");
    assert_eq!(condition(&app, PROGRESSING).1, reason::SWITCHING_REDIS);

    fake.set_pods_ready(true);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(
        fake.object(REDIS).is_none(),
        "retired once every pod is ready"
    );
    assert!(fake.object(REDIS_SERVICE).is_none());
    assert_eq!(
        condition(&fake.app("demo"), PROGRESSING).1,
        reason::COMPLETE
    );
}
