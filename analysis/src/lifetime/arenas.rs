//! Arenas: which allocations can live in an arena scope and be freed with it (rules
//! arena-*).
//!
//! An arena scope (`arena { }`, or the body of an `@arena fn`) frees everything allocated
//! in it when it ends, at once and without counting. The language promises that an
//! allocation that outlives the scope is placed outside it, so the question per allocation
//! is whether any reference to it can survive the scope's end.
//!
//! - rule arena-contained: an allocation made inside an arena scope lives in that (the
//!   innermost) arena when it is `contained` in its function and is not reachable from
//!   anything that lives on after the scope: a local declared outside the scope, or an
//!   object that was not created inside it (an outer object, a parameter's, a global's).
//! - rule arena-callee: an allocation of a function that is only ever called directly
//!   from inside arena scopes, which only leaves its function through the result (or a
//!   parameter's contents), and whose result object does not outlive the arena of any of
//!   those calls, lives in the caller's arena (Tauraro's `parse_headers` called from an
//!   `@arena` request handler). It must not be made inside an arena of its own function
//!   (that arena would take it instead), so such a function gets no inferred arena: none
//!   for its loops (rule arena-loop); and a function with a cycle's group arena over its
//!   body (rule cyc-group-arena) does not allocate in its callers' arenas.
//! - rule arena-loop: custody infers an arena for a scope entered inside a loop (MLKit's
//!   regions, one per iteration) for an allocation made there, outside declared arenas,
//!   that is `contained` and does not outlive the scope, where it pays: only when the
//!   object would otherwise be counted (an uncounted one is freed at its last use already,
//!   which keeps peak memory lower).
//! - rule arena-outlives: anything else made in an arena scope is placed outside it (on the
//!   heap, with the reason).
//!
//! Whether the arena can really hold the object also depends on how it is counted and on
//! what it holds (an arena never releases the contents of a counted object); that part is
//! decided with the alias classes in [`super::classes`] (rule arena-contents).
//!
//! Cost: per arena scope one walk of the function's object graph from the roots outside
//! it; per function one pass over its instructions to find the scope nesting.

use crate::escape::ProgramEscape;
use crate::escape::graph::Obj;
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{Callee, InstAddr, InstKind, LocalId, ScopeId};
use std::collections::{HashMap, HashSet};

/// An allocation that may live in an arena.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The arena scope it goes to (`None`: the innermost arena of the calling frame).
    pub(crate) scope: Option<ScopeId>,
    /// Why it may.
    pub(crate) why: String,
    /// Whether the arena is inferred (rule arena-loop) rather than declared: then it is
    /// only worth it for an object that would otherwise be counted.
    pub(crate) inferred: bool,
}

/// Per function: the arena candidates, and why each allocation made in an arena scope
/// that is not one is placed outside.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArenaFacts {
    pub(crate) candidates: Vec<HashMap<InstAddr, Candidate>>,
    pub(crate) outside: Vec<HashMap<InstAddr, String>>,
}

/// The innermost open scopes at every instruction of a function, innermost last.
pub(crate) struct ScopeNesting {
    /// Per block: the stack at its entry.
    entry: Vec<Option<Vec<ScopeId>>>,
    /// Which scopes are arenas.
    arena: HashSet<ScopeId>,
    /// Which scopes are entered inside a loop (a loop's body, or a scope within one).
    in_loop: HashSet<ScopeId>,
    /// Per scope: the scope it is nested in (`None`: the function's top level).
    parent: HashMap<ScopeId, Option<ScopeId>>,
}

impl ScopeNesting {
    pub(crate) fn new(f: &ir::Function) -> ScopeNesting {
        let mut entry: Vec<Option<Vec<ScopeId>>> = vec![None; f.blocks.len()];
        let mut arena = HashSet::new();
        let mut in_loop = HashSet::new();
        let mut parent: HashMap<ScopeId, Option<ScopeId>> = HashMap::new();
        if f.blocks.is_empty() {
            return ScopeNesting { entry, arena, in_loop, parent };
        }
        let looping = super::blocks_in_loops(f);
        entry[0] = Some(Vec::new());
        let mut work = vec![0usize];
        while let Some(b) = work.pop() {
            let Some(mut stack) = entry[b].clone() else { continue };
            for inst in &f.blocks[b].insts {
                match &inst.kind {
                    InstKind::ScopeEnter { scope, arena: is_arena, .. } => {
                        if *is_arena {
                            arena.insert(*scope);
                        }
                        if looping[b] {
                            in_loop.insert(*scope);
                        }
                        parent.entry(*scope).or_insert(stack.last().copied());
                        stack.push(*scope);
                    }
                    InstKind::ScopeExit { scope } => {
                        if let Some(i) = stack.iter().rposition(|s| s == scope) {
                            stack.truncate(i);
                        }
                    }
                    _ => {}
                }
                for s in inst.kind.successors() {
                    if let Some(slot) = entry.get_mut(s.index())
                        && slot.is_none()
                    {
                        *slot = Some(stack.clone());
                        work.push(s.index());
                    }
                }
            }
        }
        ScopeNesting { entry, arena, in_loop, parent }
    }

    /// The nesting depth of a scope (the top level is 0).
    fn depth(&self, mut s: Option<ScopeId>) -> usize {
        let mut d = 0;
        while let Some(x) = s {
            d += 1;
            s = self.parent.get(&x).copied().flatten();
        }
        d
    }

    /// The innermost scope that contains both (`None`: the function's top level).
    fn common(&self, a: Option<ScopeId>, b: Option<ScopeId>) -> Option<ScopeId> {
        let (mut a, mut b) = (a, b);
        let (mut da, mut db) = (self.depth(a), self.depth(b));
        while da > db {
            a = a.and_then(|x| self.parent.get(&x).copied().flatten());
            da -= 1;
        }
        while db > da {
            b = b.and_then(|x| self.parent.get(&x).copied().flatten());
            db -= 1;
        }
        while a != b {
            a = a.and_then(|x| self.parent.get(&x).copied().flatten());
            b = b.and_then(|x| self.parent.get(&x).copied().flatten());
        }
        a
    }

    /// Whether `s` is `scope` or nested in it.
    fn is_within(&self, mut s: Option<ScopeId>, scope: ScopeId) -> bool {
        while let Some(x) = s {
            if x == scope {
                return true;
            }
            s = self.parent.get(&x).copied().flatten();
        }
        false
    }

    /// Calls `visit` with every instruction and the scopes open just before it, outermost
    /// first (one pass over the function).
    pub(crate) fn walk(&self, f: &ir::Function, mut visit: impl FnMut(InstAddr, &ir::Inst, &[ScopeId])) {
        for (b, block) in f.blocks.iter().enumerate() {
            let Some(Some(mut stack)) = self.entry.get(b).cloned() else { continue };
            for (i, inst) in block.insts.iter().enumerate() {
                visit(InstAddr { block: ir::BlockId(b as u32), index: i as u32 }, inst, &stack);
                match &inst.kind {
                    InstKind::ScopeEnter { scope, .. } => stack.push(*scope),
                    InstKind::ScopeExit { scope } => {
                        if let Some(i) = stack.iter().rposition(|s| s == scope) {
                            stack.truncate(i);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The innermost scope entered inside a loop that is open at each allocation outside
    /// every declared arena (where rule arena-loop may infer an arena).
    pub(crate) fn loop_scopes_at(&self, f: &ir::Function) -> HashMap<InstAddr, ScopeId> {
        let mut out = HashMap::new();
        if self.in_loop.is_empty() {
            return out;
        }
        self.walk(f, |at, inst, stack| {
            if inst.kind.is_allocation()
                && !stack.iter().any(|s| self.arena.contains(s))
                && let Some(s) = stack.iter().rev().find(|s| self.in_loop.contains(s))
            {
                out.insert(at, *s);
            }
        });
        out
    }

    /// The innermost declared arena scope open at each allocation and call.
    pub(crate) fn arenas_at(&self, f: &ir::Function) -> HashMap<InstAddr, ScopeId> {
        let mut out = HashMap::new();
        if self.arena.is_empty() {
            return out;
        }
        self.walk(f, |at, inst, stack| {
            if (inst.kind.is_allocation() || matches!(inst.kind, InstKind::Call { .. }))
                && let Some(s) = stack.iter().rev().find(|s| self.arena.contains(s))
            {
                out.insert(at, *s);
            }
        });
        out
    }
}

/// For every object of a function, the innermost scope that all its holders live in (its
/// *life*): the scope it is created in, joined with the scope of every local that may hold
/// it and the life of every object that may hold it (objects not created in the function,
/// a parameter's, a global's, live at the top level). An object outlives a scope exactly
/// when its life is not inside it. Computed once per function: joins only move a life
/// outwards, so each object's changes at most once per level of nesting.
fn lives(
    f: &ir::Function,
    fe: &crate::escape::FunctionEscape,
    objects: &[Vec<u32>],
    nesting: &ScopeNesting,
    scope_locals: &HashMap<ScopeId, Vec<LocalId>>,
) -> Vec<Option<ScopeId>> {
    let n = fe.graph.objs.len();
    // `Some(None)`: the top level; `None`: nothing known yet.
    let mut life: Vec<Option<Option<ScopeId>>> = vec![None; n];
    let join = |life: &mut Vec<Option<Option<ScopeId>>>, o: u32, s: Option<ScopeId>| -> bool {
        let slot = &mut life[o as usize];
        let next = match *slot {
            None => s,
            Some(cur) => nesting.common(cur, s),
        };
        if *slot == Some(next) {
            return false;
        }
        *slot = Some(next);
        true
    };
    nesting.walk(f, |at, _, stack| {
        for obj in [Obj::Alloc(at), Obj::CallResult(at), Obj::Copy(at)] {
            if let Some(o) = fe.graph.objs.get(&obj) {
                join(&mut life, o, stack.last().copied());
            }
        }
    });
    for o in 0..n as u32 {
        if !matches!(fe.graph.objs.item(o), Obj::Alloc(_) | Obj::CallResult(_) | Obj::Copy(_)) {
            join(&mut life, o, None);
        }
    }
    let mut declared: HashMap<LocalId, ScopeId> = HashMap::new();
    for (scope, locals) in scope_locals {
        for l in locals {
            declared.entry(*l).or_insert(*scope);
        }
    }
    for (l, objs) in objects.iter().enumerate() {
        let s = declared.get(&LocalId(l as u32)).copied();
        for &o in objs {
            join(&mut life, o, s);
        }
    }
    // Propagate along fields to a fixpoint (a worklist of objects whose life moved).
    let mut work: Vec<u32> = (0..n as u32).collect();
    while let Some(p) = work.pop() {
        let Some(lp) = life[p as usize] else { continue };
        for (_, node) in fe.solution.fields_of(p) {
            for &o in fe.solution.pts(node) {
                if join(&mut life, o, lp) {
                    work.push(o);
                }
            }
        }
    }
    life.into_iter().map(|l| l.flatten()).collect()
}

/// Finds the arena candidates of every function.
pub(crate) fn analyze(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    scope_locals: &[HashMap<ScopeId, Vec<LocalId>>],
    cycles: &super::cycles::CycleFacts,
    pos: &dyn Fn(ir::Span) -> String,
) -> ArenaFacts {
    let n = program.functions.len();
    let nestings: Vec<ScopeNesting> = program.functions.iter().map(ScopeNesting::new).collect();
    let arenas_at: Vec<HashMap<InstAddr, ScopeId>> =
        program.functions.iter().zip(&nestings).map(|(f, n)| n.arenas_at(f)).collect();
    let loop_scopes: Vec<HashMap<InstAddr, ScopeId>> =
        program.functions.iter().zip(&nestings).map(|(f, n)| n.loop_scopes_at(f)).collect();
    let mut facts = ArenaFacts { candidates: vec![HashMap::new(); n], outside: vec![HashMap::new(); n] };
    // Per function with arena scopes (declared or candidates for inference): each object's
    // life.
    let mut life_cache: HashMap<usize, Vec<Option<ScopeId>>> = HashMap::new();
    let mut outlives = |fi: usize, scope: ScopeId, o: u32| -> bool {
        let life = life_cache.entry(fi).or_insert_with(|| {
            lives(
                &program.functions[fi],
                &escape.functions[fi],
                &objects[fi],
                &nestings[fi],
                &scope_locals[fi],
            )
        });
        !nestings[fi].is_within(life.get(o as usize).copied().flatten(), scope)
    };
    let scope_pos = |fi: usize, scope: ScopeId| -> String {
        let f = &program.functions[fi];
        f.insts()
            .find_map(|(_, i)| match &i.kind {
                InstKind::ScopeEnter { scope: s, .. } if *s == scope => Some(pos(i.span)),
                _ => None,
            })
            .unwrap_or_default()
    };
    // Direct calls of each function, and which functions are called any other way.
    let mut calls: Vec<Vec<(usize, InstAddr)>> = vec![Vec::new(); n];
    let mut other_use: Vec<bool> = vec![false; n];
    for (hi, h) in program.functions.iter().enumerate() {
        for (at, inst) in h.insts() {
            match &inst.kind {
                InstKind::Call { callee: Callee::Function(g), .. } => calls[g.index()].push((hi, at)),
                InstKind::Spawn { callee: Callee::Function(g), .. } => other_use[g.index()] = true,
                InstKind::NewClosure { function, .. } => other_use[function.index()] = true,
                _ => {}
            }
        }
    }
    for (fi, f) in program.functions.iter().enumerate() {
        let fe = &escape.functions[fi];
        // rule arena-callee: is every call of this function inside an arena, with a result
        // that stays there?
        // (not where a cycle's group arena covers its body: rule cyc-group-arena)
        let callee_arena = !other_use[fi]
            && cycles.grouped.get(fi).is_none_or(|g| g.is_empty())
            && !calls[fi].is_empty()
            && matches!(f.kind, ir::FunctionKind::Plain | ir::FunctionKind::Method { .. })
            && calls[fi].iter().all(|&(hi, c)| {
                let Some(&s) = arenas_at[hi].get(&c) else { return false };
                let he = &escape.functions[hi];
                match he.graph.objs.get(&Obj::CallResult(c)) {
                    Some(o) => he.verdicts.escape(o) == Escape::Contained && !outlives(hi, s, o),
                    None => true,
                }
            });
        for (at, inst) in f.insts() {
            if !inst.kind.is_allocation() {
                continue;
            }
            let Some(o) = fe.graph.objs.get(&Obj::Alloc(at)) else { continue };
            let state = fe.verdicts.escape(o);
            match arenas_at[fi].get(&at).copied() {
                Some(scope) => {
                    // rule arena-contained
                    if state == Escape::Contained && !outlives(fi, scope, o) {
                        let why = format!(
                            "does not outlive the arena opened at {}: freed with it",
                            scope_pos(fi, scope)
                        );
                        facts.candidates[fi]
                            .insert(at, Candidate { scope: Some(scope), why, inferred: false });
                    } else {
                        // rule arena-outlives
                        let r = if state == Escape::Contained {
                            "it is reachable after the arena ends".to_string()
                        } else {
                            crate::escape::describe::reason(program, f, fe, o, pos)
                        };
                        facts.outside[fi].insert(
                            at,
                            format!("outlives the arena opened at {}: {r}", scope_pos(fi, scope)),
                        );
                    }
                }
                None if callee_arena && state == Escape::Binding => {
                    let why = "returned to callers that all keep it inside their arena: freed with the caller's arena"
                        .to_string();
                    facts.candidates[fi].insert(at, Candidate { scope: None, why, inferred: false });
                }
                None => {
                    // rule arena-loop (not in a function whose allocations go to its
                    // callers' arenas: an arena of its own open there would take them)
                    if !callee_arena
                        && let Some(&scope) = loop_scopes[fi].get(&at)
                        && state == Escape::Contained
                        && !outlives(fi, scope, o)
                    {
                        let why = format!(
                            "dies within each iteration of the loop around it: in an arena inferred for the \
                             scope at {}, freed with the iteration, never counted",
                            scope_pos(fi, scope)
                        );
                        facts.candidates[fi]
                            .insert(at, Candidate { scope: Some(scope), why, inferred: true });
                    }
                }
            }
        }
    }
    facts
}
