//! Incrementality: after an edit inside one function's body, only that body is re-checked
//! and re-lowered, even though the edit moves every function after it. The executed
//! queries are snapshotted (names of bodies substituted for salsa ids).

use custody_analysis::hir::item_tree::Body;
use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use expect_test::expect;
use salsa::Setter;
use salsa::plumbing::AsId;

const SOURCE: &str = "
class Point { x: int, y: int }

fn first() -> int { return 1; }

fn second(p: Point) -> int {
    return p.x + first();
}

fn third(n: int) -> int {
    let total = 0;
    for i in 0..n { total = total + i; }
    return total;
}

fn fourth() -> fn(int) -> int {
    return fn(x: int) -> int { return x * 2; };
}

fn main() {
    let double = fourth();
    print(second(Point { x: 1, y: 2 }) + third(4) + double(1));
}
";

/// The executed queries, with body ids replaced by the bodies' names.
fn executed(db: &AnalysisDatabase, file: SourceFile) -> Vec<String> {
    let scope = custody_analysis::hir::scope::item_scope(db, file);
    let names: Vec<(String, String)> = scope
        .bodies
        .iter()
        .map(|(path, index)| {
            let body = Body::new(db, file, path.clone(), *index);
            (format!("{:?}", body.as_id()), path.display_name())
        })
        .collect();
    db.take_executed()
        .into_iter()
        .map(|mut line| {
            for (id, name) in &names {
                line = line.replace(&format!("({id})"), &format!("({name})"));
            }
            line
        })
        .collect()
}

#[test]
fn editing_one_body_relowers_only_that_body() {
    let mut db = AnalysisDatabase::with_execution_log();
    let file = SourceFile::new(&db, "inc.cdy".into(), SOURCE.into());
    assert!(check_file(&db, file).is_empty());
    let before = program_ir(&db, file).clone();
    executed(&db, file);

    // Lengthen `third`'s body: every function after it moves.
    let edited = SOURCE.replace("total = total + i;", "total = total + i * 2 - 1;");
    file.set_text(&mut db).to(edited);
    assert!(check_file(&db, file).is_empty());
    let after = program_ir(&db, file).clone();
    expect![[r#"
        [
            "parse(Id(0))",
            "check_file(Id(0))",
            "item_tree(Id(0))",
            "item_scope_with_diagnostics(Id(0))",
            "body_offset(first)",
            "body_source(first)",
            "body_offset(second)",
            "body_source(second)",
            "body_offset(third)",
            "body_source(third)",
            "infer_body(third)",
            "body_offset(fourth)",
            "body_source(fourth)",
            "body_offset(main)",
            "body_source(main)",
            "lower_body(third)",
            "free_diagnostics(third)",
            "program_ir(Id(0))",
        ]
    "#]]
    .assert_debug_eq(&executed(&db, file));
    // The moved functions kept their code, with spans shifted into place.
    assert_eq!(before.functions.len(), after.functions.len());
    let fourth = |p: &custody_ir::Program| p.functions.iter().find(|f| f.name == "fourth").unwrap().span;
    assert_eq!(fourth(&after).start, fourth(&before).start + 8);
}
