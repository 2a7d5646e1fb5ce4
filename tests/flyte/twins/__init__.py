"""Python twins of the Rust workflows that `package` is compared with, field by field.

Each module is a flytekit user's version of one Rust module, with the same task and workflow
names, input names, types, options and wiring. Its docstring holds the Rust twin to copy.
"""
