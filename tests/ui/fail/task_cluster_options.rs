use flytekit::task;

// A quantity Kubernetes does not read, with the suffix it would.
#[task(requests(mem = "2GB"))]
fn gigabytes(x: u64) -> u64 {
    x
}

// A number where a quantity in a string is wanted.
#[task(limits(cpu = 2))]
fn unquoted(x: u64) -> u64 {
    x
}

// A resource that does not exist, near one that does.
#[task(requests(memory = "1Gi"))]
fn misnamed(x: u64) -> u64 {
    x
}

// `key = value` where a list is wanted, and an empty list.
#[task(requests = "1", limits())]
fn not_a_list(x: u64) -> u64 {
    x
}

// A resource named twice, and `requests` twice.
#[task(requests(cpu = "1", cpu = "2"), requests(mem = "1Gi"))]
fn twice(x: u64) -> u64 {
    x
}

// A request above its limit.
#[task(requests(cpu = "4"), limits(cpu = "2000m"))]
fn above(x: u64) -> u64 {
    x
}

// `interruptible` is a flag.
#[task(interruptible = "yes")]
fn not_a_flag(x: u64) -> u64 {
    x
}

fn main() {}
