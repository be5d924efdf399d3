use super::*;

fn at(user: &str, display_name: &str, offset: u64) -> ReadPosition {
    ReadPosition {
        user: user.into(),
        display_name: display_name.into(),
        offset,
    }
}

#[test]
fn receipts_cover_the_newest_distinct_positions_with_counts_and_names() {
    let positions = [
        at("ann", "Ann", 3),
        at("bob", "Bob", 7),
        at("cy", "Cy", 9),
        at("di", "Di", 9),
        at("ed", "Ed", 1),
    ];
    let frames: Vec<serde_json::Value> = receipts_frames("ops", &positions)
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let summary: Vec<(u64, u64)> = frames
        .iter()
        .map(|f| (f["offset"].as_u64().unwrap(), f["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(summary, [(3, 4), (7, 3), (9, 2)], "{frames:?}");
    assert_eq!(frames[2]["names"], serde_json::json!(["Cy", "Di"]));
    assert_eq!(frames[0]["type"], "receipts");
}

#[test]
fn receipts_list_at_most_the_name_cap_but_count_everyone() {
    let positions: Vec<ReadPosition> = (0..50)
        .map(|i| at(&format!("u{i}"), &format!("U{i:02}"), 4))
        .collect();
    let frame: serde_json::Value =
        serde_json::from_str(&receipts_frames("ops", &positions)[0]).unwrap();
    assert_eq!(frame["count"], 50);
    assert_eq!(frame["names"].as_array().unwrap().len(), MAX_RECEIPT_NAMES);
}

#[test]
fn mentions_match_usernames_and_display_names_as_whole_words() {
    let people = [
        at("ann", "Ann Lee", 1),
        at("bob", "Bob", 1),
        at("annie", "Annie", 1),
    ];
    assert_eq!(mentioned("hi @ANN!", &people, "bob"), ["ann"]);
    assert_eq!(mentioned("ping @Ann Lee please", &people, "bob"), ["ann"]);
    assert_eq!(
        mentioned("hi @annie", &people, "bob"),
        ["annie"],
        "a longer name is not a shorter one"
    );
    assert_eq!(
        mentioned("mail ann@bob", &people, "x"),
        Vec::<String>::new()
    );
    assert!(mentioned("@bob talks to himself", &people, "bob").is_empty());
    assert!(mentioned("no at sign", &people, "x").is_empty());
}

#[test]
fn typing_frames_carry_room_name_and_user() {
    let f: serde_json::Value =
        serde_json::from_str(&typing_frame("ops", "Ann \"A\"", Some("ann"))).unwrap();
    assert_eq!(
        f,
        serde_json::json!({"type":"typing","room":"ops","name":"Ann \"A\"","user":"ann"})
    );
}

#[test]
fn username_words_are_at_words_of_the_username_shape() {
    assert_eq!(
        username_words("hi @Carol, @bob-2 and @carol"),
        ["carol", "bob-2"]
    );
    assert!(
        username_words("mail x@carol.example").is_empty(),
        "an address is no mention"
    );
    assert!(username_words("@ab is too short, @émile is not ascii").is_empty());
    let many: String = (0..30).map(|i| format!("@user{i} ")).collect();
    assert_eq!(username_words(&many).len(), MAX_MENTIONED);
}
