//! Marathon's reading of a request body, byte for byte.
//!
//! Every write resource of Marathon 1.3.14 and 1.4.13 takes the body as bytes and reads it with
//! play-json's `Json.parse`: Jackson 2.7 detects the encoding from the first bytes, parses *one*
//! value, and play-json's deserializer then asks for one more token and nothing else. Integer
//! fields are then read from the number's exact decimal value. A body that this reader refuses but
//! Marathon accepts would be taken for "Marathon answers it (400)" and forwarded unchecked, and the
//! simulator (which shares this reader) could not show the difference: so the rules here are
//! Jackson's and play-json's, not a strict JSON parser's. `docs/ARCHITECTURE.md` ("How a body is
//! read") names the Marathon, Jackson and play-json sources of each rule.
//!
//! - encoding (`encoding.rs`): UTF-8 (BOM skipped), UTF-16 and UTF-32 of either byte order, with or
//!   without BOM, told from the zero bytes among the first four;
//! - syntax (`parser.rs`): standard JSON, but strings keep lone surrogates (from `\ud800`, or from
//!   UTF-8, which Jackson does not check for overlong forms or encoded surrogates), and after the
//!   first value only the next token is looked at: another value may follow, garbage may not;
//! - numbers (`number.rs`): a value with no fractional part (`10.0`, `1e1`) is an integer, as
//!   play-json's `Reads[Int]` sees it; others are doubles.
//!
//! Strings are Java strings (UTF-16 units); a lone surrogate becomes `?`, which is what Java's
//! UTF-8 encoder writes when Marathon persists the string.

mod encoding;
mod number;
mod parser;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// Why Marathon refuses a body before looking at its fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// No value at all (empty or blank): Jackson's `JsonMappingException`, a 400 of its own shape.
    #[error("No content to map due to end-of-input")]
    NoContent,
    /// Jackson's `JsonParseException`: 400 `Invalid JSON` with the parser's text.
    #[error("{0}")]
    Syntax(String),
    /// The bytes cannot be decoded (UTF-32 out of range or cut short, UCS-4 in odd byte orders):
    /// an `IOException` or worse out of Jackson, which Marathon answers with 500.
    #[error("{0}")]
    Encoding(String),
}

/// Reads a request body as Marathon's `Json.parse` does: the first JSON value, numbers normalised
/// as play-json reads them.
pub fn read_body(body: &[u8]) -> Result<Value, ReadError> {
    let text = encoding::decode(body)?;
    parser::Parser::new(&text).read_document()
}

/// Java's string of UTF-16 units as Rust text: a lone surrogate becomes `?`, as when Marathon
/// writes the string out as UTF-8.
fn java_string(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied()).map(|c| c.unwrap_or('?')).collect()
}
