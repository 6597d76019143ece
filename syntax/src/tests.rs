//! Parser tests: golden trees for every program in `test-data/` and every fixture in
//! `syntax/test_data/`, pathological nesting, and property tests (any input parses, the
//! tree is lossless, errors lie inside the input).
//!
//! Goldens are `expect_file!` snapshots: `UPDATE_EXPECT=1 cargo test -p custody-syntax`
//! rewrites them; read the diff before committing.

use crate::{LineIndex, Parse, SyntaxKind, parse};
use expect_test::expect_file;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The tree and the errors, as stored in `.rast` golden files.
fn dump(text: &str, parse: &Parse) -> String {
    let mut out = parse.debug_tree();
    let index = LineIndex::new(text);
    for error in parse.errors() {
        let pos = index.line_col(error.range.start());
        writeln!(out, "error {}:{} ({:?}): {}", pos.line, pos.col, error.range, error.message).unwrap();
    }
    out
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn cdy_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cdy"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .cdy files in {}", dir.display());
    files
}

/// Checks every `.cdy` in `dir` against `golden_dir/NAME.rast`, and that the files are
/// error-free (`expect_errors == false`) or all have errors.
fn check_dir(dir: &Path, golden_dir: &Path, expect_errors: bool) {
    for file in cdy_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        let parse = parse(&text);
        assert_lossless(&text, &parse);
        let name = file.file_stem().unwrap().to_str().unwrap();
        let has_errors = !parse.errors().is_empty();
        assert_eq!(
            has_errors,
            expect_errors,
            "{}: {}",
            file.display(),
            if expect_errors {
                "expected syntax errors, found none".to_string()
            } else {
                dump(&text, &parse)
            }
        );
        expect_file![golden_dir.join(format!("{name}.rast"))].assert_eq(&dump(&text, &parse));
    }
}

fn assert_lossless(text: &str, parse: &Parse) {
    assert_eq!(parse.syntax_node().to_string(), text, "the tree must print back to its input");
    let len = text.len() as u32;
    let mut last = 0.into();
    for error in parse.errors() {
        assert!(
            u32::from(error.range.end()) <= len,
            "error range {:?} beyond the input ({len})",
            error.range
        );
        assert!(error.range.start() >= last, "errors out of order");
        assert!(!error.message.is_empty());
        last = error.range.start();
    }
}

#[test]
fn test_data_programs() {
    let root = workspace_root();
    check_dir(&root.join("test-data/programs"), &root.join("test-data/golden/parse/programs"), false);
}

#[test]
fn test_data_syntax_errors() {
    let root = workspace_root();
    check_dir(
        &root.join("test-data/syntax-errors"),
        &root.join("test-data/golden/parse/syntax-errors"),
        true,
    );
}

#[test]
fn parser_fixtures_ok() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/parser/ok");
    check_dir(&dir, &dir, false);
}

#[test]
fn parser_fixtures_err() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/parser/err");
    check_dir(&dir, &dir, true);
}

/// Nesting far beyond the limit gives exactly one error and a lossless tree, never a
/// stack overflow (this runs on a test thread's small stack, in debug builds too).
#[test]
fn pathological_nesting() {
    let n = 100_000;
    let cases = [
        ("parentheses", format!("fn main() {{ let x = {}1{}; }}", "(".repeat(n), ")".repeat(n))),
        ("bare parentheses", format!("{}1{}", "(".repeat(n), ")".repeat(n))),
        ("unary minus", format!("fn main() {{ let x = {}1; }}", "-".repeat(n))),
        ("blocks", format!("fn main() {}{} fn other() {{}}", "{".repeat(n), "}".repeat(n))),
        ("nested binary", format!("fn main() {{ let x = {}1{}; }}", "(1 + ".repeat(n), ")".repeat(n))),
        ("field chain", format!("fn main() {{ let x = a{}; }}", ".b".repeat(n))),
        ("calls", format!("fn main() {{ f{}; }}", "()".repeat(n))),
        ("nullable type", format!("global g: int{} = 1;", "?".repeat(n))),
        ("array types", format!("global g: {}int{} = 1;", "[".repeat(n), "]".repeat(n))),
        ("arrays", format!("fn main() {{ let x = {}1{}; }}", "[".repeat(n), "]".repeat(n))),
        ("else if", format!("fn main() {{ if a {{}} {} }}", "else if a {} ".repeat(n))),
        ("closures", format!("fn main() {{ let f = {}1{}; }}", "fn() { return ".repeat(n), "; }".repeat(n))),
        ("unclosed", format!("fn main() {}", "{ if x ".repeat(n))),
    ];
    for (what, text) in cases {
        let parse = parse(&text);
        assert_lossless(&text, &parse);
        let deep = parse.errors().iter().filter(|e| e.message.contains("nested too deeply")).count();
        // At the top level, `(` is not an item: that error comes first and the parser
        // skips the rest without descending.
        let expected = if what == "bare parentheses" { 0 } else { 1 };
        assert_eq!(deep, expected, "{what}: {:#?}", parse.errors());
        assert!(
            !parse.errors().is_empty() && parse.errors().len() <= 2,
            "{what}: one mistake, at most one consequence: {:#?}",
            parse.errors()
        );
        let depth = max_depth(&parse);
        assert!(depth <= crate::MAX_DEPTH + 2, "{what}: tree depth {depth}");
    }
}

fn max_depth(parse: &Parse) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    for event in parse.syntax_node().preorder() {
        match event {
            rowan::WalkEvent::Enter(_) => {
                depth += 1;
                max = max.max(depth);
            }
            rowan::WalkEvent::Leave(_) => depth -= 1,
        }
    }
    max
}

/// A run of operators of one precedence is one flat node, not nesting: a generated chain
/// of 100,000 terms parses without error into a shallow tree (issue 16), and mixed
/// precedences nest only as deep as the precedence levels.
#[test]
fn flat_binary_chains_are_not_nesting() {
    let n = 100_000;
    let cases = [
        ("sum", format!("fn main() {{ let x = 1{}; }}", " + 1".repeat(n))),
        (
            "mixed",
            format!(
                "fn main() {{ let x = 1{} > 0 && true || false; }}",
                " - 2 * 3 / 4 + 5 % 6".repeat(n / 5)
            ),
        ),
        ("logic", format!("fn main() {{ let x = a{}; }}", " && b || c".repeat(n / 2))),
    ];
    for (what, text) in cases {
        let parse = parse(&text);
        assert_lossless(&text, &parse);
        assert_eq!(parse.errors(), &[], "{what}");
        let depth = max_depth(&parse);
        assert!(depth < 20, "{what}: tree depth {depth}");
    }
    // The steps of a flat node, in order.
    let parse = parse("fn main() { let x = a + b * c - d; }");
    use rowan::ast::AstNode;
    let bin = parse.syntax_node().descendants().find_map(crate::ast::BinExpr::cast).unwrap();
    let steps: Vec<String> = bin
        .steps()
        .iter()
        .map(|s| format!("{} {}", s.op.symbol(), s.rhs.as_ref().unwrap().syntax()))
        .collect();
    assert_eq!(steps, ["+ b * c", "- d"]);
}

/// Just below the limit, nesting is accepted without error.
#[test]
fn nesting_below_the_limit_is_fine() {
    let n = 200;
    let text = format!("fn main() {{ let x = {}1{}; }}", "(".repeat(n), ")".repeat(n));
    assert_eq!(parse(&text).errors(), &[]);
}

#[test]
fn every_node_kind_appears_in_a_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/parser/ok");
    let mut seen = std::collections::HashSet::new();
    for file in cdy_files(&dir) {
        let text = std::fs::read_to_string(file).unwrap();
        for node in parse(&text).syntax_node().descendants() {
            seen.insert(node.kind());
        }
    }
    let missing: Vec<SyntaxKind> = (SyntaxKind::SOURCE_FILE as u16..SyntaxKind::__LAST as u16)
        .map(|raw| <crate::CustodyLanguage as rowan::Language>::kind_from_raw(rowan::SyntaxKind(raw)))
        .filter(|kind| *kind != SyntaxKind::ERROR && !seen.contains(kind))
        .collect();
    assert!(missing.is_empty(), "node kinds without an ok fixture: {missing:?}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Inputs biased towards the language's own tokens, so the parser gets deep into its
    /// rules rather than rejecting noise at the first character.
    fn token_soup() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "fn ", "class ", "struct ", "global ", "extern ", "let ", "if ", "else ", "while ", "for ",
            " in ", "return ", "break", "continue", "spawn ", "arena ", "self", "drop ", "own ", "borrow ",
            "null", "true", "x", "Node", "int", "42", "3.5", "\"s\\n\"", "\"", "{", "}", "(", ")", "[", "]",
            ",", ":", ";", ".", "..", "->", "=", "==", "+", "-", "*", "!", "&&", "||", "?", "@", "@arena ",
            " ", "\n", "// c\n", "é", "&", "\\",
        ];
        let pieces = proptest::sample::select(PIECES);
        proptest::collection::vec(pieces, 0..200).prop_map(|v| v.concat())
    }

    /// A test program with a random edit: a deletion, a duplication or an insertion.
    fn mutated_program() -> impl Strategy<Value = String> {
        let root = workspace_root().join("test-data/programs");
        let programs: Vec<String> =
            cdy_files(&root).into_iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        (
            proptest::sample::select(programs),
            any::<proptest::sample::Index>(),
            any::<proptest::sample::Index>(),
            0..3u8,
            "[{}();,.=a-z0-9\" ]{0,4}",
        )
            .prop_map(|(text, a, b, op, insert)| {
                let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
                let (mut i, mut j) = (*a.get(&boundaries), *b.get(&boundaries));
                if i > j {
                    std::mem::swap(&mut i, &mut j);
                }
                match op {
                    0 => format!("{}{}", &text[..i], &text[j..]),
                    1 => format!("{}{}{}", &text[..j], &text[i..j], &text[j..]),
                    _ => format!("{}{}{}", &text[..i], insert, &text[i..]),
                }
            })
    }

    fn check_any(text: &str) {
        let parse = parse(text);
        assert_lossless(text, &parse);
    }

    proptest! {
        // CI runs the default number of cases; PROPTEST_CASES=100000 for a long run.
        #[test]
        fn arbitrary_strings_parse_losslessly(text in any::<String>()) {
            check_any(&text);
        }

        #[test]
        fn token_soup_parses_losslessly(text in token_soup()) {
            check_any(&text);
        }

        #[test]
        fn mutated_programs_parse_losslessly(text in mutated_program()) {
            check_any(&text);
        }
    }
}

/// The examples in `spec/language.md` are real: every ```` ```cdy ```` block is a program that
/// parses without errors, and every ```` ```cdy-body ```` block parses as a function body.
#[test]
fn spec_examples_parse() {
    let spec = std::fs::read_to_string(workspace_root().join("spec/language.md")).unwrap();
    let mut checked = 0;
    for (tag, code) in fenced_blocks(&spec) {
        let text = match tag {
            "cdy" => code.to_string(),
            "cdy-body" => format!("fn main() {{\n{code}\n}}\n"),
            _ => continue,
        };
        let parse = parse(&text);
        assert!(parse.errors().is_empty(), "spec example does not parse:\n{text}\n{}", dump(&text, &parse));
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} examples found");
}

/// The grammar in `spec/language.md` is exactly the one in `syntax/custody.ungram`.
#[test]
fn spec_grammar_is_custody_ungram() {
    let spec = std::fs::read_to_string(workspace_root().join("spec/language.md")).unwrap();
    let ungram =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("custody.ungram")).unwrap();
    let rules = &ungram[ungram.find("SourceFile = ").unwrap()..];
    let blocks: Vec<&str> =
        fenced_blocks(&spec).filter(|(tag, _)| *tag == "ungram").map(|(_, code)| code).collect();
    assert_eq!(blocks, vec![rules], "copy syntax/custody.ungram (from `SourceFile =`) into the spec");
}

/// The fenced code blocks of a Markdown text: (info string, contents).
fn fenced_blocks(markdown: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = markdown;
    std::iter::from_fn(move || {
        let start = rest.find("```")?;
        let after = &rest[start + 3..];
        let tag_end = after.find('\n')?;
        let tag = after[..tag_end].trim();
        let body = &after[tag_end + 1..];
        let end = body.find("```")?;
        rest = &body[end + 3..];
        Some((tag, &body[..end]))
    })
}
