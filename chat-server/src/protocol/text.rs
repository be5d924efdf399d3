//! Text that people choose to be shown to others (names, topics): one canonical spelling per
//! look. The rule, documented in `docs/protocol.md`: NFC; no control, format (`Cf`), private-use,
//! unassigned or other default-ignorable character; a combining mark or variation selector only
//! right after a visible character; every run of whitespace becomes one space; trimmed.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unfit {
    /// A control character (tab, newline, NUL, ...).
    Control,
    /// A character that renders as nothing or reorders the text around it.
    Invisible,
    /// A combining mark or variation selector with nothing visible before it.
    StrayMark,
    /// Nothing visible at all.
    Blank,
}

impl Unfit {
    /// What is wrong, for people, after the field name.
    pub(super) fn explain(self) -> &'static str {
        match self {
            Self::Control => "must not contain control characters",
            Self::Invisible => "must not contain invisible or text-direction characters",
            Self::StrayMark => "must not have a combining mark without a character before it",
            Self::Blank => "must not be blank",
        }
    }
}

/// `raw` in its one canonical spelling, or why it cannot be shown as it looks.
pub(super) fn canonical(raw: &str) -> Result<String, Unfit> {
    let mut out = String::with_capacity(raw.len());
    let (mut space, mut after_visible) = (false, false);
    for c in raw.nfc() {
        if c.is_control() {
            return Err(Unfit::Control);
        }
        if is_invisible(c) {
            return Err(Unfit::Invisible);
        }
        if c.is_whitespace() {
            // Leading whitespace never sets `space`; trailing whitespace is never written.
            space = !out.is_empty();
            after_visible = false;
            continue;
        }
        if c.general_category_group() == GeneralCategoryGroup::Mark && !after_visible {
            return Err(Unfit::StrayMark);
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        after_visible = true;
    }
    if out.is_empty() {
        return Err(Unfit::Blank);
    }
    Ok(out)
}

/// Format, surrogate, private-use and unassigned characters (General Category `C` less the
/// controls), the default-ignorable ones that are letters or marks (Hangul fillers, the
/// combining grapheme joiner, ...), and the blank braille pattern. Variation selectors (also
/// Mongolian's) are default-ignorable too, but they are allowed after a visible character (`❤️`),
/// so [`canonical`] checks them as marks.
pub(super) fn is_invisible(c: char) -> bool {
    if c.is_control() {
        return false; // reported as a control character
    }
    if c.general_category_group() == GeneralCategoryGroup::Other {
        return true;
    }
    // Default_Ignorable_Code_Point (DerivedCoreProperties.txt) that General Category misses.
    matches!(
        c,
        '\u{34f}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{3164}'
            | '\u{ffa0}'
            | '\u{2800}'
    )
}

/// Whether `s` has a character [`canonical`] would refuse as invisible.
pub(super) fn has_invisible(s: &str) -> bool {
    s.chars().any(is_invisible)
}
