//! The bytes of an encoded root without a second copy of its apps.
//!
//! The warm state needs windows of the root's bytes (deflate's 32 KiB of context before a changed
//! app), not the root as one buffer: the apps' fields are already held once, as each app's own
//! encoding. So the root is kept as pieces: an app's field refers to that encoding, and only the
//! few bytes between apps (group headers, dependencies) are owned here.

use std::sync::Arc;

use crate::wire::put_bytes;

pub struct PiecedBytes {
    len: usize,
    /// Ordered by `start`; together they cover `0..len` without gaps.
    pieces: Vec<Piece>,
}

struct Piece {
    start: usize,
    bytes: PieceBytes,
}

enum PieceBytes {
    Own(Box<[u8]>),
    /// A `GroupDefinition.apps` field (number 3) holding these `ServiceDefinition` bytes.
    AppField(Arc<[u8]>),
}

impl PiecedBytes {
    /// `full`, with each span `(start, end, app)` of `apps` (in order, not overlapping) being the
    /// apps field of `app`.
    pub fn new(full: &[u8], apps: &[(usize, usize, Arc<[u8]>)]) -> PiecedBytes {
        let mut pieces = Vec::with_capacity(apps.len() * 2 + 1);
        let mut at = 0;
        let own = |from: usize, to: usize, pieces: &mut Vec<Piece>| {
            if to > from {
                pieces.push(Piece { start: from, bytes: PieceBytes::Own(full[from..to].into()) });
            }
        };
        for (start, end, app) in apps {
            own(at, *start, &mut pieces);
            pieces.push(Piece { start: *start, bytes: PieceBytes::AppField(app.clone()) });
            at = *end;
        }
        own(at, full.len(), &mut pieces);
        PiecedBytes { len: full.len(), pieces }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The bytes `lo..hi` (clamped to the end).
    pub fn range(&self, lo: usize, hi: usize) -> Vec<u8> {
        let hi = hi.min(self.len);
        if lo >= hi {
            return Vec::new();
        }
        let first = self.pieces.partition_point(|p| p.start <= lo) - 1;
        let base = self.pieces[first].start;
        let mut buf = Vec::with_capacity(hi - base + 16);
        for piece in &self.pieces[first..] {
            if piece.start >= hi {
                break;
            }
            match &piece.bytes {
                PieceBytes::Own(b) => buf.extend_from_slice(b),
                PieceBytes::AppField(app) => put_bytes(&mut buf, 3, app),
            }
        }
        buf.truncate(hi - base);
        buf.drain(..lo - base);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_reads_as_the_full_buffer() {
        let apps: Vec<Arc<[u8]>> = vec![vec![7u8; 5].into(), vec![9u8; 200].into(), vec![1u8; 3].into()];
        let mut full = vec![0xAA, 0xBB];
        let mut spans = Vec::new();
        for (i, app) in apps.iter().enumerate() {
            let start = full.len();
            put_bytes(&mut full, 3, app);
            spans.push((start, full.len(), app.clone()));
            if i == 1 {
                full.extend_from_slice(&[0x22; 4]);
            }
        }
        full.push(0xCC);
        let pieced = PiecedBytes::new(&full, &spans);
        assert_eq!(pieced.len(), full.len());
        for lo in 0..=full.len() {
            for hi in lo..=full.len() + 2 {
                assert_eq!(pieced.range(lo, hi), full[lo..hi.min(full.len())], "{lo}..{hi}");
            }
        }
    }
}
