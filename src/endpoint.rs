//! Collector addresses: an OTLP/HTTP URL or an OTLP/gRPC `host:port`,
//! parsed once into an [`Endpoint`] (TLS or not, host, port, HTTP path).
//!
//! Pure data: this module must never resolve names or open connections.
//! Credentials written into a URL (`user:password@`) are never kept and
//! never shown: [`EndpointError`] carries the value with them redacted.

/// Why an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not a URL / `host:port`.
    #[error("endpoint {value:?} is not valid: {reason}; expected {expected}")]
    Invalid {
        /// The value, with any `user:password@` redacted.
        value: String,
        /// What is wrong.
        reason: String,
        /// The expected form.
        expected: &'static str,
    },
}

/// A collector address: scheme (TLS or not), host, port and, for HTTP, the
/// request path. Credentials written into the URL (`user:password@`) are
/// not part of it: they are dropped (send them in a header such as
/// `Authorization`); the configuration loader warns when it drops them.
///
/// ```
/// use tracewire::transport::Endpoint;
/// let e = Endpoint::parse_http("https://collector.example:4318/v1/traces").unwrap();
/// assert!(e.is_tls());
/// assert_eq!((e.host(), e.port(), e.path()), ("collector.example", 4318, "/v1/traces"));
/// let g = Endpoint::parse_grpc("localhost:4317", true).unwrap();
/// assert!(!g.is_tls());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    path: String,
    via: Via,
}

/// How an [`Endpoint`]'s connections are made.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Via {
    /// TCP to the host name's first reachable address (or the IP address).
    #[default]
    Host,
    /// `dns:///host:port`: every address the name resolves to is a member
    /// of a fleet (resolved by the transport, again from time to time).
    Dns,
    /// TCP to this address, the host name kept for TLS and the authority
    /// (a member a `dns:///` name resolved to).
    Address(std::net::SocketAddr),
    /// A unix domain socket (`unix:///path`), plaintext.
    Unix(std::path::PathBuf),
}

const HTTP_FORM: &str = "<scheme>://<host>[:<port>]<path>, such as http://localhost:4318/v1/traces";
const GRPC_FORM: &str = "<host>:<port> (such as localhost:4317), http(s)://<host>:<port>, \
dns:///<host>:<port> (every address of the name) or unix:///<path>";

impl Endpoint {
    /// Parses an OTLP/HTTP endpoint URL (`http://` or `https://`). The port
    /// must be 1 to 65535 when written; without one, 80 or 443.
    pub fn parse_http(value: &str) -> Result<Endpoint, EndpointError> {
        let bad = |reason: &str| EndpointError::Invalid {
            value: redact_userinfo(value),
            reason: reason.to_owned(),
            expected: HTTP_FORM,
        };
        let uri: http::Uri = value.trim().parse().map_err(|e| bad(&format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?} (use http or https)"
                )))
            }
            None => return Err(bad("it has no scheme")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it has no host"))?;
        let written = uri
            .authority()
            .map_or(Ok(None), |a| written_port(a.as_str()))
            .map_err(|reason| bad(&reason))?;
        let port = written.unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        Ok(Endpoint {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: path.to_owned(),
            via: Via::Host,
        })
    }

    /// Parses an OTLP/gRPC endpoint: `host:port` (TLS unless `insecure`, as
    /// Traefik), or a URL whose scheme decides (`http` plain, `https` TLS).
    /// The port (1 to 65535) is required in the `host:port` form.
    pub fn parse_grpc(value: &str, insecure: bool) -> Result<Endpoint, EndpointError> {
        let trimmed = value.trim();
        let bad = |reason: &str| EndpointError::Invalid {
            value: redact_userinfo(value),
            reason: reason.to_owned(),
            expected: GRPC_FORM,
        };
        if let Some(path) = trimmed
            .strip_prefix("unix://")
            .or_else(|| trimmed.strip_prefix("unix:"))
        {
            if !path.starts_with('/') {
                return Err(bad(
                    "a unix socket path must be absolute (unix:///run/otel/otlp.sock)",
                ));
            }
            return Ok(Endpoint {
                tls: false,
                host: "localhost".into(),
                port: 0,
                path: String::new(),
                via: Via::Unix(path.into()),
            });
        }
        if let Some(rest) = trimmed.strip_prefix("dns:") {
            let Some(name) = rest.strip_prefix("///") else {
                return Err(bad("write dns:///<host>:<port> (a DNS server authority, dns://server/..., is not supported)"));
            };
            let mut e = Self::parse_grpc(name, insecure)?;
            if e.via != Via::Host || name.contains("://") {
                return Err(bad("dns:/// takes a <host>:<port>"));
            }
            e.via = Via::Dns;
            return Ok(e);
        }
        if trimmed.contains("://") {
            let mut e = Self::parse_http(trimmed).map_err(|e| match e {
                EndpointError::Invalid { reason, .. } => bad(&reason),
            })?;
            e.path = String::new();
            return Ok(e);
        }
        let authority: http::uri::Authority = trimmed.parse().map_err(|e| bad(&format!("{e}")))?;
        let port = written_port(authority.as_str())
            .map_err(|reason| bad(&reason))?
            .ok_or_else(|| bad("it has no port"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        Ok(Endpoint {
            tls: !insecure,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: String::new(),
            via: Via::Host,
        })
    }

    /// `http://localhost:4318/v1/traces`, OTLP/HTTP's standard endpoint.
    pub fn default_http() -> Endpoint {
        Endpoint {
            tls: false,
            host: "localhost".into(),
            port: 4318,
            path: "/v1/traces".into(),
            via: Via::Host,
        }
    }

    /// How connections are made (see [`Via`]).
    ///
    /// ```
    /// use tracewire::transport::{Endpoint, Via};
    /// let e = Endpoint::parse_grpc("dns:///collectors.example:4317", true).unwrap();
    /// assert_eq!((e.via(), e.host()), (&Via::Dns, "collectors.example"));
    /// let u = Endpoint::parse_grpc("unix:///run/otel/otlp.sock", true).unwrap();
    /// assert_eq!(u.via(), &Via::Unix("/run/otel/otlp.sock".into()));
    /// ```
    pub fn via(&self) -> &Via {
        &self.via
    }

    /// The same endpoint, connected at `address` (a member a `dns:///`
    /// name resolved to).
    pub fn at_address(&self, address: std::net::SocketAddr) -> Endpoint {
        Endpoint {
            via: Via::Address(address),
            ..self.clone()
        }
    }

    /// What identifies the member in statistics and routing: `host:port`
    /// (the resolved address for a `dns:///` member), `unix://PATH`, or the
    /// URL for OTLP/HTTP.
    pub fn member_label(&self) -> String {
        match &self.via {
            Via::Address(a) => a.to_string(),
            Via::Unix(p) => format!("unix://{}", p.display()),
            Via::Dns => format!("dns:///{}", self.authority()),
            Via::Host if self.path.is_empty() => self.authority(),
            Via::Host => self.to_string(),
        }
    }

    /// Whether connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP request path (empty for gRPC).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host:port` as an HTTP authority (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if let Via::Unix(_) = self.via {
            return self.host.clone();
        }
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The endpoint with TLS on or off (gRPC's `insecure`).
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

/// The port written in an authority (`host:port`, `[v6]:port`, after any
/// `user:password@`): `Ok(None)` when none is written, an error naming the
/// problem when it is not a port number from 1 to 65535.
fn written_port(authority: &str) -> Result<Option<u16>, String> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((_, rest)) => rest.strip_prefix(':'),
            None => None,
        }
    } else {
        host_port.rsplit_once(':').map(|(_, p)| p)
    };
    let Some(port) = port.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("its port is not a number (use 1 to 65535)".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => {
            let shown = if port.len() > 12 {
                format!("{}... ({} digits)", &port[..12], port.len())
            } else {
                port.to_owned()
            };
            Err(format!(
                "the port {shown} is out of range: ports are 1 to 65535 (OTLP's are 4317 for gRPC, 4318 for HTTP)"
            ))
        }
    }
}

/// Whether an endpoint as written carries credentials (`user:password@`
/// before the host), which [`Endpoint`] drops.
pub(crate) fn has_userinfo(value: &str) -> bool {
    let value = value.trim();
    let after_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(after_scheme);
    authority.contains('@')
}

/// The endpoint as written, with anything that may be `user:password`
/// replaced by `<redacted>`: for messages about values that did not parse,
/// so everything between the scheme and the last `@` goes, whatever
/// separators a password may contain.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let start = value.find("://").map_or(0, |i| i + 3);
    match value[start..].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &value[..start], &value[start + at..]),
        None => value.to_owned(),
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.via {
            Via::Unix(p) => write!(f, "unix://{}", p.display()),
            Via::Dns => write!(f, "dns:///{}", self.authority()),
            _ => {
                let scheme = if self.tls { "https" } else { "http" };
                write!(f, "{scheme}://{}{}", self.authority(), self.path)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints() {
        let e = Endpoint::parse_http("http://localhost:4318/v1/traces").unwrap();
        assert_eq!(
            (e.is_tls(), e.host(), e.port(), e.path()),
            (false, "localhost", 4318, "/v1/traces")
        );
        let e = Endpoint::parse_http("https://[::1]/x").unwrap();
        assert_eq!(
            (e.is_tls(), e.host(), e.port(), e.authority()),
            (true, "::1", 443, "[::1]:443".into())
        );
        assert_eq!(e.to_string(), "https://[::1]:443/x");
        for bad in ["localhost:4318", "ftp://x/y", "http://", "not a url", ""] {
            let err = Endpoint::parse_http(bad).unwrap_err().to_string();
            assert!(err.contains("expected <scheme>://"), "{bad}: {err}");
        }
    }

    #[test]
    fn grpc_endpoints() {
        let e = Endpoint::parse_grpc("collector:4317", false).unwrap();
        assert!(e.is_tls());
        let e = Endpoint::parse_grpc("http://collector:4317", false).unwrap();
        assert!(!e.is_tls());
        assert!(Endpoint::parse_grpc("collector", false)
            .unwrap_err()
            .to_string()
            .contains("no port"));
    }

    #[test]
    fn ports_out_of_range_are_errors_in_both_forms() {
        for (value, grpc) in [
            ("http://collector:99999/v1/traces", false),
            ("https://collector:65536/v1/traces", false),
            ("http://collector:0/v1/traces", false),
            ("http://[::1]:70000/v1/traces", false),
            ("collector:99999", true),
            ("collector:0", true),
            ("[::1]:123456789012345678901234567890", true),
            ("http://collector:99999", true),
        ] {
            let r = if grpc {
                Endpoint::parse_grpc(value, true)
            } else {
                Endpoint::parse_http(value)
            };
            let err = r.unwrap_err().to_string();
            assert!(
                err.contains("is out of range: ports are 1 to 65535"),
                "{value}: {err}"
            );
        }
        assert_eq!(
            Endpoint::parse_http("http://c:65535/").unwrap().port(),
            65535
        );
        assert_eq!(Endpoint::parse_grpc("[::1]:1", true).unwrap().port(), 1);
        assert_eq!(Endpoint::parse_http("http://[::1]/").unwrap().port(), 80);
    }

    #[test]
    fn credentials_are_dropped_and_never_shown() {
        let e = Endpoint::parse_http("https://user:pw@collector:4318/v1/traces").unwrap();
        assert_eq!(e.to_string(), "https://collector:4318/v1/traces");
        assert!(has_userinfo("https://user:pw@collector:4318/v1/traces"));
        assert!(has_userinfo("user:pw@collector:4317"));
        assert!(!has_userinfo("http://collector:4318/v1/traces?mail=a@b"));
        for bad in [
            "http://user:s3cr3t@collector:99999/v1/traces",
            "http://user:s3/cr3t@/v1/traces",
            "ftp://user:s3cr3t@collector/",
            "user:s3cr3t@collector",
        ] {
            for err in [
                Endpoint::parse_http(bad).unwrap_err().to_string(),
                Endpoint::parse_grpc(bad, true).unwrap_err().to_string(),
            ] {
                assert!(!err.contains("s3"), "{bad}: {err}");
                assert!(err.contains("<redacted>@"), "{bad}: {err}");
            }
        }
    }
}
