//! Threads: which objects a `spawn` hands over for good, so that counting them needs no
//! atomic instructions (rule thread-handover).
//!
//! Everything reachable from a spawned call's arguments is reachable from another thread,
//! and its class is counted atomically (`heap_atomic_rc`, rule place-counted) when it may
//! be counted at all. But an object whose last use on the spawning side is the spawn is
//! not shared between threads: it *moves* to the new thread. Its counter is then touched
//! by one thread only, and an atomic instruction buys nothing.
//!
//! - rule thread-handover: an allocation of the spawning function is handed over when
//!   every route it has to another thread is an argument of a spawn of a named function
//!   whose parameter stays `contained` in that function (the thread neither stores it
//!   where others can read it nor hands it to yet another thread), and the spawning
//!   function never counts it: every operation the plan applies there to a place that may
//!   hold it is a `move` (so the spawn is its last use, and nobody dups it before), it is
//!   passed to no call there (the callee could count it), no
//!   other object holds it except objects handed over with it, and no global, unknown
//!   code or result of the function can reach it. What such an object holds is handed
//!   over too when the same holds for it (its whole subgraph moves). It is then counted
//!   (`heap_rc`: the thread's code counts its class like any class a thread sees) but not
//!   atomically: its counter is only ever touched by the thread it was handed to.
//!
//! The test is deliberately about the spawning side's operations and not about timing:
//! a `dup` before the spawn would be safe in time (the spawn orders it), but it would be
//! a counter touched by two threads, which a backend may implement with a thread-local
//! count; such objects stay atomic.

use super::ops::{Action, FunctionOps, Place};
use crate::escape::ProgramEscape;
use crate::escape::graph::{Node, Obj, Sel};
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{Callee, InstAddr, InstKind};
use std::collections::{HashMap, HashSet};

/// Per (function, allocation) handed over to a thread: where, for the reason.
pub(crate) fn handed_over(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    ops: &[FunctionOps],
    pos: &dyn Fn(ir::Span) -> String,
) -> HashMap<(usize, InstAddr), String> {
    let mut out = HashMap::new();
    for (fi, f) in program.functions.iter().enumerate() {
        let spawns: Vec<(InstAddr, &ir::Inst)> =
            f.insts().filter(|(_, i)| matches!(i.kind, InstKind::Spawn { .. })).collect();
        if spawns.is_empty() {
            continue;
        }
        let fe = &escape.functions[fi];
        let objs = |l: ir::LocalId| objects[fi].get(l.index()).map_or(&[][..], Vec::as_slice);
        let edges = |o: u32| -> Vec<(Sel, u32)> {
            let mut v = Vec::new();
            for (sel, node) in fe.solution.fields_of(o) {
                v.extend(fe.solution.pts(node).iter().map(|&p| (sel, p)));
            }
            v
        };
        let reach = |start: Vec<u32>| -> HashSet<u32> {
            let mut seen: HashSet<u32> = HashSet::new();
            let mut work = start;
            while let Some(o) = work.pop() {
                if seen.insert(o) {
                    work.extend(edges(o).into_iter().map(|(_, p)| p));
                }
            }
            seen
        };
        // What another thread may see other than by a handover: the arguments of spawns
        // of closures or of parameters that escape in the callee, and whatever a global,
        // unknown code or the result can reach.
        // Each local's objects are looked at once per role (a local handed to N spawns or
        // calls, or named by N operations, holds the same objects each time; looking again
        // would cost N × its objects). The first spawn that hands a local over is the one
        // named in the reason.
        let mut exposed_roots: Vec<u32> = Vec::new();
        let mut handed_roots: Vec<(u32, InstAddr)> = Vec::new();
        let mut seen_args: HashSet<(ir::LocalId, bool)> = HashSet::new();
        let mut exposed_locals: HashSet<ir::LocalId> = HashSet::new();
        for (at, inst) in &spawns {
            let InstKind::Spawn { callee, args } = &inst.kind else { continue };
            for (i, a) in args.iter().enumerate() {
                let contained = match callee {
                    Callee::Function(g) => escape
                        .functions
                        .get(g.index())
                        .and_then(|ge| ge.summary.params.get(i))
                        .is_some_and(|p| p.escape() == Escape::Contained),
                    _ => false,
                };
                let fresh = if contained { seen_args.insert((*a, true)) } else { exposed_locals.insert(*a) };
                if !fresh {
                    continue;
                }
                for &o in objs(*a) {
                    if contained {
                        handed_roots.push((o, *at));
                    } else {
                        exposed_roots.push(o);
                    }
                }
            }
            if let InstKind::Spawn { callee: Callee::Closure(c), .. } = &inst.kind
                && exposed_locals.insert(*c)
            {
                exposed_roots.extend_from_slice(objs(*c));
            }
        }
        // What a call on the spawning side receives, that callee may count.
        for (_, inst) in f.insts() {
            if let InstKind::Call { args, callee, .. } = &inst.kind {
                let closure = match callee {
                    Callee::Closure(c) => Some(*c),
                    _ => None,
                };
                for a in args.iter().chain(&closure) {
                    if exposed_locals.insert(*a) {
                        exposed_roots.extend_from_slice(objs(*a));
                    }
                }
            }
        }
        for id in 0..fe.graph.nodes.len() as u32 {
            if matches!(fe.graph.nodes.item(id), Node::Global(_) | Node::Ret) {
                exposed_roots.extend_from_slice(fe.solution.pts(id));
            }
        }
        for o in 0..fe.graph.objs.len() as u32 {
            if matches!(fe.graph.objs.item(o), Obj::Global(_) | Obj::Unknown) {
                exposed_roots.push(o);
            }
        }
        let exposed = reach(exposed_roots);
        // The objects the function's own operations count (anything but a move).
        let mut counted: HashSet<u32> = HashSet::new();
        let mut counted_places: HashSet<Place> = HashSet::new();
        for op in &ops[fi].ops {
            if matches!(op.action, Action::Move | Action::Cow { .. }) {
                continue;
            }
            if let Action::Take { loaded } = op.action
                && counted_places.insert(Place::Local(loaded))
            {
                counted.extend(objs(loaded).iter().copied());
            }
            // An element's index does not matter here: any element may hold the object.
            let place = match op.place {
                Place::Elem(l, _) => Place::Elem(l, ir::LocalId(0)),
                place => place,
            };
            if !counted_places.insert(place) {
                continue;
            }
            match op.place {
                Place::Local(l) => counted.extend(objs(l).iter().copied()),
                Place::Field(l, n) => {
                    for &o in objs(l) {
                        counted.extend(
                            edges(o).into_iter().filter(|(s, _)| *s == Sel::Field(n)).map(|(_, p)| p),
                        );
                    }
                }
                Place::Elem(l, _) => {
                    for &o in objs(l) {
                        counted.extend(edges(o).into_iter().filter(|(s, _)| *s == Sel::Elem).map(|(_, p)| p));
                    }
                }
                Place::Global(_) => {}
            }
        }
        // Candidates: the handed roots and what they reach, minus anything exposed or
        // counted; then drop candidates held by a non-candidate, until nothing changes.
        let mut spawn_of: HashMap<u32, InstAddr> = HashMap::new();
        for &(o, at) in &handed_roots {
            spawn_of.entry(o).or_insert(at);
        }
        let mut candidates: HashSet<u32> = reach(handed_roots.iter().map(|(o, _)| *o).collect());
        candidates.retain(|o| !exposed.contains(o) && !counted.contains(o));
        loop {
            let mut holders_ok: HashSet<u32> = candidates.clone();
            for o in 0..fe.graph.objs.len() as u32 {
                if candidates.contains(&o) {
                    continue;
                }
                for (_, p) in edges(o) {
                    holders_ok.remove(&p);
                }
            }
            // A candidate reachable only from handed roots: each one must itself be a root
            // or be held by a candidate.
            let before = candidates.len();
            candidates = holders_ok;
            if candidates.len() == before {
                break;
            }
        }
        for o in candidates {
            let Obj::Alloc(at) = fe.graph.objs.item(o) else { continue };
            if f.inst(*at).is_none() {
                continue;
            }
            let why = match spawn_of.get(&o).and_then(|s| f.inst(*s)) {
                Some(spawn) => {
                    format!("handed over to the thread spawned at {} (its last use)", pos(spawn.span))
                }
                None => "handed over to another thread with the object that holds it".to_string(),
            };
            out.insert((fi, *at), why);
        }
    }
    out
}
