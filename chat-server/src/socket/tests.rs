use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// The frames in `raw` as the server wrote them (unmasked): (fin, opcode, payload).
fn frames_of(mut raw: &[u8]) -> Vec<(bool, u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let (fin, opcode) = (raw[0] & 0x80 != 0, raw[0] & 0x0f);
        assert_eq!(raw[1] & 0x80, 0, "a server frame is not masked");
        let (len, head) = match raw[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([raw[2], raw[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(raw[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            n => (usize::from(n), 2),
        };
        out.push((fin, opcode, raw[head..head + len].to_vec()));
        raw = &raw[head + len..];
    }
    out
}

async fn written_by_server(messages: Vec<Message>) -> Vec<u8> {
    let (server, mut client) = tokio::io::duplex(1 << 20);
    let mut socket = Socket::new(server, WebSocketConfig::default()).await;
    for message in messages {
        socket.send(message).await.unwrap();
    }
    drop(socket);
    let mut raw = Vec::new();
    client.read_to_end(&mut raw).await.unwrap();
    raw
}

#[tokio::test]
async fn a_long_text_goes_out_as_fragments_of_at_most_fragment_bytes() {
    let text: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let raw = written_by_server(vec![Message::Text(text.clone().into())]).await;
    let frames = frames_of(&raw);
    assert_eq!(
        frames.len(),
        10_000usize.div_ceil(FRAGMENT_BYTES),
        "{:?}",
        frames.len()
    );
    for (i, (fin, opcode, payload)) in frames.iter().enumerate() {
        assert!(
            payload.len() <= FRAGMENT_BYTES,
            "frame {i}: {} bytes",
            payload.len()
        );
        assert_eq!(
            *opcode,
            if i == 0 { 1 } else { 0 },
            "frame {i}: text, then continuations"
        );
        assert_eq!(
            *fin,
            i + 1 == frames.len(),
            "frame {i}: only the last is final"
        );
    }
    let joined: Vec<u8> = frames.into_iter().flat_map(|(_, _, p)| p).collect();
    assert_eq!(String::from_utf8(joined).unwrap(), text);
}

#[tokio::test]
async fn short_and_empty_texts_are_one_final_frame() {
    let exact = "x".repeat(FRAGMENT_BYTES);
    let raw = written_by_server(vec![
        Message::Text(exact.clone().into()),
        Message::Text(Utf8Bytes::from_static("")),
    ])
    .await;
    let frames = frames_of(&raw);
    assert_eq!(
        frames,
        vec![(true, 1, exact.into_bytes()), (true, 1, Vec::new())]
    );
}

#[tokio::test]
async fn a_client_reads_the_fragmented_message_whole_and_is_answered() {
    let (server, client) = tokio::io::duplex(1 << 16);
    let mut socket = Socket::new(server, WebSocketConfig::default()).await;
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let long = "é".repeat(3_000); // 6,000 bytes: a fragment may end inside a character
    let send = async {
        socket
            .send(Message::Text(long.clone().into()))
            .await
            .unwrap();
        socket.next().await
    };
    let receive = async {
        let got = client.next().await.unwrap().unwrap();
        client.send(WsMessage::text("hi")).await.unwrap();
        got
    };
    let (echo, got) = tokio::join!(send, receive);
    assert_eq!(got, WsMessage::text(long));
    assert!(matches!(echo, Some(Ok(Message::Text(t))) if t == "hi"));
}

#[tokio::test]
async fn the_write_buffer_is_released_once_flushed() {
    let (io, mut peer) = tokio::io::duplex(1 << 16);
    let mut buffered = Buffered::new(io);
    buffered.write_all(&[7; 10_000]).await.unwrap();
    assert_eq!(buffered.pending(), 10_000, "held until the flush");
    buffered.flush().await.unwrap();
    assert_eq!(buffered.pending(), 0);
    assert_eq!(
        buffered.out.capacity(),
        0,
        "an idle connection keeps no write buffer"
    );
    let mut got = vec![0; 10_000];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(got, vec![7; 10_000]);
}

#[tokio::test]
async fn texts_go_out_beside_tungstenite_and_are_refused_after_a_close() {
    let long = "é".repeat(3_000);
    let text = Utf8Bytes::from(long.clone());
    let raw = written_by_server(vec![
        Message::Text(text),
        Message::Text(Utf8Bytes::from_static("after")),
    ])
    .await;
    let frames = frames_of(&raw);
    let joined: Vec<u8> = frames[..frames.len() - 1]
        .iter()
        .flat_map(|(_, _, p)| p.clone())
        .collect();
    assert_eq!(String::from_utf8(joined).unwrap(), long);
    assert_eq!(frames.last().unwrap(), &(true, 1, b"after".to_vec()));

    let (server, _client) = tokio::io::duplex(1 << 16);
    let mut socket = Socket::new(server, WebSocketConfig::default()).await;
    socket.send(Message::Close(None)).await.unwrap();
    let err = socket.send(Message::Text("late".into())).await.unwrap_err();
    assert!(
        matches!(
            err,
            WsError::Protocol(tungstenite::error::ProtocolError::SendAfterClosing)
        ),
        "{err:?}"
    );
}
