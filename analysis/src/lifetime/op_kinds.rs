//! What each planned operation becomes once the classes are known: a release is a `drop`
//! on a counted class and a `free` on any other (a `collect_cycles` on a class the
//! collector frees, rule cyc-collect), a count on an uncounted class is left out, a take
//! from a counted object copies (rule life-take-dying), and an array write is a check, a
//! copy or in place (rules cow-check, cow-copy, cow-in-place; arena-contents for arena
//! objects, which keep no counter).

use super::Stage;
use super::classes::{Classes, Key};
use super::ops::{Action, FunctionOps, Place};
use super::placement::Placements;
use super::sharing::{Sharing, Witness};
use crate::escape::ProgramEscape;
use crate::escape::graph::Obj;
use crate::plan::SpanMap;
use custody_ir as ir;
use custody_ir::plan::{Op, OpKind, Placement};
use custody_ir::{InstAddr, LocalId};
use std::collections::{HashMap, HashSet};

/// Per function, per planned operation: what the classes decide about it.
pub(crate) struct OpKinds {
    /// Whether its value may be counted memory (for a release: `drop` rather than `free`;
    /// for a cow: a check rather than in place).
    pub(crate) counted: Vec<Vec<bool>>,
    /// For a copy-on-write on a shared class: why it is shared.
    pub(crate) cow_witness: Vec<HashMap<usize, Witness>>,
    /// Whether a release may let go of an object on a cycle the collector frees (rule
    /// cyc-collect: `collect_cycles` instead of `drop`).
    pub(crate) collect: Vec<Vec<bool>>,
    /// A count, release or move that can only apply to arena objects of counted classes,
    /// where it does nothing (left out of the plan); for a copy-on-write, that the array
    /// may be an arena object of a counted class, which keeps no counter to check (the
    /// write then copies).
    pub(crate) arena_noop: Vec<Vec<bool>>,
}

/// Classifies every planned operation.
pub(crate) fn decide(
    stage: &Stage<'_>,
    classes: &mut Classes,
    sharing: &Sharing,
    placed: &Placements,
) -> OpKinds {
    let Stage { program, escape, objects, ops } = *stage;
    let place_classes =
        |c: &mut Classes, fi: usize, place: Place| c.of_place(program, escape, objects, fi, place);
    let (shared, threaded, cyclic) = (&sharing.shared, &sharing.threaded, &sharing.cyclic);
    let placements = &placed.placements;
    let unknown = classes.find(classes.unknown);
    let thread = classes.find(classes.thread);
    let counted_place = |c: &mut Classes, shared: &HashMap<Key, Witness>, fi: usize, place: Place| {
        place_classes(c, fi, place).iter().any(|k| shared.contains_key(k) || threaded.contains(k))
    };
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
            v.push(counted_place(classes, shared, fi, place));
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
    // Classes with an arena object among their objects (unknown code's and a thread's
    // too: what they see may still have been placed in an arena), and those with nothing
    // else (never unknown code's or a thread's, whose objects nobody here can list).
    let arena_some: HashSet<Key> =
        arena_class.iter().filter(|(_, (site, _))| *site).map(|(k, _)| *k).collect();
    for k in [unknown, thread] {
        arena_class.insert(classes.find(k), (false, false));
    }
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
                    // object among others), so that the write copies (see `plan_ops`).
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
    OpKinds { counted, cow_witness, collect, arena_noop }
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

/// The plan's operations of function `fi`, from its planned operations `fo` and what the
/// classes decided about each, paired with the planned operation's index (to keep the
/// planned order among operations at one instruction).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_ops(
    program: &ir::Program,
    escape: &ProgramEscape,
    objects: &[Vec<Vec<u32>>],
    fi: usize,
    fo: &FunctionOps,
    decisions: &OpKinds,
    spans: &SpanMap<'_>,
    alloc_ids: &HashMap<InstAddr, String>,
) -> Vec<(usize, Op)> {
    let f = &program.functions[fi];
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
                format!("loaded into an owned local; {} may be shared", crate::plan::local_name(f, object)),
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
                op.alloc = single_site(escape, objects, fi, l, alloc_ids);
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
                op.reason = Some("written just before, nothing shared it since: one reference".to_string())
            }
            (OpKind::CowInPlace, _) => op.reason = Some("one owner: written in place".to_string()),
            _ => {}
        }
        ops.push((k, op));
    }
    ops
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
