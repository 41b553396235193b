use librevox::app;

#[app(returns = string)]
fn read(file: &str) -> String {
    file.to_owned()
}

#[app(returns = variable)]
fn read_more(file: &str) -> String {
    file.to_owned()
}

fn main() {}
