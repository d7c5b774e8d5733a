//! zstd request compression (exporter side), with the C reference library
//! through the `zstd` crate (feature `zstd`).
//!
//! Sans-IO: bytes in memory only. Each export thread keeps one compression
//! context (zstd's `CCtx`, about 1 MiB at level 1) and reuses it, so a
//! batch costs no context allocation. It must never run on a recording
//! path.

use std::cell::RefCell;

use bytes::BytesMut;

/// zstd's level: its fastest standard level; on the export path speed
/// matters more than the last percent of size (the Collector decodes any
/// level).
pub const LEVEL: i32 = 1;

thread_local! {
    /// This export thread's compression context, made on first use.
    static CONTEXT: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// Why a body could not be compressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// The zstd library refused (out of memory making its context).
    #[error("zstd compression failed: {0}")]
    Failed(String),
}

/// zstd-compresses `input` onto the end of `out`, as one frame with its
/// content size.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// tracewire::internal::codec::zstd::compress_into(&mut out, &[7u8; 4096]).unwrap();
/// assert_eq!(&out[..4], &[0x28, 0xb5, 0x2f, 0xfd]); // zstd's magic number
/// assert!(out.len() < 100);
/// ```
pub fn compress_into(out: &mut BytesMut, input: &[u8]) -> Result<(), CompressError> {
    let start = out.len();
    let bound = zstd::zstd_safe::compress_bound(input.len());
    out.resize(start + bound, 0);
    let written = CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let ctx = match c.as_mut() {
            Some(ctx) => ctx,
            None => c.insert(
                zstd::bulk::Compressor::new(LEVEL)
                    .map_err(|e| CompressError::Failed(e.to_string()))?,
            ),
        };
        ctx.compress_to_buffer(input, &mut out[start..])
            .map_err(|e| CompressError::Failed(e.to_string()))
    });
    match written {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_appends() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut out = BytesMut::from(&b"\0\0\0\0\0"[..]);
        compress_into(&mut out, &input).unwrap();
        assert_eq!(&out[..5], &[0; 5], "appended after what was there");
        assert_eq!(zstd::decode_all(&out[5..]).unwrap(), input);
        // The context is reused: a second body compresses the same way.
        let mut again = BytesMut::new();
        compress_into(&mut again, &input).unwrap();
        assert_eq!(&again[..], &out[5..]);
        let mut empty = BytesMut::new();
        compress_into(&mut empty, b"").unwrap();
        assert!(zstd::decode_all(&empty[..]).unwrap().is_empty());
    }
}
