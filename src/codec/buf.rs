//! [`SpanBuf`]: the buffer a span is encoded into.
//!
//! A `Vec<u8>` pushed to byte by byte checks its capacity and stores its
//! length on every write; encoding a span that way spends more time in that
//! bookkeeping than in copying bytes. A `SpanBuf` keeps its storage at full
//! length (zero-filled once, when allocated) and writes through a cursor:
//! the encoder computes a field's exact size, takes that many bytes with
//! [`SpanBuf::claim`] (one bounds check), and fills them. It is entirely
//! safe code: the storage is always initialised.
//!
//! This module must never allocate except when a span outgrows its buffer
//! (then it doubles), and never hand out bytes past what was written.
//!
//! ```
//! use tracewire::internal::codec::buf::SpanBuf;
//!
//! let mut b = SpanBuf::with_capacity(8);
//! b.claim(3).copy_from_slice(b"abc");
//! b.extend_from_slice(b"defghijk"); // grows past 8
//! assert_eq!(b.as_slice(), b"abcdefghijk");
//! b.clear();
//! assert!(b.as_slice().is_empty() && b.capacity() >= 11);
//! ```

/// A span's encoded bytes, written through a cursor.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SpanBuf {
    /// Always fully initialised; `len` bytes of it are the span.
    bytes: Vec<u8>,
    len: usize,
}

impl std::fmt::Debug for SpanBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanBuf")
            .field("len", &self.len)
            .field("capacity", &self.bytes.len())
            .finish()
    }
}

impl SpanBuf {
    /// A buffer with `capacity` bytes of (zeroed) storage.
    pub fn with_capacity(capacity: usize) -> Self {
        SpanBuf {
            bytes: vec![0; capacity],
            len: 0,
        }
    }

    /// The bytes written so far.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The bytes written so far, mutably (to patch a reserved field).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        self.bytes.get_mut(..len).unwrap_or(&mut [])
    }

    /// How many bytes were written.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The storage size.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Forgets what was written, keeping the storage.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Forgets what was written but the first `n` bytes (reserved room),
    /// keeping the storage (grown to `n` if smaller).
    #[inline]
    pub fn reset_to(&mut self, n: usize) {
        if n > self.bytes.len() {
            self.grow(n);
        }
        self.len = n;
    }

    /// Keeps the first `len` bytes.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The next `n` bytes, to be filled by the caller; they count as
    /// written. Grows the storage (doubling) when needed.
    ///
    /// Hot path (runs per field): one comparison and a slice, no allocation
    /// unless the span outgrows its buffer.
    #[inline(always)]
    pub fn claim(&mut self, n: usize) -> &mut [u8] {
        let start = self.len;
        let end = start + n;
        if end > self.bytes.len() {
            self.grow(end);
        }
        self.len = end;
        &mut self.bytes[start..end]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, at_least: usize) {
        let new = (self.bytes.len() * 2).max(at_least).max(64);
        self.bytes.resize(new, 0);
    }

    /// Appends `data`.
    #[inline]
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.claim(data.len()).copy_from_slice(data);
    }

    /// Replaces the bytes in `start..end` with `with`, moving what follows.
    /// Out-of-range positions change nothing.
    pub fn splice(&mut self, start: usize, end: usize, with: &[u8]) {
        splice(self, start, end, with)
    }
}

/// Where a span's bytes are written: in exact sizes, each claimed and
/// filled in one step. [`SpanBuf`] is one; the recording path's other is a
/// span's slot in its thread's log, written in place.
///
/// The encoders take any sink, so the same code writes a span into its own
/// buffer or straight into the log.
///
/// Hot path (runs per field): implementations must not allocate but to
/// grow, lock or make a syscall.
///
/// ```
/// use tracewire::internal::codec::buf::{SpanBuf, SpanSink};
///
/// let mut b = SpanBuf::with_capacity(4);
/// SpanSink::claim(&mut b, 3).copy_from_slice(b"abc");
/// b.written_mut()[0] = b'A';
/// assert_eq!(b.as_slice(), b"Abc");
/// assert_eq!(SpanSink::len(&b), 3);
/// ```
pub trait SpanSink {
    /// Bytes written so far.
    fn len(&self) -> usize;
    /// Whether nothing was written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The next `n` bytes, to be filled by the caller; they count as
    /// written.
    fn claim(&mut self, n: usize) -> &mut [u8];
    /// Every byte written so far (to patch reserved bytes, or move some
    /// within).
    fn written_mut(&mut self) -> &mut [u8];
    /// Forgets what was written past `len`.
    fn truncate(&mut self, len: usize);
}

impl SpanSink for SpanBuf {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }
    #[inline(always)]
    fn claim(&mut self, n: usize) -> &mut [u8] {
        SpanBuf::claim(self, n)
    }
    #[inline]
    fn written_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        SpanBuf::truncate(self, len)
    }
}

/// Replaces the bytes in `start..end` of what `sink` holds with `with`,
/// moving what follows. Out-of-range positions change nothing.
pub(crate) fn splice<S: SpanSink + ?Sized>(sink: &mut S, start: usize, end: usize, with: &[u8]) {
    let len = sink.len();
    if start > end || end > len {
        return;
    }
    let new_end = start + with.len();
    if new_end > end {
        sink.claim(new_end - end);
    }
    let all = sink.written_mut();
    if all.len() < len.max(new_end + (len - end)) {
        // The sink could not grow: give back what was claimed.
        sink.truncate(len);
        return;
    }
    all.copy_within(end..len, new_end);
    all[start..new_end].copy_from_slice(with);
    if new_end < end {
        sink.truncate(len - (end - new_end));
    }
}

impl AsRef<[u8]> for SpanBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A SpanBuf behaves like a Vec<u8> under appends, truncation and
        /// splices.
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..40), any::<usize>(), any::<usize>()), 0..40), cap in 0usize..64) {
            let mut b = SpanBuf::with_capacity(cap);
            let mut v: Vec<u8> = Vec::new();
            for (op, data, x, y) in ops {
                match op {
                    0 => {
                        b.extend_from_slice(&data);
                        v.extend_from_slice(&data);
                    }
                    1 => {
                        let n = if v.is_empty() { 0 } else { x % (v.len() + 1) };
                        b.truncate(n);
                        v.truncate(n);
                    }
                    _ => {
                        if !v.is_empty() {
                            let (s, e) = { let a = x % (v.len() + 1); let c = y % (v.len() + 1); (a.min(c), a.max(c)) };
                            b.splice(s, e, &data);
                            v.splice(s..e, data.iter().copied());
                        }
                    }
                }
                prop_assert_eq!(b.as_slice(), &v[..]);
            }
        }
    }
}
