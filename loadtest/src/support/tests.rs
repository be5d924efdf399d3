//! The `support` scenario's pure parts: the plan's bounds, when a queue frame times a message,
//! what the queue and the agent still owe, and reading the sign-up answer.

use super::board::{Board, Listed};
use super::http::{address_of, parse_answer};
use super::*;
use crate::stats::write_stamp;

fn plan() -> SupportPlan {
    SupportPlan {
        urls: vec!["ws://127.0.0.1:1/ws".into()],
        clients: 200,
        take: 20,
        rate: 100.0,
        duration: Duration::from_secs(10),
        content_bytes: 64,
        concurrency: 256,
        hold: Duration::ZERO,
        drain: Duration::from_secs(5),
        max_secs: 300,
        register: false,
        agent: "bench-agent".into(),
        agent_cookie: None,
    }
}

fn listed(room: &str, offset: u64, stamp: u64) -> Listed {
    let mut content = String::new();
    write_stamp(&mut content, stamp);
    content.push_str(" xxxx");
    serde_json::from_value(serde_json::json!({
        "room": room, "client": "guest:00", "state": "waiting",
        "last": {"name": "c", "content": content, "time": "t", "offset": offset},
    }))
    .unwrap()
}

#[test]
fn the_default_plan_is_valid_and_bad_ones_are_refused() {
    plan().validate().unwrap();
    assert_eq!(
        plan().period(),
        Duration::from_secs(2),
        "200 clients at 100/s"
    );
    type Edit = fn(&mut SupportPlan);
    let cases: [(&str, Edit); 5] = [
        ("--take", |p| p.take = 201),
        ("--clients", |p| p.clients = 0),
        ("--rate", |p| p.rate = 0.0),
        ("--duration", |p| p.duration = Duration::from_secs(601)),
        ("--size", |p| p.content_bytes = 16),
    ];
    for (flag, f) in cases {
        let mut p = plan();
        f(&mut p);
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

#[test]
fn a_queue_frame_times_each_new_last_message_of_this_run_once() {
    let board = Board::new();
    board.open("support-a");
    board.sending_since.store(1_000, Relaxed);
    board.acked("support-a", 7);
    // Not ours (another run's room), and a message sent before the run's sending phase.
    let frame = [listed("support-zz", 9, 5_000), listed("support-a", 6, 500)];
    assert_eq!(board.on_queue(&frame, 9_000), 0);
    assert_eq!(board.unreflected(), 1, "offset 7 not shown yet");
    let frame = [listed("support-a", 7, 2_000)];
    assert_eq!(board.on_queue(&frame, 5_000), 1);
    // The same last message again (a frame about another conversation) is not timed twice.
    assert_eq!(board.on_queue(&frame, 8_000), 0);
    assert_eq!(board.unreflected(), 0);
    let q = board.queue.summary();
    assert_eq!(q.count, 1);
    assert!((q.max - 3.0).abs() < 0.01, "3 ms: {q:?}");
    // A conversation without messages lists `last: null`.
    let empty: Listed =
        serde_json::from_value(serde_json::json!({"room": "support-a", "last": null})).unwrap();
    assert_eq!(board.on_queue(&[empty], 9_000), 0);
}

#[test]
fn the_agent_is_owed_the_messages_of_the_conversations_it_holds() {
    let board = Board::new();
    for room in ["support-a", "support-b"] {
        board.open(room);
    }
    board.to_take.lock().unwrap().insert("support-a".into());
    board.acked("support-a", 3);
    board.acked("support-a", 4);
    board.acked("support-b", 2);
    assert_eq!(board.owed_to_agent(), 2);
}

#[test]
fn sign_up_answers_give_their_status_and_session_cookie() {
    let answer = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nSet-Cookie: chatapp_session=abc123; HttpOnly; Path=/\r\n\r\n{\"user\":{}}";
    let (status, cookie, body) = parse_answer(answer).unwrap();
    assert_eq!(
        (status, cookie.as_deref()),
        (201, Some("chatapp_session=abc123"))
    );
    assert_eq!(body, "{\"user\":{}}");
    let (status, cookie, _) = parse_answer("HTTP/1.1 409 Conflict\r\n\r\n{}").unwrap();
    assert_eq!((status, cookie), (409, None));
    assert!(parse_answer("garbage").is_none());
    assert_eq!(address_of(0), "10.0.0.0");
    assert_eq!(address_of(70_000), "10.1.17.112");
}
