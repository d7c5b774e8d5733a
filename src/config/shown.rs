//! What an error message may show of the user's input.
//!
//! - Names and keys (header names, option keys, flag names): control and
//!   invisible formatting characters escaped, so a name cannot forge a log
//!   line; cut before the first `:`, `=` or space, since what follows may be
//!   a value written into the name (`Authorization: Bearer ...`).
//! - Header values and credentials: never (callers say "not shown").
//!
//! Every place that prints a user-supplied key or name goes through
//! [`key`]; positions, option names and flag names are fine to show.

/// The longest part of a name shown.
const MAX_SHOWN: usize = 64;

/// Characters that would let a name rewrite what a terminal or a log shows:
/// controls (CR, LF, ESC...) and invisible or reordering format characters.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with every character that [`hidden`] names escaped (`\r`, `\u{1b}`).
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A user-supplied key or name as a message may show it: cut before the
/// first `:`, `=` or whitespace and after 64 characters (a cut is marked
/// `...`), then [`escape`]d.
pub(super) fn key(s: &str) -> String {
    let end = s
        .char_indices()
        .find(|&(_, c)| c == ':' || c == '=' || c.is_whitespace())
        .map_or(s.len(), |(i, _)| i);
    let head = &s[..end];
    let (head, cut) = match head.char_indices().nth(MAX_SHOWN) {
        Some((i, _)) => (&head[..i], true),
        None => (head, end < s.len()),
    };
    let mut out = escape(head);
    if cut {
        out.push_str("...");
    }
    out
}

/// A flag as a message may show it: its name ([`key`]), never its value.
pub(super) fn flag(flag: &str) -> String {
    match flag.split_once('=') {
        Some((name, _)) if !name.contains([':', ' ', '\t']) => format!("{}=...", key(name)),
        _ => key(flag),
    }
}

/// What makes `name` an invalid HTTP header name, by position, without
/// showing more of it than [`key`] does.
pub(super) fn header_name_problem(name: &str) -> String {
    if name.is_empty() {
        return "it is empty".into();
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    match name.chars().enumerate().find(|&(_, c)| !token(c)) {
        Some((i, c)) => {
            let what = match c {
                ' ' => "a space".to_owned(),
                ':' => "a colon".to_owned(),
                c if hidden(c) || c.is_whitespace() => {
                    format!("the control character {}", c.escape_debug())
                }
                c => format!("{c:?}"),
            };
            format!("character {} is {what}", i + 1)
        }
        None => "it is too long".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_before_values_and_escaped() {
        assert_eq!(key("X-Tenant"), "X-Tenant");
        assert_eq!(key("Authorization: Bearer s3cret"), "Authorization...");
        assert_eq!(key("Authorization=s3cret"), "Authorization...");
        assert_eq!(key("X-A\r\nInjected: 1"), "X-A...");
        assert_eq!(key("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(key("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(key(&"x".repeat(100)), format!("{}...", "x".repeat(64)));
        assert_eq!(flag("--tracing.a.b=s3cret"), "--tracing.a.b=...");
        assert_eq!(
            flag("--tracing.h.Authorization: Bearer s3cret"),
            "--tracing.h.Authorization..."
        );
        assert_eq!(flag("--tracing.h.A: x=y"), "--tracing.h.A...");
    }

    #[test]
    fn header_name_problems_say_which_character() {
        assert_eq!(header_name_problem("Bad Header"), "character 4 is a space");
        assert!(header_name_problem("X\r\n").contains("control character \\r"));
        assert_eq!(header_name_problem("A: b"), "character 2 is a colon");
        assert_eq!(header_name_problem(""), "it is empty");
    }
}
