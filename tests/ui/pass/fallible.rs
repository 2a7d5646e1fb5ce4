use flytekit::{task, workflow, LocalRuntime, TaskError};

#[task]
fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    s.trim().parse()
}

#[task]
fn parse_twice(s: String) -> Result<u64, TaskError> {
    let n: u64 = s.trim().parse()?;
    let text = std::str::from_utf8(b"2")?;
    let m: u64 = text.parse()?;
    Ok(n * m)
}

#[task]
fn plain(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn wf(s: String) -> (u64, u64) {
    let a = parse(s);
    let b = parse_twice(s);
    (plain(a), b)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, " 21 ".to_string()).unwrap(), (22, 42));
    let err = LocalRuntime::new().run(wf, "nope".to_string()).unwrap_err();
    assert!(err.to_string().contains("invalid digit"), "{err}");
    assert_eq!(parse_twice(" 4".to_string()).unwrap(), 8);
}
