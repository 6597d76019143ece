//! Which alias classes are *shared*, so counted, and why: the first pass over the classes
//! once [`super::classes`] has built them.
//!
//! A class is shared when an operation of the plan adds a reference to one of its objects
//! (a `dup`, the repeated element of `[v; n]`), when unknown code or another thread sees
//! it, when the cycle collector frees it, and, to a fixpoint, when copy-on-write of a
//! shared array may copy its elements, when a field taken from a dying object turns out to
//! be counted (rule life-take-dying copies it instead), and when one release of a struct
//! value covers it together with a counted reference (rule place-struct-counted). A class
//! is *threaded* when another thread may see it (counted atomically, rule place-counted)
//! and *cyclic* when the collector frees it (rule cyc-collect).
//!
//! Each shared class keeps its [`Witness`]: the reason a placement or a copy-on-write
//! check prints.

use super::Stage;
use super::classes::{Classes, Key};
use super::ops::{Action, Place};
use custody_ir as ir;
use custody_ir::InstKind;
use custody_ir::plan::Escape;
use std::collections::{HashMap, HashSet};

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

/// The classes that are counted, and why.
pub(crate) struct Sharing {
    /// Shared classes, each with the first operation or fact that shared it.
    pub(crate) shared: HashMap<Key, Witness>,
    /// Classes another thread may see.
    pub(crate) threaded: HashSet<Key>,
    /// Classes on cycles the collector frees (rule cyc-collect).
    pub(crate) cyclic: HashSet<Key>,
}

/// Marks sharing from the planned operations, the cycles the collector frees and what
/// other threads and unknown code see.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    stage: &Stage<'_>,
    classes: &mut Classes,
    spawns: bool,
    cycles: &super::cycles::CycleFacts,
    pos: &dyn Fn(ir::Span) -> String,
) -> Sharing {
    let Stage { program, escape, objects, ops } = *stage;
    let place_classes =
        |c: &mut Classes, fi: usize, place: Place| c.of_place(program, escape, objects, fi, place);
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
    Sharing { shared, threaded, cyclic }
}
