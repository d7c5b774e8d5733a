//! Configuration sources as text: a file read whole (never cut: a file over
//! the size limit is refused) and checked to be UTF-8, and positions in a
//! text as a person counts them (line and column from 1).
//!
//! This module must never panic on input.

use std::io::Read as _;
use std::path::Path;

use crate::config::error::ConfigError;

/// The largest configuration file read (a tracing section is a few KB).
pub(in crate::config) const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;

/// Reads a whole configuration file as UTF-8 text, refusing one larger
/// than [`MAX_CONFIG_FILE`] (rather than reading a prefix of it) and one
/// that is not UTF-8 (naming the first bad byte's position).
pub(in crate::config) fn read_file(path: &Path) -> Result<String, ConfigError> {
    read_limited(path, MAX_CONFIG_FILE)
}

fn read_limited(path: &Path, limit: u64) -> Result<String, ConfigError> {
    let cannot_read = |e: std::io::Error| ConfigError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    // A regular file's size is known: refuse it before reading a byte.
    let known = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let too_large = |size: Option<u64>| ConfigError::TooLarge {
        path: path.to_owned(),
        size,
        limit,
    };
    if let Some(size) = known.filter(|&n| n > limit) {
        return Err(too_large(Some(size)));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > limit {
        // It grew while read, or it is not a regular file (a pipe).
        return Err(too_large(known.filter(|&n| n > limit)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        // The prefix up to `offset` is valid UTF-8 by definition.
        let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let (line, column) = line_column(valid, offset);
        ConfigError::NotUtf8 {
            path: path.to_owned(),
            line,
            column,
            offset,
            utf16: bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]),
        }
    })
}

/// The line and column (both from 1, the column in characters) of a byte
/// offset in `text`; an offset past the end or inside a character counts
/// up to the character boundary before it.
pub(in crate::config) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\né", 5), (2, 2));
        assert_eq!(line_column("é", 1), (1, 1), "inside a character");
        assert_eq!(line_column("ab", 99), (1, 3), "past the end");
    }

    #[test]
    fn files_over_the_limit_are_refused_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yml");
        std::fs::write(&path, "tracing:\n  serviceName: abcdef\n").unwrap();
        assert!(read_limited(&path, 1024).is_ok());
        match read_limited(&path, 10) {
            Err(ConfigError::TooLarge { size, limit, .. }) => {
                assert_eq!((size, limit), (Some(31), 10));
            }
            other => panic!("{other:?}"),
        }
    }
}
