//! Where each allocation lives (rules place-*, arena-*, cyc-group-arena, thread-handover),
//! decided from the alias classes and their [`Sharing`].
//!
//! - rule place-counted: an allocation in a shared class is counted (`heap_rc`),
//!   atomically if its class is threaded (`heap_atomic_rc`), unless a spawn hands it over
//!   for good (rule thread-handover: `heap_rc`).
//! - rule place-static: an array literal of constants inside a loop, whose class is never
//!   written nor compared by identity, is `static` (allocated once instead of once per
//!   iteration; outside loops static memory would only be held longer).
//! - rule place-stack: an unshared allocation of fixed size that is `contained`, outside
//!   any loop, held by a local of the function's body scope that is assigned once, and
//!   that no other object holds, lives on the stack (its memory goes with the frame).
//! - rule place-unique: any other unshared allocation is `heap_unique`: freed by `free` at
//!   its owner's last use, never counted.
//! - rules cyc-group-arena, arena-contained, arena-callee, arena-loop, arena-contents and
//!   arena-outlives: what the arena facts ([`super::arenas`]) and cycle facts
//!   ([`super::cycles`]) offer an arena is placed there when the arena can hold it; the
//!   rest says why not.
//! - rule place-manual: `@manual` code's unshared allocations are `manual`.

use super::Stage;
use super::blocks_in_loops;
use super::classes::{Classes, Key, local_ty};
use super::ops::Place;
use super::sharing::{Sharing, Witness};
use crate::escape::ProgramEscape;
use crate::escape::graph::{Node, Obj};
use custody_ir as ir;
use custody_ir::plan::{Escape, Placement};
use custody_ir::{Callee, InstAddr, InstKind, LocalId};
use std::collections::{HashMap, HashSet};

/// Placement and reason per allocation, and the arena of each one placed `arena`.
pub(crate) struct Placements {
    /// Per function, per allocation instruction: placement and reason.
    pub(crate) placements: Vec<HashMap<InstAddr, (Placement, String)>>,
    /// Per function, per allocation placed `arena`: its arena scope.
    pub(crate) arena_scopes: Vec<HashMap<InstAddr, ir::ScopeId>>,
}

/// Decides every allocation's placement.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    stage: &Stage<'_>,
    classes: &mut Classes,
    spawns: bool,
    sharing: &Sharing,
    cycles: &super::cycles::CycleFacts,
    arenas: &super::arenas::ArenaFacts,
    pos: &dyn Fn(ir::Span) -> String,
) -> Placements {
    let Stage { program, escape, objects, ops } = *stage;
    let place_classes =
        |c: &mut Classes, fi: usize, place: Place| c.of_place(program, escape, objects, fi, place);
    let (shared, threaded) = (&sharing.shared, &sharing.threaded);
    let unknown = classes.find(classes.unknown);
    let thread = classes.find(classes.thread);
    // Classes written (array writes) or compared by identity: never static.
    let mut written: HashSet<Key> = HashSet::new();
    for (fi, f) in program.functions.iter().enumerate() {
        for (_, inst) in f.insts() {
            let locals: Vec<LocalId> = match &inst.kind {
                InstKind::StoreElem { array, .. }
                | InstKind::Push { array, .. }
                | InstKind::Pop { array, .. } => {
                    vec![*array]
                }
                InstKind::Binary { op: ir::BinaryOp::Eq | ir::BinaryOp::Ne, lhs, rhs, .. } => {
                    vec![*lhs, *rhs]
                }
                _ => vec![],
            };
            for l in locals {
                for k in place_classes(classes, fi, Place::Local(l)) {
                    written.insert(k);
                }
            }
        }
    }
    written.insert(unknown);
    written.insert(thread);
    // Growable classes (push and pop): never on the stack.
    let mut grown: HashSet<Key> = HashSet::new();
    for (fi, f) in program.functions.iter().enumerate() {
        for (_, inst) in f.insts() {
            if let InstKind::Push { array, .. } | InstKind::Pop { array, .. } = &inst.kind {
                for k in place_classes(classes, fi, Place::Local(*array)) {
                    grown.insert(k);
                }
            }
        }
    }

    // Objects another object may hold (a field, an element, a capture): destroying their
    // holder only *releases* them, which does nothing to a stack or arena object, so such
    // an object is on the stack never, and in an arena only if nothing in it needs
    // releasing (rules place-stack, arena-contents).
    let held: Vec<HashSet<u32>> = escape
        .functions
        .iter()
        .map(|fe| {
            let mut h = HashSet::new();
            for o in 0..fe.graph.objs.len() as u32 {
                for (_, node) in fe.solution.fields_of(o) {
                    h.extend(fe.solution.pts(node).iter().copied());
                }
            }
            h
        })
        .collect();
    let held = held_through_calls(program, escape, objects, held);
    let held = held_through_results(program, escape, held);
    let arena_ok = arena_contents(program, escape, classes, arenas, shared, threaded, &held);
    let handed =
        if spawns { super::threads::handed_over(program, escape, objects, ops, pos) } else { HashMap::new() };
    // Functions whose every call comes from `@manual` code (a manual allocation they
    // return stays manual).
    let mut called_from_auto = vec![false; program.functions.len()];
    let mut called = vec![false; program.functions.len()];
    for f in &program.functions {
        for (_, inst) in f.insts() {
            match &inst.kind {
                InstKind::Call { callee: Callee::Function(g), .. } => {
                    called[g.index()] = true;
                    called_from_auto[g.index()] |= !f.manual;
                }
                InstKind::Spawn { callee: Callee::Function(g), .. } => called_from_auto[g.index()] = true,
                _ => {}
            }
        }
    }
    let observable = super::ownership::observable_classes(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let mut placements = Vec::new();
    let mut arena_scopes = Vec::new();
    for (fi, f) in program.functions.iter().enumerate() {
        let fe = &escape.functions[fi];
        let mut scopes = HashMap::new();
        let in_loop = blocks_in_loops(f);
        let defs = super::ownership::definitions(f);
        // The locals of the function's body scope (the stack slots that live as long as the
        // frame, which is what the interpreter's and a backend's stack memory does).
        let mut body_scope_local = vec![false; f.locals.len()];
        for (_, i) in f.insts() {
            if let InstKind::ScopeEnter { scope, locals, .. } = &i.kind
                && scope.0 <= 1
            {
                for l in locals {
                    if let Some(slot) = body_scope_local.get_mut(l.index()) {
                        *slot = true;
                    }
                }
            }
        }
        let mut map = HashMap::new();
        for (at, inst) in f.insts() {
            if !inst.kind.is_allocation() {
                continue;
            }
            let Some(o) = fe.graph.objs.get(&Obj::Alloc(at)) else {
                map.insert(at, (Placement::HeapRc, "not analysed: counted".to_string()));
                continue;
            };
            let dest_ty = inst.kind.dest().map_or(ir::Type::String, |d| local_ty(program, fi, d));
            let k0 = classes.key(escape, fi, o, &dest_ty);
            let k = classes.find(k0);
            let escape_state = fe.verdicts.escape(o);
            let constant_elems = match &inst.kind {
                InstKind::NewArray { elems, .. } => elems.iter().all(|e| defs[e.index()].constant()),
                _ => false,
            };
            // Static memory is held for the whole run: worth it where the literal would
            // otherwise be allocated again and again (in a loop).
            let grouped = cycles.grouped.get(fi).is_some_and(|g| g.contains(&at));
            let decision = if grouped && let Some(scope) = super::outer_scope(f) {
                // rule cyc-group-arena
                scopes.insert(at, scope);
                (
                    Placement::Arena,
                    "on a reference cycle whose objects all die with the function: in an arena over its \
                     body, freed together when it returns"
                        .to_string(),
                )
            } else if let Some(c) = arena_ok.get(&(fi, at)) {
                // rules arena-contained, arena-callee
                if let Some(scope) = c.scope {
                    scopes.insert(at, scope);
                }
                (Placement::Arena, c.why.clone())
            } else if f.manual
                && !shared.contains_key(&k)
                && !threaded.contains(&k)
                && (escape_state == Escape::Contained
                    || (escape_state == Escape::Binding && called[fi] && !called_from_auto[fi]))
            {
                // rule place-manual
                let why = if escape_state == Escape::Contained {
                    "allocated in @manual code: freed by the program's `free`"
                } else {
                    "allocated in @manual code and returned to @manual callers: freed by the program's `free`"
                };
                (Placement::Manual, why.to_string())
            } else if constant_elems && !written.contains(&k) && in_loop[at.block.index()] {
                // rule place-static
                (Placement::Static, "constant array, never written: emitted once, never freed".to_string())
            } else if let Some(why) = shared.get(&k).map(Witness::placement) {
                // rule place-counted
                if let Some(h) = handed.get(&(fi, at)).filter(|_| threaded.contains(&k)) {
                    // rule thread-handover
                    (
                        Placement::HeapRc,
                        format!("{why}; {h}: counted by one thread at a time, not atomically"),
                    )
                } else if threaded.contains(&k) {
                    (
                        Placement::HeapAtomicRc,
                        format!("{why}; reachable from another thread: counted atomically"),
                    )
                } else {
                    (Placement::HeapRc, why)
                }
            } else if threaded.contains(&k) && !handed.contains_key(&(fi, at)) {
                (Placement::HeapAtomicRc, "reachable from another thread: counted atomically".to_string())
            } else if let Some(h) = handed.get(&(fi, at)) {
                // rule thread-handover: the thread's code counts its class (it is threaded),
                // but only that thread touches this object's counter.
                (
                    Placement::HeapRc,
                    format!("{h}: counted by the thread's code, by one thread at a time, not atomically"),
                )
            } else {
                let fixed = matches!(inst.kind, InstKind::NewObject { .. } | InstKind::NewClosure { .. })
                    || (matches!(inst.kind, InstKind::NewArray { .. }) && !grown.contains(&k));
                let dest = inst.kind.dest();
                let single = dest.is_some_and(|d| defs[d.index()].count == 1 && body_scope_local[d.index()]);
                if escape_state == Escape::Contained
                    && fixed
                    && !in_loop[at.block.index()]
                    && single
                    && !held[fi].contains(&o)
                {
                    // rule place-stack
                    (Placement::Stack, "contained, one owner, fixed size: on the stack".to_string())
                } else {
                    // rule place-unique
                    let why = if escape_state != Escape::Contained {
                        let r = crate::escape::describe::reason(program, f, fe, o, pos);
                        format!("one owner at a time; not on the stack: {r}")
                    } else if !fixed {
                        "one owner at a time; not on the stack: its size is not fixed".to_string()
                    } else if in_loop[at.block.index()] {
                        "one owner at a time; not on the stack: allocated in a loop".to_string()
                    } else if held[fi].contains(&o) {
                        // rule place-stack: freeing its holder would only release it.
                        "one owner at a time; not on the stack: another object may hold it".to_string()
                    } else {
                        "one owner at a time; not on the stack: it dies before its function returns"
                            .to_string()
                    };
                    (Placement::HeapUnique, why)
                }
            };
            // rule place-manual: what @manual code does not keep to itself is automatic.
            let decision = if f.manual && decision.0 != Placement::Manual {
                let why = if escape_state == Escape::Binding {
                    "allocated in @manual code, returned to automatic code: managed automatically from here"
                } else {
                    "allocated in @manual code, but shared or reaching code that is not manual: managed \
                     automatically"
                };
                (decision.0, format!("{why}; {}", decision.1))
            } else {
                decision
            };
            // rule arena-outlives
            let decision = match arenas.outside[fi].get(&at) {
                Some(why) if decision.0 != Placement::Arena => (decision.0, format!("{why}; {}", decision.1)),
                _ => decision,
            };
            // rule arena-contents: a candidate the arena cannot hold says why.
            let decision = match arenas.candidates[fi].get(&at) {
                Some(c)
                    if !c.inferred && decision.0 != Placement::Arena && decision.0 != Placement::Static =>
                {
                    let why = if threaded.contains(&k) {
                        "seen by another thread"
                    } else if super::ownership::type_observable(program, &observable, any_drop, &dest_ty, 0) {
                        "counted, with a `drop` block to run"
                    } else if shared.contains_key(&k) {
                        "counted, and it holds memory an arena would never release"
                    } else {
                        "held by another object, and it holds memory an arena would never release"
                    };
                    (decision.0, format!("kept out of the arena ({why}); {}", decision.1))
                }
                _ => decision,
            };
            map.insert(at, decision);
        }
        placements.push(map);
        arena_scopes.push(scopes);
    }
    Placements { placements, arena_scopes }
}

/// Adds to each function's held objects (`held`) its arguments to a parameter that the
/// callee holds in another object (its parameter's object is held there), to a fixpoint: a
/// parameter held by a callee makes the caller's parameter passed there held too. A stack
/// object handed to a callee that stores it in an object it then frees would otherwise
/// only be *released* there, which does not destroy a stack object (rule place-stack).
///
/// A function is (re)visited only when one of its parameters became held, and then only
/// its call sites are looked at: each function at most once per parameter, plus once.
fn held_through_calls(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    mut held: Vec<HashSet<u32>>,
) -> Vec<HashSet<u32>> {
    let n = program.functions.len();
    let root_param = |g: usize, o: u32| -> Option<usize> {
        match escape.functions.get(g)?.graph.objs.item(o) {
            Obj::Param(j, path) if path.steps.is_empty() && !path.deep => Some(*j as usize),
            _ => None,
        }
    };
    // Per callee: its call sites (caller, arguments).
    let mut sites: Vec<Vec<(usize, &[LocalId])>> = vec![Vec::new(); n];
    for (fi, f) in program.functions.iter().enumerate() {
        for (_, inst) in f.insts() {
            if let InstKind::Call { callee: Callee::Function(g), args, .. } = &inst.kind
                && g.index() < n
            {
                sites[g.index()].push((fi, args.as_slice()));
            }
        }
    }
    // Per function: which of its parameters are held.
    let mut held_params: Vec<HashSet<usize>> = (0..n)
        .map(|g| held.get(g).into_iter().flatten().filter_map(|&o| root_param(g, o)).collect())
        .collect();
    let mut work: Vec<usize> = (0..n).filter(|&g| !held_params[g].is_empty()).collect();
    // Locals whose objects are all held already: passing one again to a holding parameter
    // adds nothing (and would cost its objects again at each call).
    let mut done: HashSet<(usize, LocalId)> = HashSet::new();
    while let Some(g) = work.pop() {
        for &(fi, args) in &sites[g] {
            let mut grew = false;
            for &j in &held_params[g] {
                let Some(a) = args.get(j) else { continue };
                if !done.insert((fi, *a)) {
                    continue;
                }
                for &o in objects[fi].get(a.index()).into_iter().flatten() {
                    if held[fi].insert(o)
                        && let Some(i) = root_param(fi, o)
                        && !held_params[fi].contains(&i)
                    {
                        grew = true;
                    }
                }
            }
            if grew {
                let newly: Vec<usize> = held[fi].iter().filter_map(|&o| root_param(fi, o)).collect();
                held_params[fi].extend(newly);
                work.push(fi);
            }
        }
    }
    held
}

/// A callee's objects that a caller holds through a call's result: when the caller's
/// `CallResult` object of a call is held by another object, whatever the callee returns is
/// held too (transitively through the callee's own call results). Without this, an
/// allocation returned into a caller's arena (rule arena-callee) and stored in an object
/// there counted as unheld, and the counted memory it held leaked (rule arena-contents).
fn held_through_results(
    program: &ir::Program,
    escape: &ProgramEscape,
    mut held: Vec<HashSet<u32>>,
) -> Vec<HashSet<u32>> {
    let mut work: Vec<(usize, InstAddr)> = Vec::new();
    for (fi, fe) in escape.functions.iter().enumerate() {
        for &o in held.get(fi).into_iter().flatten() {
            if let Obj::CallResult(at) = fe.graph.objs.item(o) {
                work.push((fi, *at));
            }
        }
    }
    work.sort_unstable();
    while let Some((fi, at)) = work.pop() {
        let Some(InstKind::Call { callee: Callee::Function(g), .. }) =
            program.functions.get(fi).and_then(|f| f.inst(at)).map(|i| &i.kind)
        else {
            continue;
        };
        let g = g.index();
        let Some(ge) = escape.functions.get(g) else { continue };
        let Some(ret) = ge.graph.nodes.get(&Node::Ret) else { continue };
        for &r in ge.solution.pts(ret) {
            if held[g].insert(r)
                && let Obj::CallResult(inner) = ge.graph.objs.item(r)
            {
                work.push((g, *inner));
            }
        }
    }
    held
}

/// Which arena candidates the arena can really hold (rule arena-contents): not seen by
/// another thread; and, when their class is counted (an arena object is never counted,
/// so nothing releases what it holds), without a destructor to run and holding nothing
/// but memory of the same kind (other arena objects, constants). An unshared candidate
/// is released by `free` at its owner's last use like any unique object, which destroys
/// it in its arena and releases its contents. Removing a candidate can disqualify
/// counted candidates that hold it, so this iterates until nothing changes.
fn arena_contents(
    program: &ir::Program,
    escape: &ProgramEscape,
    classes: &mut Classes,
    arenas: &super::arenas::ArenaFacts,
    shared: &HashMap<Key, Witness>,
    threaded: &HashSet<Key>,
    held: &[HashSet<u32>],
) -> HashMap<(usize, InstAddr), super::arenas::Candidate> {
    let observable = super::ownership::observable_classes(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let mut ok: HashMap<(usize, InstAddr), super::arenas::Candidate> = HashMap::new();
    let mut site_class: HashMap<(usize, InstAddr), Key> = HashMap::new();
    let mut must_close: HashSet<(usize, InstAddr)> = HashSet::new();
    for (fi, cands) in arenas.candidates.iter().enumerate() {
        let f = &program.functions[fi];
        let fe = &escape.functions[fi];
        for (at, c) in cands {
            let Some(inst) = f.inst(*at) else { continue };
            let Some(o) = fe.graph.objs.get(&Obj::Alloc(*at)) else { continue };
            let ty = inst.kind.dest().map_or(ir::Type::String, |d| local_ty(program, fi, d));
            let k0 = classes.key(escape, fi, o, &ty);
            let k = classes.find(k0);
            if threaded.contains(&k) {
                continue;
            }
            let observed = super::ownership::type_observable(program, &observable, any_drop, &ty, 0);
            // Counted, or held by another object: nothing will destroy it before the arena
            // frees it.
            let undestroyed = shared.contains_key(&k) || held[fi].contains(&o);
            if undestroyed && observed {
                continue;
            }
            // rule arena-loop: an inferred arena only for what would be counted otherwise.
            if c.inferred && (!shared.contains_key(&k) || observed) {
                continue;
            }
            site_class.insert((fi, *at), k);
            // A value that holds no references (a string, an array of ints) has nothing
            // to release.
            let contents_hold = match ty.non_null() {
                ir::Type::Class(c) => program.classes.get(c.index()).is_none_or(|def| {
                    def.fields.iter().any(|fd| crate::plan::type_holds_references(program, &fd.ty))
                }),
                ir::Type::Array(e) => crate::plan::type_holds_references(program, e),
                ir::Type::String => false,
                _ => true,
            };
            if undestroyed && contents_hold {
                must_close.insert((fi, *at));
            }
            ok.insert((fi, *at), c.clone());
        }
    }
    if ok.is_empty() {
        return ok;
    }
    // The allocation sites of each class, and the classes that hold other things.
    let mut sites: HashMap<Key, Vec<(usize, InstAddr)>> = HashMap::new();
    let mut foreign: HashSet<Key> = HashSet::new();
    let keys: Vec<((usize, u32), Key)> = classes.keys.iter().map(|((f, o, _), k)| ((*f, *o), *k)).collect();
    for ((fi, o), k) in keys {
        let r = classes.find(k);
        match escape.functions[fi].graph.objs.item(o) {
            Obj::Alloc(at) => sites.entry(r).or_default().push((fi, *at)),
            Obj::Global(_) | Obj::Unknown => {
                foreign.insert(r);
            }
            _ => {}
        }
    }
    for k in [classes.unknown, classes.thread] {
        let r = classes.find(k);
        foreign.insert(r);
    }
    loop {
        let mut removed = Vec::new();
        for (site, k) in &site_class {
            if !ok.contains_key(site) || !must_close.contains(site) {
                continue;
            }
            // Every class reachable through fields must hold only arena candidates.
            // The class itself is checked too when a field leads back to it.
            let mut seen: HashSet<Key> = HashSet::new();
            let mut work = vec![*k];
            let mut closed = true;
            while let Some(c) = work.pop() {
                let root = classes.find(c);
                let parts: Vec<Key> = classes.parts(root);
                for p in parts {
                    let p = classes.find(p);
                    if !seen.insert(p) {
                        continue;
                    }
                    if foreign.contains(&p)
                        || sites.get(&p).is_some_and(|v| v.iter().any(|s| !ok.contains_key(s)))
                    {
                        closed = false;
                        break;
                    }
                    work.push(p);
                }
                if !closed {
                    break;
                }
            }
            if !closed {
                removed.push(*site);
            }
        }
        if removed.is_empty() {
            break;
        }
        for s in removed {
            ok.remove(&s);
        }
    }
    ok
}
