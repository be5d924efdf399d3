//! How a session ends: the close codes of `docs/protocol.md`, `Close` (a code and its reason;
//! a handler returning it ends the loop with that close frame), and the close a failed read of
//! the socket calls for.

pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_PAYLOAD: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const INTERNAL: u16 = 1011;
pub const NO_PONG: u16 = 4000;
pub const SESSION_ENDED: u16 = 4001;
pub const SLOW_CONSUMER: u16 = 4008;

/// Why the session ends with a close frame.
pub(super) struct Close(pub(super) u16, pub(super) &'static str);

/// The close a failed read calls for (RFC 6455 7.4.1): 1009 over `--max-frame-bytes`, 1007 for
/// a text frame that is not UTF-8, 1002 for any other violation of the framing; None when the
/// peer is simply gone and there is no one to tell.
pub(super) fn read_error_close(e: &(dyn std::error::Error + 'static)) -> Option<Close> {
    use tungstenite::{Error as WsError, error::ProtocolError as Violation};
    let mut source = Some(e);
    while let Some(e) = source {
        let Some(ws) = e.downcast_ref::<WsError>() else {
            source = e.source();
            continue;
        };
        return match ws {
            WsError::Capacity(_) => Some(Close(TOO_BIG, "frame too large")),
            WsError::Utf8(_) => Some(Close(INVALID_PAYLOAD, "text frame is not UTF-8")),
            WsError::Protocol(Violation::ResetWithoutClosingHandshake) => None,
            WsError::Protocol(_) => Some(Close(PROTOCOL_ERROR, "protocol error")),
            _ => None,
        };
    }
    None
}
