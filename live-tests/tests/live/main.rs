//! The live tier: librevox's public API against a real FreeSWITCH.
//!
//! Needs a switch (see the crate documentation and README.md, "Testing
//! Against a Real FreeSWITCH"): `LIBREVOX_HOST`, `LIBREVOX_PORT`,
//! `LIBREVOX_PASSWORD`. Calls are made with the loopback endpoint and the
//! inline dialplan only, so any FreeSWITCH with mod_loopback, mod_dptools,
//! mod_commands and mod_tone_stream will do. Every wait is bounded ([`WAIT`]) and fails the
//! test; every test hangs up the calls it made, also when it fails.
//!
//! [`WAIT`]: librevox_live_tests::WAIT

mod cli;
mod command_socket;
mod inbound;
mod outbound;
