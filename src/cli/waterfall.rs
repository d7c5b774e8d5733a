//! Traces drawn as a terminal waterfall: one tree per trace, each span a
//! bar on the trace's time axis.

use std::collections::HashMap;
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
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn duration(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns} ns"),
        1_000..=999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

const WIDTH: usize = 40;

/// Draws every trace among `bars` (grouped by trace id, in first-seen order).
pub fn draw(bars: &[Bar]) -> String {
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
        draw_trace(&traces[id], &mut out);
    }
    out
}

fn draw_trace(spans: &[&Bar], out: &mut String) {
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end).max().unwrap_or(t0).max(t0 + 1);
    let span_of = |id: &[u8]| spans.iter().any(|s| s.span_id == id);
    let mut children: HashMap<&[u8], Vec<&Bar>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent_span_id.is_empty() || !span_of(&s.parent_span_id) {
            roots.push(*s);
        } else {
            children.entry(&s.parent_span_id).or_default().push(s);
        }
    }
    roots.sort_by_key(|s| s.start);
    let _ = writeln!(
        out,
        "trace {}  ({} span{}, {})",
        hex(&spans[0].trace_id),
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        duration(t1 - t0)
    );
    let mut stack: Vec<(&Bar, usize)> = roots.into_iter().rev().map(|r| (r, 0)).collect();
    while let Some((s, depth)) = stack.pop() {
        let scale = |t: u64| ((t - t0) as u128 * WIDTH as u128 / (t1 - t0) as u128) as usize;
        let (a, mut b) = (scale(s.start), scale(s.end));
        if b <= a {
            b = a + 1;
        }
        let b = b.min(WIDTH);
        let a = a.min(b.saturating_sub(1));
        let bar: String = (0..WIDTH)
            .map(|i| {
                if i >= a && i < b {
                    if s.error {
                        '▒'
                    } else {
                        '█'
                    }
                } else {
                    ' '
                }
            })
            .collect();
        let label = format!("{}{}", "  ".repeat(depth), s.name);
        let label: String = if label.chars().count() > 34 {
            label.chars().take(33).chain(std::iter::once('…')).collect()
        } else {
            label
        };
        let _ = writeln!(
            out,
            "  {label:<34} {:<8} |{bar}| {}{}",
            s.kind.as_str(),
            duration(s.end - s.start),
            if s.error { "  ERROR" } else { "" }
        );
        if let Some(kids) = children.get(&s.span_id[..]) {
            let mut kids = kids.clone();
            kids.sort_by_key(|k| std::cmp::Reverse(k.start));
            for k in kids {
                stack.push((k, depth + 1));
            }
        }
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
}
