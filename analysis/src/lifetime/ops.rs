//! The operations of one function: where each owned reference is counted, handed over or
//! released, on every path (rules life-*).
//!
//! The input is the ownership of every local ([`super::ownership`]); the output is a list
//! of operations before and after instructions, still without their final kind (a
//! release becomes `drop` on counted memory and `free` on unique memory once placements
//! are known, [`super::classes`]).
//!
//! - rule life-consume: an instruction that hands a reference over (a store, an argument to
//!   an owned parameter, a returned value, a captured value, an element of a new array)
//!   *moves* it when the local is owned and dead afterwards, and *dups* it otherwise.
//! - rule life-load: a load into an owned local dups the loaded reference; into a
//!   borrowed local it does nothing.
//! - rule life-take-dying: where an owned object dies at a read of one of its fields that
//!   is handed on (loaded into an owned local, or a borrowed `d = o.f` handed over), the
//!   field's reference moves out and the object is freed without it, instead of a dup of
//!   the field and a release inside the free (Perceus's drop specialisation). Whether the
//!   object is really unique is known only from the classes: on a counted one the take
//!   becomes a dup.
//! - rule life-last-use: an owned local is released just after its last use, and a value
//!   written to an owned local that is never read is released at once (a temporary such as
//!   the middle of `a + b + c` dies right after the second `+`).
//! - rule life-branch: where a value is live on one side of a branch only, the other side
//!   releases it on entry (as Perceus does); where such an edge enters a join, the value
//!   stays alive to the join and is released there, so that every path releases it once.
//! - rule life-assigned: a release where the local cannot hold a value (before its first
//!   assignment, after `free(x)` or its scope's exit) is not written.
//! - rule life-store: a store releases the value the place held, before the store and after
//!   the stored value is secured (dup'd or moved).
//! - rule life-free: `free(x)` releases `x`'s reference there if `x` owns one.
//! - rule life-observable: an owned local that may hold an object with an observable
//!   destructor is released at its scope's exit, in reverse declaration order, or just
//!   before it is assigned again, never earlier.
//! - rule life-observable-handover: except where it was handed, at its only read, to a
//!   holder that outlives that exit (a new object, array or closure made from a
//!   temporary; a value returned with only scope exits in between): then it moves.

use super::liveness::{Liveness, LocalSet, Transfer};
use super::ownership::{LocalModes, consumed, holds, kills, written_through};
use custody_ir as ir;
use custody_ir::plan::When;
use custody_ir::{FunctionId, GlobalId, InstAddr, InstKind, LocalId, Mode};
use std::collections::HashMap;

/// What an operation does, before placements decide the final kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The value gains a reference.
    Dup,
    /// The value gains as many references as the int in this local.
    DupCount(LocalId),
    /// The reference is handed over without counting.
    Move,
    /// The reference is released (a `drop` or a `free`).
    Release,
    /// The field's reference moves into the loaded local, because the object dies here
    /// (rule life-take-dying); a `dup` of the loaded value instead if the object turns out
    /// to be counted (then someone else may still read the field).
    Take { loaded: LocalId },
    /// A write to the array follows (copy-on-write); `shared_with` names a local proven to
    /// hold the same array, with its own reference, when the write happens (rule cow-copy).
    /// `just_written` says the same array was written (so made unique) earlier in the
    /// block with nothing since that could share it (rule cow-after-write).
    Cow { shared_with: Option<LocalId>, just_written: bool },
}

/// What an operation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    Local(LocalId),
    Field(LocalId, u32),
    Elem(LocalId, LocalId),
    Global(GlobalId),
}

/// One planned operation.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) action: Action,
    pub(crate) place: Place,
    pub(crate) at: InstAddr,
    pub(crate) when: When,
    pub(crate) reason: String,
}

/// The operations and last uses of one function.
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionOps {
    pub(crate) ops: Vec<Planned>,
    /// For each local, the instructions where its value is used for the last time.
    pub(crate) last_uses: HashMap<LocalId, Vec<InstAddr>>,
}

/// Everything the emission of one function needs to know, with each local's ownership
/// and observability decided once.
pub(crate) struct Context<'a> {
    pub(crate) program: &'a ir::Program,
    pub(crate) f: &'a ir::Function,
    pub(crate) modes: &'a LocalModes,
    pub(crate) param_modes: &'a [Vec<Mode>],
    pub(crate) scope_locals: &'a HashMap<ir::ScopeId, Vec<LocalId>>,
    /// Per local: holds an owned reference (when it holds one at all).
    owned: Vec<bool>,
    /// Per local: may hold an object with an observable destructor.
    observable: &'a [bool],
    /// Scope exits at which an observable local is not kept alive, because its value was
    /// handed on to something that outlives the exit (rule life-observable-handover).
    handed_on: std::collections::HashSet<(InstAddr, LocalId)>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        program: &'a ir::Program,
        fid: usize,
        modes: &'a LocalModes,
        param_modes: &'a [Vec<Mode>],
        observable: &'a [bool],
        scope_locals: &'a HashMap<ir::ScopeId, Vec<LocalId>>,
    ) -> Context<'a> {
        let f = &program.functions[fid];
        let mut owned: Vec<bool> = f
            .locals
            .iter()
            .enumerate()
            .map(|(l, decl)| {
                crate::plan::holds_references(&decl.ty)
                    && !modes.borrowed.get(l).copied().unwrap_or(false)
                    && !matches!(decl.kind, ir::LocalKind::Capture | ir::LocalKind::Param)
            })
            .collect();
        for (j, p) in f.params.iter().enumerate() {
            if let Some(slot) = owned.get_mut(p.index()) {
                *slot = holds(f, *p)
                    && !modes.borrowed.get(p.index()).copied().unwrap_or(false)
                    && param_modes.get(fid).and_then(|m| m.get(j)) == Some(&Mode::Own);
            }
        }
        let handed_on = observable_handovers(f, scope_locals, observable);
        Context { program, f, modes, param_modes, scope_locals, owned, observable, handed_on }
    }

    fn borrowed(&self, l: LocalId) -> bool {
        self.modes.borrowed.get(l.index()).copied().unwrap_or(false)
    }

    /// Whether the local holds an owned reference (when it holds one at all).
    pub(crate) fn owned(&self, l: LocalId) -> bool {
        self.owned.get(l.index()).copied().unwrap_or(false)
    }

    fn observable(&self, l: LocalId) -> bool {
        self.observable.get(l.index()).copied().unwrap_or(false)
    }

    fn mode_of(&self, c: FunctionId, j: usize) -> Mode {
        self.param_modes.get(c.index()).and_then(|m| m.get(j)).copied().unwrap_or(Mode::Own)
    }

    fn name(&self, l: LocalId) -> String {
        crate::plan::local_name(self.f, l)
    }
}

/// The reads of the final liveness: the program's, plus the roots of every borrowed local
/// read (rule own-root-alive), plus observable owned locals at their scope's exit and
/// before a new assignment (rule life-observable).
struct FinalTransfer<'a, 'b> {
    cx: &'a Context<'b>,
    defs: Vec<super::ownership::Definitions>,
}

impl Transfer for FinalTransfer<'_, '_> {
    fn uses(&self, at: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        let cx = self.cx;
        for u in inst.kind.uses() {
            out.push(u);
            if let Some(roots) = cx.modes.roots.get(&u) {
                out.extend(roots.iter().copied());
            }
        }
        match &inst.kind {
            InstKind::ScopeExit { scope } => {
                for &l in cx.scope_locals.get(scope).into_iter().flatten() {
                    if cx.owned(l) && cx.observable(l) && !cx.handed_on.contains(&(at, l)) {
                        out.push(l);
                    }
                }
            }
            kind => {
                // A new assignment: a second definition, or any of a parameter (whose
                // first value is the argument).
                if let Some(d) = kind.dest()
                    && cx.owned(d)
                    && cx.observable(d)
                    && (self.defs.get(d.index()).is_some_and(|d| d.count > 1) || cx.f.params.contains(&d))
                {
                    out.push(d);
                }
            }
        }
    }

    fn kills(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        kills(self.cx.f, self.cx.scope_locals, &inst.kind, out);
    }
}

/// Rule life-observable-handover: the scope exits at which an observable value need not be
/// kept alive, because it was handed, at its only read, to something that holds it at
/// least as long:
/// - a temporary read once, as a field or element of a new object, struct, array or
///   closure, or as the returned value: the holder (itself observable, so kept to its own
///   scope's exit, which is the temporary's or an outer one) or the caller now controls it;
/// - a local copied into a temporary that the function then returns, with only scope
///   exits between the copy and the `return`: the caller controls it.
///
/// Moving instead of counting changes no destructor's timing: the object could not die at
/// those exits anyway, since the holder still held it.
fn observable_handovers(
    f: &ir::Function,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
    observable: &[bool],
) -> std::collections::HashSet<(InstAddr, LocalId)> {
    let mut out = std::collections::HashSet::new();
    if !observable.iter().any(|o| *o) {
        return out;
    }
    let mut reads = vec![0u32; f.locals.len()];
    let defs = super::ownership::definitions(f);
    for (_, inst) in f.insts() {
        for u in inst.kind.uses() {
            if let Some(r) = reads.get_mut(u.index()) {
                *r += 1;
            }
        }
    }
    let is_temp = |l: LocalId| f.get_local(l).is_some_and(|d| d.kind == ir::LocalKind::Temp);
    let obs = |l: LocalId| observable.get(l.index()).copied().unwrap_or(false);
    // The scope that declares each local.
    let mut scope_of: HashMap<LocalId, ir::ScopeId> = HashMap::new();
    for (scope, locals) in scope_locals {
        for &l in locals {
            scope_of.insert(l, *scope);
        }
    }
    // A temporary a literal takes (spec/language.md 7.3, the one definition both plans
    // follow).
    let mut handed: Vec<LocalId> =
        crate::plan::literal_temporaries(f).into_iter().filter(|&t| obs(t)).collect();
    handed.sort_unstable();
    for (b, block) in f.blocks.iter().enumerate() {
        for (i, inst) in block.insts.iter().enumerate() {
            match &inst.kind {
                InstKind::Return { value: Some(v) }
                    if is_temp(*v) && obs(*v) && reads[v.index()] == 1 && defs[v.index()].count == 1 =>
                {
                    handed.push(*v);
                }
                InstKind::Copy { dest, src } if obs(*src) && is_temp(*dest) => {
                    // `%t = copy x; scope_exit…; return %t`.
                    let rest = &block.insts[i + 1..];
                    let returns = rest
                        .last()
                        .is_some_and(|r| matches!(r.kind, InstKind::Return { value: Some(v) } if v == *dest))
                        && rest[..rest.len() - 1]
                            .iter()
                            .all(|r| matches!(r.kind, InstKind::ScopeExit { .. }));
                    if returns {
                        for (j, r) in rest.iter().enumerate() {
                            if matches!(r.kind, InstKind::ScopeExit { .. }) {
                                let at = InstAddr { block: ir::BlockId(b as u32), index: (i + 1 + j) as u32 };
                                out.insert((at, *src));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // A handed temporary skips the observable extension at its own scope's exits (grouped
    // by scope, so each exit looks only at its own temporaries).
    let mut handed_in: HashMap<ir::ScopeId, Vec<LocalId>> = HashMap::new();
    for t in handed {
        if let Some(scope) = scope_of.get(&t) {
            handed_in.entry(*scope).or_default().push(t);
        }
    }
    if !handed_in.is_empty() {
        for (at, inst) in f.insts() {
            if let InstKind::ScopeExit { scope } = &inst.kind {
                for &t in handed_in.get(scope).into_iter().flatten() {
                    out.insert((at, t));
                }
            }
        }
    }
    out
}

/// Plans one function's operations.
pub(crate) fn plan_function(cx: &Context<'_>) -> FunctionOps {
    let f = cx.f;
    let n = f.locals.len();
    let transfer = FinalTransfer { cx, defs: super::ownership::definitions(f) };
    // rule life-branch: values live into one successor of a branch but not into a join
    // it shares with other paths stay alive into the join; iterate until every join sees
    // the same owned values from all its predecessors.
    let mut live = Liveness::new(f, &transfer);
    let mut entry_uses = vec![LocalSet::new(n); f.blocks.len()];
    loop {
        live.solve(f, &entry_uses);
        let mut changed = false;
        for (p, block) in f.blocks.iter().enumerate() {
            let Some(last) = block.insts.last() else { continue };
            let succs = last.kind.successors();
            if succs.len() < 2 {
                continue;
            }
            let Some(out) = live.block_out(p) else { continue };
            for s in succs {
                if live.preds.get(s.index()).is_none_or(|ps| ps.len() < 2) {
                    continue;
                }
                for x in out.iter() {
                    if cx.owned(x) && !live.live_in[s.index()].contains(x) {
                        changed |= entry_uses[s.index()].insert(x);
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    let mut out = FunctionOps::default();
    let push = |out: &mut FunctionOps, action, place, at, when, reason: String| {
        if matches!(action, Action::Move | Action::Release)
            && let Place::Local(l) = place
        {
            out.last_uses.entry(l).or_default().push(at);
        }
        out.ops.push(Planned { action, place, at, when, reason });
    };
    for (b, block) in f.blocks.iter().enumerate() {
        for (i, inst) in block.insts.iter().enumerate() {
            let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
            let live_out = live.out(at);
            let (uses, killed) = (live.uses(at), live.kills(at));
            let real_uses = inst.kind.uses();

            // rule life-branch: on entry to a block, release what its predecessors held
            // that it does not need.
            if i == 0 {
                let mut held = LocalSet::new(n);
                for &p in &live.preds[b] {
                    if let Some(last) = live.block_out(p) {
                        held.union(last);
                    }
                }
                if b == 0 {
                    for &p in &f.params {
                        held.insert(p);
                    }
                }
                let before0 = live.before(at);
                for x in held.iter() {
                    if cx.owned(x) && !before0.contains(x) {
                        let why = if b == 0 {
                            "never used".to_string()
                        } else {
                            "not used on this path".to_string()
                        };
                        push(&mut out, Action::Release, Place::Local(x), at, When::Before, why);
                    }
                }
            }

            // Values used and ended here: released before (a `free`, an observable local at
            // its scope's exit or before its next assignment). Scope exits release in
            // reverse declaration order.
            let ended: Vec<LocalId> = match &inst.kind {
                InstKind::ScopeExit { scope } => {
                    let mut used = LocalSet::new(n);
                    for &u in uses {
                        used.insert(u);
                    }
                    let declared = cx.scope_locals.get(scope).into_iter().flatten().rev();
                    declared.copied().filter(|&l| used.contains(l) && cx.owned(l)).collect()
                }
                _ => {
                    let mut v: Vec<LocalId> =
                        uses.iter().copied().filter(|u| killed.contains(u) && cx.owned(*u)).collect();
                    v.sort();
                    v.dedup();
                    v
                }
            };
            for x in ended {
                let why = match &inst.kind {
                    InstKind::Free { .. } => "freed by the program".to_string(),
                    InstKind::ScopeExit { .. } => "end of scope: observable destructor".to_string(),
                    _ => "assigned again".to_string(),
                };
                push(&mut out, Action::Release, Place::Local(x), at, When::Before, why);
            }

            // rule cow-check / cow-in-place (the kind is decided in op_kinds.rs): an array
            // write is preceded by its copy-on-write operation.
            if let Some(w) = written_through(f, &inst.kind)
                && matches!(
                    inst.kind,
                    InstKind::StoreElem { .. } | InstKind::Push { .. } | InstKind::Pop { .. }
                )
            {
                let shared_with = copied_from_live(f, b, i, w, &live_out);
                let just_written = shared_with.is_none() && written_just_before(f, b, i, w);
                push(
                    &mut out,
                    Action::Cow { shared_with, just_written },
                    Place::Local(w),
                    at,
                    When::Before,
                    String::new(),
                );
            }
            // rule life-consume.
            let borrowed = |l: LocalId| cx.borrowed(l);
            let mode = |c: FunctionId, j: usize| cx.mode_of(c, j);
            let handed = consumed(cx.program, f, &inst.kind, &borrowed, &mode);
            let mut moved: Vec<LocalId> = Vec::new();
            // The fields taken here: a field moves out of its object once (rule
            // life-take-dying); another local loaded from the same field is dup'd.
            let mut taken: Vec<(LocalId, u32)> = Vec::new();
            for (k, &x) in handed.iter().enumerate() {
                let again = handed[k + 1..].contains(&x);
                let read_too = real_uses.iter().filter(|u| **u == x).count()
                    > handed.iter().filter(|h| **h == x).count();
                let still_needed =
                    live_out.contains(x) || uses.iter().any(|u| *u == x && !real_uses.contains(u));
                // rule life-take-dying: a borrowed field `x = o.f` handed over where its
                // object dies moves out of the object.
                let dying_field = cx.modes.field_of.get(&x).copied().filter(|&(o, field)| {
                    cx.owned(o)
                        && !cx.observable(o)
                        && !live_out.contains(o)
                        && !live_out.contains(x)
                        && !real_uses.contains(&o)
                        && is_object(f, o)
                        && !taken.contains(&(o, field))
                });
                if cx.owned(x) && !again && !read_too && !still_needed {
                    moved.push(x);
                    push(&mut out, Action::Move, Place::Local(x), at, When::Before, "last use".into());
                } else if let Some((o, field)) = dying_field.filter(|_| !again && !read_too) {
                    taken.push((o, field));
                    push(
                        &mut out,
                        Action::Take { loaded: x },
                        Place::Field(o, field),
                        at,
                        When::Before,
                        format!("taken: {} dies here", cx.name(o)),
                    );
                } else {
                    let why = if !cx.owned(x) { "borrowed".to_string() } else { "used again".to_string() };
                    push(&mut out, Action::Dup, Place::Local(x), at, When::Before, why);
                }
            }
            if let InstKind::NewArrayRepeat { value, count, .. } = &inst.kind
                && holds(f, *value)
            {
                push(
                    &mut out,
                    Action::DupCount(*count),
                    Place::Local(*value),
                    at,
                    When::Before,
                    "one per element".into(),
                );
            }

            // rule life-store: the place's old value goes, after the stored value is secured
            // (dup'd or moved above): the two may be the same object (`a.s = b.s` with `b` a
            // copy of `a`), which releasing first would free before the dup.
            match &inst.kind {
                InstKind::StoreField { object, field, .. }
                    if !cx.modes.take_stores.contains(&at) && field_holds(cx.program, f, *object, *field) =>
                {
                    push(
                        &mut out,
                        Action::Release,
                        Place::Field(*object, *field),
                        at,
                        When::Before,
                        "overwritten".into(),
                    )
                }
                InstKind::StoreElem { array, index, .. }
                    if f.get_local(*array)
                        .and_then(|l| l.ty.array_elem())
                        .is_some_and(crate::plan::holds_references) =>
                {
                    push(
                        &mut out,
                        Action::Release,
                        Place::Elem(*array, *index),
                        at,
                        When::Before,
                        "overwritten".into(),
                    )
                }
                InstKind::StoreGlobal { global, .. }
                    if !cx.modes.take_stores.contains(&at)
                        && cx
                            .program
                            .globals
                            .get(global.index())
                            .is_some_and(|g| crate::plan::holds_references(&g.ty)) =>
                {
                    push(
                        &mut out,
                        Action::Release,
                        Place::Global(*global),
                        at,
                        When::Before,
                        "overwritten".into(),
                    )
                }
                _ => {}
            }

            // rule life-take-dying: the last use of an owned object is a load of one of its
            // fields into an owned local: the object dies right after, so the field's
            // reference can move out instead of being counted (Perceus's drop
            // specialisation). The object is then freed without that field.
            if let InstKind::LoadField { dest, object, field } = &inst.kind
                && cx.owned(*dest)
                && !cx.modes.take_loads.contains(&at)
                && dest != object
                && cx.owned(*object)
                && !cx.observable(*object)
                && !live_out.contains(*object)
                && is_object(f, *object)
            {
                push(
                    &mut out,
                    Action::Take { loaded: *dest },
                    Place::Field(*object, *field),
                    at,
                    When::After,
                    format!("taken: {} dies here", cx.name(*object)),
                );
            } else {
                // rule life-load.
                match &inst.kind {
                    InstKind::LoadField { dest, .. }
                    | InstKind::LoadElem { dest, .. }
                    | InstKind::LoadGlobal { dest, .. }
                        if cx.owned(*dest) && !cx.modes.take_loads.contains(&at) =>
                    {
                        push(
                            &mut out,
                            Action::Dup,
                            Place::Local(*dest),
                            at,
                            When::After,
                            "loaded into an owned local".into(),
                        )
                    }
                    _ => {}
                }
            }

            // rule life-last-use: owned values read here for the last time (also one that
            // was handed over here with a `dup`, because the instruction reads it again:
            // `f(n, n)`, `q.next = q`; the local still holds its own reference).
            let mut released: Vec<LocalId> = Vec::new();
            for &x in uses {
                if !cx.owned(x)
                    || killed.contains(&x)
                    || live_out.contains(x)
                    || moved.contains(&x)
                    || released.contains(&x)
                {
                    continue;
                }
                released.push(x);
                push(&mut out, Action::Release, Place::Local(x), at, When::After, "last use".into());
            }
            // A value written and never read.
            if let Some(d) = inst.kind.dest()
                && cx.owned(d)
                && !live_out.contains(d)
            {
                push(&mut out, Action::Release, Place::Local(d), at, When::After, "never used".into());
            }
        }
    }
    drop_unassigned_releases(cx, &mut out);
    out
}

/// Rule cow-copy: the array written through `w` at instruction `i` of block `b` is
/// certainly shared when, earlier in the same block, `w = copy s` gave it `s`'s array and
/// neither `w` nor `s` got a new value or was written through since, and `s` is still used
/// after the write: `s` holds its own reference then (the copy had to count, since `s` was
/// live), so the write must copy. The search looks back a bounded number of instructions
/// (beyond that the write is checked), so that it costs a constant per write.
fn copied_from_live(
    f: &ir::Function,
    b: usize,
    i: usize,
    w: LocalId,
    live_out: &LocalSet,
) -> Option<LocalId> {
    const LOOK_BACK: usize = 32;
    let insts = &f.blocks.get(b)?.insts;
    for j in (i.saturating_sub(LOOK_BACK)..i).rev() {
        let kind = &insts[j].kind;
        if let InstKind::Copy { dest, src } = kind
            && *dest == w
        {
            let untouched = insts[j + 1..i].iter().all(|later| {
                later.kind.dest() != Some(*src) && written_through(f, &later.kind) != Some(*src)
            });
            return (untouched && live_out.contains(*src) && *src != w).then_some(*src);
        }
        if kind.dest() == Some(w) || written_through(f, kind) == Some(w) {
            return None;
        }
    }
    None
}

/// Rule cow-after-write: after a write through `w`, `w`'s array has one reference (the
/// write checked, or copied); it stays so until `w` is read other than by a write or
/// `len`, or gets a new value. A later write in the same block with nothing like that in
/// between is in place. Bounded like [`copied_from_live`].
fn written_just_before(f: &ir::Function, b: usize, i: usize, w: LocalId) -> bool {
    const LOOK_BACK: usize = 32;
    let Some(block) = f.blocks.get(b) else { return false };
    for j in (i.saturating_sub(LOOK_BACK)..i).rev() {
        let kind = &block.insts[j].kind;
        if kind.dest() == Some(w) {
            return false;
        }
        let writes = matches!(
            kind,
            InstKind::StoreElem { array, .. } | InstKind::Push { array, .. } | InstKind::Pop { array, .. }
                if *array == w
        );
        if writes {
            // The write itself must not also hand `w` on (`push(w, w)`).
            return kind.uses().iter().filter(|u| **u == w).count() == 1;
        }
        let reads_only_len =
            matches!(kind, InstKind::Len { .. }) || matches!(kind, InstKind::LoadElem { .. });
        if kind.uses().contains(&w) && !reads_only_len {
            return false;
        }
        if matches!(kind, InstKind::Call { .. } | InstKind::Spawn { .. } | InstKind::ScopeExit { .. }) {
            return false;
        }
    }
    false
}

/// Rule life-assigned: a release of a local where it cannot hold a value (before its first
/// assignment, after `free` or its scope's exit ended it) releases nothing, and would
/// make a backend release an uninitialised slot: it goes. Walks the function forward once
/// with the ops, which are in instruction order.
fn drop_unassigned_releases(cx: &Context<'_>, out: &mut FunctionOps) {
    let f = cx.f;
    let entry = super::liveness::assigned_at_entry(f, cx.scope_locals);
    let mut keep = vec![true; out.ops.len()];
    let mut k = 0;
    for (b, block) in f.blocks.iter().enumerate() {
        let mut assigned = entry[b].clone();
        for (i, inst) in block.insts.iter().enumerate() {
            let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
            let first = k;
            while k < out.ops.len() && out.ops[k].at == at {
                k += 1;
            }
            let ops = first..k;
            for j in ops.clone() {
                let op = &out.ops[j];
                if op.when == When::Before
                    && op.action == Action::Release
                    && let Place::Local(x) = op.place
                {
                    keep[j] = assigned.contains(x);
                }
            }
            super::liveness::step_assigned(f, cx.scope_locals, &inst.kind, &mut assigned);
            for j in ops {
                let op = &out.ops[j];
                if op.when == When::After
                    && op.action == Action::Release
                    && let Place::Local(x) = op.place
                {
                    keep[j] = assigned.contains(x);
                }
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut k = 0;
    out.ops.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    out.last_uses.clear();
    for op in &out.ops {
        if matches!(op.action, Action::Move | Action::Release)
            && let Place::Local(l) = op.place
        {
            out.last_uses.entry(l).or_default().push(op.at);
        }
    }
}

/// Whether a local holds a class instance (not a struct value, an array or a string).
fn is_object(f: &ir::Function, l: LocalId) -> bool {
    f.get_local(l).is_some_and(|d| matches!(d.ty.non_null(), ir::Type::Class(_)))
}

/// Whether field `field` of the object or struct in `object` holds references.
pub(crate) fn field_holds(program: &ir::Program, f: &ir::Function, object: LocalId, field: u32) -> bool {
    f.get_local(object)
        .and_then(|l| program.field(&l.ty, field))
        .is_some_and(|fd| crate::plan::holds_references(&fd.ty))
}
