//! Escape verdicts against the rest of the plan (issue 15, G): a backend that trusts
//! `escape` (puts `contained` objects on the stack, as Go's and HotSpot's users do) must
//! never free a live object, so a verdict may not be lower than what the plan's own
//! reasons rely on.
//!
//! Over every program of `test-data/programs/` and every case of `spec/cases/` that checks
//! clean:
//!
//! - an allocation the plan says is returned, stored in a global or handed to another
//!   thread (its reason says so) is not `contained`, and one whose control passes to the
//!   caller or to `global` is not `contained` either;
//! - the allocations that are `contained` although their *class* is counted as reachable
//!   from code custody cannot see, from another thread or from a global are listed in
//!   `escape_consistency.txt` (`UPDATE_EXPECT=1` to bless). The lifetime stage unifies
//!   classes by type and treats every closure call and every extern argument as unknown
//!   code, so such a class may hold objects the escape analysis proves contained (a known
//!   closure's argument, an extern's `borrow` argument, an object only unified by type with
//!   one that escapes). Each entry must be one of those: a new entry is a contradiction to
//!   explain, like the string returned through an unknown closure call that issue 15 found
//!   `contained` (now `uncontained`, and not in the list).

mod corpus;

use custody_analysis::inferred::inferred_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use custody_ir::plan::{Control, Escape};
use custody_syntax::LineIndex;
use expect_test::expect_file;

#[test]
fn escape_verdicts_are_not_below_what_the_plan_relies_on() {
    let mut violations = Vec::new();
    let mut listed = String::new();
    let mut allocations = 0;
    for path in corpus::repository_programs() {
        let dir = path.parent().and_then(|p| p.file_name()).unwrap().to_string_lossy().to_string();
        let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
        let text = std::fs::read_to_string(&path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, name.clone(), text.clone());
        if check_file(&db, file).iter().any(|d| d.severity == Severity::Error) {
            continue;
        }
        let program = program_ir(&db, file);
        let index = LineIndex::new(&text);
        let position = |span: custody_ir::Span| format!("{}..{}", span.start, span.end);
        let (plan, _) = inferred_plan(program, &name, &SpanMap::new(Some(&index)), &position);
        for f in &plan.functions {
            for a in &f.allocations {
                allocations += 1;
                if a.escape != Escape::Contained {
                    continue;
                }
                let relied = ["returned at", "stored into global", "handed over to the thread"]
                    .iter()
                    .find(|w| a.reason.contains(**w));
                if let Some(w) = relied {
                    violations.push(format!(
                        "{name} {}: `contained`, but its reason says `{w}`: {}",
                        a.id, a.reason
                    ));
                }
                if matches!(a.control, Control::Caller | Control::Global) {
                    violations.push(format!("{name} {}: `contained` with control {:?}", a.id, a.control));
                }
                let class =
                    ["reachable from code custody cannot see", "reachable from another thread", "global"]
                        .iter()
                        .any(|w| a.reason.contains(w));
                if class {
                    listed.push_str(&format!("{name} {} ({}): {}\n", a.id, a.placement.as_str(), a.reason));
                }
            }
        }
    }
    assert!(allocations > 300, "only {allocations} allocations looked at");
    assert!(violations.is_empty(), "{} contradictions:\n{}", violations.len(), violations.join("\n"));
    expect_file!["escape_consistency.txt"].assert_eq(&listed);
}
