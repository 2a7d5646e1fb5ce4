// Every mistake in one attribute and signature is reported at once.
use flytekit::task;

#[task(retry = 3, timeout = 5)]
async fn fetch<T>(url: T) -> T {
    url
}

fn main() {}
