use librevox::app;

#[app(nmae = "read", returns = event, returns = event)]
fn read(file: &str) -> String {
    file.to_owned()
}

fn main() {}
