// Raw-identifier parameters keep their unescaped name in the interface.
use flytekit::{task, workflow, LocalRuntime, Task};

#[task]
fn kw(r#type: String) -> String {
    r#type
}

#[workflow]
fn wf(r#type: String) -> String {
    kw(r#type)
}

fn main() {
    assert_eq!(kw.info().inputs(), ["type"]);
    assert_eq!(LocalRuntime::new().run(wf, "k".to_string()).unwrap(), "k");
}
