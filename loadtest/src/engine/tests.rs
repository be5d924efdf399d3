//! The engine's plan checks and its refusals before any connection.

use super::*;

pub(crate) fn plan() -> Plan {
    Plan {
        scenario: "test".into(),
        protocol: Default::default(),
        urls: vec!["ws://127.0.0.1:1/ws".into()],
        rooms: vec!["general".into()],
        members_per_room: 2,
        senders_per_room: 1,
        rate: 10.0,
        window: 1,
        duration: Duration::from_secs(1),
        max_messages: 10,
        content_bytes: 64,
        connect_rate: 0.0,
        concurrency: 10,
        hold: Duration::ZERO,
        drain: Duration::from_secs(1),
        max_secs: 10,
        signals: false,
        cookie: None,
        source_addrs: Default::default(),
        ready_file: None,
        hold_until: None,
    }
}

#[test]
fn plans_are_bounded() {
    assert!(plan().validate().is_ok());
    let too_many = Plan {
        members_per_room: MAX_CONNECTIONS + 1,
        ..plan()
    };
    assert!(too_many.validate().is_err());
    assert!(
        Plan {
            senders_per_room: 3,
            ..plan()
        }
        .validate()
        .is_err()
    );
    assert!(
        Plan {
            duration: MAX_DURATION * 2,
            ..plan()
        }
        .validate()
        .is_err()
    );
    assert!(
        Plan {
            urls: vec![],
            ..plan()
        }
        .validate()
        .is_err()
    );
    assert!(
        Plan {
            content_bytes: 5000,
            ..plan()
        }
        .validate()
        .is_err()
    );
    assert!(
        Plan {
            rate: f64::NAN,
            ..plan()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn expected_deliveries_count_members_per_room() {
    let rooms = vec![RoomStats::default(), RoomStats::default()];
    rooms[0].acked.store(10, Relaxed);
    rooms[0].members.store(3, Relaxed);
    rooms[1].acked.store(4, Relaxed);
    rooms[1].members.store(5, Relaxed);
    assert_eq!(expected_deliveries(&rooms), 50);
}

#[tokio::test]
async fn refuses_a_non_loopback_target_before_connecting() {
    let p = Plan {
        urls: vec!["ws://192.0.2.1:80/ws".into()],
        ..plan()
    };
    let err = run(&p, &Probe::default()).await.unwrap_err();
    assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
}

#[test]
fn peer_protocols_refuse_what_only_chat_server_has() {
    for protocol in [Protocol::Socketio, Protocol::Nats] {
        let p = Plan { protocol, ..plan() };
        assert!(p.validate().is_ok(), "{protocol:?}");
        let signals = Plan {
            signals: true,
            ..p.clone()
        };
        assert!(signals.validate().is_err(), "{protocol:?} with --signals");
        let cookie = Plan {
            cookie: Some("chatapp_session=x".into()),
            ..p
        };
        assert!(cookie.validate().is_err(), "{protocol:?} with --cookie");
    }
}
