//! What a connection may spend: its admission (a server permit and an address slot) and its
//! token buckets, and the check every request passes before it is served.

use super::*;

/// What a connection was admitted with: one of the server's `--max-connections` permits and
/// one of its address's `--max-connections-per-address` slots, both released when it ends.
#[derive(Debug)]
pub struct Admission {
    pub(crate) _permit: OwnedSemaphorePermit,
    pub(crate) address: AddressSlot,
}

/// The per-connection budgets (token buckets) of `docs/configuration.md`.
#[derive(Debug)]
pub(super) struct Budgets {
    pub(super) sends: TokenBucket,
    pub(super) requests: TokenBucket,
    pub(super) reply_bytes: TokenBucket,
}

impl Session {
    /// Every request costs a token: `send` from the connection's and its address's send budgets,
    /// everything else from the request budget, and nothing is answered while the connection's
    /// reply-bytes budget is in debt (2,000 joins of a full room once made 1.7 GB of replies).
    pub(super) fn admit_request(&mut self, msg: &ClientMessage) -> Result<(), ProtocolError> {
        let c = &self.state.config;
        let limited = |what: String| ProtocolError::new(ErrorCode::RateLimited, what);
        match msg {
            ClientMessage::Send {
                room, client_id, ..
            }
            | ClientMessage::Ephemeral {
                room, client_id, ..
            } => {
                let fail = |e: ProtocolError| e.in_room(room).for_client(Some(client_id.clone()));
                if !self.budgets.sends.take(1.0) {
                    return Err(fail(limited(format!(
                        "sending too fast: at most {} messages per second",
                        c.send_rate
                    ))));
                }
                if !self.admission.address.take_send() {
                    return Err(fail(limited(format!(
                        "sending too fast from your address: at most {} messages per second \
                         across all its connections",
                        c.address_send_rate
                    ))));
                }
            }
            _ => {
                if !self.budgets.requests.take(1.0) {
                    return Err(limited(format!(
                        "too many requests: at most {} per second",
                        c.request_rate
                    )));
                }
                if !self.budgets.reply_bytes.has_credit() {
                    return Err(limited(format!(
                        "too much asked for: replies are limited to {} bytes per second",
                        c.reply_bytes_per_sec
                    )));
                }
                if matches!(msg, ClientMessage::CreateRoom { .. })
                    && !self.admission.address.take_room()
                {
                    return Err(limited(format!(
                        "too many rooms created from your address: at most {} per hour",
                        c.rooms_per_address_per_hour
                    )));
                }
            }
        }
        Ok(())
    }
}
