//! The binding node's size over time: what the budget page draws under the limit and the warning
//! level, and what `report --history` measures the growth of the last days from. A wall seen
//! coming weeks ahead is a cleanup planned, not an outage.
//!
//! Pure: the caller passes the time, and reading and writing the file are in
//! [`super::binding_history_file`]. The size is a step function: a point is added only when the
//! size changes, and holds until the next one.
//!
//! Bounded: beyond [`Bounds::max_points`], points are merged into time buckets aligned to a
//! ladder of widths (1 minute up to 28 days, each a multiple of the one before, so that merging
//! again at a coarser width never splits an earlier bucket). Each bucket keeps its minimum, its
//! maximum and its last value, so a peak is never averaged away. Points of the last
//! [`Bounds::full_resolution_ms`] are merged only when the older ones, at the coarsest width,
//! still do not leave room for them.

use serde::{Deserialize, Serialize};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Bucket widths, finest first; each divides the next.
const LADDER_MS: [i64; 8] = [MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS, 28 * DAY_MS];

/// Below this much history, a rate per day would be noise: the growth is given, not its rate.
pub const MIN_SPAN_FOR_RATE_MS: i64 = HOUR_MS;

/// "The growth of the last days", unless asked otherwise.
pub const GROWTH_WINDOW_MS: i64 = 7 * DAY_MS;

/// The version of the file format (`version` in the JSON).
pub const FORMAT_VERSION: u32 = 1;

/// How much history is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// At most this many points, however long the history.
    pub max_points: usize,
    /// Points younger than this are kept unmerged while the older ones can make room.
    pub full_resolution_ms: i64,
}

impl Default for Bounds {
    /// 3,000 points (about 100 KB of JSON): a day of changes at full resolution on any real
    /// Marathon, and years of buckets behind it.
    fn default() -> Self {
        Bounds { max_points: 3000, full_resolution_ms: DAY_MS }
    }
}

/// One sample, or consecutive samples merged. Serialized as `[t, bytes, min, max]` to keep the
/// file and the page's JSON small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(i64, u64, u64, u64)", into = "(i64, u64, u64, u64)")]
pub struct Point {
    /// Unix time in milliseconds of the (last) sample.
    pub t: i64,
    /// The size from `t` on.
    pub bytes: u64,
    /// The smallest and the largest size among the samples merged into this point.
    pub min: u64,
    pub max: u64,
}

impl From<(i64, u64, u64, u64)> for Point {
    fn from((t, bytes, min, max): (i64, u64, u64, u64)) -> Self {
        Point { t, bytes, min, max }
    }
}

impl From<Point> for (i64, u64, u64, u64) {
    fn from(p: Point) -> Self {
        (p.t, p.bytes, p.min, p.max)
    }
}

impl Point {
    fn sample(t: i64, bytes: u64) -> Point {
        Point { t, bytes, min: bytes, max: bytes }
    }

    /// `self` followed by `later`, as one point.
    fn absorb(&mut self, later: &Point) {
        self.t = later.t;
        self.bytes = later.bytes;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
    }
}

/// The levels the size is compared with, as of the last sample (the limit follows the Marathon
/// behind, the others `[admission]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Levels {
    /// ZooKeeper's limit for the binding node.
    pub limit_bytes: u64,
    /// Where admission starts refusing growing writes (the limit minus the margin): the wall.
    pub reject_at_bytes: u64,
    /// Where admitted writes start carrying a warning.
    pub warn_at_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub version: u32,
    #[serde(flatten)]
    pub levels: Levels,
    /// Oldest first, `t` never decreasing, consecutive sizes different.
    pub points: Vec<Point>,
    #[serde(skip, default)]
    bounds: Bounds,
}

/// How the size moved over the last days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Growth {
    /// The window measured: from the later of (now - the window asked for) and the first point.
    pub from_t: i64,
    pub to_t: i64,
    pub from_bytes: u64,
    pub to_bytes: u64,
    /// `to_bytes - from_bytes`.
    pub growth_bytes: i64,
    /// Over the window; absent below [`MIN_SPAN_FOR_RATE_MS`] of history.
    pub bytes_per_day: Option<f64>,
    /// At that rate, days until `reject_at_bytes`; 0 when already there; absent when not growing.
    pub days_to_wall: Option<f64>,
}

impl Growth {
    pub fn days(&self) -> f64 {
        (self.to_t - self.from_t) as f64 / DAY_MS as f64
    }

    /// One sentence, as the budget page and `report --history` print it; `wall` is where
    /// admission refuses growing writes.
    pub fn summary(&self, wall: u64) -> String {
        let moved = format!("{:+} bytes over the last {}", self.growth_bytes, span(self.to_t - self.from_t));
        let Some(rate) = self.bytes_per_day else {
            return format!("{moved}; too little history for a rate (it takes an hour)");
        };
        let outlook = match self.days_to_wall {
            Some(d) if d <= 0.0 => format!("at the wall already ({wall} bytes): admission refuses growing writes"),
            Some(d) if d < 1.0 => format!("at this rate the wall ({wall} bytes, where admission refuses growing writes) is less than a day away"),
            Some(d) => format!("at this rate the wall ({wall} bytes, where admission refuses growing writes) is {d:.0} days away"),
            None => "not growing: no wall ahead".to_string(),
        };
        format!("{moved} ({:+.0} bytes a day): {outlook}", rate)
    }
}

/// `ms` for people: seconds, minutes, hours or days.
fn span(ms: i64) -> String {
    let count = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    match ms {
        ms if ms < MINUTE_MS => count(ms / 1000, "second"),
        ms if ms < HOUR_MS => count(ms / MINUTE_MS, "minute"),
        ms if ms < 2 * DAY_MS => format!("{:.1} hours", ms as f64 / HOUR_MS as f64),
        ms => format!("{:.1} days", ms as f64 / DAY_MS as f64),
    }
}

impl History {
    pub fn new(bounds: Bounds) -> History {
        History { version: FORMAT_VERSION, levels: Levels::default(), points: Vec::new(), bounds }
    }

    /// The history a file holds, checked and fitted to `bounds`.
    pub fn from_json(text: &str, bounds: Bounds) -> Result<History, String> {
        let mut h: History = serde_json::from_str(text).map_err(|e| format!("not a history file: {e}"))?;
        if h.version != FORMAT_VERSION {
            return Err(format!("format version {} (this binary reads {FORMAT_VERSION})", h.version));
        }
        if let Some(w) = h.points.windows(2).find(|w| w[1].t < w[0].t) {
            return Err(format!("points out of time order at t={}", w[1].t));
        }
        if let Some(p) = h.points.iter().find(|p| !(p.min <= p.bytes && p.bytes <= p.max)) {
            return Err(format!("a point whose size is outside its own min..max at t={}", p.t));
        }
        h.bounds = bounds;
        let now = h.points.last().map_or(0, |p| p.t);
        h.compact(now);
        Ok(h)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a history serializes")
    }

    /// `GET /admission/v1/history`: the file's fields, the time `now` it answers for (the last
    /// size holds until then) and the growth over [`GROWTH_WINDOW_MS`] (null without points).
    pub fn answer(&self, now: i64) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a history serializes");
        v["now"] = now.into();
        let growth = self.growth(now, GROWTH_WINDOW_MS);
        v["growth"] = serde_json::to_value(growth).expect("growth serializes");
        if let Some(g) = growth {
            v["growth"]["summary"] = g.summary(self.levels.reject_at_bytes).into();
        }
        v
    }

    /// Records the size at `t` (unix ms). Returns whether anything changed (a new point or new
    /// levels): what is worth saving.
    pub fn record(&mut self, t: i64, bytes: u64, levels: Levels) -> bool {
        let levels_changed = self.levels != levels;
        self.levels = levels;
        match self.points.last() {
            Some(last) if last.bytes == bytes => return levels_changed,
            // A clock stepped back (or a file from a host ahead of this one): keep time in order.
            Some(last) => {
                let t = t.max(last.t);
                self.points.push(Point::sample(t, bytes));
            }
            None => self.points.push(Point::sample(t, bytes)),
        }
        self.compact(t);
        true
    }

    /// The size at `t`: the last point at or before it (the first point's before it).
    pub fn bytes_at(&self, t: i64) -> Option<u64> {
        let i = self.points.partition_point(|p| p.t <= t);
        self.points.get(i.saturating_sub(1)).map(|p| p.bytes)
    }

    /// The growth over the last `window_ms` before `now` (or over the whole history, if shorter).
    pub fn growth(&self, now: i64, window_ms: i64) -> Option<Growth> {
        let first = self.points.first()?;
        let last = self.points.last()?;
        let to_t = now.max(last.t);
        let from_t = (to_t - window_ms).max(first.t);
        let from_bytes = self.bytes_at(from_t)?;
        let to_bytes = last.bytes;
        let growth_bytes = to_bytes as i64 - from_bytes as i64;
        let span = to_t - from_t;
        let bytes_per_day = (span >= MIN_SPAN_FOR_RATE_MS).then(|| growth_bytes as f64 * DAY_MS as f64 / span as f64);
        let wall = self.levels.reject_at_bytes;
        let days_to_wall = match bytes_per_day {
            _ if wall > 0 && to_bytes >= wall => Some(0.0),
            Some(rate) if rate > 0.0 && wall > 0 => Some((wall - to_bytes) as f64 / rate),
            _ => None,
        };
        Some(Growth { from_t, to_t, from_bytes, to_bytes, growth_bytes, bytes_per_day, days_to_wall })
    }

    /// Merges points until at most `max_points` are left (see the module documentation).
    fn compact(&mut self, now: i64) {
        let max = self.bounds.max_points.max(1);
        if self.points.len() <= max {
            return;
        }
        for cutoff in [now.saturating_sub(self.bounds.full_resolution_ms), i64::MAX] {
            for width in LADDER_MS {
                merge_buckets(&mut self.points, cutoff, width);
                if self.points.len() <= max {
                    return;
                }
            }
        }
        // Only a handful of points allowed: the oldest go.
        let excess = self.points.len() - max;
        self.points.drain(..excess);
    }
}

/// Merges consecutive points older than `cutoff` that fall into the same `width`-aligned bucket.
fn merge_buckets(points: &mut Vec<Point>, cutoff: i64, width: i64) {
    let mut out: Vec<Point> = Vec::with_capacity(points.len());
    for p in points.drain(..) {
        match out.last_mut() {
            Some(prev) if p.t < cutoff && prev.t.div_euclid(width) == p.t.div_euclid(width) => prev.absorb(&p),
            _ => out.push(p),
        }
    }
    *points = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: Levels = Levels { limit_bytes: 1_000_000, reject_at_bytes: 990_000, warn_at_bytes: 800_000 };

    fn small(max_points: usize) -> History {
        History::new(Bounds { max_points, full_resolution_ms: DAY_MS })
    }

    #[test]
    fn only_changes_are_recorded() {
        let mut h = small(100);
        assert!(h.record(1_000, 500, LEVELS));
        assert!(!h.record(2_000, 500, LEVELS), "the same size again is no news");
        assert!(h.record(3_000, 600, LEVELS));
        let limit_raised = Levels { limit_bytes: 2_000_000, ..LEVELS };
        assert!(h.record(4_000, 600, limit_raised), "new levels are worth saving");
        assert_eq!(h.points, vec![Point::sample(1_000, 500), Point::sample(3_000, 600)]);
        assert_eq!(h.levels, limit_raised);
        assert_eq!((h.bytes_at(0), h.bytes_at(2_999), h.bytes_at(3_000), h.bytes_at(9_999)), (Some(500), Some(500), Some(600), Some(600)));
    }

    #[test]
    fn a_clock_stepping_back_keeps_time_in_order() {
        let mut h = small(100);
        h.record(10_000, 1, LEVELS);
        h.record(5_000, 2, LEVELS);
        assert_eq!(h.points.iter().map(|p| p.t).collect::<Vec<_>>(), vec![10_000, 10_000]);
    }

    /// A change every minute for 30 days: the last day stays at full resolution, the rest is
    /// merged, the peaks survive as bucket maxima, and the size stays bounded.
    #[test]
    fn a_month_of_changes_every_minute_stays_bounded_with_the_last_day_intact() {
        let mut h = small(3000);
        let start = 1_700_000_000_000i64;
        let minutes = 30 * 24 * 60;
        for m in 0..minutes {
            // Grows 10 bytes a minute, with a spike of +5,000 once, 20 days ago.
            let spike = if m == minutes - 20 * 24 * 60 { 5_000 } else { 0 };
            h.record(start + m * MINUTE_MS, 100_000 + 10 * m as u64 + spike, LEVELS);
            assert!(h.points.len() <= 3000);
        }
        let now = start + (minutes - 1) * MINUTE_MS;
        let recent = h.points.iter().filter(|p| p.t > now - DAY_MS).count();
        assert_eq!(recent, 24 * 60, "every change of the last day");
        assert!(h.points.iter().filter(|p| p.t > now - DAY_MS).all(|p| p.min == p.max));
        let peak = 100_000 + 10 * (minutes - 20 * 24 * 60) as u64 + 5_000;
        assert!(h.points.iter().any(|p| p.max == peak), "the spike survives the merging");
        assert_eq!(h.points.first().unwrap().min, 100_000, "the oldest value survives too");
        assert_eq!(h.points.last().unwrap().bytes, 100_000 + 10 * (minutes - 1) as u64);
        assert!(h.points.windows(2).all(|w| w[0].t <= w[1].t));
        // The growth of the last 7 days: 10 bytes a minute.
        let g = h.growth(now, 7 * DAY_MS).unwrap();
        assert!((g.bytes_per_day.unwrap() - 14_400.0).abs() < 200.0, "{g:?}");
    }

    #[test]
    fn too_many_recent_changes_merge_the_recent_ones_too() {
        let mut h = small(100);
        for s in 0..1000 {
            h.record(s * 1000, s as u64, LEVELS);
        }
        assert!(h.points.len() <= 100, "{}", h.points.len());
        assert_eq!(h.points.last().unwrap().bytes, 999);
        assert_eq!(h.points.first().unwrap().min, 0);
    }

    #[test]
    fn merging_again_at_the_same_or_a_finer_width_changes_nothing() {
        let mut points: Vec<Point> = (0..500).map(|i| Point::sample(i * 7 * MINUTE_MS, i as u64 % 13)).collect();
        merge_buckets(&mut points, i64::MAX, HOUR_MS);
        let once = points.clone();
        merge_buckets(&mut points, i64::MAX, HOUR_MS);
        merge_buckets(&mut points, i64::MAX, 15 * MINUTE_MS);
        assert_eq!(points, once);
        for w in LADDER_MS.windows(2) {
            assert_eq!(w[1] % w[0], 0, "each width divides the next");
        }
    }

    #[test]
    fn growth_and_days_to_the_wall() {
        let mut h = small(100);
        // 10 days ago 500,000 bytes; 2,000 more a day since.
        for d in 0..=10 {
            h.record(d * DAY_MS, 500_000 + 2_000 * d as u64, LEVELS);
        }
        let now = 10 * DAY_MS + HOUR_MS;
        let g = h.growth(now, 7 * DAY_MS).unwrap();
        assert_eq!(g.from_t, now - 7 * DAY_MS);
        // The size of 3 days and 1 hour (the one of day 3) to the one of now (day 10).
        assert_eq!((g.from_bytes, g.to_bytes, g.growth_bytes), (506_000, 520_000, 14_000));
        assert!((g.bytes_per_day.unwrap() - 2_000.0).abs() < 1e-6);
        let days = g.days_to_wall.unwrap();
        assert!((days - 470_000.0 / 2_000.0).abs() < 1e-6, "{days}");
        assert!((g.days() - 7.0).abs() < 1e-9);
        assert_eq!(
            g.summary(990_000),
            "+14000 bytes over the last 7.0 days (+2000 bytes a day): at this rate the wall (990000 bytes, where admission \
             refuses growing writes) is 235 days away"
        );

        // Shorter history than the window: measured over what there is.
        let g = h.growth(now, 30 * DAY_MS).unwrap();
        assert_eq!((g.from_t, g.from_bytes), (0, 500_000));

        // Shrinking: no wall ahead. At the wall: 0 days.
        let mut s = small(100);
        s.record(0, 600_000, LEVELS);
        s.record(DAY_MS, 550_000, LEVELS);
        let g = s.growth(2 * DAY_MS, 7 * DAY_MS).unwrap();
        assert_eq!((g.growth_bytes, g.days_to_wall), (-50_000, None));
        assert_eq!(g.summary(990_000), "-50000 bytes over the last 2.0 days (-25000 bytes a day): not growing: no wall ahead");
        s.record(2 * DAY_MS, 995_000, LEVELS);
        let g = s.growth(2 * DAY_MS, 7 * DAY_MS).unwrap();
        assert_eq!(g.days_to_wall, Some(0.0));
        assert!(g.summary(990_000).ends_with("at the wall already (990000 bytes): admission refuses growing writes"), "{}", g.summary(990_000));

        // Minutes of history: the growth, no rate.
        let mut m = small(100);
        m.record(0, 1_000, LEVELS);
        m.record(60_000, 3_000, LEVELS);
        let g = m.growth(120_000, 7 * DAY_MS).unwrap();
        assert_eq!((g.growth_bytes, g.bytes_per_day, g.days_to_wall), (2_000, None, None));
        assert_eq!(g.summary(990_000), "+2000 bytes over the last 2 minutes; too little history for a rate (it takes an hour)");
        assert!(m.growth(60_000, DAY_MS).unwrap().summary(1).contains("over the last 1 minute;"));
        assert_eq!(small(10).growth(0, DAY_MS), None);
    }

    #[test]
    fn the_file_format_round_trips_and_bad_files_are_refused_with_a_reason() {
        let mut h = small(100);
        h.record(1_000, 10, LEVELS);
        h.record(2_000, 20, LEVELS);
        let text = h.to_json();
        assert!(text.contains("\"points\":[[1000,10,10,10],[2000,20,20,20]]"), "{text}");
        assert!(text.contains("\"reject_at_bytes\":990000") && text.contains("\"version\":1"), "{text}");
        assert_eq!(History::from_json(&text, h.bounds).unwrap(), h);
        let a = h.answer(5_000);
        assert_eq!((a["now"].as_i64(), a["points"][1][1].as_u64(), a["limit_bytes"].as_u64()), (Some(5_000), Some(20), Some(1_000_000)));
        assert_eq!(a["growth"]["growth_bytes"].as_i64(), Some(10));
        assert!(small(1).answer(0)["growth"].is_null());

        // A longer file than the bounds allow is fitted to them.
        let mut long = small(1000);
        for i in 0..1000 {
            long.record(i * MINUTE_MS, i as u64, LEVELS);
        }
        let fitted = History::from_json(&long.to_json(), Bounds { max_points: 50, full_resolution_ms: HOUR_MS }).unwrap();
        assert!(fitted.points.len() <= 50 && fitted.points.last().unwrap().bytes == 999);

        for (bad, why) in [
            ("", "not a history file"),
            ("{\"version\":1,\"points\":[[1,2,3]]}", "not a history file"),
            ("{\"version\":2,\"limit_bytes\":1,\"reject_at_bytes\":1,\"warn_at_bytes\":1,\"points\":[]}", "format version 2"),
            ("{\"version\":1,\"limit_bytes\":1,\"reject_at_bytes\":1,\"warn_at_bytes\":1,\"points\":[[5,1,1,1],[4,2,2,2]]}", "out of time order"),
            ("{\"version\":1,\"limit_bytes\":1,\"reject_at_bytes\":1,\"warn_at_bytes\":1,\"points\":[[5,9,1,2]]}", "outside its own"),
        ] {
            let e = History::from_json(bad, Bounds::default()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
