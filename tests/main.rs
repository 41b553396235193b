//! Integration tests of the listeners and the DSL against the FreeSWITCH
//! simulator (issue #4): one binary, one module per area.

mod support;

mod dsl;
mod inbound;
mod outbound;
mod shutdown;
