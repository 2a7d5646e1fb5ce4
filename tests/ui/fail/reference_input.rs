use flytekit::task;

#[task]
fn shout(text: &str) -> String {
    text.to_uppercase()
}

fn main() {}
