//! What each local of the program can hold, over the whole program: a flow-insensitive,
//! inclusion-based points-to analysis (Andersen's), one abstract object per allocation
//! site, computed from the IR alone (and the plan's placements of the sites).
//!
//! Plans rely on facts that only the whole program shows: a string parameter that every
//! caller passes a literal, a field of the objects of one allocation site that is only
//! ever written constants, a string loaded from an object that is always an arena
//! string. There, a `dup` or a `drop` does nothing at run time (`ir::exec` counts neither
//! constant data nor stack, arena or static memory), and a plan may leave it out. This
//! pass re-derives those facts so that the verifier does not reject such plans, without
//! trusting the analysis that made them:
//!
//! - rule `verify-fact-constant`: a local that can only hold constant data (string
//!   literals, `null`, immediates, or struct values made of those) holds no reference:
//!   no operation on it is owed or does anything;
//! - rule `verify-fact-placement`: a local whose every possible allocation site is placed
//!   in one kind of memory (stack or arena, static, heap) has that kind, whatever the
//!   local's type says (counting ignores stack, arena and static memory);
//! - rule `verify-fact-returned-parameter`: a function whose every `return` returns a
//!   parameter or what it reaches through fields and elements (`return o.i.s`) returns,
//!   at each call, what that call's argument reaches that way, not everything it returns
//!   to any caller (a string every caller passes as a literal comes back a literal).
//!
//! The abstract values are string literals (one value: constant data) and allocation
//! sites (objects, arrays, strings, closures, and struct values, which are inline but
//! whose fields are followed like an object's). Every instruction adds inclusions: a copy
//! `dest ⊇ src`, a load `dest ⊇ site.field` for each site the object may be, a store the
//! converse, a call `param ⊇ arg` and `dest ⊇ result` for each function it may run (a
//! closure call: the bodies of the closure sites the callee may hold), a closure literal
//! `body.capture ⊇ captured`, and a class's `drop` block receives every object of its
//! class. The sets grow until nothing changes. A copy-on-write copy stays its site's
//! object (same contents; a static array's copy is heap memory, so static arrays get no
//! placement fact). Code the verifier cannot see (extern functions) could store anything
//! anywhere: a program with externs gets no facts at all, as does one whose sets do not
//! settle within [`MAX_PASSES`] passes.

use super::input::FnInput;
use super::state::Kind;
use crate::plan::Placement;
use crate::{Callee, Constant, FunctionId, FunctionKind, InstAddr, InstKind, LocalId, Program};
use std::collections::{BTreeSet, HashMap};

/// An allocation site: the function and the instruction.
type Site = (u32, InstAddr);

/// A set of abstract values: what a place can hold.
pub(super) type AbstractSet = BTreeSet<Abstract>;

/// What a local, a field, an element or a global can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Abstract {
    /// A string literal.
    Constant,
    /// An object, array, string, closure or struct value made at this site.
    Site(Site),
}

/// A place that holds values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Loc {
    Local(u32, LocalId),
    Field(Site, u32),
    Elem(Site),
    Global(u32),
    Result(u32),
}

/// How many passes over the program the sets may take to settle.
const MAX_PASSES: usize = 200;

/// The points-to sets of a program, and what they say about each local.
#[derive(Debug, Default)]
pub(super) struct PointsTo {
    /// Whether the sets are complete (no extern code, settled).
    sound: bool,
    sets: HashMap<Loc, BTreeSet<Abstract>>,
    /// The site's placement kind, for sites that have a placement (not struct values).
    placements: HashMap<Site, Kind>,
    /// Struct-value sites.
    structs: BTreeSet<Site>,
    /// Per function: what its `return`s return, as paths from its parameters, if they
    /// all return such a path.
    returned_paths: Vec<Option<Vec<ParamPath>>>,
}

impl PointsTo {
    pub(super) fn find(program: &Program, inputs: &[FnInput]) -> PointsTo {
        let mut pt = PointsTo::default();
        if !program.externs.is_empty() {
            return pt;
        }
        for (f, function) in program.functions.iter().enumerate() {
            for (at, inst) in function.insts() {
                let site = (f as u32, at);
                match &inst.kind {
                    InstKind::NewStruct { .. } => {
                        pt.structs.insert(site);
                    }
                    kind if kind.is_allocation() => {
                        let alloc = inputs.get(f).and_then(|i| i.allocs.get(&at));
                        let placement = alloc.map_or(Placement::HeapRc, |a| a.placement);
                        let kind = match (placement, kind) {
                            // A copy-on-write copy of a static array is heap memory.
                            (
                                Placement::Static,
                                InstKind::NewArray { .. } | InstKind::NewArrayRepeat { .. },
                            ) => Kind::Unknown,
                            _ => super::transfer::Transfer::kind_of(placement),
                        };
                        pt.placements.insert(site, kind);
                    }
                    _ => {}
                }
            }
        }
        pt.returned_paths = program.functions.iter().map(returned_paths).collect();
        // Every object of a class, for its `drop` block's `self`.
        let mut by_class: HashMap<u32, Vec<Site>> = HashMap::new();
        for (f, function) in program.functions.iter().enumerate() {
            for (at, inst) in function.insts() {
                if let InstKind::NewObject { class, .. } = &inst.kind {
                    by_class.entry(class.0).or_default().push((f as u32, at));
                }
            }
        }
        for (f, function) in program.functions.iter().enumerate() {
            if let FunctionKind::Drop { class } = function.kind
                && let Some(&this) = function.params.first()
            {
                let set = pt.sets.entry(Loc::Local(f as u32, this)).or_default();
                for &site in by_class.get(&class.0).into_iter().flatten() {
                    set.insert(Abstract::Site(site));
                }
            }
        }
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for (f, function) in program.functions.iter().enumerate() {
                for (at, inst) in function.insts() {
                    changed |= pt.apply(program, f as u32, at, &inst.kind);
                }
            }
            if !changed {
                pt.sound = true;
                break;
            }
        }
        pt
    }

    /// Adds `from`'s set to `to`'s; whether `to` grew.
    fn flow(&mut self, from: Loc, to: Loc) -> bool {
        let Some(values) = self.sets.get(&from).filter(|s| !s.is_empty()).cloned() else { return false };
        let set = self.sets.entry(to).or_default();
        let before = set.len();
        set.extend(values);
        set.len() != before
    }

    fn add(&mut self, to: Loc, value: Abstract) -> bool {
        self.sets.entry(to).or_default().insert(value)
    }

    /// The sites a local may hold.
    fn sites(&self, f: u32, local: LocalId) -> Vec<Site> {
        self.sets
            .get(&Loc::Local(f, local))
            .into_iter()
            .flatten()
            .filter_map(|a| match a {
                Abstract::Site(s) => Some(*s),
                Abstract::Constant => None,
            })
            .collect()
    }

    /// The inclusions one instruction adds; whether a set grew.
    fn apply(&mut self, program: &Program, f: u32, at: InstAddr, kind: &InstKind) -> bool {
        use InstKind as I;
        let local = |l: LocalId| Loc::Local(f, l);
        let here = (f, at);
        let mut changed = false;
        match kind {
            I::Const { dest, value: Constant::Str(_) } => {
                changed |= self.add(local(*dest), Abstract::Constant)
            }
            I::Copy { dest, src } => changed |= self.flow(local(*src), local(*dest)),
            I::NewObject { dest, fields, .. } | I::NewStruct { dest, fields, .. } => {
                changed |= self.add(local(*dest), Abstract::Site(here));
                for (i, &v) in fields.iter().enumerate() {
                    changed |= self.flow(local(v), Loc::Field(here, i as u32));
                }
            }
            I::NewArray { dest, elems, .. } => {
                changed |= self.add(local(*dest), Abstract::Site(here));
                for &v in elems {
                    changed |= self.flow(local(v), Loc::Elem(here));
                }
            }
            I::NewArrayRepeat { dest, value, .. } => {
                changed |= self.add(local(*dest), Abstract::Site(here));
                changed |= self.flow(local(*value), Loc::Elem(here));
            }
            I::Concat { dest, .. } | I::ToString { dest, .. } => {
                changed |= self.add(local(*dest), Abstract::Site(here));
            }
            I::NewClosure { dest, function, captures } => {
                changed |= self.add(local(*dest), Abstract::Site(here));
                if let Some(body) = program.functions.get(function.index()) {
                    for (&v, &c) in captures.iter().zip(&body.captures) {
                        changed |= self.flow(local(v), Loc::Local(function.0, c));
                    }
                }
            }
            I::LoadField { dest, object, field } => {
                for s in self.sites(f, *object) {
                    changed |= self.flow(Loc::Field(s, *field), local(*dest));
                }
            }
            I::StoreField { object, field, value } => {
                for s in self.sites(f, *object) {
                    changed |= self.flow(local(*value), Loc::Field(s, *field));
                }
            }
            I::LoadElem { dest, array, .. } | I::Pop { dest, array } => {
                for s in self.sites(f, *array) {
                    changed |= self.flow(Loc::Elem(s), local(*dest));
                }
            }
            I::StoreElem { array, value, .. } | I::Push { array, value } => {
                for s in self.sites(f, *array) {
                    changed |= self.flow(local(*value), Loc::Elem(s));
                }
            }
            I::LoadGlobal { dest, global } => changed |= self.flow(Loc::Global(global.0), local(*dest)),
            I::StoreGlobal { global, value } => changed |= self.flow(local(*value), Loc::Global(global.0)),
            I::Call { callee, args, .. } | I::Spawn { callee, args } => {
                let dest = match kind {
                    I::Call { dest, .. } => *dest,
                    _ => None,
                };
                let bodies: Vec<FunctionId> = match callee {
                    Callee::Function(g) => vec![*g],
                    Callee::Closure(c) => self
                        .sites(f, *c)
                        .into_iter()
                        .filter_map(|(sf, sat)| {
                            let inst = program.functions.get(sf as usize)?.inst(sat)?;
                            match &inst.kind {
                                I::NewClosure { function, .. } => Some(*function),
                                _ => None,
                            }
                        })
                        .collect(),
                    Callee::Extern(_) => Vec::new(),
                };
                for body in bodies {
                    let Some(callee) = program.functions.get(body.index()) else { continue };
                    for (&a, &p) in args.iter().zip(&callee.params) {
                        changed |= self.flow(local(a), Loc::Local(body.0, p));
                    }
                    // A function that returns a parameter, or what it reaches through
                    // fields and elements, returns at this call what this call's argument
                    // reaches that way (rule verify-fact-returned-parameter).
                    let Some(d) = dest else { continue };
                    match self.returned_paths.get(body.index()).cloned().flatten() {
                        Some(paths) => {
                            for (i, steps) in paths {
                                let Some(&a) = args.get(i) else { continue };
                                let values = self.follow(local(a), &steps);
                                let set = self.sets.entry(local(d)).or_default();
                                let before = set.len();
                                set.extend(values);
                                changed |= set.len() != before;
                            }
                        }
                        None => changed |= self.flow(Loc::Result(body.0), local(d)),
                    }
                }
            }
            I::Return { value: Some(v) } => changed |= self.flow(local(*v), Loc::Result(f)),
            _ => {}
        }
        changed
    }

    /// What `start` holds, then what those values hold at each step (a field, or the
    /// elements).
    fn follow(&self, start: Loc, steps: &[Step]) -> AbstractSet {
        let mut values = self.sets.get(&start).cloned().unwrap_or_default();
        for step in steps {
            let field = match step {
                Step::Field(f) => Some(*f),
                Step::Elem => None,
            };
            values = self.through(&values, field);
        }
        values
    }

    /// Rule verify-fact-constant: whether local `local` of function `f` can only hold
    /// constant data (nothing any operation counts).
    pub(super) fn holds_constants_only(&self, f: FunctionId, local: LocalId) -> bool {
        self.sound && self.sets.get(&Loc::Local(f.0, local)).is_none_or(|set| self.is_constant(set))
    }

    /// Whether every value of `set` is constant data (an empty set: nothing).
    pub(super) fn is_constant(&self, set: &AbstractSet) -> bool {
        self.sound && self.constant_set(set, &mut Vec::new())
    }

    fn constant_set(&self, set: &AbstractSet, seen: &mut Vec<Site>) -> bool {
        set.iter().all(|a| match a {
            Abstract::Constant => true,
            // A struct value holds what its fields hold.
            Abstract::Site(s) if self.structs.contains(s) => {
                if seen.contains(s) {
                    return false;
                }
                seen.push(*s);
                let fields: Vec<&AbstractSet> = self
                    .sets
                    .iter()
                    .filter(|(l, _)| matches!(l, Loc::Field(o, _) if o == s))
                    .map(|(_, set)| set)
                    .collect();
                fields.into_iter().all(|set| self.constant_set(set, seen))
            }
            Abstract::Site(_) => false,
        })
    }

    /// The abstract value of the allocation site at `at` in function `f`.
    pub(super) fn site(f: FunctionId, at: InstAddr) -> Abstract {
        Abstract::Site((f.0, at))
    }

    /// What the values of `set` hold in field `field` (`None`: in their elements).
    pub(super) fn through(&self, set: &AbstractSet, field: Option<u32>) -> AbstractSet {
        let step = match field {
            Some(f) => Step::Field(f),
            None => Step::Elem,
        };
        let mut out = AbstractSet::new();
        for value in set {
            let Abstract::Site(site) = value else { continue };
            let loc = match step {
                Step::Field(f) => Loc::Field(*site, f),
                Step::Elem => Loc::Elem(*site),
            };
            out.extend(self.sets.get(&loc).into_iter().flatten().copied());
        }
        out
    }

    /// Rule verify-fact-placement: the one placement kind of every site local `local` of
    /// function `f` may hold; `None` when they differ, when it may hold constants next to
    /// counted memory or struct values, or when nothing is known. (Not which arena: a
    /// site's scope is that of the frame that ran it, which may be another.)
    pub(super) fn placement(&self, f: FunctionId, local: LocalId) -> Option<Kind> {
        self.placement_of_set(self.sets.get(&Loc::Local(f.0, local))?)
    }

    /// The one placement kind of every site of `set` (as [`PointsTo::placement`]).
    pub(super) fn placement_of_set(&self, set: &AbstractSet) -> Option<Kind> {
        if !self.sound {
            return None;
        }
        let mut out: Option<Kind> = None;
        let mut constants = false;
        for a in set {
            let site = match a {
                Abstract::Constant => {
                    constants = true;
                    continue;
                }
                Abstract::Site(s) => s,
            };
            let &kind = self.placements.get(site)?;
            match out {
                None => out = Some(kind),
                Some(k) if k == kind => {}
                Some(_) => return None,
            }
        }
        // Constant data next to counted memory: counts matter on some runs only.
        match out {
            Some(Kind::Region | Kind::Static) => out,
            Some(_) if constants => None,
            _ => out,
        }
    }
}

/// One step from a value to what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Field(u32),
    Elem,
}

/// A parameter (by position) and the steps from it to a value.
type ParamPath = (usize, Vec<Step>);

/// What the `return`s of `function` return, as paths from its parameters (a parameter's
/// local, never written in the body; locals only ever written copies of, or loads of a
/// field or an element from, such paths), when every `return` returns such a path.
fn returned_paths(function: &crate::Function) -> Option<Vec<ParamPath>> {
    let mut writers: HashMap<LocalId, Vec<&InstKind>> = HashMap::new();
    let mut returns = Vec::new();
    for (_, inst) in function.insts() {
        if let Some(dest) = inst.kind.dest() {
            writers.entry(dest).or_default().push(&inst.kind);
        }
        if let InstKind::Return { value } = &inst.kind {
            returns.push(*value);
        }
    }
    let mut found = Vec::new();
    for value in returns {
        paths_to(function, &writers, value?, &mut Vec::new(), &mut found, 0)?;
    }
    (!found.is_empty()).then_some(found)
}

/// Adds to `found` the parameter paths `local` can hold, with `suffix` (the steps taken
/// from it, innermost last) appended; `None` if it can hold anything else.
fn paths_to(
    function: &crate::Function,
    writers: &HashMap<LocalId, Vec<&InstKind>>,
    local: LocalId,
    suffix: &mut Vec<Step>,
    found: &mut Vec<ParamPath>,
    depth: u32,
) -> Option<()> {
    let written = writers.get(&local).map_or(&[][..], Vec::as_slice);
    if let Some(i) = function.params.iter().position(|&p| p == local) {
        if !written.is_empty() {
            return None;
        }
        let path = (i, suffix.iter().rev().copied().collect());
        if !found.contains(&path) {
            found.push(path);
        }
        return Some(());
    }
    // Bounded: copies may go round in a loop.
    if written.is_empty() || suffix.len() > 8 || found.len() > 16 || depth > 32 {
        return None;
    }
    for kind in written {
        let (from, step) = match kind {
            InstKind::Copy { src, .. } => (*src, None),
            InstKind::LoadField { object, field, .. } => (*object, Some(Step::Field(*field))),
            InstKind::LoadElem { array, .. } => (*array, Some(Step::Elem)),
            _ => return None,
        };
        suffix.extend(step);
        let result = paths_to(function, writers, from, suffix, found, depth + 1);
        if step.is_some() {
            suffix.pop();
        }
        result?;
    }
    Some(())
}
