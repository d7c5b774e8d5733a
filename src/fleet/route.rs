//! Routing traces across a fleet of collectors: rendezvous (highest random
//! weight) hashing of the trace id over the members that can take requests
//! now.
//!
//! Every span of a trace goes to the same member while the member set is
//! unchanged, so a tail-sampling collector sees whole traces. Rendezvous
//! hashing was chosen over a hash ring because, with the handful of
//! collectors a fleet has (2 to a few dozen), it needs no ring or virtual
//! nodes to spread evenly, it moves only the traces of a member that leaves
//! (each to its own next choice, spread over the others, not all onto one
//! neighbour), and "the next member in hash order" is simply the second
//! highest score. A member's weight seed comes from its address, so every
//! process (every proxy of a fleet) sends a trace to the same collector.
//!
//! Pure computation: this module must never lock, allocate per span, read
//! the clock or do I/O. [`Route::pick`] runs once per span on the export
//! worker (not on recording threads).
//!
//! ```
//! use tracewire::internal::fleet::Route;
//! let mut route = Route::default();
//! for (id, addr) in ["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"].iter().enumerate() {
//!     route.push(id, Route::seed(addr));
//! }
//! let trace = [7u8; 16];
//! let member = route.pick(&trace);
//! assert!(member < 3);
//! assert_eq!(route.pick(&trace), member); // the same trace, the same member
//! ```

/// The members able to take requests now, each with its weight seed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    members: Vec<(usize, u64)>,
}

impl Route {
    /// The weight seed of a member, from its address (`host:port`, a unix
    /// socket path, ...): the same in every process.
    ///
    /// ```
    /// use tracewire::internal::fleet::Route;
    /// assert_eq!(Route::seed("10.0.0.1:4317"), Route::seed("10.0.0.1:4317"));
    /// assert_ne!(Route::seed("10.0.0.1:4317"), Route::seed("10.0.0.2:4317"));
    /// ```
    pub fn seed(address: &str) -> u64 {
        // FNV-1a, then a finalizer: stable across processes and versions.
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in address.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        mix(h)
    }

    /// Forgets every member.
    pub fn clear(&mut self) {
        self.members.clear();
    }

    /// Adds member `id` with weight seed `seed` (see [`Route::seed`]).
    pub fn push(&mut self, id: usize, seed: u64) {
        self.members.push((id, seed));
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member a trace goes to: the highest score; 0 when there is no
    /// member.
    ///
    /// Hot path (once per span on the export worker): no allocation, no
    /// lock, no clock.
    #[inline]
    pub fn pick(&self, trace_id: &[u8; 16]) -> usize {
        let key = trace_key(trace_id);
        let mut best = (0usize, 0u64);
        let mut first = true;
        for &(id, seed) in &self.members {
            let score = score(key, seed);
            if first || score > best.1 {
                best = (id, score);
                first = false;
            }
        }
        best.0
    }

    /// The members in a trace's hash order: its first choice, then the next.
    ///
    /// ```
    /// use tracewire::internal::fleet::Route;
    /// let mut route = Route::default();
    /// route.push(0, Route::seed("a:1"));
    /// route.push(1, Route::seed("b:1"));
    /// let order = route.order(&[1; 16]);
    /// assert_eq!(order[0], route.pick(&[1; 16]));
    /// assert_eq!(order.len(), 2);
    /// ```
    pub fn order(&self, trace_id: &[u8; 16]) -> Vec<usize> {
        let key = trace_key(trace_id);
        let mut scored: Vec<(u64, usize)> = self
            .members
            .iter()
            .map(|&(id, seed)| (score(key, seed), id))
            .collect();
        scored.sort_unstable_by(|a, b| b.cmp(a));
        scored.into_iter().map(|(_, id)| id).collect()
    }
}

/// The trace id folded into 64 bits (both halves: W3C guarantees
/// randomness only in the low 7 bytes, other generators in all 16), then
/// mixed once, so that a member's score needs one multiplication.
#[inline]
fn trace_key(t: &[u8; 16]) -> u64 {
    let hi = u64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
    let lo = u64::from_be_bytes([t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]);
    mix(lo ^ hi.rotate_left(29))
}

/// A member's weight for a (mixed) trace key: the key and the member's
/// seed combined by one odd multiplication, its high bits folded down.
#[inline]
fn score(key: u64, seed: u64) -> u64 {
    let x = (key ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// SplitMix64's finalizer: every input bit affects every output bit.
#[inline]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Route {
        let mut r = Route::default();
        for i in 0..n {
            r.push(i, Route::seed(&format!("10.0.0.{i}:4317")));
        }
        r
    }

    fn trace(i: u64) -> [u8; 16] {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&mix(i).to_be_bytes());
        t[8..].copy_from_slice(&mix(i ^ 0x55).to_be_bytes());
        t
    }

    #[test]
    fn spreads_evenly() {
        let r = fleet(3);
        let mut counts = [0u32; 3];
        for i in 0..30_000 {
            counts[r.pick(&trace(i))] += 1;
        }
        for c in counts {
            assert!((9_000..=11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_traces_and_spreads_them() {
        let all = fleet(4);
        let mut without = Route::default();
        for i in [0usize, 1, 3] {
            without.push(i, Route::seed(&format!("10.0.0.{i}:4317")));
        }
        let mut moved_to = [0u32; 4];
        for i in 0..20_000 {
            let t = trace(i);
            let before = all.pick(&t);
            let after = without.pick(&t);
            if before == 2 {
                assert_ne!(after, 2);
                // Its next choice in hash order.
                assert_eq!(after, all.order(&t)[1]);
                moved_to[after] += 1;
            } else {
                assert_eq!(before, after, "a trace of a member still there moved");
            }
        }
        for i in [0usize, 1, 3] {
            assert!(moved_to[i] > 1_000, "{moved_to:?}");
        }
    }

    #[test]
    fn an_empty_route_picks_zero_and_one_member_picks_it() {
        assert_eq!(Route::default().pick(&[9; 16]), 0);
        let mut r = Route::default();
        r.push(5, 1);
        assert_eq!(r.pick(&[9; 16]), 5);
    }

    #[test]
    fn the_seed_is_stable() {
        // Pinned: processes of different versions must agree.
        assert_eq!(Route::seed(""), mix(0xcbf2_9ce4_8422_2325));
        assert_eq!(fleet(3).pick(&[0; 16]), fleet(3).pick(&[0; 16]));
    }
}
