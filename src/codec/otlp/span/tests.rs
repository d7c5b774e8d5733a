//! Tests of the span encoder's fast writers against the general ones.

use super::*;

#[test]
fn layout_keeps_offsets_past_16_bits_apart() {
    let l = SpanStartLayout::new((70_000, 70_012), 4_000_000_000);
    assert_eq!(l.name(), (70_000, 70_012));
    assert_eq!(l.end_time_at(), 4_000_000_000);
    assert_eq!(
        format!("{l:?}"),
        "SpanStartLayout { name: (70000, 70012), end_time_at: 4000000000 }"
    );
}

/// The status and flags written together are what the general writer
/// writes field by field, for every status code and flags value.
#[test]
fn status_and_flags_are_the_fields_written_one_by_one() {
    let codes = [
        None,
        Some(StatusCode::Unset),
        Some(StatusCode::Ok),
        Some(StatusCode::Error),
    ];
    for code in codes {
        for flags in [0u32, 1, 0x100, 0x301, 0x0102_0304, u32::MAX] {
            let mut got = SpanBuf::with_capacity(4);
            got.extend_from_slice(b"ahead");
            put_status_and_flags(&mut got, code, flags);
            let mut want = Vec::from(&b"ahead"[..]);
            let mut put = |n: usize, f: &dyn Fn(&mut Cursor<'_>)| {
                let at = want.len();
                want.resize(at + n, 0);
                f(&mut Cursor::new(&mut want[at..]));
            };
            match code.map(|c| c as i32 as u64) {
                None => {}
                Some(0) => put(2, &|w| w.bytes(&[key::SPAN_STATUS, 0])),
                Some(c) => put(4, &|w| {
                    w.bytes(&[key::SPAN_STATUS, 2]);
                    w.varint_field(status::CODE, c);
                }),
            }
            if flags != 0 {
                put(fixed32_field_len(span::FLAGS), &|w| {
                    w.fixed32_field(span::FLAGS, flags)
                });
            }
            assert_eq!(got.as_slice(), &want[..], "{code:?} {flags:#x}");
        }
    }
}

/// The plain span's fast writer and the general one write the same
/// bytes and report the same layout, with or without a parent or a trace
/// state (up to the longest the plain one takes), behind bytes already
/// written.
#[test]
fn plain_and_general_span_starts_agree() {
    let trace_id = TraceId::from_bytes([7; 16]);
    let span_id = SpanId::from_bytes([3; 8]);
    let parent = SpanId::from_bytes([9; 8]);
    let longest = format!("v={}", "x".repeat(125));
    for trace_state in [
        "",
        "ot=th:0",
        "ot=th:8;rv:0123456789abcd,vendor=opaque",
        &longest,
    ] {
        for parent_span_id in [None, Some(&parent)] {
            for name in ["", "GET", &"n".repeat(127)] {
                let s = SpanStart {
                    trace_id: &trace_id,
                    span_id: &span_id,
                    trace_state,
                    parent_span_id,
                    name,
                    kind: SpanKind::Server,
                    start_time_unix_nano: 0x0102_0304_0506_0708,
                };
                let (mut plain, mut any) = (SpanBuf::with_capacity(8), SpanBuf::with_capacity(8));
                plain.extend_from_slice(b"ahead");
                any.extend_from_slice(b"ahead");
                let lp = put_span_start_plain(&mut plain, &s, trace_state);
                let la = put_span_start_any(&mut any, &s);
                assert_eq!(
                    plain.as_slice(),
                    any.as_slice(),
                    "name {name:?}, trace state {trace_state:?}"
                );
                assert_eq!(lp, la);
                let (start, end) = lp.name();
                let state_len = if trace_state.is_empty() {
                    0
                } else {
                    2 + trace_state.len()
                };
                assert_eq!(
                    start,
                    5 + IDS_LEN + state_len + parent_span_id.map_or(0, |_| PARENT_LEN)
                );
                assert_eq!(
                    end - start,
                    if name.is_empty() { 0 } else { 2 + name.len() }
                );
                assert_eq!(lp.end_time_at(), plain.len() - 8);
            }
        }
    }
    assert_eq!(longest.len(), 127);
}

/// A trace state of 128 bytes or more (a two-byte length) takes the
/// general writer; the bytes are prost's either way.
#[test]
fn span_starts_match_prost_on_both_sides_of_the_one_byte_length() {
    use prost::Message as _;
    let trace_id = TraceId::from_bytes([7; 16]);
    let span_id = SpanId::from_bytes([3; 8]);
    for n in [3usize, 126, 127, 128, 129, 300] {
        let trace_state = &format!("v={}", "x".repeat(n - 2));
        let s = SpanStart {
            trace_id: &trace_id,
            span_id: &span_id,
            trace_state,
            parent_span_id: None,
            name: "GET",
            kind: SpanKind::Server,
            start_time_unix_nano: 5,
        };
        let mut got = SpanBuf::with_capacity(8);
        let layout = put_span_start(&mut got, &s);
        patch_end_time(&mut got, &layout, 6);
        let want = crate::proto::trace::v1::Span {
            trace_id: trace_id.to_bytes().to_vec(),
            span_id: span_id.to_bytes().to_vec(),
            trace_state: trace_state.to_string(),
            name: "GET".into(),
            kind: 2,
            start_time_unix_nano: 5,
            end_time_unix_nano: 6,
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(
            got.as_slice(),
            &want[..],
            "trace state of {} bytes",
            trace_state.len()
        );
    }
}
