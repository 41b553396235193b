use librevox::app;

#[app]
async fn playback(file: &str) -> String {
    file.to_owned()
}

fn main() {}
