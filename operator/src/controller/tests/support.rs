//! The support API, against the fake API server: the operator's token Secret made once and kept,
//! a named Secret checked before anything changes, the Service following `supportApi.enabled`.

use super::*;

const OWN_SECRET: &str = "/api/v1/namespaces/chat/secrets/demo-support-api";
const GIVEN_SECRET: &str = "/api/v1/namespaces/chat/secrets/platform-token";
const SERVICE: &str = "/api/v1/namespaces/chat/services/demo-support-api";
const CHAT: &str = "/apis/apps/v1/namespaces/chat/deployments/demo";

fn given_secret(key: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "platform-token"},
        "data": {key: "c2VjcmV0LXRva2VuLW9mLXRoZS1wbGF0Zm9ybS0xMjM0NTY3OA=="}})
}

/// The chat Deployment's variable `name` as stored.
fn chat_var(fake: &FakeApi, name: &str) -> Value {
    let chat = fake.object(CHAT).expect("the chat Deployment");
    let env = chat["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    env.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_operator_makes_one_token_before_the_pods_and_never_changes_it() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_support_api(None, |_| {}));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let first = fake
        .object(OWN_SECRET)
        .expect("the token Secret is created");
    let token = first["stringData"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{first:#}");
    assert_eq!(
        first["metadata"]["ownerReferences"][0]["kind"], "ChatApp",
        "it goes with the ChatApp: {first:#}"
    );
    let requests = fake.requests();
    let at = |method: Method, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path.ends_with(path))
            .unwrap_or_else(|| panic!("no {method} of {path}"))
    };
    assert!(
        at(Method::POST, "/secrets") < at(Method::PATCH, "/deployments/demo"),
        "the Secret exists before the pods that read it"
    );
    assert_eq!(
        chat_var(&fake, "CHATAPP_SUPPORT_API_TOKEN")["valueFrom"]["secretKeyRef"],
        json!({"name": "demo-support-api", "key": "token", "optional": false})
    );
    assert_eq!(
        chat_var(&fake, "CHATAPP_GRPC_LISTEN")["value"],
        "0.0.0.0:50051"
    );
    let service = fake.object(SERVICE).expect("the support API Service");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["ports"][0]["name"], "grpc");
    assert_eq!(condition(&fake.app("demo"), READY).0, TRUE);

    fake.clear_requests();
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(fake.object(OWN_SECRET).unwrap(), first, "never regenerated");
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/secrets") && r.method != Method::GET)
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    // A create answered 409 at most: never an apply or update of the Secret.
    assert!(writes.iter().all(|(m, _)| m == "POST"), "{writes:?}");
}

#[tokio::test]
async fn a_missing_token_secret_changes_nothing_and_says_so() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let chat_before = fake.object(CHAT);
    fake.insert_app(
        &fake
            .app("demo")
            .with_support_api(Some("platform-token"), |_| {}),
    );
    fake.clear_requests();

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(
        action,
        Action::requeue(crate::controller::WHILE_PROGRESSING)
    );
    assert!(applies(&fake.requests()).is_empty(), "nothing applied");
    assert_eq!(fake.object(CHAT), chat_before);
    assert!(fake.object(SERVICE).is_none() && fake.object(OWN_SECRET).is_none());
    let app = fake.app("demo");
    let (degraded, why, message) = condition(&app, DEGRADED);
    assert_eq!(
        (degraded.as_str(), why.as_str()),
        (TRUE, reason::SUPPORT_API_SECRET_MISSING)
    );
    assert!(
        message.contains("platform-token") && message.contains("spec.supportApi.tokenSecret"),
        "{message}"
    );
    assert_eq!(condition(&app, READY).0, TRUE, "the chat still serves");

    // The Secret exists but lacks the key: still nothing changes.
    fake.insert(GIVEN_SECRET, given_secret("password"));
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(fake.object(CHAT), chat_before);
    let (_, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(why, reason::SUPPORT_API_SECRET_MISSING);
    assert!(message.contains("no key token"), "{message}");

    // With the key, the pods read it; the operator makes no Secret of its own.
    fake.insert(GIVEN_SECRET, given_secret("token"));
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let (degraded, _, _) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(degraded, FALSE);
    assert_eq!(
        chat_var(&fake, "CHATAPP_SUPPORT_API_TOKEN")["valueFrom"]["secretKeyRef"]["name"],
        "platform-token"
    );
    assert!(fake.object(SERVICE).is_some());
    assert!(fake.object(OWN_SECRET).is_none());
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.method == Method::POST && r.path.contains("/secrets")),
        "no Secret created"
    );
}

#[tokio::test]
async fn turned_off_the_service_goes_and_the_token_stays_for_next_time() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_support_api(None, |_| {}));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let token = fake.object(OWN_SECRET).unwrap();

    let mut off = fake.app("demo");
    off.spec.support_api.enabled = false;
    fake.insert_app(&off);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(SERVICE).is_none(), "the Service is deleted");
    assert!(chat_var(&fake, "CHATAPP_GRPC_LISTEN").is_null());
    assert!(chat_var(&fake, "CHATAPP_SUPPORT_API_TOKEN").is_null());
    assert_eq!(fake.object(OWN_SECRET), Some(token.clone()), "kept");

    let mut on = fake.app("demo");
    on.spec.support_api.enabled = true;
    fake.insert_app(&on);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(SERVICE).is_some());
    assert_eq!(fake.object(OWN_SECRET), Some(token), "the same token again");
}

#[tokio::test]
async fn a_failed_token_create_is_reported_and_retried() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_support_api(None, |_| {}));
    fake.fail(Failure {
        method: Method::POST,
        path: "/secrets",
        code: 500,
        times: 1,
    });
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();
    assert!(fake.object(CHAT).is_none(), "no pods without their token");
    let (_, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(why, reason::APPLY_FAILED);
    assert!(message.contains("demo-support-api"), "{message}");

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(OWN_SECRET).is_some() && fake.object(CHAT).is_some());
}
