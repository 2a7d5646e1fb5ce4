use flytekit::{task, workflow, LocalRuntime, Task};

#[task(cache = true, cache_version = "1")]
fn double(x: u64) -> u64 {
    x * 2
}

#[task(retries = 1, cache_version = "2", cache = true)]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

// Off, with the version kept for when it is turned back on.
#[task(cache = false, cache_version = "1")]
fn paused(x: u64) -> u64 {
    x
}

#[task]
fn plain(x: u64) -> u64 {
    x
}

#[workflow]
fn wf(x: u64) -> u64 {
    add(double(x), plain(x))
}

fn main() {
    assert_eq!(double.info().cache_version(), Some("1"));
    assert_eq!(add.info().cache_version(), Some("2"));
    assert_eq!(add.info().retries(), 1);
    assert_eq!(paused.info().cache_version(), None);
    assert_eq!(plain.info().cache_version(), None);
    assert_eq!(double(4), 8);
    assert_eq!(LocalRuntime::new().run(wf, 3).unwrap(), 9);
}
