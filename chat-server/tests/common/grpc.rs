//! The support API's test client: chat-server processes with `--grpc-listen` and the token, the
//! generated tonic client with a bearer interceptor, a signed-in agent socket, and waiting for a
//! stream's events.

use chat_server::grpc::proto::{
    self, OpenRequest, event::Event as E, support_desk_client::SupportDeskClient,
};
use serde_json::json;
use tonic::{
    Request, Status, Streaming,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

use super::{Client, ServerProcess, WAIT, free_port, http_request};

pub const TOKEN: &str = "test-token-0123456789abcdef0123456789";
const PASSWORD: &str = "correct horse battery";

/// Adds `authorization` to every call (None: no header).
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub type Desk = SupportDeskClient<InterceptedService<Channel, Bearer>>;

/// A chat-server process with the support API on, sharing `redis` and `prefix`.
pub struct Replica {
    pub server: ServerProcess,
    pub grpc: String,
}

impl Replica {
    pub async fn start(redis: &str, prefix: &str, extra: &[&str]) -> Self {
        let grpc_listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "--redis-url",
            redis,
            "--redis-prefix",
            prefix,
            "--grpc-listen",
            &grpc_listen,
        ];
        args.extend_from_slice(extra);
        let server =
            ServerProcess::spawn_with_env(&args, &[("CHATAPP_SUPPORT_API_TOKEN", TOKEN)]).await;
        super::wait_ready(&format!("http://{}", server.addr)).await;
        Self {
            server,
            grpc: format!("http://{grpc_listen}"),
        }
    }

    pub async fn desk(&self, token: Option<&str>) -> Desk {
        let channel = Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("the gRPC port accepts");
        SupportDeskClient::with_interceptor(channel, Bearer(token.map(str::to_owned)))
    }
}

/// Register `username` on `server` and return a signed-in socket after `hello`.
pub async fn agent(server: &ServerProcess, username: &str) -> Client {
    let base = format!("http://{}", server.addr);
    let body = json!({"username": username, "password": PASSWORD}).to_string();
    let headers = [
        ("Origin", base.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, head, text) =
        http_request("POST", &format!("{base}/api/register"), &headers, &body).await;
    assert_eq!(status, 201, "register {username}: {head:?} {text}");
    let cookie = head["set-cookie"].split(';').next().unwrap().to_owned();
    let mut c = Client::connect_with_cookie(&server.ws_url(), &cookie).await;
    c.send(json!({"type":"hello","name":username})).await;
    c.expect("welcome").await;
    c
}

/// The stream's next event that `pick` accepts, skipping others.
pub async fn event_where(stream: &mut Streaming<proto::Event>, pick: impl Fn(&E) -> bool) -> E {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let event = stream.message().await.expect("the stream goes on");
            let event = event.expect("not ended").event.expect("an event");
            if pick(&event) {
                return event;
            }
        }
    });
    found.await.expect("the expected event in time")
}

pub fn open(id: &str) -> OpenRequest {
    OpenRequest {
        client_id: id.into(),
        client_name: "Carla".into(),
        email: Some("carla@example.com".into()),
    }
}
