//! What both layers share: the HTTP semantic conventions' values (protocol
//! version, server address and port), Traefik's options (captured headers,
//! query redaction), span names, and a per-thread scratch string.
//!
//! Everything here runs per request: no lock, no I/O, no allocation once
//! warm (the scratch string is reused).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;

use http::HeaderName;

use crate::config::Config;
use crate::model::{SpanContext, ValueRef};
use crate::propagation::Propagators;

/// Traefik's HTTP recording options: captured headers (as
/// `http.request.header.<name>` / `http.response.header.<name>` keys,
/// computed once) and the query parameters shown unredacted.
#[derive(Clone, Debug, Default)]
pub(super) struct HttpOptions {
    pub(super) request_headers: Vec<(HeaderName, String)>,
    pub(super) response_headers: Vec<(HeaderName, String)>,
    pub(super) safe_query_params: Vec<String>,
    /// The header formats read and written (`OTEL_PROPAGATORS`).
    pub(super) propagators: Propagators,
}

impl HttpOptions {
    pub(super) fn from_config(config: &Config) -> Self {
        HttpOptions {
            request_headers: header_keys(&config.captured_request_headers, "http.request.header."),
            response_headers: header_keys(
                &config.captured_response_headers,
                "http.response.header.",
            ),
            safe_query_params: config.safe_query_params.clone(),
            propagators: config.propagators.clone(),
        }
    }
}

/// `(name, "prefix<lower-case name>")` for each valid header name; invalid
/// names were refused by the config already and are skipped here.
pub(super) fn header_keys(names: &[String], prefix: &str) -> Vec<(HeaderName, String)> {
    names
        .iter()
        .filter_map(|n| {
            let name = HeaderName::from_bytes(n.as_bytes()).ok()?;
            let key = format!("{prefix}{}", name.as_str());
            Some((name, key))
        })
        .collect()
}

/// The most values of one captured header recorded (the rest are left out).
const MAX_HEADER_VALUES: usize = 8;

/// Records each captured header present in `headers` as a string array
/// (the semantic conventions' form: a header may repeat). Values that are
/// not visible ASCII are skipped. Hot path: no allocation.
pub(super) fn record_headers(
    span: &mut crate::record::Span,
    keys: &[(HeaderName, String)],
    headers: &http::HeaderMap,
) {
    for (name, key) in keys {
        let mut values = [""; MAX_HEADER_VALUES];
        let mut n = 0;
        for v in headers.get_all(name) {
            if n == MAX_HEADER_VALUES {
                break;
            }
            if let Ok(s) = v.to_str() {
                values[n] = s;
                n += 1;
            }
        }
        if n > 0 {
            span.set_attribute(key, ValueRef::StrArray(&values[..n]));
        }
    }
}

thread_local! {
    /// Scratch for span names and redacted URLs, reused per request on
    /// each thread (no allocation once warm).
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with this thread's cleared scratch string.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut String) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            s.clear();
            f(&mut s)
        }
        // Re-entered (cannot happen in this module): a fresh string.
        Err(_) => f(&mut String::new()),
    })
}

/// Appends `query` with every value whose parameter is not in `safe`
/// replaced by `REDACTED`, as Traefik does (`q=secret&page=2&flag` with
/// `page` safe: `q=REDACTED&page=2&flag`).
pub(super) fn push_redacted_query(out: &mut String, query: &str, safe: &[String]) {
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, v)) => {
                out.push_str(k);
                out.push('=');
                out.push_str(if safe.iter().any(|s| s == k) {
                    v
                } else {
                    "REDACTED"
                });
            }
            None => out.push_str(pair),
        }
    }
}

/// `network.protocol.version` for an HTTP version.
pub(super) fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Splits a `Host` header or URI authority into address and port.
pub(super) fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    // `[::1]:8080`, `example.com:80`, `example.com`.
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once(']') {
            return (host, port.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (authority, None),
    }
}

/// The span name `METHOD route`, or `METHOD` without a route, written
/// into `out`.
pub(super) fn span_name<'a>(
    out: &'a mut String,
    method: &http::Method,
    route: Option<&str>,
) -> &'a str {
    out.push_str(method.as_str());
    if let Some(r) = route {
        let _ = write!(out, " {r}");
    }
    out
}

/// A span's status for an HTTP status code: 5xx is an error.
pub(super) fn is_error_status(status: http::StatusCode) -> bool {
    status.is_server_error()
}

/// Ends `span` with what became of its request: the response's status code
/// and captured headers, or the error. A SERVER span (`client: false`)
/// fails on 5xx and on the service's error; a CLIENT span also on 4xx (the
/// HTTP semantic conventions leave a server's 4xx unset) and on the
/// transport error.
pub(super) fn end_with<ResB, E: std::fmt::Display>(
    mut span: crate::record::Span,
    response_headers: &[(HeaderName, String)],
    result: &Result<http::Response<ResB>, E>,
    client: bool,
) {
    if span.is_recording() {
        match result {
            Ok(resp) => {
                let status = resp.status();
                span.set_i64("http.response.status_code", i64::from(status.as_u16()));
                record_headers(&mut span, response_headers, resp.headers());
                if is_error_status(status) || (client && status.is_client_error()) {
                    span.set_str("error.type", status.as_str());
                    span.set_status(crate::model::Status::error(""));
                }
            }
            Err(e) => {
                let kind = if client {
                    "transport_error"
                } else {
                    "service_error"
                };
                span.set_str("error.type", kind);
                span.set_status(crate::model::Status::error(e.to_string()));
            }
        }
    }
    span.end();
}

/// The parent a CLIENT span takes: the context in the request's extensions
/// (put there by [`TraceLayer`] or by the application).
pub(super) fn parent_of(ext: &http::Extensions) -> Option<&SpanContext> {
    ext.get::<SpanContext>()
}

/// A route extractor result: a template such as `/users/{id}`.
pub(super) type Route<'a> = Option<Cow<'a, str>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_query_params_are_shown() {
        let mut s = String::new();
        push_redacted_query(&mut s, "q=secret&page=2&flag", &["page".into()]);
        assert_eq!(s, "q=REDACTED&page=2&flag");
    }

    #[test]
    fn hosts_split() {
        assert_eq!(host_and_port("a.example:8080"), ("a.example", Some(8080)));
        assert_eq!(host_and_port("a.example"), ("a.example", None));
        assert_eq!(host_and_port("[::1]:80"), ("::1", Some(80)));
        assert_eq!(host_and_port("::1"), ("::1", None));
    }
}
