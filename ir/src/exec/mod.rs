//! The checked interpreter: runs a program exactly as a memory plan says, on a heap that
//! catches every unsound plan.
//!
//! [`run`] executes a [`Program`] under a [`MemoryPlan`] and returns a [`RunReport`]: how
//! the run ended ([`Outcome`]), every [`Violation`] of memory safety it saw, and
//! [`RunStats`]. It is custody's oracle: the inferred plan and the naive plan of a program
//! must both run clean and print the same output.
//!
//! # The model
//!
//! **Values** are immediates, `null`, structs (inline lists of values), references to
//! constant string data (a string literal: never counted or freed), and references to
//! heap objects. Instructions only move values: `copy` copies bits, `scope_exit` and `free`
//! end locals (an ended local holds `null`, so operations on it do nothing), and nothing
//! an instruction does counts or frees memory. Everything memory does comes from the
//! plan's operations, run just before or just after their instruction (for a terminator,
//! `after` operations run once its effect is decided but before control leaves: after a
//! `return` has read its value, before the frame goes).
//!
//! **The heap** never reuses an address and keeps a tombstone for every freed object.
//! Each object records its allocation site, placement, reference count (starting at 1),
//! state (live, being destroyed, destroyed, freed), arena or frame, and the threads that
//! touched its counter. Every allocation is placed as the plan's entry for its
//! instruction says (`heap_rc` if the plan has none); `stack` objects belong to the
//! allocating frame; `arena` objects go to the innermost open arena of the allocation's
//! scope in the current frame, else the frame's innermost arena, else the innermost arena
//! of a calling frame; a `static` site allocates once and every later execution gives the
//! same object.
//!
//! **Operations.** `dup` adds a reference to a counted object (a struct value dups every
//! reference in it); on other placements it does nothing. `drop` removes one; at zero the
//! object is destroyed and freed. `free` destroys and frees a unique or manual object now,
//! drops a counted one, and destroys a stack or arena object (its memory goes with its
//! frame or arena). `destroy` runs the destructor and releases the fields, leaving the
//! memory. `move` does nothing. `cow_check` copies the array if it is counted and shared
//! (count above one) or constant; `cow_copy` always copies; `cow_in_place` writes in place
//! and reports a shared write if the array is shared. A copy has the original's placement
//! (a constant array's copy is `heap_rc`), its elements each gain a reference, and the
//! original loses the reference the place held. `arena_enter` and `arena_exit` open and
//! free an arena. `collect_cycles` releases the value like `drop`; if it survives, it takes
//! the counted objects strongly connected with the value, and if each one's count equals the references the others hold, they are garbage:
//! all their `drop` blocks run (in depth-first order from the value), then their fields
//! are released and they are freed (a collector reads counts, so collecting a value that
//! is already freed is a use after free). An operation may name a place instead of a local: a
//! field, an element or a global; `count` repeats it.
//!
//! **Destroying** an object runs its class's `drop` block (`self` bound without counting),
//! then releases its fields in declaration order (an array its elements, a closure its
//! captures): to release is to drop a counted value, free a unique one, and do nothing to
//! the others. Destroying is a cascade of tasks on an explicit stack, so a drop that
//! destroys a list of a million nodes, or a recursion ten thousand calls deep, never
//! overflows the Rust stack.
//!
//! **Threads.** `spawn` queues the call on a new thread (ids from 2; main is 1). Using a
//! generator seeded with [`RunOptions::seed`], each spawn waits 0 to 200 main-thread steps
//! and then runs to completion at an instruction boundary of main; calls still pending
//! when `main` returns run then, in spawn order. Every counter operation records the
//! running thread. The result of a spawned call, which no one receives, and the thread's
//! reference to a spawned closure are released when its thread ends.
//!
//! **The end.** After `main` returns and every spawned call has finished, the globals are
//! released in reverse declaration order, and everything still allocated (static data
//! excepted) has leaked.
//!
//! # What is reported
//!
//! | violation | when |
//! | --- | --- |
//! | `use-after-free` | an instruction or operation reads or writes a destroyed or freed object (the run then halts: nothing after it has a defined meaning) |
//! | `double-free` | a `drop`, `free` or `destroy` of an object already freed or destroyed, or a count released below zero |
//! | `dup-of-freed` | a `dup` of a freed object |
//! | `dangling-stack` | a frame returns while something still refers to an object on its stack |
//! | `dangling-arena` | an arena is freed while something still refers to an object in it |
//! | `leak` | an object is still allocated at the end (one violation per site, with the number) |
//! | `leaked-cycle` | leaked objects that form a cycle (named, with the fields that close it) |
//! | `non-atomic-shared` | a `heap_rc` counter is touched by two threads |
//! | `shared-write` | an array is written while its count is above one (no copy-on-write, or `cow_in_place` on a shared array), or constant data is written |
//! | `skipped-destructor` | a frame or arena frees an object whose class has a `drop` block without destroying it |
//! | `invalid-plan` | the plan does not fit the program: an operation on something that does not exist, an `arena` placement with no open arena, an arena never exited |
//!
//! A reference counts as "still referring" when memory that is not freed holds it (a
//! field, element or capture of an object that still holds its contents, a global, a
//! spawned call's argument), or when a local that some path still reads holds it, or when
//! it is the value a returning frame hands back. The same mistake (kind, allocation site
//! and place) is reported once, with [`Violation::count`].
//!
//! Run-time errors of the program ([`ProgramError`]: null access, index out of range,
//! division by zero, `pop` of an empty array, a negative repeat count, reading a global
//! before it is initialised, calling an extern, and the limits of [`RunOptions`]) stop the
//! run; no leak check follows. The [`Outcome`] is [`Outcome::Unsound`] whenever there is a
//! violation, else the program error if there was one, else [`Outcome::Completed`]: exit
//! codes 3, 4 and 0 of `custody run`.
//!
//! # The size model
//!
//! For [`RunStats::peak_bytes`], every object (heap, stack, arena or static) has a
//! 16-byte header, plus 8 bytes per field, array element or captured value, plus one byte
//! per byte of a string's UTF-8 text. The peak is the largest total of objects not yet
//! freed at any moment; [`RunOptions::max_heap_bytes`] bounds the same total.
//!
//! # Trace
//!
//! With [`RunOptions::trace`], one line per event: `alloc Node #12 at 14:9 heap_rc`,
//! `dup Node #12 rc=2`, `drop Node #12 rc=1`, `destroy Node #12 (drop block)`,
//! `free Node #12`, `cow copy [int] #5 -> #9`, `arena enter s3`,
//! `arena exit s3: 4 objects`, `collect 2 objects`, `spawn fn worker thread 2`,
//! `thread 2 runs`, `thread 2 ends`, `release globals`, `violation KIND: MESSAGE`.
//! Positions in messages and traces are rendered by [`RunOptions::position`] (the CLI
//! gives `line:col`), as byte ranges (`@start..end`) otherwise.

mod format;
mod heap;
mod interp;
mod leaks;
mod liveness;
mod machine;
mod ops;
mod plan_index;
mod regions;
mod threads;
mod value;

use crate::plan::{ByPlacement, MemoryPlan};
use crate::{Program, Span};
use machine::{Machine, Stop};
use serde::Serialize;

/// How to run.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// Seeds the delays of spawned calls.
    pub seed: u64,
    /// Whether to write a trace of memory events.
    pub trace: bool,
    /// The most steps (instructions, operations and destroy tasks) a run may take.
    pub max_steps: u64,
    /// The most bytes (in the size model) that may be allocated at once.
    pub max_heap_bytes: u64,
    /// The most nested calls per thread (`drop` blocks included).
    pub max_call_depth: u32,
    /// Renders a span for messages and traces (`12:9`); byte ranges (`@30..58`) if `None`.
    pub position: Option<&'a dyn Fn(Span) -> String>,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            seed: 0,
            trace: false,
            max_steps: 50_000_000,
            max_heap_bytes: 1 << 30,
            max_call_depth: 10_000,
            position: None,
        }
    }
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("trace", &self.trace)
            .field("max_steps", &self.max_steps)
            .field("max_heap_bytes", &self.max_heap_bytes)
            .field("max_call_depth", &self.max_call_depth)
            .field("position", &self.position.map(|_| "fn(Span) -> String"))
            .finish()
    }
}

/// Everything a run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Every violation of memory safety, in the order they happened.
    pub violations: Vec<Violation>,
    /// The run-time error that stopped the program, if any (also when a violation came
    /// first and the outcome is [`Outcome::Unsound`]).
    pub program_error: Option<ProgramError>,
    /// Counts.
    pub stats: RunStats,
}

impl RunReport {
    /// The exit code of `custody run`: 0 completed, 3 unsound, 4 program error.
    pub fn exit_code(&self) -> i32 {
        self.outcome.exit_code()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// `main` returned, and nothing was wrong.
    Completed,
    /// The program stopped with a run-time error (and no violation happened before).
    ProgramError(ProgramError),
    /// The plan is unsound: see the violations.
    Unsound,
}

impl Outcome {
    /// 0, 4 or 3.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Completed => 0,
            Outcome::ProgramError(_) => 4,
            Outcome::Unsound => 3,
        }
    }
}

/// A run-time error of the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramError {
    /// What went wrong.
    pub kind: ProgramErrorKind,
    /// In words, for people.
    pub message: String,
    /// The instruction.
    pub span: Span,
    /// The function running it.
    pub function: String,
}

/// The kinds of run-time error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgramErrorKind {
    /// `null` used as a plain value.
    NullAccess,
    /// An index outside the array.
    IndexOutOfRange,
    /// Integer division or remainder by zero.
    DivisionByZero,
    /// `pop` of an empty array.
    EmptyPop,
    /// `[v; n]` with `n < 0`.
    NegativeRepeat,
    /// A global read before its initialiser ran.
    UninitialisedGlobal,
    /// A call of an extern: custody cannot run foreign code.
    Extern,
    /// Control reached an `unreachable` instruction.
    Unreachable,
    /// The step limit was exceeded.
    StepLimit,
    /// The heap limit was exceeded.
    HeapLimit,
    /// The call-depth limit was exceeded.
    CallDepth,
    /// The program has no `main`.
    NoMain,
    /// The program is not valid IR.
    InvalidProgram,
    /// The IR did something validated IR cannot (a bug in custody or the frontend).
    Internal,
}

/// A violation of memory safety: the plan is unsound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationKind,
    /// In words, with positions.
    pub message: String,
    /// The allocation concerned (empty if none).
    pub alloc_span: Span,
    /// Where it was freed or destroyed, if it was.
    pub free_span: Option<Span>,
    /// Where it was used, released or found dangling.
    pub use_span: Option<Span>,
    /// The function where it happened (for leaks: the allocating function).
    pub function: String,
    /// The plan's id of the allocation site (`make#0`), empty if none.
    pub alloc_site: String,
    /// How many times the same mistake happened (same kind, site and place).
    pub count: u64,
}

/// The kinds of violation (see the [module documentation](self) for what triggers each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// A destroyed or freed object was read or written.
    UseAfterFree,
    /// An object was freed, destroyed or released once too often.
    DoubleFree,
    /// A freed object gained a reference.
    DupOfFreed,
    /// A stack object outlived its frame.
    DanglingStack,
    /// An arena object outlived its arena.
    DanglingArena,
    /// An object was never freed.
    Leak,
    /// Objects in a cycle were never freed.
    LeakedCycle,
    /// A non-atomic count was used by two threads.
    NonAtomicShared,
    /// A shared or constant array was written.
    SharedWrite,
    /// An object with a `drop` block was freed without running it.
    SkippedDestructor,
    /// The plan does not fit the program.
    InvalidPlan,
}

impl ViolationKind {
    /// The stable name: `use-after-free`.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::UseAfterFree => "use-after-free",
            ViolationKind::DoubleFree => "double-free",
            ViolationKind::DupOfFreed => "dup-of-freed",
            ViolationKind::DanglingStack => "dangling-stack",
            ViolationKind::DanglingArena => "dangling-arena",
            ViolationKind::Leak => "leak",
            ViolationKind::LeakedCycle => "leaked-cycle",
            ViolationKind::NonAtomicShared => "non-atomic-shared",
            ViolationKind::SharedWrite => "shared-write",
            ViolationKind::SkippedDestructor => "skipped-destructor",
            ViolationKind::InvalidPlan => "invalid-plan",
        }
    }
}

/// Counts of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RunStats {
    /// Objects allocated (copy-on-write copies included; a static site once).
    pub allocations: u64,
    /// Objects freed (by the plan, or with their frame or arena).
    pub frees: u64,
    /// Counter operations executed: `dup` and `drop` on counted objects, and the element
    /// counts a copy-on-write adds.
    pub rc_ops: u64,
    /// The most bytes allocated at once (see the module documentation for the model).
    pub peak_bytes: u64,
    /// Objects still allocated at the end.
    pub leaked: u64,
    /// Allocations per placement.
    pub by_placement: ByPlacement,
    /// Steps taken.
    pub steps: u64,
    /// Violations beyond the first thousand distinct ones, not recorded.
    pub violations_dropped: u64,
}

/// Runs `program` under `plan`: program output to `stdout`, a trace (if asked for) to
/// `trace`. Never panics, whatever the program and plan: a program that is not valid IR
/// is a [`ProgramErrorKind::InvalidProgram`] error, and a plan that does not fit the
/// program gives `invalid-plan` violations.
pub fn run(
    program: &Program,
    plan: &MemoryPlan,
    options: &RunOptions<'_>,
    stdout: &mut dyn std::io::Write,
    trace: &mut dyn std::io::Write,
) -> RunReport {
    let refused = |kind, message, span| {
        let error = ProgramError { kind, message, span, function: String::new() };
        RunReport {
            outcome: Outcome::ProgramError(error.clone()),
            violations: Vec::new(),
            program_error: Some(error),
            stats: RunStats::default(),
        }
    };
    if let Err(errors) = crate::validate(program) {
        let first = errors.first();
        let message = format!(
            "the program is not valid IR ({} problem{}): {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            first.map_or_else(String::new, ToString::to_string)
        );
        return refused(ProgramErrorKind::InvalidProgram, message, first.map_or(Span::NONE, |e| e.span));
    }
    let Some(main) = program.main else {
        return refused(ProgramErrorKind::NoMain, "the program has no `main`".into(), Span::NONE);
    };
    let index = plan_index::PlanIndex::build(program, plan);
    let mut machine = Machine::new(program, &index, options, stdout, trace);
    for problem in &index.problems {
        let violation = Violation {
            kind: ViolationKind::InvalidPlan,
            message: problem.message.clone(),
            alloc_span: Span::NONE,
            free_span: None,
            use_span: (problem.span != Span::NONE).then_some(problem.span),
            function: problem.function.clone(),
            alloc_site: String::new(),
            count: 1,
        };
        machine.push_violation(violation, None);
    }
    let result = execute(&mut machine, main);
    let _ = machine.stdout.flush();
    let _ = machine.trace_out.flush();
    let program_error = match result {
        Err(Stop::Error(error)) => Some(error),
        Ok(()) | Err(Stop::Halt) => None,
    };
    let mut stats = std::mem::take(&mut machine.stats);
    stats.peak_bytes = machine.heap.peak_bytes;
    let violations = std::mem::take(&mut machine.violations);
    let outcome = match (&program_error, violations.is_empty()) {
        (_, false) => Outcome::Unsound,
        (Some(error), true) => Outcome::ProgramError(error.clone()),
        (None, true) => Outcome::Completed,
    };
    RunReport { outcome, violations, program_error, stats }
}

/// The whole run: initialisers, `main`, pending spawns, globals, leak check.
fn execute(m: &mut Machine<'_>, main: crate::FunctionId) -> Result<(), Stop> {
    m.scheduling = true;
    if let Some(init) = m.program.global_init {
        start_main_thread(m, init)?;
    }
    start_main_thread(m, main)?;
    m.scheduling = false;
    m.drain_spawns()?;
    m.release_globals()?;
    m.drain_spawns()?;
    m.leak_check();
    Ok(())
}

/// Runs `function` on the main thread to completion (with spawned calls interleaved).
fn start_main_thread(m: &mut Machine<'_>, function: crate::FunctionId) -> Result<(), Stop> {
    m.threads.push(machine::Thread { id: machine::MAIN_THREAD, stack: Vec::new(), frames: 0 });
    m.push_frame(function, Vec::new(), Vec::new(), machine::RetTo::Discard)?;
    m.run_loop()
}
