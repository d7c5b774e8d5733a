//! [`Propagators`]: the header formats a proxy reads its parent from and
//! writes its context in, as `OTEL_PROPAGATORS` names them (Traefik honours
//! that variable too): `tracecontext`, `baggage`, `b3`, `b3multi`, or
//! `none`. The default is `tracecontext,baggage`, as in the OpenTelemetry
//! SDKs.
//!
//! As OpenTelemetry's composite propagator does: extracting runs each
//! format in the order listed, a later one that finds a valid context
//! replacing an earlier one's; injecting writes every format listed.
//!
//! Sans-IO: it reads and writes an `http::HeaderMap`; it must never
//! allocate for the trace context itself (baggage is stored once when
//! present).
//!
//! ```
//! use tracewire::propagation::Propagators;
//! let p: Propagators = "tracecontext,baggage,b3multi".parse().unwrap();
//! let mut incoming = http::HeaderMap::new();
//! incoming.insert("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7".parse().unwrap());
//! incoming.insert("x-b3-spanid", "e457b5a2e4d86bd1".parse().unwrap());
//! incoming.insert("x-b3-sampled", "1".parse().unwrap());
//! incoming.insert("baggage", "tenant=acme".parse().unwrap());
//! let found = p.extract(&incoming);
//! assert!(found.context.as_ref().unwrap().is_sampled());
//!
//! let mut upstream = http::HeaderMap::new();
//! p.inject(found.context.as_ref().unwrap(), &found.baggage, &mut upstream);
//! assert_eq!(upstream["baggage"], "tenant=acme");
//! assert_eq!(upstream["x-b3-spanid"], "e457b5a2e4d86bd1");
//! assert!(upstream.contains_key("traceparent"));
//! ```

use std::fmt;
use std::str::FromStr;

use http::{HeaderMap, HeaderValue};

use super::b3::{format_b3, format_b3_multi, headers as names, parse_b3, parse_b3_multi};
use super::baggage::{Baggage, BAGGAGE_HEADER};
use super::trace_context::{extract_from_headers, inject_into_headers};
use crate::model::SpanContext;

/// One header format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// W3C Trace Context: `traceparent`, `tracestate`.
    TraceContext,
    /// W3C Baggage: `baggage`, carried on unchanged.
    Baggage,
    /// B3, single header: `b3`.
    B3,
    /// B3, multiple headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`.
    B3Multi,
}

impl Propagator {
    /// The name `OTEL_PROPAGATORS` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }
}

/// The header formats in use, in order (`OTEL_PROPAGATORS`; by default
/// `tracecontext,baggage`). Extracting runs each in order, a later one that
/// finds a valid context replacing an earlier one's; injecting writes every
/// one.
///
/// ```
/// use tracewire::propagation::Propagators;
/// let p: Propagators = "b3,tracecontext".parse().unwrap();
/// assert_eq!(p.to_string(), "b3,tracecontext");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Propagators(Vec<Propagator>);

impl Default for Propagators {
    /// `tracecontext,baggage`.
    fn default() -> Self {
        Propagators(vec![Propagator::TraceContext, Propagator::Baggage])
    }
}

impl fmt::Display for Propagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

/// An `OTEL_PROPAGATORS` value tracewire cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropagatorsError {
    /// A name that is not a propagator tracewire has.
    #[error("{name:?} is not a propagator tracewire supports; use a comma-separated list of tracecontext, baggage, b3, b3multi, or none{hint}")]
    Unknown {
        /// The name as written (cut to 64 characters, control characters escaped).
        name: String,
        /// More on a known but unsupported propagator.
        hint: &'static str,
    },
}

impl FromStr for Propagators {
    type Err = PropagatorsError;

    /// Parses an `OTEL_PROPAGATORS` value: names separated by commas,
    /// surrounding white space ignored, duplicates kept once; `none` (or an
    /// empty value) means no propagation.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let p = match name.to_ascii_lowercase().as_str() {
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "b3" => Propagator::B3,
                "b3multi" => Propagator::B3Multi,
                "none" => continue,
                other => {
                    let hint = match other {
                        "jaeger" | "xray" | "ottrace" => {
                            " (jaeger, xray and ottrace are not implemented: list the formats your services also speak, usually tracecontext)"
                        }
                        _ => "",
                    };
                    let shown: String =
                        name.chars().take(64).flat_map(char::escape_debug).collect();
                    return Err(PropagatorsError::Unknown { name: shown, hint });
                }
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(Propagators(out))
    }
}

/// What [`Propagators::extract`] found on a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extracted {
    /// The remote parent, when a format found a valid one.
    pub context: Option<SpanContext>,
    /// The request's baggage (empty unless `baggage` is in use).
    pub baggage: Baggage,
}

impl Propagators {
    /// No propagation at all (`OTEL_PROPAGATORS=none`).
    pub fn none() -> Self {
        Propagators(Vec::new())
    }

    /// These formats, in this order (duplicates kept once).
    ///
    /// ```
    /// use tracewire::propagation::{Propagator, Propagators};
    /// let p = Propagators::new([Propagator::B3, Propagator::TraceContext]);
    /// assert_eq!(p.to_string(), "b3,tracecontext");
    /// ```
    pub fn new(formats: impl IntoIterator<Item = Propagator>) -> Self {
        let mut out = Vec::new();
        for p in formats {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Propagators(out)
    }

    /// The formats, in order.
    pub fn formats(&self) -> &[Propagator] {
        &self.0
    }

    /// Reads the parent and the baggage from a request's headers.
    ///
    /// Hot path (runs per request): no allocation for the trace context;
    /// invalid headers are ignored, as the specifications say.
    pub fn extract(&self, headers: &HeaderMap) -> Extracted {
        let mut found = Extracted::default();
        for p in &self.0 {
            let ctx = match p {
                Propagator::TraceContext => extract_from_headers(headers),
                Propagator::Baggage => {
                    found.baggage = Baggage::parse(
                        headers
                            .get_all(&BAGGAGE_HEADER)
                            .iter()
                            .map(|v| v.as_bytes()),
                    );
                    None
                }
                Propagator::B3 => headers
                    .get(&names::B3)
                    .and_then(|v| parse_b3(v.as_bytes()).ok().flatten()),
                Propagator::B3Multi => {
                    let get = |name: &http::HeaderName| headers.get(name).map(|v| v.as_bytes());
                    parse_b3_multi(
                        get(&names::X_B3_TRACE_ID),
                        get(&names::X_B3_SPAN_ID),
                        get(&names::X_B3_SAMPLED),
                        get(&names::X_B3_FLAGS),
                    )
                    .ok()
                }
            };
            if ctx.is_some() {
                found.context = ctx;
            }
        }
        found
    }

    /// Writes `ctx` (and `baggage`) in every format in use onto an
    /// outgoing request, replacing what those formats' headers held.
    ///
    /// Hot path (runs per upstream request): formats into fixed buffers.
    pub fn inject(&self, ctx: &SpanContext, baggage: &Baggage, headers: &mut HeaderMap) {
        for p in &self.0 {
            match p {
                Propagator::TraceContext => inject_into_headers(ctx, headers),
                Propagator::Baggage => {
                    headers.remove(&BAGGAGE_HEADER);
                    if !baggage.is_empty() {
                        // Checked header-safe when parsed: this cannot fail.
                        if let Ok(v) = HeaderValue::from_str(baggage.as_str()) {
                            headers.insert(BAGGAGE_HEADER, v);
                        }
                    }
                }
                Propagator::B3 if ctx.is_valid() => {
                    let mut buf = [0u8; 51];
                    if let Ok(v) = HeaderValue::from_str(format_b3(ctx, &mut buf)) {
                        headers.insert(names::B3, v);
                    }
                }
                Propagator::B3Multi if ctx.is_valid() => {
                    let (mut t, mut s) = ([0u8; 32], [0u8; 16]);
                    let (trace, span, sampled) = format_b3_multi(ctx, &mut t, &mut s);
                    for (name, value) in [
                        (names::X_B3_TRACE_ID, trace),
                        (names::X_B3_SPAN_ID, span),
                        (names::X_B3_SAMPLED, sampled),
                    ] {
                        if let Ok(v) = HeaderValue::from_str(value) {
                            headers.insert(name, v);
                        }
                    }
                    // Never ours to send: the parent id and a stale debug flag.
                    headers.remove(&names::X_B3_PARENT_SPAN_ID);
                    headers.remove(&names::X_B3_FLAGS);
                }
                Propagator::B3 | Propagator::B3Multi => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otel_propagators_values() {
        let p: Propagators = " TraceContext , baggage,b3,b3,none ".parse().unwrap();
        assert_eq!(p.to_string(), "tracecontext,baggage,b3");
        assert_eq!("none".parse::<Propagators>().unwrap(), Propagators::none());
        assert_eq!(Propagators::default().to_string(), "tracecontext,baggage");
        let err = "tracecontext,xray"
            .parse::<Propagators>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"xray\"") && err.contains("not implemented"),
            "{err}"
        );
        let err = "b3single\n".parse::<Propagators>().unwrap_err().to_string();
        assert!(err.contains("b3single") && err.contains("b3multi"), "{err}");
    }

    #[test]
    fn the_last_format_with_a_valid_context_wins() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        h.insert(
            "b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"
                .parse()
                .unwrap(),
        );
        let tc_b3: Propagators = "tracecontext,b3".parse().unwrap();
        let ctx = tc_b3.extract(&h).context.unwrap();
        assert_eq!(ctx.span_id().to_u64(), 0xe457b5a2e4d86bd1);
        let b3_tc: Propagators = "b3,tracecontext".parse().unwrap();
        let ctx = b3_tc.extract(&h).context.unwrap();
        assert_eq!(ctx.span_id().to_u64(), 0x00f067aa0ba902b7);
        // An invalid later one does not erase a valid earlier one.
        h.insert("b3", "garbage".parse().unwrap());
        assert!(tc_b3.extract(&h).context.is_some());
        // Baggage only when asked for.
        h.insert("baggage", "a=1".parse().unwrap());
        assert!(tc_b3.extract(&h).baggage.is_empty());
        assert_eq!(Propagators::default().extract(&h).baggage.as_str(), "a=1");
    }
}
