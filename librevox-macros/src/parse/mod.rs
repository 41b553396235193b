//! Reading the macros' input into typed data.
//!
//! Each parser records every problem in a [`Ctxt`](crate::ctxt::Ctxt) and
//! returns what it could read, so validation and (fallback) expansion can
//! still run.

pub(crate) mod app;
pub(crate) mod args;
pub(crate) mod events;
pub(crate) mod hooks;
pub(crate) mod listener;
pub(crate) mod start;

/// Which side of the event socket a listener is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// We connect to FreeSWITCH (`#[inbound]`).
    Inbound,
    /// FreeSWITCH connects to us for each call (`#[outbound]`).
    Outbound,
}

impl Kind {
    /// The attribute, as the user writes it.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Inbound => "#[inbound]",
            Kind::Outbound => "#[outbound]",
        }
    }

    /// The context type hooks receive.
    pub(crate) fn context(self) -> &'static str {
        match self {
            Kind::Inbound => "Inbound",
            Kind::Outbound => "Session",
        }
    }

    /// A conventional parameter name for the context.
    pub(crate) fn context_param(self) -> &'static str {
        match self {
            Kind::Inbound => "ctx",
            Kind::Outbound => "call",
        }
    }
}
