//! A cheap scan that counts how deeply a YAML document nests, before the
//! YAML parser sees it: that parser takes time quadratic in the depth
//! (100,000 `[` took 42 s) and only counts depth after it has read the
//! whole document. [`yaml`] counts in one pass: flow collections (`[`,
//! `{`) and block collections (indentation, `- `, `key:`), skipping quoted
//! scalars, block scalars, comments and plain text. It counts a lower bound
//! of the real depth, so it never refuses a document the YAML parser would
//! accept (that parser stops at the same depth, 128); where it cannot
//! tell, it counts less, and the parser's own limit still holds.
//!
//! This module must never panic on input.

/// Checks that `text` nests at most `limit` collections deep, or returns
/// the byte offset where it goes deeper.
pub(super) fn yaml(text: &str, limit: usize) -> Result<(), usize> {
    let mut scan = Scan {
        limit,
        flow: 0,
        block: Vec::new(),
        mode: Mode::Block,
        token_start: true,
        after_quote: false,
    };
    let mut offset = 0;
    for raw in text.split('\n') {
        let mut line = raw.as_bytes();
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let mut start = 0;
        if offset == 0 && line.starts_with("\u{feff}".as_bytes()) {
            start = 3;
        }
        scan.line(line, start).map_err(|at| offset + at)?;
        offset += raw.len() + 1;
    }
    Ok(())
}

/// What the scan is inside of, from one line to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Block context, at the start of a line.
    Block,
    /// Inside flow collections (`flow > 0`).
    Flow,
    /// Inside a quoted scalar that continues on the next line; in block
    /// context, `key_col` is where a scalar that may be a key started (it
    /// is one if `:` follows it).
    Quoted {
        double: bool,
        in_flow: bool,
        key_col: Option<usize>,
    },
    /// A block scalar (`|`, `>`): lines indented more than `parent` (any
    /// line if `None`) and blank lines are its text.
    BlockScalar { parent: Option<usize> },
    /// A plain scalar in block context, which continues on lines indented
    /// more than `parent`.
    Plain { parent: Option<usize> },
}

struct Scan {
    limit: usize,
    /// Open flow collections.
    flow: usize,
    /// The columns of the open block collections, innermost last.
    block: Vec<usize>,
    mode: Mode,
    /// In flow context: whether the next character starts a token (a quote
    /// there starts a quoted scalar; elsewhere it is plain text).
    token_start: bool,
    /// In flow context: a quoted scalar just ended (a `:` right after it
    /// is a value indicator, JSON style).
    after_quote: bool,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whether the byte at `i` is followed by a space, a tab or the end of the
/// line (what makes `-`, `?` and `:` indicators).
fn ends_token(line: &[u8], i: usize) -> bool {
    line.get(i + 1).is_none_or(|&b| is_ws(b))
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(|&b| is_ws(b)) {
        i += 1;
    }
    i
}

/// Scans a quoted scalar's text from `i`; the index after its closing
/// quote, or `None` if it continues past the line.
fn quoted_end(line: &[u8], mut i: usize, double: bool) -> Option<usize> {
    while i < line.len() {
        match line[i] {
            b'\\' if double => i += 2,
            b'\'' if !double && line.get(i + 1) == Some(&b'\'') => i += 2,
            b'"' if double => return Some(i + 1),
            b'\'' if !double => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

impl Scan {
    fn depth(&self) -> usize {
        self.block.len() + self.flow
    }

    fn push_block(&mut self, col: usize) -> Result<(), usize> {
        self.block.push(col);
        if self.depth() > self.limit {
            return Err(col);
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], start: usize) -> Result<(), usize> {
        match self.mode {
            Mode::Flow => return self.flow_scan(line, start),
            Mode::Quoted {
                double,
                in_flow,
                key_col,
            } => {
                let Some(end) = quoted_end(line, start, double) else {
                    return Ok(());
                };
                if in_flow {
                    self.mode = Mode::Flow;
                    self.token_start = false;
                    self.after_quote = true;
                    return self.flow_scan(line, end);
                }
                self.mode = Mode::Block;
                return match key_col {
                    Some(col) => self.after_key_candidate(line, end, col),
                    None => Ok(()),
                };
            }
            _ => {}
        }
        let indent = skip_spaces(line, start);
        let blank = indent >= line.len() || line[indent] == b'#';
        let rest = &line[indent.min(line.len())..];
        if indent == start
            && (rest.starts_with(b"---") || rest.starts_with(b"..."))
            && ends_token(rest, 2)
        {
            // A new document (or the end of one) ends any scalar.
            self.mode = Mode::Block;
            self.block.clear();
            return self.node(line, skip_ws(line, indent + 3), None);
        }
        // A block scalar's or a plain scalar's text goes on while lines
        // are indented more than its parent; blank and comment lines open
        // nothing.
        let text_of = match self.mode {
            Mode::BlockScalar { parent } | Mode::Plain { parent } => Some(parent),
            _ => None,
        };
        if blank || text_of.is_some_and(|parent| parent.is_none_or(|p| indent > p)) {
            return Ok(());
        }
        self.mode = Mode::Block;
        if indent == start && rest.starts_with(b"%") {
            return Ok(()); // a directive
        }
        while self.block.last().is_some_and(|&c| c >= indent) {
            self.block.pop();
        }
        let parent = self.block.last().copied();
        self.node(line, indent, parent)
    }

    /// A node in block context starting at `i`; `parent` is the column of
    /// the collection holding it.
    fn node(&mut self, line: &[u8], mut i: usize, parent: Option<usize>) -> Result<(), usize> {
        let mut parent = parent;
        loop {
            i = skip_ws(line, i);
            let Some(&b) = line.get(i) else {
                return Ok(()); // the node's content is on the next lines
            };
            match b {
                b'#' => return Ok(()),
                b'-' | b'?' if ends_token(line, i) => {
                    // A sequence entry or a complex key: a collection at
                    // this column, its content after it (`- - a`).
                    self.push_block(i)?;
                    parent = Some(i);
                    i += 1;
                }
                b'[' | b'{' => return self.flow_start(line, i),
                b'"' | b'\'' => {
                    let double = b == b'"';
                    return match quoted_end(line, i + 1, double) {
                        Some(end) => self.after_key_candidate(line, end, i),
                        None => {
                            self.mode = Mode::Quoted {
                                double,
                                in_flow: false,
                                key_col: Some(i),
                            };
                            Ok(())
                        }
                    };
                }
                b'|' | b'>' => {
                    self.mode = Mode::BlockScalar { parent };
                    return Ok(());
                }
                b'&' | b'!' => {
                    // An anchor or a tag: the node follows it.
                    while line.get(i).is_some_and(|&b| !is_ws(b)) {
                        i += 1;
                    }
                }
                b'*' => return Ok(()), // an alias
                _ => {
                    // A plain scalar, or a key if `: ` follows on the line.
                    let mut j = i;
                    while j < line.len() {
                        match line[j] {
                            b':' if ends_token(line, j) => {
                                self.push_block(i)?;
                                return self.value(line, j + 1, i);
                            }
                            b'#' if is_ws(line[j - 1]) => break,
                            _ => j += 1,
                        }
                    }
                    self.mode = Mode::Plain { parent };
                    return Ok(());
                }
            }
        }
    }

    /// After a quoted scalar that started at `key_col` and ended before
    /// `i`: a key if `:` follows.
    fn after_key_candidate(&mut self, line: &[u8], i: usize, key_col: usize) -> Result<(), usize> {
        let i = skip_ws(line, i);
        if line.get(i) == Some(&b':') && ends_token(line, i) {
            self.push_block(key_col)?;
            return self.value(line, i + 1, key_col);
        }
        Ok(())
    }

    /// The value of a block mapping entry whose key is at `key_col`.
    fn value(&mut self, line: &[u8], i: usize, key_col: usize) -> Result<(), usize> {
        let mut i = skip_ws(line, i);
        loop {
            let Some(&b) = line.get(i) else {
                return Ok(()); // the value is on the next lines
            };
            match b {
                b'#' => return Ok(()),
                b'[' | b'{' => return self.flow_start(line, i),
                b'"' | b'\'' => {
                    let double = b == b'"';
                    if quoted_end(line, i + 1, double).is_none() {
                        self.mode = Mode::Quoted {
                            double,
                            in_flow: false,
                            key_col: None,
                        };
                    }
                    return Ok(());
                }
                b'|' | b'>' => {
                    self.mode = Mode::BlockScalar {
                        parent: Some(key_col),
                    };
                    return Ok(());
                }
                b'&' | b'!' => {
                    while line.get(i).is_some_and(|&b| !is_ws(b)) {
                        i += 1;
                    }
                    i = skip_ws(line, i);
                }
                b'*' => return Ok(()),
                _ => {
                    self.mode = Mode::Plain {
                        parent: Some(key_col),
                    };
                    return Ok(());
                }
            }
        }
    }

    fn flow_start(&mut self, line: &[u8], i: usize) -> Result<(), usize> {
        self.mode = Mode::Flow;
        self.token_start = true;
        self.after_quote = false;
        self.flow_scan(line, i)
    }

    /// Flow context from `i` to the end of the line (or of the outermost
    /// collection).
    fn flow_scan(&mut self, line: &[u8], mut i: usize) -> Result<(), usize> {
        while i < line.len() {
            let b = line[i];
            match b {
                b'[' | b'{' => {
                    self.flow += 1;
                    if self.depth() > self.limit {
                        return Err(i);
                    }
                    self.token_start = true;
                    self.after_quote = false;
                }
                b']' | b'}' => {
                    self.flow = self.flow.saturating_sub(1);
                    self.token_start = false;
                    self.after_quote = false;
                    if self.flow == 0 {
                        // Back in block context; the rest of the line
                        // (`: value` after a flow key, a comment) opens
                        // nothing this scan counts.
                        self.mode = Mode::Block;
                        return Ok(());
                    }
                }
                b',' => {
                    self.token_start = true;
                    self.after_quote = false;
                }
                b'"' | b'\'' if self.token_start => match quoted_end(line, i + 1, b == b'"') {
                    Some(end) => {
                        i = end;
                        self.token_start = false;
                        self.after_quote = true;
                        continue;
                    }
                    None => {
                        self.mode = Mode::Quoted {
                            double: b == b'"',
                            in_flow: true,
                            key_col: None,
                        };
                        return Ok(());
                    }
                },
                b'#' if i == 0 || is_ws(line[i - 1]) => return Ok(()),
                b':' => {
                    let next = line.get(i + 1).copied();
                    self.token_start =
                        self.after_quote || next.is_none_or(|n| is_ws(n) || b",[]{}".contains(&n));
                    self.after_quote = false;
                }
                b'-' | b'?' if self.token_start && ends_token(line, i) => {}
                b' ' | b'\t' => {}
                _ => {
                    self.token_start = false;
                    self.after_quote = false;
                }
            }
            i += 1;
        }
        Ok(())
    }
}

/// The index of the first byte from `i` that is not a space (YAML indents
/// with spaces only).
fn skip_spaces(line: &[u8], mut i: usize) -> usize {
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::syntax::tree::MAX_DEPTH;

    fn depth_error(text: &str) -> Option<usize> {
        yaml(text, MAX_DEPTH).err()
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_where_it_passes_the_limit() {
        assert_eq!(depth_error(&"[".repeat(100_000)), Some(128));
        assert_eq!(depth_error(&"{a: ".repeat(1000)), Some(128 * 4));
        let block: String = (0..1000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        let at = depth_error(&block).unwrap();
        assert_eq!(&block[..at].matches('\n').count(), &128);
        let seq: String = (0..1000).map(|i| format!("{}-\n", " ".repeat(i))).collect();
        assert!(depth_error(&seq).is_some());
        assert!(depth_error(&"- ".repeat(1000)).is_some());
        let mixed: String = (0..200)
            .map(|i| format!("{}a: [\n", " ".repeat(i)))
            .collect();
        assert!(depth_error(&mixed).is_some());
    }

    #[test]
    fn nesting_up_to_the_limit_passes() {
        let flow = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(depth_error(&flow), None);
        let block: String = (0..128).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert_eq!(depth_error(&block), None);
    }

    #[test]
    fn brackets_in_text_are_not_nesting() {
        let many = "[".repeat(300);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: x{many}\n"),
            format!("a: x {many}\n"),
            format!("a: |\n  {many}\n  {many}\nb: 1\n"),
            format!("a: >-\n    {many}\n"),
            format!("# {many}\na: 1 # {many}\n"),
            format!("a: \"multi\n  line {many}\n  \\\" {many}\"\n"),
            format!("a: 'it''s {many}\n  {many}'\n"),
            format!("a: [\"{many}\", '{many}', don't, 'it''s {many}']\n"),
            format!("a: [x, # {many}\n  y]\n"),
            format!("a: plain\n  continued {many}\n  {many}\n"),
            format!("- &anchor x {many}\n- !tag y {many}\n"),
            format!("\"key {many}\": v\n'k': [\"a\":\"b{many}\"]\n"),
        ] {
            assert_eq!(depth_error(&text), None, "{text}");
        }
    }

    #[test]
    fn a_traefik_configuration_is_shallow() {
        let text = "\u{feff}---\n# Traefik\nentryPoints:\n  web:\n    address: \":80\"\n\
                    tracing:\n  serviceName: edge # the proxy\n  sampleRate: 0.2\n\
                    \x20 resourceAttributes: {deployment.environment: prod, \"a b\": 'c'}\n\
                    \x20 capturedRequestHeaders:\n    - X-Request-Id\n    - \"X-[Other]\"\n\
                    \x20 otlp:\n    grpc:\n      endpoint: collector:4317\n      headers:\n\
                    \x20       Authorization: Bearer [abc\n      tls: {ca: /ca.pem}\n...\n";
        assert_eq!(depth_error(text), None);
    }

    /// How deeply a parsed YAML value nests (what serde_yaml limits).
    fn value_depth(v: &serde_yaml_ng::Value) -> usize {
        use serde_yaml_ng::Value as Y;
        match v {
            Y::Sequence(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
            Y::Mapping(m) => {
                1 + m
                    .iter()
                    .map(|(k, v)| value_depth(k).max(value_depth(v)))
                    .max()
                    .unwrap_or(0)
            }
            Y::Tagged(t) => value_depth(&t.value),
            _ => 0,
        }
    }

    /// A small deterministic generator (xorshift) for documents.
    struct Gen(u64);

    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }

        /// A scalar, in one of the styles valid in block or flow context,
        /// full of brackets, quotes and `#` that are text, not structure.
        fn scalar(&mut self, flow: bool) -> String {
            let mut s = String::new();
            match self.below(3) {
                0 => {
                    s.push('a');
                    let chars: &[&str] = if flow {
                        &["b", "'", "\"", "#", "-", "x y"]
                    } else {
                        &[
                            "b", "[", "]", "{", "}", "'", "\"", "#", ",", " [", " {", " x",
                        ]
                    };
                    for _ in 0..self.below(6) {
                        s.push_str(self.pick(chars));
                    }
                }
                1 => {
                    s.push('\'');
                    for _ in 0..self.below(6) {
                        s.push_str(self.pick(&["[", "]", "{", "''", "\"", "#", ",", ": ", " "]));
                    }
                    s.push('\'');
                }
                _ => {
                    s.push('"');
                    for _ in 0..self.below(6) {
                        s.push_str(self.pick(&["[", "}", "\\\"", "\\\\", "'", "#", ", ", ": "]));
                    }
                    s.push('"');
                }
            }
            s
        }

        fn flow(&mut self, depth: usize, indent: usize) -> String {
            let map = self.below(2) == 0;
            let mut s = String::from(if map { "{" } else { "[" });
            for i in 0..self.below(4) {
                if i > 0 {
                    s.push_str(if self.below(4) == 0 { ",\n" } else { ", " });
                    if s.ends_with('\n') {
                        s.push_str(&" ".repeat(indent + 1));
                    }
                }
                if map {
                    s.push_str(&self.scalar(true));
                    s.push_str(": ");
                }
                if depth > 0 && self.below(2) == 0 {
                    s.push_str(&self.flow(depth - 1, indent));
                } else {
                    s.push_str(&self.scalar(true));
                }
            }
            s.push_str(if map { "}" } else { "]" });
            s
        }

        /// A block value after `key:` or `- ` at `indent`.
        fn value(&mut self, depth: usize, indent: usize) -> String {
            match self.below(if depth == 0 { 2 } else { 5 }) {
                0 => format!(" {}{}\n", self.scalar(false), self.comment()),
                1 => format!(
                    " |\n{}  {}\n",
                    " ".repeat(indent),
                    self.pick(&["[[[", "{ [", "- [", "a: ["])
                ),
                2 => format!(" {}\n", self.flow(depth - 1, indent)),
                _ => format!("{}\n{}", self.comment(), self.block(depth - 1, indent + 2)),
            }
        }

        fn comment(&mut self) -> &'static str {
            self.pick(&["", "", " # [[[ {{", " #'"])
        }

        fn block(&mut self, depth: usize, indent: usize) -> String {
            let pad = " ".repeat(indent);
            let mut s = String::new();
            let seq = self.below(2) == 0;
            for i in 0..1 + self.below(3) {
                if seq {
                    s.push_str(&format!("{pad}-"));
                } else {
                    let key = if self.below(3) == 0 {
                        self.scalar(false)
                    } else {
                        format!("k{i}")
                    };
                    if key.starts_with('a') && key.contains([' ', '#', '\'', '"']) {
                        s.push_str(&format!("{pad}k{i}:"));
                    } else {
                        s.push_str(&format!("{pad}{key}:"));
                    }
                }
                let value = self.value(depth, indent);
                s.push_str(&value);
            }
            s
        }
    }

    /// The scan counts a lower bound: any document the YAML parser reads,
    /// at whatever depth, passes a limit of that depth.
    #[test]
    fn the_scan_never_counts_deeper_than_the_parser() {
        let mut gen = Gen(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let depth = gen.below(7);
            let text = gen.block(depth, 0);
            if let Ok(v) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
                parsed += 1;
                let depth = value_depth(&v);
                assert_eq!(yaml(&text, depth), Ok(()), "depth {depth}:\n{text}");
            }
        }
        assert!(parsed > 10_000, "only {parsed} documents parsed");
    }
}
