//! What each app of a root group costs in its compressed form: the bytes deflate spends on it in
//! the stream, given everything before it.
//!
//! Deleting one of many near-duplicate apps frees far less than its encoded length when Marathon
//! gzips the node: the app was mostly references back to its neighbours. One pass of deflate over
//! the encoded root, flushed after every app, measures that: the output an app's bytes add, in
//! the context deflate really saw. A partial flush ends a block (so the output is attributable)
//! but keeps the window, and costs about two bytes; blocks of one app are small enough that zlib
//! mostly picks fixed codes, so the figures run a little above the unflushed stream's: callers
//! scale them to a measured total. An estimate, never a size: what decides is always measured
//! with [`crate::Estimator`].

use flate2::{Compress, Compression, FlushCompress};

use crate::encoded_tree::{EncodedApp, EncodedGroup};

/// One app's raw field and what deflate spent on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppShare {
    pub id: String,
    /// The app's field in its group (`ServiceDefinition` with its tag and length).
    pub raw_bytes: usize,
    /// The deflate output its bytes (and the few group bytes just before them) added.
    pub deflated_bytes: usize,
    /// What deleting it would save, estimated: its share, except for the app that opens the
    /// stream, whose successor then has nothing to refer back to (its share less what the next
    /// app then costs more).
    pub deletion_bytes: usize,
}

/// Every app's share, in the order the group is written, and the whole stream's deflated length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shares {
    pub apps: Vec<AppShare>,
    /// The deflate output of the whole group, flushes included.
    pub deflated_total: usize,
}

/// Deflates `root` (level 6, as Java) once, flushing after each app.
pub fn app_shares(root: &EncodedGroup) -> Shares {
    let mut bytes = Vec::with_capacity(root.len());
    let mut ends: Vec<(String, usize, usize)> = Vec::new();
    root.write_to_tracking(&mut bytes, &mut |app: &EncodedApp, start, end| ends.push((app.id().to_string(), start, end)), &mut |_, _| {});
    let mut deflater = Compress::new(Compression::new(6), false);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut apps = Vec::with_capacity(ends.len());
    let mut spans = Vec::with_capacity(ends.len());
    let mut fed = 0;
    for (id, start, end) in ends {
        let before = deflater.total_out() as usize;
        feed(&mut deflater, &bytes[fed..end], &mut scratch, FlushCompress::Partial);
        fed = end;
        let deflated_bytes = deflater.total_out() as usize - before;
        apps.push(AppShare { id, raw_bytes: end - start, deflated_bytes, deletion_bytes: deflated_bytes });
        spans.push((start, end));
    }
    feed(&mut deflater, &bytes[fed..], &mut scratch, FlushCompress::Finish);
    if let (Some(&(start, end)), true) = (spans.get(1), apps.len() > 1) {
        let alone = deflated_alone(&bytes[start..end], &mut scratch);
        apps[0].deletion_bytes = (apps[0].deflated_bytes + apps[1].deflated_bytes).saturating_sub(alone);
    }
    Shares { apps, deflated_total: deflater.total_out() as usize }
}

/// What deflate spends on each of `apps` (encoded `ServiceDefinition`s) written one after the
/// other as a group's app fields, flushing after each: to compare the same apps in two versions
/// (e.g. with and without their environment), each in the context of its own version's
/// neighbours.
pub fn field_shares<'a>(apps: impl IntoIterator<Item = &'a [u8]>) -> Vec<usize> {
    let mut deflater = Compress::new(Compression::new(6), false);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut field = Vec::new();
    apps.into_iter()
        .map(|app| {
            field.clear();
            crate::wire::put_bytes(&mut field, 3, app);
            let before = deflater.total_out() as usize;
            feed(&mut deflater, &field, &mut scratch, FlushCompress::Partial);
            deflater.total_out() as usize - before
        })
        .collect()
}

/// `data` deflated on its own.
fn deflated_alone(data: &[u8], scratch: &mut [u8]) -> usize {
    let mut deflater = Compress::new(Compression::new(6), false);
    feed(&mut deflater, data, scratch, FlushCompress::Finish);
    deflater.total_out() as usize
}

/// Runs `input` through the deflater with `flush`, discarding the output (only its length
/// counts): until the input is consumed and the flush has written everything.
fn feed(deflater: &mut Compress, input: &[u8], scratch: &mut [u8], flush: FlushCompress) {
    let start = deflater.total_in() as usize;
    loop {
        let consumed = deflater.total_in() as usize - start;
        let out_before = deflater.total_out();
        let status = deflater.compress(&input[consumed..], scratch, flush).expect("deflate on an in-memory buffer cannot fail");
        let filled = (deflater.total_out() - out_before) as usize == scratch.len();
        let done = deflater.total_in() as usize - start == input.len() && !filled;
        if done || status == flate2::Status::StreamEnd {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip::{java_gzip_len, GZIP_FRAME_BYTES};
    use crate::service_definition::AppFlavor;

    #[test]
    fn shares_add_up_near_the_real_stream_and_duplicates_cost_little() {
        let root = crate::synthetic::heroku_root(200, 20);
        let encoded = EncodedGroup::legacy(&root, AppFlavor::V13);
        let shares = app_shares(&encoded);
        assert_eq!(shares.apps.len(), 200);
        let real = java_gzip_len(&encoded.to_bytes()) - GZIP_FRAME_BYTES;
        let sum: usize = shares.apps.iter().map(|a| a.deflated_bytes).sum();
        assert!(sum <= shares.deflated_total);
        // Flushes cost a little; the figures stay close to the unflushed stream.
        assert!(shares.deflated_total as f64 <= real as f64 * 1.15, "{} vs {real}", shares.deflated_total);
        assert!(shares.deflated_total >= real, "{} vs {real}", shares.deflated_total);
        // Random hex compresses to about half; every app costs something.
        for a in &shares.apps {
            assert!(a.deflated_bytes > 0 && a.deflated_bytes < a.raw_bytes, "{a:?}");
        }
    }

    #[test]
    fn fields_alone_cost_as_in_their_group() {
        let root = crate::synthetic::heroku_root(50, 10);
        let encoded = EncodedGroup::legacy(&root, AppFlavor::V13);
        let shares = app_shares(&encoded);
        let mut apps: Vec<&[u8]> = Vec::new();
        encoded.visit(&mut |g| apps.extend(g.apps.iter().map(|a| &a.bytes[..])));
        let fields = field_shares(apps);
        assert_eq!(fields.len(), shares.apps.len());
        // The same bytes but for a few group headers: the same figures within a few bytes each.
        for (f, s) in fields.iter().zip(&shares.apps) {
            assert!(f.abs_diff(s.deflated_bytes) <= 32, "{f} vs {s:?}");
        }
    }

    #[test]
    fn a_near_duplicate_costs_a_fraction_of_its_first_copy() {
        let mut root = marathon_model::Group::empty_root();
        let apps: Vec<marathon_model::SharedApp> = (0..3)
            .map(|i| {
                let mut a = crate::synthetic::app(&format!("/twin-{i}"), 40, 7);
                a.id = Some(format!("/twin-{i}"));
                marathon_model::SharedApp::new(a)
            })
            .collect();
        root.apps = Some(apps.into());
        let shares = app_shares(&EncodedGroup::legacy(&root, AppFlavor::V13));
        let first = shares.apps.iter().map(|a| a.deflated_bytes).max().unwrap();
        let last = shares.apps.iter().map(|a| a.deflated_bytes).min().unwrap();
        assert!(last * 10 < first, "{:?}", shares.apps);
        // Deleting the first twin frees little: the second one then opens the stream.
        assert_eq!(shares.apps[0].deflated_bytes, first);
        assert!(shares.apps[0].deletion_bytes * 5 < first, "{:?}", shares.apps);
        assert_eq!(shares.apps[1].deletion_bytes, shares.apps[1].deflated_bytes);
    }
}
