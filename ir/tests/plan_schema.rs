//! `spec/plan.schema.json` is the JSON Schema of `custody_ir::plan::MemoryPlan`, generated
//! with schemars. This test fails when the checked-in schema is stale; regenerate it with
//! `UPDATE_EXPECT=1 cargo test -p custody-ir --test plan_schema`.

use expect_test::expect_file;

#[test]
fn plan_schema_is_up_to_date() {
    expect_file!["../../spec/plan.schema.json"].assert_eq(&custody_ir::plan::plan_schema());
}
