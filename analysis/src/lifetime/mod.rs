//! Lifetimes and the memory plan: from escape states to the operations a backend emits.
//!
//! # The question
//!
//! The escape analysis says how far every object can travel. This module decides what a
//! backend does about it: where each object lives, where each reference is counted,
//! handed over or released, where each object is freed, and where an array write must
//! check for sharing. The bar is Perceus (garbage-free: nothing outlives its last use),
//! Lean 4 (borrowed parameters), Lobster (most counter operations removed at compile
//! time) and Roc (in-place updates proven statically), without ever being unsound.
//!
//! # The model
//!
//! 1. *Ownership* ([`ownership`]): every reference-holding local is owned (it holds one
//!    count of its value) or borrowed (someone else keeps the value alive while it is
//!    used). Parameters start borrowed and become owned where the function consumes them,
//!    to a fixpoint over the call graph (Lean 4). Locals that only read memory are borrowed
//!    when nothing that could release what they read happens while they are live, and
//!    their *roots* (the owners they read from) are kept alive as long as they are.
//! 2. *Liveness* ([`liveness`]) with those extra reads gives every owned value's last uses.
//! 3. *Operations* ([`ops`]): a value handed over at its last use moves, otherwise it is
//!    dup'd; an owned value is released right after its last use, at the start of a branch
//!    where it is dead, or at its scope's end when its destructor is observable.
//! 4. *Alias classes* ([`classes`]): the abstract objects of all functions are unified
//!    (ena) where one run-time object can appear under two names. A class that some
//!    operation dups is shared; the others have one owner at every moment, so they need no
//!    counter at all: `heap_unique` (freed by `free` where the owner releases it), `stack`
//!    when it is also contained, of fixed size and outside loops, `static` for constant
//!    arrays never written. Array writes on unshared classes are in place.
//!
//! The naive plan is the baseline: the same program under both plans must print the same
//! output, and this plan must count less and use no more memory; the checked interpreter
//! (`custody_ir::exec`) verifies every plan it runs.

mod arenas;
mod classes;
pub mod cycles;
mod liveness;
mod ops;
pub(crate) mod ownership;
mod threads;

use crate::escape::ProgramEscape;
use crate::escape::describe::Position;
use crate::plan::SpanMap;
use custody_ir as ir;
use custody_ir::plan::{Op, OpKind, Placement};
use custody_ir::{InstAddr, InstKind, LocalId, Mode};
use ops::{Action, Place};
use std::collections::HashMap;

/// The lifetime decisions for one function.
#[derive(Debug, Clone, Default)]
pub struct FunctionLifetime {
    /// The mode of each parameter (rule own-borrow-param).
    pub param_modes: Vec<Mode>,
    /// Placement and reason per allocation instruction.
    pub placements: HashMap<InstAddr, (Placement, String)>,
    /// The operations, in instruction order (ops of one instruction in the order they run).
    pub ops: Vec<Op>,
    /// For each local, where its value is used for the last time.
    pub last_uses: HashMap<LocalId, Vec<InstAddr>>,
    /// For each allocation placed `arena`: its arena scope.
    pub arena_scopes: HashMap<InstAddr, ir::ScopeId>,
}

/// The outermost scope of a function (its parameters'), which an arena over the whole
/// function uses.
pub(crate) fn outer_scope(f: &ir::Function) -> Option<ir::ScopeId> {
    f.insts().find_map(|(_, i)| match &i.kind {
        InstKind::ScopeEnter { scope, .. } => Some(*scope),
        _ => None,
    })
}

/// The arena operations of a function: `arena_enter` right after each arena scope's
/// `scope_enter` and `arena_exit` right after each of its `scope_exit`s (rule
/// arena-scope-ops), for the declared arena scopes and those `inferred`.
fn arena_ops(f: &ir::Function, spans: &SpanMap<'_>, inferred: &[ir::ScopeId]) -> Vec<Op> {
    let mut arenas: std::collections::HashSet<ir::ScopeId> = inferred.iter().copied().collect();
    for (_, i) in f.insts() {
        if let InstKind::ScopeEnter { scope, arena: true, .. } = &i.kind {
            arenas.insert(*scope);
        }
    }
    let mut out = Vec::new();
    if arenas.is_empty() {
        return out;
    }
    for (at, i) in f.insts() {
        let (kind, scope, reason) = match &i.kind {
            InstKind::ScopeEnter { scope, arena, .. } if arenas.contains(scope) => {
                let why = if *arena { "arena scope opens" } else { "inferred arena opens" };
                (OpKind::ArenaEnter, *scope, why)
            }
            InstKind::ScopeExit { scope } if arenas.contains(scope) => {
                (OpKind::ArenaExit, *scope, "the arena and everything in it is freed")
            }
            _ => continue,
        };
        let mut op = Op::new(kind, spans.span(i.span), ir::plan::When::After, at);
        op.scope = Some(scope);
        op.reason = Some(reason.to_string());
        out.push(op);
    }
    out
}

/// The `cycle` warnings of a program (rule cyc-collect): one per store that may close a
/// cycle the collector has to free, at the store, as (span, message).
pub fn cycle_warnings(program: &ir::Program, escape: &ProgramEscape) -> Vec<(ir::Span, String)> {
    let objects = all_local_objects(program, escape);
    warnings_of(program, &cycles::analyze(program, escape, &objects))
}

/// The warnings of the cycles the collector frees, one per source span (one statement may
/// lower to two stores: `push(o.items, v)` writes the array back into the field).
fn warnings_of(program: &ir::Program, facts: &cycles::CycleFacts) -> Vec<(ir::Span, String)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in facts.stores.iter().filter(|s| !s.grouped) {
        let Some(inst) = program.functions[s.function].inst(s.at) else { continue };
        if !seen.insert((inst.span.start, inst.span.end)) {
            continue;
        }
        let fields = s.fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
        out.push((
            inst.span,
            format!(
                "this store may close a reference cycle through {fields}, which counting alone would leak: \
                 the plan frees it with the cycle collector; making `{}` a non-owning reference would break it",
                s.weak
            ),
        ));
    }
    out
}

/// Per function, per local: the abstract objects it may hold.
fn all_local_objects(program: &ir::Program, escape: &ProgramEscape) -> Vec<Vec<Vec<u32>>> {
    program
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| classes::local_objects(escape, i, f.locals.len()))
        .collect()
}

/// Plans every function of a program; also the `cycle` warnings (see [`cycle_warnings`]).
pub fn plan_lifetimes(
    program: &ir::Program,
    escape: &ProgramEscape,
    spans: &SpanMap<'_>,
    alloc_ids: &[HashMap<InstAddr, String>],
    pos: Position<'_>,
) -> (Vec<FunctionLifetime>, Vec<(ir::Span, String)>) {
    let spawns =
        program.functions.iter().any(|f| f.insts().any(|(_, i)| matches!(i.kind, InstKind::Spawn { .. })));
    let observable = ownership::observable_locals(program);
    let purity = ownership::purity(program, &observable);
    let scope_locals: Vec<HashMap<ir::ScopeId, Vec<LocalId>>> =
        program.functions.iter().map(ir::Function::scope_locals).collect();
    let local_modes: Vec<ownership::LocalModes> = program
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| ownership::local_modes(program, f, &scope_locals[i], &purity, &observable[i], spawns))
        .collect();
    let param_modes = ownership::param_modes(program, &local_modes, &scope_locals, &observable);
    let planned: Vec<ops::FunctionOps> = (0..program.functions.len())
        .map(|i| {
            ops::plan_function(&ops::Context::new(
                program,
                i,
                &local_modes[i],
                &param_modes,
                &observable[i],
                &scope_locals[i],
            ))
        })
        .collect();
    let objects = all_local_objects(program, escape);
    let mut cls = classes::build(program, escape, &objects);
    let cycle_facts = cycles::analyze(program, escape, &objects);
    let arena_facts = arenas::analyze(program, escape, &objects, &scope_locals, &cycle_facts, pos);
    let decisions = classes::decide(
        program,
        escape,
        &objects,
        &mut cls,
        &planned,
        spawns,
        &cycle_facts,
        &arena_facts,
        pos,
    );

    let mut out = Vec::with_capacity(program.functions.len());
    for (fi, f) in program.functions.iter().enumerate() {
        let fo = &planned[fi];
        let counted = &decisions.counted[fi];
        // Places that never hold a heap object (a string literal, `null`, a struct of
        // immediates): nothing to count, hand over or release.
        let never_heap = |place: Place| {
            let ty_holds =
                |ty: Option<&ir::Type>| ty.is_some_and(|t| crate::plan::type_holds_references(program, t));
            match place {
                Place::Local(l) => {
                    objects[fi].get(l.index()).is_none_or(Vec::is_empty)
                        || !ty_holds(f.get_local(l).map(|d| &d.ty))
                }
                Place::Field(l, n) => {
                    !ty_holds(f.get_local(l).and_then(|d| program.field(&d.ty, n)).map(|fd| &fd.ty))
                }
                Place::Elem(l, _) => !ty_holds(f.get_local(l).and_then(|d| d.ty.array_elem())),
                Place::Global(g) => !ty_holds(program.globals.get(g.index()).map(|g| &g.ty)),
            }
        };
        let mut ops: Vec<(usize, Op)> = Vec::with_capacity(fo.ops.len());
        for (k, p) in fo.ops.iter().enumerate() {
            if !matches!(p.action, Action::Cow { .. }) && never_heap(p.place) {
                continue;
            }
            let is_counted = counted.get(k).copied().unwrap_or(true);
            // rule arena-contents: counting an arena object does nothing, nor does freeing one
            // that holds nothing.
            let arena_uncounted = decisions.arena_noop[fi].get(k).copied().unwrap_or(false);
            if arena_uncounted && !matches!(p.action, Action::Cow { .. }) {
                continue;
            }
            // Every class a dup reaches is shared, hence counted: a dup that reaches none
            // applies to a value that never holds a heap object, and does nothing.
            if matches!(p.action, Action::Dup | Action::DupCount(_)) && !is_counted {
                continue;
            }
            // rule life-take-dying: a take from a counted object copies the loaded value.
            let (action, place, reason) = match (p.action, p.place) {
                (Action::Take { loaded }, Place::Field(object, _)) if is_counted => (
                    Action::Dup,
                    Place::Local(loaded),
                    format!(
                        "loaded into an owned local; {} may be shared",
                        crate::plan::local_name(f, object)
                    ),
                ),
                _ => (p.action, p.place, p.reason.clone()),
            };
            let kind = match action {
                Action::Take { .. } => OpKind::Move,
                Action::Dup | Action::DupCount(_) => OpKind::Dup,
                Action::Move => OpKind::Move,
                // rule cyc-collect
                Action::Release if is_counted && decisions.collect[fi].get(k).copied().unwrap_or(false) => {
                    OpKind::CollectCycles
                }
                Action::Release if is_counted => OpKind::Drop,
                Action::Release => OpKind::Free,
                Action::Cow { shared_with: Some(_), .. } if is_counted => OpKind::CowCopy,
                // rule arena-contents: an arena object of a shared class keeps no counter, so
                // a write that cannot prove it unique copies first.
                Action::Cow { just_written: false, .. } if is_counted && arena_uncounted => OpKind::CowCopy,
                Action::Cow { just_written: true, .. } => OpKind::CowInPlace,
                Action::Cow { .. } if is_counted => OpKind::CowCheck,
                Action::Cow { .. } => OpKind::CowInPlace,
            };
            let span = f.inst(p.at).map_or(ir::Span::NONE, |i| i.span);
            let mut op = Op {
                reason: (!reason.is_empty()).then_some(reason),
                ..Op::new(kind, spans.span(span), p.when, p.at)
            };
            if let Action::DupCount(c) = action {
                op.count = Some(c);
            }
            let local_name = |l: LocalId| crate::plan::local_name(f, l);
            match place {
                Place::Local(l) => {
                    op.local = Some(l);
                    op.value = Some(local_name(l));
                    op.alloc = single_site(escape, &objects, fi, l, &alloc_ids[fi]);
                }
                Place::Field(l, field) => {
                    op.local = Some(l);
                    op.field = Some(field);
                    op.value = Some(local_name(l));
                }
                Place::Elem(l, index) => {
                    op.local = Some(l);
                    op.index = Some(index);
                    op.value = Some(local_name(l));
                }
                Place::Global(g) => {
                    op.global = Some(g);
                    op.value = program.globals.get(g.index()).map(|g| g.name.clone());
                }
            }
            // rules cow-copy, cow-check and cow-in-place.
            let written = op.value.clone().unwrap_or_default();
            match (kind, action) {
                (OpKind::CowCopy, Action::Cow { shared_with: Some(s), .. }) => {
                    let s = crate::plan::local_name(f, s);
                    op.reason = Some(format!("shared with {s}, which is read after this write: copy first"));
                }
                (OpKind::CowCopy, Action::Cow { shared_with: None, .. }) => {
                    op.reason = Some(
                        "an arena object keeps no reference count, and this one may be shared: copy first"
                            .to_string(),
                    );
                }
                (OpKind::CowCheck, _) => {
                    op.reason = Some(
                        decisions.cow_witness[fi]
                            .get(&k)
                            .map_or_else(|| "may be shared".to_string(), |w| w.cow(&written)),
                    );
                }
                (OpKind::CowInPlace, Action::Cow { just_written: true, .. }) if is_counted => {
                    op.reason =
                        Some("written just before, nothing shared it since: one reference".to_string())
                }
                (OpKind::CowInPlace, _) => op.reason = Some("one owner: written in place".to_string()),
                _ => {}
            }
            ops.push((k, op));
        }
        let inferred_arenas: Vec<ir::ScopeId> = {
            let mut v: Vec<ir::ScopeId> = decisions.arena_scopes[fi].values().copied().collect();
            v.sort_unstable_by_key(|s| s.0);
            v.dedup();
            v
        };
        for op in arena_ops(f, spans, &inferred_arenas) {
            ops.push((usize::MAX, op));
        }
        // Plan order: by instruction, `before` then `after`, then as planned (an arena
        // opens after everything else at its `scope_enter`, and closes after everything
        // else at its `scope_exit`).
        ops.sort_by_key(|(k, op)| (op.inst.block.0, op.inst.index, op.when == ir::plan::When::After, *k));
        out.push(FunctionLifetime {
            param_modes: param_modes[fi].clone(),
            placements: decisions.placements[fi].clone(),
            ops: ops.into_iter().map(|(_, op)| op).collect(),
            last_uses: fo.last_uses.clone(),
            arena_scopes: decisions.arena_scopes[fi].clone(),
        });
    }
    let warnings = warnings_of(program, &cycle_facts);
    (out, warnings)
}

/// The allocation site a local's value always comes from, if there is exactly one.
fn single_site(
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    fi: usize,
    l: LocalId,
    ids: &HashMap<InstAddr, String>,
) -> Option<String> {
    let objs = objects.get(fi)?.get(l.index())?;
    let [o] = objs.as_slice() else { return None };
    match escape.functions.get(fi)?.graph.objs.item(*o) {
        crate::escape::graph::Obj::Alloc(at) => ids.get(at).cloned(),
        _ => None,
    }
}
