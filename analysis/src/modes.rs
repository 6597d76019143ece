//! Declared modes: a parameter declared `borrow` is checked, one declared `own` is honoured.
//!
//! `spec/language.md` 4.2: a `borrow` parameter is only *used* during the call; neither it
//! nor anything reachable from it may outlive the call through the callee. This pass reads
//! the whole program's escape analysis ([`crate::escape`]) and reports, at the parameter,
//! a `mode-violation` for each `borrow` parameter (and each `drop` block's `self`, which is
//! borrowed from the object being destroyed) that
//!
//! - escapes: its summary (which covers everything reachable from it) has a flow to the
//!   result, a global, another thread, unknown code, or another parameter's contents. The
//!   witness (the chain `custody explain` shows, from the part that escapes to where the
//!   bound was lost) becomes the related spans, one per instruction that moved it, and
//!   where it ends in a call that keeps the value, the callee's witness follows;
//! - is passed (itself, or an object inside it) as the argument of a parameter declared
//!   `own`: the callee would take control of something the caller only borrowed;
//! - is assigned, or written through as a value (an element store, `push` or `pop` on an
//!   array parameter, a field store into a struct parameter): only an owned parameter can
//!   be changed, so the plan would have to own it (rule `own-borrow-param`), and the
//!   declared mode would not be the plan's.
//!
//! One diagnostic per parameter, for the first of these that applies. Every rule is named
//! in `spec/rules.md`, "Declared modes". What is *not* reported here: a `free` of a
//! `borrow` parameter is `free-borrowed` (`spec/language.md` 7.6, 7.7); moving an object
//! inside the parameter to another place inside the same parameter keeps it in what the
//! caller controls; an `own` parameter is never violated; extern functions have no body
//! to check, and their declared modes are what the escape analysis assumes.
//!
//! The pass runs on the lowered program of a file without other errors, after the
//! per-body checks ([`crate::check::check_file`]).

use crate::db::SourceFile;
use crate::diagnostic::span_range as range;
use crate::diagnostic::{Diagnostic, codes};
use crate::escape::describe::Position;
use crate::escape::explain::Root;
use crate::escape::graph::{Obj, Sel};
use crate::escape::summary::{Flow, FlowDst};
use crate::escape::{FunctionEscape, ProgramEscape};
use crate::explain::{callee_witnesses, holds_at, parameter_witness};
use crate::plan::{local_name, type_holds_references};
use crate::program::program_ir;
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{Callee, FunctionId, InstAddr, InstKind, LocalId, Mode, Span};
use custody_syntax::{LineIndex, TextRange};

/// The mode diagnostics of a file's program (meaningful only for a file without errors).
pub fn file_mode_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    let program = program_ir(db, file);
    let escape = crate::escape::analyze(program);
    let index = LineIndex::new(file.text(db));
    let position = |span: Span| {
        let pos = index.line_col(span.start.into());
        format!("{}:{}", pos.line, pos.col)
    };
    let mut out = mode_diagnostics(program, &escape, &position);
    // rule cyc-collect: the same whole-program pass warns about the cycles the plan
    // leaves to the collector (the plan lists the same warnings).
    for (span, message) in crate::lifetime::cycle_warnings(program, &escape) {
        out.push(Diagnostic::warning(codes::CYCLE, range(span), message));
    }
    out
}

/// Every `mode-violation` of a program, in file coordinates. `escape` is the program's
/// escape analysis; `pos` writes a position into a message (`12:9`).
pub fn mode_diagnostics(program: &ir::Program, escape: &ProgramEscape, pos: Position<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let spawns = first_spawns(program);
    // rule mode-extern-trusted: only functions with bodies are checked; an extern's
    // declared modes are facts the escape analysis builds on (rule esc-extern), never
    // diagnosed.
    for (fi, f) in program.functions.iter().enumerate() {
        let Some(fe) = escape.functions.get(fi) else { continue };
        let checked: Vec<usize> = (0..f.params.len()).filter(|&i| is_checked(program, f, i)).collect();
        if checked.is_empty() {
            continue;
        }
        let to_own = passed_to_own(program, f, fe, &checked);
        let spawn = spawns.get(&fi).copied();
        for &i in &checked {
            let d = spawned_borrow(f, i, spawn, pos)
                .or_else(|| escapes(program, escape, fi, f, fe, i, pos))
                .or_else(|| {
                    to_own.iter().find(|c| c.param == i).map(|c| passed_diagnostic(program, f, c, pos))
                })
                .or_else(|| needs_own(f, i, pos));
            out.extend(d);
        }
    }
    out
}

/// Whether parameter `i` is held to `borrow`.
fn is_checked(program: &ir::Program, f: &ir::Function, i: usize) -> bool {
    let Some(decl) = f.params.get(i).and_then(|&p| f.get_local(p)) else { return false };
    // rule mode-immediate: a mode on a parameter that cannot hold a reference (an
    // immediate, a struct of immediates) has no effect and is never violated.
    if !type_holds_references(program, &decl.ty) {
        return false;
    }
    match f.kind {
        // rule mode-drop-self: a `drop` block's `self` is borrowed from the object being
        // destroyed; letting it escape would resurrect a dying object.
        ir::FunctionKind::Drop { .. } => i == 0,
        // rule mode-own-honoured: an `own` parameter may do anything with its argument, so
        // it is never checked; the plan keeps the declared mode (rule own-borrow-param) and
        // callers hand it over (rule life-consume: a move at the argument's last use).
        _ => decl.mode == Some(Mode::Borrow),
    }
}

/// Where the diagnostic about parameter `i` goes: the parameter (for a `drop` block, whose
/// `self` is not written, the `drop` keyword that starts the block).
fn param_range(f: &ir::Function, i: usize) -> TextRange {
    let span = f.params.get(i).and_then(|&p| f.get_local(p)).map_or(f.span, |d| d.span);
    let span = match f.kind {
        ir::FunctionKind::Drop { .. } if span.len() >= 4 => Span::new(span.start, span.start + 4),
        _ => span,
    };
    range(span)
}

/// The type of the part of a value of type `ty` at `steps` (`None` past a closure's
/// environment, whose types a closure type does not say).
fn part_type(program: &ir::Program, mut ty: Option<ir::Type>, steps: &[Sel]) -> Option<ir::Type> {
    for &sel in steps {
        let current = ty?.non_null().clone();
        ty = match (sel, &current) {
            (Sel::Field(n), t) => program.field(t, n).map(|fd| fd.ty.clone()),
            (Sel::Elem, ir::Type::Array(elem)) => Some((**elem).clone()),
            _ => None,
        };
    }
    ty
}

/// How the message names parameter `i`.
fn subject(f: &ir::Function, i: usize) -> String {
    let name = f.params.get(i).map_or_else(|| format!("#{i}"), |&p| local_name(f, p));
    match f.kind {
        ir::FunctionKind::Drop { .. } => {
            "`self` of a `drop` block is borrowed from the object being destroyed".into()
        }
        _ => format!("parameter `{name}` is declared `borrow`"),
    }
}

fn state_name(e: Escape) -> &'static str {
    match e {
        Escape::Contained => "contained",
        Escape::Binding => "binding",
        Escape::Uncontained => "uncontained",
        Escape::Thread => "thread",
    }
}

/// The state a flow gives its parameter (rule sum-param-state).
fn flow_state(flow: &Flow) -> Escape {
    match flow.dst {
        FlowDst::Return(_) | FlowDst::Param(..) => Escape::Binding,
        FlowDst::Global(_) | FlowDst::Unknown => Escape::Uncontained,
        FlowDst::Thread => Escape::Thread,
    }
}

/// rule mode-borrow-escapes: parameter `i` escapes. Its flows into its own contents do
/// not count (rule mode-borrow-own-contents): an object moved from one place inside the
/// argument to another is still held only by what the caller controls.
fn escapes(
    program: &ir::Program,
    escape: &ProgramEscape,
    fi: usize,
    f: &ir::Function,
    fe: &FunctionEscape,
    i: usize,
    pos: Position<'_>,
) -> Option<Diagnostic> {
    let summary = fe.summary.params.get(i)?;
    // rule mode-borrow-own-contents
    let own_contents = |flow: &Flow| matches!(flow.dst, FlowDst::Param(j, _) if j as usize == i);
    // rule mode-borrow-closure-env
    let param_ty = f.params.get(i).and_then(|&p| f.get_local(p)).map(|l| l.ty.clone());
    let closure_env = |flow: &Flow| {
        flow.src.deep
            && matches!(
                part_type(program, param_ty.clone(), &flow.src.steps).as_ref().map(ir::Type::non_null),
                Some(ir::Type::Closure(_))
            )
    };
    let flows: Vec<&Flow> = summary.flows.iter().filter(|fl| !own_contents(fl) && !closure_env(fl)).collect();
    let state = flows.iter().map(|fl| flow_state(fl)).max()?;
    // The witness of a part whose bound was lost elsewhere than in this parameter.
    let accept = |o: u32| fe.verdicts.root(o) != Some(Root::ParamContent(i as u32));
    let witness = parameter_witness(program, f, fe, i, state, &accept, pos);
    let p = f.params[i];
    let what = match witness.as_ref().map(|(o, _)| fe.graph.objs.item(*o)) {
        Some(Obj::Param(_, path)) if !path.steps.is_empty() => {
            let ty = f.get_local(p).map(|l| l.ty.clone());
            let at = crate::inferred::path_text(program, ty, &path.steps, path.deep);
            format!(" `{}{at}`", local_name(f, p))
        }
        _ => String::new(),
    };
    let witness_obj = witness.as_ref().map(|(o, _)| *o);
    let steps = witness.map(|(_, steps)| steps).unwrap_or_default();
    // The last step says where the bound was lost; without a witness, the worst flow does.
    let end = match steps.last() {
        Some(last) if last.span == Span::NONE => last.text.clone(),
        _ => flow_text(program, f, flows.iter().copied().filter(|fl| flow_state(fl) == state).min()?),
    };
    let message = format!("{} but{what} escapes (`{}`): {end}", subject(f, i), state_name(state));
    let mut d = Diagnostic::error(codes::MODE_VIOLATION, param_range(f, i), message);
    add_steps(&mut d, &steps);
    // Through calls: where the callee that keeps it does so, callee by callee.
    for (_, callee_steps) in callee_witnesses(program, escape, vec![(fi, i)], f, fe, &steps, witness_obj, pos)
    {
        add_steps(&mut d, &callee_steps);
    }
    Some(d)
}

/// Adds a witness's steps as related spans: each instruction that moved the value, with
/// the facts that follow it (`it is in field `next` of ...`) folded into its message. The
/// last fact (where the bound was lost) is the headline's, not repeated.
fn add_steps(d: &mut Diagnostic, steps: &[crate::explain::Step]) {
    let body = match steps.last() {
        Some(last) if last.span == Span::NONE => &steps[..steps.len() - 1],
        _ => steps,
    };
    for step in body {
        if step.span == Span::NONE {
            if let Some((_, m)) = d.related.last_mut() {
                m.push_str("; ");
                m.push_str(&step.text);
            }
            continue;
        }
        d.related.push((range(step.span), step.text.clone()));
    }
}

/// A flow in words, for a headline without a witness.
fn flow_text(program: &ir::Program, f: &ir::Function, flow: &Flow) -> String {
    match &flow.dst {
        FlowDst::Return(_) => format!("`{}` returns it", f.name),
        FlowDst::Param(j, _) => {
            let name = f
                .params
                .iter()
                .chain(&f.captures)
                .nth(*j as usize)
                .map_or_else(|| format!("#{j}"), |&l| local_name(f, l));
            format!("it is stored into parameter `{name}`, which the caller controls")
        }
        FlowDst::Global(g) => format!(
            "global `{}` keeps it for the rest of the program",
            program.globals.get(g.index()).map_or("?", |g| g.name.as_str())
        ),
        FlowDst::Thread => "another thread can reach it".into(),
        FlowDst::Unknown => "code custody cannot see may keep it".into(),
    }
}

/// A borrowed parameter handed to a parameter declared `own`.
struct PassedToOwn {
    /// The caller's parameter.
    param: usize,
    /// The part of it that is passed.
    obj: Obj,
    /// The call.
    at: InstAddr,
    /// The callee and its parameter.
    callee: FunctionId,
    callee_param: usize,
}

/// rule mode-borrow-to-own: the calls (direct calls, method calls, calls of a closure
/// whose literal the analysis sees) that pass a checked parameter, or an object inside
/// one, as the argument of a parameter declared `own`, the first per parameter in
/// instruction order. Which objects an argument holds there is the escape analysis'
/// points-to solution for the definitions of the argument that reach the call.
fn passed_to_own(
    program: &ir::Program,
    f: &ir::Function,
    fe: &FunctionEscape,
    checked: &[usize],
) -> Vec<PassedToOwn> {
    let mut out: Vec<PassedToOwn> = Vec::new();
    // Every closure called and every argument that may go to an `own` parameter, at once.
    let mut queries: Vec<(InstAddr, LocalId)> = Vec::new();
    for (at, inst) in f.insts() {
        let InstKind::Call { callee, args, .. } = &inst.kind else { continue };
        match callee {
            Callee::Function(c) => {
                let Some(callee_fn) = program.functions.get(c.index()) else { continue };
                for (j, &a) in args.iter().enumerate() {
                    let p = callee_fn.params.get(j).and_then(|&p| callee_fn.get_local(p));
                    if p.is_some_and(|d| d.mode == Some(Mode::Own)) {
                        queries.push((at, a));
                    }
                }
            }
            Callee::Closure(l) => {
                queries.push((at, *l));
                queries.extend(args.iter().map(|&a| (at, a)));
            }
            Callee::Extern(_) => {}
        }
    }
    let held = holds_at(fe, &queries);
    let holds = |at: InstAddr, local: LocalId| held.get(&(at, local)).cloned().unwrap_or_default();
    for (at, inst) in f.insts() {
        let InstKind::Call { callee, args, .. } = &inst.kind else { continue };
        let callees: Vec<FunctionId> = match callee {
            Callee::Function(c) => vec![*c],
            Callee::Closure(l) => holds(at, *l)
                .into_iter()
                .filter_map(|o| match fe.graph.objs.item(o) {
                    Obj::Alloc(site) => match f.inst(*site).map(|i| &i.kind) {
                        Some(InstKind::NewClosure { function, .. }) => Some(*function),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            Callee::Extern(_) => continue,
        };
        for c in callees {
            let Some(callee_fn) = program.functions.get(c.index()) else { continue };
            for (j, &a) in args.iter().enumerate() {
                let declared_own = callee_fn
                    .params
                    .get(j)
                    .and_then(|&p| callee_fn.get_local(p))
                    .is_some_and(|d| d.mode == Some(Mode::Own));
                if !declared_own {
                    continue;
                }
                for o in holds(at, a) {
                    let obj = fe.graph.objs.item(o).clone();
                    let k = match obj {
                        Obj::Param(k, _) | Obj::ParamCopy(k) => k as usize,
                        _ => continue,
                    };
                    if checked.contains(&k) && !out.iter().any(|p| p.param == k) {
                        out.push(PassedToOwn { param: k, obj, at, callee: c, callee_param: j });
                    }
                }
            }
        }
    }
    out
}

fn passed_diagnostic(
    program: &ir::Program,
    f: &ir::Function,
    c: &PassedToOwn,
    pos: Position<'_>,
) -> Diagnostic {
    let p = f.params[c.param];
    let what = match &c.obj {
        Obj::Param(_, path) if !path.steps.is_empty() => {
            let ty = f.get_local(p).map(|l| l.ty.clone());
            let at = crate::inferred::path_text(program, ty, &path.steps, path.deep);
            format!("`{}{at}`", local_name(f, p))
        }
        _ => "it".to_string(),
    };
    let callee = program.functions.get(c.callee.index());
    let callee_name = callee.map_or("?".to_string(), |g| g.name.clone());
    let callee_param = callee.and_then(|g| g.params.get(c.callee_param).map(|&l| (g, l)));
    let param_name = callee_param.map_or("?".to_string(), |(g, l)| local_name(g, l));
    let call_span = f.inst(c.at).map_or(Span::NONE, |i| i.span);
    let message = format!(
        "{} but {what} is passed to `{callee_name}` at {}, whose parameter `{param_name}` is declared `own`: \
         the callee would take control of it",
        subject(f, c.param),
        pos(call_span)
    );
    let mut d = Diagnostic::error(codes::MODE_VIOLATION, param_range(f, c.param), message)
        .with_related(range(call_span), format!("passed to `{callee_name}` here"));
    if let Some((g, l)) = callee_param
        && let Some(decl) = g.get_local(l)
        && decl.span != Span::NONE
    {
        d = d.with_related(range(decl.span), format!("`{param_name}` is declared `own` here"));
    }
    d
}

/// rule mode-borrow-needs-own: parameter `i` is assigned, or written through as a value
/// (an array's element store, `push` or `pop`; a field store into a struct value). The
/// plan would have to own it (rule own-borrow-param), so the declared mode could not be
/// kept.
fn needs_own(f: &ir::Function, i: usize, pos: Position<'_>) -> Option<Diagnostic> {
    if matches!(f.kind, ir::FunctionKind::Drop { .. }) {
        return None;
    }
    let p = *f.params.get(i)?;
    let is_struct = f.get_local(p).is_some_and(|d| matches!(d.ty.non_null(), ir::Type::Struct(_)));
    let (span, assigned) = f.insts().find_map(|(_, inst)| {
        let written = match &inst.kind {
            InstKind::StoreElem { array, .. }
            | InstKind::Push { array, .. }
            | InstKind::Pop { array, .. } => *array == p,
            InstKind::StoreField { object, .. } => *object == p && is_struct,
            _ => false,
        };
        if inst.kind.dest() == Some(p) {
            Some((inst.span, true))
        } else if written {
            Some((inst.span, false))
        } else {
            None
        }
    })?;
    let (how, fix, label) = if assigned {
        ("is assigned", "only an owned parameter can take another value", "assigned here")
    } else {
        ("is written through", "a borrowed value cannot be changed", "written here")
    };
    let message = format!(
        "{} but {how} at {}: {fix} (declare it `own`, or copy it into a local first)",
        subject(f, i),
        pos(span)
    );
    Some(
        Diagnostic::error(codes::MODE_VIOLATION, param_range(f, i), message).with_related(range(span), label),
    )
}

/// Where each spawned function is spawned first (one pass over the program).
fn first_spawns(program: &ir::Program) -> std::collections::HashMap<usize, Span> {
    let mut out = std::collections::HashMap::new();
    for h in &program.functions {
        for (_, inst) in h.insts() {
            if let InstKind::Spawn { callee: ir::Callee::Function(g), .. } = &inst.kind {
                out.entry(g.index()).or_insert(inst.span);
            }
        }
    }
    out
}

/// rule mode-spawned-borrow: a spawned function's parameter declared `borrow`. The thread
/// runs after the spawning side may have let go of the argument, so the thread must own it
/// (the plan makes it `own` whatever the declaration says, rule own-borrow-param).
fn spawned_borrow(f: &ir::Function, i: usize, spawn: Option<Span>, pos: Position<'_>) -> Option<Diagnostic> {
    let span = spawn?;
    if matches!(f.kind, ir::FunctionKind::Drop { .. }) {
        return None;
    }
    let message = format!(
        "{} but `{}` is spawned at {}: a thread must own its arguments, since the spawning side \
         may let go of them before the thread runs (declare it `own`)",
        subject(f, i),
        f.name,
        pos(span)
    );
    Some(
        Diagnostic::error(codes::MODE_VIOLATION, param_range(f, i), message)
            .with_related(range(span), "spawned here"),
    )
}
