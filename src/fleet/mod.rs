//! Fleet routing: which of several collectors each trace goes to, and how a
//! failed member's request is re-routed to the others. Every routing
//! decision tracewire makes lives here, behind one crate-private seam,
//! [`Router`]:
//!
//! - `route`: rendezvous hashing of a trace id over the members able to
//!   take requests now ([`Route`]);
//! - `split`: reading a span's trace id from its encoded bytes, and
//!   splitting an encoded request by trace id, one request per member;
//! - [`Router`]: the two together as its users need them: which members
//!   are in the route ([`Router::fill`]), the member of a span body, of a
//!   framed span log record and of a trace id, and the split.
//!
//! Its users: the export worker (`batch`) routes each span of a batch as it
//! takes it, the fleet transport (`transport::fleet`, the I/O edge: one
//! exporter per member, health, DNS) fills the route and re-routes a failed
//! member's request, and the OpenTelemetry SDK adapter routes SDK spans.
//! They learn the members through the sealed `export::Members` trait.
//!
//! Sans-IO and pure computation: this module must never lock, read the
//! clock or do I/O; the per-span readers ([`Router::member_of_span`],
//! [`Router::member_of_framed`]) must not allocate. It never panics on any
//! input.
//!
//! ```
//! use tracewire::internal::fleet::{Route, Router, Standing};
//! let mut router = Router::default();
//! // Three members, the second one down: it is left out of the route.
//! router.fill([
//!     (Route::seed("10.0.0.1:4317"), Standing::Up),
//!     (Route::seed("10.0.0.2:4317"), Standing::Down),
//!     (Route::seed("10.0.0.3:4317"), Standing::Up),
//! ]);
//! let member = router.member_of_trace(&[7; 16]);
//! assert!(member == 0 || member == 2);
//! ```

mod route;
mod split;

pub use route::Route;
pub use split::{
    framed_span_trace_id, span_trace_id, split_request, SplitError, SplitPart, FRAMED_HEAD,
};

/// Whether a member can take requests now, as the fleet transport sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Answering: in the route.
    Up,
    /// Taken out of the route for a backoff after a failure; routed to
    /// only when no member is up.
    Down,
    /// No longer resolved (a `dns:///` name dropped its address): never
    /// routed to.
    Gone,
}

/// The members a batch's traces may go to, and the member of each span.
///
/// With no member or one, no trace id is read: every span goes to the one
/// member (or to member 0, an exporter that is not a fleet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Router {
    route: Route,
}

impl Router {
    /// The route: the members able to take requests now.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Fills the route from every member in order (its id is its index),
    /// each with its weight seed and its [`Standing`]: the members up; when
    /// none is, every member not gone (a fleet that is all down still
    /// routes each trace to one member, which then retries as a single
    /// collector would).
    ///
    /// ```
    /// use tracewire::internal::fleet::{Router, Standing};
    /// let mut router = Router::default();
    /// router.fill([(1, Standing::Down), (2, Standing::Down), (3, Standing::Gone)]);
    /// assert_eq!(router.route().len(), 2);
    /// router.fill([(1, Standing::Down), (2, Standing::Up)]);
    /// assert_eq!(router.route().len(), 1);
    /// assert_eq!(router.member_of_trace(&[0; 16]), 1);
    /// ```
    pub fn fill(&mut self, members: impl IntoIterator<Item = (u64, Standing)> + Clone) {
        self.route.clear();
        for (id, (seed, standing)) in members.clone().into_iter().enumerate() {
            if standing == Standing::Up {
                self.route.push(id, seed);
            }
        }
        if self.route.is_empty() {
            for (id, (seed, standing)) in members.into_iter().enumerate() {
                if standing != Standing::Gone {
                    self.route.push(id, seed);
                }
            }
        }
    }

    /// Forgets the route: every span goes to member 0 (an exporter that is
    /// not a fleet).
    pub fn clear(&mut self) {
        self.route.clear();
    }

    /// Whether spans must be told apart by trace id (more than one member
    /// in the route).
    #[inline]
    pub fn is_routing(&self) -> bool {
        self.route.len() > 1
    }

    /// How many bytes of each framed span log record the member reader
    /// needs ([`FRAMED_HEAD`] when routing, else none).
    #[inline]
    pub fn head_len(&self) -> usize {
        if self.is_routing() {
            FRAMED_HEAD
        } else {
            0
        }
    }

    /// The member a trace goes to: the only member when there is one (it
    /// may be any member of the fleet, not member 0), member 0 when the
    /// route is empty.
    ///
    /// Hot path (once per span when routing): no allocation, no lock.
    #[inline]
    pub fn member_of_trace(&self, trace_id: &[u8; 16]) -> usize {
        self.route.pick(trace_id)
    }

    /// The member of an encoded `Span` body (its first field its trace
    /// id; a span without one goes where the zero trace id goes).
    ///
    /// Hot path (once per moved span): no allocation, no lock.
    #[inline]
    pub fn member_of_span(&self, span: &[u8]) -> usize {
        self.member_of(|| span_trace_id(span))
    }

    /// The member of a framed span log record, from its first
    /// [`Router::head_len`] bytes.
    ///
    /// Hot path (once per span in the log): no allocation, no lock.
    #[inline]
    pub fn member_of_framed(&self, head: &[u8]) -> usize {
        self.member_of(|| framed_span_trace_id(head))
    }

    /// The member of the trace `trace_id` reads, read only when there is a
    /// choice (with one member or none, the answer does not depend on it).
    #[inline]
    fn member_of(&self, trace_id: impl FnOnce() -> Option<[u8; 16]>) -> usize {
        if self.is_routing() {
            self.route.pick(&trace_id().unwrap_or_default())
        } else {
            self.route.pick(&[0; 16])
        }
    }

    /// Splits an encoded request (`request`, after a reserved prefix of
    /// `prefix` bytes) into one request per member of the route, each with
    /// `prefix` bytes reserved in front; see [`split_request`].
    pub fn split(&self, request: &[u8], prefix: usize) -> Result<Vec<SplitPart>, SplitError> {
        split_request(request, prefix, |t| self.route.pick(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8) -> Vec<u8> {
        let mut b = vec![0x0a, 0x10];
        b.extend_from_slice(&[trace; 16]);
        b
    }

    fn framed(trace: u8) -> Vec<u8> {
        let body = span(trace);
        let mut out = vec![0x12, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn a_route_of_one_sends_everything_to_that_member_not_to_member_zero() {
        // Member 0 down, 2 gone, 1 up: every span goes to 1, whatever its
        // trace, without reading a trace id.
        let mut r = Router::default();
        r.fill([
            (10, Standing::Down),
            (11, Standing::Up),
            (12, Standing::Gone),
        ]);
        assert!(!r.is_routing());
        assert_eq!(r.head_len(), 0);
        for t in 0..20u8 {
            assert_eq!(r.member_of_span(&span(t)), 1);
            assert_eq!(r.member_of_framed(&framed(t)), 1);
            assert_eq!(r.member_of_framed(&[]), 1);
            assert_eq!(r.member_of_trace(&[t; 16]), 1);
        }
    }

    #[test]
    fn with_several_members_the_readers_agree_with_the_route() {
        let mut r = Router::default();
        r.fill((0..4u64).map(|i| (Route::seed(&format!("10.0.0.{i}:4317")), Standing::Up)));
        assert!(r.is_routing());
        assert_eq!(r.head_len(), FRAMED_HEAD);
        let mut seen = [false; 4];
        for t in 0..64u8 {
            let m = r.member_of_trace(&[t; 16]);
            assert_eq!(r.member_of_span(&span(t)), m);
            assert_eq!(r.member_of_framed(&framed(t)), m);
            seen[m] = true;
        }
        assert_eq!(seen, [true; 4], "64 traces reach each of 4 members");
    }

    #[test]
    fn an_empty_or_all_down_fleet() {
        let mut r = Router::default();
        assert_eq!(r.member_of_span(&span(1)), 0);
        assert_eq!(r.member_of_framed(&framed(1)), 0);
        r.fill([
            (1, Standing::Down),
            (2, Standing::Gone),
            (3, Standing::Down),
        ]);
        let route: Vec<usize> = (0..64u8).map(|t| r.member_of_trace(&[t; 16])).collect();
        assert_eq!(
            r.route().len(),
            2,
            "all down: every member not gone stays routable"
        );
        assert!(route.iter().all(|&m| m == 0 || m == 2), "{route:?}");
        r.clear();
        assert!(r.route().is_empty());
    }
}
