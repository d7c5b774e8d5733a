//! The `ExportTraceServiceRequest` envelope: the resource and scopes,
//! encoded once, around span bodies that are already encoded.
//!
//! Runs per batch, on the export worker; copies each span body once.

use bytes::BufMut;

use super::field;
use super::field::{request, resource_spans, scope_spans};
use super::value::{opt_str_len, put_key_values, put_opt_str, put_opt_u32};
use crate::codec::wire::{len_field_len, put_bytes_field, put_len_header};
use crate::model::{InstrumentationScope, Resource};

/// A [`Resource`] encoded once, reused for every request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedResource {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    /// Encodes `resource` (no limits applied).
    ///
    /// ```
    /// use tracewire::internal::codec::otlp::EncodedResource;
    /// use tracewire::model::{KeyValue, Resource};
    /// let r = EncodedResource::new(&Resource {
    ///     attributes: vec![KeyValue::new("service.name", "edge")],
    ///     ..Resource::default()
    /// });
    /// assert!(!r.body().is_empty());
    /// ```
    pub fn new(resource: &Resource) -> Self {
        let mut body = Vec::new();
        put_key_values(
            &mut body,
            field::resource::ATTRIBUTES,
            &resource.attributes,
            usize::MAX,
        );
        put_opt_u32(
            &mut body,
            field::resource::DROPPED_ATTRIBUTES_COUNT,
            resource.dropped_attributes_count,
        );
        EncodedResource {
            body,
            schema_url: resource.schema_url.clone(),
        }
    }

    /// The encoded `Resource` message body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// An [`InstrumentationScope`] encoded once, reused for every request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedScope {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedScope {
    /// Encodes `scope` (no limits applied).
    ///
    /// ```
    /// use tracewire::internal::codec::otlp::EncodedScope;
    /// use tracewire::model::InstrumentationScope;
    /// let s = EncodedScope::new(&InstrumentationScope::named("edge-proxy"));
    /// assert_eq!(s.body()[0], 0x0a); // name: field 1
    /// ```
    pub fn new(scope: &InstrumentationScope) -> Self {
        let mut body = Vec::new();
        put_opt_str(&mut body, field::scope::NAME, &scope.name);
        put_opt_str(&mut body, field::scope::VERSION, &scope.version);
        put_key_values(
            &mut body,
            field::scope::ATTRIBUTES,
            &scope.attributes,
            usize::MAX,
        );
        put_opt_u32(
            &mut body,
            field::scope::DROPPED_ATTRIBUTES_COUNT,
            scope.dropped_attributes_count,
        );
        EncodedScope {
            body,
            schema_url: scope.schema_url.clone(),
        }
    }

    /// The encoded `InstrumentationScope` message body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The spans of one instrumentation scope within a request.
pub struct ScopeGroup<'a, S> {
    /// The scope.
    pub scope: &'a EncodedScope,
    /// Encoded `Span` bodies.
    pub spans: &'a [S],
}

/// One scope's share of a request whose spans are already framed as
/// `ScopeSpans.spans` fields (as the span logs hold them): the scope and
/// the total length of its framed spans (0: the scope is left out).
#[derive(Clone, Copy, Debug)]
pub struct FramedGroup<'a> {
    /// The scope.
    pub scope: &'a EncodedScope,
    /// Bytes of framed spans (`0x12`, varint length, body; one after the
    /// other).
    pub spans_len: usize,
}

fn scope_spans_len(scope: &EncodedScope, spans_len: usize) -> usize {
    len_field_len(scope_spans::SCOPE, scope.body.len())
        + spans_len
        + opt_str_len(scope_spans::SCHEMA_URL, &scope.schema_url)
}

fn resource_spans_len(resource: &EncodedResource, groups: &[FramedGroup<'_>]) -> usize {
    len_field_len(resource_spans::RESOURCE, resource.body.len())
        + groups
            .iter()
            .filter(|g| g.spans_len > 0)
            .map(|g| {
                len_field_len(
                    resource_spans::SCOPE_SPANS,
                    scope_spans_len(g.scope, g.spans_len),
                )
            })
            .sum::<usize>()
        + opt_str_len(resource_spans::SCHEMA_URL, &resource.schema_url)
}

/// An upper bound on what a request holding spans of all `scopes` adds
/// to the spans themselves (framed): the envelope, the resource, the
/// scopes, their lengths and schema URLs. With it the worker keeps a
/// request under the peer's limit before writing it.
///
/// ```
/// use tracewire::internal::codec::otlp::{request_len_framed, request_overhead, EncodedResource, EncodedScope, FramedGroup};
/// use tracewire::model::{InstrumentationScope, Resource};
/// let resource = EncodedResource::new(&Resource::default());
/// let scope = EncodedScope::new(&InstrumentationScope::named("edge"));
/// let groups = [FramedGroup { scope: &scope, spans_len: 1000 }];
/// assert!(request_len_framed(&resource, &groups) <= 1000 + request_overhead(&resource, &[&scope]));
/// ```
pub fn request_overhead(resource: &EncodedResource, scopes: &[&EncodedScope]) -> usize {
    // Each length-delimited header: a key of one byte and a length of at
    // most five (messages under 4 GiB).
    const HEADER: usize = 6;
    3 * HEADER
        + resource.body.len()
        + resource.schema_url.len()
        + scopes
            .iter()
            .map(|s| 3 * HEADER + s.body.len() + s.schema_url.len())
            .sum::<usize>()
}

/// The exact number of bytes [`put_request_framed`] appends.
pub fn request_len_framed(resource: &EncodedResource, groups: &[FramedGroup<'_>]) -> usize {
    if groups.iter().all(|g| g.spans_len == 0) {
        return 0;
    }
    len_field_len(
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    )
}

/// Appends an `ExportTraceServiceRequest` holding one `ResourceSpans` with a
/// `ScopeSpans` per group with spans: the headers are written here, and
/// `spans(out, i)` appends group `i`'s framed spans (exactly
/// `groups[i].spans_len` bytes) where they belong.
///
/// With no spans at all it appends nothing: the empty request.
///
/// Runs per batch on the export worker. Reserve [`request_len_framed`]
/// bytes first to grow `out` at most once.
pub fn put_request_framed<B: BufMut + ?Sized>(
    out: &mut B,
    resource: &EncodedResource,
    groups: &[FramedGroup<'_>],
    mut spans: impl FnMut(&mut B, usize),
) {
    if groups.iter().all(|g| g.spans_len == 0) {
        return;
    }
    put_len_header(
        out,
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    );
    put_bytes_field(out, resource_spans::RESOURCE, &resource.body);
    for (i, g) in groups.iter().enumerate().filter(|(_, g)| g.spans_len > 0) {
        put_len_header(
            out,
            resource_spans::SCOPE_SPANS,
            scope_spans_len(g.scope, g.spans_len),
        );
        put_bytes_field(out, scope_spans::SCOPE, &g.scope.body);
        spans(out, i);
        put_opt_str(out, scope_spans::SCHEMA_URL, &g.scope.schema_url);
    }
    put_opt_str(out, resource_spans::SCHEMA_URL, &resource.schema_url);
}

/// The framed length of each group of span bodies.
fn framed<'a, S: AsRef<[u8]>>(groups: &'a [ScopeGroup<'a, S>]) -> Vec<FramedGroup<'a>> {
    groups
        .iter()
        .map(|g| FramedGroup {
            scope: g.scope,
            spans_len: g
                .spans
                .iter()
                .map(|s| len_field_len(scope_spans::SPANS, s.as_ref().len()))
                .sum(),
        })
        .collect()
}

/// The exact number of bytes [`put_request`] appends.
pub fn request_len<S: AsRef<[u8]>>(
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) -> usize {
    request_len_framed(resource, &framed(groups))
}

/// Appends an `ExportTraceServiceRequest` holding one `ResourceSpans` with a
/// `ScopeSpans` per non-empty group, copying each span body once.
///
/// With no spans at all it appends nothing: the empty request.
///
/// For span bodies that are not framed yet (tests, `SpanData`); the export
/// worker uses [`put_request_framed`]. Reserve [`request_len`] bytes first
/// to grow `out` at most once.
///
/// ```
/// use bytes::BytesMut;
/// use tracewire::internal::codec::otlp::{put_request, request_len, EncodedResource, EncodedScope, ScopeGroup};
/// use tracewire::model::{InstrumentationScope, Resource};
///
/// let resource = EncodedResource::new(&Resource::default());
/// let scope = EncodedScope::new(&InstrumentationScope::named("demo"));
/// let spans: Vec<Vec<u8>> = vec![vec![0x2a, 0x01, b'x']]; // a span named "x"
/// let groups = [ScopeGroup { scope: &scope, spans: &spans }];
/// let mut out = BytesMut::new();
/// put_request(&mut out, &resource, &groups);
/// assert_eq!(out.len(), request_len(&resource, &groups));
/// ```
pub fn put_request<B: BufMut + ?Sized, S: AsRef<[u8]>>(
    out: &mut B,
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) {
    put_request_framed(out, resource, &framed(groups), |out, i| {
        for s in groups[i].spans {
            put_bytes_field(out, scope_spans::SPANS, s.as_ref());
        }
    });
}
