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
//!   frees it, passes it to an owned parameter or a thread), writes through it (an array write needs
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
//!   `o.items[i] = x` are lowered), and the same with a global, `t = g; <writes to t>;
//!   g = t` (how `push(g, x)` is lowered), moves the field's or the global's reference into
//!   `t` and back, when nothing in between loads anything (so nothing reads the place while
//!   `t` holds its reference), calls anything, or reads `t` other than for its length: no
//!   count, no release of the old value at the store, and the write can be in place.
//!   Nothing is taken in a program that spawns threads, since another thread may replace
//!   the field or the global between the load and the store.
//! - rule own-observable: a local that may hold an object with an observable destructor
//!   (its class or something it reaches has a `drop` block) stays alive to the end of its
//!   scope or its next assignment, so destructors run where the program says.

use super::liveness::{Liveness, LocalSet, Transfer};
use crate::plan::holds_references;
use custody_ir as ir;
use custody_ir::{Callee, FunctionId, InstAddr, InstKind, LocalId, Mode};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
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

/// Per function, per local: whether it may hold an object that reaches a `drop` block
/// (rule own-observable), decided once for every pass that asks.
pub(crate) fn observable_locals(program: &ir::Program) -> Vec<Vec<bool>> {
    let classes = observable_classes(program);
    let any_drop = program.classes.iter().any(|c| c.drop.is_some());
    program
        .functions
        .iter()
        .map(|f| f.locals.iter().map(|d| type_observable(program, &classes, any_drop, &d.ty, 0)).collect())
        .collect()
}

/// Whether a value of `ty` may reach an object with a `drop` block. A depth-first walk
/// over the struct graph without recursion, which looks into each struct once (issue 16:
/// following every path through structs that hold a struct twice, `struct S2 { a: S1,
/// b: S1 }`, was exponential, 2^N for N levels). As before, a struct that reaches itself
/// (through an array or a `?`) or a nest deeper than 32 structs is taken to be observable
/// when any class has a `drop` block. `_depth` is kept for the callers.
pub(crate) fn type_observable(
    program: &ir::Program,
    classes: &[bool],
    any_drop: bool,
    ty: &ir::Type,
    _depth: u32,
) -> bool {
    /// A type's answer without looking into structs, or the struct it is (under `[]`, `?`).
    fn leaf(classes: &[bool], any_drop: bool, mut ty: &ir::Type) -> Result<bool, u32> {
        loop {
            return match ty {
                ir::Type::Array(e) | ir::Type::Nullable(e) => {
                    ty = e;
                    continue;
                }
                ir::Type::Class(c) => Ok(classes.get(c.index()).copied().unwrap_or(true)),
                ir::Type::Struct(s) => Err(s.0),
                // A closure's environment may hold anything.
                ir::Type::Closure(_) => Ok(any_drop),
                _ => Ok(false),
            };
        }
    }
    let root = match leaf(classes, any_drop, ty) {
        Ok(answer) => return answer,
        Err(s) => s,
    };
    if program.structs.get(root as usize).is_none() {
        return false;
    }
    // The path of structs being looked into, each with its next field; the structs done
    // (all false: a true answer ends the walk).
    let mut path: Vec<(u32, usize)> = vec![(root, 0)];
    let mut done = crate::plan::SeenStructs::default();
    while let Some(&mut (s, ref mut next)) = path.last_mut() {
        let fields = &program.structs[s as usize].fields;
        let Some(field) = fields.get(*next) else {
            path.pop();
            done.first_visit(s);
            continue;
        };
        *next += 1;
        match leaf(classes, any_drop, &field.ty) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(inner) if program.structs.get(inner as usize).is_none() => {}
            Err(inner) if path.len() >= 32 || path.iter().any(|&(p, _)| p == inner) => {
                if any_drop {
                    return true;
                }
            }
            Err(inner) => {
                if !done.contains(inner) {
                    path.push((inner, 0));
                }
            }
        }
    }
    false
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
pub(crate) fn purity(program: &ir::Program, observable: &[Vec<bool>]) -> Purity {
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
        for (i, f) in program.functions.iter().enumerate() {
            let drop_self = match f.kind {
                ir::FunctionKind::Drop { .. } => f.params.first().copied(),
                _ => None,
            };
            if observable[i].iter().enumerate().any(|(l, &o)| o && Some(LocalId(l as u32)) != drop_self) {
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
    /// Whether the local only ever holds one constant: it is written once, by a `const`.
    /// (Two `const`s may write two values: `v = 4` before a loop and `v = 7` in it.)
    pub(crate) fn constant(self) -> bool {
        self.count == 1 && self.consts == 1
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
    if let Some(array) = array_written(kind) {
        return Some(array);
    }
    match kind {
        InstKind::StoreField { object, .. }
            if f.get_local(*object).is_some_and(|l| matches!(l.ty.non_null(), ir::Type::Struct(_))) =>
        {
            Some(*object)
        }
        _ => None,
    }
}

/// The array an array write (`a[i] = v`, `push`, `pop`) writes through.
pub(crate) fn array_written(kind: &InstKind) -> Option<LocalId> {
    match kind {
        InstKind::StoreElem { array, .. } | InstKind::Push { array, .. } | InstKind::Pop { array, .. } => {
            Some(*array)
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
    /// Field and global loads that take the place's reference (rule own-take-field), and
    /// the stores that put it back.
    pub(crate) take_loads: HashSet<InstAddr>,
    pub(crate) take_stores: HashSet<InstAddr>,
    /// Borrowed locals whose one definition is `d = o.f` with `o` not borrowed: `d` is
    /// `o`'s field `f` (rule life-take-dying can move it out where `o` dies).
    pub(crate) field_of: HashMap<LocalId, (LocalId, u32)>,
}

/// The liveness against which rule own-borrow-local refutes candidates: the program's reads,
/// plus (rule own-observable) each observable local at its scope's exit and before a new
/// assignment, where it would be released if it were owned. A borrowed local reading an
/// object with a destructor must not let that object be released before then: the naive
/// plan holds it there, and the destructor must run where the program says.
struct CandidateTransfer<'a> {
    f: &'a ir::Function,
    scope_locals: &'a HashMap<ir::ScopeId, Vec<LocalId>>,
    observable: &'a dyn Fn(LocalId) -> bool,
}

impl Transfer for CandidateTransfer<'_> {
    fn uses(&self, _: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>) {
        out.extend(inst.kind.uses());
        match &inst.kind {
            InstKind::ScopeExit { scope } => out.extend(
                self.scope_locals.get(scope).into_iter().flatten().filter(|&&l| (self.observable)(l)),
            ),
            kind => out.extend(kind.dest().filter(|&d| (self.observable)(d))),
        }
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

/// Rule own-take-field: where a taken reference comes from and goes back to.
/// A place as far as rule own-take-field's aliasing test goes: a global, or a field of
/// any object of a type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PlaceKey {
    Field(Option<ir::Type>, u32),
    Global(ir::GlobalId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TakenFrom {
    /// `t = o.f; ...; o.f = t`: a field of an object or of a struct local.
    Field(LocalId, u32),
    /// `t = g; ...; g = t`: a global.
    Global(ir::GlobalId),
}

/// A load that may begin a take (rule own-take-field), while its block is scanned: the
/// load's index, the local it loads into, where from, and how often that local is read or
/// written from the load on (a take is only simple if that is every mention).
struct OpenTake {
    load: usize,
    taken: LocalId,
    from: TakenFrom,
    mentions: usize,
}

/// What one instruction does to an open take.
enum TakeStep {
    /// Leaves it open: unrelated arithmetic, constants or allocations, entering a scope, a
    /// write through the taken array, its length.
    Open,
    /// Stores the taken local back where it came from: the take is complete.
    StoreBack,
    /// Stores something else where the taken local came from: the place's old reference
    /// moves into the taken local for good (`rest = list.next; list.next = null`).
    SwapOut,
    /// Anything else (a load, a call, another store, a read of the taken local): no take.
    Close,
}

/// Rule own-take-field: how an instruction after `taken = <from>` affects the take. Between
/// the load and the store back only writes through `taken`, reads of its length, constants
/// and arithmetic may run, and none of them may write `taken` or the object it came from,
/// or put either into the array (a global has no such local).
fn take_step(kind: &InstKind, taken: LocalId, from: TakenFrom) -> TakeStep {
    let object = match from {
        TakenFrom::Field(object, _) => Some(object),
        TakenFrom::Global(_) => None,
    };
    let is_object = |l: LocalId| Some(l) == object;
    let open_if = |ok: bool| if ok { TakeStep::Open } else { TakeStep::Close };
    // A store of `taken` anywhere else hands it over: no take.
    let back_if = |same_place: bool| if same_place { TakeStep::StoreBack } else { TakeStep::Close };
    match kind {
        InstKind::StoreField { object, field, value } if *value == taken => {
            back_if(from == TakenFrom::Field(*object, *field))
        }
        InstKind::StoreGlobal { global, value } if *value == taken => {
            back_if(from == TakenFrom::Global(*global))
        }
        InstKind::StoreField { object, field, value } if from == TakenFrom::Field(*object, *field) => {
            if is_object(*value) {
                TakeStep::Close
            } else {
                TakeStep::SwapOut
            }
        }
        InstKind::StoreGlobal { global, .. } if from == TakenFrom::Global(*global) => TakeStep::SwapOut,
        InstKind::StoreElem { array, index, value } if *array == taken => {
            open_if(*index != taken && *value != taken && !is_object(*value))
        }
        InstKind::Push { array, value } if *array == taken => open_if(*value != taken && !is_object(*value)),
        InstKind::Pop { array, dest } if *array == taken => open_if(*dest != taken && !is_object(*dest)),
        InstKind::Const { dest, .. } => open_if(*dest != taken && !is_object(*dest)),
        InstKind::Len { value, .. } if *value == taken => TakeStep::Open,
        // Entering a scope runs nothing (an exit may run a `drop` block).
        InstKind::ScopeEnter { .. } => TakeStep::Open,
        // Arithmetic, and allocations (which run no code and read no field).
        InstKind::Unary { .. } | InstKind::Binary { .. } | InstKind::IsNull { .. } => {
            open_if(!kind.uses().contains(&taken) && kind.dest().is_none_or(|d| d != taken && !is_object(d)))
        }
        kind if kind.is_allocation() => {
            open_if(!kind.uses().contains(&taken) && kind.dest().is_none_or(|d| d != taken && !is_object(d)))
        }
        _ => TakeStep::Close,
    }
}

/// Rule own-take-field: the load/store pairs that move a field's or a global's reference
/// out and back, or out for good when something else is stored there (never in a program
/// that spawns: another thread may replace the field or the global between the two).
///
/// One forward pass per block, linear in it: a load is never part of an open take, so at
/// most one take is open at a time (each load closes the open one and may open its own),
/// and the mentions of the taken local are counted on the way.
fn take_pairs(f: &ir::Function) -> Vec<(InstAddr, InstAddr)> {
    let mentions_in = |kind: &InstKind, l: LocalId| {
        kind.uses().iter().filter(|u| **u == l).count() + usize::from(kind.dest() == Some(l))
    };
    // A local taken twice, or mentioned anywhere outside its take, is not a simple take.
    let mut mentions = vec![0usize; f.locals.len()];
    for (_, inst) in f.insts() {
        for l in inst.kind.uses().into_iter().chain(inst.kind.dest()) {
            if let Some(m) = mentions.get_mut(l.index()) {
                *m += 1;
            }
        }
    }
    // Per place (a global, or a field of any object of one type: another name of the
    // object may read the same field): the loads that read it. A take moves the place's
    // reference into one local, whose release may free the value; another local loaded
    // from the place before the take's store borrows that value (`g = [C { xs: g, n:
    // len(g) }]` loads `g` twice), so a take needs every other load of the place to come
    // after its store, in its block (those read the new value).
    let object_type = |l: LocalId| f.get_local(l).map(|d| d.ty.non_null().clone());
    let key_of = |from: TakenFrom| match from {
        TakenFrom::Field(object, field) => PlaceKey::Field(object_type(object), field),
        TakenFrom::Global(g) => PlaceKey::Global(g),
    };
    let mut loads_of: HashMap<PlaceKey, Vec<(InstAddr, LocalId)>> = HashMap::new();
    // Where each local is mentioned (read or written).
    let mut mentioned_at: Vec<Vec<InstAddr>> = vec![Vec::new(); f.locals.len()];
    for (at, inst) in f.insts() {
        for l in inst.kind.uses().into_iter().chain(inst.kind.dest()) {
            if let Some(m) = mentioned_at.get_mut(l.index()) {
                m.push(at);
            }
        }
        match &inst.kind {
            InstKind::LoadField { dest, object, field } => {
                loads_of.entry(PlaceKey::Field(object_type(*object), *field)).or_default().push((at, *dest))
            }
            InstKind::LoadGlobal { dest, global } => {
                loads_of.entry(PlaceKey::Global(*global)).or_default().push((at, *dest))
            }
            _ => {}
        }
    }
    // Another load is harmless when it reads the new value (after the store, in the
    // block), or when its local is dead by the take's load: every mention of it in its
    // own block, from the load on, and (in the take's block) before the take's load.
    let alone = |from: TakenFrom, load: InstAddr, store: InstAddr| {
        loads_of.get(&key_of(from)).into_iter().flatten().all(|&(other, local)| {
            if other == load || (other.block == store.block && other.index > store.index) {
                return true;
            }
            mentioned_at.get(local.index()).is_some_and(|ms| {
                ms.iter().all(|m| {
                    m.block == other.block
                        && m.index >= other.index
                        && (m.block != load.block || m.index < load.index)
                })
            })
        })
    };
    let mut out = Vec::new();
    for (b, block) in f.blocks.iter().enumerate() {
        let at = |k: usize| InstAddr { block: ir::BlockId(b as u32), index: k as u32 };
        let mut open: Option<OpenTake> = None;
        for (j, inst) in block.insts.iter().enumerate() {
            if let Some(mut take) = open.take() {
                take.mentions += mentions_in(&inst.kind, take.taken);
                match take_step(&inst.kind, take.taken, take.from) {
                    TakeStep::Open => open = Some(take),
                    TakeStep::StoreBack
                        if mentions.get(take.taken.index()) == Some(&take.mentions)
                            && alone(take.from, at(take.load), at(j)) =>
                    {
                        out.push((at(take.load), at(j)))
                    }
                    // The taken local keeps the reference, mentioned anywhere later.
                    TakeStep::SwapOut if alone(take.from, at(take.load), at(j)) => {
                        out.push((at(take.load), at(j)))
                    }
                    TakeStep::StoreBack | TakeStep::SwapOut | TakeStep::Close => {}
                }
            }
            let load = match &inst.kind {
                InstKind::LoadField { dest, object, field } if dest != object => {
                    Some((*dest, TakenFrom::Field(*object, *field)))
                }
                InstKind::LoadGlobal { dest, global } => Some((*dest, TakenFrom::Global(*global))),
                _ => None,
            };
            if let Some((taken, from)) = load
                && holds(f, taken)
            {
                open = Some(OpenTake { load: j, taken, from, mentions: 1 });
            }
        }
    }
    out
}

/// Rule own-borrow-local and own-take-field for one function.
pub(crate) fn local_modes(
    program: &ir::Program,
    f: &ir::Function,
    scope_locals: &HashMap<ir::ScopeId, Vec<LocalId>>,
    purity: &Purity,
    observable_locals: &[bool],
    threads: bool,
) -> LocalModes {
    let observable = |l: LocalId| observable_locals.get(l.index()).copied().unwrap_or(false);
    let n = f.locals.len();
    let mut modes = LocalModes { borrowed: vec![false; n], ..LocalModes::default() };
    if !threads {
        for (load, store) in take_pairs(f) {
            modes.take_loads.insert(load);
            modes.take_stores.insert(store);
        }
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
                InstKind::LoadGlobal { .. } if !modes.take_loads.contains(&at) => {}
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
    let mut plain = Liveness::new(f, &CandidateTransfer { f, scope_locals, observable: &observable });
    plain.solve(f, &[]);
    let may_release = |kind: &InstKind| releases(program, f, kind, purity, &observable, scope_locals);
    refute_candidates(f, &plain, &may_release, &sources, &mut candidate);
    let mut roots = compute_roots(n, &candidate, &sources);
    for (l, c) in candidate.iter().enumerate() {
        if *c {
            modes.borrowed[l] = true;
            modes.roots.insert(LocalId(l as u32), std::mem::take(&mut roots[l]));
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
    modes
}

/// Rule own-borrow-local: refutes the candidates that cannot borrow, to a fixpoint. A
/// candidate is refuted when it is live into an instruction that may release what it reads,
/// or live into one that gives one of its roots a new value (and does not also write it).
///
/// Neither fact depends on which candidates survive; only the roots do, and refuting a
/// candidate changes the roots of exactly the candidates that read it (directly or through
/// other candidates): it becomes their root instead of what it read. So the bit sets are
/// built once (what is live into any release; per root, when first asked, what is live
/// across its new values), every candidate is checked once against its first roots, and
/// each later round checks only the candidates that read a candidate refuted in the round
/// before, against that one new root. That refutes exactly what re-checking every
/// candidate against freshly computed roots until nothing changes would (each candidate is
/// checked against every root it ever has, once), without a pass over every instruction
/// per round: the cost is one bit-set union per release and per new value of a root, and
/// per refuted candidate one search of the candidates that read it.
fn refute_candidates(
    f: &ir::Function,
    plain: &Liveness,
    may_release: &dyn Fn(&InstKind) -> bool,
    sources: &[Vec<LocalId>],
    candidate: &mut [bool],
) {
    let n = candidate.len();
    let mut live_into_release = LocalSet::new(n);
    let mut new_values: Vec<Vec<InstAddr>> = vec![Vec::new(); n];
    for (at, inst) in f.insts() {
        if may_release(&inst.kind) {
            live_into_release.union(&plain.before(at));
        }
        for &d in plain.kills(at) {
            if let Some(sites) = new_values.get_mut(d.index()) {
                sites.push(at);
            }
        }
        // A store into a field of a struct local gives the local a new value too: the old
        // field's reference is released, and a copy of the struct that borrows it (`let
        // v3 = v2; v2.f0 = [...]`) would read a freed value.
        if let InstKind::StoreField { object, .. } = &inst.kind
            && written_through(f, &inst.kind) == Some(*object)
            && let Some(sites) = new_values.get_mut(object.index())
            && sites.last() != Some(&at)
        {
            sites.push(at);
        }
    }
    let mut across = LiveAcrossNewValues { plain, new_values, sets: vec![None; n] };
    let first_roots = compute_roots(n, candidate, sources);
    let mut refuted: Vec<usize> = (0..n)
        .filter(|&x| {
            let local = LocalId(x as u32);
            candidate[x]
                && (live_into_release.contains(local)
                    || first_roots[x].iter().any(|&r| across.contains(r, local)))
        })
        .collect();
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (x, read) in sources.iter().enumerate() {
        for s in read {
            if let Some(r) = readers.get_mut(s.index()) {
                r.push(x);
            }
        }
    }
    // `searched[x] == k`: `x` was reached in the `k`th search (no clearing between them).
    let mut searched = vec![0usize; n];
    let mut search = 0;
    let mut queued = vec![false; n];
    while !refuted.is_empty() {
        for &x in &refuted {
            candidate[x] = false;
        }
        // The candidates that read a refuted `r` through candidates have `r` as a new root.
        let mut next = Vec::new();
        for &r in &refuted {
            search += 1;
            let mut stack = vec![r];
            while let Some(y) = stack.pop() {
                for &x in &readers[y] {
                    if !candidate[x] || searched[x] == search {
                        continue;
                    }
                    searched[x] = search;
                    stack.push(x);
                    if !queued[x] && across.contains(LocalId(r as u32), LocalId(x as u32)) {
                        queued[x] = true;
                        next.push(x);
                    }
                }
            }
        }
        refuted = next;
    }
}

/// Per local, built when first asked: the locals live into an instruction that gives it a
/// new value or ends it, other than those that instruction also writes or ends (a borrowed
/// local rooted in it would read a released value there; rule own-borrow-local).
struct LiveAcrossNewValues<'a> {
    plain: &'a Liveness,
    /// Per local: the instructions that write or end it.
    new_values: Vec<Vec<InstAddr>>,
    sets: Vec<Option<LocalSet>>,
}

impl LiveAcrossNewValues<'_> {
    /// Whether `x` is live across a new value of `root`.
    fn contains(&mut self, root: LocalId, x: LocalId) -> bool {
        let LiveAcrossNewValues { plain, new_values, sets } = self;
        let Some(slot) = sets.get_mut(root.index()) else { return false };
        slot.get_or_insert_with(|| {
            let mut across = LocalSet::new(new_values.len());
            for &at in &new_values[root.index()] {
                let mut live = plain.before(at);
                for &k in plain.kills(at) {
                    live.remove(k);
                }
                across.union(&live);
            }
            across
        })
        .contains(x)
    }
}

/// The non-candidate locals each candidate reads from, through chains of candidates (its
/// roots). Candidates that read each other in a cycle have the same roots, so they are
/// taken as strongly connected components of the reads between candidates, each after the
/// components it reads: a component's roots are its members' non-candidate sources and the
/// roots of the components they read. Linear in the reads and the roots' sizes.
fn compute_roots(n: usize, candidate: &[bool], sources: &[Vec<LocalId>]) -> Vec<Vec<LocalId>> {
    let is_candidate = |l: LocalId| candidate.get(l.index()).copied();
    let mut reads = DiGraph::<(), ()>::with_capacity(n, n);
    for _ in 0..n {
        reads.add_node(());
    }
    for (x, read) in sources.iter().enumerate() {
        if candidate[x] {
            for &s in read.iter().filter(|&&s| is_candidate(s) == Some(true)) {
                reads.add_edge(NodeIndex::new(x), NodeIndex::new(s.index()), ());
            }
        }
    }
    let mut roots: Vec<Vec<LocalId>> = vec![Vec::new(); n];
    let mut component = vec![usize::MAX; n];
    // Components in reverse topological order: a component after every one it reads.
    for (c, members) in kosaraju_scc(&reads).into_iter().enumerate() {
        let members: Vec<usize> = members.iter().map(|m| m.index()).filter(|&x| candidate[x]).collect();
        for &x in &members {
            component[x] = c;
        }
        let mut found: Vec<LocalId> = Vec::new();
        for &x in &members {
            for &s in &sources[x] {
                match is_candidate(s) {
                    Some(true) if component[s.index()] != c => found.extend_from_slice(&roots[s.index()]),
                    Some(false) => found.push(s),
                    Some(true) | None => {}
                }
            }
        }
        found.sort();
        found.dedup();
        if let Some((&last, rest)) = members.split_last() {
            for &x in rest {
                roots[x] = found.clone();
            }
            roots[last] = found;
        }
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
    observable: &[Vec<bool>],
) -> Vec<Vec<Mode>> {
    let spawned = spawned(program);
    let facts: Vec<TakeFacts> = program
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let observable = |l: LocalId| observable[i].get(l.index()).copied().unwrap_or(true);
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
                        // A thread owns its arguments (nobody else releases them), even
                        // where the parameter is declared `borrow`.
                        _ if spawned.contains(&i) => Mode::Own,
                        // A closure is called through a value whose body the caller cannot
                        // see, so every call hands its arguments over owned: its body owns
                        // them, even where a parameter is declared `borrow` (the declared
                        // mode is still checked, rule mode-*).
                        (ir::FunctionKind::Closure { .. }, _) => Mode::Own,
                        (_, Some(m)) => m,
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
                // `free(p)` of a parameter without a mode takes it (spec/language.md 7.6).
                if let InstKind::Free { value } = &inst.kind {
                    consumed_now.push(*value);
                }
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
