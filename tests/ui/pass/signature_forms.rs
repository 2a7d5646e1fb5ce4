use flytekit::{task, workflow, LocalRuntime, Task, TaskError};

// Pattern, wildcard and `mut` parameters.
#[task]
fn sum_pair((a, b): (u64, u64), _: u64, mut extra: u64) -> u64 {
    extra += 1;
    a + b + extra
}

#[task]
fn kw(label: String) -> String {
    label
}

// `io::Result` and a tuple inside `Result`.
#[task]
fn read_len(s: String) -> std::io::Result<(u64, u64)> {
    Ok((s.len() as u64, 1))
}

/// Docs and lint attributes stay where they belong.
#[task(retries = 0)]
#[allow(clippy::needless_return)]
pub(crate) fn add(a: u64, b: u64) -> u64 {
    return a + b;
}

#[workflow]
fn wf(s: String) -> (u64, String) {
    let (n, one) = read_len(s);
    let total = sum_pair((1, 2), 99, add(n, one));
    (add(total, add(one, one)), kw("k"))
}

fn main() {
    assert_eq!(sum_pair((1, 2), 0, 0), 4);
    assert_eq!(sum_pair.info().inputs(), ["arg0", "arg1", "extra"]);
    assert_eq!(kw.info().inputs(), ["label"]);
    let out = LocalRuntime::new().run(wf, "abc".to_string()).unwrap();
    // read_len: (3, 1); add(3, 1) = 4; sum_pair = 1 + 2 + 5 = 8; add(8, 2) = 10.
    assert_eq!(out, (10, "k".to_string()));
    let _: Result<u64, TaskError> = Ok(0);
}
