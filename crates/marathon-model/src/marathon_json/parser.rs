//! Jackson 2.7's tokenizer as play-json drives it: one value, then one more token.
//!
//! The grammar is standard JSON (no comments, quotes, trailing commas, leading zeros, `NaN`; a
//! number at the root must be followed by white space). What differs from a strict parser:
//! - strings are Java strings: `\u` escapes may leave a surrogate alone, and UTF-8 is decoded
//!   without the checks for overlong forms, encoded surrogates and code points past U+10FFFF
//!   (only the lead and continuation bits are checked);
//! - after the first value, play-json's deserializer reads one more token: a string (never read
//!   further), `{`, `[`, a literal or a number is fine whatever follows it, while `}`, `]` or a
//!   character that starts no token is an error; a `null` first value is returned without
//!   looking further;
//! - a literal followed by a letter, digit or `_` (`truex`) is an error even at the end.
//!
//! The parser keeps its own stack, so nesting costs no recursion; containers nested deeper than
//! [`KEPT_DEPTH`] are still read and checked, but kept as `null` (only unknown fields go that deep,
//! and Marathon drops unknown fields), so that no later recursion over the value can overflow.

use serde_json::{Map, Value};

use super::encoding::Text;
use super::{java_string, number, ReadError};

const COMMENT: &str =
    "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)";
const SPACE: &str = "only regular white space (\\r, \\n, \\t) is allowed between tokens";

/// Containers nested deeper than this are kept as `null`.
pub(super) const KEPT_DEPTH: usize = 128;

pub(super) struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    broken_end: Option<&'a str>,
}

/// A container being read.
enum Frame {
    Array(Vec<Value>),
    /// The fields so far and the name of the field whose value is being read.
    Object(Map<String, Value>, String),
    /// Past [`KEPT_DEPTH`]: read, checked, and dropped.
    Dropped {
        object: bool,
    },
}

impl Frame {
    fn add(&mut self, value: Value) {
        match self {
            Frame::Array(items) => items.push(value),
            Frame::Object(fields, name) => {
                fields.insert(std::mem::take(name), value);
            }
            Frame::Dropped { .. } => {}
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Frame::Object(..) | Frame::Dropped { object: true })
    }

    fn finish(self) -> Value {
        match self {
            Frame::Array(items) => Value::Array(items),
            Frame::Object(fields, _) => Value::Object(fields),
            Frame::Dropped { .. } => Value::Null,
        }
    }
}

/// What follows a member of a container.
enum After {
    AnotherMember,
    Closed,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a Text<'a>) -> Parser<'a> {
        Parser { s: &text.bytes, pos: 0, broken_end: text.broken_end.as_deref() }
    }

    /// The first value of the document, after checking the token that follows it.
    pub fn read_document(&mut self) -> Result<Value, ReadError> {
        if self.skip_space()?.is_none() {
            return Err(ReadError::NoContent);
        }
        let value = self.value()?;
        if !value.is_null() {
            self.check_next_token()?;
        }
        Ok(value)
    }

    fn value(&mut self) -> Result<Value, ReadError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let Some(mut value) = self.value_start(&mut stack)? else { continue };
            loop {
                let Some(top) = stack.last_mut() else { return Ok(value) };
                top.add(value);
                match self.after_member(top)? {
                    After::AnotherMember => break,
                    After::Closed => value = stack.pop().map(Frame::finish).unwrap_or(Value::Null),
                }
            }
        }
    }

    /// Reads a value, or opens a container (`None`: its first member is next).
    fn value_start(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, ReadError> {
        let root = stack.is_empty();
        let Some(b) = self.skip_space()? else { return Err(eof_in(stack)) };
        match b {
            b'{' | b'[' => self.open(b == b'{', stack),
            b'"' => self.string(false).map(|s| Some(Value::String(s))),
            b't' => self.literal(b"true").map(|_| Some(Value::Bool(true))),
            b'f' => self.literal(b"false").map(|_| Some(Value::Bool(false))),
            b'n' => self.literal(b"null").map(|_| Some(Value::Null)),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.number(root)?;
                let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default();
                number::value(text).map(Some).map_err(ReadError::Syntax)
            }
            other => Err(unexpected(
                other,
                "expected a valid value (number, String, array, object, 'true', 'false' or 'null')",
            )),
        }
    }

    fn open(&mut self, object: bool, stack: &mut Vec<Frame>) -> Result<Option<Value>, ReadError> {
        self.pos += 1;
        let kept = stack.len() < KEPT_DEPTH;
        let close = if object { b'}' } else { b']' };
        if self.skip_space()? == Some(close) {
            self.pos += 1;
            return Ok(Some(match (kept, object) {
                (false, _) => Value::Null,
                (true, true) => Value::Object(Map::new()),
                (true, false) => Value::Array(Vec::new()),
            }));
        }
        let frame = match (kept, object) {
            (false, _) => Frame::Dropped { object },
            (true, true) => Frame::Object(Map::new(), String::new()),
            (true, false) => Frame::Array(Vec::new()),
        };
        stack.push(frame);
        if object {
            self.field_name(stack.last_mut())?;
        }
        Ok(None)
    }

    /// After a member: `,` and (in an object) the next name, or the closing bracket.
    fn after_member(&mut self, top: &mut Frame) -> Result<After, ReadError> {
        let object = top.is_object();
        match self.skip_space()? {
            Some(b',') => {
                self.pos += 1;
                if object {
                    self.field_name(Some(top))?;
                }
                Ok(After::AnotherMember)
            }
            Some(b'}') if object => self.closed(),
            Some(b']') if !object => self.closed(),
            Some(b @ (b'}' | b']')) => Err(mismatched(b, object)),
            Some(b) => Err(unexpected(
                b,
                if object {
                    "was expecting comma to separate OBJECT entries"
                } else {
                    "was expecting comma to separate ARRAY entries"
                },
            )),
            None => Err(syntax(if object {
                "Unexpected end-of-input: expected close marker for OBJECT"
            } else {
                "Unexpected end-of-input: expected close marker for ARRAY"
            })),
        }
    }

    fn closed(&mut self) -> Result<After, ReadError> {
        self.pos += 1;
        Ok(After::Closed)
    }

    /// A field name and its colon; the name goes to `frame` when it is kept.
    fn field_name(&mut self, frame: Option<&mut Frame>) -> Result<(), ReadError> {
        match self.skip_space()? {
            Some(b'"') => {}
            Some(b) => return Err(unexpected(b, "was expecting double-quote to start field name")),
            None => return Err(syntax("Unexpected end-of-input: expected close marker for OBJECT")),
        }
        let name = self.string(true)?;
        if let Some(Frame::Object(_, slot)) = frame {
            *slot = name;
        }
        match self.skip_space()? {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(unexpected(b, "was expecting a colon to separate field name and value")),
            None => Err(syntax("Unexpected end-of-input: was expecting a colon to separate field name and value")),
        }
    }

    /// The token play-json reads after the first value: it must start validly.
    fn check_next_token(&mut self) -> Result<(), ReadError> {
        match self.skip_space()? {
            None | Some(b'"' | b'{' | b'[') => Ok(()),
            Some(b @ (b'}' | b']')) => {
                Err(syntax(format!("Unexpected close marker '{}': no open container at the root", b as char)))
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(true),
            Some(b) => {
                Err(unexpected(b, "expected a valid value (number, String, array, object, 'true', 'false' or 'null')"))
            }
        }
    }

    // ---- bytes ----

    /// The byte at the cursor; `None` at the end (an error when the decoding broke there).
    fn peek(&self) -> Result<Option<u8>, ReadError> {
        match self.s.get(self.pos) {
            Some(&b) => Ok(Some(b)),
            None => match self.broken_end {
                Some(why) => Err(ReadError::Encoding(why.to_string())),
                None => Ok(None),
            },
        }
    }

    /// The byte at the cursor, consumed; the end is an error (`what` was being read).
    fn next(&mut self, what: &str) -> Result<u8, ReadError> {
        let b = self.peek()?.ok_or_else(|| syntax(format!("Unexpected end-of-input {what}")))?;
        self.pos += 1;
        Ok(b)
    }

    /// Skips space, tab, CR and LF; returns the next byte without consuming it.
    fn skip_space(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') => return Err(unexpected(b'/', COMMENT)),
                Some(b) if b < 0x20 => return Err(syntax(format!("Illegal character ((CTRL-CHAR, code {b})): {SPACE}"))),
                other => return Ok(other),
            }
        }
    }

    // ---- tokens ----

    /// `true`, `false` or `null`, then no identifier character.
    fn literal(&mut self, word: &[u8]) -> Result<(), ReadError> {
        let start = self.pos;
        for &expected in word {
            if self.peek()? != Some(expected) {
                return Err(self.invalid_token(start));
            }
            self.pos += 1;
        }
        match self.peek()? {
            Some(b) if b >= b'0' && b != b']' && b != b'}' && self.is_identifier_part(b)? => {
                Err(self.invalid_token(start))
            }
            _ => Ok(()),
        }
    }

    /// Java's `isJavaIdentifierPart` for the character at the cursor. Past ASCII the character is
    /// decoded (as Jackson does for its error message) and taken as no identifier character: a
    /// wrong guess there accepts a body Marathon refuses, never the reverse.
    fn is_identifier_part(&mut self, b: u8) -> Result<bool, ReadError> {
        if b < 0x80 {
            return Ok(b.is_ascii_alphanumeric() || b == b'_' || b == 0x7F);
        }
        let at = self.pos;
        self.pos += 1;
        let decoded = self.multibyte(b, false, &mut Vec::new());
        self.pos = at;
        decoded.map(|_| false)
    }

    /// A number's text, checked; at the root it must be followed by white space or the end.
    fn number(&mut self, root: bool) -> Result<(), ReadError> {
        if self.peek()? == Some(b'-') {
            self.pos += 1;
        }
        match self.next("in a Number value")? {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek()? {
                    return Err(syntax("Invalid numeric value: Leading zeroes not allowed"));
                }
            }
            b'1'..=b'9' => self.digits()?,
            b => return Err(unexpected(b, "expected digit (0-9) to follow minus sign, for valid numeric value")),
        }
        if self.peek()? == Some(b'.') {
            self.pos += 1;
            self.required_digits("Decimal point not followed by a digit")?;
        }
        if let Some(b'e' | b'E') = self.peek()? {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek()? {
                self.pos += 1;
            }
            self.required_digits("Exponent indicator not followed by a digit")?;
        }
        match self.peek()? {
            Some(b) if root && !matches!(b, b' ' | b'\t' | b'\n' | b'\r') => {
                Err(unexpected(b, "Expected space separating root-level values"))
            }
            _ => Ok(()),
        }
    }

    fn digits(&mut self) -> Result<(), ReadError> {
        while let Some(b'0'..=b'9') = self.peek()? {
            self.pos += 1;
        }
        Ok(())
    }

    fn required_digits(&mut self, missing: &str) -> Result<(), ReadError> {
        match self.next("in a Number value")? {
            b'0'..=b'9' => self.digits(),
            b => Err(unexpected(b, missing)),
        }
    }

    /// A string or field name (cursor on the opening quote), as Java text.
    fn string(&mut self, name: bool) -> Result<String, ReadError> {
        self.pos += 1;
        let rest = &self.s[self.pos..];
        if let Some(n) = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20) {
            if rest[n] == b'"' {
                if let Ok(plain) = std::str::from_utf8(&rest[..n]) {
                    self.pos += n + 1;
                    return Ok(plain.to_owned());
                }
            }
        }
        self.java_units(name).map(|units| java_string(&units))
    }

    /// The UTF-16 units of a string up to its closing quote, decoded as Jackson decodes them.
    fn java_units(&mut self, name: bool) -> Result<Vec<u16>, ReadError> {
        let mut units = Vec::new();
        loop {
            match self.next(if name { "in field name" } else { "in VALUE_STRING" })? {
                b'"' => return Ok(units),
                b'\\' => units.push(self.escape()?),
                b if b < 0x20 => {
                    let place = if name { "name" } else { "string value" };
                    let escape = "has to be escaped using backslash to be included in";
                    return Err(syntax(format!("Illegal unquoted character ((CTRL-CHAR, code {b})): {escape} {place}")));
                }
                b if b < 0x80 => units.push(u16::from(b)),
                b => self.multibyte(b, name, &mut units)?,
            }
        }
    }

    /// The unit of an escape (cursor after the backslash).
    fn escape(&mut self) -> Result<u16, ReadError> {
        let c = self.next("in character escape sequence")?;
        Ok(match c {
            b'"' | b'\\' | b'/' => u16::from(c),
            b'b' => 0x08,
            b't' => 0x09,
            b'n' => 0x0A,
            b'f' => 0x0C,
            b'r' => 0x0D,
            b'u' => {
                let mut unit = 0u16;
                for _ in 0..4 {
                    let h = self.next("in character escape sequence")?;
                    let digit = (h as char)
                        .to_digit(16)
                        .ok_or_else(|| unexpected(h, "expected a hex-digit for character escape sequence"))?;
                    unit = unit << 4 | digit as u16;
                }
                unit
            }
            other => return Err(syntax(format!("Unrecognized character escape '{}' (code {other})", other as char))),
        })
    }

    /// A multi-byte UTF-8 sequence (cursor after its lead byte `lead`) as UTF-16 units. Jackson
    /// checks only the lead byte's class and the continuation bits; a four-byte sequence becomes
    /// two units by its own arithmetic, which differs between strings and names only for forms
    /// no encoder writes.
    fn multibyte(&mut self, lead: u8, name: bool, units: &mut Vec<u16>) -> Result<(), ReadError> {
        let (more, bits) = match lead {
            _ if lead & 0xE0 == 0xC0 => (1, lead & 0x1F),
            _ if lead & 0xF0 == 0xE0 => (2, lead & 0x0F),
            _ if lead & 0xF8 == 0xF0 => (3, lead & 0x07),
            _ => return Err(syntax(format!("Invalid UTF-8 start byte 0x{lead:x}"))),
        };
        let mut c = i32::from(bits);
        for _ in 0..more {
            let d = self.next("in a multi-byte UTF-8 character")?;
            if d & 0xC0 != 0x80 {
                return Err(syntax(format!("Invalid UTF-8 middle byte 0x{d:x}")));
            }
            c = c << 6 | i32::from(d & 0x3F);
        }
        if more < 3 {
            units.push(c as u16);
            return Ok(());
        }
        let c = c - 0x1_0000;
        let high = if name { 0xD800 + (c >> 10) } else { 0xD800 | (c >> 10) };
        units.extend([high as u16, (0xDC00 | (c & 0x3FF)) as u16]);
        Ok(())
    }

    // ---- errors ----

    /// Jackson's error for a literal gone wrong, naming the token from `start` on.
    fn invalid_token(&self, start: usize) -> ReadError {
        let end =
            self.s[self.pos..].iter().position(|b| !b.is_ascii_alphanumeric()).map_or(self.s.len(), |n| self.pos + n);
        let token = String::from_utf8_lossy(&self.s[start..end]);
        syntax(format!("Unrecognized token '{token}': was expecting ('true', 'false' or 'null')"))
    }
}

fn syntax(message: impl Into<String>) -> ReadError {
    ReadError::Syntax(message.into())
}

fn eof_in(stack: &[Frame]) -> ReadError {
    match stack.last() {
        Some(f) if f.is_object() => syntax("Unexpected end-of-input: expected close marker for OBJECT"),
        _ => syntax("Unexpected end-of-input: expected close marker for ARRAY"),
    }
}

fn unexpected(b: u8, what: &str) -> ReadError {
    if b.is_ascii_graphic() || b == b' ' {
        syntax(format!("Unexpected character ('{}' (code {b})): {what}", b as char))
    } else {
        syntax(format!("Unexpected character (code {b} / 0x{b:x}): {what}"))
    }
}

fn mismatched(b: u8, in_object: bool) -> ReadError {
    let expected = if in_object { '}' } else { ']' };
    syntax(format!("Unexpected close marker '{}': expected '{expected}'", b as char))
}
