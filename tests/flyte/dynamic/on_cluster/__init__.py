"""The Python twins of workflows of `examples/on_cluster.rs`, named as ours are
(`on_cluster.shards.shard_all`), so that what each side writes (a `DynamicJobSpec`, an
`on_failure` task's inputs) compares name for name: `shards` (the dynamic workflow), `fanout`
(the task `total`, the sub-workflow `inner`), `nesting` (dynamic bodies calling a sub-workflow,
a branch and another dynamic workflow) and `hooks` (a failure node). Kept apart from `twins/`,
whose package the field-by-field comparison of `package` covers as a whole."""
