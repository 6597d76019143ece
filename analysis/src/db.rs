//! The salsa database: inputs, queries, and an execution log for incremental tests.

use std::sync::{Arc, Mutex};

/// A source file: its path (for messages) and its text. Change the text with
/// `file.set_text(&mut db).to(new)` (`use salsa::Setter`).
#[salsa::input(debug)]
pub struct SourceFile {
    /// The path as given by the user, used in diagnostics.
    #[returns(ref)]
    pub path: String,
    /// The file's contents.
    #[returns(ref)]
    pub text: String,
}

/// A program handed to custody as IR by another compiler's frontend (built with
/// `custody_ir::ProgramBuilder` or read from JSON), instead of `.cdy` text.
#[salsa::input(debug)]
pub struct IrProgram {
    /// Where it came from, for messages.
    #[returns(ref)]
    pub origin: String,
    /// The program.
    #[returns(ref)]
    pub program: custody_ir::Program,
}

/// The problems of an IR program from outside, as the validator words them (empty when
/// it is well-formed). Everything custody computes about such a program starts here.
#[salsa::tracked(returns(ref), no_eq)]
pub fn validate_ir(db: &dyn salsa::Database, input: IrProgram) -> Vec<custody_ir::ValidationError> {
    match custody_ir::validate(input.program(db)) {
        Ok(()) => Vec::new(),
        Err(errors) => errors,
    }
}

/// The lossless syntax tree and syntax errors of a file. Re-runs only when the file's text
/// changes, and then its result differs, so it is not compared with the old one
/// (`no_eq`: comparing two trees costs as much as building one).
#[salsa::tracked(returns(ref), no_eq)]
pub fn parse(db: &dyn salsa::Database, file: SourceFile) -> custody_syntax::Parse {
    custody_syntax::parse(file.text(db))
}

/// The database every custody query runs on.
#[salsa::db]
#[derive(Clone, Default)]
pub struct AnalysisDatabase {
    storage: salsa::Storage<Self>,
    /// When set, the names of the queries that executed, in order (for incremental tests).
    executed: Arc<Mutex<Option<Vec<String>>>>,
}

impl AnalysisDatabase {
    /// A database that records which queries execute; read them with
    /// [`AnalysisDatabase::take_executed`].
    pub fn with_execution_log() -> AnalysisDatabase {
        let executed: Arc<Mutex<Option<Vec<String>>>> = Arc::new(Mutex::new(Some(Vec::new())));
        let log = Arc::clone(&executed);
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind
                && let Ok(mut guard) = log.lock()
                && let Some(list) = guard.as_mut()
            {
                list.push(format!("{database_key:?}"));
            }
        })));
        AnalysisDatabase { storage, executed }
    }

    /// The queries executed since the last call, by name.
    pub fn take_executed(&self) -> Vec<String> {
        let mut guard = self.executed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

#[salsa::db]
impl salsa::Database for AnalysisDatabase {}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use salsa::Setter;

    #[test]
    fn parse_reruns_only_when_the_text_changes() {
        let mut db = AnalysisDatabase::with_execution_log();
        let file = SourceFile::new(&db, "a.cdy".to_string(), "fn main() {}".to_string());
        let other = SourceFile::new(&db, "b.cdy".to_string(), "fn other() {}".to_string());
        assert!(parse(&db, file).errors().is_empty());
        assert!(parse(&db, other).errors().is_empty());
        expect![[r#"
            [
                "parse(Id(0))",
                "parse(Id(1))",
            ]
        "#]]
        .assert_debug_eq(&db.take_executed());

        // Asking again computes nothing.
        parse(&db, file);
        assert_eq!(db.take_executed(), Vec::<String>::new());

        // Editing one file re-parses that file only.
        file.set_text(&mut db).to("fn main() { let x = 1 }".to_string());
        assert_eq!(parse(&db, file).errors().len(), 1);
        parse(&db, other);
        expect![[r#"
            [
                "parse(Id(0))",
            ]
        "#]]
        .assert_debug_eq(&db.take_executed());
    }
}
