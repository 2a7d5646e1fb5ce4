use flytekit::{task, workflow, LocalRuntime};

#[task]
fn describe(n: u64, signed: i32, ratio: f64, name: String, xs: Vec<u64>, flag: bool) -> String {
    format!("{n} {signed} {ratio} {name} {xs:?} {flag}")
}

#[task]
fn pick(a: Option<u64>, b: Option<u64>) -> u64 {
    a.or(b).unwrap_or(0)
}

const LIMIT: u64 = 9;

#[workflow]
fn wf() -> (String, String, u64) {
    let a = describe(3, -4, 0.5, "str", vec![1, 2], true);
    let b = describe(LIMIT, 0, 1.0, "", vec![], false);
    (a, b, pick(None, Some(3)))
}

fn main() {
    let (a, b, c) = LocalRuntime::new().run(wf, ()).unwrap();
    assert_eq!(c, 3);
    assert_eq!(a, "3 -4 0.5 str [1, 2] true");
    assert_eq!(b, "9 0 1  [] false");
}
