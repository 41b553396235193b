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

/// Where the reader is in the document.
#[derive(PartialEq)]
enum Where {
    Outside,
    Event,
    Headers,
    Header,
    ContentLength,
    Body,
}

/// What has been read so far.
struct Reading {
    at: Where,
    headers: Vec<(String, Vec<String>)>,
    current_name: String,
    current_value: String,
    content_length: Option<usize>,
    body: String,
    saw_event: bool,
}

impl Reading {
    fn start(&mut self, name: String) -> Result<()> {
        let at = std::mem::replace(&mut self.at, Where::Outside);
        self.at = match (at, name.as_str()) {
            (Where::Outside, "event") => {
                self.saw_event = true;
                Where::Event
            }
            (Where::Event, "headers") => Where::Headers,
            (Where::Event, "Content-Length") => Where::ContentLength,
            (Where::Event, "body") => Where::Body,
            (Where::Headers, _) => {
                self.current_name = name;
                self.current_value.clear();
                Where::Header
            }
            (_, other) => {
                return Err(Error::protocol(format!(
                    "unexpected element <{other}> in an XML event"
                )))
            }
        };
        Ok(())
    }

    fn text(&mut self, s: &str, cdata: bool) {
        match self.at {
            Where::Header => self.current_value.push_str(s),
            Where::ContentLength if !cdata => self.content_length = s.trim().parse().ok(),
            Where::Body => self.body.push_str(s),
            _ => {}
        }
    }

    fn end(&mut self) {
        self.at = match self.at {
            Where::Header => {
                let value = pct_decode(&self.current_value);
                let name = std::mem::take(&mut self.current_name);
                push(&mut self.headers, name, value);
                Where::Headers
            }
            Where::Headers | Where::ContentLength | Where::Body => Where::Event,
            Where::Event | Where::Outside => Where::Outside,
        };
    }

    fn finish(mut self) -> Result<Event> {
        if !self.saw_event {
            return Err(Error::protocol("XML event without an <event> element"));
        }
        let mut event = Event::empty();
        for (name, values) in &self.headers {
            event.push_header(name, &join_array(values));
        }
        // A body that ends in LF is followed by two spaces of indentation
        // before `</body>`; Content-Length tells them apart from real body
        // bytes.
        let body = &mut self.body;
        match self.content_length {
            Some(len) if body.len() == len + 2 && body.ends_with("\n  ") => body.truncate(len),
            None if body.ends_with("\n  ") => body.truncate(body.len() - 2),
            _ => {}
        }
        event.set_body(std::mem::take(body));
        Ok(event)
    }
}

pub(crate) fn parse_event(payload: &Bytes) -> Result<Event> {
    let mut reader = Reader::from_reader(payload.as_ref());
    reader.config_mut().check_end_names = false;
    reader.config_mut().trim_text(false);
    let mut r = Reading {
        at: Where::Outside,
        headers: Vec::new(),
        current_name: String::new(),
        current_value: String::new(),
        content_length: None,
        body: String::new(),
        saw_event: false,
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| Error::protocol(format!("invalid XML event: {e}")))?;
        match ev {
            Xml::Start(start) => {
                r.start(String::from_utf8_lossy(start.name().as_ref()).into_owned())?
            }
            Xml::Empty(start) if r.at == Where::Headers => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                push(&mut r.headers, name, String::new());
            }
            Xml::Text(t) => r.text(&text_of(&t, t.unescape()), false),
            Xml::CData(c) => r.text(&String::from_utf8_lossy(&c), true),
            Xml::End(_) => r.end(),
            Xml::Eof => break,
            _ => {}
        }
    }
    r.finish()
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
