use librevox::app;

#[app]
fn playback<P: AsRef<str>>(file: P) -> String {
    file.as_ref().to_owned()
}

fn main() {}
