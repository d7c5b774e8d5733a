//! Collector addresses: an OTLP/HTTP URL or an OTLP/gRPC `host:port`,
//! parsed once into an [`Endpoint`] (TLS or not, host, port, HTTP path).
//!
//! Pure data: this module must never resolve names or open connections.

/// Why an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL / `host:port`.
    #[error("endpoint {value:?} is not valid: {reason}; expected {expected}")]
    Invalid {
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
        /// The expected form.
        expected: &'static str,
    },
}

/// A collector address: scheme (TLS or not), host, port and, for HTTP, the
/// request path.
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
}

const HTTP_FORM: &str = "<scheme>://<host>[:<port>]<path>, such as http://localhost:4318/v1/traces";
const GRPC_FORM: &str = "<host>:<port> (such as localhost:4317) or http(s)://<host>:<port>";

impl Endpoint {
    /// Parses an OTLP/HTTP endpoint URL (`http://` or `https://`).
    pub fn parse_http(value: &str) -> Result<Endpoint, EndpointError> {
        let bad = |reason: &str| EndpointError::Invalid {
            value: value.to_owned(),
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
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
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
        })
    }

    /// Parses an OTLP/gRPC endpoint: `host:port` (TLS unless `insecure`, as
    /// Traefik), or a URL whose scheme decides (`http` plain, `https` TLS).
    pub fn parse_grpc(value: &str, insecure: bool) -> Result<Endpoint, EndpointError> {
        let trimmed = value.trim();
        let bad = |reason: &str| EndpointError::Invalid {
            value: value.to_owned(),
            reason: reason.to_owned(),
            expected: GRPC_FORM,
        };
        if trimmed.contains("://") {
            let mut e = Self::parse_http(trimmed).map_err(|e| match e {
                EndpointError::Invalid { reason, .. } => bad(&reason),
            })?;
            e.path = String::new();
            return Ok(e);
        }
        let authority: http::uri::Authority = trimmed.parse().map_err(|e| bad(&format!("{e}")))?;
        let port = authority.port_u16().ok_or_else(|| bad("it has no port"))?;
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
        })
    }

    /// `http://localhost:4318/v1/traces`, OTLP/HTTP's standard endpoint.
    pub fn default_http() -> Endpoint {
        Endpoint {
            tls: false,
            host: "localhost".into(),
            port: 4318,
            path: "/v1/traces".into(),
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

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
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
}
