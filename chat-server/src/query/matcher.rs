//! Whether one message matches an [`Expr`]: the exact semantics of every term, shared by live
//! filters, `joined` and `history` pages, and search (where it runs on what the database's
//! prefilter let through, so all three agree).
//!
//! Words are maximal runs of letters and digits (Unicode `alphanumeric`); everything else
//! separates them. Texts compare ignoring case: an ASCII query text by ASCII case folding (so a
//! database comparing `lower(… COLLATE "C")` says the same), any other by Unicode lower case,
//! character by character.

use super::{Expr, MessageView, Term, parser::is_tag_char};

pub(super) fn matches(expr: &Expr, m: &MessageView<'_>) -> bool {
    match expr {
        Expr::Term(term) => term_matches(term, m),
        Expr::Not(inner) => !matches(inner, m),
        Expr::And(items) => items.iter().all(|e| matches(e, m)),
        Expr::Or(items) => items.iter().any(|e| matches(e, m)),
    }
}

fn term_matches(term: &Term, m: &MessageView<'_>) -> bool {
    match term {
        Term::Hashtag(tag) => has_hashtag(m.content, tag),
        Term::Keyword(text) | Term::Phrase(text) => has_words(m.content, text),
        Term::From(who) => same_text(who, m.name) || m.user.is_some_and(|u| same_text(who, u)),
        Term::Topic(topic) => m.topic.is_some_and(|t| same_text(topic, t)),
        Term::After(ms) => m.time_ms >= *ms,
        Term::Before(ms) => m.time_ms < *ms,
    }
}

/// The words of a text, in order.
pub(super) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Whether two texts are the same ignoring case (see the module's note on ASCII).
pub(super) fn same_text(query: &str, text: &str) -> bool {
    if query.is_ascii() {
        text.eq_ignore_ascii_case(query)
    } else {
        // Character by character: no allocation per comparison.
        text.chars()
            .flat_map(char::to_lowercase)
            .eq(query.chars().flat_map(char::to_lowercase))
    }
}

/// Whether the words of `phrase` appear consecutively among the words of `content`.
fn has_words(content: &str, phrase: &str) -> bool {
    let want: Vec<&str> = words(phrase).collect();
    if want.is_empty() {
        return false;
    }
    let have: Vec<&str> = words(content).collect();
    have.windows(want.len())
        .any(|w| w.iter().zip(&want).all(|(h, q)| same_text(q, h)))
}

/// Whether `content` holds `#tag` not followed by another tag character.
fn has_hashtag(content: &str, tag: &str) -> bool {
    content.match_indices('#').any(|(i, _)| {
        let rest = &content[i + 1..];
        let end = rest.find(|c: char| !is_tag_char(c)).unwrap_or(rest.len());
        same_text(tag, &rest[..end])
    })
}
