//! A query narrowed to an SQL condition on the `messages` table, so PostgreSQL's full-text index
//! does the first cut of a search (`store/postgres/search.rs`); the exact `matcher` then runs on
//! the rows it returns. The condition must never reject a message the matcher accepts, so each
//! part is either *exact* (the same answer as the matcher) or a *superset*, and a superset is
//! never negated:
//!
//! - words, phrases and hashtags → `chat_search_doc(frame) @@ phraseto_tsquery('simple', …)`, one
//!   per run of consecutive ASCII words (a superset; migration `0004_search.sql` indexes the
//!   content lower-cased in the C collation with everything but `a-z0-9` as a space, so an ASCII
//!   word the matcher sees is always a lexeme there); non-ASCII words are left to the matcher;
//! - `from:` and `topic:` with an ASCII value → `lower(… COLLATE "C") = value` (exact, the
//!   matcher's ASCII case folding); other values are left to the matcher;
//! - `after:` / `before:` → `time_ms >= / < …` (exact);
//! - `NOT x` only when `x` is exact; `OR` only when every operand says something.

use super::{Expr, Term, matcher::words};

/// A value bound to one `$n` of a [`Prefilter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// An SQL condition (`TRUE` when nothing can be said) and its values, bound from `$first_bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefilter {
    pub(crate) sql: String,
    pub(crate) binds: Vec<Bind>,
}

/// A translated part: its SQL and whether it is exact.
struct Part {
    sql: String,
    exact: bool,
}

pub(super) fn prefilter(expr: &Expr, first_bind: usize) -> Prefilter {
    let mut out = Binder {
        binds: Vec::new(),
        first: first_bind,
    };
    let sql = translate(expr, &mut out).map_or_else(|| "TRUE".to_owned(), |p| p.sql);
    Prefilter {
        sql,
        binds: out.binds,
    }
}

struct Binder {
    binds: Vec<Bind>,
    first: usize,
}

impl Binder {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.first + self.binds.len() - 1)
    }
}

/// `None` when the part says nothing (any message may match); the binds it pushed are then
/// taken back, so every `$n` in the result is used.
fn translate(expr: &Expr, b: &mut Binder) -> Option<Part> {
    let mark = b.binds.len();
    let part = match expr {
        Expr::Term(term) => term_sql(term, b),
        Expr::Not(inner) => translate(inner, b).filter(|p| p.exact).map(|p| Part {
            sql: format!("NOT ({})", p.sql),
            exact: true,
        }),
        Expr::And(items) => {
            let parts: Vec<Option<Part>> = items.iter().map(|e| translate(e, b)).collect();
            let exact = parts.iter().all(|p| p.as_ref().is_some_and(|p| p.exact));
            let sql: Vec<String> = parts.into_iter().flatten().map(|p| p.sql).collect();
            (!sql.is_empty()).then(|| Part {
                sql: format!("({})", sql.join(" AND ")),
                exact,
            })
        }
        Expr::Or(items) => {
            let parts: Option<Vec<Part>> = items.iter().map(|e| translate(e, b)).collect();
            parts.map(|parts| Part {
                exact: parts.iter().all(|p| p.exact),
                sql: format!(
                    "({})",
                    parts
                        .into_iter()
                        .map(|p| p.sql)
                        .collect::<Vec<_>>()
                        .join(" OR ")
                ),
            })
        }
    };
    if part.is_none() {
        b.binds.truncate(mark);
    }
    part
}

fn term_sql(term: &Term, b: &mut Binder) -> Option<Part> {
    let field = |b: &mut Binder, expr: &str, value: &str| {
        value.is_ascii().then(|| Part {
            sql: format!(
                "COALESCE(lower(({expr}) COLLATE \"C\"), '') = {}",
                b.bind(Bind::Text(value.to_ascii_lowercase()))
            ),
            exact: true,
        })
    };
    match term {
        Term::Hashtag(text) | Term::Keyword(text) | Term::Phrase(text) => words_sql(text, b),
        Term::From(who) => {
            let name = field(b, "frame::jsonb->>'name'", who)?;
            let user = field(b, "frame::jsonb->>'user'", who)?;
            Some(Part {
                sql: format!("({} OR {})", name.sql, user.sql),
                exact: true,
            })
        }
        Term::Topic(topic) => field(b, "frame::jsonb->>'topic'", topic),
        Term::After(ms) => Some(Part {
            sql: format!("time_ms >= {}", b.bind(Bind::Int(to_i64(*ms)))),
            exact: true,
        }),
        Term::Before(ms) => Some(Part {
            sql: format!("time_ms < {}", b.bind(Bind::Int(to_i64(*ms)))),
            exact: true,
        }),
    }
}

/// One index condition per run of consecutive ASCII words (never exact).
fn words_sql(text: &str, b: &mut Binder) -> Option<Part> {
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for word in words(text) {
        if word.is_ascii() {
            runs.last_mut()?.push(word.to_ascii_lowercase());
        } else if !runs.last()?.is_empty() {
            runs.push(Vec::new());
        }
    }
    let conds: Vec<String> = runs
        .into_iter()
        .filter(|run| !run.is_empty())
        .map(|run| {
            format!(
                "chat_search_doc(frame) @@ phraseto_tsquery('simple', {})",
                b.bind(Bind::Text(run.join(" ")))
            )
        })
        .collect();
    (!conds.is_empty()).then(|| Part {
        sql: conds.join(" AND "),
        exact: false,
    })
}

fn to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use crate::query::Query;

    fn sql(q: &str) -> (String, usize) {
        let p = Query::parse(q).unwrap().prefilter(3);
        (p.sql, p.binds.len())
    }

    #[test]
    fn words_use_the_index_and_fields_are_predicates() {
        let (s, n) = sql("#deploy AND from:ann AND NOT \"dry run\"");
        assert_eq!(n, 3, "{s}");
        assert!(s.contains("phraseto_tsquery('simple', $3)"), "{s}");
        assert!(
            s.contains("frame::jsonb->>'name'") && s.contains("$4"),
            "{s}"
        );
        assert!(!s.contains("NOT"), "a superset is never negated: {s}");
        assert!(!s.contains("$6"), "{s}");
    }

    #[test]
    fn exact_parts_may_be_negated_and_unknowns_say_nothing() {
        let (s, n) = sql("NOT from:bob");
        assert!(s.starts_with("NOT ("), "{s}");
        assert_eq!(n, 2);
        assert_eq!(sql("déjà OR x"), ("TRUE".to_owned(), 0));
        assert_eq!(sql("NOT x"), ("TRUE".to_owned(), 0));
        let (s, n) = sql("(déjà OR from:bob) AND after:2026-01-01");
        assert_eq!((s.as_str(), n), ("(time_ms >= $3)", 1));
        let (s, n) = sql("\"naïve café au lait\"");
        assert_eq!(n, 1, "the ASCII run 'au lait': {s}");
    }
}
