//! The encoding of a body, told as Jackson's `ByteSourceJsonBootstrapper` tells it, and the body
//! brought to UTF-8 for the parser.
//!
//! Jackson looks only at the first four bytes (two when the body is shorter): a BOM (UTF-32, UTF-16
//! or UTF-8) is used and skipped; otherwise zero bytes give UTF-32 or UTF-16 and their byte order
//! (JSON text starts with an ASCII character), anything else is UTF-8. UTF-8 is parsed as bytes;
//! UTF-16 goes through Java's decoder, which replaces malformed input with U+FFFD; UTF-32 goes
//! through Jackson's own reader, which fails on code points above U+10FFFF and on a cut-off last
//! character, but only when the parser asks for the 4000-character chunk holding them.

use std::borrow::Cow;

use super::ReadError;

/// A body as UTF-8 bytes, where a surrogate standing alone is written as its own three bytes (the
/// form Jackson's UTF-8 reader accepts and reads back as that surrogate).
pub(super) struct Text<'a> {
    pub bytes: Cow<'a, [u8]>,
    /// Reading at or past the end of `bytes` fails with this instead of finding the end.
    pub broken_end: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Utf8,
    Utf16 { big_endian: bool },
    Utf32 { big_endian: bool },
}

/// Characters Jackson's reader-based parser asks for at a time (its token buffer).
const CHUNK_UNITS: usize = 4000;

pub(super) fn decode(body: &[u8]) -> Result<Text<'_>, ReadError> {
    let (encoding, bom) = detect(body)?;
    let rest = &body[bom..];
    Ok(match encoding {
        Encoding::Utf8 => Text { bytes: Cow::Borrowed(rest), broken_end: None },
        Encoding::Utf16 { big_endian } => {
            Text { bytes: Cow::Owned(to_utf8(&utf16_units(rest, big_endian))), broken_end: None }
        }
        Encoding::Utf32 { big_endian } => utf32_text(rest, big_endian),
    })
}

/// The encoding and the length of its BOM.
fn detect(body: &[u8]) -> Result<(Encoding, usize), ReadError> {
    if let [a, b, c, d, ..] = *body {
        let quad = u32::from_be_bytes([a, b, c, d]);
        if let Some(found) = bom(quad)? {
            return Ok(found);
        }
        if let Some(utf32) = zeros_of_utf32(quad)? {
            return Ok((utf32, 0));
        }
        return Ok((zeros_of_utf16(quad >> 16), 0));
    }
    if let [a, b, ..] = *body {
        return Ok((zeros_of_utf16(u32::from(u16::from_be_bytes([a, b]))), 0));
    }
    Ok((Encoding::Utf8, 0))
}

fn bom(quad: u32) -> Result<Option<(Encoding, usize)>, ReadError> {
    Ok(Some(match quad {
        0x0000_FEFF => (Encoding::Utf32 { big_endian: true }, 4),
        0xFFFE_0000 => (Encoding::Utf32 { big_endian: false }, 4),
        0x0000_FFFE => return Err(odd_ucs4("2143")),
        0xFEFF_0000 => return Err(odd_ucs4("3412")),
        _ if quad >> 16 == 0xFEFF => (Encoding::Utf16 { big_endian: true }, 2),
        _ if quad >> 16 == 0xFFFE => (Encoding::Utf16 { big_endian: false }, 2),
        _ if quad >> 8 == 0xEF_BBBF => (Encoding::Utf8, 3),
        _ => return Ok(None),
    }))
}

fn zeros_of_utf32(quad: u32) -> Result<Option<Encoding>, ReadError> {
    Ok(Some(match quad {
        _ if quad >> 8 == 0 => Encoding::Utf32 { big_endian: true },
        _ if quad & 0x00FF_FFFF == 0 => Encoding::Utf32 { big_endian: false },
        _ if quad & !0x00FF_0000 == 0 => return Err(odd_ucs4("3412")),
        _ if quad & !0x0000_FF00 == 0 => return Err(odd_ucs4("2143")),
        _ => return Ok(None),
    }))
}

fn zeros_of_utf16(pair: u32) -> Encoding {
    match pair {
        _ if pair & 0xFF00 == 0 => Encoding::Utf16 { big_endian: true },
        _ if pair & 0x00FF == 0 => Encoding::Utf16 { big_endian: false },
        _ => Encoding::Utf8,
    }
}

fn odd_ucs4(order: &str) -> ReadError {
    ReadError::Encoding(format!("Unsupported UCS-4 endianness ({order}) detected"))
}

/// Java's UTF-16BE/LE decoder with malformed input replaced: a lone low surrogate or a reversed
/// BOM is one U+FFFD, a high surrogate not followed by a low one is one U+FFFD for both units,
/// and whatever is left at the end (an odd byte, a high surrogate) is one U+FFFD.
fn utf16_units(bytes: &[u8], big_endian: bool) -> Vec<u16> {
    const REPLACEMENT: u16 = 0xFFFD;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| if big_endian { u16::from_be_bytes([p[0], p[1]]) } else { u16::from_le_bytes([p[0], p[1]]) })
        .collect();
    let mut out = Vec::with_capacity(units.len() + 1);
    let mut i = 0;
    while i < units.len() {
        let u = units[i];
        match u {
            0xD800..=0xDBFF => match units.get(i + 1) {
                Some(&low @ 0xDC00..=0xDFFF) => out.extend([u, low]),
                Some(_) => out.push(REPLACEMENT),
                None => {
                    out.push(REPLACEMENT);
                    return out;
                }
            },
            0xDC00..=0xDFFF | 0xFFFE => {
                out.push(REPLACEMENT);
                i += 1;
                continue;
            }
            _ => {
                out.push(u);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if bytes.len() % 2 == 1 {
        out.push(REPLACEMENT);
    }
    out
}

/// Jackson's `UTF32Reader`: each code point as UTF-16 units (a negative 32-bit value keeps its
/// low 16 bits, as Java's cast does); above U+10FFFF, or a last character cut short, is an error
/// once the parser reaches the chunk of units that holds it.
fn utf32_text(bytes: &[u8], big_endian: bool) -> Text<'static> {
    let mut units = Vec::with_capacity(bytes.len() / 4);
    let mut broken: Option<String> = None;
    for (n, q) in bytes.chunks_exact(4).enumerate() {
        let quad = [q[0], q[1], q[2], q[3]];
        let ch = if big_endian { i32::from_be_bytes(quad) } else { i32::from_le_bytes(quad) };
        if ch > 0x10_FFFF {
            broken = Some(format!(
                "Invalid UTF-32 character 0x{ch:x}(above 10ffff)  at char #{}, byte #{})",
                units.len(),
                n * 4 + 3
            ));
            break;
        }
        if ch > 0xFFFF {
            let c = ch - 0x1_0000;
            units.extend([(0xD800 + (c >> 10)) as u16, (0xDC00 | (c & 0x3FF)) as u16]);
        } else {
            units.push(ch as u16);
        }
    }
    let cut = bytes.chunks_exact(4).remainder().len();
    if broken.is_none() && cut > 0 {
        broken = Some(format!("Unexpected EOF in the middle of a 4-byte UTF-32 char: got {cut}, needed 4"));
    }
    if broken.is_some() {
        units.truncate(units.len() / CHUNK_UNITS * CHUNK_UNITS);
    }
    Text { bytes: Cow::Owned(to_utf8(&units)), broken_end: broken }
}

/// UTF-16 units as UTF-8, a surrogate without its pair written as its own three bytes.
fn to_utf8(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len());
    for c in char::decode_utf16(units.iter().copied()) {
        match c {
            Ok(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Err(lone) => {
                let u = lone.unpaired_surrogate();
                out.extend([0xE0 | (u >> 12) as u8, 0x80 | ((u >> 6) & 0x3F) as u8, 0x80 | (u & 0x3F) as u8]);
            }
        }
    }
    out
}
