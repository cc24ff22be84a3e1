//! gzip exactly as `java.util.zip.GZIPOutputStream` writes it (Marathon's `IO.gzipCompress`).
//!
//! Java deflates with the system zlib at level 6 (`DEFAULT_COMPRESSION`), raw deflate (`nowrap`),
//! window 15, memory level 8, default strategy, no sync flush: one `write`, then `finish`. The frame
//! is a 10-byte header (mtime 0, OS byte 0 on JDK 8), the deflate stream, then CRC-32 and the input
//! length. flate2 on the zlib backend produces the same deflate stream byte for byte (checked against
//! `java` in the tests); a pure-Rust deflate (miniz_oxide) would not.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Header and trailer bytes around the deflate stream.
pub const GZIP_FRAME_BYTES: usize = 18;

/// The complete gzip member Java would write for `data`.
pub fn java_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0]);
    raw_deflate_into(data, &mut out);
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The length of [`java_gzip`]'s output, without keeping it.
pub fn java_gzip_len(data: &[u8]) -> usize {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    raw_deflate_into(data, &mut out);
    out.len() + GZIP_FRAME_BYTES
}

fn raw_deflate_into(data: &[u8], out: &mut Vec<u8>) {
    deflate_into(&mut Compress::new(Compression::new(6), false), data, out);
}

/// Runs `deflater` over all of `data` to the end of the stream, appending to `out`.
pub(crate) fn deflate_into(deflater: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    let start_in = deflater.total_in() as usize;
    loop {
        let consumed = deflater.total_in() as usize - start_in;
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let status = deflater
            .compress_vec(&data[consumed..], out, FlushCompress::Finish)
            .expect("deflate on an in-memory buffer cannot fail");
        if status == Status::StreamEnd {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips_through_a_gzip_reader() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let gz = java_gzip(&data);
        assert_eq!(gz.len(), java_gzip_len(&data));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn empty_input_is_a_valid_member() {
        assert_eq!(java_gzip(b"").len(), 20);
    }
}
