//! The fast escape solver agrees with the reference solver (plain iteration to a
//! fixpoint) on every function of every test program: same points-to facts, same
//! summaries, same verdicts.

use custody_analysis::escape::{analyze, analyze_reference};
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use std::path::{Path, PathBuf};

/// The test programs, and the clean cases of the checker's spec (more shapes of code).
fn programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for (dir, prefix) in [("test-data/programs", ""), ("spec/cases/check", "ok_")] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".cdy") && name.starts_with(prefix) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn fast_and_reference_solvers_agree() {
    let mut checked = 0;
    let mut reads = 0;
    for path in programs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, path.display().to_string(), text);
        let program = program_ir(&db, file);
        let fast = analyze(program);
        let slow = analyze_reference(program);
        for (i, f) in program.functions.iter().enumerate() {
            let (a, b) = (&fast.functions[i], &slow.functions[i]);
            assert_eq!(
                a.solution.facts(&a.graph),
                b.solution.facts(&b.graph),
                "{}: {}",
                path.display(),
                f.name
            );
            assert_eq!(a.summary, b.summary, "{}: {}", path.display(), f.name);
            reads += assert_reaching_agrees(f, &a.graph, &format!("{}: {}", path.display(), f.name));
            for (at, inst) in f.insts() {
                if inst.kind.is_allocation() {
                    assert_eq!(
                        a.allocation_escape(at),
                        b.allocation_escape(at),
                        "{}: {} {at}",
                        path.display(),
                        f.name
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} functions");
    assert!(reads > 1000, "only {reads} reads compared");
}

/// The sparse reaching definitions (one definition or merge per read) name, for every read
/// in code the entry reaches, exactly the definitions that the dense bit-set dataflow finds
/// reaching it from reachable code. Returns how many reads it compared.
fn assert_reaching_agrees(
    f: &custody_ir::Function,
    g: &custody_analysis::escape::graph::FunctionGraph,
    what: &str,
) -> usize {
    use custody_analysis::escape::reaching::{Defs, dense};
    let defs = Defs { defs: &g.defs, def_at: &g.def_at, array_def_at: &g.array_def_at };
    let mut reachable = vec![false; f.blocks.len()];
    let mut work = vec![0usize];
    while let Some(b) = work.pop() {
        if b < reachable.len() && !std::mem::replace(&mut reachable[b], true) {
            let last = f.blocks[b].insts.last();
            work.extend(last.map(|i| i.kind.successors()).unwrap_or_default().iter().map(|s| s.index()));
        }
    }
    let from_reachable = |d: &u32| g.defs[*d as usize].at.is_none_or(|at| reachable[at.block.index()]);
    let mut reads = 0;
    for ((at, local), expected) in dense::reads(f, &defs) {
        if !reachable[at.block.index()] {
            continue;
        }
        let expected: Vec<u32> = expected.into_iter().filter(from_reachable).collect();
        let actual =
            g.reaching.reads.get(&(at, local)).map(|&v| g.reaching.defs_behind(v)).unwrap_or_default();
        assert_eq!(actual, expected, "{what}: read of {local:?} at {at}");
        reads += 1;
    }
    reads
}

/// The errors among a file's diagnostics (warnings such as `cycle` do not make a program
/// invalid).
fn errors_of(diagnostics: &[custody_analysis::Diagnostic]) -> Vec<custody_analysis::Diagnostic> {
    diagnostics.iter().filter(|d| d.severity == custody_analysis::Severity::Error).cloned().collect()
}

/// Both solvers' results for every function of `text`, asserted equal; the summary of
/// function `name`.
fn assert_solvers_agree(text: &str, name: &str) -> custody_analysis::escape::summary::Summary {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "case.cdy".into(), text.to_string());
    let diagnostics = errors_of(custody_analysis::check_file(&db, file));
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let program = program_ir(&db, file);
    let fast = analyze(program);
    let slow = analyze_reference(program);
    for (i, f) in program.functions.iter().enumerate() {
        let (a, b) = (&fast.functions[i], &slow.functions[i]);
        assert_reaching_agrees(f, &a.graph, &f.name);
        assert_eq!(a.solution.facts(&a.graph), b.solution.facts(&b.graph), "{}", f.name);
        assert_eq!(a.summary, b.summary, "{}", f.name);
    }
    let i = program.functions.iter().position(|f| f.name == name).unwrap();
    fast.functions[i].summary.clone()
}

/// Reduced from the generated program saved as `cc 07cf45…` in
/// `escape_solvers.proptest-regressions`. The walk gives `p.next.next.next` (the object at
/// path `0.0.0`) both a `next` and an `other` field, each holding the cut-off object `p.0.0.0…`
/// (everything below it). The result is `p.next`, so that object is reachable from the
/// result at two shortest paths, `.next.next.next` and `.next.next.other`; the reference
/// solver creates the `other` field first, the fast one `next`, and each summary used to
/// take the path its search met first. Rule sum-path: the least of the shortest paths,
/// whatever the order the fields were made in.
#[test]
fn cut_off_object_reached_at_two_paths_has_one_canonical_path() {
    use custody_analysis::escape::graph::{Path, Sel};
    use custody_analysis::escape::summary::{Flow, FlowDst};
    let text = "class N { next: N?, other: N? }
fn f(p: N) -> N? {
    let v: N? = p;
    while v != null { v = v.next; }
    if v != null { v = v.other; }
    return p.next;
}
";
    let summary = assert_solvers_agree(text, "f");
    let next = Sel::Field(0);
    let flows = &summary.params[0].flows;
    let below = Flow {
        src: Path { steps: vec![next; 3], deep: true },
        dst: FlowDst::Return(Path { steps: vec![next; 3], deep: false }),
    };
    assert!(flows.contains(&below), "{flows:#?}");
    let other_path = FlowDst::Return(Path { steps: vec![next, next, Sel::Field(1)], deep: false });
    assert!(!flows.iter().any(|f| f.dst == other_path), "{flows:#?}");
}

mod generated {
    //! Random well-typed programs: objects linked through fields, globals, calls (with
    //! recursion), loops, branches and spawns, over a handful of locals per function.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Stmt {
        New(usize, usize, usize),
        Assign(usize, usize),
        Store(usize, bool, usize),
        Load(usize, usize, bool),
        Global(usize),
        Call(usize, usize, usize, usize),
        Spawn(usize, usize, usize),
        IfNull(usize, Vec<Stmt>, Vec<Stmt>),
        Walk(usize),
    }

    const LOCALS: usize = 4;
    const FUNCTIONS: usize = 4;

    fn stmt() -> impl Strategy<Value = Stmt> {
        let v = 0..LOCALS;
        let leaf = prop_oneof![
            (v.clone(), v.clone(), v.clone()).prop_map(|(a, b, c)| Stmt::New(a, b, c)),
            (v.clone(), v.clone()).prop_map(|(a, b)| Stmt::Assign(a, b)),
            (v.clone(), any::<bool>(), v.clone()).prop_map(|(a, f, b)| Stmt::Store(a, f, b)),
            (v.clone(), v.clone(), any::<bool>()).prop_map(|(a, b, f)| Stmt::Load(a, b, f)),
            v.clone().prop_map(Stmt::Global),
            (v.clone(), 0..FUNCTIONS, v.clone(), v.clone()).prop_map(|(d, f, a, b)| Stmt::Call(d, f, a, b)),
            (0..FUNCTIONS, v.clone(), v.clone()).prop_map(|(f, a, b)| Stmt::Spawn(f, a, b)),
            v.clone().prop_map(Stmt::Walk),
        ];
        leaf.prop_recursive(2, 12, 4, move |inner| {
            (
                0..LOCALS,
                proptest::collection::vec(inner.clone(), 0..3),
                proptest::collection::vec(inner, 0..3),
            )
                .prop_map(|(c, t, e)| Stmt::IfNull(c, t, e))
        })
    }

    fn render(out: &mut String, s: &Stmt, indent: usize) {
        let pad = " ".repeat(indent);
        let field = |f: bool| if f { "next" } else { "other" };
        match s {
            Stmt::New(d, a, b) => out.push_str(&format!("{pad}v{d} = N {{ next: v{a}, other: v{b} }};\n")),
            Stmt::Assign(a, b) => out.push_str(&format!("{pad}v{a} = v{b};\n")),
            Stmt::Store(a, f, b) => {
                out.push_str(&format!("{pad}if v{a} != null {{ v{a}.{} = v{b}; }}\n", field(*f)))
            }
            Stmt::Load(d, a, f) => {
                out.push_str(&format!("{pad}if v{a} != null {{ v{d} = v{a}.{}; }}\n", field(*f)))
            }
            Stmt::Global(a) => out.push_str(&format!("{pad}push(keep, v{a});\n")),
            Stmt::Call(d, f, a, b) => out.push_str(&format!("{pad}v{d} = f{f}(v{a}, v{b});\n")),
            Stmt::Spawn(f, a, b) => out.push_str(&format!("{pad}spawn f{f}(v{a}, v{b});\n")),
            Stmt::Walk(a) => out.push_str(&format!("{pad}while v{a} != null {{ v{a} = v{a}.next; }}\n")),
            Stmt::IfNull(c, t, e) => {
                out.push_str(&format!("{pad}if v{c} == null {{\n"));
                for s in t {
                    render(out, s, indent + 4);
                }
                out.push_str(&format!("{pad}}} else {{\n"));
                for s in e {
                    render(out, s, indent + 4);
                }
                out.push_str(&format!("{pad}}}\n"));
            }
        }
    }

    fn program() -> impl Strategy<Value = String> {
        proptest::collection::vec((proptest::collection::vec(stmt(), 1..8), 0..LOCALS), FUNCTIONS).prop_map(|fns| {
            let mut out = String::from("class N { next: N?, other: N? }\nglobal keep: [N?] = [];\n");
            for (i, (body, ret)) in fns.iter().enumerate() {
                out.push_str(&format!("fn f{i}(p0: N?, p1: N?) -> N? {{\n"));
                out.push_str("    let v0: N? = p0;\n    let v1: N? = p1;\n    let v2: N? = null;\n    let v3: N? = N { next: null, other: null };\n");
                for s in body {
                    render(&mut out, s, 4);
                }
                out.push_str(&format!("    return v{ret};\n}}\n"));
            }
            out
        })
    }

    proptest! {
        // CI explores the same programs every run (a fixed seed), so that its duration does
        // not depend on luck; local runs draw new ones (`PROPTEST_CASES=2000` for more).
        #![proptest_config(ProptestConfig {
            cases: 24,
            rng_seed: if std::env::var_os("CI").is_some() {
                proptest::test_runner::RngSeed::Fixed(0x6375_7374_6f64_7921)
            } else {
                proptest::test_runner::RngSeed::Random
            },
            ..ProptestConfig::default()
        })]
        #[test]
        fn solvers_agree_on_generated_programs(text in program()) {
            let db = AnalysisDatabase::default();
            let file = SourceFile::new(&db, "gen.cdy".into(), text.clone());
            let diagnostics = errors_of(custody_analysis::check_file(&db, file));
            prop_assert!(diagnostics.is_empty(), "generator made an invalid program:\n{text}\n{diagnostics:#?}");
            let program = program_ir(&db, file);
            let fast = analyze(program);
            let slow = analyze_reference(program);
            for (i, f) in program.functions.iter().enumerate() {
                let (a, b) = (&fast.functions[i], &slow.functions[i]);
                prop_assert_eq!(a.solution.facts(&a.graph), b.solution.facts(&b.graph), "{}\n{}", f.name, text);
                prop_assert_eq!(&a.summary, &b.summary, "{}\n{}", f.name, text);
            }
        }
    }
}
