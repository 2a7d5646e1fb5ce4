use core::time::Duration;

use flytekit::{task, workflow, LocalRuntime, Task};

#[task(timeout = "30s")]
fn quick(x: u64) -> u64 {
    x + 1
}

#[task(retries = 2, timeout = "1h 30m")]
fn long(x: u64) -> u64 {
    x * 2
}

#[task(timeout = "500ms", cache = true, cache_version = "1")]
fn brief(x: u64) -> u64 {
    x
}

#[task(timeout = "1.5s")]
fn fractional(x: u64) -> u64 {
    x
}

#[task]
fn unbounded(x: u64) -> u64 {
    x
}

#[workflow]
fn wf(x: u64) -> u64 {
    brief(long(quick(x)))
}

fn main() {
    assert_eq!(quick.info().timeout(), Some(Duration::from_secs(30)));
    assert_eq!(long.info().timeout(), Some(Duration::from_secs(90 * 60)));
    assert_eq!(long.info().retries(), 2);
    assert_eq!(brief.info().timeout(), Some(Duration::from_millis(500)));
    assert_eq!(brief.info().cache_version(), Some("1"));
    assert_eq!(fractional.info().timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(unbounded.info().timeout(), None);
    assert_eq!(LocalRuntime::new().run(wf, 3).unwrap(), 8);
}
