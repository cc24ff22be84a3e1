//! Integer fields read as Marathon's play-json `Reads[Int]` and `Reads[Long]` read them.
//!
//! play-json accepts any JSON number without a fractional part (`10`, `10.0`, `1e1`); the body
//! reader ([`crate::marathon_json`]) hands such a number over as an integer, so these helpers take
//! integers and refuse fractions with play-json's error (`error.expected.int`). The model holds
//! each field in a Rust type chosen for its meaning (`u32` instances, `u32` seconds of a health
//! check), so a value Marathon reads may not fit; what happens then follows what Marathon does
//! with the field:
//! - [`int`], [`long`], [`ints`]: Marathon's validation refuses negative values of these fields
//!   (instances, ports, volume sizes), and so do these;
//! - [`int_bits`], [`seconds_bits`]: health-check fields, which Marathon never validates and
//!   persists truncated to a 32-bit protobuf field (`toInt`): the same bits are kept, and written
//!   back as the signed value ([`java_int`]);
//! - [`seconds`]: a duration, which Scala's `FiniteDuration` limits to ±9,223,372,036 seconds
//!   (beyond, Marathon fails with 422).
//!
//! A value beyond Java's range that the Rust type holds (3,000,000,000 instances) is kept: it is
//! what the model itself may write and must read back, and accepting it errs on the side of
//! deciding a write that Marathon then refuses.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::Serializer;

/// Scala's bound on a `FiniteDuration` in seconds (`Long.MaxValue` nanoseconds).
const MAX_SECONDS: i128 = 9_223_372_036;

/// An `Int` field (`instances`, a port).
pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Integer<false>>::deserialize(d)?.map(|n| held(n.0, false)).transpose()
}

/// A `Long` field (a volume size).
pub fn long<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Integer<true>>::deserialize(d)?.map(|n| held(n.0, true)).transpose()
}

/// A list of `Int` (`ports`, status codes).
pub fn ints<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    let Some(items) = Option::<Vec<Integer<false>>>::deserialize(d)? else { return Ok(None) };
    items.into_iter().map(|n| held(n.0, false)).collect::<Result<Vec<T>, _>>().map(Some)
}

/// A `Long` number of seconds that Marathon turns into a `FiniteDuration`.
pub fn seconds<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Integer<true>>::deserialize(d)?.map(|n| held(duration(n.0)?, true)).transpose()
}

/// An `Int` field persisted as the low 32 bits Marathon writes to protobuf.
pub fn int_bits<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<Integer<false>>::deserialize(d)?.map(|n| low_bits(n.0)))
}

/// A `Long` number of seconds, a `FiniteDuration` in Marathon, persisted as its low 32 bits.
pub fn seconds_bits<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<Integer<true>>::deserialize(d)?.map(|n| duration(n.0).map(low_bits)).transpose()
}

/// Writes a field read by [`int_bits`] or [`seconds_bits`] as the signed value Marathon shows.
pub fn java_int<S: Serializer>(value: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_i32(*v as i32),
        None => s.serialize_none(),
    }
}

fn held<T: TryFrom<i128>, E: de::Error>(v: i128, long: bool) -> Result<T, E> {
    T::try_from(v).map_err(|_| {
        if v < 0 {
            E::custom(format!("got {v}, expected 0 or more"))
        } else {
            E::custom(expected_integer(long))
        }
    })
}

fn duration<E: de::Error>(seconds: i128) -> Result<i128, E> {
    if seconds.abs() <= MAX_SECONDS {
        Ok(seconds)
    } else {
        Err(E::custom("requirement failed: Duration is limited to +-(2^63-1)ns (ca. 292 years)"))
    }
}

/// Java's `toInt` of the value, as the unsigned protobuf field holds it.
fn low_bits(v: i128) -> u32 {
    v as u32
}

fn expected_integer(long: bool) -> &'static str {
    if long {
        "error.expected.long"
    } else {
        "error.expected.int"
    }
}

/// A JSON integer within Java's `Int` (or, with `LONG`, `Long`) range, or within `u32`/`u64` (what
/// the model writes back).
struct Integer<const LONG: bool>(i128);

impl<'de, const LONG: bool> Deserialize<'de> for Integer<LONG> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntegerVisitor { long: LONG }).map(Integer)
    }
}

struct IntegerVisitor {
    long: bool,
}

impl IntegerVisitor {
    fn checked<E: de::Error>(&self, v: i128) -> Result<i128, E> {
        let (min, max) = if self.long {
            (i128::from(i64::MIN), i128::from(u64::MAX))
        } else {
            (i128::from(i32::MIN), i128::from(u32::MAX))
        };
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(E::custom(expected_integer(self.long)))
        }
    }

    fn not_a_number<T, E: de::Error>(&self) -> Result<T, E> {
        Err(E::custom("error.expected.jsnumber"))
    }
}

impl<'de> Visitor<'de> for IntegerVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON number without fractional part")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        self.checked(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        self.checked(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<i128, E> {
        Err(E::custom(expected_integer(self.long)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<i128, E> {
        self.not_a_number()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<i128, E> {
        self.not_a_number()
    }

    fn visit_unit<E: de::Error>(self) -> Result<i128, E> {
        self.not_a_number()
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<i128, A::Error> {
        self.not_a_number()
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<i128, A::Error> {
        self.not_a_number()
    }
}
