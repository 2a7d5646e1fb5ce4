"""The Python twin of the dynamic workflow of `examples/on_cluster.rs` (modules `shards` and
`fanout`, the task `total` only), named as ours are (`on_cluster.shards.shard_all`), so that the
`DynamicJobSpec` each side writes compares name for name. Kept apart from `twins/`, whose package
the field-by-field comparison of `package` covers as a whole."""
