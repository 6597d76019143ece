//! Diagnostics as JSON (the plan format's `diagnostics` entries) and as SARIF 2.1.0.

use crate::check::Checked;
use custody_analysis::Diagnostic;
use custody_syntax::{LineIndex, TextRange};
use serde_json::{Value, json};

fn span(index: &LineIndex, range: TextRange) -> Value {
    let pos = index.line_col(range.start());
    json!({ "start": u32::from(range.start()), "end": u32::from(range.end()), "line": pos.line, "col": pos.col })
}

fn diagnostic_json(source: &str, index: &LineIndex, d: &Diagnostic) -> Value {
    json!({
        "source": source,
        "severity": d.severity.as_str(),
        "code": d.code,
        "message": d.message,
        "span": span(index, d.range),
        "related": d.related.iter().map(|(r, m)| json!({ "span": span(index, *r), "message": m })).collect::<Vec<_>>(),
    })
}

/// A JSON array of every diagnostic of every file, each naming its `source`.
pub(crate) fn to_json(checked: &[Checked]) -> String {
    let all: Vec<Value> = checked
        .iter()
        .flat_map(|c| {
            let index = LineIndex::new(&c.text);
            let source = c.path.display().to_string();
            c.diagnostics.iter().map(move |d| diagnostic_json(&source, &index, d)).collect::<Vec<_>>()
        })
        .collect();
    serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".to_string())
}

/// SARIF 2.1.0: one run of the `custody` tool, one result per diagnostic.
pub(crate) fn to_sarif(checked: &[Checked]) -> String {
    sarif::to_sarif(checked)
}

mod sarif {
    use super::*;
    use custody_analysis::Severity;
    use serde_sarif::sarif;

    /// What each code means, for the SARIF rule list (shown by code-scanning UIs).
    const RULES: &[(&str, &str)] = &[
        ("syntax", "The text does not follow the grammar of the language."),
        ("unresolved-name", "A name refers to nothing that is in scope."),
        ("type-mismatch", "A value of one type is used where another type is required."),
        ("duplicate-definition", "Two definitions share one name, or a definition takes a built-in name."),
        ("argument-count", "A call or literal gives too few or too many arguments or fields."),
        ("missing-return", "A function with a result type can reach its end without returning."),
        (
            "invalid-control-flow",
            "break/continue outside a loop, a misplaced return value, or spawn of a non-call.",
        ),
        ("use-after-free", "A value is used after it was freed."),
        ("double-free", "A value is freed twice."),
        ("leak", "A manual allocation is not freed on some path."),
        ("free-borrowed", "A function frees something it does not control."),
        ("mode-violation", "A parameter's declared own/borrow mode is broken."),
        ("cycle", "Objects may form a reference cycle that plain counting would leak."),
        ("unused-allocation", "An allocation whose value is never used."),
    ];

    fn region(index: &LineIndex, range: TextRange) -> sarif::Region {
        let start = index.line_col(range.start());
        let end = index.line_col(range.end());
        sarif::Region::builder()
            .byte_offset(i64::from(u32::from(range.start())))
            .byte_length(i64::from(u32::from(range.len())))
            .start_line(i64::from(start.line))
            .start_column(i64::from(start.col))
            .end_line(i64::from(end.line))
            .end_column(i64::from(end.col))
            .build()
    }

    fn location(uri: &str, index: &LineIndex, range: TextRange, message: Option<&str>) -> sarif::Location {
        let physical = sarif::PhysicalLocation::builder()
            .artifact_location(sarif::ArtifactLocation::builder().uri(uri).build())
            .region(region(index, range))
            .build();
        match message {
            Some(m) => sarif::Location::builder()
                .physical_location(physical)
                .message(sarif::Message::from(m))
                .build(),
            None => sarif::Location::builder().physical_location(physical).build(),
        }
    }

    pub(super) fn to_sarif(checked: &[Checked]) -> String {
        let rules: Vec<sarif::ReportingDescriptor> = RULES
            .iter()
            .map(|(id, text)| {
                sarif::ReportingDescriptor::builder()
                    .id(*id)
                    .short_description(sarif::MultiformatMessageString::from(&text.to_string()))
                    .build()
            })
            .collect();
        let mut results = Vec::new();
        for c in checked {
            let index = LineIndex::new(&c.text);
            // SARIF wants URIs; a relative path with forward slashes is one.
            let uri = c.path.display().to_string().replace('\\', "/");
            for d in &c.diagnostics {
                let level = match d.severity {
                    Severity::Error => sarif::ResultLevel::Error,
                    Severity::Warning => sarif::ResultLevel::Warning,
                    Severity::Note => sarif::ResultLevel::Note,
                };
                let related: Vec<sarif::Location> =
                    d.related.iter().map(|(r, m)| location(&uri, &index, *r, Some(m.as_str()))).collect();
                let rule_index = RULES.iter().position(|(id, _)| *id == d.code).map_or(-1, |i| i as i64);
                let result = sarif::Result::builder()
                    .rule_id(d.code)
                    .rule_index(rule_index)
                    .level(level)
                    .message(sarif::Message::from(d.message.as_str()))
                    .locations(vec![location(&uri, &index, d.range, None)])
                    .related_locations(related)
                    .build();
                results.push(result);
            }
        }
        let driver = sarif::ToolComponent::builder()
            .name("custody")
            .version(env!("CARGO_PKG_VERSION"))
            .rules(rules)
            .build();
        let run = sarif::Run::builder().tool(driver).results(results).build();
        let log = sarif::Sarif::builder()
            .version(sarif::Version::V2_1_0.to_string())
            .schema(sarif::SCHEMA_URL)
            .runs(vec![run])
            .build();
        serde_json::to_string_pretty(&log).unwrap_or_default()
    }
}
