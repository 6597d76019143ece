//! The parser on arbitrary bytes: never panics, and the tree spells out the input exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parse = custody_syntax::parse(text);
    assert_eq!(parse.syntax_node().text().to_string(), text);
    let index = custody_syntax::LineIndex::new(text);
    for error in parse.errors() {
        let _ = index.line_col(error.range.start());
    }
});
