use librevox::app;

struct Apps;

impl Apps {
    #[app]
    fn playback(&self, file: &str) -> String {
        file.to_owned()
    }
}

fn main() {}
