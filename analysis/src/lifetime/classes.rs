//! Alias classes and placements: which allocations are only ever held by one owner at a
//! time, and so where each lives (rules place-*).
//!
//! Every abstract object of every function's escape analysis is a key in one union-find
//! table (ena). Keys are unified, Steensgaard-style, wherever the same run-time object can
//! appear under two names, and wherever one name can hold either of two objects (an
//! operation on a local is one `drop` or one `free`, whichever object it holds): an argument and the callee's parameter, a call's result and the
//! callee's returned objects, a global and everything stored into it, unknown code and
//! everything it sees; two classes that are unified have their fields unified too, so
//! each class knows the class of its `.f` and of its elements. A class is *shared* when an
//! operation of the plan adds a reference to one of its objects (a `dup`, the repeated
//! element of `[v; n]`, the elements of an array that copy-on-write may copy), and
//! *threaded* when another thread may see it.
//!
//! - rule place-counted: an allocation in a shared class is counted (`heap_rc`), atomically
//!   if its class is threaded (`heap_atomic_rc`).
//! - rule place-static: an array literal of constants inside a loop, whose class is never
//!   written nor compared by identity, is `static` (allocated once instead of once per
//!   iteration; outside loops static memory would only be held longer).
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
    /// Per (function, abstract object, type): its key. An abstract object may stand for
    /// objects of several types (a call's result and everything inside it); a run-time
    /// object has one type, so keys of different types never meet (rule place-typed).
    keys: HashMap<(usize, u32, ir::Type), Key>,
    /// The keys of each (function, abstract object), over all its types.
    by_object: HashMap<(usize, u32), Vec<Key>>,
    /// Objects whose every key is one class (unknown code's, a thread's).
    forced: HashMap<(usize, u32), Key>,
    /// Keys created and not yet given their field structure.
    pending: Vec<(usize, u32, ir::Type, Key)>,
    unknown: Key,
    thread: Key,
    globals: HashMap<(u32, ir::Type), Key>,
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
            // Everything inside unknown code's or a thread's contents is theirs too.
            if self.absorbs(root) {
                work.extend(merged.values().map(|&k| (k, root)));
            }
            self.fields.insert(root, merged);
        }
    }

    /// Whether `root` is unknown code's or a thread's class, whose every part is itself.
    fn absorbs(&mut self, root: Key) -> bool {
        let (u, t) = (self.unknown, self.thread);
        root == self.find(u) || root == self.find(t)
    }

    /// The class of the `sel` part of class `k`.
    pub(crate) fn target(&mut self, k: Key, sel: Sel) -> Key {
        let root = self.find(k);
        if let Some(&t) = self.fields.get(&root).and_then(|m| m.get(&sel)) {
            return t;
        }
        if self.absorbs(root) {
            return root;
        }
        let t = self.fresh();
        self.fields.entry(root).or_default().insert(sel, t);
        t
    }

    /// The key of object `obj` of function `f` seen as a value of type `ty`.
    fn key(&mut self, escape: &ProgramEscape, f: usize, obj: u32, ty: &ir::Type) -> Key {
        let ty = ty.non_null().clone();
        if let Some(&k) = self.keys.get(&(f, obj, ty.clone())) {
            return k;
        }
        let item = escape.functions.get(f).map(|fe| fe.graph.objs.item(obj).clone());
        // A forced object's key is still recorded and given its field structure: what it
        // holds is unknown code's (or the thread's) too.
        let k = match (self.forced.get(&(f, obj)), item) {
            (Some(&k), _) => k,
            (None, Some(Obj::Unknown)) => self.unknown,
            (None, Some(Obj::Global(g))) => self.global_key(g.0, &ty),
            _ => self.fresh(),
        };
        self.keys.insert((f, obj, ty.clone()), k);
        self.by_object.entry((f, obj)).or_default().push(k);
        self.pending.push((f, obj, ty, k));
        k
    }

    /// The class of what global `g` holds, seen at type `ty`.
    fn global_key(&mut self, g: u32, ty: &ir::Type) -> Key {
        let key = (g, ty.non_null().clone());
        if let Some(&k) = self.globals.get(&key) {
            return k;
        }
        let k = self.fresh();
        self.globals.insert(key, k);
        k
    }

    /// The classes of object `obj` of function `f`, over all its types (a forced object's
    /// one class even where no type of it was asked for).
    pub(crate) fn object_classes(&mut self, f: usize, obj: u32) -> Vec<Key> {
        let mut out: Vec<Key> = self.by_object.get(&(f, obj)).cloned().unwrap_or_default();
        out.extend(self.forced.get(&(f, obj)).copied());
        let mut roots: Vec<Key> = out.into_iter().map(|k| self.find(k)).collect();
        roots.sort_unstable_by_key(|k| k.0);
        roots.dedup();
        roots
    }

    /// Makes every key of an object one class.
    fn force(&mut self, f: usize, obj: u32, to: Key) {
        for k in self.by_object.get(&(f, obj)).cloned().unwrap_or_default() {
            self.union(k, to);
        }
        self.forced.insert((f, obj), to);
    }
}

/// The type of the `sel` part of a value of type `ty` (`None` when unknown).
/// (A closure's captured slots are typed by the closure body: [`closure_capture_type`].)
fn part_type(program: &ir::Program, ty: &ir::Type, sel: Sel) -> Option<ir::Type> {
    match (ty.non_null(), sel) {
        (t, Sel::Field(n)) => program.field(t, n).map(|f| f.ty.clone()),
        (ir::Type::Array(e), Sel::Elem) => Some((**e).clone()),
        _ => None,
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

fn local_ty(program: &ir::Program, f: usize, l: LocalId) -> ir::Type {
    program.functions.get(f).and_then(|f| f.get_local(l)).map_or(ir::Type::Int, |d| d.ty.non_null().clone())
}

/// Gives every new key its field structure, until no key is new.
fn settle(program: &ir::Program, escape: &ProgramEscape, c: &mut Classes) {
    while let Some((f, o, ty, k)) = c.pending.pop() {
        let Some(fe) = escape.functions.get(f) else { continue };
        for (sel, node) in fe.solution.fields_of(o) {
            // An abstract object may stand for values of several types (a call's result and
            // everything inside it): a part that a value of this type does not have belongs
            // to another type's key of the same object, not to this one.
            let applies = match (&ty, sel) {
                (ir::Type::Array(_), Sel::Elem) | (ir::Type::Closure(_), Sel::Env(_)) => true,
                (ir::Type::Class(_) | ir::Type::Struct(_), Sel::Field(n)) => program.field(&ty, n).is_some(),
                _ => false,
            };
            if !applies {
                continue;
            }
            let part = match sel {
                Sel::Env(n) => closure_capture_type(program, f, fe.graph.objs.item(o), n),
                _ => part_type(program, &ty, sel),
            };
            let t = c.target(k, sel);
            match part {
                Some(pty) => {
                    for &p in fe.solution.pts(node) {
                        let kp = c.key(escape, f, p, &pty);
                        c.union(t, kp);
                    }
                }
                // A part whose type custody cannot name: unknown.
                None => {
                    if !fe.solution.pts(node).is_empty() {
                        let u = c.unknown;
                        c.union(t, u);
                    }
                }
            }
        }
    }
}

/// The type of captured value `n` of a closure object, when its literal is known.
fn closure_capture_type(program: &ir::Program, f: usize, obj: &Obj, n: u32) -> Option<ir::Type> {
    let Obj::Alloc(at) = obj else { return None };
    let InstKind::NewClosure { function, .. } = &program.functions.get(f)?.inst(*at)?.kind else {
        return None;
    };
    let body = program.functions.get(function.index())?;
    let l = *body.captures.get(n as usize)?;
    body.get_local(l).map(|d| d.ty.clone())
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

/// Builds the classes of a whole program.
pub(crate) fn build(program: &ir::Program, escape: &ProgramEscape, objects: &[Vec<Vec<u32>>]) -> Classes {
    let mut c = Classes {
        table: InPlaceUnificationTable::new(),
        fields: HashMap::new(),
        keys: HashMap::new(),
        by_object: HashMap::new(),
        forced: HashMap::new(),
        pending: Vec::new(),
        unknown: Key(0),
        thread: Key(0),
        globals: HashMap::new(),
    };
    c.unknown = c.fresh();
    c.thread = c.fresh();
    // Unknown code's and a thread's contents are themselves: every part of them is theirs
    // too (`Classes::absorbs`).
    for (fi, fe) in escape.functions.iter().enumerate() {
        let f = &program.functions[fi];
        // What escapes to unknown code or a thread: every key of the object.
        for &(node, sink) in &fe.solution.escapes {
            let to = match sink {
                Sink::Thread => c.thread,
                Sink::Unknown => c.unknown,
                Sink::Global(_) => continue,
            };
            for &p in fe.solution.pts(node) {
                c.force(fi, p, to);
            }
        }
        // A closure body's parameters and results meet unknown callers.
        if matches!(f.kind, ir::FunctionKind::Closure { .. }) {
            for o in 0..fe.graph.objs.len() as u32 {
                if let Obj::Param(j, _) = fe.graph.objs.item(o)
                    && (*j as usize) < f.params.len()
                {
                    let u = c.unknown;
                    c.force(fi, o, u);
                }
            }
            if let Some(ret) = fe.graph.nodes.get(&Node::Ret) {
                for &p in fe.solution.pts(ret) {
                    let u = c.unknown;
                    c.force(fi, p, u);
                }
            }
        }
        // Every local's objects, at the local's type, are one class: an operation on the
        // local must mean the same thing (a `drop` or a `free`) for whichever it holds.
        for (l, objs) in objects[fi].iter().enumerate() {
            let ty = local_ty(program, fi, LocalId(l as u32));
            let mut first = None;
            for &o in objs {
                let k = c.key(escape, fi, o, &ty);
                match first {
                    None => first = Some(k),
                    Some(k0) => c.union(k0, k),
                }
            }
        }
        // What globals hold.
        for (gi, gdef) in program.globals.iter().enumerate() {
            if let Some(node) = fe.graph.nodes.get(&Node::Global(ir::GlobalId(gi as u32))) {
                for &p in fe.solution.pts(node) {
                    let kp = c.key(escape, fi, p, &gdef.ty);
                    let kg = c.global_key(gi as u32, &gdef.ty);
                    c.union(kp, kg);
                }
            }
        }
    }
    settle(program, escape, &mut c);
    // Between functions: arguments and parameters, results and returned objects. A local's
    // objects are one class already (above), so one of them stands for all where classes
    // are joined, and a local is handed to unknown code once however often it is: looking
    // at every object at every call would cost calls × objects for a local reassigned
    // throughout a long function.
    for (fi, f) in program.functions.iter().enumerate() {
        let mut to_unknown: HashSet<LocalId> = HashSet::new();
        for (at, inst) in f.insts() {
            match &inst.kind {
                InstKind::Call { callee: Callee::Function(callee), args, .. }
                | InstKind::Spawn { callee: Callee::Function(callee), args, .. } => {
                    link_call(&mut c, program, escape, objects, fi, callee.index(), args, at, &inst.kind);
                }
                InstKind::Call { args, .. } | InstKind::Spawn { args, .. } => {
                    // Closures and externs: unknown code.
                    let dest = match &inst.kind {
                        InstKind::Call { dest: Some(d), .. } => Some(*d),
                        _ => None,
                    };
                    for a in args.iter().chain(&dest) {
                        if !to_unknown.insert(*a) {
                            continue;
                        }
                        for &o in objects[fi].get(a.index()).into_iter().flatten() {
                            let u = c.unknown;
                            c.force(fi, o, u);
                        }
                    }
                }
                InstKind::NewClosure { function, captures, .. } => {
                    // Captures are the body's extra parameters.
                    let Some(body) = program.functions.get(function.index()) else { continue };
                    let Some(be) = escape.functions.get(function.index()) else { continue };
                    for (k, cap) in captures.iter().enumerate() {
                        let j = (body.params.len() + k) as u32;
                        let Some(po) = be.graph.objs.get(&Obj::Param(j, crate::escape::graph::Path::root()))
                        else {
                            continue;
                        };
                        let ty = local_ty(program, fi, *cap);
                        let kp = c.key(escape, function.index(), po, &ty);
                        if let Some(&o) = objects[fi].get(cap.index()).and_then(|os| os.first()) {
                            let ko = c.key(escape, fi, o, &ty);
                            c.union(ko, kp);
                        }
                    }
                }
                _ => {}
            }
        }
        settle(program, escape, &mut c);
    }
    // A drop block's `self` is every object of its class. When the block only reads and
    // writes `self`'s fields (the usual case), the objects' fields are unified with
    // `self`'s and the objects themselves stay apart: one object of the class being shared
    // does not make them all counted. Anything else done with `self` unifies the objects.
    for (ci, class) in program.classes.iter().enumerate() {
        let Some(d) = class.drop else { continue };
        let Some(de) = escape.functions.get(d.index()) else { continue };
        let Some(po) = de.graph.objs.get(&Obj::Param(0, crate::escape::graph::Path::root())) else {
            continue;
        };
        let ty = ir::Type::Class(ir::ClassId(ci as u32));
        let kp = c.key(escape, d.index(), po, &ty);
        let fields_only = program.functions.get(d.index()).is_some_and(|df| {
            let Some(&this) = df.params.first() else { return false };
            df.insts().all(|(_, i)| match &i.kind {
                InstKind::LoadField { dest, .. } => *dest != this,
                InstKind::StoreField { value, .. } => *value != this,
                kind => !kind.uses().contains(&this) && kind.dest() != Some(this),
            })
        });
        let fields = class.fields.len() as u32;
        for (fi, f) in program.functions.iter().enumerate() {
            for (at, inst) in f.insts() {
                if let InstKind::NewObject { class: cid, .. } = &inst.kind
                    && cid.index() == ci
                    && let Some(o) = escape.functions[fi].graph.objs.get(&Obj::Alloc(at))
                {
                    let ko = c.key(escape, fi, o, &ty);
                    if fields_only {
                        for n in 0..fields {
                            let (tf, tp) = (c.target(ko, Sel::Field(n)), c.target(kp, Sel::Field(n)));
                            c.union(tf, tp);
                        }
                    } else {
                        c.union(ko, kp);
                    }
                }
            }
        }
    }
    settle(program, escape, &mut c);
    c
}

#[allow(clippy::too_many_arguments)]
fn link_call(
    c: &mut Classes,
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    caller: usize,
    callee: usize,
    args: &[LocalId],
    at: InstAddr,
    kind: &InstKind,
) {
    let Some(ce) = escape.functions.get(callee) else { return };
    let Some(cf) = program.functions.get(callee) else { return };
    // Arguments are the callee's parameters (and, through the field structure, their
    // contents: the callee's `param j.f` objects are fields of `param j`).
    for (j, a) in args.iter().enumerate() {
        let ty = local_ty(program, caller, *a);
        let params = [
            ce.graph.objs.get(&Obj::Param(j as u32, crate::escape::graph::Path::root())),
            ce.graph.objs.get(&Obj::ParamCopy(j as u32)),
        ];
        for po in params.into_iter().flatten() {
            let kp = c.key(escape, callee, po, &ty);
            if let Some(&o) = objects[caller].get(a.index()).and_then(|os| os.first()) {
                let ko = c.key(escape, caller, o, &ty);
                c.union(ko, kp);
            }
        }
    }
    // The result: whatever the callee returns is this call's result object.
    if let InstKind::Call { dest: Some(_), .. } = kind
        && let Some(ret) = ce.graph.nodes.get(&Node::Ret)
        && let Some(rty) = cf.ret.clone()
        && let Some(o) = escape.functions[caller].graph.objs.get(&Obj::CallResult(at))
    {
        let ko = c.key(escape, caller, o, &rty);
        for &r in ce.solution.pts(ret) {
            let kr = c.key(escape, callee, r, &rty);
            c.union(ko, kr);
        }
    }
}

/// Why a class is shared: the first operation that gave one of its objects a second
/// reference, or a fact about who else can see it.
#[derive(Debug, Clone)]
pub(crate) enum Witness {
    /// `name` gains a second reference at `pos`, because `why`.
    Dup { name: String, pos: String, why: String },
    /// Anything else, as a phrase (`reachable from code custody cannot see`).
    Fact(String),
}

impl Witness {
    /// The reason of a counted placement.
    pub(crate) fn placement(&self) -> String {
        match self {
            Witness::Dup { name, pos, why } => {
                format!("shared: {name} gains a second reference at {pos} ({why})")
            }
            Witness::Fact(t) => format!("shared: {t}"),
        }
    }

    /// The reason of a copy-on-write check on the array in `written`.
    pub(crate) fn cow(&self, written: &str) -> String {
        match self {
            Witness::Dup { name, pos, .. } if name != written => {
                format!("may be shared with {name} (second reference at {pos})")
            }
            Witness::Dup { name, pos, why } => {
                format!("may be shared: {name} gains a second reference at {pos} ({why})")
            }
            Witness::Fact(t) => format!("may be shared: {t}"),
        }
    }
}

/// What the classes decide.
pub(crate) struct Decisions {
    /// Per function, per allocation instruction: placement and reason.
    pub(crate) placements: Vec<HashMap<InstAddr, (Placement, String)>>,
    /// Per function, per planned op index: whether its value may be counted memory (for a
    /// release: `drop` rather than `free`; for a cow: a check rather than in place).
    pub(crate) counted: Vec<Vec<bool>>,
    /// Per function, per planned op index: for a copy-on-write on a shared class, why it
    /// is shared.
    pub(crate) cow_witness: Vec<HashMap<usize, Witness>>,
    /// Per function, per planned op index: whether a release may let go of an object on
    /// a cycle the collector frees (rule cyc-collect: `collect_cycles` instead of `drop`).
    pub(crate) collect: Vec<Vec<bool>>,
    /// Per function, per allocation placed `arena`: its arena scope.
    pub(crate) arena_scopes: Vec<HashMap<InstAddr, ir::ScopeId>>,
    /// Per function, per planned op index: a count, release or move that can only apply
    /// to arena objects of counted classes, where it does nothing (left out of the plan);
    /// for a copy-on-write, that the array may be an arena object of a counted class,
    /// which keeps no counter to check (the write then copies).
    pub(crate) arena_noop: Vec<Vec<bool>>,
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
    cycles: &super::cycles::CycleFacts,
    arenas: &super::arenas::ArenaFacts,
    pos: &dyn Fn(ir::Span) -> String,
) -> Decisions {
    // The classes an operation's place may hold.
    let place_classes = |c: &mut Classes, fi: usize, place: Place| -> Vec<Key> {
        // Every object of a local is in one class at the local's type (unified in `build`,
        // and `decide` unifies nothing), so the local's first object stands for all of
        // them: looking at each would cost the local's object count per operation, which
        // is quadratic for a local reassigned throughout a long function.
        let objs = |l: LocalId| objects[fi].get(l.index()).and_then(|os| os.first()).copied();
        let mut out = Vec::new();
        match place {
            Place::Local(l) => {
                let ty = local_ty(program, fi, l);
                if let Some(o) = objs(l) {
                    let k = c.key(escape, fi, o, &ty);
                    if matches!(ty, ir::Type::Struct(_)) {
                        // A struct's references are in its fields.
                        struct_contents(program, c, k, Some(&ty), &mut out, 0);
                    } else {
                        out.push(c.find(k));
                    }
                }
            }
            Place::Field(l, _) | Place::Elem(l, _) => {
                let ty = local_ty(program, fi, l);
                let sel = match place {
                    Place::Field(_, n) => Sel::Field(n),
                    _ => Sel::Elem,
                };
                let part = part_type(program, &ty, sel);
                if let Some(o) = objs(l) {
                    let k = c.key(escape, fi, o, &ty);
                    let t = c.target(k, sel);
                    match &part {
                        Some(pty) if matches!(pty.non_null(), ir::Type::Struct(_)) => {
                            struct_contents(program, c, t, Some(pty.non_null()), &mut out, 0)
                        }
                        _ => out.push(c.find(t)),
                    }
                }
            }
            Place::Global(g) => {
                if let Some(gdef) = program.globals.get(g.index()) {
                    let k = c.global_key(g.0, &gdef.ty);
                    out.push(c.find(k));
                }
            }
        }
        out.sort_by_key(|k| k.0);
        out.dedup();
        out
    };
    // Shared classes, each with the first operation that shared it (the witness).
    let mut shared: HashMap<Key, Witness> = HashMap::new();
    let unknown = classes.find(classes.unknown);
    let thread = classes.find(classes.thread);
    shared.insert(unknown, Witness::Fact("reachable from code custody cannot see".into()));
    shared.insert(thread, Witness::Fact("reachable from another thread".into()));
    for (fi, fo) in ops.iter().enumerate() {
        let f = &program.functions[fi];
        for op in &fo.ops {
            if matches!(op.action, Action::Dup | Action::DupCount(_)) {
                let span = f.inst(op.at).map_or(ir::Span::NONE, |i| i.span);
                let name = match op.place {
                    Place::Local(l) => crate::plan::local_name(f, l),
                    _ => String::new(),
                };
                let why = Witness::Dup { name, pos: pos(span), why: op.reason.clone() };
                for k in place_classes(classes, fi, op.place) {
                    shared.entry(k).or_insert_with(|| why.clone());
                }
            }
        }
    }
    // rule cyc-collect: the classes on cycles the collector frees are counted.
    let mut cyclic: HashSet<Key> = HashSet::new();
    // Each cycle once: the first store that closes it gives the reason.
    let mut seen_components: HashSet<(usize, usize)> = HashSet::new();
    for store in cycles.stores.iter().filter(|s| !s.grouped) {
        let new_components =
            store.components.iter().filter(|&&c| seen_components.insert((store.function, c))).count();
        if new_components == 0 {
            continue;
        }
        let f = &program.functions[store.function];
        let span = f.inst(store.at).map_or(ir::Span::NONE, |i| i.span);
        let why = Witness::Fact(format!(
            "on a reference cycle closed at {} (through {}): freed by the cycle collector",
            pos(span),
            store.fields.join(", ")
        ));
        for o in cycles.store_members(store) {
            for k in classes.object_classes(store.function, o) {
                cyclic.insert(k);
                shared.entry(k).or_insert_with(|| why.clone());
            }
        }
    }
    // A cycle handed to a thread is released by the thread's code, whose parameters'
    // classes are the thread's (rule cyc-collect).
    if !cyclic.is_empty() {
        let mut to_thread = false;
        for (fi, f) in program.functions.iter().enumerate() {
            for (_, inst) in f.insts() {
                if let InstKind::Spawn { args, .. } = &inst.kind {
                    for a in args {
                        to_thread |=
                            place_classes(classes, fi, Place::Local(*a)).iter().any(|k| cyclic.contains(k));
                    }
                }
            }
        }
        if to_thread {
            cyclic.insert(thread);
        }
    }
    // Threaded classes.
    let mut threaded: HashSet<Key> = HashSet::from([thread]);
    if spawns {
        threaded.insert(unknown);
        for g in classes.globals.values().copied().collect::<Vec<_>>() {
            threaded.insert(classes.find(g));
        }
    }
    let all_keys: Vec<((usize, u32), Key)> =
        classes.keys.iter().map(|((f, o, _), k)| ((*f, *o), *k)).collect();
    for ((fi, o), k) in all_keys {
        let e = escape.functions.get(fi).map_or(Escape::Contained, |fe| fe.verdicts.escape(o));
        if e == Escape::Thread || (spawns && e >= Escape::Uncontained) {
            threaded.insert(classes.find(k));
        }
    }
    // Copy-on-write of a shared array gives its elements a second reference; a field taken
    // from a dying object that turns out to be counted is copied instead (rule
    // life-take-dying), which shares the field's class. Both only add shared classes, so
    // this settles.
    let counted_place = |c: &mut Classes, shared: &HashMap<Key, Witness>, fi: usize, place: Place| {
        place_classes(c, fi, place).iter().any(|k| shared.contains_key(k) || threaded.contains(k))
    };
    loop {
        let mut changed = false;
        for (fi, fo) in ops.iter().enumerate() {
            let f = &program.functions[fi];
            for op in &fo.ops {
                let (shares, why) = match (op.action, op.place) {
                    (Action::Cow { .. }, Place::Local(a)) => {
                        if !place_classes(classes, fi, op.place).iter().any(|k| shared.contains_key(k)) {
                            continue;
                        }
                        (
                            Place::Elem(a, a),
                            Witness::Fact("an element of an array that copy-on-write may copy".to_string()),
                        )
                    }
                    // rule place-struct-counted: one release applies to every reference a
                    // struct value holds, with one operation (a `drop` does nothing to an
                    // uncounted object), so where one of them is counted all of them are.
                    (Action::Release, place) => {
                        let cls = place_classes(classes, fi, place);
                        let Some(counted) =
                            cls.iter().find(|k| shared.contains_key(k) || threaded.contains(k))
                        else {
                            continue;
                        };
                        if cls.iter().all(|k| shared.contains_key(k) || threaded.contains(k)) {
                            continue;
                        }
                        let other = match shared.get(counted) {
                            Some(Witness::Dup { name, pos, .. }) => {
                                format!("{name} gains a second reference at {pos}")
                            }
                            Some(Witness::Fact(t)) => t.clone(),
                            None => "reachable from another thread".to_string(),
                        };
                        let span = f.inst(op.at).map_or(ir::Span::NONE, |i| i.span);
                        let name = match place {
                            Place::Local(l) | Place::Field(l, _) | Place::Elem(l, _) => {
                                crate::plan::local_name(f, l)
                            }
                            Place::Global(g) => {
                                program.globals.get(g.index()).map_or_else(String::new, |g| g.name.clone())
                            }
                        };
                        let why = Witness::Fact(format!(
                            "released at {} by one operation with counted memory in the same struct value `{name}` ({other})",
                            pos(span),
                        ));
                        for k in cls {
                            if !shared.contains_key(&k) && !threaded.contains(&k) {
                                shared.insert(k, why.clone());
                                changed = true;
                            }
                        }
                        continue;
                    }
                    (Action::Take { loaded }, Place::Field(object, _)) => {
                        if !counted_place(classes, &shared, fi, Place::Local(object)) {
                            continue;
                        }
                        let span = f.inst(op.at).map_or(ir::Span::NONE, |i| i.span);
                        let name = crate::plan::local_name(f, loaded);
                        let of = crate::plan::local_name(f, object);
                        (
                            Place::Local(loaded),
                            Witness::Dup { name, pos: pos(span), why: format!("{of} may be shared") },
                        )
                    }
                    _ => continue,
                };
                for k in place_classes(classes, fi, shares) {
                    if let std::collections::hash_map::Entry::Vacant(e) = shared.entry(k) {
                        e.insert(why.clone());
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
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
    let arena_ok = arena_contents(program, escape, classes, arenas, &shared, &threaded, &held);
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
    // Which operations act on counted memory.
    let mut counted = Vec::new();
    for (fi, fo) in ops.iter().enumerate() {
        let mut v = Vec::with_capacity(fo.ops.len());
        for op in &fo.ops {
            // A take is "counted" when the object it takes from is: then it copies.
            let place = match (op.action, op.place) {
                (Action::Take { .. }, Place::Field(object, _)) => Place::Local(object),
                _ => op.place,
            };
            v.push(counted_place(classes, &shared, fi, place));
        }
        counted.push(v);
    }
    let mut cow_witness = Vec::with_capacity(ops.len());
    for (fi, fo) in ops.iter().enumerate() {
        let mut m = HashMap::new();
        for (k, op) in fo.ops.iter().enumerate() {
            if let Action::Cow { .. } = op.action {
                let cls = place_classes(classes, fi, op.place);
                if let Some(w) = cls.iter().find_map(|c| shared.get(c)) {
                    m.insert(k, w.clone());
                }
            }
        }
        cow_witness.push(m);
    }
    let mut collect = Vec::with_capacity(ops.len());
    for (fi, fo) in ops.iter().enumerate() {
        let v: Vec<bool> = fo
            .ops
            .iter()
            .map(|op| {
                matches!(op.action, Action::Release)
                    && !cyclic.is_empty()
                    && place_classes(classes, fi, op.place).iter().any(|k| cyclic.contains(k))
            })
            .collect();
        collect.push(v);
    }
    // Classes whose every object is an arena object: counting them does nothing.
    // (some object is an arena allocation, every object is one or stands for one)
    let spawned_fns = super::ownership::spawned(program);
    let mut arena_class: HashMap<Key, (bool, bool)> = HashMap::new();
    let keys: Vec<((usize, u32), Key)> = classes.keys.iter().map(|((f, o, _), k)| ((*f, *o), *k)).collect();
    for ((fi, o), k) in keys {
        let r = classes.find(k);
        let (site, ok) = match escape.functions[fi].graph.objs.item(o) {
            Obj::Alloc(at) => {
                let a = placements[fi].get(at).is_some_and(|(p, _)| *p == Placement::Arena);
                (a, a)
            }
            // A parameter's objects are its callers' arguments, unified with this class,
            // except where the callers cannot be seen (a thread, a closure's caller).
            Obj::Param(..) | Obj::ParamCopy(_) => {
                let f = &program.functions[fi];
                (false, !spawned_fns.contains(&fi) && !matches!(f.kind, ir::FunctionKind::Closure { .. }))
            }
            // A call's result is the callee's allocations, unified with this class.
            Obj::CallResult(_) | Obj::Copy(_) => (false, true),
            Obj::Global(_) | Obj::Unknown => (false, false),
        };
        let e = arena_class.entry(r).or_insert((false, true));
        e.0 |= site;
        e.1 &= ok;
    }
    for k in [unknown, thread] {
        arena_class.insert(classes.find(k), (false, false));
    }
    // Classes with an arena object among their objects, and those with nothing else.
    let arena_some: HashSet<Key> =
        arena_class.iter().filter(|(_, (site, _))| *site).map(|(k, _)| *k).collect();
    let arena_only: HashMap<Key, bool> =
        arena_class.into_iter().map(|(k, (site, ok))| (k, site && ok)).collect();
    let mut arena_noop = Vec::with_capacity(ops.len());
    for (fi, fo) in ops.iter().enumerate() {
        let f = &program.functions[fi];
        let v: Vec<bool> = fo
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let is_counted = counted[fi].get(i).copied().unwrap_or(true);
                // rule arena-contents: counting an arena object does nothing; neither does
                // freeing one that holds nothing to release and runs no `drop` block (its
                // memory goes with the arena): a string, an array of numbers.
                let applies = match op.action {
                    // A write's uniqueness check reads a counter that arena objects do not
                    // keep: marked here, when the array may be one (its class has an arena
                    // object among others), so that the write copies (see `plan_lifetimes`).
                    Action::Cow { .. } => {
                        return is_counted
                            && place_classes(classes, fi, op.place).iter().any(|k| arena_some.contains(k));
                    }
                    Action::Dup | Action::DupCount(_) | Action::Move => is_counted,
                    Action::Release => {
                        is_counted
                            || place_type(program, f, op.place).is_some_and(|t| holds_nothing(program, &t))
                    }
                    _ => false,
                };
                if !applies {
                    return false;
                }
                let cls = place_classes(classes, fi, op.place);
                !cls.is_empty() && cls.iter().all(|k| arena_only.get(k).copied().unwrap_or(false))
            })
            .collect();
        arena_noop.push(v);
    }
    Decisions { placements, counted, cow_witness, collect, arena_scopes, arena_noop }
}

/// The type of the value at an operation's place.
fn place_type(program: &ir::Program, f: &ir::Function, place: Place) -> Option<ir::Type> {
    match place {
        Place::Local(l) => f.get_local(l).map(|d| d.ty.non_null().clone()),
        Place::Field(l, n) => {
            f.get_local(l).and_then(|d| program.field(&d.ty, n)).map(|fd| fd.ty.non_null().clone())
        }
        Place::Elem(l, _) => f.get_local(l).and_then(|d| d.ty.array_elem()).map(|t| t.non_null().clone()),
        Place::Global(_) => None,
    }
}

/// Whether destroying an object of type `ty` releases nothing and runs no `drop` block.
fn holds_nothing(program: &ir::Program, ty: &ir::Type) -> bool {
    let no_refs = |t: &ir::Type| !crate::plan::type_holds_references(program, t);
    match ty.non_null() {
        ir::Type::String => true,
        ir::Type::Array(elem) => no_refs(elem),
        ir::Type::Class(c) => program
            .classes
            .get(c.index())
            .is_some_and(|class| class.drop.is_none() && class.fields.iter().all(|fd| no_refs(&fd.ty))),
        _ => false,
    }
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
                let parts: Vec<Key> =
                    classes.fields.get(&root).map(|m| m.values().copied().collect()).unwrap_or_default();
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
    for scc in petgraph::algo::tarjan_scc(&g) {
        if scc.len() > 1 {
            for node in scc {
                out[node.index()] = true;
            }
        }
    }
    out
}
