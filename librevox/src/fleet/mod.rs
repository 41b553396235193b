//! Running many switches: the naming rules a fleet shares.
//!
//! A bridge publishing events into NATS JetStream (issue 16) and every
//! consumer reading them must agree on subjects and message ids; they live
//! here, free of any NATS dependency, so both sides use one definition.
//!
//! * Events: `freeswitch.<switch>.event.<EVENT_NAME>`; a CUSTOM event adds
//!   its subclass with `::` written as `.`:
//!   `freeswitch.fs1.event.CUSTOM.sofia.register`.
//! * Commands: `freeswitch.<switch>.api`, `freeswitch.<switch>.bgapi`, and a
//!   background job's result on `freeswitch.<switch>.job.<Job-UUID>`.
//! * The JetStream dedup id (`Nats-Msg-Id`): `<Core-UUID>:<Event-Sequence>`,
//!   the same for every bridge reading the same switch, so two bridges on
//!   one switch store each event once.
//!
//! ```
//! use librevox::fleet::{event_subject, msg_id, SwitchName};
//! use librevox::Event;
//!
//! let fs1 = SwitchName::new("fs1")?;
//! let e = Event::new("CUSTOM")
//!     .with_header("Event-Subclass", "sofia::register")
//!     .with_header("Core-UUID", "c0ffee")
//!     .with_header("Event-Sequence", "42");
//! assert_eq!(event_subject(&fs1, &e), "freeswitch.fs1.event.CUSTOM.sofia.register");
//! assert_eq!(msg_id(&e).as_deref(), Some("c0ffee:42"));
//! # Ok::<(), librevox::fleet::InvalidSwitchName>(())
//! ```

mod subjects;

pub use subjects::{
    api_subject, bgapi_subject, event_subject, job_subject, msg_id, InvalidSwitchName, SwitchName,
    SUBJECT_ROOT,
};
