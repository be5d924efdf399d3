//! Characters to tokens, each with the character position it starts at: parentheses, quoted
//! texts (`"…"` with `\"` and `\\` escapes) and bare runs of anything else but whitespace.
//! What a bare run means (an operator, a field, a hashtag, a keyword) is the parser's call.

use super::QueryError;

/// One token of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Open,
    Close,
    /// A run of [`is_bare`] characters, as written.
    Bare(String),
    /// A quoted text, unescaped; `glued` when it follows the previous token with no space between
    /// (as the value of `from:"Ann Lee"`).
    Quoted {
        text: String,
        glued: bool,
    },
}

/// A token and the character position it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spanned {
    pub(super) token: Token,
    pub(super) at: usize,
}

/// Whether `c` continues a bare run.
pub(super) fn is_bare(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '"')
}

/// The tokens of `text` (already checked for length by the caller).
pub(super) fn lex(text: &str) -> Result<Vec<Spanned>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    let mut spaced = true;
    while let Some((at, c)) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => {
                spaced = true;
                continue;
            }
            '(' => Token::Open,
            ')' => Token::Close,
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(QueryError::at(at, "this quote is never closed")),
                        Some((_, '"')) => break,
                        Some((escape, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\'))) => text.push(c),
                            _ => {
                                return Err(QueryError::at(
                                    escape,
                                    "in quotes, \\ must be followed by \" or \\",
                                ));
                            }
                        },
                        Some((_, c)) => text.push(c),
                    }
                }
                Token::Quoted {
                    text,
                    glued: !spaced,
                }
            }
            c => {
                let mut run = String::from(c);
                while let Some(&(_, c)) = chars.peek()
                    && is_bare(c)
                {
                    run.push(c);
                    chars.next();
                }
                Token::Bare(run)
            }
        };
        spaced = false;
        tokens.push(Spanned { token, at });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(s: &str, at: usize) -> Spanned {
        Spanned {
            token: Token::Bare(s.into()),
            at,
        }
    }

    #[test]
    fn tokens_carry_character_positions() {
        let got = lex("é (from:\"A \\\"B\\\\\" x)").unwrap();
        assert_eq!(
            got,
            vec![
                bare("é", 0),
                Spanned {
                    token: Token::Open,
                    at: 2
                },
                bare("from:", 3),
                Spanned {
                    token: Token::Quoted {
                        text: "A \"B\\".into(),
                        glued: true
                    },
                    at: 8
                },
                bare("x", 18),
                Spanned {
                    token: Token::Close,
                    at: 19
                },
            ]
        );
    }

    #[test]
    fn unclosed_quotes_and_bad_escapes_point_at_themselves() {
        assert_eq!(lex("ab \"cd").unwrap_err().position, 3);
        assert_eq!(lex("\"a\\b\"").unwrap_err().position, 2);
        assert_eq!(lex("\"a\\").unwrap_err().position, 2);
    }
}
