//! The task that keeps agents' queues current on this replica: woken by every support change
//! announced on the bus (and by a resubscription, after which anything may have been missed), it
//! reads the conversations once, builds the `support_queue` frame once and hands it to the hub,
//! which pushes it to every local agent connection; then it rests
//! [`SUPPORT_PUSH_EVERY`], so changes landing meanwhile are coalesced into the next frame.
//! Without a local agent it reads nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::queue_frame;
use crate::{AppState, limits::SUPPORT_PUSH_EVERY};

/// How long a failed read of the conversations waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Run until `stop`.
pub(crate) async fn run(state: AppState, stop: CancellationToken) {
    let hub = &state.hub;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = hub.support.changed.notified() => {}
        }
        if !hub.has_agents() {
            hub.forget_support_queue();
            continue;
        }
        let pause = match state.store.support_list().await {
            Ok(all) => {
                hub.push_support_queue(queue_frame(all).into());
                SUPPORT_PUSH_EVERY
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the support queue failed; trying again");
                hub.support.changed.notify_one();
                RETRY_AFTER
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
