//! Examples of the language, and property tests: parsing never panics and points inside the
//! input, printing and reparsing gives the same tree, and matching agrees with a reference
//! evaluation of generated expressions.

use proptest::prelude::*;

use super::*;
use crate::limits::{MAX_QUERY_CHARS, MAX_QUERY_DEPTH, MAX_QUERY_TERMS};

fn msg<'a>(name: &'a str, content: &'a str) -> MessageView<'a> {
    MessageView {
        name,
        user: None,
        topic: None,
        content,
        time_ms: 1_764_410_400_000, // 2025-11-29T10:00:00Z
    }
}

fn q(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> QueryError {
    Query::parse(text).expect_err(text)
}

#[test]
fn the_issue_example_reads_as_intended() {
    let query = q("#deploy AND from:ann AND NOT \"dry run\"");
    assert!(query.matches(&msg("Ann", "shipping #deploy now")));
    assert!(!query.matches(&msg("Ann", "#deploy (dry run first)")));
    assert!(!query.matches(&msg("Bob", "#deploy")));
    assert!(!query.matches(&msg("Ann", "#deployment")), "a tag is whole");
    assert!(
        !query.matches(&msg("Ann", "deploy")),
        "a keyword is not a tag"
    );
    assert_eq!(
        query.to_string(),
        "#deploy AND from:ann AND NOT \"dry run\""
    );
}

#[test]
fn not_binds_tighter_than_and_tighter_than_or() {
    assert_eq!(q("a b OR c").to_string(), "a AND b OR c");
    assert_eq!(q("a (b OR c)").to_string(), "a AND (b OR c)");
    assert_eq!(q("NOT a b").to_string(), "NOT a AND b");
    assert_eq!(q("NOT (a b)").to_string(), "NOT (a AND b)");
    assert_eq!(q("((a OR b) OR c)"), q("a OR b OR c"), "flattened");
    let query = q("x OR y z");
    assert!(query.matches(&msg("a", "x")));
    assert!(!query.matches(&msg("a", "y")));
    assert!(query.matches(&msg("a", "z y")));
    assert!(
        q("and").matches(&msg("a", "rock and roll")),
        "lower case is a word"
    );
}

#[test]
fn terms_match_words_senders_topics_and_times() {
    let mut m = msg("Zoë Lee", "Déjà vu: the dry-run of v2 failed");
    m.user = Some("zoe");
    m.topic = Some("Release");
    for yes in [
        "déjà",
        "DÉJÀ VU",
        "\"dry run\"",
        "dry-run",
        "V2",
        "from:zoe",
        "from:\"zoë lee\"",
        "FROM:ZOE",
        "topic:release",
        "after:2025-11-29",
        "before:2025-11-29T10:00:00.001Z",
        "after:2025-11-29T11:00:00+01:00",
    ] {
        assert!(q(yes).matches(&m), "{yes} should match");
    }
    for no in [
        "dej",
        "\"run dry\"",
        "from:zo",
        "topic:rel",
        "after:2025-11-30",
        "before:2025-11-29T10:00:00Z",
        "#v2",
    ] {
        assert!(!q(no).matches(&m), "{no} should not match");
    }
    let tagged = msg("a", "go #Deploy_v2! and #ship");
    assert!(q("#deploy_V2").matches(&tagged) && q("#ship").matches(&tagged));
    assert!(!q("#deploy").matches(&tagged));
}

#[test]
fn errors_point_at_the_problem() {
    for (text, position) in [
        ("", 0),
        ("   ", 0),
        ("a AND", 5),
        ("OR a", 0),
        ("a (b", 2),
        ("a b)", 3),
        ("()", 1),
        ("a \"b", 2),
        ("#", 1),
        ("#de-ploy", 3),
        ("from:", 5),
        ("x after:yesterday", 8),
        ("before:1969-12-31", 7),
        ("--", 0),
        ("\"?!\"", 0),
        ("NOT NOT", 7),
    ] {
        assert_eq!(err(text).position, position, "{text}: {}", err(text));
    }
    let long = "a ".repeat(MAX_QUERY_CHARS);
    assert_eq!(err(&long).position, MAX_QUERY_CHARS);
    let many = vec!["w"; MAX_QUERY_TERMS + 1].join(" ");
    assert_eq!(err(&many).position, 2 * MAX_QUERY_TERMS);
    let deep = format!(
        "{}a{}",
        "(".repeat(MAX_QUERY_DEPTH + 1),
        ")".repeat(MAX_QUERY_DEPTH + 1)
    );
    assert_eq!(err(&deep).position, MAX_QUERY_DEPTH);
    let nots = format!("{}a", "NOT ".repeat(MAX_QUERY_DEPTH + 1));
    assert_eq!(err(&nots).position, 4 * MAX_QUERY_DEPTH);
    q(&format!(
        "{}a{}",
        "(".repeat(MAX_QUERY_DEPTH),
        ")".repeat(MAX_QUERY_DEPTH)
    ));
}

#[test]
fn a_stored_frame_is_matched_by_its_fields() {
    let frame = r#"{"type":"message","room":"general","id":"1","name":"Ann","user":null,"guest":true,"email":null,"time":"2025-11-29T10:00:00.000Z","topic":"ops","content":"line\n#deploy \"now\"","client_id":"c","offset":7}"#;
    assert!(
        q("#deploy from:ann topic:ops now before:2025-11-29T10:00:00.001Z").matches_frame(frame)
    );
    assert!(!q("after:2025-11-29T10:00:00.001Z").matches_frame(frame));
    assert!(!q("x").matches_frame("not json"));
    assert_eq!(StoredMessage::read(frame).unwrap().offset, 7);
}

/// Pieces that make likely (and unlikely) queries: mostly terms, some operators, a few
/// characters that break things.
fn piece() -> impl Strategy<Value = String> {
    let s = |x: &str| Just(x.to_owned());
    prop_oneof![
        8 => "[a-zA-Zé0-9]{1,5}([_:\\-][a-z0-9]{0,2})?",
        3 => "#[a-zA-Z0-9_é]{1,5}",
        3 => "\"[a-z é\\\\\"]{0,6}\"",
        2 => s("from:Ann"),
        1 => s("from:\"Zoë Lee\""),
        1 => s("topic:ops"),
        1 => s("after:2026-01-02"),
        1 => s("before:2026-01-02T03:04:05.678+02:00"),
        2 => s("AND"),
        2 => s("OR"),
        2 => s("NOT"),
        1 => prop_oneof![s("("), s(")"), s("\""), s("\\"), s("#"), s("from:"), s("after:"), s("()")],
    ]
}

/// Pieces mostly separated by a space, sometimes glued; balanced parentheses around some runs.
fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            piece(),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.1),
        ),
        0..16,
    )
    .prop_map(|pieces| {
        let mut out = String::new();
        for (piece, glued, group) in pieces {
            if !glued && !out.is_empty() {
                out.push(' ');
            }
            if group {
                out = format!("({out})");
            }
            out.push_str(&piece);
        }
        out
    })
}

proptest! {
    // About one soup in five parses: a thousand cases print a couple of hundred queries back.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parsing_never_panics_and_errors_point_inside(text in any::<String>()) {
        if let Err(e) = Query::parse(&text) {
            prop_assert!(e.position <= text.chars().count(), "{e} in {text:?}");
        }
    }

    #[test]
    fn soup_errors_point_inside_and_queries_print_back(text in soup()) {
        match Query::parse(&text) {
            Err(e) => prop_assert!(e.position <= text.chars().count(), "{e} in {text:?}"),
            Ok(query) => {
                let printed = query.to_string();
                let again = Query::parse(&printed);
                prop_assert_eq!(again.as_ref(), Ok(&query), "{:?} printed as {:?}", text, printed);
            }
        }
    }

    #[test]
    fn the_prefilter_uses_exactly_its_binds(text in soup()) {
        if let Ok(query) = Query::parse(&text) {
            let filter = query.prefilter(4);
            let mut used: Vec<usize> = filter
                .sql
                .split('$')
                .skip(1)
                .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap())
                .collect();
            used.sort_unstable();
            used.dedup();
            let want: Vec<usize> = (4..4 + filter.binds.len()).collect();
            prop_assert_eq!(used, want, "{}", filter.sql);
        }
    }

    #[test]
    fn matching_agrees_with_a_reference(
        expr in reference_expr(),
        messages in prop::collection::vec(reference_message(), 1..8),
    ) {
        let text = expr.render();
        let query = Query::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        for m in &messages {
            let view = MessageView {
                name: &m.name,
                user: m.user.as_deref(),
                topic: None,
                content: &m.content,
                time_ms: m.time_ms,
            };
            prop_assert_eq!(query.matches(&view), expr.eval(m), "{} on {:?}", text, m);
        }
    }
}

const WORDS: [&str; 5] = ["deploy", "dry", "run", "zoë", "v2"];
const SEPARATORS: [&str; 4] = [" ", ", ", "-", "! "];
const NAMES: [&str; 3] = ["Ann", "bob", "Zoë"];
const TIMES: [u64; 3] = [1_000, 86_400_000, 90_000_000];

/// A message made of known words, some of them tagged with `#`.
#[derive(Debug, Clone)]
struct RefMessage {
    name: String,
    user: Option<String>,
    content: String,
    /// (word, tagged) in order.
    tokens: Vec<(String, bool)>,
    time_ms: u64,
}

fn reference_message() -> impl Strategy<Value = RefMessage> {
    (
        prop::sample::select(NAMES.to_vec()),
        prop::option::of(prop::sample::select(vec!["ann", "zoe"])),
        prop::collection::vec(
            (
                prop::sample::select(WORDS.to_vec()),
                any::<bool>(),
                any::<bool>(),
                prop::sample::select(SEPARATORS.to_vec()),
            ),
            0..6,
        ),
        prop::sample::select(TIMES.to_vec()),
    )
        .prop_map(|(name, user, parts, time_ms)| {
            let mut content = String::new();
            let mut tokens = Vec::new();
            for (word, upper, tagged, sep) in parts {
                let word = if upper {
                    word.to_uppercase()
                } else {
                    word.to_owned()
                };
                if tagged {
                    content.push('#');
                }
                content.push_str(&word);
                content.push_str(sep);
                tokens.push((word.to_lowercase(), tagged));
            }
            RefMessage {
                name: name.to_owned(),
                user: user.map(str::to_owned),
                content,
                tokens,
                time_ms,
            }
        })
}

/// An expression tree with its own naive evaluation, rendered fully parenthesised.
#[derive(Debug, Clone)]
enum RefExpr {
    Word(String),
    Phrase(String, String),
    Tag(String),
    From(String),
    After(u64),
    Before(u64),
    Not(Box<RefExpr>),
    And(Box<RefExpr>, Box<RefExpr>, bool),
    Or(Box<RefExpr>, Box<RefExpr>),
}

fn reference_expr() -> impl Strategy<Value = RefExpr> {
    let word = || prop::sample::select(WORDS.to_vec()).prop_map(str::to_owned);
    let leaf = prop_oneof![
        word().prop_map(|w| RefExpr::Word(w.to_uppercase())),
        word().prop_map(RefExpr::Word),
        (word(), word()).prop_map(|(a, b)| RefExpr::Phrase(a, b)),
        word().prop_map(RefExpr::Tag),
        prop::sample::select(vec!["ann", "ZOË", "zoe", "bob"])
            .prop_map(|n| RefExpr::From(n.to_owned())),
        prop::sample::select(TIMES.to_vec()).prop_map(RefExpr::After),
        prop::sample::select(TIMES.to_vec()).prop_map(RefExpr::Before),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| RefExpr::Not(Box::new(e))),
            (inner.clone(), inner.clone(), any::<bool>())
                .prop_map(|(a, b, explicit)| RefExpr::And(Box::new(a), Box::new(b), explicit)),
            (inner.clone(), inner).prop_map(|(a, b)| RefExpr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

impl RefExpr {
    fn render(&self) -> String {
        let time = |ms: u64| parser::format_time(ms);
        match self {
            Self::Word(w) => w.clone(),
            Self::Phrase(a, b) => format!("\"{a} {b}\""),
            Self::Tag(t) => format!("#{t}"),
            Self::From(n) => format!("from:{n}"),
            Self::After(ms) => format!("after:{}", time(*ms)),
            Self::Before(ms) => format!("before:{}", time(*ms)),
            Self::Not(e) => format!("NOT ({})", e.render()),
            Self::And(a, b, true) => format!("({}) AND ({})", a.render(), b.render()),
            Self::And(a, b, false) => format!("({}) ({})", a.render(), b.render()),
            Self::Or(a, b) => format!("({}) OR ({})", a.render(), b.render()),
        }
    }

    fn eval(&self, m: &RefMessage) -> bool {
        let words: Vec<&str> = m.tokens.iter().map(|(w, _)| w.as_str()).collect();
        match self {
            Self::Word(w) => words.contains(&w.to_lowercase().as_str()),
            Self::Phrase(a, b) => words.windows(2).any(|p| p[0] == a && p[1] == b),
            Self::Tag(t) => m.tokens.iter().any(|(w, tagged)| *tagged && w == t),
            Self::From(n) => {
                let n = n.to_lowercase();
                m.name.to_lowercase() == n || m.user.as_deref() == Some(n.as_str())
            }
            Self::After(ms) => m.time_ms >= *ms,
            Self::Before(ms) => m.time_ms < *ms,
            Self::Not(e) => !e.eval(m),
            Self::And(a, b, _) => a.eval(m) && b.eval(m),
            Self::Or(a, b) => a.eval(m) || b.eval(m),
        }
    }
}

/// The round-trip property is only as good as the queries it sees: the soup must parse often.
#[test]
fn the_soup_makes_enough_valid_queries() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = soup();
    let valid = (0..1000)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            Query::parse(&text).is_ok()
        })
        .count();
    assert!(valid > 150, "only {valid} of 1000 parse");
}
