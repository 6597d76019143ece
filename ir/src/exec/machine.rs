//! The machine: threads of activations (IR frames and native tasks) on explicit stacks,
//! and the loop that steps them.
//!
//! Nothing here recurses in Rust per IR call or per destroyed object. A call pushes a
//! [`Frame`]; destroying an object pushes a [`Task`] that runs the class's `drop` block
//! (by pushing its frame) and then releases the fields one at a time (each release may
//! push more tasks). A frame records how far it is through its current instruction
//! ([`Phase`]: its `before` operations, the instruction, its `after` operations), so that
//! whatever an operation pushes runs to completion before the next operation.

use super::format::Positions;
use super::heap::Heap;
use super::liveness::Liveness;
use super::plan_index::PlanIndex;
use super::regions::Arena;
use super::threads::Spawns;
use super::value::{ObjId, Value};
use super::{ProgramError, ProgramErrorKind, RunOptions, RunStats, Violation, ViolationKind};
use crate::plan::When;
use crate::{BlockId, FunctionId, InstAddr, LocalId, Program, Span};
use std::collections::HashMap;
use std::io::Write;

/// The thread that runs the global initialisers and `main`.
pub(super) const MAIN_THREAD: u32 = 1;

/// How many distinct violations a run records (later ones are only counted).
const MAX_VIOLATIONS: usize = 1000;

/// Why a run stopped early.
#[derive(Debug)]
pub(super) enum Stop {
    /// A run-time error of the program (or a limit).
    Error(ProgramError),
    /// Memory was used after it was freed: nothing after that has a defined meaning.
    Halt,
}

/// Where a frame is in its current instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// About to run `before` operation `k` (or the instruction, if there is none).
    Before(usize),
    /// About to run the instruction.
    Inst,
    /// About to run `after` operation `k` (or to move on, if there is none).
    After(usize),
}

/// Where a frame's result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetTo {
    /// Into this local of the frame below.
    Local(LocalId),
    /// Nowhere (no destination, a `drop` block, `main`).
    Discard,
    /// Released: the result of a spawned call, which no one receives (as a backend's
    /// thread entry would, it drops a counted result and frees a unique one).
    Release,
}

/// What a terminator does once its `after` operations have run.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Transfer {
    /// Continue at the start of a block.
    Jump(BlockId),
    /// Return this value.
    Return(Value),
}

/// One activation of an IR function.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// The function.
    pub(super) function: FunctionId,
    /// Its locals.
    pub(super) locals: Vec<Value>,
    /// The current instruction.
    pub(super) at: InstAddr,
    /// How far through it.
    pub(super) phase: Phase,
    /// Where the result goes.
    pub(super) ret: RetTo,
    /// Its open arenas, innermost last (indices into the machine's arenas).
    pub(super) arenas: Vec<usize>,
    /// The objects placed in it.
    pub(super) stack_objs: Vec<ObjId>,
    /// A terminator's pending effect.
    pub(super) transfer: Option<Transfer>,
}

/// What an [`Task::Each`] does to each reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// `drop`.
    Drop,
    /// `free`.
    Free,
    /// `destroy`.
    Destroy,
    /// Release: drop if counted, free if unique, nothing otherwise.
    Release,
    /// `collect_cycles`: release, then collect the group if the object survives.
    Collect,
}

/// The stages of destroying one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DestroyStage {
    /// Run the `drop` block.
    DropBlock,
    /// Release the contents.
    Release,
    /// Mark it destroyed, or free it.
    Finish,
}

/// The stages of destroying a garbage cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupStage {
    /// Run member `i`'s `drop` block next.
    Drops(usize),
    /// Release member `i`'s contents next.
    Release(usize),
    /// Free them all.
    Finish,
}

/// Native work on a thread's stack.
#[derive(Debug, Clone)]
pub(super) enum Task {
    /// Apply an action to references in turn, each `repeat` times.
    Each {
        /// The references.
        refs: Vec<ObjId>,
        /// The next one.
        next: usize,
        /// How often each is acted on.
        repeat: u64,
        /// How often the current one has been.
        done: u64,
        /// What to do.
        action: Action,
        /// The span that caused it.
        cause: Span,
    },
    /// Destroy one object (and free it, if `free`).
    Destroy {
        /// The object.
        obj: ObjId,
        /// How far.
        stage: DestroyStage,
        /// Free its memory at the end.
        free: bool,
        /// The span that caused it.
        cause: Span,
    },
    /// Destroy and free a group of objects (a collected cycle).
    Group {
        /// The members, in depth-first order.
        members: Vec<ObjId>,
        /// How far.
        stage: GroupStage,
        /// The span that caused it.
        cause: Span,
    },
}

/// An entry of a thread's stack.
#[derive(Debug, Clone)]
pub(super) enum Act {
    /// An IR function activation.
    Frame(Box<Frame>),
    /// Native work.
    Task(Task),
}

/// A thread of execution.
#[derive(Debug, Clone)]
pub(super) struct Thread {
    /// Its id (1 for main).
    pub(super) id: u32,
    /// Its activations, innermost last.
    pub(super) stack: Vec<Act>,
    /// How many of them are frames.
    pub(super) frames: u32,
}

/// Identifies a violation for de-duplication: same kind, same allocation site, same place.
type ViolationKey = (ViolationKind, Option<usize>, Option<Span>);

/// The interpreter's whole state.
pub(super) struct Machine<'a> {
    pub(super) program: &'a Program,
    pub(super) plan: &'a PlanIndex,
    pub(super) options: &'a RunOptions<'a>,
    pub(super) stdout: &'a mut dyn Write,
    pub(super) trace_out: &'a mut dyn Write,
    pub(super) positions: Positions<'a>,
    pub(super) heap: Heap,
    /// `None` until initialised.
    pub(super) globals: Vec<Option<Value>>,
    /// Running threads: main, and at most the spawned thread running on top of it.
    pub(super) threads: Vec<Thread>,
    pub(super) spawns: Spawns,
    /// Whether spawned calls may start at main's instruction boundaries.
    pub(super) scheduling: bool,
    /// Steps taken by the main thread.
    pub(super) main_steps: u64,
    pub(super) arenas: Vec<Arena>,
    pub(super) stats: RunStats,
    pub(super) violations: Vec<Violation>,
    seen: HashMap<ViolationKey, usize>,
    /// Allocation sites met so far, by function and instruction.
    pub(super) sites: HashMap<(FunctionId, InstAddr), usize>,
    /// The object of every static allocation site executed, and what it first contained.
    pub(super) statics: HashMap<(FunctionId, InstAddr), (ObjId, super::heap::Body)>,
    pub(super) liveness: HashMap<FunctionId, Liveness>,
    /// The span of the instruction being executed.
    pub(super) span: Span,
}

impl<'a> Machine<'a> {
    pub(super) fn new(
        program: &'a Program,
        plan: &'a PlanIndex,
        options: &'a RunOptions<'a>,
        stdout: &'a mut dyn Write,
        trace_out: &'a mut dyn Write,
    ) -> Machine<'a> {
        Machine {
            program,
            plan,
            options,
            stdout,
            trace_out,
            positions: Positions::new(options.position),
            heap: Heap::default(),
            globals: vec![None; program.globals.len()],
            threads: Vec::new(),
            spawns: Spawns::new(options.seed),
            scheduling: false,
            main_steps: 0,
            arenas: Vec::new(),
            stats: RunStats::default(),
            violations: Vec::new(),
            seen: HashMap::new(),
            sites: HashMap::new(),
            statics: HashMap::new(),
            liveness: HashMap::new(),
            span: Span::NONE,
        }
    }

    // ---- driving ------------------------------------------------------------------------

    /// Steps until no thread is left.
    pub(super) fn run_loop(&mut self) -> Result<(), Stop> {
        loop {
            if self.scheduling
                && self.at_main_boundary()
                && let Some(pending) = self.spawns.take_due(self.main_steps)
            {
                self.start_thread(pending)?;
                continue;
            }
            let Some(thread) = self.threads.last() else { return Ok(()) };
            match thread.stack.last() {
                None => {
                    let id = thread.id;
                    self.threads.pop();
                    if id != MAIN_THREAD {
                        self.trace(|| format!("thread {id} ends"));
                    }
                }
                Some(Act::Frame(_)) => self.step_frame()?,
                Some(Act::Task(_)) => self.step_task()?,
            }
        }
    }

    /// Whether only main runs and it is about to start an instruction.
    fn at_main_boundary(&self) -> bool {
        match self.threads.as_slice() {
            [main] if main.id == MAIN_THREAD => {
                matches!(main.stack.last(), Some(Act::Frame(f)) if f.phase == Phase::Before(0))
            }
            _ => false,
        }
    }

    /// One step of the top frame: an operation, the instruction, or moving on.
    fn step_frame(&mut self) -> Result<(), Stop> {
        let program = self.program;
        let plan = self.plan;
        let (function, at, phase) = {
            let frame = self.frame()?;
            (frame.function, frame.at, frame.phase)
        };
        let Some(func) = program.functions.get(function.index()) else {
            return Err(self.internal(format!("no function #{}", function.0)));
        };
        let Some(inst) = func.inst(at) else {
            return Err(self.internal(format!("`{}` has no instruction {at}", func.name)));
        };
        self.span = inst.span;
        let iplan = plan.function(function).and_then(|p| p.inst(at));
        let ops = |when| iplan.map_or(&[][..], |p| p.ops(when));
        match phase {
            Phase::Before(k) => match ops(When::Before).get(k) {
                Some(op) => {
                    self.frame()?.phase = Phase::Before(k + 1);
                    self.tick()?;
                    self.exec_op(op, at, When::Before, k)
                }
                None => {
                    self.frame()?.phase = Phase::Inst;
                    Ok(())
                }
            },
            Phase::Inst => {
                self.frame()?.phase = Phase::After(0);
                self.tick()?;
                self.exec_inst(func, at, &inst.kind)
            }
            Phase::After(k) => match ops(When::After).get(k) {
                Some(op) => {
                    self.frame()?.phase = Phase::After(k + 1);
                    self.tick()?;
                    self.exec_op(op, at, When::After, k)
                }
                None => self.finish_inst(),
            },
        }
    }

    /// Moves past the current instruction: to the next one, a jump target, or out.
    fn finish_inst(&mut self) -> Result<(), Stop> {
        let frame = self.frame()?;
        match frame.transfer.take() {
            None => {
                frame.at.index += 1;
                frame.phase = Phase::Before(0);
                Ok(())
            }
            Some(Transfer::Jump(block)) => {
                frame.at = InstAddr { block, index: 0 };
                frame.phase = Phase::Before(0);
                Ok(())
            }
            Some(Transfer::Return(value)) => self.return_from_frame(value),
        }
    }

    /// Pops the top frame, ends its regions and delivers its result.
    fn return_from_frame(&mut self, value: Value) -> Result<(), Stop> {
        self.end_frame(&value)?;
        let Some(thread) = self.threads.last_mut() else { return Err(self.internal("no thread".into())) };
        let Some(Act::Frame(frame)) = thread.stack.pop() else {
            return Err(self.internal("return without a frame".into()));
        };
        thread.frames = thread.frames.saturating_sub(1);
        match frame.ret {
            RetTo::Discard => Ok(()),
            RetTo::Release => {
                let refs = value.refs();
                if !refs.is_empty() {
                    let cause = self.span;
                    let task =
                        Task::Each { refs, next: 0, repeat: 1, done: 0, action: Action::Release, cause };
                    if let Some(thread) = self.threads.last_mut() {
                        thread.stack.push(Act::Task(task));
                    }
                }
                Ok(())
            }
            RetTo::Local(dest) => {
                let caller = self.frame()?;
                if let Some(slot) = caller.locals.get_mut(dest.index()) {
                    *slot = value;
                }
                Ok(())
            }
        }
    }

    /// Pushes a frame for `function` on the current thread; parameters and captures are
    /// bound to the values given, without counting.
    pub(super) fn push_frame(
        &mut self,
        function: FunctionId,
        args: Vec<Value>,
        captures: Vec<Value>,
        ret: RetTo,
    ) -> Result<(), Stop> {
        let limit = self.options.max_call_depth;
        let Some(f) = self.program.functions.get(function.index()) else {
            return Err(self.internal(format!("call of function #{}, which does not exist", function.0)));
        };
        let depth = self.threads.last().map_or(0, |t| t.frames);
        if depth >= limit {
            return Err(self.error(
                ProgramErrorKind::CallDepth,
                format!("call depth limit of {limit} exceeded calling `{}` (unbounded recursion?)", f.name),
            ));
        }
        let mut locals = vec![Value::Null; f.locals.len()];
        for (local, value) in f.params.iter().zip(args).chain(f.captures.iter().zip(captures)) {
            if let Some(slot) = locals.get_mut(local.index()) {
                *slot = value;
            }
        }
        let frame = Frame {
            function,
            locals,
            at: InstAddr { block: BlockId(0), index: 0 },
            phase: Phase::Before(0),
            ret,
            arenas: Vec::new(),
            stack_objs: Vec::new(),
            transfer: None,
        };
        let Some(thread) = self.threads.last_mut() else { return Err(self.internal("no thread".into())) };
        thread.stack.push(Act::Frame(Box::new(frame)));
        thread.frames += 1;
        Ok(())
    }

    /// Counts a step against the limit.
    pub(super) fn tick(&mut self) -> Result<(), Stop> {
        self.stats.steps += 1;
        if self.threads.last().is_some_and(|t| t.id == MAIN_THREAD) {
            self.main_steps += 1;
        }
        if self.stats.steps > self.options.max_steps {
            let limit = self.options.max_steps;
            return Err(self.error(ProgramErrorKind::StepLimit, format!("step limit of {limit} exceeded")));
        }
        Ok(())
    }

    // ---- access to the current frame ------------------------------------------------------

    /// The top frame of the running thread.
    pub(super) fn frame(&mut self) -> Result<&mut Frame, Stop> {
        match self.threads.last_mut().and_then(|t| t.stack.last_mut()) {
            Some(Act::Frame(frame)) => Ok(frame),
            _ => Err(Stop::Error(ProgramError {
                kind: ProgramErrorKind::Internal,
                message: "internal error: no current frame".into(),
                span: self.span,
                function: String::new(),
            })),
        }
    }

    /// The innermost frame of the running thread, if any (under any tasks).
    pub(super) fn current_frame(&self) -> Option<&Frame> {
        self.threads.last()?.stack.iter().rev().find_map(|a| match a {
            Act::Frame(f) => Some(&**f),
            Act::Task(_) => None,
        })
    }

    /// The id of the running thread.
    pub(super) fn thread_id(&self) -> u32 {
        self.threads.last().map_or(MAIN_THREAD, |t| t.id)
    }

    /// A local of the top frame (`null` if there is no such local).
    pub(super) fn local(&self, local: LocalId) -> Value {
        match self.threads.last().and_then(|t| t.stack.last()) {
            Some(Act::Frame(f)) => f.locals.get(local.index()).cloned().unwrap_or_default(),
            _ => Value::Null,
        }
    }

    /// Writes a local of the top frame (no counting).
    pub(super) fn set_local(&mut self, local: LocalId, value: Value) -> Result<(), Stop> {
        let frame = self.frame()?;
        if let Some(slot) = frame.locals.get_mut(local.index()) {
            *slot = value;
        }
        Ok(())
    }

    /// The name of the function running now (empty when none is).
    pub(super) fn function_name(&self) -> String {
        self.current_frame()
            .and_then(|f| self.program.functions.get(f.function.index()))
            .map_or_else(String::new, |f| f.name.clone())
    }

    // ---- errors, violations, trace ----------------------------------------------------------

    /// A program error at the current instruction.
    pub(super) fn error(&self, kind: ProgramErrorKind, message: String) -> Stop {
        Stop::Error(ProgramError { kind, message, span: self.span, function: self.function_name() })
    }

    /// An inconsistency that validated IR should not have.
    pub(super) fn internal(&self, message: String) -> Stop {
        self.error(ProgramErrorKind::Internal, format!("internal error: {message}"))
    }

    /// `null access` at the current instruction.
    pub(super) fn null_access(&self, what: &str) -> Stop {
        self.error(ProgramErrorKind::NullAccess, format!("null access: {what}"))
    }

    /// `Node #3 from make#0 (12:9)`.
    pub(super) fn who(&self, id: ObjId) -> String {
        match self.heap.site_of(id) {
            Some(site) => {
                format!("{} #{id} from {} ({})", site.label, site.id, self.positions.render(site.span))
            }
            None => format!("#{id}"),
        }
    }

    /// Records a violation about object `obj` (if any), de-duplicated by kind, the
    /// object's allocation site and `key_span`: the same mistake at the same place is
    /// reported once, with a count.
    pub(super) fn violation(
        &mut self,
        kind: ViolationKind,
        obj: Option<ObjId>,
        use_span: Option<Span>,
        key_span: Option<Span>,
        message: String,
    ) {
        let site = obj.and_then(|o| self.heap.get(o)).map(|o| o.site);
        let key = (kind, site, key_span);
        if let Some(&i) = self.seen.get(&key) {
            if let Some(v) = self.violations.get_mut(i) {
                v.count += 1;
            }
            return;
        }
        let (alloc_span, alloc_site) = match obj.and_then(|o| self.heap.site_of(o)) {
            Some(s) => (s.span, s.id.clone()),
            None => (Span::NONE, String::new()),
        };
        let free_span = obj.and_then(|o| self.heap.get(o)).and_then(|o| o.ended_at);
        let violation = Violation {
            kind,
            message,
            alloc_span,
            free_span,
            use_span,
            function: self.function_name(),
            alloc_site,
            count: 1,
        };
        self.push_violation(violation, Some(key));
    }

    /// Records a violation as given.
    pub(super) fn push_violation(&mut self, violation: Violation, key: Option<ViolationKey>) {
        if self.violations.len() >= MAX_VIOLATIONS {
            self.stats.violations_dropped += 1;
            return;
        }
        self.trace(|| format!("violation {}: {}", violation.kind.as_str(), violation.message));
        if let Some(key) = key {
            self.seen.insert(key, self.violations.len());
        }
        self.violations.push(violation);
    }

    /// Writes a trace line, if tracing (the line is only built then).
    pub(super) fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.options.trace {
            let _ = writeln!(self.trace_out, "{}", line());
        }
    }
}
