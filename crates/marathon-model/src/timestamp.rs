//! Marathon's timestamps: millisecond precision, UTC.
//!
//! Two renderings matter for sizes: the legacy store's Joda `DateTime.toString` (always 24 chars,
//! `2015-09-29T15:59:51.164Z`) and the 1.4+ store's `ISO_OFFSET_DATE_TIME`, which drops trailing
//! zeros of the fraction (20 to 24 chars).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::ModelError;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    millis: i64,
}

impl Timestamp {
    pub fn from_millis(millis: i64) -> Self {
        Timestamp { millis }
    }

    pub fn millis(self) -> i64 {
        self.millis
    }

    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp { millis: (nanos / 1_000_000) as i64 }
    }

    /// Parses an ISO-8601 / RFC 3339 timestamp as Marathon accepts them.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let parsed = OffsetDateTime::parse(raw, &Rfc3339).map_err(|err| ModelError::InvalidJson {
            path: "version".into(),
            message: format!("`{raw}` is not an ISO-8601 timestamp: {err}"),
        })?;
        Ok(Timestamp { millis: (parsed.unix_timestamp_nanos() / 1_000_000) as i64 })
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.millis as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Joda `DateTime.toString` in UTC: `yyyy-MM-ddTHH:mm:ss.SSSZ`, 24 chars.
    pub fn to_joda(self) -> String {
        let d = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            d.month() as u8,
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        )
    }

    /// Java `ISO_OFFSET_DATE_TIME` of a UTC `OffsetDateTime`: the fraction without trailing zeros.
    pub fn to_iso_offset(self) -> String {
        let d = self.datetime();
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            d.month() as u8,
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        );
        let ms = d.millisecond();
        if ms != 0 {
            let fraction = format!("{ms:03}");
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// This instant moved by at most 1 ms so that [`Timestamp::to_iso_offset`] writes all three
    /// millisecond digits: the widest form, so that a size computed with it is never below the
    /// size Marathon's own clock gives.
    pub fn at_widest_iso(self) -> Self {
        let ms = self.millis().rem_euclid(1000);
        Timestamp::from_millis(self.millis() + if ms % 10 == 0 { 1 } else { 0 })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_joda())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_joda())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Timestamp::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joda_is_always_24_chars() {
        let t = Timestamp::parse("2015-09-29T15:59:51.164Z").unwrap();
        assert_eq!(t.to_joda(), "2015-09-29T15:59:51.164Z");
        let t = Timestamp::parse("2015-09-29T15:59:51Z").unwrap();
        assert_eq!(t.to_joda(), "2015-09-29T15:59:51.000Z");
        assert_eq!(t.to_joda().len(), 24);
    }

    #[test]
    fn iso_offset_trims_the_fraction() {
        let at = |s| Timestamp::parse(s).unwrap().to_iso_offset();
        assert_eq!(at("2017-01-01T10:20:56.789Z"), "2017-01-01T10:20:56.789Z");
        assert_eq!(at("2017-01-01T10:20:56.780Z"), "2017-01-01T10:20:56.78Z");
        assert_eq!(at("2017-01-01T10:20:56.700Z"), "2017-01-01T10:20:56.7Z");
        assert_eq!(at("2017-01-01T10:20:56.000Z"), "2017-01-01T10:20:56Z");
    }

    #[test]
    fn the_widest_iso_form_has_three_millisecond_digits() {
        for raw in ["2017-01-01T10:20:56.000Z", "2017-01-01T10:20:56.780Z", "2017-01-01T10:20:56.789Z", "2017-01-01T10:20:56.990Z"] {
            let t = Timestamp::parse(raw).unwrap();
            let w = t.at_widest_iso();
            assert_eq!(w.to_iso_offset().len(), 24, "{raw}");
            assert!(w.millis() - t.millis() <= 1, "{raw}");
        }
    }

    #[test]
    fn accepts_offsets() {
        let t = Timestamp::parse("2015-09-29T17:59:51.164+02:00").unwrap();
        assert_eq!(t.to_joda(), "2015-09-29T15:59:51.164Z");
    }
}
