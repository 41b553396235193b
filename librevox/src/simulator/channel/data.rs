//! A channel's data — states, caller profile, times, variables — and the
//! headers FreeSWITCH writes from it: the channel data of every channel
//! event (§4.1), the caller profile, and the variables a hangup sets.

use crate::protocol::{
    AnswerState, CallState, ChannelState, Event, HangupCause, ARRAY_PREFIX, ARRAY_SEPARATOR,
};
use crate::simulator::clock::date_local;
use crate::simulator::config::CallerScript;
use crate::simulator::state::{number_text, q850};

/// Everything a channel's events report, behind the channel's lock.
pub(crate) struct ChanData {
    pub(crate) name: String,
    /// An outgoing channel (the A leg of an originate): `Call-Direction:
    /// outbound`.
    pub(crate) outbound: bool,
    /// The originated leg was answered: its caller profile shows the caller
    /// ID flipped (`channel_cid_flipped`), and it has hit the dialplan.
    pub(crate) cid_flipped: bool,
    /// `Caller-Dialplan`: `xml`, or the loopback dial string's dialplan.
    pub(crate) dialplan: String,
    /// The number beside `Outbound Call` in the caller profile: the last
    /// part of the loopback dial string (its dialplan, else its context,
    /// else its extension, as FreeSWITCH 1.11.3 shows it).
    pub(crate) outbound_number: String,
    /// The state last set (`Channel-State-Number`).
    pub(crate) state: ChannelState,
    /// The state the state machine runs (`Channel-State`).
    pub(crate) running: ChannelState,
    pub(crate) callstate: CallState,
    pub(crate) answer_state: AnswerState,
    pub(crate) hangup_cause: Option<HangupCause>,
    pub(crate) caller_id_name: String,
    pub(crate) caller_id_number: String,
    pub(crate) destination: String,
    pub(crate) context: String,
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) times: Times,
    pub(crate) script: CallerScript,
    /// How many scripted inputs the digit-collecting applications used.
    pub(crate) inputs_used: usize,
    /// Applications started at least once (for `hangup_during`).
    pub(crate) started_apps: Vec<String>,
}

/// The caller profile's times, microseconds since the epoch (0 = never).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) created: u64,
    pub(crate) answered: u64,
    pub(crate) progress: u64,
    pub(crate) progress_media: u64,
    pub(crate) hangup: u64,
    pub(crate) bridged: u64,
    pub(crate) transfer: u64,
}

/// The codec headers of a loopback channel (L16 at 8 kHz).
const CODEC_HEADERS: [(&str, &str); 6] = [
    ("Channel-Read-Codec-Name", "L16"),
    ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "128000"),
    ("Channel-Write-Codec-Name", "L16"),
    ("Channel-Write-Codec-Rate", "8000"),
    ("Channel-Write-Codec-Bit-Rate", "128000"),
];

impl ChanData {
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a variable (moving it to the end); an empty value unsets it.
    pub(crate) fn set_var(&mut self, name: &str, value: &str) {
        self.vars.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.vars.push((name.to_owned(), value.to_owned()));
        }
    }

    /// `push`: appends to a variable, turning it into an array.
    pub(crate) fn push_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => {
                *old = match old.strip_prefix(ARRAY_PREFIX) {
                    Some(_) => format!("{old}{ARRAY_SEPARATOR}{value}"),
                    None => format!("{ARRAY_PREFIX}{old}{ARRAY_SEPARATOR}{value}"),
                };
            }
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    /// `inbound`, or `outbound` for an originated leg.
    fn direction(&self) -> &'static str {
        if self.outbound {
            "outbound"
        } else {
            "inbound"
        }
    }

    /// Appends the channel data of §4.1: state, caller profile, variables.
    pub(crate) fn push_channel_data(&self, uuid: &str, e: &mut Event, with_vars: bool) {
        e.push_header("Channel-State", self.running.as_str());
        e.push_header("Channel-Call-State", self.callstate.as_str());
        e.push_header("Channel-State-Number", &number_text(self.state.number()));
        e.push_header("Channel-Name", &self.name);
        e.push_header("Unique-ID", uuid);
        e.push_header("Call-Direction", self.direction());
        e.push_header("Presence-Call-Direction", self.direction());
        // An originated leg hits the dialplan once answered.
        let hit = !self.outbound || self.cid_flipped;
        e.push_header("Channel-HIT-Dialplan", if hit { "true" } else { "false" });
        e.push_header("Channel-Call-UUID", uuid);
        e.push_header("Answer-State", self.answer_state.as_str());
        // Written for a cause other than NONE (0), as FreeSWITCH does.
        if let Some(c) = self
            .hangup_cause
            .as_ref()
            .filter(|c| **c != HangupCause::None)
        {
            e.push_header("Hangup-Cause", c.as_str());
        }
        for (n, v) in CODEC_HEADERS {
            e.push_header(n, v);
        }
        self.push_profile(uuid, "Caller-", e);
        if with_vars {
            for (n, v) in &self.vars {
                e.push_header(&format!("variable_{n}"), v);
            }
        }
    }

    /// Appends the caller profile with this prefix (`Caller-`, or
    /// `Channel-` in the `connect` reply's CHANNEL_DATA); empty values are
    /// left out.
    pub(crate) fn push_profile(&self, uuid: &str, prefix: &str, e: &mut Event) {
        let mut p = |n: &str, v: &str| {
            if !v.is_empty() {
                e.push_header(&format!("{prefix}{n}"), v);
            }
        };
        let dialed = (self.caller_id_name.as_str(), self.caller_id_number.as_str());
        let outbound_call = ("Outbound Call", self.outbound_number.as_str());
        // The originated leg, once answered, shows the caller ID flipped
        // (FreeSWITCH sets `channel_cid_flipped`): the dialed ID is its
        // callee. Before, it shows it as the B leg does.
        let (caller, callee) = if self.cid_flipped {
            (outbound_call, dialed)
        } else {
            (dialed, outbound_call)
        };
        p("Direction", self.direction());
        p("Logical-Direction", self.direction());
        p("Dialplan", &self.dialplan);
        p("Caller-ID-Name", caller.0);
        p("Caller-ID-Number", caller.1);
        p("Orig-Caller-ID-Name", dialed.0);
        p("Orig-Caller-ID-Number", dialed.1);
        p("Callee-ID-Name", callee.0);
        p("Callee-ID-Number", callee.1);
        p("ANI", dialed.1);
        p("Destination-Number", &self.destination);
        p("Unique-ID", uuid);
        p("Source", "mod_loopback");
        p("Context", &self.context);
        p("Channel-Name", &self.name);
        p("Profile-Index", "1");
        let t = self.times;
        for (n, us) in [
            ("Profile-Created-Time", t.created),
            ("Channel-Created-Time", t.created),
            ("Channel-Answered-Time", t.answered),
            ("Channel-Progress-Time", t.progress),
            ("Channel-Progress-Media-Time", t.progress_media),
            ("Channel-Hangup-Time", t.hangup),
            ("Channel-Transfer-Time", t.transfer),
            ("Channel-Resurrect-Time", 0),
            ("Channel-Bridged-Time", t.bridged),
            ("Channel-Last-Hold", 0),
            ("Channel-Hold-Accum", 0),
        ] {
            p(n, &us.to_string());
        }
        p("Screen-Bit", "true");
        p("Privacy-Hide-Name", "false");
        p("Privacy-Hide-Number", "false");
    }

    /// Sets the variables FreeSWITCH sets when a call ends (its CDR
    /// fields), in FreeSWITCH's order; the call ended at `end`.
    pub(crate) fn set_hangup_vars(&mut self, end: u64) {
        let mut v = self.stamp_vars(end);
        for name in ["current_application", "current_application_data"] {
            if let Some(value) = self.var(name) {
                let short = if name == "current_application" {
                    "last_app"
                } else {
                    "last_arg"
                };
                v.push((short.into(), value.to_owned()));
            }
        }
        v.push(("caller_id".into(), self.caller_id_number.clone()));
        v.extend(self.duration_vars(end));
        for (n, val) in v {
            // Replaced even when empty (unlike `set_var`).
            self.vars.retain(|(x, _)| *x != n);
            self.vars.push((n, val));
        }
    }

    /// The cause, the stamps and the epochs of a hangup.
    fn stamp_vars(&self, end: u64) -> Vec<(String, String)> {
        let cause = self.hangup_cause.clone().unwrap_or(HangupCause::None);
        let (created, answered) = (self.times.created, self.times.answered);
        let secs = |us: u64| (us / 1_000_000).to_string();
        let mut v: Vec<(String, String)> = vec![
            ("hangup_cause".into(), cause.to_string()),
            ("hangup_cause_q850".into(), q850(&cause).to_string()),
            ("digits_dialed".into(), "none".into()),
            ("start_stamp".into(), date_local(created)),
            ("profile_start_stamp".into(), date_local(created)),
        ];
        if answered != 0 {
            v.push(("answer_stamp".into(), date_local(answered)));
        }
        v.push(("end_stamp".into(), date_local(end)));
        let epochs = [
            ("start", created),
            ("profile_start", created),
            ("answer", answered),
            ("bridge", 0),
            ("last_hold", 0),
        ];
        for (base, us) in epochs {
            v.push((format!("{base}_epoch"), secs(us)));
            v.push((format!("{base}_uepoch"), us.to_string()));
        }
        for (n, val) in [
            ("hold_accum_seconds", "0"),
            ("hold_accum_usec", "0"),
            ("hold_accum_ms", "0"),
        ] {
            v.push((n.into(), val.into()));
        }
        for base in ["resurrect", "progress", "progress_media"] {
            v.push((format!("{base}_epoch"), "0".into()));
            v.push((format!("{base}_uepoch"), "0".into()));
        }
        v.push(("end_epoch".into(), secs(end)));
        v.push(("end_uepoch".into(), end.to_string()));
        v
    }

    /// `duration`, `billsec`, ... in seconds, then `mduration`, `billmsec`,
    /// ... in milliseconds, then `uduration`, `billusec`, ... in µs.
    fn duration_vars(&self, end: u64) -> Vec<(String, String)> {
        let (created, answered) = (self.times.created, self.times.answered);
        let dur = end.saturating_sub(created);
        let (bill, answer) = if answered != 0 {
            (
                end.saturating_sub(answered),
                answered.saturating_sub(created),
            )
        } else {
            (0, 0)
        };
        let mut v = Vec::new();
        for (unit, div) in [("sec", 1_000_000u64), ("msec", 1000), ("usec", 1)] {
            let name = |base: &str| match (base, unit) {
                ("duration", "sec") => "duration".to_owned(),
                ("duration", _) => format!("{}duration", &unit[..1]),
                (b, _) => format!("{b}{unit}"),
            };
            for (base, val) in [
                ("duration", dur),
                ("bill", bill),
                ("progress", 0),
                ("answer", answer),
                ("wait", 0),
                ("progress_media", 0),
                ("flow_bill", dur),
            ] {
                v.push((name(base), (val / div).to_string()));
            }
        }
        v
    }
}
