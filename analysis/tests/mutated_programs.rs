//! Issue 16: the test programs with token and line mutations (deleted, duplicated, swapped
//! lines; deleted, duplicated or replaced tokens) go through everything `custody check`,
//! `plan` and `explain` do, and nothing panics. A bounded property test for CI; the fuzz
//! target `cli/fuzz/fuzz_targets/check_plan.rs` runs the same for as long as asked (see
//! README, "Robustness and fuzzing"). Each case runs on a thread with the 8 MiB stack the
//! command line's main thread has.

use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use custody_syntax::LineIndex;
use proptest::prelude::*;

mod corpus;

/// The test programs and the annotated cases.
fn programs() -> Vec<String> {
    corpus::repository_programs().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

/// One edit of a program.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DeleteToken(usize),
    DuplicateToken(usize),
    ReplaceToken(usize, &'static str),
}

const TOKENS: &[&str] = &[
    "class", "struct", "fn", "let", "x", "null", "self", "{", "}", "(", ")", "[", "]", ";", ",", ".", "?",
    "=", "+", "==", "&&", "return", "drop", "spawn", "arena", "@arena", "own", "borrow", "0", "\"s\"",
    "free",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::DeleteToken),
        any::<usize>().prop_map(Mutation::DuplicateToken),
        (any::<usize>(), proptest::sample::select(TOKENS)).prop_map(|(a, t)| Mutation::ReplaceToken(a, t)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => lines.insert(i % n, lines[i % n]),
        Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
        Mutation::DeleteToken(i) | Mutation::DuplicateToken(i) | Mutation::ReplaceToken(i, _) => {
            // Tokens as the lexer sees them, trivia excluded.
            let (tokens, _) = custody_syntax::lexer::lex(text);
            let mut ranges = Vec::new();
            let mut offset = 0usize;
            for t in &tokens {
                let len = usize::from(t.len);
                if !t.kind.is_trivia() {
                    ranges.push(offset..offset + len);
                }
                offset += len;
            }
            let Some(r) = ranges.get(i % ranges.len().max(1)).cloned() else {
                return text.to_string();
            };
            let replacement = match *m {
                Mutation::DeleteToken(_) => String::new(),
                Mutation::DuplicateToken(_) => format!("{0} {0}", &text[r.clone()]),
                Mutation::ReplaceToken(_, t) => t.to_string(),
                _ => unreachable!(),
            };
            return format!("{}{}{}", &text[..r.start], replacement, &text[r.end..]);
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// What `check`, then `plan` (both plans) and `explain` do with a file.
fn check_plan_explain(text: String) {
    let run = move || {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "m.cdy".into(), text.clone());
        let diagnostics = check_file(&db, file);
        if diagnostics.iter().any(|d| d.severity == Severity::Error) {
            return;
        }
        let program = program_ir(&db, file);
        let index = LineIndex::new(&text);
        let spans = SpanMap::new(Some(&index));
        let position = |span: custody_ir::Span| format!("{}", span.start);
        let _ = custody_analysis::naive::naive_plan(program, "m.cdy", &spans);
        let (_, escape) = custody_analysis::inferred::inferred_plan(program, "m.cdy", &spans, &position);
        for line in [1, 2, 3, 5, 8, 13] {
            let _ =
                custody_analysis::explain::explain_at(program, &escape, &index, &text, line, None, &position);
            let _ = custody_analysis::explain::explain_at(
                program,
                &escape,
                &index,
                &text,
                line,
                Some(5),
                &position,
            );
        }
    };
    // The command line's main thread has 8 MiB of stack; a test thread has 2 MiB.
    let outcome = std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

proptest! {
    // 128 cases in CI; `CUSTODY_MUTATION_CASES=100000` for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("CUSTODY_MUTATION_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_test_programs_never_panic(
        which in any::<usize>(),
        edits in proptest::collection::vec(mutation(), 1..4),
    ) {
        let programs = programs();
        let mut text = programs[which % programs.len()].clone();
        for m in &edits {
            text = apply(&text, m);
        }
        check_plan_explain(text);
    }
}
