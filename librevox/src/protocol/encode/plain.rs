//! `text/event-plain` encoding and FreeSWITCH's percent-encoding.

use crate::protocol::Event;

/// True for the bytes `switch_url_encode` encodes.
fn must_encode(b: u8) -> bool {
    !(0x20..=0x7e).contains(&b) || b" #%&+:;<=>?@[\\]^`{|}\"".contains(&b)
}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// Percent-encodes a header value as FreeSWITCH's `switch_url_encode` does,
/// appending to `out`.
///
/// Bytes below 0x20, above 0x7E and `` #%&+:;<=>?@[\]^`{|}" `` and space
/// become `%XX` (uppercase hex); everything else is copied. A `%` followed by
/// two characters of `0123456789ABCDEF` is copied as is (FreeSWITCH assumes it
/// is already encoded), so the encoding is not reversible for such values.
pub fn url_encode_into(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, &b) in value.iter().enumerate() {
        let encoded_already = b == b'%'
            && value.get(i + 1).copied().is_some_and(is_upper_hex)
            && value.get(i + 2).copied().is_some_and(is_upper_hex);
        if !encoded_already && must_encode(b) {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// [`url_encode_into`] returning a `String`.
///
/// ```
/// assert_eq!(librevox::protocol::url_encode("+OK\n"), "%2BOK%0A");
/// ```
pub fn url_encode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len() + 8);
    url_encode_into(value.as_bytes(), &mut out);
    // Only ASCII bytes are written.
    String::from_utf8(out).unwrap_or_default()
}

/// The header lines of an event in plain format (each `Name:
/// encoded-value` LF), without the terminating empty line. The outbound
/// `connect` reply writes its channel data this way too.
pub(crate) fn plain_headers(event: &Event, out: &mut Vec<u8>) {
    for (name, value) in event.headers() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if value.is_empty() {
            out.extend_from_slice(b"_undef_");
        } else {
            url_encode_into(value.as_bytes(), out);
        }
        out.push(b'\n');
    }
}

pub(super) fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() * 48 + 64);
    plain_headers(event, &mut out);
    match event.body() {
        Some(body) if !body.is_empty() => {
            out.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        _ => out.push(b'\n'),
    }
    out
}
