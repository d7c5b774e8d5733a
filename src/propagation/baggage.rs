//! W3C Baggage (<https://www.w3.org/TR/baggage/>): the `baggage` header,
//! checked and carried on unchanged.
//!
//! A proxy does not interpret baggage; it passes it on. [`Baggage::parse`]
//! checks each list member against the W3C grammar
//! (`key OWS "=" OWS value *( OWS ";" OWS property )`, the key a token, the
//! value baggage-octets) and keeps the valid ones, byte for byte, in order
//! (several `baggage` headers are one list, joined with `,`); an invalid
//! member is dropped alone, as the OpenTelemetry baggage propagator does. A
//! header list over 8,192 bytes or 180 members (the OpenTelemetry limits,
//! above W3C's minimum of 64 members) is dropped whole rather than cut at
//! an arbitrary member. A valid header is therefore injected exactly as it
//! came.
//!
//! Sans-IO: two allocations per request that carries baggage (the checked
//! list, then shared by whatever carries it on); none without.
//!
//! ```
//! use tracewire::propagation::baggage::Baggage;
//! let b = Baggage::parse([&b"userId=alice,serverNode=DF%2028;prio=1"[..]]);
//! assert_eq!(b.as_str(), "userId=alice,serverNode=DF%2028;prio=1");
//! assert_eq!(b.get("serverNode").as_deref(), Some("DF 28"));
//! ```

use std::borrow::Cow;
use std::sync::Arc;

/// The `baggage` header name.
pub const BAGGAGE: &str = "baggage";

/// The header name as an `http` value, made once (see
/// `trace_context::TRACEPARENT_HEADER`).
pub(super) const BAGGAGE_HEADER: http::HeaderName = http::HeaderName::from_static(BAGGAGE);
/// The most bytes a baggage list may have (all headers together).
pub const MAX_BAGGAGE_BYTES: usize = 8192;
/// The most members a baggage list may have.
pub const MAX_BAGGAGE_MEMBERS: usize = 180;

/// A request's W3C baggage: its valid list members, as received. Cheap to
/// clone (shared).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage(Option<Arc<str>>);

impl std::fmt::Debug for Baggage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Baggage({:?})", self.as_str())
    }
}

impl Baggage {
    /// No baggage.
    pub const EMPTY: Baggage = Baggage(None);

    /// Checks the values of a request's `baggage` headers (see the module
    /// docs); an empty `Baggage` when none is valid.
    ///
    /// ```
    /// use tracewire::propagation::baggage::Baggage;
    /// // The invalid member (a space in the key) is dropped, the rest kept.
    /// let b = Baggage::parse([&b"a=1,bad key=2"[..], b" c = 3 "]);
    /// assert_eq!(b.as_str(), "a=1,c = 3");
    /// assert!(Baggage::parse([&b"=x"[..]]).is_empty());
    /// ```
    pub fn parse<'a, I>(headers: I) -> Baggage
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut total = 0usize;
        let mut members = 0usize;
        let mut kept: Option<String> = None;
        for header in headers {
            total = total.saturating_add(header.len());
            if total > MAX_BAGGAGE_BYTES {
                return Baggage::EMPTY;
            }
            for member in header.split(|&c| c == b',') {
                let member = member.trim_ascii();
                if member.is_empty() {
                    continue;
                }
                members += 1;
                if members > MAX_BAGGAGE_MEMBERS {
                    return Baggage::EMPTY;
                }
                match std::str::from_utf8(member) {
                    Ok(m) if valid_member(m) => {
                        let out = kept.get_or_insert_with(String::new);
                        if !out.is_empty() {
                            out.push(',');
                        }
                        out.push_str(m);
                    }
                    _ => {}
                }
            }
        }
        match kept {
            Some(k) if !k.is_empty() => Baggage(Some(Arc::from(k))),
            _ => Baggage::EMPTY,
        }
    }

    /// The list as it will be injected (`""` when empty).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether there is no baggage.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The value of `key` (the first member with that key), percent-decoded
    /// (invalid UTF-8 replaced).
    ///
    /// ```
    /// use tracewire::propagation::baggage::Baggage;
    /// let b = Baggage::parse([&b"k=v%2Cw;p"[..]]);
    /// assert_eq!(b.get("k").as_deref(), Some("v,w"));
    /// assert_eq!(b.get("p"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.as_str().split(',').find_map(|member| {
            let value = member.split(';').next()?;
            let (k, v) = value.split_once('=')?;
            (k.trim() == key)
                .then(|| percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy())
        })
    }
}

/// RFC 9110 `tchar`: a token's characters.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// W3C `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `key OWS "=" OWS value` (`value` may be empty when `value_needed` is
/// false: a property may be a bare key).
fn valid_pair(s: &str, bare_key_ok: bool) -> bool {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (
            k.trim_end_matches(is_ows),
            Some(v.trim_start_matches(is_ows)),
        ),
        None if bare_key_ok => (s.trim_matches(is_ows), None),
        None => return false,
    };
    let key = key.trim_start_matches(is_ows);
    !key.is_empty()
        && key.bytes().all(is_tchar)
        && value.is_none_or(|v| v.trim_end_matches(is_ows).bytes().all(is_baggage_octet))
}

/// One list member (already trimmed).
fn valid_member(member: &str) -> bool {
    let mut parts = member.split(';');
    parts.next().is_some_and(|kv| valid_pair(kv, false)) && parts.all(|p| valid_pair(p, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_follow_the_w3c_grammar() {
        for ok in [
            "k=v",
            "k=",
            "k = v",
            "k=v;p",
            "k=v;p=1;q = 2",
            "SomeKey=%E6%97%A5",
            "a!#$%&'*+-.^_`|~=x",
        ] {
            assert!(valid_member(ok), "{ok}");
        }
        for bad in [
            "", "=v", "k", "k v=1", "k=v v", "k=\"v\"", "k=a\\b", "k=v;", "k=v;=1", "ké=v",
        ] {
            assert!(!valid_member(bad), "{bad}");
        }
    }

    #[test]
    fn kept_as_received_or_dropped_whole_over_the_limits() {
        let one = "userId=alice, serverNode=DF%2028;prio=1";
        assert_eq!(
            Baggage::parse([one.as_bytes()]).as_str(),
            "userId=alice,serverNode=DF%2028;prio=1"
        );
        let exact = "a=1,b=2;p";
        assert_eq!(Baggage::parse([exact.as_bytes()]).as_str(), exact);
        assert_eq!(Baggage::parse([&b"a=1"[..], b"b=2"]).as_str(), "a=1,b=2");
        assert!(Baggage::parse(std::iter::empty::<&[u8]>()).is_empty());
        let big = format!("k={}", "v".repeat(MAX_BAGGAGE_BYTES));
        assert!(Baggage::parse([big.as_bytes()]).is_empty());
        let many: Vec<String> = (0..=MAX_BAGGAGE_MEMBERS)
            .map(|i| format!("k{i}=v"))
            .collect();
        assert!(Baggage::parse([many.join(",").as_bytes()]).is_empty());
        let most = many[..MAX_BAGGAGE_MEMBERS].join(",");
        assert_eq!(Baggage::parse([most.as_bytes()]).as_str(), most);
        assert!(Baggage::parse([&b"\xff=1"[..]]).is_empty());
    }
}
