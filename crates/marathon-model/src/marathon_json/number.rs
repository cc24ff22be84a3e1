//! A number as play-json holds it, brought to a JSON value.
//!
//! play-json keeps every number as a `BigDecimal` (Jackson's `getDecimalValue`, which fails with
//! "Malformed numeric value" when Java's `BigDecimal` refuses the exponent), and its `Reads[Int]`
//! and `Reads[Long]` accept any value with no fractional part (`10.0`, `1e1`, `-0.0`). So the value
//! kept here is an integer whenever the decimal value is one and fits 64 bits; otherwise it is the
//! nearest double (beyond the double range, the largest double: play-json's `toDouble` gives
//! infinity, which a JSON value cannot hold, and which weighs the same eight bytes persisted).

use serde_json::{Number, Value};

/// The value of a number whose text has been checked against the JSON grammar.
pub(super) fn value(text: &str) -> Result<Value, String> {
    let parts = Parts::of(text);
    if !parts.fits_big_decimal() {
        return Err(format!("Malformed numeric value '{text}'"));
    }
    Ok(Value::Number(parts.integer().unwrap_or_else(|| double(text))))
}

struct Parts<'a> {
    negative: bool,
    /// Integer and fraction digits.
    int: &'a str,
    fraction: &'a str,
    /// The exponent's digits, sign apart (empty: none).
    exponent: &'a str,
    exponent_negative: bool,
}

impl<'a> Parts<'a> {
    fn of(text: &'a str) -> Parts<'a> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, ""));
        let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let (exponent_negative, exponent) = match exponent.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, exponent.strip_prefix('+').unwrap_or(exponent)),
        };
        Parts { negative, int, fraction, exponent, exponent_negative }
    }

    /// Java's `BigDecimal(String)`: at most ten exponent digits past leading zeros, an exponent
    /// that fits an `int`, and a scale (fraction digits minus exponent) that fits one too.
    fn fits_big_decimal(&self) -> bool {
        if self.exponent.trim_start_matches('0').len() > 10 {
            return false;
        }
        let exponent = self.exponent_value();
        i32::try_from(exponent).is_ok() && i32::try_from(self.fraction.len() as i64 - exponent).is_ok()
    }

    /// The value as an integer, when it has no fractional part and fits `i64` or `u64`.
    fn integer(&self) -> Option<Number> {
        let digits: String = [self.int, self.fraction].concat();
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Some(Number::from(0u64));
        }
        let kept = digits.trim_end_matches('0');
        let exponent = self.exponent_value() - self.fraction.len() as i64 + (digits.len() - kept.len()) as i64;
        if exponent < 0 || kept.len() as i64 + exponent > 20 {
            return None;
        }
        let magnitude = kept.parse::<u128>().ok()?.checked_mul(10u128.checked_pow(exponent as u32)?)?;
        if self.negative {
            let negated = 0i128.checked_sub(i128::try_from(magnitude).ok()?)?;
            i64::try_from(negated).ok().map(Number::from)
        } else {
            u64::try_from(magnitude).ok().map(Number::from)
        }
    }

    /// The exponent (at most ten digits once [`Parts::fits_big_decimal`] held).
    fn exponent_value(&self) -> i64 {
        let magnitude: i64 = self.exponent.trim_start_matches('0').parse().unwrap_or(0);
        if self.exponent_negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// The nearest double (Java's `BigDecimal.doubleValue` and Rust's parser both round correctly),
/// held to the finite range.
fn double(text: &str) -> Number {
    let x: f64 = text.parse().unwrap_or(0.0);
    let x = x.clamp(f64::MIN, f64::MAX);
    Number::from_f64(x).unwrap_or_else(|| Number::from(0u64))
}
