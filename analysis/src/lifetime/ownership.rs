//! Ownership: which locals own a reference and which only borrow one, which parameters a
//! function borrows, and which field loads take the field's reference instead of copying it.
//!
//! Every reference a local holds is either *owned* (the local holds one count of it and
//! must hand it on or release it) or *borrowed* (someone else keeps the object alive for
//! as long as the local is used, so the local never counts). Borrowing is what removes
//! most counter operations: a parameter that is only read, a cursor walking a list, a
//! field read to print it.
//!
//! - rule own-borrow-param (Lean 4's borrow inference): every parameter starts borrowed and
//!   becomes owned when the function consumes it (stores it, returns it, captures it,
//!   passes it to an owned parameter or a thread), writes through it (an array write needs
//!   the array's count) or assigns it; iterated to a fixpoint over the call graph, since
//!   passing a parameter on to a callee's owned parameter consumes it. A closure body's
//!   parameters and a spawned function's are owned (their callers cannot be seen); a
//!   `drop` block's `self` and a closure's captures are borrowed; declared modes are kept.
//! - rule own-take-param: a parameter is also owned when a field of it is handed over
//!   where it dies (so that rule life-take-dying can move the field out instead of
//!   counting it) and every caller can hand the argument over at that call: the caller's
//!   release moves into the callee, and the field's dup and drop disappear.
//! - rule own-borrow-local: a local all of whose definitions read a field, an element, a
//!   global or another local is borrowed when, over its whole live range, nothing can
//!   release what it reads: no store, no array write, no call of a function that might
//!   store (rule own-pure-call), and no new value for the locals it was read from (its
//!   *roots*). Its roots are then kept alive for as long as it is used (rule
//!   own-root-alive). In a program that spawns threads no local borrows from memory,
//!   since another thread may release it at any moment.
//! - rule own-take-field: `t = o.f; <writes to t>; o.f = t` (how `push(o.items, x)` and
//!   `o.items[i] = x` are lowered) moves the field's reference into `t` and back, when
//!   nothing in between reads a field or calls anything: no count, and the write can be in
//!   place.
//! - rule own-observable: a local that may hold an object with an observable destructor
//!   (its class or something it reaches has a `drop` block) stays alive to the end of its
//!   scope or its next assignment, so destructors run where the program says.

use super::liveness::{Liveness, LocalSet, Transfer};
use crate::plan::holds_references;
use custody_ir as ir;
use custody_ir::{Callee, FunctionId, InstAddr, InstKind, LocalId, Mode};
use std::collections::{HashMap, HashSet};

/// Whether values of each class can reach an object with a `drop` block.
pub(crate) fn observable_classes(program: &ir::Program) -> Vec<bool> {
    let n = program.classes.len();
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let mut obs: Vec<bool> = program.classes.iter().map(|c| c.drop.is_some()).collect();
    // Least fixpoint: a class is observable if a field's type reaches an observable one.
    loop {
        let mut changed = false;
        for c in 0..n {
            if obs[c] {
                continue;
            }
            if program.classes[c].fields.iter().any(|fd| type_observable(program, &obs, any_drop, &fd.ty, 0))
            {
                obs[c] = true;
                changed = true;
            }
        }
        if !changed {
            return obs;
        }
    }
}

/// Whether a value of `ty` may reach an object with a `drop` block.
pub(crate) fn type_observable(
    program: &ir::Program,
    classes: &[bool],
    any_drop: bool,
    ty: &ir::Type,
    depth: u32,
) -> bool {
    if depth > 32 {
        return any_drop;
    }
    match ty {
        ir::Type::Class(c) => classes.get(c.index()).copied().unwrap_or(true),
        ir::Type::Array(e) | ir::Type::Nullable(e) => {
            type_observable(program, classes, any_drop, e, depth + 1)
        }
        ir::Type::Struct(s) => program.structs.get(s.index()).is_some_and(|d| {
            d.fields.iter().any(|f| type_observable(program, classes, any_drop, &f.ty, depth + 1))
        }),
        // A closure's environment may hold anything.
        ir::Type::Closure(_) => any_drop,
        _ => false,
    }
}

/// Which functions never release memory their callers can see (rule own-pure-call), and
/// whether releasing an object may run a `drop` block that does (rule own-drop-impure).
pub(crate) struct Purity {
    pub(crate) pure: Vec<bool>,
    pub(crate) drops_impure: bool,
}

/// Rule own-pure-call: a function is impure if it stores a reference into an object's
/// field or a global, spawns, or calls something impure, a closure or an extern. Rule
/// own-drop-impure: when some `drop` block is impure, releasing an object that reaches one
/// runs impure code, so a function that may release such an object (it has a local that
/// may hold one) is impure too. Greatest fixpoint: assume pure, refute.
pub(crate) fn purity(program: &ir::Program, observable_classes: &[bool]) -> Purity {
    let n = program.functions.len();
    let mut pure = vec![true; n];
    let mut callees: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, f) in program.functions.iter().enumerate() {
        for (_, inst) in f.insts() {
            match &inst.kind {
                InstKind::StoreField { .. } if stores_reference(program, f, &inst.kind) => pure[i] = false,
                InstKind::StoreGlobal { .. } | InstKind::Spawn { .. } => pure[i] = false,
                InstKind::Call { callee: Callee::Function(c), .. } => callees[i].push(c.index()),
                InstKind::Call { .. } => pure[i] = false,
                _ => {}
            }
        }
    }
    let settle = |pure: &mut Vec<bool>| loop {
        let mut changed = false;
        for i in 0..n {
            if pure[i] && callees[i].iter().any(|&c| !pure.get(c).copied().unwrap_or(false)) {
                pure[i] = false;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    };
    settle(&mut pure);
    let drops_impure = program.classes.iter().filter_map(|c| c.drop).any(|d| !pure[d.index()]);
    if drops_impure {
        let any_drop = true;
        for (i, f) in program.functions.iter().enumerate() {
            let drop_self = match f.kind {
                ir::FunctionKind::Drop { .. } => f.params.first().copied(),
                _ => None,
            };
            if f.locals.iter().enumerate().any(|(l, d)| {
                Some(LocalId(l as u32)) != drop_self
                    && type_observable(program, observable_classes, any_drop, &d.ty, 0)
            }) {
                pure[i] = false;
            }
        }
        settle(&mut pure);
    }
    Purity { pure, drops_impure }
}

/// The functions that are spawned somewhere (their parameters are owned by the thread).
pub(crate) fn spawned(program: &ir::Program) -> HashSet<usize> {
    let mut out = HashSet::new();
    for f in &program.functions {
        for (_, inst) in f.insts() {
            if let InstKind::Spawn { callee: Callee::Function(c), .. } = &inst.kind {
                out.insert(c.index());
            }
        }
    }
    out
}

/// How a local is written: how many instructions write it, and how many of them are
/// `const`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Definitions {
    pub(crate) count: u32,
    pub(crate) consts: u32,
}

impl Definitions {
    /// Whether the local only ever holds a constant (it is written, always by `const`).
    pub(crate) fn constant(self) -> bool {
        self.count > 0 && self.count == self.consts
    }
}

/// Every local's [`Definitions`], in one pass.
pub(crate) fn definitions(f: &ir::Function) -> Vec<Definitions> {
    let mut out = vec![Definitions::default(); f.locals.len()];
    for (_, inst) in f.insts() {
        if let Some(d) = inst.kind.dest()
            && let Some(slot) = out.get_mut(d.index())
        {
            slot.count += 1;
            slot.consts += u32::from(matches!(inst.kind, InstKind::Const { .. }));
        }
    }
    out
}

/// Whether a local holds references.
pub(crate) fn holds(f: &ir::Function, l: LocalId) -> bool {
    f.get_local(l).is_some_and(|d| holds_references(&d.ty))
}

/// The locals an instruction hands over: after it, someone else holds the reference
/// (immediates left out). `borrowed` tells whether a local is borrowed (a copy into a
/// borrowed local hands nothing over); `modes` gives callees' parameter modes.
pub(crate) fn consumed(
    program: &ir::Program,
    f: &ir::Function,
    kind: &InstKind,
    borrowed: &dyn Fn(LocalId) -> bool,
    modes: &dyn Fn(FunctionId, usize) -> Mode,
) -> Vec<LocalId> {
    let mut out: Vec<LocalId> = match kind {
        InstKind::Copy { dest, src } if !borrowed(*dest) => vec![*src],
        InstKind::NewObject { fields, .. } | InstKind::NewStruct { fields, .. } => fields.clone(),
        InstKind::NewArray { elems, .. } => elems.clone(),
        InstKind::NewClosure { captures, .. } => captures.clone(),
        InstKind::StoreField { value, .. }
        | InstKind::StoreElem { value, .. }
        | InstKind::StoreGlobal { value, .. }
        | InstKind::Push { value, .. } => vec![*value],
        InstKind::Return { value: Some(v) } => vec![*v],
        InstKind::Call { callee: Callee::Function(c), args, .. } => {
            args.iter().enumerate().filter(|(j, _)| modes(*c, *j) == Mode::Own).map(|(_, a)| *a).collect()
        }
        InstKind::Call { callee: Callee::Extern(e), args, .. } => {
            let params = program.externs.get(e.index()).map(|e| e.params.as_slice()).unwrap_or(&[]);
            args.iter()
                .enumerate()
                .filter(|(j, _)| params.get(*j).is_none_or(|p| p.mode != Some(Mode::Borrow)))
                .map(|(_, a)| *a)
                .collect()
        }
        InstKind::Call { callee: Callee::Closure(_), args, .. } => args.clone(),
        InstKind::Spawn { callee, args } => {
            let mut v = args.clone();
            if let Callee::Closure(c) = callee {
                v.push(*c);
            }
            v
        }
        _ => vec![],
    };
    out.retain(|&l| holds(f, l));
    out
}

/// The array or struct local an instruction writes through, if any.
pub(crate) fn written_through(f: &ir::Function, kind: &InstKind) -> Option<LocalId> {
    match kind {
        InstKind::StoreElem { array, .. } | InstKind::Push { array, .. } | InstKind::Pop { array, .. } => {
            Some(*array)
        }
        InstKind::StoreField { object, .. }
            if f.get_local(*object).is_some_and(|l| matches!(l.ty.non_null(), ir::Type::Struct(_))) =>
        {
            Some(*object)
        }
        _ => None,
    }
}

/// The ownership facts of one function.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalModes {
    /// Per local: borrowed (never counted, never released by this function).
    pub(crate) borrowed: Vec<bool>,
    /// Per borrowed local: the owned locals and parameters that keep it alive.
    pub(crate) roots: HashMap<LocalId, Vec<LocalId>>,
    /// Field loads that take the field's reference (rule own-take-field), and the stores
    /// that put it back.
    pub(crate) take_loads: HashSet<InstAddr>,
    pub(crate) take_stores: HashSet<InstAddr>,
    /// Borrowed locals whose one definition is `d = o.f` with `o` not borrowed: `d` is
    /// `o`'s field `f` (rule life-take-dying can move it out where `o` dies).
    pub(crate) field_of: HashMap<LocalId, (LocalId, u32)>,
}

/// The reads and ends of the program as written (for the borrowed-local check).
pub(crate) struct PlainTransfer<'a> {
    pub(crate) f: &'a ir::Function,
    pub(crate) scope_locals: &'a HashMap<ir::ScopeId, Vec<LocalId>>,
}

impl Transfer for PlainTransfer<'_> {
    fn uses(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        out.extend(inst.kind.uses());
    }
    fn kills(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        kills(self.f, self.scope_locals, &inst.kind, out);
    }
}

/// The locals an instruction writes or ends: its destination and [`ir::Function::ended_by`].
pub(crate) fn kills(
    f: &ir::Function,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
    kind: &InstKind,
    out: &mut Vec<LocalId>,
) {
    out.extend(kind.dest());
    out.extend(f.ended_by(kind, scope_locals));
}

/// Whether a `StoreField` stores a reference into an object (a store into a struct value,
/// or of an int, releases nothing anyone else holds).
fn stores_reference(program: &ir::Program, f: &ir::Function, kind: &InstKind) -> bool {
    let InstKind::StoreField { object, field, .. } = kind else { return false };
    f.get_local(*object).is_some_and(|l| {
        !matches!(l.ty.non_null(), ir::Type::Struct(_))
            && program.field(&l.ty, *field).is_none_or(|fd| holds_references(&fd.ty))
    })
}

/// Whether an instruction may release something a borrowed local reads (rule
/// own-borrow-local): stores of references into objects, array writes, calls that are not
/// pure, and, when `drop` blocks are impure (rule own-drop-impure), every place where an
/// object that reaches one may be released: a scope's exit, a new value for a local, a
/// `free`.
fn releases(
    program: &ir::Program,
    f: &ir::Function,
    kind: &InstKind,
    purity: &Purity,
    observable: &dyn Fn(LocalId) -> bool,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
) -> bool {
    if purity.drops_impure {
        let ends_observable = match kind {
            InstKind::ScopeExit { scope } => {
                scope_locals.get(scope).into_iter().flatten().any(|&l| observable(l))
            }
            InstKind::Free { value } => observable(*value),
            kind => kind.dest().is_some_and(observable),
        };
        if ends_observable {
            return true;
        }
    }
    match kind {
        InstKind::StoreField { .. } => stores_reference(program, f, kind),
        InstKind::StoreElem { .. }
        | InstKind::StoreGlobal { .. }
        | InstKind::Push { .. }
        | InstKind::Pop { .. }
        | InstKind::Spawn { .. } => true,
        InstKind::Call { callee: Callee::Function(c), .. } => {
            !purity.pure.get(c.index()).copied().unwrap_or(false)
        }
        InstKind::Call { .. } => true,
        _ => false,
    }
}

/// Rule own-take-field: the load/store pairs that move a field's reference out and back.
fn take_pairs(f: &ir::Function) -> Vec<(InstAddr, InstAddr, LocalId)> {
    let mut out = Vec::new();
    for (b, block) in f.blocks.iter().enumerate() {
        for (i, inst) in block.insts.iter().enumerate() {
            let InstKind::LoadField { dest, object, field } = &inst.kind else { continue };
            if !holds(f, *dest) || dest == object {
                continue;
            }
            // Find the store back, with nothing in between that reads a field, calls, or
            // touches `dest` other than by writing through it or reading its length.
            for (j, later) in block.insts.iter().enumerate().skip(i + 1) {
                match &later.kind {
                    InstKind::StoreField { object: o2, field: f2, value } if value == dest => {
                        if o2 == object && f2 == field {
                            let at = |k: usize| InstAddr { block: ir::BlockId(b as u32), index: k as u32 };
                            out.push((at(i), at(j), *dest));
                        }
                        break;
                    }
                    InstKind::StoreElem { array, index, value } if array == dest => {
                        if index == dest || value == dest || value == object {
                            break;
                        }
                    }
                    InstKind::Push { array, value } if array == dest => {
                        if value == dest || value == object {
                            break;
                        }
                    }
                    InstKind::Pop { array, dest: d2 } if array == dest => {
                        if d2 == dest || d2 == object {
                            break;
                        }
                    }
                    InstKind::Const { dest: d2, .. } if d2 != dest && d2 != object => {}
                    InstKind::Len { value, .. } if value == dest => {}
                    InstKind::Unary { .. } | InstKind::Binary { .. } | InstKind::IsNull { .. }
                        if !later.kind.uses().contains(dest)
                            && later.kind.dest() != Some(*dest)
                            && later.kind.dest() != Some(*object) => {}
                    _ => break,
                }
            }
        }
    }
    // A local taken twice, or used anywhere else, is not a simple take.
    let mut count: HashMap<LocalId, usize> = HashMap::new();
    for (_, inst) in f.insts() {
        for u in inst.kind.uses() {
            *count.entry(u).or_default() += 1;
        }
        if let Some(d) = inst.kind.dest() {
            *count.entry(d).or_default() += 1;
        }
    }
    out.retain(|(load, store, t)| {
        let b = &f.blocks[load.block.index()];
        let inside = b.insts[load.index as usize..=store.index as usize]
            .iter()
            .map(|i| {
                i.kind.uses().iter().filter(|u| *u == t).count() + usize::from(i.kind.dest() == Some(*t))
            })
            .sum::<usize>();
        count.get(t).copied().unwrap_or(0) == inside
    });
    out
}

/// Rule own-borrow-local and own-take-field for one function.
pub(crate) fn local_modes(
    program: &ir::Program,
    f: &ir::Function,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
    purity: &Purity,
    observable_classes: &[bool],
    threads: bool,
) -> LocalModes {
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let observable = |l: LocalId| {
        f.get_local(l).is_some_and(|d| type_observable(program, observable_classes, any_drop, &d.ty, 0))
    };
    let n = f.locals.len();
    let mut modes = LocalModes { borrowed: vec![false; n], ..LocalModes::default() };
    for (load, store, _) in take_pairs(f) {
        modes.take_loads.insert(load);
        modes.take_stores.insert(store);
    }
    // Captures and a drop block's `self` are borrowed from the environment or the object.
    for &c in &f.captures {
        if let Some(b) = modes.borrowed.get_mut(c.index()) {
            *b = true;
        }
    }
    if matches!(f.kind, ir::FunctionKind::Drop { .. })
        && let Some(&s) = f.params.first()
    {
        modes.borrowed[s.index()] = true;
    }
    if threads {
        return modes;
    }
    // Candidates: every definition reads memory or another local.
    let mut candidate = vec![true; n];
    let mut sources: Vec<Vec<LocalId>> = vec![Vec::new(); n];
    let mut has_def = vec![false; n];
    for (at, inst) in f.insts() {
        if let Some(d) = inst.kind.dest() {
            has_def[d.index()] = true;
            match &inst.kind {
                InstKind::LoadField { object, .. } if !modes.take_loads.contains(&at) => {
                    sources[d.index()].push(*object)
                }
                InstKind::LoadElem { array, .. } => sources[d.index()].push(*array),
                InstKind::LoadGlobal { .. } => {}
                InstKind::Copy { src, .. } => sources[d.index()].push(*src),
                _ => candidate[d.index()] = false,
            }
        }
        if let Some(w) = written_through(f, &inst.kind) {
            candidate[w.index()] = false;
        }
        if let InstKind::Free { value } = &inst.kind {
            candidate[value.index()] = false;
        }
    }
    for (l, decl) in f.locals.iter().enumerate() {
        if !has_def[l]
            || !holds_references(&decl.ty)
            || matches!(decl.kind, ir::LocalKind::Param | ir::LocalKind::Capture)
        {
            candidate[l] = false;
        }
    }
    let mut plain = Liveness::new(f, &PlainTransfer { f, scope_locals });
    plain.solve(f, &[]);
    // The instructions that matter: those that may release, and those that give locals new
    // values, each with what is live into it.
    let watched: Vec<(bool, &[LocalId], LocalSet)> = f
        .insts()
        .filter_map(|(at, inst)| {
            let rel = releases(program, f, &inst.kind, purity, &observable, scope_locals);
            let defined = plain.kills(at);
            (rel || !defined.is_empty()).then(|| (rel, defined, plain.before(at)))
        })
        .collect();
    // Refute candidates until stable: live into something that may release, or live
    // across a new value of one of its roots.
    loop {
        let roots = compute_roots(n, &candidate, &sources);
        let mut changed = false;
        for (rel, defined, live) in &watched {
            let rel = *rel;
            for x in live.iter() {
                if !candidate[x.index()] {
                    continue;
                }
                let bad =
                    rel || roots[x.index()].iter().any(|r| defined.contains(r) && !defined.contains(&x));
                if bad {
                    candidate[x.index()] = false;
                    changed = true;
                }
            }
        }
        if !changed {
            for (l, c) in candidate.iter().enumerate() {
                if *c {
                    modes.borrowed[l] = true;
                    modes.roots.insert(LocalId(l as u32), roots[l].clone());
                }
            }
            let defs = definitions(f);
            for (_, inst) in f.insts() {
                if let InstKind::LoadField { dest, object, field } = &inst.kind
                    && candidate[dest.index()]
                    && !candidate[object.index()]
                    && defs[dest.index()].count == 1
                    && holds(f, *object)
                {
                    modes.field_of.insert(*dest, (*object, *field));
                }
            }
            return modes;
        }
    }
}

/// The non-candidate locals each candidate reads from, through chains of candidates.
fn compute_roots(n: usize, candidate: &[bool], sources: &[Vec<LocalId>]) -> Vec<Vec<LocalId>> {
    let mut roots: Vec<Vec<LocalId>> = vec![Vec::new(); n];
    // `visited[y] == x + 1`: `y` was reached in the search from `x` (no clearing between
    // searches, and each search costs what it reaches).
    let mut visited = vec![0usize; n];
    for x in 0..n {
        if !candidate[x] {
            continue;
        }
        let stamp = x + 1;
        visited[x] = stamp;
        let mut stack = vec![x];
        let mut out = Vec::new();
        while let Some(y) = stack.pop() {
            for &s in &sources[y] {
                match visited.get_mut(s.index()) {
                    Some(v) if *v == stamp => {}
                    Some(v) => {
                        *v = stamp;
                        if candidate[s.index()] {
                            stack.push(s.index());
                        } else {
                            out.push(s);
                        }
                    }
                    None => {}
                }
            }
        }
        out.sort();
        roots[x] = out;
    }
    roots
}

/// The reads of the program plus the roots of every borrowed local read (rule
/// own-root-alive), without the observable extras of the final liveness.
struct RootedTransfer<'a> {
    f: &'a ir::Function,
    scope_locals: &'a HashMap<ir::ScopeId, Vec<LocalId>>,
    modes: &'a LocalModes,
}

impl Transfer for RootedTransfer<'_> {
    fn uses(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        for u in inst.kind.uses() {
            out.push(u);
            out.extend(self.modes.roots.get(&u).into_iter().flatten().copied());
        }
    }
    fn kills(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        kills(self.f, self.scope_locals, &inst.kind, out);
    }
}

/// Rule own-take-param: what one function contributes to the question "may this parameter
/// be owned so that a field of it can be taken where it dies?"
struct TakeFacts {
    /// Per instruction that hands over a borrowed field `d = p.f` of a parameter `p`
    /// (found by index) where `p` dies: (instruction, `d`, parameter index).
    takes: Vec<(InstAddr, LocalId, usize)>,
    /// Every argument of a direct call in this function.
    args: Vec<CallArg>,
}

/// One argument of a direct call, as rule own-take-param sees it.
struct CallArg {
    callee: usize,
    index: usize,
    /// The caller may hand it over there: its last use, not borrowed, not a capture, not
    /// observable, not passed twice, not the root of another argument.
    handable: bool,
    /// The caller's parameter it is, if it is one (its mode then decides too).
    param: Option<usize>,
}

/// What a parameter's call sites say: `None` for a call that cannot hand the argument
/// over, `Some((caller, j))` for one that can when the caller's parameter `j` is owned.
type CallSite = Option<(usize, usize)>;

fn take_facts(
    f: &ir::Function,
    modes: &LocalModes,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
    observable: &dyn Fn(LocalId) -> bool,
) -> TakeFacts {
    let mut facts = TakeFacts { takes: Vec::new(), args: Vec::new() };
    let has_param_field = modes.field_of.values().any(|(o, _)| f.params.contains(o));
    let has_calls =
        f.insts().any(|(_, i)| matches!(i.kind, InstKind::Call { callee: Callee::Function(_), .. }));
    if !has_param_field && !has_calls {
        return facts;
    }
    let mut live = Liveness::new(f, &RootedTransfer { f, scope_locals, modes });
    live.solve(f, &[]);
    let borrowed = |l: LocalId| modes.borrowed.get(l.index()).copied().unwrap_or(false);
    let param_index = |l: LocalId| f.params.iter().position(|p| *p == l);
    for (at, inst) in f.insts() {
        let out = live.out(at);
        let real = inst.kind.uses();
        for &d in &real {
            let Some(&(o, _)) = modes.field_of.get(&d) else { continue };
            let Some(j) = param_index(o) else { continue };
            if !out.contains(o)
                && !out.contains(d)
                && !real.contains(&o)
                && real.iter().filter(|u| **u == d).count() == 1
            {
                facts.takes.push((at, d, j));
            }
        }
        if let InstKind::Call { callee: Callee::Function(c), args, .. } = &inst.kind {
            for (j, &a) in args.iter().enumerate() {
                let capture = f.get_local(a).is_some_and(|d| d.kind == ir::LocalKind::Capture);
                let rooted = args.iter().any(|b| modes.roots.get(b).is_some_and(|r| r.contains(&a)));
                let ok = !out.contains(a)
                    && !borrowed(a)
                    && !capture
                    && !observable(a)
                    && !rooted
                    && args.iter().filter(|b| **b == a).count() == 1;
                facts.args.push(CallArg { callee: c.index(), index: j, handable: ok, param: param_index(a) });
            }
        }
    }
    facts
}

/// Rule own-borrow-param: every function's parameter modes, to a fixpoint.
pub(crate) fn param_modes(
    program: &ir::Program,
    locals: &[LocalModes],
    scope_locals: &[HashMap<ir::ScopeId, Vec<LocalId>>],
    observable_classes: &[bool],
) -> Vec<Vec<Mode>> {
    let spawned = spawned(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    let facts: Vec<TakeFacts> = program
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let observable = |l: LocalId| {
                f.get_local(l)
                    .is_none_or(|d| type_observable(program, observable_classes, any_drop, &d.ty, 0))
            };
            take_facts(f, &locals[i], &scope_locals[i], &observable)
        })
        .collect();
    // Per function and parameter: its call sites that cannot hand the argument over, or
    // can only when one of the caller's parameters is owned.
    let mut call_sites: Vec<Vec<Vec<CallSite>>> =
        program.functions.iter().map(|f| vec![Vec::new(); f.params.len()]).collect();
    for (caller, fa) in facts.iter().enumerate() {
        for arg in &fa.args {
            if let Some(slot) = call_sites.get_mut(arg.callee).and_then(|v| v.get_mut(arg.index)) {
                if !arg.handable {
                    slot.push(None);
                } else if let Some(k) = arg.param {
                    slot.push(Some((caller, k)));
                }
            }
        }
    }
    let mut modes: Vec<Vec<Mode>> = program
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.params
                .iter()
                .map(|&p| {
                    let declared = f.get_local(p).and_then(|l| l.mode);
                    match (&f.kind, declared) {
                        (ir::FunctionKind::Drop { .. }, _) => Mode::Borrow,
                        (_, Some(m)) => m,
                        (ir::FunctionKind::Closure { .. }, None) => Mode::Own,
                        _ if spawned.contains(&i) => Mode::Own,
                        _ => Mode::Borrow,
                    }
                })
                .collect()
        })
        .collect();
    loop {
        let mut changed = false;
        for (i, f) in program.functions.iter().enumerate() {
            let lm = &locals[i];
            let borrowed = |l: LocalId| lm.borrowed.get(l.index()).copied().unwrap_or(false);
            // Consumed: owned unless declared. Written through or assigned: owned even if
            // declared `borrow` (a write through a borrowed array would change the caller's
            // value; the declared mode's violation is reported separately).
            let mut consumed_now: Vec<LocalId> = Vec::new();
            let mut written_now: Vec<LocalId> = Vec::new();
            for (_, inst) in f.insts() {
                let m = |c: FunctionId, j: usize| {
                    modes.get(c.index()).and_then(|v| v.get(j)).copied().unwrap_or(Mode::Own)
                };
                consumed_now.extend(consumed(program, f, &inst.kind, &borrowed, &m));
                written_now.extend(written_through(f, &inst.kind));
                written_now.extend(inst.kind.dest());
            }
            // rule own-take-param: a field of the parameter is handed over where the
            // parameter dies, and every caller can hand the argument over at that call.
            let mut takes_from = vec![false; f.params.len()];
            for &(at, d, j) in &facts[i].takes {
                let Some(inst) = f.inst(at) else { continue };
                let m = |c: FunctionId, j: usize| {
                    modes.get(c.index()).and_then(|v| v.get(j)).copied().unwrap_or(Mode::Own)
                };
                let handed = consumed(program, f, &inst.kind, &borrowed, &m);
                if handed.iter().filter(|h| **h == d).count() == 1 {
                    takes_from[j] = true;
                }
            }
            for (j, p) in f.params.iter().enumerate() {
                let declared = f.get_local(*p).and_then(|l| l.mode);
                let drop_self = matches!(f.kind, ir::FunctionKind::Drop { .. });
                let take = declared.is_none()
                    && takes_from[j]
                    && call_sites[i][j].iter().all(|b| b.is_some_and(|(c, k)| modes[c][k] == Mode::Own));
                if modes[i][j] == Mode::Borrow
                    && !drop_self
                    && (written_now.contains(p) || (declared.is_none() && consumed_now.contains(p)) || take)
                {
                    modes[i][j] = Mode::Own;
                    changed = true;
                }
            }
        }
        if !changed {
            return modes;
        }
    }
}
