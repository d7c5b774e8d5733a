//! Proxy-shaped traffic: a SERVER span per simulated request, with the HTTP
//! semantic-convention attributes a proxy records, and a CLIENT child span
//! for its upstream call.

use tracewire::model::{SpanKind, Status};
use tracewire::{Span, Tracer};

const ROUTES: [(&str, &str); 6] = [
    ("GET", "/api/v1/users/{id}"),
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/orders"),
    ("GET", "/static/app.js"),
    ("PUT", "/api/v1/users/{id}/profile"),
    ("GET", "/healthz"),
];

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
];

/// A cheap deterministic mix of `i`, to vary the traffic.
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// The status code request `i` gets: mostly 200, some 404 and 503.
pub fn status_code(i: u64) -> i64 {
    match mix(i) % 100 {
        0..=2 => 503,
        3..=7 => 404,
        _ => 200,
    }
}

/// Records request `i`: its SERVER span and, when `with_client`, the
/// CLIENT span of its upstream call; each gets `payload`, when not empty,
/// as one more attribute (`load --attribute-bytes`). Returns the spans
/// recorded.
pub fn request(tracer: &Tracer, i: u64, with_client: bool, payload: &str) -> u64 {
    let mut r = Request::begin(tracer, i, with_client, payload);
    r.end_client() + r.end_server()
}

/// A simulated request in flight: its SERVER span, and its CLIENT span
/// until the upstream answers (`load --concurrency`: many at once, their
/// spans ending interleaved as a busy proxy's do).
pub struct Request {
    server: Span,
    client: Option<Span>,
    code: i64,
}

impl Request {
    /// Starts request `i`: its SERVER span and, when `with_client`, the
    /// CLIENT span of its upstream call, with their attributes.
    pub fn begin(tracer: &Tracer, i: u64, with_client: bool, payload: &str) -> Request {
        let (method, route) = ROUTES[(mix(i) % ROUTES.len() as u64) as usize];
        let code = status_code(i);
        let mut path_buf = [0u8; 64];
        let path = concrete_path(route, mix(i + 1) % 10_000, &mut path_buf);
        let mut name_buf = [0u8; 64];
        let name = join(method, " ", route, &mut name_buf);

        let mut server = tracer.start(name, SpanKind::Server);
        server.set_str("http.request.method", method);
        server.set_str("http.route", route);
        server.set_str("url.path", path);
        server.set_str("url.scheme", "https");
        server.set_str("server.address", "api.example.com");
        server.set_i64("server.port", 443);
        server.set_str("client.address", "203.0.113.7");
        server.set_str("user_agent.original", AGENTS[(i % 3) as usize]);
        server.set_str("network.protocol.version", "1.1");
        if !payload.is_empty() {
            server.set_str("http.request.body", payload);
        }
        let client = with_client.then(|| {
            let mut client =
                tracer.start_with_parent(method, SpanKind::Client, Some(server.context()));
            client.set_str("http.request.method", method);
            client.set_str("server.address", "10.0.12.5");
            client.set_i64("server.port", 8080);
            client.set_str("url.full", path);
            client.set_str("network.peer.address", "10.0.12.5");
            client.set_i64("http.response.status_code", code);
            if !payload.is_empty() {
                client.set_str("http.response.body", payload);
            }
            if code >= 500 {
                client.set_status(Status::error("upstream returned 503"));
            }
            client
        });
        Request {
            server,
            client,
            code,
        }
    }

    /// Whether the CLIENT span is still open.
    pub fn client_open(&self) -> bool {
        self.client.is_some()
    }

    /// The upstream answered: ends the CLIENT span. Returns the spans ended
    /// (0 or 1).
    pub fn end_client(&mut self) -> u64 {
        match self.client.take() {
            Some(c) => {
                c.end();
                1
            }
            None => 0,
        }
    }

    /// The response went out: ends the SERVER span (and the CLIENT span,
    /// first, if still open). Returns the spans ended.
    pub fn end_server(mut self) -> u64 {
        let n = self.end_client();
        self.server.set_i64("http.response.status_code", self.code);
        if self.code >= 500 {
            self.server
                .set_status(Status::error("upstream returned 503"));
        }
        self.server.end();
        n + 1
    }
}

/// `route` with `{id}` replaced by `id`, written into `buf`.
fn concrete_path<'a>(route: &'a str, id: u64, buf: &'a mut [u8; 64]) -> &'a str {
    match route.split_once("{id}") {
        None => route,
        Some((a, b)) => {
            let mut digits = [0u8; 20];
            let mut n = id;
            let mut len = 0;
            loop {
                digits[len] = b'0' + (n % 10) as u8;
                len += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            digits[..len].reverse();
            let id = std::str::from_utf8(&digits[..len]).unwrap_or("0");
            join3(a, id, b, buf)
        }
    }
}

fn join<'a>(a: &str, sep: &str, b: &str, buf: &'a mut [u8; 64]) -> &'a str {
    join3(a, sep, b, buf)
}

fn join3<'a>(a: &str, b: &str, c: &str, buf: &'a mut [u8; 64]) -> &'a str {
    let total = a.len() + b.len() + c.len();
    if total > buf.len() {
        return "request";
    }
    buf[..a.len()].copy_from_slice(a.as_bytes());
    buf[a.len()..a.len() + b.len()].copy_from_slice(b.as_bytes());
    buf[a.len() + b.len()..total].copy_from_slice(c.as_bytes());
    std::str::from_utf8(&buf[..total]).unwrap_or("request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_in_ids() {
        let mut b = [0u8; 64];
        assert_eq!(
            concrete_path("/api/v1/users/{id}", 42, &mut b),
            "/api/v1/users/42"
        );
        let mut b = [0u8; 64];
        assert_eq!(concrete_path("/healthz", 42, &mut b), "/healthz");
        let errors = (0..10_000).filter(|i| status_code(*i) == 503).count();
        assert!((100..600).contains(&errors), "about 3% errors: {errors}");
    }
}
