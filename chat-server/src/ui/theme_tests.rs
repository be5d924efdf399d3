//! The themes' contrast guarantee, checked on the shipped files: every accent of `ui/theme.css`
//! in light and dark mode meets WCAG AA (4.5:1) for each pair of colours the UI draws text with,
//! the accent ids of `ui/js/theme.js` are the ones the CSS defines, and the forced light and dark
//! modes of `theme.css` repeat `ui/app.css`'s palettes exactly (app.css is the home of the base
//! colours; theme.css can only select them by attribute, which a media query cannot).

use std::collections::BTreeMap;

use super::ASSETS;

/// WCAG AA for normal text.
const AA: f64 = 4.5;
/// The colours each accent sets, per mode (suffix `-l` / `-d` in theme.css).
const ACCENT_VARS: [&str; 5] = [
    "--accent",
    "--accent-fg",
    "--accent-soft",
    "--topic-fg",
    "--side-active",
];

fn asset(path: &str) -> &'static str {
    ASSETS.iter().find(|a| a.path == path).unwrap().body
}

/// The declarations of the first rule whose selector is `selector` (after `from`, if given).
fn rule(css: &str, selector: &str, from: Option<&str>) -> BTreeMap<String, String> {
    let start = from.map_or(0, |f| {
        css.find(f)
            .unwrap_or_else(|| panic!("{f:?} not in the CSS"))
    });
    let head = format!("{selector} {{");
    let at = css[start..]
        .find(&head)
        .unwrap_or_else(|| panic!("no rule {head:?}"))
        + start
        + head.len();
    let mut body = css[at..at + css[at..].find('}').unwrap()].to_string();
    while let Some(open) = body.find("/*") {
        let close = body[open..].find("*/").unwrap() + open + 2;
        body.replace_range(open..close, "");
    }
    body.split(';')
        .filter_map(|d| d.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| k.starts_with("--"))
        .collect()
}

fn luminance(hex: &str) -> f64 {
    let h = hex.strip_prefix('#').filter(|h| h.len() == 6);
    let h = h.unwrap_or_else(|| panic!("{hex}: colours here are #rrggbb"));
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&h[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
}

/// WCAG 2 contrast ratio of two colours.
fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The text/background pairs drawn with an accent's colours (`accent` holds its five colours for
/// one mode, `base` that mode's page palette); each one below AA is returned as a message.
fn failures(
    name: &str,
    accent: &BTreeMap<&str, String>,
    base: &BTreeMap<String, String>,
) -> Vec<String> {
    let c = |k: &str| accent.get(k).or_else(|| base.get(k)).unwrap().as_str();
    let pairs = [
        ("--accent-fg", "--accent"),     // primary buttons, the skip link
        ("--accent", "--bg"),            // links, the focus ring
        ("--accent", "--bg-soft"),       // links on soft panels
        ("--topic-fg", "--accent-soft"), // topic chips
        ("--fg", "--accent-soft"),       // the filter chip
        ("--fg-soft", "--accent-soft"),  // the filter chip's label
    ];
    let mut bad: Vec<String> = pairs
        .iter()
        .map(|(fg, bg)| (fg, bg, contrast(c(fg), c(bg))))
        .filter(|(_, _, ratio)| *ratio < AA)
        .map(|(fg, bg, ratio)| format!("{name}: {fg} on {bg} is {ratio:.2}:1"))
        .collect();
    // The open room's name is white on --side-active.
    let side = contrast("#ffffff", c("--side-active"));
    if side < AA {
        bad.push(format!("{name}: white on --side-active is {side:.2}:1"));
    }
    bad
}

fn palettes() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let app = asset("/app.css");
    let light = rule(app, ":root", None);
    let mut dark = light.clone();
    dark.extend(rule(
        app,
        ":root",
        Some("@media (prefers-color-scheme: dark)"),
    ));
    (light, dark)
}

/// The accent ids in theme.js's `ACCENTS`, in order.
fn js_accents() -> Vec<String> {
    let js = asset("/js/theme.js");
    let list = &js[js.find("export const ACCENTS").unwrap()..];
    let list = &list[..list.find("]);").unwrap()];
    list.split("id: '")
        .skip(1)
        .map(|s| s[..s.find('\'').unwrap()].to_string())
        .collect()
}

fn accent(name: &str, mode: &str) -> BTreeMap<&'static str, String> {
    let declared = rule(
        asset("/theme.css"),
        &format!("[data-accent=\"{name}\"]"),
        None,
    );
    ACCENT_VARS
        .iter()
        .map(|v| {
            let key = format!("{v}-{mode}");
            let value = declared
                .get(&key)
                .unwrap_or_else(|| panic!("{name}: no {key}"));
            (*v, value.clone())
        })
        .collect()
}

#[test]
fn every_accent_meets_wcag_aa_in_light_and_dark_mode() {
    let (light, dark) = palettes();
    let names = js_accents();
    assert!(names.len() >= 6, "{names:?}");
    let mut bad = Vec::new();
    for name in &names {
        bad.extend(failures(
            &format!("{name} light"),
            &accent(name, "l"),
            &light,
        ));
        bad.extend(failures(&format!("{name} dark"), &accent(name, "d"), &dark));
    }
    assert!(
        bad.is_empty(),
        "below WCAG AA ({AA}:1):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_default_accent_is_app_css_s_own_colours() {
    let (light, dark) = palettes();
    let first = &js_accents()[0];
    for (mode, base) in [("l", &light), ("d", &dark)] {
        for (var, value) in accent(first, mode) {
            assert_eq!(
                base[var], value,
                "{first} {mode}: {var} differs from app.css"
            );
        }
    }
}

#[test]
fn the_forced_modes_repeat_app_css_s_palettes() {
    let (light, dark) = palettes();
    let app_dark = rule(
        asset("/app.css"),
        ":root",
        Some("@media (prefers-color-scheme: dark)"),
    );
    let theme = asset("/theme.css");
    let forced_dark = rule(theme, ":root[data-theme=\"dark\"]", None);
    let forced_light = rule(
        theme,
        ":root[data-theme=\"light\"]",
        Some("@media (prefers-color-scheme: dark)"),
    );
    // Everything app.css's dark block changes, but the accent's colours (theme.css's own).
    let base: Vec<&String> = app_dark
        .keys()
        .filter(|k| !ACCENT_VARS.contains(&k.as_str()))
        .collect();
    for var in &base {
        assert_eq!(
            forced_dark.get(*var),
            Some(&dark[*var]),
            "forced dark {var}"
        );
        assert_eq!(
            forced_light.get(*var),
            Some(&light[*var]),
            "forced light {var}"
        );
    }
    assert_eq!(forced_dark.len(), base.len(), "{forced_dark:?}");
    assert_eq!(forced_light.len(), base.len(), "{forced_light:?}");
}

#[test]
fn the_css_defines_exactly_the_accents_the_picker_offers() {
    let theme = asset("/theme.css");
    let in_css: Vec<String> = theme
        .split("\n[data-accent=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(in_css, js_accents());
}

#[test]
fn the_checker_rejects_a_low_contrast_accent() {
    let (light, _) = palettes();
    assert!((contrast("#ffffff", "#000000") - 21.0).abs() < 1e-9);
    assert!((contrast("#777777", "#777777") - 1.0).abs() < 1e-9);
    let mut yellow = accent("indigo", "l");
    yellow.insert("--accent", "#fab005".to_string());
    let bad = failures("yellow", &yellow, &light);
    assert!(
        bad.iter().any(|b| b.contains("--accent-fg on --accent"))
            && bad.iter().any(|b| b.contains("--accent on --bg")),
        "{bad:?}"
    );
}
