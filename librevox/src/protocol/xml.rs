//! `text/event-xml` parsing.
//!
//! FreeSWITCH writes
//! `<event><headers><Name>pct-encoded</Name>...</headers><Content-Length>N</Content-Length><body>escaped</body></event>`
//! with two-space indentation, and does not guarantee well-formed XML (raw
//! control bytes may appear in the body; header names are not checked to be
//! XML names). quick-xml tokenizes it without validating characters, and
//! unescaping falls back to the raw text when an entity is malformed.

use std::borrow::Cow;

use bytes::Bytes;
use quick_xml::events::Event as Xml;
use quick_xml::reader::Reader;

use super::event::{join_array, Event};
use crate::error::{Error, Result};

fn text_of(raw: &[u8], unescaped: std::result::Result<Cow<'_, str>, quick_xml::Error>) -> String {
    match unescaped {
        Ok(s) => s.into_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

fn pct_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn parse_event(payload: &Bytes) -> Result<Event> {
    let mut reader = Reader::from_reader(payload.as_ref());
    reader.config_mut().check_end_names = false;
    reader.config_mut().trim_text(false);

    #[derive(PartialEq)]
    enum Where {
        Outside,
        Event,
        Headers,
        Header,
        ContentLength,
        Body,
    }
    let mut at = Where::Outside;
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    let mut current_name = String::new();
    let mut current_value = String::new();
    let mut content_length: Option<usize> = None;
    let mut body = String::new();
    let mut saw_event = false;

    loop {
        let ev = reader
            .read_event()
            .map_err(|e| Error::protocol(format!("invalid XML event: {e}")))?;
        match ev {
            Xml::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                at = match (at, name.as_str()) {
                    (Where::Outside, "event") => {
                        saw_event = true;
                        Where::Event
                    }
                    (Where::Event, "headers") => Where::Headers,
                    (Where::Event, "Content-Length") => Where::ContentLength,
                    (Where::Event, "body") => Where::Body,
                    (Where::Headers, _) => {
                        current_name = name;
                        current_value.clear();
                        Where::Header
                    }
                    (_, other) => {
                        return Err(Error::protocol(format!(
                            "unexpected element <{other}> in an XML event"
                        )))
                    }
                };
            }
            Xml::Empty(start) if at == Where::Headers => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                push(&mut headers, name, String::new());
            }
            Xml::Text(t) => {
                let s = text_of(&t, t.unescape());
                match at {
                    Where::Header => current_value.push_str(&s),
                    Where::ContentLength => content_length = s.trim().parse().ok(),
                    Where::Body => body.push_str(&s),
                    _ => {}
                }
            }
            Xml::CData(c) => {
                let s = String::from_utf8_lossy(&c).into_owned();
                match at {
                    Where::Header => current_value.push_str(&s),
                    Where::Body => body.push_str(&s),
                    _ => {}
                }
            }
            Xml::End(_) => {
                at = match at {
                    Where::Header => {
                        let value = pct_decode(&current_value);
                        push(&mut headers, std::mem::take(&mut current_name), value);
                        Where::Headers
                    }
                    Where::Headers | Where::ContentLength | Where::Body => Where::Event,
                    Where::Event | Where::Outside => Where::Outside,
                };
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    if !saw_event {
        return Err(Error::protocol("XML event without an <event> element"));
    }
    let mut event = Event::empty();
    for (name, values) in &headers {
        event.push_header(name, &join_array(values));
    }
    // A body that ends in LF is followed by two spaces of indentation before
    // `</body>`; Content-Length tells them apart from real body bytes.
    if let Some(len) = content_length {
        if body.len() == len + 2 && body.ends_with("\n  ") {
            body.truncate(len);
        }
    } else if body.ends_with("\n  ") {
        body.truncate(body.len() - 2);
    }
    event.set_body(body);
    Ok(event)
}

/// Appends a header; an element repeating the previous element's name is
/// another element of the same array header.
fn push(headers: &mut Vec<(String, Vec<String>)>, name: String, value: String) {
    if let Some((last, values)) = headers.last_mut() {
        if *last == name {
            values.push(value);
            return;
        }
    }
    headers.push((name, vec![value]));
}
