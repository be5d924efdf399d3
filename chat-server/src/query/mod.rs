//! The filter and search language of `docs/protocol.md` ("Filters and search"): a query string
//! parsed into a [`Query`] (`lexer` → `parser`), matched against one message (`matcher`), printed
//! back in canonical form (`Display`, here), and narrowed to an SQL prefilter for the database's
//! full-text index (`sql`). Plain functions, no IO: the session applies filters to what it
//! writes, `search` pages through the store. Every limit (length, terms, depth) is in
//! `limits.rs`; every error names the character position of the problem.
//!
//! Precedence, tightest first: `NOT`, then `AND` (also implicit between adjacent terms), then
//! `OR`; parentheses group. Operators are upper-case words; lower-case `and` is a keyword.

use std::fmt;

mod frame;
mod lexer;
mod matcher;
mod parser;
mod sql;
#[cfg(test)]
mod tests;

pub(crate) use self::{
    frame::{MessageView, StoredMessage},
    sql::{Bind, Prefilter},
};

/// A parsed query: match messages with [`Query::matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    expr: Expr,
}

/// Why a query was refused, and where: `position` is a 0-based index in characters (Unicode
/// scalar values) into the query; the query's length when it ended too early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl QueryError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// The expression tree. It is canonical: `And` holds no `And` and `Or` no `Or` (nested ones are
/// flattened), and each holds at least two operands, so printing and reparsing gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Term(Term),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// One condition on a message. Texts are kept as written; comparisons ignore case (`matcher`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// `#tag`: the content holds `#` and this tag (letters, digits, `_`), not followed by another
    /// letter, digit or `_`.
    Hashtag(String),
    /// A bare word such as `deploy` or `dry-run`: its words appear in the content, consecutively.
    Keyword(String),
    /// `"dry run"`: the same, for a quoted text.
    Phrase(String),
    /// `from:ann`: the sender's name or username is this (case-insensitive).
    From(String),
    /// `topic:release`: the message's topic is this (case-insensitive).
    Topic(String),
    /// `after:T`: sent at or after T (milliseconds since the epoch).
    After(u64),
    /// `before:T`: sent before T.
    Before(u64),
}

impl Query {
    /// Parse and validate a query (bounded work: see `limits.rs`).
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        parser::parse(text).map(|expr| Self { expr })
    }

    /// Whether the message matches.
    pub fn matches(&self, message: &MessageView<'_>) -> bool {
        matcher::matches(&self.expr, message)
    }

    /// Whether a stored `message` frame matches; an unreadable frame does not.
    pub fn matches_frame(&self, frame: &str) -> bool {
        StoredMessage::read(frame).is_some_and(|m| self.matches(&m.view()))
    }

    /// The SQL prefilter for PostgreSQL (see `sql`): every message that matches passes it.
    pub(crate) fn prefilter(&self, first_bind: usize) -> Prefilter {
        sql::prefilter(&self.expr, first_bind)
    }
}

impl fmt::Display for Query {
    /// The canonical form: explicit `AND`, parentheses only where precedence needs them, phrases
    /// and values quoted when they must be, times in RFC 3339 UTC. Parsing it gives the same query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, &self.expr)
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr) -> fmt::Result {
    let list = |f: &mut fmt::Formatter<'_>, items: &[Expr], op: &str, paren_or: bool| {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            if paren_or && matches!(item, Expr::Or(_)) {
                f.write_str("(")?;
                write_expr(f, item)?;
                f.write_str(")")?;
            } else {
                write_expr(f, item)?;
            }
        }
        Ok(())
    };
    match expr {
        Expr::Term(term) => write_term(f, term),
        Expr::Not(inner) => {
            f.write_str("NOT ")?;
            if matches!(**inner, Expr::And(_) | Expr::Or(_)) {
                f.write_str("(")?;
                write_expr(f, inner)?;
                f.write_str(")")
            } else {
                write_expr(f, inner)
            }
        }
        Expr::And(items) => list(f, items, " AND ", true),
        Expr::Or(items) => list(f, items, " OR ", false),
    }
}

fn write_term(f: &mut fmt::Formatter<'_>, term: &Term) -> fmt::Result {
    match term {
        Term::Hashtag(tag) => write!(f, "#{tag}"),
        Term::Keyword(word) => f.write_str(word),
        Term::Phrase(text) => write_quoted(f, text),
        Term::From(value) => {
            f.write_str("from:")?;
            write_value(f, value)
        }
        Term::Topic(value) => {
            f.write_str("topic:")?;
            write_value(f, value)
        }
        Term::After(ms) => write!(f, "after:{}", parser::format_time(*ms)),
        Term::Before(ms) => write!(f, "before:{}", parser::format_time(*ms)),
    }
}

/// A field value bare when the lexer reads it back as one piece, else quoted.
fn write_value(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    if value.chars().all(lexer::is_bare) {
        f.write_str(value)
    } else {
        write_quoted(f, value)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}
