//! Cycles: which stores can close a reference cycle, and how the plan frees what they close
//! (rules cyc-*).
//!
//! Counting alone never frees a group of objects that refer to each other. The type graph
//! (`crate::plan::type_table`) says which classes *could* form such a group; this module
//! asks, per store, whether the program actually closes one, and then chooses the cheaper
//! of two ways to free it.
//!
//! A cycle can only be closed by writing into an object that already exists: a fresh
//! object's initial fields point to older objects, never back to itself. So the candidates
//! are the stores `x.f = v`, `x[i] = v` and `push(x, v)`, and such a store closes a cycle
//! when `v` reaches (through fields, elements and captures, in the escape analysis's
//! points-to solution) an object `x` may hold.
//!
//! - rule cyc-closing-store: a store may close a cycle when an object its target may hold
//!   is reachable from the stored value.
//! - rule cyc-typed: only where the stored value's type can reach the target's type (a
//!   `[int]` stored into a `[[int]]` closes nothing, whatever the abstract objects say).
//! - rule cyc-fresh-value: except when the stored value is an object allocated in the same
//!   block just before the store, with no store or call in between and the target's local
//!   not written in between: then the value reaches only what its initial contents reach,
//!   and the target (older than the value) is not the value itself. This is what keeps
//!   `tail.next = node; tail = node` (appending to a list) from looking like a cycle.
//! - rule cyc-group-arena: when every object on the cycle, and everything reachable from
//!   those, is an allocation of the storing function that is `contained`, made outside any
//!   loop and without a `drop` block to run, the group lives in an arena over the
//!   function's body and is freed together when the function returns: no counting, no
//!   collector (Dream's `circular_reference_example`).
//! - rule cyc-collect: otherwise the objects on the cycle are counted, and every release
//!   of a value of their alias classes is `collect_cycles`, which drops the reference and,
//!   if the object survives, runs the collector on its group; the store gets a `cycle`
//!   warning naming the fields that close the cycle and the one that could be made
//!   non-owning.
//!
//! Cost: one breadth-first walk of the function's object graph per store whose value may
//! hold an object (each walk is linear in the graph), so a function with `S` such stores
//! and `G` objects and fields costs `O(S * G)`; both are small in practice (objects are
//! allocation sites, parameters' paths and call results, not run-time objects).

use crate::escape::ProgramEscape;
use crate::escape::graph::{Obj, Sel};
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{InstAddr, InstKind, LocalId};
use std::collections::{HashMap, HashSet, VecDeque};

/// A store that may close a cycle.
#[derive(Debug, Clone)]
pub struct ClosingStore {
    /// The function.
    pub function: usize,
    /// The store.
    pub at: InstAddr,
    /// The fields on the cycle (`Node.next`), the stored one first.
    pub fields: Vec<String>,
    /// The field whose reference could be made non-owning to break the cycle.
    pub weak: String,
    /// Whether the group is freed with an arena over the function's body (rule
    /// cyc-group-arena) rather than by the collector (rule cyc-collect).
    pub grouped: bool,
    /// The abstract objects (of the function's escape analysis) on the cycle.
    pub members: Vec<u32>,
}

/// What the plan does about cycles.
#[derive(Debug, Clone, Default)]
pub struct CycleFacts {
    /// Every store that may close a cycle, in function and instruction order.
    pub stores: Vec<ClosingStore>,
    /// Per function: the allocations placed in the arena over its body (rule
    /// cyc-group-arena).
    pub grouped: Vec<HashSet<InstAddr>>,
    /// Per function: the abstract objects on cycles the collector frees (rule cyc-collect).
    pub collected: Vec<HashSet<u32>>,
}

/// Finds the stores that may close cycles and decides how each cycle is freed.
pub fn analyze(program: &ir::Program, escape: &ProgramEscape, objects: &[Vec<Vec<u32>>]) -> CycleFacts {
    let observable = super::ownership::observable_classes(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let mut facts = CycleFacts::default();
    for (fi, f) in program.functions.iter().enumerate() {
        let mut grouped = HashSet::new();
        let mut collected = HashSet::new();
        let Some(fe) = escape.functions.get(fi) else {
            facts.grouped.push(grouped);
            facts.collected.push(collected);
            continue;
        };
        let in_loop = super::classes::blocks_in_loops(f);
        let objs = |l: LocalId| objects[fi].get(l.index()).map_or(&[][..], Vec::as_slice);
        let edges = |o: u32| -> Vec<(Sel, u32)> {
            let mut out = Vec::new();
            for (sel, node) in fe.solution.fields_of(o) {
                for &p in fe.solution.pts(node) {
                    out.push((sel, p));
                }
            }
            out
        };
        // An object the group arena can take: an allocation of this function, contained,
        // made outside loops, of a type whose destruction nobody observes.
        let groupable = |o: u32| -> Option<InstAddr> {
            let Obj::Alloc(at) = fe.graph.objs.item(o) else { return None };
            let inst = f.inst(*at)?;
            let ty = inst.kind.dest().and_then(|d| f.get_local(d)).map(|d| d.ty.clone())?;
            let observed = super::ownership::type_observable(program, &observable, any_drop, &ty, 0);
            (fe.verdicts.escape(o) == Escape::Contained && !in_loop[at.block.index()] && !observed)
                .then_some(*at)
        };
        for (at, inst) in f.insts() {
            let (target, value, stored_field) = match &inst.kind {
                InstKind::StoreField { object, field, value } => (*object, *value, Some(*field)),
                InstKind::StoreElem { array, value, .. } | InstKind::Push { array, value } => {
                    (*array, *value, None)
                }
                _ => continue,
            };
            let targets: HashSet<u32> = objs(target).iter().copied().collect();
            if targets.is_empty() || objs(value).is_empty() {
                continue;
            }
            // rule cyc-typed: a value whose type cannot reach the target's type closes
            // nothing (abstract objects such as a call's result stand for a whole
            // structure, so they alone cannot tell an inner array from its outer one).
            let (Some(vt), Some(tt)) = (f.get_local(value), f.get_local(target)) else { continue };
            if !type_reaches(program, &vt.ty, &tt.ty) {
                continue;
            }
            // rule cyc-fresh-value: start from what a fresh value's initial contents hold.
            let (start, start_ty): (Vec<u32>, Option<ir::Type>) = match fresh_contents(f, at, target, value) {
                Some(operands) => {
                    let mut s: Vec<u32> = Vec::new();
                    for l in &operands {
                        s.extend_from_slice(objs(*l));
                    }
                    (s, None)
                }
                None => (objs(value).to_vec(), f.get_local(value).map(|d| d.ty.clone())),
            };
            // rule cyc-closing-store: breadth-first from the value, remembering how each
            // object was first reached.
            let mut parent: HashMap<u32, Option<(u32, Sel)>> = HashMap::new();
            let mut queue: VecDeque<u32> = VecDeque::new();
            for &o in &start {
                if parent.insert(o, None).is_none() {
                    queue.push_back(o);
                }
            }
            let mut order = Vec::new();
            while let Some(o) = queue.pop_front() {
                order.push(o);
                for (sel, p) in edges(o) {
                    if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(p) {
                        e.insert(Some((o, sel)));
                        queue.push_back(p);
                    }
                }
            }
            let hit: Vec<u32> = order.iter().copied().filter(|o| targets.contains(o)).collect();
            let Some(&first_hit) = hit.first() else { continue };
            // The members: every reached object from which a hit target is reachable
            // (backwards over the reached part of the graph).
            let reached: HashSet<u32> = order.iter().copied().collect();
            let mut reverse: HashMap<u32, Vec<u32>> = HashMap::new();
            for &o in &order {
                for (_, p) in edges(o) {
                    if reached.contains(&p) {
                        reverse.entry(p).or_default().push(o);
                    }
                }
            }
            let mut members: HashSet<u32> = hit.iter().copied().collect();
            let mut back: Vec<u32> = hit.clone();
            while let Some(o) = back.pop() {
                for &q in reverse.get(&o).map_or(&[][..], Vec::as_slice) {
                    if members.insert(q) {
                        back.push(q);
                    }
                }
            }
            // The objects of the target that are on the cycle are members too.
            members.extend(hit.iter().copied());
            // The fields: the stored one, then the path from the value to the target.
            let mut path: Vec<Sel> = Vec::new();
            let mut cur = first_hit;
            while let Some(Some((prev, sel))) = parent.get(&cur) {
                path.push(*sel);
                cur = *prev;
            }
            path.reverse();
            let target_ty = f.get_local(target).map(|d| d.ty.clone());
            let stored_name = match (stored_field, &target_ty) {
                (Some(n), Some(t)) => field_name(program, t, Sel::Field(n)),
                (None, Some(t)) => field_name(program, t, Sel::Elem),
                _ => None,
            }
            .unwrap_or_else(|| "an element".to_string());
            let mut fields = vec![stored_name.clone()];
            let mut ty = start_ty.or_else(|| {
                // A fresh value: its own type.
                f.get_local(value).map(|d| d.ty.clone())
            });
            for sel in &path {
                let name = ty.as_ref().and_then(|t| field_name(program, t, *sel));
                if let Some(name) = &name
                    && !fields.contains(name)
                {
                    fields.push(name.clone());
                }
                ty = ty.as_ref().and_then(|t| step_type(program, t, *sel));
            }
            let weak = fields.last().cloned().unwrap_or(stored_name);
            // rule cyc-group-arena: the members and everything they reach.
            let mut closure: HashSet<u32> = members.clone();
            let mut work: Vec<u32> = members.iter().copied().collect();
            while let Some(o) = work.pop() {
                for (_, p) in edges(o) {
                    if closure.insert(p) {
                        work.push(p);
                    }
                }
            }
            let sites: Option<Vec<InstAddr>> = closure.iter().map(|&o| groupable(o)).collect();
            let is_grouped = sites.is_some();
            match sites {
                Some(sites) => grouped.extend(sites),
                // rule cyc-collect
                None => collected.extend(members.iter().copied()),
            }
            let mut members: Vec<u32> = members.into_iter().collect();
            members.sort_unstable();
            facts.stores.push(ClosingStore { function: fi, at, fields, weak, grouped: is_grouped, members });
        }
        // A site the collector must see is counted, so it cannot also be in the arena.
        grouped.retain(|at| fe.graph.objs.get(&Obj::Alloc(*at)).is_none_or(|o| !collected.contains(&o)));
        facts.grouped.push(grouped);
        facts.collected.push(collected);
    }
    // A store whose group lost a member to the collector is collected after all.
    for s in &mut facts.stores {
        if s.grouped {
            let f = &program.functions[s.function];
            let fe = &escape.functions[s.function];
            let Some(inst) = f.inst(s.at) else { continue };
            let target = match &inst.kind {
                InstKind::StoreField { object, .. } => *object,
                InstKind::StoreElem { array, .. } | InstKind::Push { array, .. } => *array,
                _ => continue,
            };
            let all_grouped = objects[s.function].get(target.index()).into_iter().flatten().all(|o| {
                matches!(fe.graph.objs.item(*o), Obj::Alloc(at) if facts.grouped[s.function].contains(at))
            });
            if !all_grouped {
                s.grouped = false;
                facts.collected[s.function].extend(s.members.iter().copied());
            }
        }
    }
    facts
}

/// If the value stored at `at` is an object allocated earlier in the same block with no
/// store or call in between and `target` not written in between (rule cyc-fresh-value):
/// the locals its initial contents come from.
fn fresh_contents(f: &ir::Function, at: InstAddr, target: LocalId, value: LocalId) -> Option<Vec<LocalId>> {
    let block = f.blocks.get(at.block.index())?;
    let mut want = value;
    for i in (0..at.index as usize).rev() {
        let kind = &block.insts.get(i)?.kind;
        // The target written since the allocation (even as the allocation's own
        // destination) may hold the fresh object itself.
        if kind.dest() == Some(target) {
            return None;
        }
        match kind {
            InstKind::StoreField { .. }
            | InstKind::StoreElem { .. }
            | InstKind::Push { .. }
            | InstKind::Pop { .. }
            | InstKind::Call { .. }
            | InstKind::Spawn { .. }
            | InstKind::Free { .. } => return None,
            _ => {}
        }
        if kind.dest() != Some(want) {
            continue;
        }
        match kind {
            InstKind::Copy { src, .. } => want = *src,
            InstKind::NewObject { fields, .. } => return Some(fields.clone()),
            InstKind::NewArray { elems, .. } => return Some(elems.clone()),
            InstKind::NewArrayRepeat { value, .. } => return Some(vec![*value]),
            InstKind::NewClosure { captures, .. } => return Some(captures.clone()),
            InstKind::Concat { .. } | InstKind::ToString { .. } => return Some(vec![]),
            _ => return None,
        }
    }
    None
}

/// Whether a value of type `from` can reach (or be) a value of type `to` through fields,
/// elements and captures. A closure may capture anything.
fn type_reaches(program: &ir::Program, from: &ir::Type, to: &ir::Type) -> bool {
    let to = to.non_null().clone();
    let mut seen: HashSet<ir::Type> = HashSet::new();
    let mut work = vec![from.non_null().clone()];
    while let Some(t) = work.pop() {
        if t == to || matches!(t, ir::Type::Closure(_)) {
            return true;
        }
        if !seen.insert(t.clone()) {
            continue;
        }
        match &t {
            ir::Type::Array(e) => work.push(e.non_null().clone()),
            ir::Type::Class(c) => {
                if let Some(def) = program.classes.get(c.index()) {
                    work.extend(def.fields.iter().map(|fd| fd.ty.non_null().clone()));
                }
            }
            ir::Type::Struct(st) => {
                if let Some(def) = program.structs.get(st.index()) {
                    work.extend(def.fields.iter().map(|fd| fd.ty.non_null().clone()));
                }
            }
            _ => {}
        }
    }
    false
}

/// `Class.field` for a step into a value of type `ty`.
fn field_name(program: &ir::Program, ty: &ir::Type, sel: Sel) -> Option<String> {
    match (ty.non_null(), sel) {
        (ir::Type::Class(c), Sel::Field(n)) => {
            let class = program.classes.get(c.index())?;
            Some(format!("{}.{}", class.name, class.fields.get(n as usize)?.name))
        }
        (ir::Type::Struct(s), Sel::Field(n)) => {
            let st = program.structs.get(s.index())?;
            Some(format!("{}.{}", st.name, st.fields.get(n as usize)?.name))
        }
        (t @ ir::Type::Array(_), Sel::Elem) => Some(format!("the elements of {}", t.display(program))),
        _ => None,
    }
}

/// The type one step into a value of type `ty`.
fn step_type(program: &ir::Program, ty: &ir::Type, sel: Sel) -> Option<ir::Type> {
    match (ty.non_null(), sel) {
        (t, Sel::Field(n)) => program.field(t, n).map(|fd| fd.ty.clone()),
        (ir::Type::Array(e), Sel::Elem) => Some((**e).clone()),
        _ => None,
    }
}
