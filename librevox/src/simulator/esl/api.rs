//! `api` (answered with `api/response`, then the API event) and `bgapi`
//! (answered at once; the BACKGROUND_JOB event carries the output).

use std::sync::Arc;

use super::conn::{Conn, Reply};
use crate::protocol::packet::Packet;
use crate::protocol::server;
use crate::simulator::api;
use crate::simulator::bus::Fired;
use crate::simulator::channel::Switch;
use crate::simulator::sync::BoxFut;

/// The command and its arguments after `api ` / `bgapi `.
fn split(line: &str) -> (&str, &str) {
    match line.trim().split_once(' ') {
        Some((c, a)) => (c.trim(), a.trim()),
        None => (line.trim(), ""),
    }
}

pub(super) fn api<'a>(conn: &'a mut Conn, pkt: &'a Packet) -> BoxFut<'a, Reply> {
    Box::pin(async move {
        let (command, args) = split(&pkt.command[4..]);
        if !conn.allowed_api(command, args) {
            return Reply::Text("-ERR permission denied".into());
        }
        let session = conn.session.as_ref().map(|c| c.uuid.clone());
        let out = api::execute(&conn.switch, command, args, session.as_deref()).await;
        let body = server::api_body(command, out.as_deref());
        let ok = conn.write(server::api_response(body.as_bytes())).await;
        api::fire_api_event(&conn.core, command, args);
        if ok {
            Reply::Written
        } else {
            Reply::Close(Vec::new())
        }
    })
}

pub(super) fn bgapi(conn: &mut Conn, pkt: &Packet) -> Reply {
    let (command, args) = split(&pkt.command[6..]);
    if !conn.allowed_api(command, args) {
        return Reply::Text("-ERR permission denied".into());
    }
    let job = pkt
        .header("Job-UUID")
        .map(str::to_owned)
        .unwrap_or_else(|| conn.core.uuids.next());
    let owner = conn.session.as_ref().map(|c| c.uuid.clone());
    tokio::spawn(run_job(
        conn.switch.clone(),
        job.clone(),
        owner,
        command.to_owned(),
        args.to_owned(),
    ));
    let text = format!("+OK Job-UUID: {job}");
    Reply::Frame(server::command_reply_with(&text, &[("Job-UUID", &job)]))
}

/// Runs a background job and fires its BACKGROUND_JOB (after the API
/// event).
async fn run_job(
    switch: Arc<Switch>,
    job: String,
    owner: Option<String>,
    command: String,
    args: String,
) {
    let core = &switch.core;
    let out = api::execute(&switch, &command, &args, owner.as_deref()).await;
    api::fire_api_event(core, &command, &args);
    let body = out.unwrap_or_else(|| format!("-ERR {command} Command not found!\n"));
    let src = ("mod_event_socket.c", "api_exec", 1580);
    let mut e = core.base_event("BACKGROUND_JOB", src);
    e.push_header("Job-UUID", &job);
    if let Some(o) = &owner {
        e.push_header("Job-Owner-UUID", o);
    }
    e.push_header("Job-Command", &command);
    if !args.is_empty() {
        e.push_header("Job-Command-Arg", &args);
    }
    let empty = body.is_empty();
    e.set_body(body);
    core.fire_with(Fired {
        event: e,
        empty_body: empty,
    });
}
