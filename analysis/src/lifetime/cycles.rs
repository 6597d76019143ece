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
//! - rule cyc-call-store: a call whose callee stores (part of) one argument into
//!   another's contents, per the callee's summary, is such a store too, at the call.
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
//! - rule cyc-group-copies: what an array write leaves in its local (the copy-on-write
//!   object that alone receives the written value) is reachable from every array the
//!   local may hold: written in place the array holds the value, copied the copy lives in
//!   the same arena. So what is pushed onto a group's array is in the group.
//! - rule cyc-group-classes: nor when another function may write into an array of the
//!   group (an array write there on a local of the alias class of a group object): what
//!   a callee writes lands in this arena's memory, which releases nothing it holds.
//! - rule cyc-global-alias: a parameter's object, a call's result, unknown code's or
//!   another global's may be a global's object or inside it (`g.m()`), so when finding cycles and groups a global
//!   reaches each one its type can hold, and each reaches the globals its type can hold.
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

use super::classes::{Classes, Key};
use crate::escape::ProgramEscape;
use crate::escape::graph::{Obj, Sel};
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{InstAddr, InstKind, LocalId};
use std::collections::{HashMap, HashSet};

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
    /// The components of the function's object graph that the store may close (their
    /// members are in [`CycleFacts::members`]).
    pub components: Vec<usize>,
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
    /// Per function: the abstract objects of each component a store may close, kept once
    /// per component (many stores may close the same cycle).
    pub members: Vec<HashMap<usize, Vec<u32>>>,
}

impl CycleFacts {
    /// The abstract objects (of the function's escape analysis) on the cycles `store` may
    /// close.
    pub fn store_members<'a>(&'a self, store: &'a ClosingStore) -> impl Iterator<Item = u32> + 'a {
        let members = self.members.get(store.function);
        store
            .components
            .iter()
            .flat_map(move |c| members.and_then(|m| m.get(c)).into_iter().flatten().copied())
    }
}

/// Finds the stores that may close cycles and decides how each cycle is freed.
pub(crate) fn analyze(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    classes: &mut Classes,
) -> CycleFacts {
    let writers = array_writers(program, objects, classes);
    let observable = super::ownership::observable_classes(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let mut facts = CycleFacts::default();
    for (fi, f) in program.functions.iter().enumerate() {
        let mut grouped = HashSet::new();
        let mut collected = HashSet::new();
        let mut members_of: HashMap<usize, Vec<u32>> = HashMap::new();
        let Some(fe) = escape.functions.get(fi) else {
            facts.grouped.push(grouped);
            facts.collected.push(collected);
            facts.members.push(members_of);
            continue;
        };
        let in_loop = super::blocks_in_loops(f);
        let objs = |l: LocalId| objects[fi].get(l.index()).map_or(&[][..], Vec::as_slice);
        // rule cyc-group-copies: the buffers copy-on-write may leave in place of each array
        // object (an array write's `Obj::Copy`, per array the written local may hold).
        let copies_of = write_copies(f, fe, &objs);
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
        // A copy-on-write buffer of a group array lives where its original does (spec
        // plan-format 4.7), so it only has to stay inside the function: it has no site.
        let groupable = |o: u32| -> Option<Option<InstAddr>> {
            let contained = fe.verdicts.escape(o) == Escape::Contained;
            let at = match fe.graph.objs.item(o) {
                Obj::Alloc(at) => at,
                Obj::Copy(at) if copies_of.is_copy(o) => {
                    return contained.then_some(None).filter(|_| !in_loop[at.block.index()]);
                }
                _ => return None,
            };
            let inst = f.inst(*at)?;
            let ty = inst.kind.dest().and_then(|d| f.get_local(d)).map(|d| d.ty.clone())?;
            let observed = super::ownership::type_observable(program, &observable, any_drop, &ty, 0);
            (contained && !in_loop[at.block.index()] && !observed).then_some(Some(*at))
        };
        // The object graph once: its strongly connected components (the solution is flow-
        // insensitive, so it already holds every store's own edge: the value reaches the
        // target exactly when both are in one component), each object's type, and per
        // component the fields inside it and what it reaches.
        let n = fe.graph.objs.len();
        let mut graph = petgraph::graph::DiGraph::<(), Sel>::with_capacity(n, n);
        let nodes: Vec<_> = (0..n).map(|_| graph.add_node(())).collect();
        let mut out_edges: Vec<Vec<(Sel, u32)>> = Vec::with_capacity(n);
        for o in 0..n as u32 {
            let e = edges(o);
            for &(sel, p) in &e {
                graph.add_edge(nodes[o as usize], nodes[p as usize], sel);
            }
            out_edges.push(e);
        }
        let mut obj_ty: Vec<Option<ir::Type>> = vec![None; n];
        for (l, os) in objects[fi].iter().enumerate() {
            let Some(d) = f.get_local(LocalId(l as u32)) else { continue };
            for &o in os {
                if obj_ty[o as usize].is_none() {
                    obj_ty[o as usize] = Some(d.ty.non_null().clone());
                }
            }
        }
        let mut typed: Vec<u32> = (0..n as u32).filter(|o| obj_ty[*o as usize].is_some()).collect();
        while let Some(o) = typed.pop() {
            let Some(t) = obj_ty[o as usize].clone() else { continue };
            for &(sel, p) in &out_edges[o as usize] {
                if obj_ty[p as usize].is_none()
                    && let Some(pt) = step_type(program, &t, sel)
                {
                    obj_ty[p as usize] = Some(pt.non_null().clone());
                    typed.push(p);
                }
            }
        }
        // rule cyc-global-alias: what the caller passed, or a call returned, may be a global's
        // object or one inside it (`g.m()` makes `self` the global). Inside this function
        // they are different abstract objects, so a cycle through the global and back
        // through the parameter would go unseen: each such pair is joined where the types
        // allow (for components and groups, never for naming fields).
        let alias_edges = global_aliases(program, escape, fi, &obj_ty);
        for (a, bs) in alias_edges.iter().enumerate() {
            while graph.node_count() <= a {
                graph.add_node(());
            }
            for &b in bs {
                while graph.node_count() <= b as usize {
                    graph.add_node(());
                }
                graph.add_edge(
                    petgraph::graph::NodeIndex::new(a),
                    petgraph::graph::NodeIndex::new(b as usize),
                    Sel::Elem,
                );
            }
        }
        let mut component = vec![0usize; graph.node_count()];
        let sccs: Vec<Vec<u32>> = crate::scc::tarjan_scc(&graph)
            .into_iter()
            .map(|m| m.into_iter().map(|node| node.index() as u32).collect())
            .collect();
        for (c, members) in sccs.iter().enumerate() {
            for &node in members {
                component[node as usize] = c;
            }
        }
        // The objects of each component (a join node is none).
        let sccs: Vec<Vec<u32>> =
            sccs.into_iter().map(|m| m.into_iter().filter(|&o| (o as usize) < n).collect()).collect();
        // Components that are cycles: more than one object, or one with an edge to itself.
        let mut closed: Vec<bool> = sccs.iter().map(|m| m.len() > 1).collect();
        for (o, es) in out_edges.iter().enumerate() {
            if es.iter().any(|&(_, p)| p as usize == o) {
                closed[component[o]] = true;
            }
        }
        // Per component hit by a store: (its fields, whether its group can live in an
        // arena, and the allocations of that group).
        let mut decided: HashMap<usize, (Vec<String>, Option<Group>)> = HashMap::new();
        // The stores: this function's own, and (rule cyc-call-store) each call whose callee
        // stores one argument (or part of it) into another's contents, per its summary.
        let mut stores: Vec<Store> = Vec::new();
        for (at, inst) in f.insts() {
            match &inst.kind {
                InstKind::StoreField { object, field, value } => {
                    stores.push((at, *object, *value, Some(*field), None))
                }
                InstKind::StoreElem { array, value, .. } | InstKind::Push { array, value } => {
                    stores.push((at, *array, *value, None, None))
                }
                InstKind::Call { callee: ir::Callee::Function(g), args, .. } => {
                    let Some(ge) = escape.functions.get(g.index()) else { continue };
                    let callee_name =
                        program.functions.get(g.index()).map_or(String::new(), |h| h.name.clone());
                    for (i, p) in ge.summary.params.iter().enumerate() {
                        for flow in &p.flows {
                            // Moving things around inside one parameter was checked in
                            // the callee, which sees those stores itself.
                            if let crate::escape::summary::FlowDst::Param(j, _) = &flow.dst
                                && *j as usize != i
                                && let (Some(&v), Some(&t)) = (args.get(i), args.get(*j as usize))
                            {
                                stores.push((at, t, v, None, Some(format!("{callee_name}(...)"))));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        stores.dedup();
        let first_store = facts.stores.len();
        for (at, target, value, stored_field, in_callee) in stores {
            let via_call = in_callee.is_some();
            if objs(target).is_empty() || objs(value).is_empty() {
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
            let fresh = if via_call { None } else { fresh_contents(f, at, target, value) };
            let start: Vec<u32> = match &fresh {
                Some(operands) => operands.iter().flat_map(|l| objs(*l).iter().copied()).collect(),
                None => objs(value).to_vec(),
            };
            // rule cyc-closing-store: the value (or what it starts from) and the target in
            // one component. A component of one object without an edge to itself is no
            // cycle (the local's objects are over all its definitions, so the value may
            // "reach" a target object just by being it). Every such component counts: the
            // target may hold objects of several.
            let start_components: HashSet<usize> = start.iter().map(|&o| component[o as usize]).collect();
            // rule cyc-call-store: a callee stores at a path inside the argument, so the
            // target is everything the argument reaches, not the argument alone.
            let targets: Vec<u32> = if via_call {
                let mut seen: HashSet<u32> = objs(target).iter().copied().collect();
                let mut work: Vec<u32> = seen.iter().copied().collect();
                while let Some(o) = work.pop() {
                    for &(_, p) in out_edges.get(o as usize).into_iter().flatten() {
                        if seen.insert(p) {
                            work.push(p);
                        }
                    }
                }
                seen.into_iter().collect()
            } else {
                objs(target).to_vec()
            };
            let mut hits: Vec<usize> = targets
                .iter()
                .map(|&t| component[t as usize])
                .filter(|c| start_components.contains(c) && closed[*c])
                .collect();
            hits.sort_unstable();
            hits.dedup();
            if hits.is_empty() {
                continue;
            }
            let mut fields: Vec<String> = Vec::new();
            for &c in &hits {
                let (cf, _) = decided.entry(c).or_insert_with(|| {
                    let members: Vec<u32> = sccs[c].clone();
                    let mut fields: Vec<String> = Vec::new();
                    for &m in &members {
                        for &(sel, p) in &out_edges[m as usize] {
                            if component[p as usize] != c {
                                continue;
                            }
                            // Only fields whose type can lead back (an abstract object that
                            // stands for a structure may seem to hold its strings in a cycle).
                            let Some(t) = obj_ty[m as usize].as_ref() else { continue };
                            let back =
                                step_type(program, t, sel).is_some_and(|ft| type_reaches(program, &ft, t));
                            if let Some(name) = field_name(program, t, sel)
                                && back
                                && !fields.contains(&name)
                            {
                                fields.push(name);
                            }
                        }
                    }
                    fields.sort();
                    // rule cyc-group-arena: the members and everything they reach.
                    let mut closure: HashSet<u32> = members.iter().copied().collect();
                    let mut joins: HashSet<u32> = HashSet::new();
                    let mut work = members.clone();
                    while let Some(o) = work.pop() {
                        // rule cyc-group-copies: a write to a group array puts the value in
                        // the array itself (in place) or in a copy in the same arena.
                        let copies = copies_of.of(o).iter().copied();
                        // rule cyc-global-alias, through the join nodes (`>= n`).
                        let aliases = alias_edges.get(o as usize).into_iter().flatten().copied();
                        let fields = out_edges.get(o as usize).into_iter().flatten().map(|&(_, p)| p);
                        for p in fields.chain(copies).chain(aliases) {
                            let new = if (p as usize) < n { closure.insert(p) } else { joins.insert(p) };
                            if new {
                                work.push(p);
                            }
                        }
                    }
                    let group = closure
                        .iter()
                        .map(|&o| groupable(o))
                        .collect::<Option<Vec<_>>>()
                        .map(|sites| {
                            let mut sites: Vec<InstAddr> = sites.into_iter().flatten().collect();
                            sites.sort_unstable();
                            Group { objects: closure, sites }
                        })
                        .filter(|g| !written_elsewhere(classes, &writers, fi, g));
                    (fields, group)
                });
                for name in cf.iter() {
                    if !fields.contains(name) {
                        fields.push(name.clone());
                    }
                }
            }
            // Grouped when every component it may close can be (rule cyc-group-arena).
            let is_grouped = hits.iter().all(|c| decided.get(c).is_some_and(|(_, cs)| cs.is_some()));
            fields.sort();
            let in_hit = |o: u32| hits.contains(&component[o as usize]);
            let target_ty = f.get_local(target).map(|d| d.ty.clone());
            let stored_name = match (stored_field, &target_ty) {
                (Some(n), Some(t)) => field_name(program, t, Sel::Field(n)),
                (None, Some(t)) => field_name(program, t, Sel::Elem),
                _ => None,
            }
            .unwrap_or_else(|| "an element".to_string());
            let stored_name = in_callee.unwrap_or(stored_name);
            let mut all_fields = vec![stored_name.clone()];
            all_fields.extend(fields.iter().filter(|f| **f != stored_name).cloned());
            // The reference to make non-owning: the first step from the value back into the
            // cycle (a fresh value's field initialised with a member, or a field of the value
            // holding one: the back reference), else another field of the cycle, else the
            // stored one.
            let back = match &fresh {
                Some(operands) => {
                    operands.iter().position(|l| objs(*l).iter().any(|&o| in_hit(o))).and_then(|i| {
                        let sel = if matches!(vt.ty.non_null(), ir::Type::Array(_)) {
                            Sel::Elem
                        } else {
                            Sel::Field(i as u32)
                        };
                        field_name(program, &vt.ty, sel)
                    })
                }
                None => objs(value).iter().find_map(|&o| {
                    let t = obj_ty[o as usize].as_ref()?;
                    out_edges[o as usize]
                        .iter()
                        .find(|(_, p)| in_hit(*p))
                        .and_then(|(sel, _)| field_name(program, t, *sel))
                }),
            };
            let weak = back.or_else(|| all_fields.get(1).cloned()).unwrap_or(stored_name);
            for &c in &hits {
                members_of.entry(c).or_insert_with(|| {
                    let mut m: Vec<u32> = sccs[c].clone();
                    m.sort_unstable();
                    m
                });
            }
            facts.stores.push(ClosingStore {
                function: fi,
                at,
                fields: all_fields,
                weak,
                grouped: is_grouped,
                components: hits,
            });
        }
        let stores = &mut facts.stores[first_store..];
        let (in_arena, counted) = settle_groups(stores, &decided, &members_of);
        for (&c, (_, group)) in &decided {
            if in_arena.contains(&c)
                && let Some(group) = group
            {
                grouped.extend(group.sites.iter().copied());
            }
        }
        // rule cyc-collect
        for c in &counted {
            collected.extend(members_of.get(c).into_iter().flatten().copied());
        }
        facts.grouped.push(grouped);
        facts.collected.push(collected);
        facts.members.push(members_of);
    }
    facts
}

/// rule cyc-global-alias: the joins between a function's global objects and the objects
/// from outside it (parameters' objects, unknown code's, the results of calls whose
/// callee may return something from outside) that may be one of them, as directed adjacency lists over the object ids `0..n` and join nodes `n..`.
/// A global reaches such an object of type `t` when the global's type can hold a `t`, and
/// the object reaches the global when `t` can hold the global's type (it may be the
/// global's own object); an untyped object both ways. The joins go through two nodes per
/// type (one for each direction), so that they stay linear in the objects and globals
/// rather than their product.
fn global_aliases(
    program: &ir::Program,
    escape: &ProgramEscape,
    fi: usize,
    obj_ty: &[Option<ir::Type>],
) -> Vec<Vec<u32>> {
    let fe = &escape.functions[fi];
    // A call's fresh result holds something from outside only where the callee's summary
    // says its result may (`returns_outside`: then, at any depth, a global's or unknown
    // code's object may be in it).
    let may_be_outside = |o: u32| match fe.graph.objs.item(o) {
        // A global's contents may hold another global's object (`g1` holding a node whose
        // array holds `g0`), which inside the function is another abstract object too.
        Obj::Param(..) | Obj::Unknown | Obj::Global(_) => true,
        Obj::CallResult(at) => match program.functions.get(fi).and_then(|f| f.inst(*at)).map(|i| &i.kind) {
            Some(InstKind::Call { callee: ir::Callee::Function(g), .. }) => {
                escape.functions.get(g.index()).is_none_or(|ge| ge.summary.returns_outside)
            }
            _ => true,
        },
        _ => false,
    };
    let n = obj_ty.len();
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
    let globals: Vec<(u32, &ir::Type)> = (0..n as u32)
        .filter_map(|o| match fe.graph.objs.item(o) {
            Obj::Global(g) => program.globals.get(g.index()).map(|d| (o, &d.ty)),
            _ => None,
        })
        .collect();
    if globals.is_empty() {
        return adj;
    }
    // Per type of outside object (`None`: untyped): the node the globals that can hold it
    // point to, and the node that points to the globals it can hold.
    let mut joins_of: HashMap<Option<&ir::Type>, (Option<u32>, Option<u32>)> = HashMap::new();
    for o in 0..n as u32 {
        if !may_be_outside(o) {
            continue;
        }
        let ty = obj_ty[o as usize].as_ref();
        let (into, out_of) = *joins_of.entry(ty).or_insert_with(|| {
            let mut join = |holders: Vec<u32>, from_globals: bool| -> Option<u32> {
                if holders.is_empty() {
                    return None;
                }
                let j = adj.len() as u32;
                adj.push(Vec::new());
                for g in holders {
                    if from_globals {
                        adj[g as usize].push(j);
                    } else {
                        adj[j as usize].push(g);
                    }
                }
                Some(j)
            };
            let holding: Vec<u32> = globals
                .iter()
                .filter(|(_, gty)| ty.is_none_or(|t| type_reaches(program, gty, t)))
                .map(|&(g, _)| g)
                .collect();
            let held: Vec<u32> = globals
                .iter()
                .filter(|(_, gty)| ty.is_none_or(|t| type_reaches(program, t, gty)))
                .map(|&(g, _)| g)
                .collect();
            (join(holding, true), join(held, false))
        });
        if let Some(j) = into {
            adj[j as usize].push(o);
        }
        if let Some(j) = out_of {
            adj[o as usize].push(j);
        }
    }
    adj
}

/// Per alias class (its root): the functions with an array write (`a[i] = v`, `push`,
/// `pop`) on a local that may hold an object of the class.
fn array_writers(
    program: &ir::Program,
    objects: &[Vec<Vec<u32>>],
    classes: &mut Classes,
) -> HashMap<Key, Vec<usize>> {
    let mut out: HashMap<Key, Vec<usize>> = HashMap::new();
    for (fi, f) in program.functions.iter().enumerate() {
        let mut seen: HashSet<u32> = HashSet::new();
        for (_, inst) in f.insts() {
            let Some(array) = super::ownership::array_written(&inst.kind) else { continue };
            for &o in objects.get(fi).and_then(|ls| ls.get(array.index())).into_iter().flatten() {
                if !seen.insert(o) {
                    continue;
                }
                for k in classes.object_classes(fi, o) {
                    let writers = out.entry(k).or_default();
                    if writers.last() != Some(&fi) {
                        writers.push(fi);
                    }
                }
            }
        }
    }
    out
}

/// rule cyc-group-classes: whether another function (a callee, a closure body) may write
/// into an array of the group: an array write there on a local whose alias class is one
/// of the group's objects'. The function's own points-to graph shows what its own code
/// stores into the group (everything reachable from the members is in the group), but not
/// what a callee writes into an array it is handed: copy-on-write makes that the callee's
/// own value, yet the buffer written in place, or its copy, is this arena's memory, which
/// never releases what it holds. The classes, which unify an argument with the callee's
/// parameter (and a captured value with the closure body's), show it.
fn written_elsewhere(
    classes: &mut Classes,
    writers: &HashMap<Key, Vec<usize>>,
    fi: usize,
    group: &Group,
) -> bool {
    for &o in &group.objects {
        for k in classes.object_classes(fi, o) {
            if writers.get(&k).is_some_and(|ws| ws.iter().any(|&w| w != fi)) {
                return true;
            }
        }
    }
    false
}

/// What an arena over a function's body would hold for one component (rule
/// cyc-group-arena): the component's objects and everything they reach, and the
/// allocation sites among them.
struct Group {
    objects: HashSet<u32>,
    sites: Vec<InstAddr>,
}

/// Which of a function's components stay in the arena over its body, and which the
/// collector frees, iterated until nothing changes (rule cyc-group-arena):
/// - a store is grouped only if every component it may close can be;
/// - a group that reaches a member of a collected component is collected too (its arena
///   objects would hold a counted one, and an arena object releases nothing).
///
/// A store's target may also hold objects outside the group (a local over several
/// definitions): those are not on the cycle (else they would be in the group), and they are
/// `contained` (else the stored value would not be), so they only point into the arena
/// while it lives.
///
/// Sets each store's `grouped` and returns (the grouped components, the collected ones).
fn settle_groups(
    stores: &mut [ClosingStore],
    decided: &HashMap<usize, (Vec<String>, Option<Group>)>,
    members_of: &HashMap<usize, Vec<u32>>,
) -> (HashSet<usize>, HashSet<usize>) {
    let group = |c: &usize| decided.get(c).and_then(|(_, g)| g.as_ref());
    let mut in_arena: HashSet<usize> =
        stores.iter().flat_map(|s| s.components.iter().copied()).filter(|c| group(c).is_some()).collect();
    loop {
        let mut out: HashSet<usize> = HashSet::new();
        for s in stores.iter() {
            if !s.components.iter().all(|c| in_arena.contains(c)) {
                out.extend(s.components.iter().copied().filter(|c| in_arena.contains(c)));
            }
        }
        let counted_members: HashSet<u32> = stores
            .iter()
            .flat_map(|s| s.components.iter())
            .filter(|c| !in_arena.contains(c) || out.contains(c))
            .flat_map(|c| members_of.get(c).into_iter().flatten().copied())
            .collect();
        for c in &in_arena {
            if group(c).is_some_and(|g| g.objects.iter().any(|o| counted_members.contains(o))) {
                out.insert(*c);
            }
        }
        if out.is_empty() {
            break;
        }
        in_arena.retain(|c| !out.contains(c));
    }
    let mut counted = HashSet::new();
    for s in stores.iter_mut() {
        s.grouped = s.components.iter().all(|c| in_arena.contains(c));
        counted.extend(s.components.iter().copied().filter(|c| !in_arena.contains(c)));
    }
    (in_arena, counted)
}

/// The copy-on-write buffers of a function's array writes (`Obj::Copy`), by the array
/// objects they may replace (rule cyc-group-copies).
struct WriteCopies {
    by_source: HashMap<u32, Vec<u32>>,
    copies: HashSet<u32>,
}

impl WriteCopies {
    /// The buffers a write may leave in place of array object `o`.
    fn of(&self, o: u32) -> &[u32] {
        self.by_source.get(&o).map_or(&[], Vec::as_slice)
    }

    /// Whether `o` is an array write's buffer (not a struct copy's value).
    fn is_copy(&self, o: u32) -> bool {
        self.copies.contains(&o)
    }
}

/// rule cyc-group-copies: for each array write (`a[i] = v`, `push`, `pop`), the buffer it
/// leaves in `a` stands for every array `a` may hold before it: written in place, the
/// array itself holds the value (the points-to graph gives it to the copy only, rule
/// esc-cow), and copied, the copy lives where the array did.
fn write_copies<'a>(
    f: &ir::Function,
    fe: &crate::escape::FunctionEscape,
    objs: &dyn Fn(LocalId) -> &'a [u32],
) -> WriteCopies {
    let mut out = WriteCopies { by_source: HashMap::new(), copies: HashSet::new() };
    for (at, inst) in f.insts() {
        let Some(array) = super::ownership::array_written(&inst.kind) else { continue };
        let Some(copy) = fe.graph.objs.get(&Obj::Copy(at)) else { continue };
        out.copies.insert(copy);
        for &o in objs(array) {
            if o != copy {
                out.by_source.entry(o).or_default().push(copy);
            }
        }
    }
    out
}

/// A store that may close a cycle: where, into which local's object, which value, the
/// field stored (`None`: an element), and the callee that stores it (rule cyc-call-store).
type Store = (InstAddr, LocalId, LocalId, Option<u32>, Option<String>);

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
