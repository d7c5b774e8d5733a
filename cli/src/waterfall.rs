//! Traces drawn as a terminal waterfall: one tree per trace, each span a
//! bar on the trace's time axis.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use tracewire::model::SpanKind;
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;

/// The parts of a span the waterfall draws.
#[derive(Clone, Debug)]
pub struct Bar {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    pub kind: SpanKind,
    pub start: u64,
    pub end: u64,
    pub error: bool,
}

/// The spans of a request, as bars.
pub fn bars(req: &ExportTraceServiceRequest) -> Vec<Bar> {
    bars_of(req, usize::MAX)
}

/// The first `max` spans of a request, as bars.
fn bars_of(req: &ExportTraceServiceRequest, max: usize) -> Vec<Bar> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .take(max)
        .map(|s| Bar {
            trace_id: s.trace_id.clone(),
            span_id: s.span_id.clone(),
            parent_span_id: s.parent_span_id.clone(),
            name: s.name.clone(),
            kind: SpanKind::from_i32(s.kind),
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano.max(s.start_time_unix_nano),
            error: s.status.as_ref().is_some_and(|st| st.code == 2),
        })
        .collect()
}

/// Spans drawn per request (or per [`draw`] call), at most: a terminal
/// shows no more, and drawing stays cheap whatever a client sends.
pub const MAX_DRAWN: usize = 1000;

/// Deepest indentation drawn: deeper spans are drawn at this depth (their
/// labels would be all indentation otherwise).
const MAX_INDENT: usize = 12;

/// Trace id bytes shown in a trace's heading, at most.
const MAX_ID_SHOWN: usize = 32;

fn hex(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(MAX_ID_SHOWN)
        .map(|x| format!("{x:02x}"))
        .collect();
    if b.len() > MAX_ID_SHOWN {
        s.push('…');
    }
    s
}

fn duration(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns} ns"),
        1_000..=999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// `n` with thousands separators: `39,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const WIDTH: usize = 40;

/// Draws the spans of one request: at most [`MAX_DRAWN`] of them (the
/// first ones), and a line saying how many were not drawn.
pub fn draw_request(req: &ExportTraceServiceRequest) -> String {
    let total: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum();
    let drawn = bars_of(req, MAX_DRAWN);
    let mut out = draw_bars(&drawn);
    not_drawn(total.saturating_sub(drawn.len()), &mut out);
    out
}

/// Draws every trace among `bars` (grouped by trace id, in first-seen
/// order): at most [`MAX_DRAWN`] spans, and a line saying how many were
/// not drawn.
pub fn draw(bars: &[Bar]) -> String {
    let shown = &bars[..bars.len().min(MAX_DRAWN)];
    let mut out = draw_bars(shown);
    not_drawn(bars.len() - shown.len(), &mut out);
    out
}

fn not_drawn(n: usize, out: &mut String) {
    if n > 0 {
        let _ = writeln!(
            out,
            "... {} more span{} not drawn (at most {} per request; --jsonl FILE writes them all)\n",
            thousands(n),
            if n == 1 { "" } else { "s" },
            thousands(MAX_DRAWN)
        );
    }
}

fn draw_bars(bars: &[Bar]) -> String {
    let mut order: Vec<&[u8]> = Vec::new();
    let mut traces: HashMap<&[u8], Vec<&Bar>> = HashMap::new();
    for b in bars {
        let e = traces.entry(&b.trace_id).or_default();
        if e.is_empty() {
            order.push(&b.trace_id);
        }
        e.push(b);
    }
    let mut out = String::new();
    for id in order {
        if let Some(spans) = traces.get(id) {
            draw_trace(spans, &mut out);
        }
    }
    out
}

/// The order spans are drawn in, with their depth: each root (no parent,
/// or a parent not in the trace) in start order, each followed by its
/// descendants, children in start order. Every span is drawn exactly once,
/// whatever the ids say: a span id shared by several spans, or parents
/// that form a cycle, cannot loop. Spans that no root reaches (a cycle)
/// are drawn after, as roots, marked.
fn layout<'a>(spans: &[&'a Bar]) -> Vec<(&'a Bar, usize, bool)> {
    let ids: HashSet<&[u8]> = spans.iter().map(|s| &s.span_id[..]).collect();
    let mut children: HashMap<&'a [u8], Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, &s) in spans.iter().enumerate() {
        let parent = &s.parent_span_id[..];
        if parent.is_empty() || parent == &s.span_id[..] || !ids.contains(parent) {
            roots.push(i);
        } else {
            children.entry(parent).or_default().push(i);
        }
    }
    let by_start = |v: &mut Vec<usize>| v.sort_by_key(|&i| (spans[i].start, i));
    by_start(&mut roots);
    children.values_mut().for_each(by_start);

    let mut walk = Walk {
        spans,
        children,
        drawn: vec![false; spans.len()],
        expanded: HashSet::new(),
        stack: Vec::new(),
        out: Vec::with_capacity(spans.len()),
    };
    for r in roots {
        walk.visit(r, false);
    }
    let mut rest: Vec<usize> = (0..spans.len()).filter(|&i| !walk.drawn[i]).collect();
    by_start(&mut rest);
    for i in rest {
        walk.visit(i, true);
    }
    walk.out
}

/// The depth-first walk of [`layout`]: iterative (no recursion, whatever
/// the depth), each span drawn once.
struct Walk<'a, 's> {
    spans: &'s [&'a Bar],
    children: HashMap<&'a [u8], Vec<usize>>,
    drawn: Vec<bool>,
    expanded: HashSet<&'a [u8]>,
    stack: Vec<(usize, usize)>,
    out: Vec<(&'a Bar, usize, bool)>,
}

impl<'a> Walk<'a, '_> {
    /// Draws `start` at depth 0 and its descendants not drawn yet.
    fn visit(&mut self, start: usize, cycle: bool) {
        self.stack.push((start, 0));
        while let Some((i, depth)) = self.stack.pop() {
            if std::mem::replace(&mut self.drawn[i], true) {
                continue;
            }
            let span: &'a Bar = self.spans[i];
            self.out.push((span, depth, cycle && i == start));
            // A span id's children are listed once, under the first span
            // drawn with that id.
            if self.expanded.insert(&span.span_id[..]) {
                if let Some(kids) = self.children.get(&span.span_id[..]) {
                    self.stack
                        .extend(kids.iter().rev().map(|&k| (k, depth + 1)));
                }
            }
        }
    }
}

/// A span's name as a label: indented, control characters replaced (a
/// name is whatever the client sent; it must not drive the terminal), at
/// most 34 characters.
fn label(name: &str, depth: usize) -> String {
    let indent = depth.min(MAX_INDENT) * 2;
    let mut label = " ".repeat(indent);
    let mut chars = name
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c });
    for c in chars.by_ref().take(34usize.saturating_sub(indent)) {
        label.push(c);
    }
    if chars.next().is_some() {
        label.pop();
        label.push('…');
    }
    label
}

fn draw_trace(spans: &[&Bar], out: &mut String) {
    let Some(first) = spans.first() else { return };
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end.max(s.start)).max().unwrap_or(t0);
    let total = t1.saturating_sub(t0);
    let _ = writeln!(
        out,
        "trace {}  ({} span{}, {})",
        hex(&first.trace_id),
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        duration(total)
    );
    // Column of time `t` on the axis, in 0..=WIDTH; a trace of one instant
    // (total 0) draws every bar from the left edge.
    let scale = |t: u64| -> usize {
        let offset = u128::from(t.saturating_sub(t0));
        let col = offset * WIDTH as u128 / u128::from(total.max(1));
        usize::try_from(col).unwrap_or(WIDTH).min(WIDTH)
    };
    for (s, depth, cycle) in layout(spans) {
        let end = s.end.max(s.start);
        let a = scale(s.start).min(WIDTH - 1);
        let b = scale(end).clamp(a + 1, WIDTH);
        let fill = if s.error { '▒' } else { '█' };
        let bar: String = (0..WIDTH)
            .map(|i| if (a..b).contains(&i) { fill } else { ' ' })
            .collect();
        let _ = writeln!(
            out,
            "  {:<34} {:<8} |{bar}| {}{}{}",
            label(&s.name, depth),
            s.kind.as_str(),
            duration(end.saturating_sub(s.start)),
            if s.error { "  ERROR" } else { "" },
            if cycle {
                "  (its parents form a cycle)"
            } else {
                ""
            }
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(id: u8, parent: Option<u8>, name: &str, start: u64, end: u64) -> Bar {
        Bar {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            kind: if parent.is_some() {
                SpanKind::Client
            } else {
                SpanKind::Server
            },
            start,
            end,
            error: false,
        }
    }

    #[test]
    fn a_tree_on_a_time_axis() {
        let s = draw(&[
            bar(2, Some(1), "upstream", 2_000_000, 8_000_000),
            bar(1, None, "GET /", 0, 10_000_000),
        ]);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].starts_with("trace 0101"), "{s}");
        assert!(lines[0].contains("(2 spans, 10.0 ms)"), "{s}");
        assert!(
            lines[1].contains("GET /") && lines[1].contains("SERVER"),
            "{s}"
        );
        assert!(
            lines[2].contains("  upstream") && lines[2].contains("CLIENT"),
            "{s}"
        );
        // The child's bar starts a fifth of the way in.
        let bar_of = |l: &str| l.split('|').nth(1).unwrap().to_owned();
        assert_eq!(
            bar_of(lines[1]).chars().filter(|c| *c == '█').count(),
            WIDTH
        );
        assert_eq!(
            bar_of(lines[2]).chars().position(|c| c == '█'),
            Some(WIDTH / 5)
        );
    }

    #[test]
    fn shared_span_ids_and_parent_cycles_draw_every_span_once() {
        // The hang: two spans share a span id, and one names it as its
        // parent.
        let s = draw(&[bar(7, None, "a", 0, 10), bar(7, Some(7), "b", 2, 5)]);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].contains("(2 spans"), "{s}");
        assert_eq!(lines.iter().filter(|l| l.contains(" a ")).count(), 1, "{s}");
        assert_eq!(lines.iter().filter(|l| l.contains(" b ")).count(), 1, "{s}");
        // A cycle with no root: 1 -> 2 -> 3 -> 1; drawn from the earliest,
        // marked, each once.
        let s = draw(&[
            bar(1, Some(3), "one", 0, 10),
            bar(2, Some(1), "two", 1, 9),
            bar(3, Some(2), "three", 2, 8),
        ]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 5, "{s}");
        assert!(
            lines[1].contains("one") && lines[1].contains("cycle"),
            "{s}"
        );
        assert!(
            lines[2].contains("  two") && lines[3].contains("    three"),
            "{s}"
        );
        // Many spans under one shared id, each with the same children.
        let mut bars: Vec<Bar> = (0..500).map(|_| bar(9, None, "dup", 0, 1)).collect();
        bars.extend((0..500).map(|_| bar(8, Some(9), "kid", 0, 1)));
        let s = draw(&bars);
        assert_eq!(s.lines().filter(|l| l.contains("kid")).count(), 500);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        for (start, end) in [
            (u64::MAX, u64::MAX),
            (0, u64::MAX),
            (u64::MAX, 0),
            (u64::MAX - 1, u64::MAX),
        ] {
            let s = draw(&[bar(1, None, "x", start, end), bar(2, Some(1), "y", 0, end)]);
            assert_eq!(s.lines().count(), 4, "{s}");
            for line in s.lines().skip(1).take(2) {
                let bar = line.split('|').nth(1).unwrap();
                assert_eq!(bar.chars().count(), WIDTH, "{line}");
                assert!(bar.contains('█'), "{line}");
            }
        }
    }

    #[test]
    fn a_request_draws_at_most_max_drawn_spans() {
        use tracewire::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let spans = (0..40_000u32)
            .map(|i| Span {
                trace_id: vec![1; 16],
                span_id: i.to_be_bytes().repeat(2),
                parent_span_id: if i == 0 {
                    vec![]
                } else {
                    0u32.to_be_bytes().repeat(2)
                },
                name: format!("s{i}"),
                start_time_unix_nano: u64::from(i),
                end_time_unix_nano: u64::from(i) + 10,
                ..Default::default()
            })
            .collect();
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let s = draw_request(&req);
        assert!(s.starts_with("trace 0101"), "{}", &s[..200]);
        assert!(s.contains("(1000 spans"), "the header counts what is drawn");
        assert_eq!(s.lines().filter(|l| l.contains('|')).count(), MAX_DRAWN);
        assert!(
            s.contains("... 39,000 more spans not drawn"),
            "{}",
            s.lines().last().unwrap_or_default()
        );
    }

    #[test]
    fn layout_is_not_quadratic() {
        // A 100,000-span chain and a 100,000-span fan-out: a quadratic
        // layout takes minutes on each.
        let t = std::time::Instant::now();
        let chain: Vec<Bar> = (0..100_000u32)
            .map(|i| Bar {
                span_id: i.to_be_bytes().to_vec(),
                parent_span_id: i
                    .checked_sub(1)
                    .map(|p| p.to_be_bytes().to_vec())
                    .unwrap_or_default(),
                ..bar(0, None, "c", u64::from(i), u64::from(i) + 1)
            })
            .collect();
        let refs: Vec<&Bar> = chain.iter().collect();
        let order = layout(&refs);
        assert_eq!(order.len(), 100_000);
        assert_eq!(order[99_999].1, 99_999, "depth");
        let fan: Vec<Bar> = (0..100_000u32)
            .map(|i| Bar {
                span_id: i.to_be_bytes().to_vec(),
                parent_span_id: if i == 0 {
                    vec![]
                } else {
                    0u32.to_be_bytes().to_vec()
                },
                ..bar(0, None, "f", u64::from(i % 7), 9)
            })
            .collect();
        let refs: Vec<&Bar> = fan.iter().collect();
        assert_eq!(layout(&refs).len(), 100_000);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn labels_are_bounded_and_inert() {
        assert_eq!(label("GET /", 1), "  GET /");
        let l = label(&"x".repeat(1000), 100);
        assert_eq!(l.chars().count(), 34);
        assert!(l.starts_with(&" ".repeat(2 * MAX_INDENT)) && l.ends_with('…'));
        assert_eq!(label("a\x1b[2Jb", 0), "a\u{fffd}[2Jb");
        assert_eq!(hex(&[0xab; 100]).chars().count(), 2 * MAX_ID_SHOWN + 1);
    }
}
