// Regenerate the expected compiler output in tests/ui/fail/*.stderr with `TRYBUILD=overwrite cargo test --test ui`.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
