//! Alias classes and placements: which allocations are only ever held by one owner at a
//! time, and so where each lives (rules place-*).
//!
//! Every abstract object of every function's escape analysis is a key in one union-find
//! table (ena). Keys are unified, Steensgaard-style, wherever the same run-time object can
//! appear under two names: an argument and the callee's parameter, a call's result and the
//! callee's returned objects, a global and everything stored into it, unknown code and
//! everything it sees; two classes that are unified have their fields unified too, so
//! each class knows the class of its `.f` and of its elements. A class is *shared* when an
//! operation of the plan adds a reference to one of its objects (a `dup`, the repeated
//! element of `[v; n]`, the elements of an array that copy-on-write may copy), and
//! *threaded* when another thread may see it.
//!
//! - rule place-counted: an allocation in a shared class is counted (`heap_rc`), atomically
//!   if its class is threaded (`heap_atomic_rc`).
//! - rule place-static: an array literal of constants whose class is never written nor
//!   compared by identity is `static`.
//! - rule place-stack: an unshared allocation of fixed size that is `contained`, outside
//!   any loop, held by a local of the function's body scope that is assigned once, lives on
//!   the stack (its memory goes with the frame, which the naive plan's release at the
//!   function's end matches).
//! - rule place-unique: any other unshared allocation is `heap_unique`: freed by `free` at
//!   its owner's last use, never counted.
//! - rule cow-in-place / cow-check: an array write is in place when the array's class is
//!   not shared, and checked otherwise.

use super::ops::{Action, FunctionOps, Place};
use crate::escape::ProgramEscape;
use crate::escape::graph::{Node, Obj, Sel, Sink};
use custody_ir as ir;
use custody_ir::plan::{Escape, Placement};
use custody_ir::{Callee, InstAddr, InstKind, LocalId};
use ena::unify::{InPlaceUnificationTable, UnifyKey};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A union-find key: one abstract object (or a global's, unknown code's, a thread's
/// contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(u32);

impl UnifyKey for Key {
    type Value = ();
    fn index(&self) -> u32 {
        self.0
    }
    fn from_index(i: u32) -> Key {
        Key(i)
    }
    fn tag() -> &'static str {
        "Key"
    }
}

/// The classes, with the field structure of each.
pub(crate) struct Classes {
    table: InPlaceUnificationTable<Key>,
    fields: HashMap<Key, BTreeMap<Sel, Key>>,
    /// Per function, per abstract object id: its key.
    keys: Vec<Vec<Key>>,
    unknown: Key,
    thread: Key,
    globals: Vec<Key>,
}

impl Classes {
    fn fresh(&mut self) -> Key {
        self.table.new_key(())
    }

    pub(crate) fn find(&mut self, k: Key) -> Key {
        self.table.find(k)
    }

    /// Unifies two classes and, recursively, their fields.
    fn union(&mut self, a: Key, b: Key) {
        let mut work = vec![(a, b)];
        while let Some((a, b)) = work.pop() {
            let (ra, rb) = (self.find(a), self.find(b));
            if ra == rb {
                continue;
            }
            let fa = self.fields.remove(&ra).unwrap_or_default();
            let fb = self.fields.remove(&rb).unwrap_or_default();
            self.table.union(ra, rb);
            let root = self.find(ra);
            let mut merged = fa;
            for (sel, k) in fb {
                match merged.get(&sel) {
                    Some(&k0) => work.push((k0, k)),
                    None => {
                        merged.insert(sel, k);
                    }
                }
            }
            self.fields.insert(root, merged);
        }
    }

    /// The class of the `sel` part of class `k`.
    pub(crate) fn target(&mut self, k: Key, sel: Sel) -> Key {
        let root = self.find(k);
        if let Some(&t) = self.fields.get(&root).and_then(|m| m.get(&sel)) {
            return t;
        }
        let t = self.fresh();
        self.fields.entry(root).or_default().insert(sel, t);
        t
    }

    fn key(&self, f: usize, obj: u32) -> Option<Key> {
        self.keys.get(f).and_then(|k| k.get(obj as usize)).copied()
    }
}

/// The objects each local of a function may hold (over all its definitions).
pub(crate) fn local_objects(escape: &ProgramEscape, f: usize, locals: usize) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); locals];
    let Some(fe) = escape.functions.get(f) else { return out };
    for (d, def) in fe.graph.defs.iter().enumerate() {
        if let Some(node) = fe.graph.nodes.get(&Node::Def(d as u32))
            && let Some(slot) = out.get_mut(def.local.index())
        {
            slot.extend_from_slice(fe.solution.pts(node));
        }
    }
    for v in &mut out {
        v.sort_unstable();
        v.dedup();
    }
    out
}

/// Builds the classes of a whole program.
pub(crate) fn build(program: &ir::Program, escape: &ProgramEscape, objects: &[Vec<Vec<u32>>]) -> Classes {
    let mut c = Classes {
        table: InPlaceUnificationTable::new(),
        fields: HashMap::new(),
        keys: Vec::new(),
        unknown: Key(0),
        thread: Key(0),
        globals: Vec::new(),
    };
    c.unknown = c.fresh();
    c.thread = c.fresh();
    c.globals = (0..program.globals.len()).map(|_| c.table.new_key(())).collect();
    for fe in &escape.functions {
        let keys = (0..fe.graph.objs.len()).map(|_| c.table.new_key(())).collect();
        c.keys.push(keys);
    }
    // Unknown code's and a thread's contents are themselves: everything inside is unknown.
    for k in [c.unknown, c.thread] {
        for sel in [Sel::Elem, Sel::Field(0)] {
            let t = c.target(k, sel);
            c.union(t, k);
        }
    }
    let global_keys = c.globals.clone();
    for (fi, fe) in escape.functions.iter().enumerate() {
        let g = &fe.graph;
        // Field structure within the function.
        for o in 0..g.objs.len() as u32 {
            let Some(ko) = c.key(fi, o) else { continue };
            for (sel, node) in fe.solution.fields_of(o) {
                let t = c.target(ko, sel);
                for &p in fe.solution.pts(node) {
                    if let Some(kp) = c.key(fi, p) {
                        c.union(t, kp);
                    }
                }
            }
            match g.objs.item(o) {
                Obj::Global(gl) => {
                    if let Some(&kg) = global_keys.get(gl.index()) {
                        c.union(ko, kg);
                        // Everything inside a global is the global's.
                        for (sel, _) in fe.solution.fields_of(o) {
                            let t = c.target(kg, sel);
                            c.union(t, kg);
                        }
                    }
                }
                Obj::Unknown => c.union(ko, c.unknown),
                Obj::CallResult(_) => {
                    // The fresh object and everything inside it.
                    for (sel, _) in fe.solution.fields_of(o) {
                        let t = c.target(ko, sel);
                        c.union(t, ko);
                    }
                }
                _ => {}
            }
        }
        // What globals hold.
        for (gi, &kg) in global_keys.iter().enumerate() {
            if let Some(node) = g.nodes.get(&Node::Global(ir::GlobalId(gi as u32))) {
                for &p in fe.solution.pts(node) {
                    if let Some(kp) = c.key(fi, p) {
                        c.union(kp, kg);
                    }
                }
            }
        }
        // What escapes to unknown code or a thread.
        for &(node, sink) in &fe.solution.escapes {
            let to = match sink {
                Sink::Thread => c.thread,
                Sink::Unknown => c.unknown,
                Sink::Global(gl) => global_keys.get(gl.index()).copied().unwrap_or(c.unknown),
            };
            for &p in fe.solution.pts(node) {
                if let Some(kp) = c.key(fi, p) {
                    c.union(kp, to);
                }
            }
        }
    }
    // Between functions: arguments and parameters, results and returned objects.
    for (fi, f) in program.functions.iter().enumerate() {
        for (_, inst) in f.insts() {
            match &inst.kind {
                InstKind::Call { callee: Callee::Function(callee), args, .. }
                | InstKind::Spawn { callee: Callee::Function(callee), args, .. } => {
                    link_call(&mut c, escape, objects, fi, callee.index(), args, &inst.kind);
                }
                InstKind::Call { args, .. } | InstKind::Spawn { args, .. } => {
                    // Closures and externs: unknown code.
                    for a in args {
                        for &o in objects[fi].get(a.index()).into_iter().flatten() {
                            if let Some(k) = c.key(fi, o) {
                                c.union(k, c.unknown);
                            }
                        }
                    }
                    if let InstKind::Call { dest: Some(d), .. } = &inst.kind {
                        for &o in objects[fi].get(d.index()).into_iter().flatten() {
                            if let Some(k) = c.key(fi, o) {
                                c.union(k, c.unknown);
                            }
                        }
                    }
                }
                InstKind::NewClosure { function, captures, .. } => {
                    // Captures are the body's extra parameters.
                    let Some(body) = program.functions.get(function.index()) else { continue };
                    let Some(be) = escape.functions.get(function.index()) else { continue };
                    for (k, cap) in captures.iter().enumerate() {
                        let j = (body.params.len() + k) as u32;
                        if let Some(po) =
                            be.graph.objs.get(&Obj::Param(j, crate::escape::graph::Path::root()))
                            && let Some(kp) = c.key(function.index(), po)
                        {
                            for &o in objects[fi].get(cap.index()).into_iter().flatten() {
                                if let Some(ko) = c.key(fi, o) {
                                    c.union(ko, kp);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // A closure body's parameters and results meet unknown callers.
        if matches!(f.kind, ir::FunctionKind::Closure { .. }) {
            let fe = &escape.functions[fi];
            for o in 0..fe.graph.objs.len() as u32 {
                if let Obj::Param(j, _) = fe.graph.objs.item(o)
                    && (*j as usize) < f.params.len()
                    && let Some(k) = c.key(fi, o)
                {
                    c.union(k, c.unknown);
                }
            }
            if let Some(ret) = fe.graph.nodes.get(&Node::Ret) {
                for &p in fe.solution.pts(ret) {
                    if let Some(k) = c.key(fi, p) {
                        c.union(k, c.unknown);
                    }
                }
            }
        }
    }
    // A drop block's `self` is every object of its class.
    for class in &program.classes {
        let Some(d) = class.drop else { continue };
        let Some(de) = escape.functions.get(d.index()) else { continue };
        let Some(po) = de.graph.objs.get(&Obj::Param(0, crate::escape::graph::Path::root())) else {
            continue;
        };
        let Some(kp) = c.key(d.index(), po) else { continue };
        let class_id = program.classes.iter().position(|c2| std::ptr::eq(c2, class));
        for (fi, f) in program.functions.iter().enumerate() {
            for (at, inst) in f.insts() {
                if let InstKind::NewObject { class: cid, .. } = &inst.kind
                    && Some(cid.index()) == class_id
                    && let Some(o) = escape.functions[fi].graph.objs.get(&Obj::Alloc(at))
                    && let Some(ko) = c.key(fi, o)
                {
                    c.union(ko, kp);
                }
            }
        }
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn link_call(
    c: &mut Classes,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    caller: usize,
    callee: usize,
    args: &[LocalId],
    kind: &InstKind,
) {
    let Some(ce) = escape.functions.get(callee) else { return };
    // Arguments are the callee's parameters (and, through the field structure, their
    // contents: the callee's `param j.f` objects are fields of `param j`).
    for (j, a) in args.iter().enumerate() {
        let Some(po) = ce.graph.objs.get(&Obj::Param(j as u32, crate::escape::graph::Path::root())) else {
            continue;
        };
        let Some(kp) = c.key(callee, po) else { continue };
        for &o in objects[caller].get(a.index()).into_iter().flatten() {
            if let Some(ko) = c.key(caller, o) {
                c.union(ko, kp);
            }
        }
    }
    // A struct parameter's copy holds what the caller's struct held.
    for o in 0..ce.graph.objs.len() as u32 {
        if let Obj::ParamCopy(j) = ce.graph.objs.item(o)
            && let Some(a) = args.get(*j as usize)
            && let Some(kp) = c.key(callee, o)
        {
            for &oo in objects[caller].get(a.index()).into_iter().flatten() {
                if let Some(ko) = c.key(caller, oo) {
                    c.union(ko, kp);
                }
            }
        }
    }
    // The result: whatever the callee returns, and the caller's view of it.
    if let InstKind::Call { dest: Some(d), .. } = kind
        && let Some(ret) = ce.graph.nodes.get(&Node::Ret)
    {
        let returned: Vec<u32> = ce.solution.pts(ret).to_vec();
        for &o in objects[caller].get(d.index()).into_iter().flatten() {
            let Some(ko) = c.key(caller, o) else { continue };
            if !matches!(escape.functions[caller].graph.objs.item(o), Obj::CallResult(_)) {
                continue;
            }
            for &r in &returned {
                if let Some(kr) = c.key(callee, r) {
                    c.union(ko, kr);
                }
            }
        }
        // Returned parameters are the caller's arguments, already linked; returned objects
        // reached from them are linked through the field structure.
        let _ = returned;
    }
}

/// What the classes decide.
pub(crate) struct Decisions {
    /// Per function, per allocation instruction: placement and reason.
    pub(crate) placements: Vec<HashMap<InstAddr, (Placement, String)>>,
    /// Per function, per planned op index: whether its value may be counted memory (for a
    /// release: `drop` rather than `free`; for a cow: a check rather than in place).
    pub(crate) counted: Vec<Vec<bool>>,
}

/// Marks sharing from the planned operations and decides placements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    classes: &mut Classes,
    ops: &[FunctionOps],
    spawns: bool,
    pos: &dyn Fn(ir::Span) -> String,
) -> Decisions {
    // The classes an operation's place may hold.
    let place_classes = |c: &mut Classes, fi: usize, place: Place| -> Vec<Key> {
        let f = &program.functions[fi];
        let objs = |l: LocalId| objects[fi].get(l.index()).cloned().unwrap_or_default();
        let mut out = Vec::new();
        match place {
            Place::Local(l) => {
                let is_struct =
                    f.get_local(l).is_some_and(|d| matches!(d.ty.non_null(), ir::Type::Struct(_)));
                for o in objs(l) {
                    if let Some(k) = c.key(fi, o) {
                        if is_struct {
                            // A struct's references are in its fields.
                            let ty = f.get_local(l).map(|d| d.ty.non_null().clone());
                            struct_contents(program, c, k, ty.as_ref(), &mut out, 0);
                        } else {
                            out.push(c.find(k));
                        }
                    }
                }
            }
            Place::Field(l, field) => {
                for o in objs(l) {
                    if let Some(k) = c.key(fi, o) {
                        let t = c.target(k, Sel::Field(field));
                        out.push(c.find(t));
                    }
                }
            }
            Place::Elem(l, _) => {
                for o in objs(l) {
                    if let Some(k) = c.key(fi, o) {
                        let t = c.target(k, Sel::Elem);
                        out.push(c.find(t));
                    }
                }
            }
            Place::Global(g) => {
                if let Some(&k) = c.globals.get(g.index()) {
                    out.push(c.find(k));
                }
            }
        }
        out.sort_by_key(|k| k.0);
        out.dedup();
        out
    };
    // Shared classes, each with the first operation that shared it (the witness).
    let mut shared: HashMap<Key, String> = HashMap::new();
    let unknown = classes.find(classes.unknown);
    let thread = classes.find(classes.thread);
    shared.insert(unknown, "reachable from code custody cannot see".into());
    shared.insert(thread, "shared with another thread".into());
    for (fi, fo) in ops.iter().enumerate() {
        let f = &program.functions[fi];
        for op in &fo.ops {
            if matches!(op.action, Action::Dup | Action::DupCount(_)) {
                let span = f.inst(op.at).map_or(ir::Span::NONE, |i| i.span);
                let name = match op.place {
                    Place::Local(l) => crate::naive::local_name(f, l),
                    _ => String::new(),
                };
                let why = format!("shared: {name} gains a second reference at {} ({})", pos(span), op.reason);
                for k in place_classes(classes, fi, op.place) {
                    shared.entry(k).or_insert_with(|| why.clone());
                }
            }
        }
    }
    // Copy-on-write of a shared array gives its elements a second reference.
    loop {
        let mut changed = false;
        for (fi, fo) in ops.iter().enumerate() {
            for op in &fo.ops {
                if op.action != Action::Cow {
                    continue;
                }
                let Place::Local(a) = op.place else { continue };
                let cls = place_classes(classes, fi, op.place);
                if cls.iter().any(|k| shared.contains_key(k)) {
                    for k in place_classes(classes, fi, Place::Elem(a, a)) {
                        if !shared.contains_key(&k) {
                            shared.insert(
                                k,
                                "shared: an element of an array that copy-on-write may copy".into(),
                            );
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Threaded classes.
    let mut threaded: HashSet<Key> = HashSet::from([thread]);
    if spawns {
        threaded.insert(unknown);
        for g in classes.globals.clone() {
            threaded.insert(classes.find(g));
        }
    }
    for (fi, fe) in escape.functions.iter().enumerate() {
        for o in 0..fe.graph.objs.len() as u32 {
            let e = fe.verdicts.escape(o);
            if e == Escape::Thread || (spawns && e >= Escape::Uncontained) {
                if let Some(k) = classes.key(fi, o) {
                    threaded.insert(classes.find(k));
                }
            }
        }
    }
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

    let mut placements = Vec::new();
    for (fi, f) in program.functions.iter().enumerate() {
        let fe = &escape.functions[fi];
        let in_loop = blocks_in_loops(f);
        let mut defs = vec![0u32; f.locals.len()];
        for (_, inst) in f.insts() {
            if let Some(d) = inst.kind.dest() {
                defs[d.index()] += 1;
            }
        }
        let body_scope_locals: Vec<LocalId> = f
            .insts()
            .filter_map(|(_, i)| match &i.kind {
                InstKind::ScopeEnter { scope, locals, .. } if scope.0 <= 1 => Some(locals.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let mut map = HashMap::new();
        for (at, inst) in f.insts() {
            if !inst.kind.is_allocation() {
                continue;
            }
            let Some(o) = fe.graph.objs.get(&Obj::Alloc(at)) else {
                map.insert(at, (Placement::HeapRc, "not analysed: counted".to_string()));
                continue;
            };
            let Some(k0) = classes.key(fi, o) else { continue };
            let k = classes.find(k0);
            let escape_state = fe.verdicts.escape(o);
            let constant_elems = match &inst.kind {
                InstKind::NewArray { elems, .. } => elems.iter().all(|e| is_constant(f, *e)),
                _ => false,
            };
            let decision = if constant_elems && !written.contains(&k) {
                // rule place-static
                (Placement::Static, "constant array, never written: emitted once, never freed".to_string())
            } else if let Some(why) = shared.get(&k) {
                // rule place-counted
                if threaded.contains(&k) {
                    (
                        Placement::HeapAtomicRc,
                        format!("{why}; reachable from another thread: counted atomically"),
                    )
                } else {
                    (Placement::HeapRc, why.clone())
                }
            } else if threaded.contains(&k) {
                (Placement::HeapAtomicRc, "reachable from another thread: counted atomically".to_string())
            } else {
                let fixed = matches!(inst.kind, InstKind::NewObject { .. } | InstKind::NewClosure { .. })
                    || (matches!(inst.kind, InstKind::NewArray { .. }) && !grown.contains(&k));
                let dest = inst.kind.dest();
                let single = dest.is_some_and(|d| defs[d.index()] == 1 && body_scope_locals.contains(&d));
                if escape_state == Escape::Contained && fixed && !in_loop[at.block.index()] && single {
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
                    } else {
                        "one owner at a time; not on the stack: it dies before its function returns"
                            .to_string()
                    };
                    (Placement::HeapUnique, why)
                }
            };
            map.insert(at, decision);
        }
        placements.push(map);
    }
    // Which operations act on counted memory.
    let mut counted = Vec::new();
    for (fi, fo) in ops.iter().enumerate() {
        let mut v = Vec::with_capacity(fo.ops.len());
        for op in &fo.ops {
            let cls = place_classes(classes, fi, op.place);
            v.push(cls.iter().any(|k| shared.contains_key(k) || threaded.contains(k)));
        }
        counted.push(v);
    }
    Decisions { placements, counted }
}

/// The classes of the references inside a struct value of class `k`.
fn struct_contents(
    program: &ir::Program,
    c: &mut Classes,
    k: Key,
    ty: Option<&ir::Type>,
    out: &mut Vec<Key>,
    depth: u32,
) {
    let Some(ir::Type::Struct(s)) = ty else { return };
    let Some(def) = program.structs.get(s.index()) else { return };
    if depth > 16 {
        return;
    }
    for (i, field) in def.fields.iter().enumerate() {
        let t = c.target(k, Sel::Field(i as u32));
        match field.ty.non_null() {
            ir::Type::Struct(_) => struct_contents(program, c, t, Some(field.ty.non_null()), out, depth + 1),
            ty if crate::plan::holds_references(ty) => out.push(c.find(t)),
            _ => {}
        }
    }
}

/// Whether a local only ever holds a constant (every definition is a `const`).
fn is_constant(f: &ir::Function, l: LocalId) -> bool {
    let mut any = false;
    for (_, inst) in f.insts() {
        if inst.kind.dest() == Some(l) {
            if !matches!(inst.kind, InstKind::Const { .. }) {
                return false;
            }
            any = true;
        }
    }
    any
}

/// Which blocks are on a cycle of the control-flow graph.
fn blocks_in_loops(f: &ir::Function) -> Vec<bool> {
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
    for scc in petgraph::algo::tarjan_scc(&g) {
        if scc.len() > 1 {
            for node in scc {
                out[node.index()] = true;
            }
        }
    }
    out
}
