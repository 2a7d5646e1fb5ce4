use flytekit::{task, workflow, LocalRuntime, Resources, Task};

#[task(interruptible = true, requests(cpu = "1", mem = "500Mi"), limits(cpu = "2", mem = "1Gi"))]
fn square(x: u64) -> u64 {
    x * x
}

#[task(requests(gpu = "1", ephemeral_storage = "10Gi", cpu = "500m"), interruptible = false)]
fn on_gpu(x: u64) -> u64 {
    x
}

#[task]
fn plain(x: u64) -> u64 {
    x
}

#[workflow]
fn both(x: u64) -> u64 {
    on_gpu(square(x))
}

fn main() {
    let info = square.info();
    assert!(info.interruptible());
    assert_eq!(info.requests(), Resources::new().cpu("1").mem("500Mi"));
    assert_eq!(info.limits(), Resources::new().cpu("2").mem("1Gi"));
    let gpu = on_gpu.info();
    assert!(!gpu.interruptible());
    assert_eq!(gpu.requests(), Resources::new().cpu("500m").gpu("1").ephemeral_storage("10Gi"));
    assert!(gpu.limits().is_empty());
    assert!(!plain.info().interruptible() && plain.info().requests().is_empty());
    // Locally the options change nothing.
    assert_eq!(LocalRuntime::new().run(both, 3).unwrap(), 9);
}
