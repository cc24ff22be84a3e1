//! Hand assembly of length-delimited protobuf fields from already encoded parts, so that a group
//! can be written from cached app bytes without rebuilding message structs. The output is identical
//! to encoding the full message with prost (checked in the tests).

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// Appends field `tag` holding `payload` as a length-delimited value.
pub fn put_bytes(out: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Bytes that [`put_bytes`] adds for a payload of `len` bytes.
pub fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
}
