//! Tokens to a canonical [`Expr`] by recursive descent, one function per precedence level:
//! `or` (lowest), `and` (explicit or implicit), `unary` (`NOT`), `primary` (parentheses or a
//! term). Recursion is bounded by [`MAX_QUERY_DEPTH`], work by [`MAX_QUERY_CHARS`] and
//! [`MAX_QUERY_TERMS`]; each refusal names the character position at fault.

use time::{
    Date, OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description,
};

use super::{
    Expr, QueryError, Term,
    lexer::{self, Spanned, Token},
};
use crate::limits::{MAX_QUERY_CHARS, MAX_QUERY_DEPTH, MAX_QUERY_TERMS};

const DAY_MS: u64 = 86_400_000;

/// Parse a whole query.
pub(super) fn parse(text: &str) -> Result<Expr, QueryError> {
    let len = text.chars().count();
    if len > MAX_QUERY_CHARS {
        return Err(QueryError::at(
            MAX_QUERY_CHARS,
            format!("a query is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let tokens = lexer::lex(text)?;
    if tokens.is_empty() {
        return Err(QueryError::at(0, "the query is empty"));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        terms: 0,
        len,
    };
    let expr = parser.or(0)?;
    match parser.tokens.get(parser.next) {
        None => Ok(expr),
        Some(Spanned { at, .. }) => Err(QueryError::at(*at, "this ) has no matching (")),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    next: usize,
    terms: usize,
    len: usize,
}

/// What the next token is, for the grammar.
#[derive(PartialEq, Eq)]
enum Peek {
    And,
    Or,
    Not,
    Open,
    Close,
    Term,
    End,
}

impl Parser {
    fn peek(&self) -> Peek {
        match self.tokens.get(self.next).map(|s| &s.token) {
            None => Peek::End,
            Some(Token::Open) => Peek::Open,
            Some(Token::Close) => Peek::Close,
            Some(Token::Bare(w)) if w == "AND" => Peek::And,
            Some(Token::Bare(w)) if w == "OR" => Peek::Or,
            Some(Token::Bare(w)) if w == "NOT" => Peek::Not,
            Some(_) => Peek::Term,
        }
    }

    /// Where the next token starts (the end of the query when there is none).
    fn here(&self) -> usize {
        self.tokens.get(self.next).map_or(self.len, |s| s.at)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Peek::Or {
            self.next += 1;
            items.push(self.and(depth)?);
        }
        Ok(combine(items, Expr::Or))
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                Peek::And => self.next += 1,
                Peek::Not | Peek::Open | Peek::Term => {}
                Peek::Or | Peek::Close | Peek::End => break,
            }
            items.push(self.unary(depth)?);
        }
        Ok(combine(items, Expr::And))
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if self.peek() != Peek::Not {
            return self.primary(depth);
        }
        let at = self.here();
        nest(depth, at)?;
        self.next += 1;
        Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let at = self.here();
        let expected = |what: &str| QueryError::at(at, format!("expected a term, found {what}"));
        match self.peek() {
            Peek::Open => {
                nest(depth, at)?;
                self.next += 1;
                let inner = self.or(depth + 1)?;
                if self.peek() != Peek::Close {
                    return Err(QueryError::at(at, "this ( is never closed"));
                }
                self.next += 1;
                Ok(inner)
            }
            Peek::Term => {
                self.terms += 1;
                if self.terms > MAX_QUERY_TERMS {
                    return Err(QueryError::at(
                        at,
                        format!("a query has at most {MAX_QUERY_TERMS} terms"),
                    ));
                }
                self.term().map(Expr::Term)
            }
            Peek::Close => Err(expected(")")),
            Peek::And => Err(expected("AND")),
            Peek::Or => Err(expected("OR")),
            Peek::Not => self.unary(depth),
            Peek::End => Err(QueryError::at(
                at,
                "the query ends where a term was expected",
            )),
        }
    }

    /// The term at the cursor (a bare run or a quoted text) and, for `field:"…"`, its value.
    fn term(&mut self) -> Result<Term, QueryError> {
        let Spanned { token, at } = self.tokens[self.next].clone();
        self.next += 1;
        let bare = match token {
            Token::Quoted { text, .. } => return phrase(text, at).map(Term::Phrase),
            Token::Bare(bare) => bare,
            Token::Open | Token::Close => return Err(QueryError::at(at, "expected a term")),
        };
        if let Some(tag) = bare.strip_prefix('#') {
            return hashtag(tag, at + 1).map(Term::Hashtag);
        }
        let Some(field) = field_of(&bare) else {
            return keyword(&bare, at).map(Term::Keyword);
        };
        let value_at = at + field.len() + 1;
        let rest = &bare[field.len() + 1..];
        let value = match self.tokens.get(self.next) {
            Some(Spanned {
                token: Token::Quoted { text, glued: true },
                ..
            }) if rest.is_empty() => {
                let text = text.clone();
                self.next += 1;
                text
            }
            _ => rest.to_owned(),
        };
        field_term(&field, &value, value_at)
    }
}

/// The field a bare run names (`from:`, `topic:`, `after:`, `before:`, any case), lower-case.
fn field_of(bare: &str) -> Option<String> {
    let (name, _) = bare.split_once(':')?;
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "from" | "topic" | "after" | "before").then_some(name)
}

fn field_term(field: &str, value: &str, at: usize) -> Result<Term, QueryError> {
    if value.trim().is_empty() {
        return Err(QueryError::at(at, format!("{field}: needs a value")));
    }
    Ok(match field {
        "from" => Term::From(value.to_owned()),
        "topic" => Term::Topic(value.to_owned()),
        "after" => Term::After(parse_time(value, at)?),
        _ => Term::Before(parse_time(value, at)?),
    })
}

/// A word or a phrase must hold a letter or digit: punctuation alone matches nothing sensible.
fn keyword(bare: &str, at: usize) -> Result<String, QueryError> {
    if !bare.chars().any(char::is_alphanumeric) {
        return Err(QueryError::at(at, "a keyword needs a letter or digit"));
    }
    Ok(bare.to_owned())
}

fn phrase(text: String, at: usize) -> Result<String, QueryError> {
    if !text.chars().any(char::is_alphanumeric) {
        return Err(QueryError::at(at, "a phrase needs a letter or digit"));
    }
    Ok(text)
}

/// Whether `c` may be part of a hashtag.
pub(super) fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn hashtag(tag: &str, at: usize) -> Result<String, QueryError> {
    if tag.is_empty() {
        return Err(QueryError::at(at, "# needs a tag after it, as in #deploy"));
    }
    if let Some(bad) = tag.chars().position(|c| !is_tag_char(c)) {
        return Err(QueryError::at(
            at + bad,
            "a hashtag is letters, digits and _ only",
        ));
    }
    Ok(tag.to_owned())
}

/// An RFC 3339 time, or a date (its midnight, UTC), from 1970 on, in milliseconds.
fn parse_time(value: &str, at: usize) -> Result<u64, QueryError> {
    let day = format_description!("[year]-[month]-[day]");
    let time = OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .or_else(|| Some(Date::parse(value, &day).ok()?.midnight().assume_utc()))
        .ok_or_else(|| {
            QueryError::at(
                at,
                "a time is RFC 3339 (2026-11-29T10:00:00Z) or a date (2026-11-29)",
            )
        })?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| QueryError::at(at, "a time must be from 1970 on"))
}

/// A time as the shortest text [`parse_time`] reads back as the same millisecond.
pub(super) fn format_time(ms: u64) -> String {
    let t = OffsetDateTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let out = if ms.is_multiple_of(DAY_MS) {
        t.format(format_description!("[year]-[month]-[day]"))
    } else if ms.is_multiple_of(1000) {
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
    } else {
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
    };
    out.unwrap_or_default()
}

/// Refuse to nest deeper than [`MAX_QUERY_DEPTH`].
fn nest(depth: usize, at: usize) -> Result<(), QueryError> {
    if depth >= MAX_QUERY_DEPTH {
        return Err(QueryError::at(
            at,
            format!("parentheses and NOT nest at most {MAX_QUERY_DEPTH} deep"),
        ));
    }
    Ok(())
}

/// One operand as itself, several as `make` of them with nested ones of the same kind flattened.
fn combine(items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().expect("one item");
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match (item, make(Vec::new())) {
            (Expr::And(inner), Expr::And(_)) | (Expr::Or(inner), Expr::Or(_)) => flat.extend(inner),
            (item, _) => flat.push(item),
        }
    }
    make(flat)
}
