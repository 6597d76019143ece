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
//! # The passes
//!
//! Data flows one way, through one room per concern:
//!
//! 1. *Ownership* ([`ownership`], rules `own-*`): every reference-holding local is owned
//!    (it holds one count of its value) or borrowed (someone else keeps the value alive
//!    while it is used). Parameters start borrowed and become owned where the function
//!    consumes them, to a fixpoint over the call graph (Lean 4). Locals that only read
//!    memory are borrowed when nothing that could release what they read happens while
//!    they are live, and their *roots* (the owners they read from) are kept alive as long
//!    as they are.
//! 2. *Liveness* ([`liveness`], rule `life-liveness`) with those extra reads gives every
//!    owned value's last uses.
//! 3. *Operations* ([`ops`], rules `life-*`): a value handed over at its last use moves,
//!    otherwise it is dup'd; an owned value is released right after its last use, at the
//!    start of a branch where it is dead, or at its scope's end when its destructor is
//!    observable; a store releases the old value after securing the new one. These are
//!    *planned* operations: whether a release is a `drop` or a `free` is not known yet.
//! 4. *Alias classes* ([`classes`], rule `place-typed`): the abstract objects of all
//!    functions are unified (ena) where one run-time object can appear under two names.
//! 5. *Facts about cycles and arenas* ([`cycles`], [`arenas`], [`threads`]): which stores
//!    may close a cycle, what an arena may hold, what a spawn hands over.
//! 6. *Sharing* ([`sharing`], rules `place-counted`, `place-struct-counted`,
//!    `cyc-collect`): a class that some planned operation dups, that another thread or
//!    unknown code sees, or that the collector frees is counted; the others have one owner
//!    at every moment.
//! 7. *Placement* ([`placement`], rules `place-*`, `arena-*`, `cyc-group-arena`,
//!    `thread-handover`): where each allocation lives, and why it is not cheaper.
//! 8. *Operation kinds* ([`op_kinds`], rules `cow-*`, `life-take-dying`, `arena-contents`):
//!    each planned operation becomes the plan's operation (`drop`, `free`,
//!    `collect_cycles`, a copy-on-write kind), or nothing where it cannot matter.
//!
//! //! The naive plan is the baseline: the same program under both plans must print the same
//! output, and this plan must count less and use no more memory; the checked interpreter
//! (`custody_ir::exec`) verifies every plan it runs.

mod arenas;
mod classes;
pub mod cycles;
mod liveness;
mod op_kinds;
mod ops;
pub(crate) mod ownership;
mod placement;
mod sharing;
mod threads;

use crate::escape::ProgramEscape;
use crate::escape::describe::Position;
use crate::plan::SpanMap;
use custody_ir as ir;
use custody_ir::plan::{Op, OpKind, Placement};
use custody_ir::{InstAddr, InstKind, LocalId, Mode};

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

/// What the passes after the planned operations read: the program, its escape analysis,
/// the abstract objects each local may hold and the planned operations.
#[derive(Clone, Copy)]
pub(crate) struct Stage<'a> {
    pub(crate) program: &'a ir::Program,
    pub(crate) escape: &'a ProgramEscape,
    /// Per function, per local: the abstract objects it may hold.
    pub(crate) objects: &'a [Vec<Vec<u32>>],
    /// Per function: the planned operations and last uses.
    pub(crate) ops: &'a [ops::FunctionOps],
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
    let mut cls = classes::build(program, escape, &objects);
    warnings_of(program, &cycles::analyze(program, escape, &objects, &mut cls))
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
    let cycle_facts = cycles::analyze(program, escape, &objects, &mut cls);
    let arena_facts = arenas::analyze(program, escape, &objects, &scope_locals, &cycle_facts, pos);
    let stage = Stage { program, escape, objects: &objects, ops: &planned };
    let sharing = sharing::decide(&stage, &mut cls, spawns, &cycle_facts, pos);
    let placed = placement::decide(&stage, &mut cls, spawns, &sharing, &cycle_facts, &arena_facts, pos);
    let decisions = op_kinds::decide(&stage, &mut cls, &sharing, &placed);

    let mut out = Vec::with_capacity(program.functions.len());
    for (fi, f) in program.functions.iter().enumerate() {
        let fo = &planned[fi];
        let mut ops =
            op_kinds::plan_ops(program, escape, &objects, fi, fo, &decisions, spans, &alloc_ids[fi]);
        let inferred_arenas: Vec<ir::ScopeId> = {
            let mut v: Vec<ir::ScopeId> = placed.arena_scopes[fi].values().copied().collect();
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
            placements: placed.placements[fi].clone(),
            ops: ops.into_iter().map(|(_, op)| op).collect(),
            last_uses: fo.last_uses.clone(),
            arena_scopes: placed.arena_scopes[fi].clone(),
        });
    }
    let warnings = warnings_of(program, &cycle_facts);
    (out, warnings)
}

/// Which blocks are on a cycle of the control-flow graph.
pub(crate) fn blocks_in_loops(f: &ir::Function) -> Vec<bool> {
    let n = f.blocks.len();
    let mut g = petgraph::graph::DiGraph::<(), ()>::with_capacity(n, n);
    let nodes: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
    let mut self_loop = vec![false; n];
    for (b, block) in f.blocks.iter().enumerate() {
        if let Some(last) = block.insts.last() {
            for s in last.kind.successors() {
                if s.index() < n {
                    g.add_edge(nodes[b], nodes[s.index()], ());
                    if s.index() == b {
                        self_loop[b] = true;
                    }
                }
            }
        }
    }
    let mut out = self_loop;
    for scc in crate::scc::tarjan_scc(&g) {
        if scc.len() > 1 {
            for node in scc {
                out[node.index()] = true;
            }
        }
    }
    out
}
