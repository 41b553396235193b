use librevox::{event, inbound};

struct Monitor {
    count: u32,
}

#[inbound]
impl Monitor {
    #[event(channel_hangup)]
    async fn hangup(&mut self) {
        self.count += 1;
    }
}

fn main() {}
