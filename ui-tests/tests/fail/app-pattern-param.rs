use librevox::app;

#[app]
fn set((name, value): (&str, &str)) -> String {
    format!("{name}={value}")
}

fn main() {}
