//! gzip, both ways: compressing request bodies (exporter) and inflating
//! them within a limit (receiver), with flate2.
//!
//! Sans-IO: bytes in memory only. Inflating must never produce more than
//! the caller's limit, whatever the input claims (gzip bombs).

use std::io::Read as _;

use bytes::{BufMut, BytesMut};

/// gzip-compresses `input` into `out` (appending), at gzip's fastest level:
/// on the export path compression speed matters more than the last percent
/// of size.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// tracewire::internal::codec::gzip::compress_into(&mut out, b"spans");
/// assert_eq!(&out[..2], &[0x1f, 0x8b]);
/// ```
pub fn compress_into(out: &mut BytesMut, input: &[u8]) {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::fast());
    // Writing into memory cannot fail.
    let _ = enc.write_all(input);
    let _ = enc.finish();
}

/// Why a gzip body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The body inflates past the limit.
    #[error("decompressed body larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not valid gzip.
    #[error("invalid gzip body: {0}")]
    Invalid(String),
}

/// Inflates a gzip `body`, refusing to produce more than `limit` bytes.
///
/// ```
/// use tracewire::internal::codec::gzip::{compress_into, decompress, InflateError};
/// let mut packed = bytes::BytesMut::new();
/// compress_into(&mut packed, &[0u8; 4096]);
/// assert_eq!(decompress(&packed, 4096).unwrap().len(), 4096);
/// assert_eq!(decompress(&packed, 100), Err(InflateError::TooLarge(100)));
/// ```
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(body).take((limit as u64).saturating_add(1));
    d.read_to_end(&mut out)
        .map_err(|e| InflateError::Invalid(e.to_string()))?;
    if out.len() > limit {
        return Err(InflateError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_roundtrips() {
        use std::io::Read as _;
        let mut out = BytesMut::new();
        compress_into(&mut out, b"hello hello hello");
        let mut d = flate2::read::GzDecoder::new(&out[..]);
        let mut s = String::new();
        d.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello hello hello");
    }
}
