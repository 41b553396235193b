//! `api` and `bgapi` by NATS request/reply.

use std::time::Duration;

use async_nats::{Client, HeaderMap, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::{BridgeError, ERROR_HEADER, QUEUE_GROUP};
use crate::connection::Connection;
use crate::fleet::{self, SwitchName};
use crate::listener::Shutdown;
use crate::Error;

pub(super) struct Subscriptions {
    api: Subscriber,
    bgapi: Subscriber,
}

pub(super) async fn subscribe(
    client: &Client,
    switch: &SwitchName,
) -> Result<Subscriptions, BridgeError> {
    let sub = |subject: String| async move {
        client
            .queue_subscribe(subject.clone(), QUEUE_GROUP.to_owned())
            .await
            .map_err(|e| BridgeError::Subscribe {
                subject,
                message: e.to_string(),
            })
    };
    Ok(Subscriptions {
        api: sub(fleet::api_subject(switch)).await?,
        bgapi: sub(fleet::bgapi_subject(switch)).await?,
    })
}

pub(super) async fn serve(
    switch: SwitchName,
    client: Client,
    mut subs: Subscriptions,
    conn: watch::Receiver<Option<Connection>>,
    timeout: Duration,
    shutdown: Shutdown,
) {
    loop {
        let (msg, bg) = tokio::select! {
            _ = shutdown.wait() => return,
            m = subs.api.next() => (m, false),
            m = subs.bgapi.next() => (m, true),
        };
        let Some(msg) = msg else { return };
        let Some(reply) = msg.reply.clone() else {
            tracing::warn!(switch = %switch, subject = %msg.subject, "command without a reply subject ignored");
            continue;
        };
        let client = client.clone();
        let conn = conn.borrow().clone();
        let switch = switch.clone();
        tokio::spawn(async move {
            let (headers, body) = if bg {
                bgapi(&client, &switch, conn, &msg, timeout).await
            } else {
                api(conn, &msg.payload, timeout).await
            };
            if let Err(e) = client.publish_with_headers(reply, headers, body).await {
                tracing::warn!(switch = %switch, "cannot send a command's reply: {e}");
            }
        });
    }
}

fn failure(text: impl Into<String>) -> (HeaderMap, Bytes) {
    let text: String = text.into();
    let mut h = HeaderMap::new();
    // A header value cannot hold CR/LF: FreeSWITCH's text is one line anyway.
    h.insert(ERROR_HEADER, text.replace(['\r', '\n'], " ").trim());
    (h, Bytes::from(text))
}

/// The command line of a request, validated like the library's own API.
fn command_line(payload: &[u8]) -> Result<&str, (HeaderMap, Bytes)> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(failure("the command is not UTF-8"));
    };
    if text.contains(['\r', '\n']) {
        return Err(failure(
            "a command line cannot contain CR or LF: send one command per request",
        ));
    }
    if text.trim().is_empty() {
        return Err(failure(
            "empty command: send the command line as the payload",
        ));
    }
    Ok(text)
}

fn connection(conn: Option<Connection>) -> Result<Connection, (HeaderMap, Bytes)> {
    conn.ok_or_else(|| failure("the switch is not connected; retry later"))
}

fn error_text(e: &Error) -> String {
    match e {
        Error::CommandFailed { reply, .. } => reply.clone(),
        other => other.to_string(),
    }
}

async fn api(conn: Option<Connection>, payload: &[u8], timeout: Duration) -> (HeaderMap, Bytes) {
    let cmd = match command_line(payload) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let conn = match connection(conn) {
        Ok(c) => c,
        Err(f) => return f,
    };
    match tokio::time::timeout(timeout, conn.api(cmd)).await {
        Err(_) => failure(format!("timed out after {timeout:?}")),
        Ok(Err(e)) => failure(error_text(&e)),
        Ok(Ok(r)) => (HeaderMap::new(), r.body().clone()),
    }
}

async fn bgapi(
    client: &Client,
    switch: &SwitchName,
    conn: Option<Connection>,
    msg: &async_nats::Message,
    timeout: Duration,
) -> (HeaderMap, Bytes) {
    let cmd = match command_line(&msg.payload) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let job_uuid = match msg.headers.as_ref().and_then(|h| h.get("Job-UUID")) {
        Some(v) => {
            let v = v.as_str();
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return failure(format!(
                    "Job-UUID `{v}` is not a valid subject token: use letters, digits, `-`, `_`"
                ));
            }
            v.to_owned()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let conn = match connection(conn) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let conn = conn.with_timeout(timeout);
    let job = match tokio::time::timeout(timeout, conn.bgapi_with_uuid(cmd, &job_uuid)).await {
        Err(_) => return failure(format!("timed out after {timeout:?}")),
        Ok(Err(e)) => return failure(error_text(&e)),
        Ok(Ok(job)) => job,
    };
    let client = client.clone();
    let subject = fleet::job_subject(switch, &job_uuid);
    let switch = switch.clone();
    tokio::spawn(async move {
        let (headers, body) = match job.wait().await {
            Ok(ev) => {
                let body = ev.body().cloned().unwrap_or_default();
                if body.starts_with(b"-ERR") || body.starts_with(b"-USAGE") {
                    let (mut h, _) = failure(String::from_utf8_lossy(&body).into_owned());
                    h.insert("Job-UUID", ev.header("Job-UUID").unwrap_or_default());
                    (h, body)
                } else {
                    let mut h = HeaderMap::new();
                    h.insert("Job-UUID", ev.header("Job-UUID").unwrap_or_default());
                    (h, body)
                }
            }
            Err(e) => failure(error_text(&e)),
        };
        if let Err(e) = client.publish_with_headers(subject, headers, body).await {
            tracing::warn!(switch = %switch, "cannot publish a job's result: {e}");
        }
    });
    let mut h = HeaderMap::new();
    h.insert("Job-UUID", job_uuid.as_str());
    (h, Bytes::from(job_uuid))
}
