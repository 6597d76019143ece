//! Alias classes: which abstract objects may be one run-time object (rule place-typed).
//!
//! Every abstract object of every function's escape analysis is a key in one union-find
//! table (ena). Keys are unified, Steensgaard-style, wherever the same run-time object can
//! appear under two names, and wherever one name can hold either of two objects (an
//! operation on a local is one `drop` or one `free`, whichever object it holds): an
//! argument and the callee's parameter, a call's result and the callee's returned objects,
//! a global and everything stored into it, unknown code and everything it sees; two
//! classes that are unified have their fields unified too, so each class knows the class
//! of its `.f` and of its elements. [`Classes::of_place`] gives the classes an operation's
//! place may hold. Which classes are counted is decided next ([`super::sharing`]), then
//! placements ([`super::placement`]) and operation kinds ([`super::op_kinds`]).

use super::ops::Place;
use crate::escape::ProgramEscape;
use crate::escape::graph::{Node, Obj, Sel, Sink};
use custody_ir as ir;
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
    pub(crate) keys: HashMap<(usize, u32, ir::Type), Key>,
    /// The keys of each (function, abstract object), over all its types.
    by_object: HashMap<(usize, u32), Vec<Key>>,
    /// Objects whose every key is one class (unknown code's, a thread's).
    forced: HashMap<(usize, u32), Key>,
    /// Keys created and not yet given their field structure.
    pending: Vec<(usize, u32, ir::Type, Key)>,
    /// What unknown code sees.
    pub(crate) unknown: Key,
    /// What other threads see.
    pub(crate) thread: Key,
    /// Per (global, type): the global's contents.
    pub(crate) globals: HashMap<(u32, ir::Type), Key>,
}

impl Classes {
    /// The classes an operation's place may hold: the place's own class, or, for a struct
    /// value, the classes of the references inside it (at any depth).
    pub(crate) fn of_place(
        &mut self,
        program: &ir::Program,
        escape: &ProgramEscape,
        objects: &[Vec<Vec<u32>>],
        fi: usize,
        place: Place,
    ) -> Vec<Key> {
        // Every object of a local is in one class at the local's type (unified in `build`,
        // and the passes after it unify nothing), so the local's first object stands for all of
        // them: looking at each would cost the local's object count per operation, which
        // is quadratic for a local reassigned throughout a long function.
        let objs = |l: LocalId| objects[fi].get(l.index()).and_then(|os| os.first()).copied();
        let mut out = Vec::new();
        match place {
            Place::Local(l) => {
                let ty = local_ty(program, fi, l);
                if let Some(o) = objs(l) {
                    let k = self.key(escape, fi, o, &ty);
                    if matches!(ty, ir::Type::Struct(_)) {
                        // A struct's references are in its fields.
                        struct_contents(program, self, k, Some(&ty), &mut out, 0);
                    } else {
                        out.push(self.find(k));
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
                    let k = self.key(escape, fi, o, &ty);
                    let t = self.target(k, sel);
                    match &part {
                        Some(pty) if matches!(pty.non_null(), ir::Type::Struct(_)) => {
                            struct_contents(program, self, t, Some(pty.non_null()), &mut out, 0)
                        }
                        _ => out.push(self.find(t)),
                    }
                }
            }
            Place::Global(g) => {
                if let Some(gdef) = program.globals.get(g.index()) {
                    let k = self.global_key(g.0, &gdef.ty);
                    out.push(self.find(k));
                }
            }
        }
        out.sort_by_key(|k| k.0);
        out.dedup();
        out
    }

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
    pub(crate) fn key(&mut self, escape: &ProgramEscape, f: usize, obj: u32, ty: &ir::Type) -> Key {
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

    /// The classes of the parts of the class `root` (its fields, elements, captures).
    pub(crate) fn parts(&self, root: Key) -> Vec<Key> {
        self.fields.get(&root).map(|m| m.values().copied().collect()).unwrap_or_default()
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

pub(crate) fn local_ty(program: &ir::Program, f: usize, l: LocalId) -> ir::Type {
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
