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

fn scope_spans_len<S: AsRef<[u8]>>(g: &ScopeGroup<'_, S>) -> usize {
    len_field_len(scope_spans::SCOPE, g.scope.body.len())
        + g.spans
            .iter()
            .map(|s| len_field_len(scope_spans::SPANS, s.as_ref().len()))
            .sum::<usize>()
        + opt_str_len(scope_spans::SCHEMA_URL, &g.scope.schema_url)
}

fn resource_spans_len<S: AsRef<[u8]>>(
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) -> usize {
    len_field_len(resource_spans::RESOURCE, resource.body.len())
        + groups
            .iter()
            .filter(|g| !g.spans.is_empty())
            .map(|g| len_field_len(resource_spans::SCOPE_SPANS, scope_spans_len(g)))
            .sum::<usize>()
        + opt_str_len(resource_spans::SCHEMA_URL, &resource.schema_url)
}

/// The exact number of bytes [`put_request`] appends.
pub fn request_len<S: AsRef<[u8]>>(
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) -> usize {
    if groups.iter().all(|g| g.spans.is_empty()) {
        return 0;
    }
    len_field_len(
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    )
}

/// Appends an `ExportTraceServiceRequest` holding one `ResourceSpans` with a
/// `ScopeSpans` per non-empty group, copying each span body once.
///
/// With no spans at all it appends nothing: the empty request.
///
/// Runs per batch; copies each span body exactly once. Reserve
/// [`request_len`] bytes first to grow `out` at most once.
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
    if groups.iter().all(|g| g.spans.is_empty()) {
        return;
    }
    put_len_header(
        out,
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    );
    put_bytes_field(out, resource_spans::RESOURCE, &resource.body);
    for g in groups.iter().filter(|g| !g.spans.is_empty()) {
        put_len_header(out, resource_spans::SCOPE_SPANS, scope_spans_len(g));
        put_bytes_field(out, scope_spans::SCOPE, &g.scope.body);
        for s in g.spans {
            put_bytes_field(out, scope_spans::SPANS, s.as_ref());
        }
        put_opt_str(out, scope_spans::SCHEMA_URL, &g.scope.schema_url);
    }
    put_opt_str(out, resource_spans::SCHEMA_URL, &resource.schema_url);
}
