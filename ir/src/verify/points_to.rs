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
//! anywhere: a program with externs gets no facts at all. The constraints are solved with
//! a worklist: each value crosses each inclusion once (loads, stores and closure calls
//! add inclusions as the sets of the locals they go through grow), so the cost is that of
//! the values that actually flow, not of passes over the program; past
//! [`MAX_SET_ENTRIES`] values in all, the verifier gives up the facts rather than the time.

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
    /// An intermediate of a returned path at a call (`verify-fact-returned-parameter`).
    Temp(u32),
}

/// How many values all the sets together may hold before the verifier gives up on the
/// facts (and checks without them): far more than any program of the repository needs.
const MAX_SET_ENTRIES: usize = 500_000;

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
        let mut solver = Solver::new(program, &pt.returned_paths);
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
                let node = solver.node(Loc::Local(f as u32, this));
                for &site in by_class.get(&class.0).into_iter().flatten() {
                    solver.add(node, Abstract::Site(site));
                }
            }
        }
        for (f, function) in program.functions.iter().enumerate() {
            for (at, inst) in function.insts() {
                solver.constrain(f as u32, at, &inst.kind);
            }
        }
        solver.solve();
        if solver.budget == 0 {
            return pt;
        }
        for (loc, set) in solver.locs.into_iter().zip(solver.sets) {
            if !set.is_empty() {
                pt.sets.insert(loc, set);
            }
        }
        pt.sound = true;
        pt
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

/// A constraint that depends on the sites a node holds.
#[derive(Debug, Clone)]
enum Use {
    /// `dest ⊇ site.step` for each site of the node.
    Load { step: Step, dest: usize },
    /// `site.step ⊇ value` for each site of the node.
    Store { step: Step, value: usize },
    /// A call through the closure in the node: for each closure site, its body's
    /// parameters receive the arguments and `dest` its result.
    Call { args: Vec<usize>, dest: Option<usize> },
}

/// The inclusion constraints of a program over its places, solved with a worklist: a
/// node's new values (`pending`) travel its edges once, and reach the constraints that
/// depend on its sites.
struct Solver<'a> {
    program: &'a Program,
    returned_paths: &'a [Option<Vec<ParamPath>>],
    index: HashMap<Loc, usize>,
    locs: Vec<Loc>,
    sets: Vec<AbstractSet>,
    pending: Vec<AbstractSet>,
    edges: Vec<Vec<usize>>,
    edge_set: std::collections::HashSet<(usize, usize)>,
    uses: Vec<Vec<Use>>,
    queued: Vec<bool>,
    work: std::collections::VecDeque<usize>,
    temps: u32,
    /// How many more values the sets may take in all; at 0 the solver stops and the
    /// sets are incomplete (no facts): the cost of a program whose sets grow with the
    /// square of its size stays bounded.
    budget: usize,
}

impl<'a> Solver<'a> {
    fn new(program: &'a Program, returned_paths: &'a [Option<Vec<ParamPath>>]) -> Solver<'a> {
        Solver {
            program,
            returned_paths,
            index: HashMap::new(),
            locs: Vec::new(),
            sets: Vec::new(),
            pending: Vec::new(),
            edges: Vec::new(),
            edge_set: Default::default(),
            uses: Vec::new(),
            queued: Vec::new(),
            work: Default::default(),
            temps: 0,
            budget: MAX_SET_ENTRIES,
        }
    }

    fn node(&mut self, loc: Loc) -> usize {
        if let Some(&n) = self.index.get(&loc) {
            return n;
        }
        let n = self.locs.len();
        self.index.insert(loc, n);
        self.locs.push(loc);
        self.sets.push(AbstractSet::new());
        self.pending.push(AbstractSet::new());
        self.edges.push(Vec::new());
        self.uses.push(Vec::new());
        self.queued.push(false);
        n
    }

    fn temp(&mut self) -> usize {
        self.temps += 1;
        self.node(Loc::Temp(self.temps))
    }

    fn add(&mut self, n: usize, value: Abstract) {
        if self.budget == 0 {
            return;
        }
        if self.sets[n].insert(value) {
            self.budget -= 1;
            self.pending[n].insert(value);
            if !self.queued[n] {
                self.queued[n] = true;
                self.work.push_back(n);
            }
        }
    }

    /// `to ⊇ from`, from now on.
    fn edge(&mut self, from: usize, to: usize) {
        if from == to || !self.edge_set.insert((from, to)) {
            return;
        }
        self.edges[from].push(to);
        for value in self.sets[from].clone() {
            self.add(to, value);
        }
    }

    /// A constraint on the sites of `n`, applied to those it has and to those to come.
    fn add_use(&mut self, n: usize, u: Use) {
        self.uses[n].push(u.clone());
        for value in self.sets[n].clone() {
            self.apply_use(&u, value);
        }
    }

    fn place(site: Site, step: Step) -> Loc {
        match step {
            Step::Field(f) => Loc::Field(site, f),
            Step::Elem => Loc::Elem(site),
        }
    }

    fn apply_use(&mut self, u: &Use, value: Abstract) {
        let Abstract::Site(site) = value else { return };
        match u {
            Use::Load { step, dest } => {
                let from = self.node(Self::place(site, *step));
                self.edge(from, *dest);
            }
            Use::Store { step, value } => {
                let to = self.node(Self::place(site, *step));
                self.edge(*value, to);
            }
            Use::Call { args, dest } => {
                let body = self.program.functions.get(site.0 as usize).and_then(|f| f.inst(site.1)).and_then(
                    |inst| match &inst.kind {
                        InstKind::NewClosure { function, .. } => Some(*function),
                        _ => None,
                    },
                );
                if let Some(body) = body {
                    self.call(body, args, *dest);
                }
            }
        }
    }

    /// A call of `body` with `args`, its result into `dest`.
    fn call(&mut self, body: FunctionId, args: &[usize], dest: Option<usize>) {
        let Some(callee) = self.program.functions.get(body.index()) else { return };
        let params = callee.params.clone();
        for (&a, p) in args.iter().zip(params) {
            let to = self.node(Loc::Local(body.0, p));
            self.edge(a, to);
        }
        let Some(dest) = dest else { return };
        // A function that returns a parameter, or what it reaches through fields and
        // elements, returns at this call what this call's argument reaches that way
        // (rule verify-fact-returned-parameter).
        match self.returned_paths.get(body.index()).cloned().flatten() {
            Some(paths) => {
                for (i, steps) in paths {
                    let Some(&start) = args.get(i) else { continue };
                    let mut current = start;
                    for step in steps {
                        let next = self.temp();
                        self.add_use(current, Use::Load { step, dest: next });
                        current = next;
                    }
                    self.edge(current, dest);
                }
            }
            None => {
                let result = self.node(Loc::Result(body.0));
                self.edge(result, dest);
            }
        }
    }

    /// The constraints of one instruction.
    fn constrain(&mut self, f: u32, at: InstAddr, kind: &InstKind) {
        use InstKind as I;
        let here = Abstract::Site((f, at));
        let local = |s: &mut Self, l: LocalId| s.node(Loc::Local(f, l));
        match kind {
            I::Const { dest, value: Constant::Str(_) } => {
                let d = local(self, *dest);
                self.add(d, Abstract::Constant);
            }
            I::Copy { dest, src } => {
                let (s, d) = (local(self, *src), local(self, *dest));
                self.edge(s, d);
            }
            I::NewObject { dest, fields, .. } | I::NewStruct { dest, fields, .. } => {
                let d = local(self, *dest);
                self.add(d, here);
                for (i, &v) in fields.iter().enumerate() {
                    let (from, to) = (local(self, v), self.node(Loc::Field((f, at), i as u32)));
                    self.edge(from, to);
                }
            }
            I::NewArray { dest, elems, .. } => {
                let d = local(self, *dest);
                self.add(d, here);
                for &v in elems {
                    let (from, to) = (local(self, v), self.node(Loc::Elem((f, at))));
                    self.edge(from, to);
                }
            }
            I::NewArrayRepeat { dest, value, .. } => {
                let d = local(self, *dest);
                self.add(d, here);
                let (from, to) = (local(self, *value), self.node(Loc::Elem((f, at))));
                self.edge(from, to);
            }
            I::Concat { dest, .. } | I::ToString { dest, .. } => {
                let d = local(self, *dest);
                self.add(d, here);
            }
            I::NewClosure { dest, function, captures } => {
                let d = local(self, *dest);
                self.add(d, here);
                let body_captures = self.program.functions.get(function.index()).map(|b| b.captures.clone());
                for (&v, c) in captures.iter().zip(body_captures.unwrap_or_default()) {
                    let (from, to) = (local(self, v), self.node(Loc::Local(function.0, c)));
                    self.edge(from, to);
                }
            }
            I::LoadField { dest, object, field } => {
                let (o, d) = (local(self, *object), local(self, *dest));
                self.add_use(o, Use::Load { step: Step::Field(*field), dest: d });
            }
            I::StoreField { object, field, value } => {
                let (o, v) = (local(self, *object), local(self, *value));
                self.add_use(o, Use::Store { step: Step::Field(*field), value: v });
            }
            I::LoadElem { dest, array, .. } | I::Pop { dest, array } => {
                let (a, d) = (local(self, *array), local(self, *dest));
                self.add_use(a, Use::Load { step: Step::Elem, dest: d });
            }
            I::StoreElem { array, value, .. } | I::Push { array, value } => {
                let (a, v) = (local(self, *array), local(self, *value));
                self.add_use(a, Use::Store { step: Step::Elem, value: v });
            }
            I::LoadGlobal { dest, global } => {
                let (g, d) = (self.node(Loc::Global(global.0)), local(self, *dest));
                self.edge(g, d);
            }
            I::StoreGlobal { global, value } => {
                let (v, g) = (local(self, *value), self.node(Loc::Global(global.0)));
                self.edge(v, g);
            }
            I::Call { callee, args, .. } | I::Spawn { callee, args } => {
                let dest = match kind {
                    I::Call { dest: Some(d), .. } => Some(local(self, *d)),
                    _ => None,
                };
                let args: Vec<usize> = args.iter().map(|&a| local(self, a)).collect();
                match callee {
                    Callee::Function(g) => self.call(*g, &args, dest),
                    Callee::Closure(c) => {
                        let c = local(self, *c);
                        self.add_use(c, Use::Call { args, dest });
                    }
                    Callee::Extern(_) => {}
                }
            }
            I::Return { value: Some(v) } => {
                let (v, r) = (local(self, *v), self.node(Loc::Result(f)));
                self.edge(v, r);
            }
            _ => {}
        }
    }

    /// Propagates until nothing grows.
    fn solve(&mut self) {
        while let Some(n) = self.work.pop_front() {
            self.queued[n] = false;
            let delta = std::mem::take(&mut self.pending[n]);
            for i in 0..self.edges[n].len() {
                let to = self.edges[n][i];
                for &value in &delta {
                    self.add(to, value);
                }
            }
            for i in 0..self.uses[n].len() {
                let u = self.uses[n][i].clone();
                for &value in &delta {
                    self.apply_use(&u, value);
                }
            }
        }
    }
}
