// A workflow body is Rust that runs once while the graph is built: functions of types, method
// calls on values known then, and an empty `vec![]` work as in any Rust code.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn describe(name: String, xs: Vec<u64>, tags: Vec<u64>) -> String {
    format!("{name} {xs:?} {tags:?}")
}

#[workflow]
fn wf() -> String {
    let name = String::from("owned").to_uppercase();
    let xs: Vec<u64> = (1..4).collect();
    describe(name, xs, vec![])
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, ()).unwrap(), "OWNED [1, 2, 3] []");
}
