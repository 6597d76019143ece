//! The transfer functions: what each instruction and each plan operation does to the
//! abstract state, and the checks made on the way.
//!
//! The semantics are those of `ir::exec` (spec/plan-format.md 1.3 and 4): instructions
//! only move values, except that storing a value into memory (a field, an element, a
//! global, a new object's field, a capture), passing it to an `own` parameter, spawning
//! with it and returning it hand one of the function's references over; every count comes
//! from an operation.

use super::constants::ConstantPlaces;
use super::input::{FnInput, Target, VOp};
use super::liveness::Liveness;
use super::points_to::{AbstractSet, PointsTo};
use super::report::{Rule, Severity};
use super::state::{
    Count, Gone, Kind, Life, Origin, Place, Slot, State, ValueId, ValueKey, ValueState, Values,
};
use crate::plan::{OpKind, Placement, When};
use crate::{Callee, Function, FunctionId, InstAddr, InstKind, LocalId, Mode, Program, Type, ValueKind};
use std::rc::Rc;

/// A finding before it is given its function and path.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub(super) severity: Severity,
    pub(super) rule: Rule,
    pub(super) at: InstAddr,
    pub(super) op: Option<(usize, When)>,
    pub(super) message: String,
}

/// How a function hands its result to its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResultConvention {
    /// The caller receives a reference of its own.
    Owned,
    /// The caller receives a borrowed value (kept alive by an argument or a global).
    Borrowed,
    /// The function never returns a value it counts (constant data, `null`, or nothing).
    Nothing,
}

/// Everything the transfer functions of one function need.
pub(super) struct Transfer<'a> {
    pub(super) program: &'a Program,
    /// The function verified, and its id.
    pub(super) function: &'a Function,
    id: FunctionId,
    pub(super) input: &'a FnInput,
    /// Every function's plan (for callees' parameter modes).
    pub(super) inputs: &'a [FnInput],
    /// Callees' result conventions.
    pub(super) conventions: &'a [Option<ResultConvention>],
    pub(super) values: Values,
    pub(super) raws: Vec<Raw>,
    /// What this function's returns did: (some owned, some borrowed).
    pub(super) returned: (bool, bool),
    /// Fields and globals that only ever hold constant data.
    pub(super) constants: &'a ConstantPlaces,
    /// Which locals are read again after an instruction (computed when first needed).
    liveness: Option<Liveness>,
    /// The operation being applied, for findings.
    current_op: Option<(usize, When)>,
    /// Set by an instruction that stops the program on every run that reaches it (an
    /// element loaded or popped from an array known empty): the path ends there.
    pub(super) path_ends: bool,
}

/// Why a reference leaves the function's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consume {
    /// `drop`, `free`, `collect_cycles`.
    Release,
    /// Stored into memory that keeps it alive (a field, an element, a global, a capture).
    Store,
    /// Passed to an `own` parameter, a thread, or the caller.
    HandOver,
}

impl<'a> Transfer<'a> {
    pub(super) fn new(
        program: &'a Program,
        id: FunctionId,
        input: &'a FnInput,
        inputs: &'a [FnInput],
        conventions: &'a [Option<ResultConvention>],
        constants: &'a ConstantPlaces,
    ) -> Transfer<'a> {
        Transfer {
            program,
            function: &program.functions[id.index()],
            id,
            input,
            inputs,
            conventions,
            values: Values::default(),
            raws: Vec::new(),
            returned: (false, false),
            constants,
            liveness: None,
            current_op: None,
            path_ends: false,
        }
    }

    fn report(&mut self, severity: Severity, rule: Rule, at: InstAddr, message: String) {
        self.raws.push(Raw { severity, rule, at, op: self.current_op, message });
    }

    fn error(&mut self, rule: Rule, at: InstAddr, message: String) {
        self.report(Severity::Error, rule, at, message);
    }

    fn note(&mut self, at: InstAddr, message: String) {
        self.report(Severity::Note, Rule::Unproven, at, message);
    }

    /// `x`, `%3`.
    pub(super) fn name(&self, local: LocalId) -> String {
        match self.function.get_local(local).and_then(|d| d.name.as_deref()) {
            Some(name) => name.to_string(),
            None => format!("%{}", local.0),
        }
    }

    fn ty(&self, local: LocalId) -> Option<&'a Type> {
        self.function.get_local(local).map(|d| &d.ty)
    }

    /// Whether values of this local's type can hold references, and the program can put
    /// one there (rule verify-fact-constant: not if it only ever holds constant data).
    fn holds_refs(&self, local: LocalId) -> bool {
        self.ty(local).is_some_and(|t| type_holds_refs(self.program, t))
            && !self.constants.points_to.holds_constants_only(self.id, local)
    }

    /// What is known of the placement of a local's values: from the sites it can hold
    /// (rule verify-fact-placement), else from its type.
    fn placement_of(&self, local: LocalId) -> Kind {
        self.constants.points_to.placement(self.id, local).unwrap_or_else(|| self.type_kind(local))
    }

    /// What the program's allocations say about the placement of a local's values.
    fn type_kind(&self, local: LocalId) -> Kind {
        match self.ty(local).map(Type::non_null) {
            Some(Type::Class(c)) => self.constants.class_kinds.get(c).copied().unwrap_or(Kind::Unknown),
            _ => Kind::Unknown,
        }
    }

    /// Whether the local's type is a class with a `drop` block.
    fn observable(&self, local: LocalId) -> bool {
        match self.ty(local).map(Type::non_null) {
            Some(Type::Class(c)) => self.program.classes.get(c.index()).is_some_and(|c| c.drop.is_some()),
            _ => false,
        }
    }

    /// The state at function entry: parameters hold what the call gave them (one
    /// reference each for `own` ones), captures are borrowed from the environment.
    pub(super) fn entry(&mut self) -> State {
        let mut state = State {
            locals: vec![Slot::Empty; self.function.locals.len()],
            values: Default::default(),
            arenas: Vec::new(),
            released: Vec::new(),
        };
        let is_drop = matches!(self.function.kind, crate::FunctionKind::Drop { .. });
        for (i, &p) in self.function.params.iter().enumerate() {
            if !self.holds_refs(p) {
                continue;
            }
            let own = !is_drop && self.input.modes.get(i).copied().flatten() != Some(Mode::Borrow);
            let v = self.values.id(ValueKey::Param(i as u32));
            // A closure body's parameters are `own` (spec/plan-format.md 3.5) and receive
            // only what closure calls pass: a class no closure call passes never arrives,
            // so the kind its other allocations share says nothing about them.
            let kind = match (&self.function.kind, self.ty(p).map(Type::non_null)) {
                _ if self.constants.points_to.placement(self.id, p).is_some() => self.placement_of(p),
                (crate::FunctionKind::Closure { .. }, Some(Type::Class(c)))
                    if !self.constants.closure_receives(*c) =>
                {
                    Kind::Counted
                }
                _ => self.type_kind(p),
            };
            let mut s = received(u32::from(own), kind, self.observable(p));
            s.backed = !own;
            s.observable = self.observable(p);
            state.values.insert(v, s);
            if let Some(slot) = state.locals.get_mut(p.index()) {
                *slot = Slot::Val(v);
            }
        }
        for (i, &c) in self.function.captures.iter().enumerate() {
            if !self.holds_refs(c) {
                continue;
            }
            let v = self.values.id(ValueKey::Capture(i as u32));
            let mut s = ValueState::new(0, self.placement_of(c));
            s.backed = true;
            state.values.insert(v, s);
            if let Some(slot) = state.locals.get_mut(c.index()) {
                *slot = Slot::Val(v);
            }
        }
        state
    }

    // ---- the pieces ----------------------------------------------------------------------

    /// A read of a local by an instruction or an operation.
    fn use_local(&mut self, state: &State, local: LocalId, at: InstAddr, what: &str) {
        let Some((v, s)) = state.value(local) else { return };
        let gone = match s.life {
            Life::Gone(where_, how) => Some((where_, how)),
            _ => None,
        };
        if let Some((where_, how)) = gone {
            let how = match how {
                Gone::Released => "released",
                Gone::HandedOver => "handed over",
                Gone::ArenaFreed => "freed with its arena",
            };
            let message = format!("{what} {} after its value was {how} at {where_}", self.name(local));
            return self.error(Rule::UseAfterRelease, at, message);
        }
        if let Life::Destroyed(where_) = s.life {
            let message = format!("{what} {} after its value was destroyed at {where_}", self.name(local));
            return self.error(Rule::UseAfterRelease, at, message);
        }
        // A borrowed value read out of a container the function has released since.
        if s.count == Count::Known(0)
            && let Origin::Field(Some(p), _) | Origin::Elem(Some(p)) = s.origin
            && p != v
            && let Some(ps) = state.values.get(&p)
            && let Life::Gone(where_, Gone::Released) = ps.life
        {
            let message = format!(
                "{what} {}, which was read from an object released at {where_} and holds no reference of its own",
                self.name(local)
            );
            // Whether releasing the container freed what it held depends on the heap
            // (the contents may be shared, constant or in an arena) unless the contents
            // are known to be heap objects the container owned.
            if matches!(s.kind, Kind::Counted | Kind::Unique) {
                self.error(Rule::UseAfterRelease, at, message);
            } else if s.kind == Kind::Unknown {
                self.note(at, message);
            }
        }
    }

    /// Writes a local; the value it held loses this name, and if that was its last name
    /// while the function still owns it, a reference is lost.
    fn write(&mut self, state: &mut State, local: LocalId, slot: Slot, at: InstAddr, why: &str) {
        let old = state.slot(local);
        // A released element named by this index local is no longer the one it names.
        state.released.retain(|(p, _)| !matches!(p, Place::Elem(_, i) if *i == local));
        if let Some(s) = state.locals.get_mut(local.index()) {
            *s = slot;
        }
        if let Slot::Val(v) = old
            && slot != old
        {
            self.check_orphan(state, v, local, at, why);
        }
    }

    fn check_orphan(&mut self, state: &mut State, v: ValueId, local: LocalId, at: InstAddr, why: &str) {
        if state.named_elsewhere(v, None) {
            return;
        }
        let Some(s) = state.values.get(&v) else { return };
        if s.owes() {
            let message = format!("{} is {why} while {}, which nothing releases", self.name(local), owed(s));
            self.error(Rule::Leak, at, message);
            // Reported once: the lost reference is not reported again at the return.
            if let Some(s) = state.values.get_mut(&v) {
                s.count = Count::Known(0);
            }
        }
    }

    /// A fresh value written to `dest`.
    fn define(
        &mut self,
        state: &mut State,
        dest: LocalId,
        at: InstAddr,
        s: ValueState,
        why: &str,
    ) -> ValueId {
        let v = self.values.id(ValueKey::Def(at));
        self.retire(state, v, dest);
        state.values.insert(v, s);
        self.write(state, dest, Slot::Val(v), at, why);
        v
    }

    /// A site writes again: its previous value, if still named elsewhere, is renamed.
    fn retire(&mut self, state: &mut State, v: ValueId, dest: LocalId) {
        state.released.retain(|(p, _)| !matches!(p, Place::Field(o, _) | Place::Elem(o, _) if *o == v));
        if !state.values.contains_key(&v) {
            return;
        }
        if state.named_elsewhere(v, Some(dest))
            || matches!(state.values.get(&v).map(|s| s.count), Some(Count::Known(n)) if n > 0)
        {
            let shadow = self.values.id(ValueKey::Shadow(v));
            let mut old = state.values.remove(&v).unwrap_or_else(|| ValueState::new(0, Kind::Unknown));
            if state.values.contains_key(&shadow) {
                old.count = Count::Top;
            }
            state.values.insert(shadow, old);
            for slot in state.locals.iter_mut() {
                if *slot == Slot::Val(v) {
                    *slot = Slot::Val(shadow);
                }
            }
            for s in state.values.values_mut() {
                match &mut s.origin {
                    Origin::Field(Some(p), _) | Origin::Elem(Some(p)) if *p == v => *p = shadow,
                    _ => {}
                }
            }
        } else {
            state.values.remove(&v);
        }
    }

    /// One of the function's references to the value in `local` leaves its hands.
    fn consume(&mut self, state: &mut State, local: LocalId, how: Consume, at: InstAddr, what: &str) {
        let Some((v, _)) = state.value(local) else { return };
        self.consume_value(state, v, local, how, at, what);
    }

    fn consume_value(
        &mut self,
        state: &mut State,
        v: ValueId,
        local: LocalId,
        how: Consume,
        at: InstAddr,
        what: &str,
    ) {
        let name = self.name(local);
        let Some(s) = state.values.get_mut(&v) else { return };
        if !s.counts() {
            // A stack or arena object owed a `destroy` that is stored or handed over is
            // destroyed by whoever receives it.
            if s.kind == Kind::Region && how != Consume::Release {
                s.count = Count::Known(0);
            }
            return;
        }
        match (s.count, s.life) {
            (_, Life::Gone(where_, _)) if how == Consume::Release => {
                let message = format!("{what} {name}, whose value was already released at {where_}");
                self.error(Rule::DoubleRelease, at, message);
            }
            (_, Life::Gone(where_, _)) => {
                let message = format!("{what} {name}, whose value was released or handed over at {where_}");
                self.error(Rule::UseAfterRelease, at, message);
            }
            (Count::Top, _) => {}
            (Count::Known(0), _) => {
                let (rule, message) = match how {
                    Consume::Release => (
                        Rule::ReleaseUnowned,
                        format!(
                            "{what} {name}, but the function owns no reference to its value here (it is borrowed, or its reference was stored or handed over)"
                        ),
                    ),
                    _ => (
                        Rule::HandoverUnowned,
                        format!(
                            "{what} {name}, but the function owns no reference to its value to give (it is borrowed; a `dup` is missing)"
                        ),
                    ),
                };
                self.error(rule, at, message);
            }
            (Count::Known(n), _) => {
                s.count = Count::Known(n - 1);
                if n == 1 {
                    match how {
                        Consume::Store => s.backed = true,
                        Consume::Release if !s.backed => s.life = Life::Gone(at, Gone::Released),
                        Consume::HandOver if !s.backed => s.life = Life::Gone(at, Gone::HandedOver),
                        _ => {}
                    }
                }
            }
        }
    }

    pub(super) fn kind_of(placement: Placement) -> Kind {
        match placement {
            Placement::HeapRc | Placement::HeapAtomicRc => Kind::Counted,
            Placement::HeapUnique | Placement::Manual => Kind::Unique,
            Placement::Stack | Placement::Arena => Kind::Region,
            Placement::Static => Kind::Static,
        }
    }

    /// A fresh allocation at `at`, placed as the plan says (`heap_rc` without an entry).
    fn allocation(&mut self, state: &State, at: InstAddr, dest: LocalId) -> ValueState {
        if let Some(a) = self.input.allocs.get(&at)
            && a.placement == Placement::Arena
            && let Some(scope) = a.arena_scope
            && !state.arenas.contains(&scope)
        {
            let message =
                format!("an allocation placed in the arena of s{}, which is not open here", scope.0);
            self.error(Rule::ArenaBalance, at, message);
        }
        let (kind, arena_scope) = match self.input.allocs.get(&at) {
            Some(a) => (Self::kind_of(a.placement), a.arena_scope),
            None => (Kind::Counted, None),
        };
        let mut s = ValueState::new(1, kind);
        s.arena_scope = arena_scope;
        s.observable = self.observable(dest);
        s.sites = Some(Rc::new([PointsTo::site(self.id, at)].into()));
        // A stack or arena object is owed a `destroy` if it has a `drop` block (and, see
        // the allocating instructions, if it takes heap references the function owned).
        if kind == Kind::Region {
            s.count = Count::Known(u32::from(s.observable));
        }
        s
    }

    /// Rules verify-fact-constant and verify-fact-placement, for the value this function
    /// holds: what a field (or, with `None`, an element) of the value in `container` can
    /// hold, when the sites of that value are known more precisely than those of every
    /// value its local ever holds (a local written twice holds one of them at a time).
    fn loaded_sites(&self, state: &State, container: LocalId, field: Option<u32>) -> Option<Rc<AbstractSet>> {
        let (_, s) = state.value(container)?;
        let sites = s.sites.as_deref()?;
        Some(Rc::new(self.constants.points_to.through(sites, field)))
    }

    /// A loaded value's placement from what it can be, if that is more precise.
    fn narrow(&self, s: &mut ValueState, precise: Option<Rc<AbstractSet>>) {
        if let Some(kind) = precise.as_deref().and_then(|p| self.constants.points_to.placement_of_set(p)) {
            s.kind = kind;
        }
        s.sites = precise;
    }

    /// A value loaded from a place: borrowed from it.
    fn loaded(&self, origin: Origin, dest: LocalId) -> ValueState {
        let mut s = ValueState::new(0, self.placement_of(dest));
        s.backed = true;
        s.origin = origin;
        s.observable = self.observable(dest);
        s
    }

    // ---- instructions -------------------------------------------------------------------

    /// Applies an instruction (between its `before` and `after` operations).
    pub(super) fn inst(&mut self, state: &mut State, at: InstAddr, kind: &InstKind) {
        use InstKind as I;
        self.current_op = None;
        let uses = kind.uses();
        for &l in &uses {
            // `free x` reads nothing; its operation did.
            if !matches!(kind, I::Free { .. }) {
                self.use_local(state, l, at, "the instruction reads");
            }
        }
        if let I::LoadElem { array, .. } | I::Pop { array, .. } = kind
            && self.known_empty(state, *array)
        {
            return;
        }
        let immediate = |t: &Self, l: LocalId| !t.holds_refs(l);
        // An object passed, stored, captured or returned may have its fields written by
        // code the verifier does not follow: what it knew of them is forgotten.
        let exposes = match kind {
            I::LoadField { .. }
            | I::StoreField { .. }
            | I::Copy { .. }
            | I::Len { .. }
            | I::IsNull { .. }
            | I::NullCheck { .. }
            | I::Print { .. }
            | I::Branch { .. }
            | I::Free { .. }
            | I::Unary { .. }
            | I::Binary { .. } => Vec::new(),
            _ => uses.clone(),
        };
        let exposes = match kind {
            I::StoreField { value, .. } => vec![*value],
            _ => exposes,
        };
        // Rule verify-fact-empty, for fields: the empty arrays a new object is made with
        // (read before the instruction exposes them), and what may fill an array held in
        // some object's field: any write through an array, or any value handed to other
        // code (which may reach an array of a field through an alias). Either forgets
        // every object's empty fields.
        let empty_fields: Vec<u32> = match kind {
            I::NewObject { fields, .. } => (0..fields.len() as u32)
                .filter(|&i| state.value(fields[i as usize]).is_some_and(|(_, s)| s.empty))
                .collect(),
            _ => Vec::new(),
        };
        let fills = matches!(kind, I::Push { .. } | I::StoreElem { .. })
            || exposes.iter().any(|&l| matches!(state.slot(l), Slot::Val(_)));
        if fills {
            for s in state.values.values_mut() {
                s.empty_fields.clear();
            }
        }
        for l in exposes {
            if let Slot::Val(v) = state.slot(l)
                && let Some(s) = state.values.get_mut(&v)
            {
                s.constant_fields.clear();
                s.region_fields.clear();
                s.empty = false;
            }
        }
        match kind {
            I::Const { dest, .. }
            | I::Unary { dest, .. }
            | I::Binary { dest, .. }
            | I::IsNull { dest, .. }
            | I::Len { dest, .. } => {
                self.write(state, *dest, Slot::Nothing, at, "overwritten");
            }
            I::Copy { dest, src } => {
                let slot = if immediate(self, *dest) { Slot::Nothing } else { state.slot(*src) };
                let slot = if slot == Slot::Empty { Slot::Nothing } else { slot };
                self.write(state, *dest, slot, at, "overwritten");
            }
            I::NullCheck { .. } | I::Print { .. } | I::Jump { .. } | I::Branch { .. } | I::Unreachable => {}
            I::NewObject { dest, fields, .. }
            | I::NewArray { dest, elems: fields, .. }
            | I::NewClosure { dest, captures: fields, .. } => {
                // A stack or arena object that takes a heap reference the function owned
                // must be destroyed to release it.
                let holds = fields.iter().any(|&f| {
                    state.value(f).is_some_and(|(_, s)| {
                        matches!(s.kind, Kind::Counted | Kind::Unique)
                            && matches!(s.count, Count::Known(n) if n > 0)
                    })
                });
                let constant_fields: Vec<u32> = match kind {
                    I::NewObject { .. } => (0..fields.len() as u32)
                        .filter(|&i| state.slot(fields[i as usize]) == Slot::Nothing)
                        .collect(),
                    _ => Vec::new(),
                };
                let region_fields: Vec<(u32, Kind, Option<crate::ScopeId>)> = match kind {
                    I::NewObject { .. } => (0..fields.len() as u32)
                        .filter_map(|i| region_of(state, fields[i as usize]).map(|(k, a)| (i, k, a)))
                        .collect(),
                    _ => Vec::new(),
                };
                for &f in fields {
                    self.consume(state, f, Consume::Store, at, "the new object stores");
                }
                let mut s = self.allocation(state, at, *dest);
                s.constant_fields = constant_fields;
                s.region_fields = region_fields;
                s.empty_fields = empty_fields;
                s.empty = matches!(kind, I::NewArray { elems, .. } if elems.is_empty());
                if s.kind == Kind::Region && holds {
                    s.count = Count::Known(1);
                }
                self.define(state, *dest, at, s, "overwritten");
            }
            I::NewArrayRepeat { dest, .. } | I::Concat { dest, .. } | I::ToString { dest, .. } => {
                // `[v; n]`: the plan's `dup v count n` gives the array its n references;
                // counts by a run-time number are not followed.
                let s = self.allocation(state, at, *dest);
                self.define(state, *dest, at, s, "overwritten");
            }
            I::NewStruct { dest, fields, .. } => {
                // The struct value owns what its fields own: nothing if every field is
                // stack, arena or static memory that no count or `destroy` is owed for.
                let mut any = false;
                // Fields made of constant data hold no reference for as long as this
                // value (a copy: no other code writes its fields) is not stored into.
                let constant_fields: Vec<u32> = (0..fields.len() as u32)
                    .filter(|&i| state.slot(fields[i as usize]) == Slot::Nothing)
                    .collect();
                for &f in fields {
                    if state.value(f).is_some_and(|(_, s)| s.counts() || s.owes()) {
                        any = true;
                    }
                    self.consume(state, f, Consume::Store, at, "the new struct value stores");
                }
                if any {
                    let mut s = ValueState::new(1, Kind::Unknown);
                    s.observable = false;
                    s.constant_fields = constant_fields;
                    s.sites = Some(Rc::new([PointsTo::site(self.id, at)].into()));
                    self.define(state, *dest, at, s, "overwritten");
                } else {
                    self.write(state, *dest, Slot::Nothing, at, "overwritten");
                }
            }
            I::LoadField { dest, object, field } => {
                let precise = self.loaded_sites(state, *object, Some(*field));
                // A field of a value without references (a struct value built of
                // constants, `null`) holds none either.
                if immediate(self, *dest)
                    || self.constants.field_is_constant(self.ty(*object), *field)
                    || state.slot(*object) == Slot::Nothing
                    || state.value(*object).is_some_and(|(_, s)| s.constant_fields.contains(field))
                    || precise.as_deref().is_some_and(|p| self.constants.points_to.is_constant(p))
                {
                    return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                }
                let parent = state.value(*object).map(|(v, _)| v);
                let mut s = self.loaded(Origin::Field(parent, *field), *dest);
                self.narrow(&mut s, precise);
                s.empty = state.value(*object).is_some_and(|(_, o)| o.empty_fields.contains(field));
                if let Some((_, ps)) = state.value(*object)
                    && let Some(&(_, k, a)) = ps.region_fields.iter().find(|(f, _, _)| f == field)
                {
                    s.kind = k;
                    s.arena_scope = a;
                }
                if let Some(p) = parent {
                    self.load_released(state, Place::Field(p, *field), &mut s);
                }
                self.define(state, *dest, at, s, "overwritten");
            }
            I::LoadElem { dest, array, .. } => {
                let precise = self.loaded_sites(state, *array, None);
                if immediate(self, *dest)
                    || precise.as_deref().is_some_and(|p| self.constants.points_to.is_constant(p))
                {
                    return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                }
                let parent = state.value(*array).map(|(v, _)| v);
                let mut s = self.loaded(Origin::Elem(parent), *dest);
                self.narrow(&mut s, precise);
                if let (Some(p), I::LoadElem { index, .. }) = (parent, kind) {
                    self.load_released(state, Place::Elem(p, *index), &mut s);
                }
                self.define(state, *dest, at, s, "overwritten");
            }
            I::LoadGlobal { dest, global } => {
                if immediate(self, *dest) || self.constants.global_is_constant(global.0) {
                    return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                }
                let mut s = self.loaded(Origin::Global(global.0), *dest);
                self.load_released(state, Place::Global(global.0), &mut s);
                self.define(state, *dest, at, s, "overwritten");
            }
            I::StoreField { value, .. }
            | I::StoreElem { value, .. }
            | I::Push { value, .. }
            | I::StoreGlobal { value, .. } => {
                if let I::StoreElem { array, .. } | I::Push { array, .. } = kind {
                    self.check_cow_before(state, *array, at);
                    if let Slot::Val(a) = state.slot(*array)
                        && let Some(s) = state.values.get_mut(&a)
                    {
                        s.empty = false;
                    }
                }
                // The store overwrites the stale pointer of a released place.
                let stored = match kind {
                    I::StoreField { object, field, .. } => {
                        state.value(*object).map(|(v, _)| Place::Field(v, *field))
                    }
                    I::StoreElem { array, index, .. } => {
                        state.value(*array).map(|(v, _)| Place::Elem(v, *index))
                    }
                    I::StoreGlobal { global, .. } => Some(Place::Global(global.0)),
                    _ => None,
                };
                // Not released since it was loaded, nor by an operation of this store.
                let released_here = self.input.ops_at(at, When::Before).iter().any(|op| {
                    matches!(op.kind, OpKind::Drop | OpKind::Free | OpKind::Destroy | OpKind::CollectCycles)
                        && match (op.target, kind) {
                            (Target::Field(o, f), I::StoreField { object, field, .. }) => {
                                f == *field && state.slot(o) == state.slot(*object)
                            }
                            (Target::Global(g), I::StoreGlobal { global, .. }) => g == *global,
                            _ => false,
                        }
                });
                let unreleased = !released_here
                    && stored.is_none_or(|place| !state.released.iter().any(|(p, _)| *p == place));
                if let Some(place) = stored {
                    state.released.retain(|(p, _)| *p != place);
                }
                if let I::StoreField { object, field, value } = kind
                    && let Slot::Val(o) = state.slot(*object)
                {
                    // A store into a struct value writes the copy in this local only, while
                    // the verifier's value may stand for several copies (after `copy`):
                    // what it stores is learnt only for objects, which are shared.
                    let object_is_class =
                        matches!(self.ty(*object).map(Type::non_null), Some(Type::Class(_)));
                    let nothing = object_is_class && state.slot(*value) == Slot::Nothing;
                    let region = region_of(state, *value).filter(|_| object_is_class);
                    let stored_empty = state.value(*value).is_some_and(|(_, v)| v.empty);
                    if let Some(s) = state.values.get_mut(&o) {
                        s.empty_fields.retain(|f| f != field);
                        if stored_empty && object_is_class {
                            s.empty_fields.push(*field);
                        }
                        s.constant_fields.retain(|f| f != field);
                        if nothing {
                            s.constant_fields.push(*field);
                        }
                        s.region_fields.retain(|(f, _, _)| f != field);
                        if let Some((k, a)) = region {
                            s.region_fields.push((*field, k, a));
                        }
                    }
                }
                // Writing a borrowed value back where it was loaded from (after writing
                // through it) leaves the place's reference where it was.
                let place = match kind {
                    I::StoreField { object, field, .. } => {
                        Some(Origin::Field(state.value(*object).map(|(v, _)| v), *field))
                    }
                    I::StoreGlobal { global, .. } => Some(Origin::Global(global.0)),
                    _ => None,
                };
                // That holds too for a value the function took a reference of its own to
                // (`dup`) while the place still holds it (nothing was stored there or
                // released since): the place keeps its reference, the function its own.
                let write_back = state.value(*value).is_some_and(|(_, s)| {
                    (s.count == Count::Known(0) || (s.backed && unreleased && s.life == Life::Live))
                        && Some(s.origin) == place
                        && !matches!(s.origin, Origin::Field(None, _))
                });
                if !write_back {
                    // A value borrowed from this place that the plan did not release
                    // first is swapped out: the place's reference moves to it (rule
                    // own-take-field of the lifetime analysis).
                    if let Some(place) = place
                        && !matches!(place, Origin::Field(None, _))
                    {
                        let stored = state.value(*value).map(|(v, _)| v);
                        let swapped: Vec<ValueId> = state
                            .values
                            .iter()
                            .filter(|(v, s)| {
                                Some(**v) != stored
                                    && s.origin == place
                                    && s.count == Count::Known(0)
                                    && s.life == Life::Live
                                    && state.named_elsewhere(**v, None)
                            })
                            .map(|(v, _)| *v)
                            .collect();
                        for v in swapped {
                            if let Some(s) = state.values.get_mut(&v) {
                                if owes_when_taken(s) {
                                    s.count = Count::Known(1);
                                }
                                s.backed = false;
                            }
                        }
                    }
                    self.consume(state, *value, Consume::Store, at, "the store hands over");
                }
                // A struct value that held no references holds the stored one now.
                if let I::StoreField { object, .. } = kind
                    && state.slot(*object) == Slot::Nothing
                    && matches!(self.ty(*object).map(Type::non_null), Some(Type::Struct(_)))
                    && state.value(*value).is_some_and(|(_, s)| s.counts() || s.owes())
                {
                    self.define(state, *object, at, ValueState::new(1, Kind::Unknown), "overwritten");
                }
            }
            I::Pop { dest, array } => {
                self.check_cow_before(state, *array, at);
                let precise = self.loaded_sites(state, *array, None);
                if immediate(self, *dest)
                    || precise.as_deref().is_some_and(|p| self.constants.points_to.is_constant(p))
                {
                    return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                }
                // The array's reference to the element moves to `dest`.
                let kind = precise
                    .as_deref()
                    .and_then(|p| self.constants.points_to.placement_of_set(p))
                    .unwrap_or_else(|| self.placement_of(*dest));
                let mut s = received(1, kind, self.observable(*dest));
                s.sites = precise;
                s.observable = self.observable(*dest);
                self.define(state, *dest, at, s, "overwritten");
            }
            I::Call { dest, callee, args } => {
                self.call_args(state, callee, args, at);
                if let Some(dest) = dest {
                    if immediate(self, *dest) {
                        return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                    }
                    let convention = match callee {
                        Callee::Function(f) => self.conventions.get(f.index()).copied().flatten(),
                        // A call through a closure value runs one of the program's closure
                        // bodies of its arity: if none of them returns a counted value,
                        // neither does the call.
                        Callee::Closure(_)
                            if self.constants.closure_bodies.as_ref().is_some_and(|bodies| {
                                bodies.iter().filter(|(_, n)| *n == args.len()).all(|(b, _)| {
                                    self.conventions.get(b.index()).copied().flatten()
                                        == Some(ResultConvention::Nothing)
                                })
                            }) =>
                        {
                            Some(ResultConvention::Nothing)
                        }
                        _ => Some(ResultConvention::Owned),
                    };
                    if convention == Some(ResultConvention::Nothing) {
                        return self.write(state, *dest, Slot::Nothing, at, "overwritten");
                    }
                    let mut s = match convention {
                        Some(ResultConvention::Borrowed | ResultConvention::Nothing) => {
                            let mut s = ValueState::new(0, self.placement_of(*dest));
                            s.backed = true;
                            s
                        }
                        _ => received(1, self.placement_of(*dest), self.observable(*dest)),
                    };
                    s.observable = self.observable(*dest);
                    self.define(state, *dest, at, s, "overwritten");
                }
            }
            I::Spawn { callee, args } => {
                self.call_args(state, callee, args, at);
                if let Callee::Closure(c) = callee {
                    self.consume(state, *c, Consume::HandOver, at, "the spawned thread takes");
                }
            }
            I::Free { value } => self.write(state, *value, Slot::Empty, at, "ended by `free`"),
            I::ScopeEnter { .. } | I::ScopeExit { .. } => {
                if let I::ScopeExit { scope } = kind {
                    self.check_release_order(*scope, at);
                }
                let ended = self.function.ended_by(kind, &self.input.scope_locals);
                let why = if matches!(kind, I::ScopeExit { .. }) {
                    "ended by its scope's exit"
                } else {
                    "restarted by its scope's entry"
                };
                for l in ended {
                    self.write(state, l, Slot::Empty, at, why);
                }
            }
            I::Return { value } => {
                if let Some(l) = value
                    && let Some((v, s)) = state.value(*l)
                    && s.counts()
                {
                    match s.count {
                        Count::Known(0) => self.returned.1 = true,
                        Count::Known(_) => {
                            self.returned.0 = true;
                            self.consume_value(state, v, *l, Consume::HandOver, at, "the return hands over");
                        }
                        Count::Top => {}
                    }
                }
            }
        }
    }

    /// Rule verify-fact-empty: an element loaded or popped from an array known to hold
    /// none stops the program (index out of bounds), so no run goes on along this path.
    fn known_empty(&mut self, state: &State, array: LocalId) -> bool {
        let empty = state.value(array).is_some_and(|(_, s)| s.empty && s.life == Life::Live);
        self.path_ends |= empty;
        empty
    }

    /// A write through an array that may be shared (counted, or of unknown placement) or
    /// is constant needs a copy-on-write operation on it just before.
    fn check_cow_before(&mut self, state: &State, array: LocalId, at: InstAddr) {
        let Some((_, s)) = state.value(array) else { return };
        if !matches!(s.kind, Kind::Counted | Kind::Unknown | Kind::Static) {
            return;
        }
        let covered = self.input.ops_at(at, When::Before).iter().any(|op| {
            matches!(op.kind, OpKind::CowCheck | OpKind::CowCopy | OpKind::CowInPlace)
                && op.target == Target::Local(array)
        });
        if !covered {
            let message = format!(
                "`{}` writes through {}, which may be shared or constant, with no copy-on-write operation before it",
                self.function.inst(at).map_or("?", |i| i.kind.mnemonic()),
                self.name(array)
            );
            self.error(Rule::CowMissing, at, message);
        }
    }

    fn call_args(&mut self, state: &mut State, callee: &Callee, args: &[LocalId], at: InstAddr) {
        for (i, &a) in args.iter().enumerate() {
            let mode = match callee {
                Callee::Function(f) => self
                    .inputs
                    .get(f.index())
                    .and_then(|fi| fi.modes.get(i).copied().flatten())
                    .unwrap_or(Mode::Own),
                // Closure bodies take every parameter `own`.
                Callee::Closure(_) => Mode::Own,
                Callee::Extern(_) => {
                    // Code custody cannot see (nor run): whatever it does with its
                    // arguments, their counts are not followed from here.
                    if let Some((v, s)) = state.value(a)
                        && s.counts()
                    {
                        if let Some(s) = state.values.get_mut(&v) {
                            s.count = Count::Top;
                        }
                        let message = format!(
                            "{} is passed to extern code: its ownership is not followed from here",
                            self.name(a)
                        );
                        self.note(at, message);
                    }
                    continue;
                }
            };
            if mode == Mode::Own {
                self.consume(state, a, Consume::HandOver, at, "the call hands over");
            }
        }
    }

    /// The checks at `return`, once its `after` operations have run: nothing owned is
    /// left behind.
    pub(super) fn at_return(&mut self, state: &State, at: InstAddr) {
        self.current_op = None;
        if let Some(open) = state.arenas.last() {
            let message =
                format!("the function returns with the arena of s{} still open: it is never freed", open.0);
            self.error(Rule::ArenaBalance, at, message);
        }
        for (v, s) in &state.values {
            if s.owes() {
                let name = state
                    .locals
                    .iter()
                    .position(|x| *x == Slot::Val(*v))
                    .map_or_else(|| "a value no local names".to_string(), |l| self.name(LocalId::from(l)));
                let message =
                    format!("the function returns while {} ({name}), which nothing releases", owed(s));
                self.error(Rule::Leak, at, message);
            }
        }
    }

    // ---- operations -----------------------------------------------------------------------

    /// Applies one plan operation at the instruction `at` (of kind `inst`).
    pub(super) fn op(&mut self, state: &mut State, op: &VOp, when: When, at: InstAddr, inst: &InstKind) {
        self.current_op = Some((op.index, when));
        match op.target {
            Target::Scope(scope) => {
                if op.kind == OpKind::ArenaEnter {
                    if state.arenas.contains(&scope) {
                        let message =
                            format!("`arena_enter` of s{}, whose arena is already open here", scope.0);
                        self.error(Rule::ArenaBalance, at, message);
                    } else {
                        state.arenas.push(scope);
                    }
                }
                if op.kind == OpKind::ArenaExit {
                    match state.arenas.iter().rposition(|s| *s == scope) {
                        Some(i) => state.arenas.truncate(i),
                        None => {
                            let message =
                                format!("`arena_exit` of s{}, whose arena is not open here", scope.0);
                            self.error(Rule::ArenaBalance, at, message);
                        }
                    }
                    let mut undestroyed = 0;
                    for s in state.values.values_mut() {
                        let here = s.kind == Kind::Region && s.arena_scope == Some(scope);
                        if here && matches!(s.life, Life::Live | Life::Destroyed(_)) {
                            if s.owes() {
                                undestroyed += 1;
                            }
                            s.life = Life::Gone(at, Gone::ArenaFreed);
                        }
                    }
                    if undestroyed > 0 {
                        let message = format!(
                            "the arena of s{} is freed with {undestroyed} object(s) in it that have a `drop` block or hold references and were not destroyed",
                            scope.0
                        );
                        self.error(Rule::Leak, at, message);
                    }
                }
            }
            Target::Local(l) => self.local_op(state, op, l, when, at, inst),
            Target::Field(l, _) | Target::Elem(l, _) => {
                self.use_local(state, l, at, &format!("`{}` reads through", op.kind.as_str()));
                self.place_op(state, op, when, at, inst);
            }
            Target::Global(_) => self.place_op(state, op, when, at, inst),
        }
    }

    fn local_op(
        &mut self,
        state: &mut State,
        op: &VOp,
        l: LocalId,
        when: When,
        at: InstAddr,
        inst: &InstKind,
    ) {
        let what = format!("`{}` of", op.kind.as_str());
        let Some((v, s)) = state.value(l) else { return };
        let s = s.clone();
        match op.kind {
            OpKind::Dup => {
                self.use_local(state, l, at, &what);
                if op.count.is_some()
                    || !matches!(s.kind, Kind::Counted | Kind::Unknown)
                    || s.life != Life::Live
                {
                    return;
                }
                if let Some(s) = state.values.get_mut(&v)
                    && let Count::Known(n) = s.count
                {
                    s.count = Count::Known(n + 1);
                }
            }
            OpKind::Move => self.use_local(state, l, at, &what),
            OpKind::Drop | OpKind::Free | OpKind::CollectCycles | OpKind::Destroy => {
                self.check_observable(state, op, l, when, at, inst);
                match (s.kind, op.kind) {
                    (Kind::Static, _) => {}
                    (Kind::Region, OpKind::Drop | OpKind::CollectCycles) => {}
                    (Kind::Region, _) => match s.life {
                        Life::Live => {
                            if let Some(s) = state.values.get_mut(&v) {
                                s.life = Life::Destroyed(at);
                                s.count = Count::Known(0);
                            }
                        }
                        Life::Destroyed(w) | Life::Gone(w, _) => {
                            let message = format!(
                                "{what} {}, whose value was already destroyed or freed at {w}",
                                self.name(l)
                            );
                            self.error(Rule::DoubleRelease, at, message);
                        }
                    },
                    (Kind::Unique, OpKind::Drop) => {
                        let message = format!(
                            "`drop` of {}, whose value is heap_unique: a drop does nothing to it (it needs `free`)",
                            self.name(l)
                        );
                        self.error(Rule::ReleaseKind, at, message);
                    }
                    (Kind::Counted, OpKind::Destroy) => {
                        let message = format!(
                            "`destroy` of {}, whose value is counted: destroying it leaves its references to others dangling (it needs `drop`)",
                            self.name(l)
                        );
                        self.error(Rule::ReleaseKind, at, message);
                    }
                    (Kind::Unknown, OpKind::Destroy) => {
                        let message =
                            format!("`destroy` of {}, whose placement is not known here", self.name(l));
                        self.note(at, message);
                    }
                    _ => {
                        if op.count.is_none() {
                            self.consume_value(
                                state,
                                v,
                                l,
                                Consume::Release,
                                at,
                                &format!("`{}` releases", op.kind.as_str()),
                            );
                        }
                    }
                }
            }
            OpKind::CowCheck | OpKind::CowCopy | OpKind::CowInPlace => self.cow(state, op, l, v, &s, at),
            OpKind::ArenaEnter | OpKind::ArenaExit => {}
        }
    }

    fn cow(&mut self, state: &mut State, op: &VOp, l: LocalId, v: ValueId, s: &ValueState, at: InstAddr) {
        self.use_local(state, l, at, &format!("`{}` of", op.kind.as_str()));
        // Rule verify-fact-empty: where the local is given a fresh copy below, the copy
        // is as empty as the array was; unless the operation surely copies (`cow_copy`;
        // a `cow_check` of constant data, or of a counted array the function itself holds
        // two references to), the local may still name the old array at run time, and
        // what is written through the local lands in it: the old array is not known
        // empty any more.
        let copies = match op.kind {
            OpKind::CowCopy => true,
            OpKind::CowCheck => {
                s.kind == Kind::Static
                    || (s.kind == Kind::Counted && matches!(s.count, Count::Known(n) if n >= 2))
            }
            _ => false,
        };
        let original = (v, copies);
        if op.kind == OpKind::CowInPlace {
            if s.kind == Kind::Static {
                let message = format!(
                    "`cow_in_place` of {}, whose array is constant data (static): it must be copied",
                    self.name(l)
                );
                return self.error(Rule::CowShared, at, message);
            }
            // Another name of the array that is read after the write would see it.
            let function = self.function;
            let liveness = self.liveness.get_or_insert_with(|| Liveness::new(function));
            let alias = state.locals.iter().enumerate().find_map(|(i, slot)| {
                let other = LocalId::from(i);
                (*slot == Slot::Val(v) && other != l && liveness.live_after(function, at, other))
                    .then_some(other)
            });
            if let Some(other) = alias {
                let message = format!(
                    "`cow_in_place` of {}, but {} names the same array and is read after the write: it would see it",
                    self.name(l),
                    self.name(other)
                );
                return self.error(Rule::CowShared, at, message);
            }
            if matches!(s.kind, Kind::Counted | Kind::Unknown)
                && let Count::Known(n) = s.count
                && n >= 2
            {
                let message = format!(
                    "`cow_in_place` of {}, but the function itself holds {n} references to the array: it is shared",
                    self.name(l)
                );
                return self.error(Rule::CowShared, at, message);
            }
            return;
        }
        // A copy replaces the local's array with a fresh one the local owns; the old one
        // loses the reference the local held (if it was shared, or the same array when
        // no copy was needed: either way it stays alive for its other names).
        // Rule verify-cow-region-copy: `cow_copy` of a stack or arena array (uncounted,
        // so `cow_check` never copies it) gives the local a fresh array in the same
        // memory, no longer the one in the place it was loaded from. Whether the copy,
        // whose elements gained a reference each, is destroyed when they need it is not
        // followed (the checked interpreter judges that).
        if s.kind == Kind::Region && op.kind == OpKind::CowCopy {
            let copy = self.values.id(ValueKey::Cow(at, op.index));
            let mut fresh = ValueState::new(0, Kind::Region);
            fresh.observable = s.observable;
            return name_copy(state, l, original, copy, fresh);
        }
        if !matches!(s.kind, Kind::Counted | Kind::Unknown | Kind::Static) {
            return;
        }
        let owned = matches!(s.count, Count::Known(n) if n > 0);
        // A borrowed stand-in for a place (a field or element loaded to be written) is
        // fine if it is written back (below). Any other borrowed array has no reference
        // for a copy to release.
        if !owned && s.kind != Kind::Static && s.count != Count::Top && matches!(s.origin, Origin::None) {
            let message = format!(
                "`{}` of {}, which holds no reference of its own: a copy would release a reference it does not own",
                op.kind.as_str(),
                self.name(l)
            );
            return self.note(at, message);
        }
        if owned
            && let Some(old) = state.values.get_mut(&v)
            && let Count::Known(n) = old.count
        {
            old.count = Count::Known(n - 1);
        }
        let copy = self.values.id(ValueKey::Cow(at, op.index));
        let mut fresh = ValueState::new(1, if s.kind == Kind::Static { Kind::Counted } else { s.kind });
        fresh.observable = s.observable;
        fresh.origin = s.origin;
        if s.count == Count::Top {
            fresh.count = Count::Top;
        } else if !owned && s.kind != Kind::Static {
            // A borrowed stand-in for a place: when no copy is made the place still holds
            // the array, and when one is, the place's reference went with the old array.
            // Either way the plan may only write the local back (no release of the place
            // first), which hands nothing over.
            fresh.count = Count::Known(0);
            fresh.backed = true;
        }
        name_copy(state, l, original, copy, fresh);
    }

    /// A load from a place whose value was released (and not replaced): the loaded value
    /// is gone already.
    fn load_released(&self, state: &State, place: Place, s: &mut ValueState) {
        if let Some((_, where_)) = state.released.iter().find(|(p, _)| *p == place) {
            s.life = Life::Gone(*where_, Gone::Released);
        }
    }

    /// An operation on a field, element or global: the value stored there.
    fn place_op(&mut self, state: &mut State, op: &VOp, when: When, at: InstAddr, inst: &InstKind) {
        let parent = match op.target {
            Target::Field(l, _) | Target::Elem(l, _) => state.value(l).map(|(v, _)| v),
            _ => None,
        };
        let place = match (op.target, parent) {
            (Target::Field(_, f), Some(p)) => Some(Place::Field(p, f)),
            (Target::Elem(_, i), Some(p)) => Some(Place::Elem(p, i)),
            (Target::Global(g), _) => Some(Place::Global(g.0)),
            _ => None,
        };
        let released_at = place.and_then(|p| state.released.iter().find(|(q, _)| *q == p).map(|(_, w)| *w));
        if let Some(where_) = released_at {
            let (rule, what) = match op.kind {
                OpKind::Drop | OpKind::Free | OpKind::Destroy | OpKind::CollectCycles => {
                    (Rule::DoubleRelease, "releases")
                }
                OpKind::Move => (Rule::UseAfterRelease, "takes"),
                _ => (Rule::UseAfterRelease, "applies to"),
            };
            if op.kind != OpKind::Move {
                let message = format!(
                    "`{}` {what} a place whose value was already released at {where_}, with nothing stored there since",
                    op.kind.as_str()
                );
                self.error(rule, at, message);
            }
        }
        if let Some(place) = place {
            match op.kind {
                OpKind::Drop | OpKind::Free | OpKind::Destroy if released_at.is_none() => {
                    state.released.push((place, at))
                }
                // These empty the place: it no longer points at the released value.
                OpKind::CollectCycles | OpKind::Move => state.released.retain(|(p, _)| *p != place),
                _ => {}
            }
        }
        let matches = |origin: Origin| match (op.target, origin) {
            (Target::Field(_, f), Origin::Field(p, g)) => f == g && p == parent && p.is_some(),
            (Target::Elem(..), Origin::Elem(p)) => p == parent && p.is_some(),
            (Target::Global(g), Origin::Global(h)) => g.0 == h,
            _ => false,
        };
        match op.kind {
            OpKind::Move => {
                // A take: the field's reference moves to the local it was loaded into.
                if let (Target::Field(_, f), Some(p)) = (op.target, parent) {
                    if let Some(ps) = state.values.get_mut(&p) {
                        if ps.taken.contains(&f) {
                            let message = format!(
                                "field {f} is taken out of this object a second time: its reference moved out already"
                            );
                            self.error(Rule::DoubleTake, at, message);
                            return;
                        }
                        ps.taken.push(f);
                    }
                    // Rule verify-take-loaded: the taker is the local the field was just
                    // loaded into when the take follows that load; other values loaded
                    // from the field before (and `dup`ed) keep their own counts.
                    let just_loaded = match (inst, op.target) {
                        (InstKind::LoadField { dest, object, field }, Target::Field(l, f))
                            if when == When::After && *object == l && *field == f =>
                        {
                            state.value(*dest).filter(|(_, s)| matches(s.origin)).map(|(v, _)| v)
                        }
                        _ => None,
                    };
                    // Otherwise, for a take before the instruction that consumes the
                    // loaded value: the first value it reads that was loaded from the
                    // field and holds no reference of its own; else the first value
                    // loaded from the field.
                    let loaded_from_field =
                        |v: &ValueId, s: &ValueState| matches(s.origin) && state.named_elsewhere(*v, None);
                    let consumed = inst.uses().into_iter().find_map(|l| {
                        let (v, s) = state.value(l)?;
                        (when == When::Before && loaded_from_field(&v, s) && s.count == Count::Known(0))
                            .then_some(v)
                    });
                    let taker = just_loaded.or(consumed).or_else(|| {
                        state.values.iter().find(|(v, s)| loaded_from_field(v, s)).map(|(v, _)| *v)
                    });
                    if let Some(t) = taker
                        && let Some(s) = state.values.get_mut(&t)
                        && let Count::Known(n) = s.count
                        && owes_when_taken(s)
                    {
                        s.count = Count::Known(n + 1);
                    }
                }
            }
            OpKind::Drop | OpKind::Free | OpKind::CollectCycles | OpKind::Destroy => {
                // The stored-over place: the value about to be stored must already be
                // secured (owned), or releasing the place may free it first.
                if when == When::Before {
                    let stored = match (inst, op.target) {
                        (InstKind::StoreField { object, field, value }, Target::Field(l, f))
                            if *object == l && *field == f =>
                        {
                            Some(*value)
                        }
                        (InstKind::StoreElem { array, value, .. }, Target::Elem(l, _)) if *array == l => {
                            Some(*value)
                        }
                        (InstKind::StoreGlobal { global, value }, Target::Global(g)) if *global == g => {
                            Some(*value)
                        }
                        _ => None,
                    };
                    if let Some(value) = stored
                        && let Some((_, s)) = state.value(value)
                        && s.counts()
                        && s.count == Count::Known(0)
                        && s.life == Life::Live
                        && s.origin != Origin::None
                    {
                        let message = format!(
                            "`{}` releases the place before {} is secured: the value to store holds no reference of its own yet, and may be the one released",
                            op.kind.as_str(),
                            self.name(value)
                        );
                        self.error(Rule::StoreOrder, at, message);
                    }
                }
                // Values borrowed from the released place lose what kept them alive,
                // unless the release does nothing to them: static memory, or stack or
                // arena memory that a `drop` or `collect_cycles` leaves alone (rule
                // verify-use-after-release).
                let untouched = |s: &ValueState| {
                    s.kind == Kind::Static
                        || (s.kind == Kind::Region && matches!(op.kind, OpKind::Drop | OpKind::CollectCycles))
                };
                let released: Vec<ValueId> = state
                    .values
                    .iter()
                    .filter(|(_, s)| {
                        matches(s.origin)
                            && s.count == Count::Known(0)
                            && s.life == Life::Live
                            && !untouched(s)
                    })
                    .map(|(v, _)| *v)
                    .collect();
                for v in released {
                    if let Some(s) = state.values.get_mut(&v) {
                        s.life = Life::Gone(at, Gone::Released);
                    }
                }
            }
            _ => {}
        }
    }

    /// At a scope's exit, objects with a `drop` block die in the order plain counting
    /// releases the scope's locals: last declared first.
    fn check_release_order(&mut self, scope: crate::ScopeId, at: InstAddr) {
        let Some(declared) = self.input.scope_locals.get(&scope) else { return };
        let mut last: Option<(usize, LocalId)> = None;
        for op in self.input.ops_at(at, When::Before) {
            let Target::Local(l) = op.target else { continue };
            if !matches!(op.kind, OpKind::Drop | OpKind::Free | OpKind::Destroy | OpKind::CollectCycles)
                || !self.observable(l)
            {
                continue;
            }
            let Some(position) = declared.iter().position(|d| *d == l) else { continue };
            if let Some((previous, earlier)) = last
                && position > previous
            {
                self.current_op = Some((op.index, When::Before));
                let message = format!(
                    "{} is released after {} at the scope's exit, but it was declared later: objects with a `drop` block die last declared first",
                    self.name(l),
                    self.name(earlier)
                );
                self.error(Rule::ObservableEarly, at, message);
                self.current_op = None;
            }
            last = Some((position, l));
        }
    }

    /// An object with a `drop` block dies where plain counting lets it die: at its
    /// scope's exit, where its local is overwritten or ended, or at a `return`.
    fn check_observable(
        &mut self,
        state: &State,
        op: &VOp,
        l: LocalId,
        when: When,
        at: InstAddr,
        inst: &InstKind,
    ) {
        let Some((_, s)) = state.value(l) else { return };
        if !s.observable || s.life != Life::Live || when == When::After {
            return;
        }
        let allowed = matches!(
            inst,
            InstKind::ScopeExit { .. }
                | InstKind::Return { .. }
                | InstKind::Free { .. }
                | InstKind::ScopeEnter { .. }
        ) || inst.dest() == Some(l);
        if !allowed {
            let message = format!(
                "`{}` of {}, an object with a `drop` block, before `{}`: it must die at its scope's end, its reassignment or its `free`",
                op.kind.as_str(),
                self.name(l),
                inst.mnemonic()
            );
            self.error(Rule::ObservableEarly, at, message);
        }
    }
}

/// Whether values of a type can hold references (a struct: through one of its fields, at
/// any depth).
fn type_holds_refs(program: &Program, ty: &Type) -> bool {
    // Each struct type is looked into once (a worklist, no recursion): nested structs
    // that hold the one below twice would otherwise be walked 2^depth times.
    let mut seen: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut work: Vec<&Type> = vec![ty];
    while let Some(t) = work.pop() {
        match t.non_null() {
            Type::Struct(s) => {
                if !seen.insert(s.index()) {
                    continue;
                }
                if let Some(def) = program.structs.get(s.index()) {
                    work.extend(def.fields.iter().map(|f| &f.ty));
                }
            }
            t => {
                if t.value_kind() != ValueKind::Immediate {
                    return true;
                }
            }
        }
    }
    false
}

/// A value the function receives `count` references to (an `own` parameter, a popped
/// element, a call's owned result): a stack or arena object among them is owed the
/// `destroy` that runs its `drop` block, if its class has one (whoever hands such an
/// object over hands that obligation with it).
fn received(count: u32, kind: Kind, observable: bool) -> ValueState {
    let mut s = ValueState::new(count, kind);
    if kind == Kind::Region {
        s.count = Count::Known(u32::from(count > 0 && observable));
    }
    s
}

/// Whether a value taken out of a place (a field moved out, or swapped out by a store)
/// becomes an obligation of the function: a counted reference always; a stack or arena
/// object a `destroy` only if it has a `drop` block or holds references it owns. The
/// latter is in the heap, not followed here (the checked interpreter judges it), so only
/// the former is required.
fn owes_when_taken(s: &ValueState) -> bool {
    s.kind != Kind::Region || s.observable
}

/// A copy-on-write copy `copy` (described by `fresh`) of the array `original.0` becomes
/// what local `l` names; `original.1`: whether the operation surely copies.
fn name_copy(state: &mut State, l: LocalId, original: (ValueId, bool), copy: ValueId, mut fresh: ValueState) {
    if let Some(old) = state.values.get_mut(&original.0) {
        fresh.empty = old.empty;
        // A copy of an array is made at its site (`points_to.rs`).
        fresh.sites = old.sites.clone();
        if !original.1 {
            old.empty = false;
        }
    }
    state.values.remove(&copy);
    if let Some(slot) = state.locals.get_mut(l.index()) {
        *slot = Slot::Val(copy);
    }
    state.values.insert(copy, fresh);
}

/// What a value is owed: `the function still owns a reference to its value`.
/// The kind and arena scope of the value in `local` if it is stack, arena or static memory
/// that no count concerns.
fn region_of(state: &State, local: LocalId) -> Option<(Kind, Option<crate::ScopeId>)> {
    let (_, s) = state.value(local)?;
    (matches!(s.kind, Kind::Region | Kind::Static) && s.life == Life::Live).then_some((s.kind, s.arena_scope))
}

fn owed(s: &ValueState) -> String {
    match (s.kind, s.count) {
        (Kind::Region, _) => {
            "its stack or arena object, which has a `drop` block or holds references, is not destroyed"
                .to_string()
        }
        (_, Count::Known(1)) => "the function still owns a reference to its value".to_string(),
        (_, Count::Known(n)) => format!("the function still owns {n} references to its value"),
        (_, Count::Top) => "the function may still own references to its value".to_string(),
    }
}
