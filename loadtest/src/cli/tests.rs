//! Flag parsing into plans: scenarios, defaults and refusals.

use super::*;

fn plan(args: &[&str]) -> Result<(Plan, Probe, bool)> {
    let mut argv = vec!["chat-bench"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("parses").plan()
}

#[test]
fn scenarios_become_plans() {
    let (p, _, json) = plan(&[
        "fanout",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--members",
        "7",
        "--json",
    ])
    .unwrap();
    assert!(json);
    assert_eq!(
        (p.rooms.len(), p.members_per_room, p.senders_per_room),
        (1, 7, 10)
    );
    assert_eq!(p.rooms[0], "bench-fanout");

    let (p, _, _) = plan(&[
        "rooms",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--rooms",
        "3",
        "--rate",
        "0",
    ])
    .unwrap();
    assert_eq!(p.rooms, ["bench-0", "bench-1", "bench-2"]);
    assert_eq!(p.rate, 0.0);

    let (p, probe, _) = plan(&[
        "seed450",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--server-pid",
        "9",
    ])
    .unwrap();
    assert_eq!(
        (p.connections(), p.senders_per_room, probe.server_pid),
        (450, 0, Some(9))
    );
    assert_eq!(p.concurrency, 450);
    let (p, _, _) = plan(&[
        "seed450",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--concurrency",
        "100",
    ])
    .unwrap();
    assert_eq!(p.concurrency, 100);

    let (p, _, _) = plan(&[
        "connect",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--connections",
        "20",
    ])
    .unwrap();
    assert_eq!((p.connections(), p.rooms[0].as_str()), (20, "general"));
}

#[test]
fn replicas_need_several_urls() {
    assert!(plan(&["replicas", "--url", "ws://127.0.0.1:1/ws"]).is_err());
    let (p, _, _) = plan(&[
        "replicas",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--url",
        "ws://127.0.0.1:2/ws",
    ])
    .unwrap();
    assert_eq!(p.urls.len(), 2);
}

#[test]
fn a_url_is_required() {
    assert!(Cli::try_parse_from(["chat-bench", "connect"]).is_err());
}

#[test]
fn the_protocol_is_chatapp_unless_asked() {
    let url = ["--url", "ws://127.0.0.1:1"];
    let (p, _, _) = plan(&["fanout", url[0], url[1]]).unwrap();
    assert_eq!(p.protocol, Protocol::Chatapp);
    let (p, _, _) = plan(&["rooms", url[0], url[1], "--protocol", "socketio"]).unwrap();
    assert_eq!(p.protocol, Protocol::Socketio);
    let (p, _, _) = plan(&["connect", url[0], url[1], "--protocol", "nats"]).unwrap();
    assert_eq!(p.protocol, Protocol::Nats);
    let bad = Cli::try_parse_from([
        "chat-bench",
        "connect",
        url[0],
        url[1],
        "--protocol",
        "mqtt",
    ]);
    assert!(bad.is_err());
}

#[test]
fn support_is_a_job_of_chat_server_only() {
    let job = |args: &[&str]| {
        let mut argv = vec!["chat-bench", "support", "--url", "ws://127.0.0.1:1"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses").job()
    };
    let (job_, _, _) = job(&["--clients", "3", "--take", "2"]).unwrap();
    let Job::Support(p) = job_ else {
        panic!("support runs the support scenario: {job_:?}")
    };
    assert_eq!((p.clients, p.take), (3, 2));
    let (job_, _, _) = job(&["--protocol", "chatapp"]).unwrap();
    assert!(matches!(job_, Job::Support(_)));
    for peer in ["socketio", "nats"] {
        let err = job(&["--protocol", peer]).unwrap_err().to_string();
        assert!(err.contains("--protocol chatapp"), "{err}");
    }
    // The rooms scenarios still go through the same entry point, with their protocol.
    let argv = [
        "chat-bench",
        "fanout",
        "--url",
        "ws://127.0.0.1:1",
        "--protocol",
        "nats",
    ];
    let (job_, _, _) = Cli::try_parse_from(argv).unwrap().job().unwrap();
    let Job::Rooms(p) = job_ else {
        panic!("fanout is a rooms run: {job_:?}")
    };
    assert_eq!(p.protocol, Protocol::Nats);
}

#[test]
fn connect_spreads_over_rooms_from_source_addresses() {
    let (p, _, _) = plan(&[
        "connect",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--connections",
        "30",
        "--rooms",
        "3",
        "--source-addrs",
        "127.0.0.2-127.0.0.4",
        "--hold-until",
        "/tmp/stop",
    ])
    .unwrap();
    assert_eq!(p.rooms, ["bench-idle-0", "bench-idle-1", "bench-idle-2"]);
    assert_eq!((p.members_per_room, p.connections()), (10, 30));
    assert_eq!(p.source_addrs.addrs().len(), 3);
    assert_eq!(
        p.hold_until.as_deref(),
        Some(std::path::Path::new("/tmp/stop"))
    );

    // One room is --room, as before; no --source-addrs is the kernel's choice.
    let (p, _, _) = plan(&["connect", "--url", "ws://127.0.0.1:1/ws"]).unwrap();
    assert_eq!(p.rooms, ["general"]);
    assert_eq!(p.source_addrs.pick(0), None);

    for (rooms, why) in [("7", "divide evenly"), ("0", ">= 1")] {
        let err = plan(&[
            "connect",
            "--url",
            "ws://127.0.0.1:1/ws",
            "--connections",
            "30",
            "--rooms",
            rooms,
        ])
        .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn bad_source_addrs_are_refused_by_the_parser() {
    let err = Cli::try_parse_from([
        "chat-bench",
        "connect",
        "--url",
        "ws://127.0.0.1:1/ws",
        "--source-addrs",
        "10.0.0.1",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("not a loopback"), "{err}");
}
