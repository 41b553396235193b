//! One-off commands over an authenticated inbound connection: `api`,
//! `bgapi` jobs, typed commands, and an application on a channel.
//!
//! Against the simulator (no FreeSWITCH needed), in two terminals:
//!
//! ```sh
//! cargo run -p librevox-cli -- sim
//! cargo run --example command_socket
//! ```
//!
//! Against a real FreeSWITCH: `cargo run --example command_socket -- 10.0.0.5:8021 ClueCon`.

use librevox::commands::Originate;
use librevox::prelude::*;
use librevox::CommandSocket;

#[tokio::main]
async fn main() -> librevox::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8021".into());
    let password = args.next().unwrap_or_else(|| "ClueCon".into());

    let socket = CommandSocket::connect(&addr, password.as_str()).await?;
    println!("{}", socket.status().await?);
    println!("up for {} s", socket.uptime().await?);

    // A call, parked once answered. On the simulator `loopback/park` lands in
    // its `park` extension; on a real switch use a real endpoint.
    let uuid = socket
        .originate(&Originate::new("loopback/park").app("park", ""))
        .await?;
    println!("originated {uuid}");
    socket
        .uuid_setvar(&uuid, "librevox_demo", Some("yes"))
        .await?;
    println!(
        "variable: {:?}",
        socket.uuid_getvar(&uuid, "librevox_demo").await?
    );

    // An application on that channel, waiting for its completion.
    let done = socket.channel(&uuid).set("greeting", "hello").await;
    println!("set: {done:?}");

    // A background job: returns at once; await it for the output.
    let job = socket.bgapi("status").await?;
    let id = job.uuid().to_owned();
    let output = job.output().await?;
    println!("job {id} said: {}", output.lines().next().unwrap_or(""));

    // FreeSWITCH's errors are errors, with its text.
    match socket.api("no_such_command").await {
        Err(e) => println!("as expected: {e}"),
        Ok(r) => println!("unexpected: {}", r.text()),
    }
    socket.uuid_kill(&uuid, None).await?;
    socket.close().await
}
