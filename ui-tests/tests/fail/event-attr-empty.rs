use librevox::{event, inbound};

struct Monitor;

#[inbound]
impl Monitor {
    #[event]
    async fn nothing(&self) {}

    #[event(subclass = "a::b")]
    async fn wrong_key(&self) {}

    #[event(custom = conference)]
    async fn unquoted(&self) {}
}

fn main() {}
