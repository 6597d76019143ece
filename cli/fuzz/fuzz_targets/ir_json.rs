//! IR JSON (seeded with `custody ir --format json` output) through the validator and then
//! the planners: invalid IR gets its validation errors, valid IR a plan; nothing panics.
#![no_main]

use custody_analysis::plan::SpanMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(program) = serde_json::from_slice::<custody_ir::Program>(data) else {
        return;
    };
    let valid = custody_ir::validate(&program).is_ok();
    let spans = SpanMap::new(None);
    let naive = custody_analysis::naive::naive_plan(&program, "fuzz.json", &spans);
    let (inferred, _) =
        custody_analysis::inferred::inferred_plan(&program, "fuzz.json", &spans, &|s| format!("{}", s.start));
    assert_eq!(naive.functions.is_empty(), !valid || program.functions.is_empty());
    assert_eq!(inferred.functions.is_empty(), !valid || program.functions.is_empty());
});
