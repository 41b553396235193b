//! `text/event-xml` encoding.

use super::array_items;
use super::plain::url_encode_into;
use crate::protocol::Event;

/// Appends the XML-escaped body text (§4.4): `&<>` as entities, CR as
/// `&#xD;`, each non-ASCII UTF-8 character as `&#xHEX;`; other bytes raw.
fn xml_body(body: &[u8], out: &mut Vec<u8>) {
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                '\r' => out.extend_from_slice(b"&#xD;"),
                c if c.is_ascii() => out.push(c as u8),
                c => out.extend_from_slice(format!("&#x{:X};", c as u32).as_bytes()),
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
}

/// Escapes `&<>` of an (already percent-encoded) header value.
fn xml_text(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b => out.push(b),
        }
    }
}

/// One `<Name>value</Name>` line per header value (an array header gives
/// one per element).
fn xml_headers(event: &Event, out: &mut Vec<u8>) {
    let mut enc = Vec::new();
    for (name, value) in event.headers() {
        let items = array_items(value).unwrap_or_else(|| vec![value]);
        for item in items {
            out.extend_from_slice(b"    <");
            out.extend_from_slice(name.as_bytes());
            out.push(b'>');
            enc.clear();
            url_encode_into(item.as_bytes(), &mut enc);
            xml_text(&enc, out);
            out.extend_from_slice(b"</");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b">\n");
        }
    }
}

/// The payload; two spaces precede `</body>` when the body ends in LF.
pub(super) fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() * 64 + 64);
    out.extend_from_slice(b"<event>\n  <headers>\n");
    xml_headers(event, &mut out);
    out.extend_from_slice(b"  </headers>\n");
    if let Some(body) = event.body().filter(|b| !b.is_empty()) {
        out.extend_from_slice(
            format!("  <Content-Length>{}</Content-Length>\n", body.len()).as_bytes(),
        );
        out.extend_from_slice(b"  <body>");
        xml_body(body, &mut out);
        if body.ends_with(b"\n") {
            out.extend_from_slice(b"  ");
        }
        out.extend_from_slice(b"</body>\n");
    }
    out.extend_from_slice(b"</event>\n");
    out
}
