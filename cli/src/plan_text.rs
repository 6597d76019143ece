//! `custody plan --format text`: the source with the plan written into it as comments,
//! the way Nim's `--expandArc` shows the code with its memory operations in place.
//!
//! Under each source line come, indented like that line, what the plan decided there: a
//! function's return binding and parameters (with their mode) on its first line, each
//! allocation and each operation on a line of its own, in the order they run
//! (`// drop s (last use)`, `// cow_check ys: ys may be shared`). Instruction order is the
//! order of execution within a line, where columns are not: `push(cache, n)` loads `cache`
//! at a later column than the `push` that uses it. Operations at a scope's exit are written
//! where the scope closes (its `}`), not where it opens.
//!
//! Places are named as the source names them: fields by name, temporaries (`%3`) followed
//! by the expression they hold, cut short.

use custody_ir::plan::{
    AllocKind, AllocationPlan, Control, Escape, FlowTarget, FunctionPlan, MemoryPlan, Op, OpKind,
    ReturnBound, When,
};
use custody_ir::{Function, FunctionKind, InstAddr, InstKind, LocalId, LocalKind, Mode, Program};
use custody_syntax::LineIndex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Temporaries are described by at most this many characters of their expression: more
/// would push the operation's reason off the screen.
const MAX_TEMP_TEXT: usize = 48;

/// The source of one file with the plan written into it, under a `plan of FILE` title.
/// `program` is the IR the plan was computed from; it gives field names and what each
/// temporary holds.
pub(crate) fn plan_text(plan: &MemoryPlan, program: &Program, text: &str) -> String {
    let index = LineIndex::new(text);
    let ir_functions: HashMap<&str, &Function> =
        program.functions.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut notes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for function in &plan.functions {
        let writer =
            NoteWriter { program, function: ir_functions.get(function.name.as_str()).copied(), text };
        let mut placed = writer.function_notes(function, &index);
        // Stable: notes of one slot keep the plan's order.
        placed.sort_by_key(|note| (note.line, note.slot));
        for note in placed {
            notes.entry(note.line).or_default().push(note.text);
        }
    }
    for d in &plan.diagnostics {
        notes.entry(d.span.line).or_default().push(format!("{}[{}]: {}", d.severity, d.code, d.message));
    }

    let mut out = format!("plan of {}\n", plan.source);
    let lines: Vec<&str> = text.lines().collect();
    let width = lines.len().to_string().len();
    let write_notes = |out: &mut String, notes: Vec<String>, indent: &str| {
        for note in notes {
            let _ = writeln!(out, "{:>width$} | {indent}// {note}", "");
        }
    };
    // Notes without a source line (line 0, or past the end) still show, before or after.
    write_notes(&mut out, notes.remove(&0).unwrap_or_default(), "");
    for (i, source) in lines.iter().enumerate() {
        let line = i as u32 + 1;
        let _ = writeln!(out, "{}", format!("{line:>width$} | {source}").trim_end());
        let indent = &source[..source.len() - source.trim_start().len()];
        write_notes(&mut out, notes.remove(&line).unwrap_or_default(), indent);
    }
    write_notes(&mut out, notes.into_values().flatten().collect(), "");
    out
}

/// One note and where it goes.
struct PlacedNote {
    /// The source line it is written under.
    line: u32,
    /// Its place among the line's notes.
    slot: Slot,
    /// The comment, without `// `.
    text: String,
}

/// Where a note goes among one function's notes on a line: the function's own facts first,
/// then allocations and operations by instruction, each instruction's `before` operations,
/// its allocation and its `after` operations in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Function,
    Inst(InstAddr, Phase),
}

/// When, relative to its instruction, a note's event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before,
    Allocation,
    After,
}

/// Writes the notes of one function, naming places with the help of its IR.
struct NoteWriter<'a> {
    program: &'a Program,
    /// The IR function, when the plan's function names one.
    function: Option<&'a Function>,
    text: &'a str,
}

impl NoteWriter<'_> {
    fn function_notes(&self, f: &FunctionPlan, index: &LineIndex) -> Vec<PlacedNote> {
        let facts = |text| PlacedNote { line: f.span.line, slot: Slot::Function, text };
        let mut notes = Vec::new();
        // A plain function's own line names it; methods, `drop` blocks, closures and
        // initialisers are named when they have notes, which could otherwise be taken for
        // their neighbours'.
        let plain = self.function.is_none_or(|ir| ir.kind == FunctionKind::Plain);
        let has_notes = !(f.params.is_empty() && f.allocations.is_empty() && f.ops.is_empty());
        if f.returns.bound != ReturnBound::None || (!plain && has_notes) {
            notes.push(facts(format!("fn {}{}", f.name, returns(f))));
        }
        notes.extend(f.params.iter().map(|p| {
            let flows: Vec<String> = p.flows_to.iter().map(|to| flow_target(f, to)).collect();
            let flows =
                if flows.is_empty() { String::new() } else { format!(", flows to {}", flows.join(", ")) };
            facts(format!("param {}: {}, {}{flows}", p.name, mode(p.mode), escape(p.escape)))
        }));
        notes.extend(f.allocations.iter().map(|a| PlacedNote {
            line: a.span.line,
            slot: Slot::Inst(a.inst, Phase::Allocation),
            text: allocation(a),
        }));
        notes.extend(f.ops.iter().map(|op| {
            let phase = match op.when {
                When::Before => Phase::Before,
                When::After => Phase::After,
            };
            PlacedNote { line: self.op_line(op, index), slot: Slot::Inst(op.inst, phase), text: self.op(op) }
        }));
        notes
    }

    /// The line an operation happens on: that of its instruction, except that a scope's
    /// exit happens where the scope's source ends.
    fn op_line(&self, op: &Op, index: &LineIndex) -> u32 {
        let exits_scope = self
            .function
            .and_then(|f| f.inst(op.inst))
            .is_some_and(|inst| matches!(inst.kind, InstKind::ScopeExit { .. }));
        if exits_scope && op.at.end > op.at.start {
            index.line_col((op.at.end - 1).into()).line
        } else {
            op.at.line
        }
    }

    /// `drop first.next (first.next overwritten)`, `cow_check ys: ys may be shared`.
    fn op(&self, op: &Op) -> String {
        let mut text = op.op.as_str().to_string();
        let place = self.place(op);
        if !place.is_empty() {
            text = format!("{text} {place}");
        }
        if let Some(count) = op.count {
            let _ = write!(text, ", {} times", self.local_text(count));
        }
        match &op.reason {
            // A copy-on-write reason says what the array is (`shared with xs`).
            Some(reason) if matches!(op.op, OpKind::CowCheck | OpKind::CowInPlace | OpKind::CowCopy) => {
                format!("{text}: {reason}")
            }
            Some(reason) => format!("{text} ({reason})"),
            None => text,
        }
    }

    /// What an operation applies to: `xs`, `first.next`, `grid[i]`, `%5 \`make("kept")\``,
    /// a global's name, or an arena scope `s3`.
    fn place(&self, op: &Op) -> String {
        let Some(value) = &op.value else {
            return op.scope.map(|s| format!("s{}", s.0)).unwrap_or_default();
        };
        let local = op.local.and_then(|l| self.function?.get_local(l));
        match (op.field, op.index) {
            (Some(field), _) => {
                let name = local.and_then(|l| self.program.field(&l.ty, field)).map(|f| f.name.clone());
                format!("{value}.{}", name.unwrap_or_else(|| field.to_string()))
            }
            (_, Some(i)) => format!("{value}[{}]", self.local_text(i)),
            (None, None) => match op.local.and_then(|l| self.temp_text(l)) {
                Some(expr) => format!("{value} `{expr}`"),
                None => value.clone(),
            },
        }
    }

    /// A local as the source would write it: its name, a temporary's short expression, or
    /// `%n`.
    fn local_text(&self, id: LocalId) -> String {
        let name = self.function.and_then(|f| f.get_local(id)?.name.clone());
        name.or_else(|| self.temp_text(id)).unwrap_or_else(|| format!("%{}", id.0))
    }

    /// The source of the expression a temporary holds, on one line, its middle cut out if
    /// it is long.
    fn temp_text(&self, id: LocalId) -> Option<String> {
        let local = self.function?.get_local(id)?;
        if local.kind != LocalKind::Temp {
            return None;
        }
        let expr = self.text.get(local.span.start as usize..local.span.end as usize)?;
        let expr = expr.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = expr.chars().collect();
        if chars.is_empty() {
            return None;
        }
        if chars.len() <= MAX_TEMP_TEXT {
            return Some(expr);
        }
        // Both ends: the temporaries of `a + b + c + d` differ at the end.
        let half = MAX_TEMP_TEXT / 2;
        let head: String = chars[..half].iter().collect();
        let tail: String = chars[chars.len() - half..].iter().collect();
        Some(format!("{}...{}", head.trim_end(), tail.trim_start()))
    }
}

/// `: returns callee (control passes to the caller)`, or nothing for no reference.
fn returns(f: &FunctionPlan) -> String {
    let params: Vec<&str> = f.returns.params.iter().map(|&i| param_name(f, i)).collect();
    let params = params.join(", ");
    match f.returns.bound {
        ReturnBound::None => String::new(),
        ReturnBound::Callee => ": returns callee (control passes to the caller)".to_string(),
        ReturnBound::Parameter => format!(": returns parameter {params} (control stays with the argument's)"),
        ReturnBound::Parent => ": returns parent (reachable from a global)".to_string(),
        ReturnBound::Mixed if params.is_empty() => ": returns mixed".to_string(),
        ReturnBound::Mixed => format!(": returns mixed (may be parameter {params})"),
    }
}

fn param_name(f: &FunctionPlan, index: u32) -> &str {
    f.params.iter().find(|p| p.index == index).map_or("?", |p| p.name.as_str())
}

fn flow_target(f: &FunctionPlan, to: &FlowTarget) -> String {
    match to {
        FlowTarget::Return => "the result".to_string(),
        FlowTarget::Param { index, path } => format!("{}{path}", param_name(f, *index)),
        FlowTarget::Global { name } => format!("global {name}"),
        FlowTarget::Thread => "another thread".to_string(),
        FlowTarget::Unknown => "unknown code".to_string(),
    }
}

/// `alloc make#0 Node: heap_rc, binding, control caller (shared: ...)`.
fn allocation(a: &AllocationPlan) -> String {
    let what = match a.kind {
        AllocKind::Closure => format!("closure {}", a.ty),
        AllocKind::Object | AllocKind::Array | AllocKind::String => a.ty.clone(),
    };
    let mut text = format!(
        "alloc {} {what}: {}, {}, control {}",
        a.id,
        a.placement.as_str(),
        escape(a.escape),
        control(a.control)
    );
    if let Some(scope) = a.arena_scope {
        let _ = write!(text, " s{}", scope.0);
    }
    if a.cyclic {
        text.push_str(", cyclic");
    }
    if !a.reason.is_empty() {
        let _ = write!(text, " ({})", a.reason);
    }
    text
}

fn escape(e: Escape) -> &'static str {
    match e {
        Escape::Contained => "contained",
        Escape::Binding => "binding",
        Escape::Uncontained => "uncontained",
        Escape::Thread => "thread",
    }
}

fn control(c: Control) -> &'static str {
    match c {
        Control::Function => "function",
        Control::Caller => "caller",
        Control::Global => "global",
        Control::Arena => "arena",
    }
}

fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Own => "own",
        Mode::Borrow => "borrow",
    }
}
