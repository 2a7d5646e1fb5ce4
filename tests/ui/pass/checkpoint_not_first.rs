use flytekit::{task, workflow, Checkpoint, LocalRuntime, TaskError};

#[task(retries = 2)]
fn resume_sum(upto: u64, cp: &Checkpoint, step: u64) -> Result<u64, TaskError> {
    let (mut i, mut sum): (u64, u64) = cp.load_state()?.unwrap_or((0, 0));
    while i < upto {
        i += step;
        sum += i;
        cp.save_state(&(i, sum))?;
    }
    Ok(sum)
}

#[workflow]
fn wf(upto: u64) -> u64 {
    resume_sum(upto, 1)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 4).unwrap(), 10);
    let cp = Checkpoint::temporary().unwrap();
    assert_eq!(resume_sum(4, &cp, 2).unwrap(), 6);
}
