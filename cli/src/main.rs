//! `custody`: the command line of the custody memory-plan engine.
//!
//! Every command reads its input through [`source::read_source`] (which turns a missing
//! file or invalid UTF-8 into a one-line error and exit code 2), does its work through the
//! library crates, and renders diagnostics with [`render`]. Exit codes follow
//! `spec/plan-format.md`: 0 clean, 1 errors in the program, 2 bad usage or unreadable input,
//! 3 an unsound or rejected plan (`run`, `verify`, `plan --verify`), 4 a failed program (`run`).

mod check;
mod diagnostics_json;
mod explain_cmd;
mod ir_cmd;
mod output;
mod plan_cmd;
mod plan_text;
mod render;
mod run_cmd;
mod source;
mod verify_cmd;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// custody: escape analysis and lifetime inference for languages without a tracing GC.
///
/// custody reads programs in its small input language (`.cdy`) and decides for every
/// allocation how far it escapes, who frees it, where it is used for the last time and
/// where it lives. See README.md and spec/ for the language and the plan format.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, long_about, term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the lossless syntax tree of a file, and its syntax errors.
    ///
    /// The tree shows every node and token with its byte range (`KIND@start..end`);
    /// its tokens, whitespace and comments included, spell out the file exactly.
    /// Syntax errors go to standard error, rendered with the line they are on.
    /// Exit status: 0 no syntax errors, 1 syntax errors, 2 unreadable input.
    Parse {
        /// The `.cdy` file to parse.
        file: PathBuf,
        /// Print only the syntax errors, not the tree.
        #[arg(long)]
        errors_only: bool,
    },
    /// Check files for syntax, name and type errors.
    ///
    /// Every diagnostic has a stable code (`syntax`, `unresolved-name`, `type-mismatch`,
    /// ...; see spec/language.md, Appendix A) and points at the place to fix.
    /// Exit status: 0 no errors, 1 errors found, 2 unreadable input or bad usage.
    Check {
        /// The `.cdy` files to check (with `--ir`: IR programs in JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The files are IR programs in JSON (as `custody ir --format json` writes them,
        /// or as another compiler's frontend builds them): validate them instead.
        #[arg(long)]
        ir: bool,
        /// Output format: `human` (rendered like rustc), `json` (the plan format's
        /// `diagnostics` array) or `sarif` (SARIF 2.1.0, for code scanning).
        #[arg(long, value_enum, default_value_t = check::Format::Human)]
        format: check::Format,
    },
    /// Print the memory plan of files as JSON.
    ///
    /// For every function: its parameters, its allocations with their escape state,
    /// placement and control, and the memory operations a backend must emit where (see
    /// spec/plan-format.md). Exit status: 0 written, 1 a file has errors, 2 unreadable input.
    Plan {
        /// The `.cdy` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `inferred` (custody's analysis) or `naive` (everything reference counted).
        #[arg(long, value_enum, default_value_t = plan_cmd::PlanChoice::Inferred)]
        plan: plan_cmd::PlanChoice,
        /// Output format.
        #[arg(long, value_enum, default_value_t = plan_cmd::Format::Json)]
        format: plan_cmd::Format,
        /// Write the plan to this file (whole or not at all) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also check each plan with the independent verifier (as `custody verify` does):
        /// its findings go to standard error, and a rejected plan makes the exit status 3.
        #[arg(long)]
        verify: bool,
    },
    /// Explain why the allocation or parameter at a place escapes.
    ///
    /// Prints the chain of flows from it to where its bound was lost, each step with its
    /// position and the rule of spec/rules.md behind it. Without `--col`, every allocation
    /// and parameter starting on the line is explained. Exit status: 0 explained, 1 the
    /// file has errors or nothing is at that place, 2 unreadable input.
    Explain {
        /// The `.cdy` file.
        file: PathBuf,
        /// The 1-based line.
        #[arg(long)]
        line: u32,
        /// The 1-based column (characters).
        #[arg(long)]
        col: Option<u32>,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = explain_cmd::Format::Text)]
        format: explain_cmd::Format,
    },
    /// Run a program under a memory plan on a checked heap.
    ///
    /// The program's output goes to standard output. Every allocation, counter operation
    /// and free happens exactly where the plan says; the heap never reuses an address and
    /// keeps a tombstone for every freed object, so a use after free, a double free, a
    /// dangling stack or arena object, a non-atomic count shared between threads and
    /// anything still allocated when `main` returns are caught. Spawned calls run at a
    /// later point chosen by `--seed`. Exit status: 0 clean, 2 the program does not
    /// compile or cannot be read, 3 the plan is unsound, 4 the program failed.
    Run {
        /// The `.cdy` file.
        file: PathBuf,
        /// `inferred` (custody's plan) or `naive` (everything reference counted).
        #[arg(long, value_enum, default_value_t = plan_cmd::PlanChoice::Inferred)]
        plan: plan_cmd::PlanChoice,
        /// Run this plan (JSON, as `custody plan` writes it, possibly edited) instead of
        /// computing one. It must be a plan of FILE's program.
        #[arg(long, conflicts_with = "plan")]
        plan_file: Option<PathBuf>,
        /// Seeds when spawned calls run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Log every allocation, counter operation, free and destructor on stderr.
        #[arg(long)]
        trace: bool,
        /// Write the run's statistics and violations as JSON to this file.
        #[arg(long)]
        stats_json: Option<PathBuf>,
        /// Stop the program after this many steps (exit 4).
        #[arg(long, default_value_t = 50_000_000)]
        max_steps: u64,
        /// Stop the program when live memory exceeds this many bytes (exit 4).
        #[arg(long, default_value_t = 1 << 30)]
        max_heap: u64,
    },
    /// Verify a memory plan: prove its operations consistent on every path.
    ///
    /// An independent checker (`custody_ir::verify`, sharing no code with the analysis)
    /// interprets every function of the program abstractly over its control-flow graph and
    /// proves that every owned reference is released or handed over exactly once on every
    /// path, that nothing is used after its release, and the other rules of
    /// spec/rules.md, "Plan verification". It checks FILE's inferred plan (or `--plan
    /// naive`), or the plan of `--plan-file`. What it cannot prove locally is a note.
    /// Exit status: 0 proven, 1 the program has errors, 2 bad usage or unreadable input
    /// (a plan file that is not a custody plan), 3 the plan is rejected.
    Verify {
        /// The `.cdy` file (with `--ir`: an IR program in JSON).
        file: PathBuf,
        /// Verify this plan (JSON, as `custody plan` writes it) instead of computing one.
        #[arg(long)]
        plan_file: Option<PathBuf>,
        /// Which plan to compute when no `--plan-file` is given.
        #[arg(long, value_enum, default_value_t = plan_cmd::PlanChoice::Inferred, conflicts_with = "plan_file")]
        plan: plan_cmd::PlanChoice,
        /// FILE is an IR program in JSON (as `custody ir --format json` writes it).
        #[arg(long)]
        ir: bool,
        /// `human` (rendered like rustc) or `json`.
        #[arg(long, value_enum, default_value_t = verify_cmd::Format::Human)]
        format: verify_cmd::Format,
    },
    /// Print the lowered IR of a file: every function as a control-flow graph.
    ///
    /// The IR is custody's interface to other compilers; `--format json` writes the form
    /// `custody check --ir` reads back. Exit status: 0 printed, 1 the file has errors
    /// (shown as by `check`), 2 unreadable input.
    Ir {
        /// The `.cdy` file.
        file: PathBuf,
        /// `text` (readable, stable) or `json` (the IR's serde form).
        #[arg(long, value_enum, default_value_t = ir_cmd::Format::Text)]
        format: ir_cmd::Format,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version on stdout with success, usage errors on stderr.
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Parse { file, errors_only } => parse_command(&file, errors_only),
        Command::Check { files, ir: false, format } => check::run(&files, format),
        Command::Check { files, ir: true, format } => ir_cmd::check_ir(&files, format),
        Command::Ir { file, format } => ir_cmd::run(&file, format),
        Command::Run { file, plan, plan_file, seed, trace, stats_json, max_steps, max_heap } => {
            run_cmd::run(&run_cmd::RunArgs {
                file,
                plan,
                plan_file,
                seed,
                trace,
                stats_json,
                max_steps,
                max_heap,
            })
        }
        Command::Verify { file, plan_file, plan, ir, format } => {
            verify_cmd::run(&verify_cmd::VerifyArgs { file, plan_file, plan, ir, format })
        }
        Command::Explain { file, line, col, format } => explain_cmd::run(&file, line, col, format),
        Command::Plan { files, plan, format, output, verify } => {
            plan_cmd::run(&files, plan, format, output.as_deref(), verify)
        }
    }
}

/// Standard output as a writer that treats a closed pipe as the end of wanted output.
pub(crate) struct StdoutSink;

impl std::io::Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().lock().flush();
        Ok(())
    }
}

/// Writes to standard output. A closed pipe (`custody ... | head`) is not an error worth
/// a message, and must never be a panic: the output is simply no longer wanted.
pub(crate) fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn parse_command(path: &std::path::Path, errors_only: bool) -> ExitCode {
    let text = match source::read_source(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let parse = custody_syntax::parse(&text);
    if !errors_only {
        write_stdout(&parse.debug_tree());
    }
    let errors = parse.errors();
    if errors.is_empty() {
        return ExitCode::SUCCESS;
    }
    let renderer = render::Renderer::for_stderr();
    let file = render::SourceFile::new(path, &text);
    let mut report = String::new();
    for error in errors {
        report.push_str(&renderer.error(&file, error.range, &error.message, "syntax"));
        report.push('\n');
    }
    let count = errors.len();
    let plural = if count == 1 { "" } else { "s" };
    report.push_str(&format!("error: {count} syntax error{plural} in {}\n", path.display()));
    eprint!("{report}");
    ExitCode::from(1)
}
