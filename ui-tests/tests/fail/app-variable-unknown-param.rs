use librevox::app;

#[app(name = "read", returns = variable(var_name))]
fn read_digits(file: &str, var: &str) -> String {
    format!("1 4 {file} {var}")
}

fn main() {}
