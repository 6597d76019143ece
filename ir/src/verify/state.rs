//! The abstract domain: what each local names, and what the function knows about each
//! value it can name (how many references it owns, whether it is still alive, how it is
//! placed, where it was loaded from), with the join at control-flow merges.
//!
//! Values are identified by where they come from (a parameter, the instruction that wrote
//! them, a copy-on-write, a merge of different values in one local at a block), so that
//! `copy` makes two locals name one value and an ownership count is kept once per value,
//! not per name. A site in a loop names the value of the current iteration: when a site
//! writes again while its previous value is still named, the previous one is renamed
//! ("shadowed") first.

use super::points_to::AbstractSet;
use crate::{BlockId, InstAddr, LocalId, ScopeId};
use std::collections::{BTreeMap, HashMap};

/// A value's identity within one function.
pub(super) type ValueId = u32;

/// Where a value identity comes from (interned to a [`ValueId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ValueKey {
    /// A parameter's value at entry.
    Param(u32),
    /// A closure body's captured value.
    Capture(u32),
    /// The value an instruction wrote.
    Def(InstAddr),
    /// The copy a copy-on-write operation (plan op number) put in its local.
    Cow(InstAddr, usize),
    /// The merge of different values that one local holds at a block's entry.
    Phi(BlockId, LocalId),
    /// An earlier value of a site, still named when the site wrote again.
    Shadow(ValueId),
}

/// Interns value keys.
#[derive(Debug, Default)]
pub(super) struct Values {
    ids: HashMap<ValueKey, ValueId>,
}

impl Values {
    pub(super) fn id(&mut self, key: ValueKey) -> ValueId {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.ids.len() as ValueId;
        self.ids.insert(key, id);
        id
    }
}

/// What a local holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Slot {
    /// Never written, or ended by a scope or `free`: operations on it do nothing.
    Empty,
    /// A value without references: an immediate, `null`, a string literal.
    Nothing,
    /// A value that may hold references.
    Val(ValueId),
}

/// How many references to a value the function owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    Known(u32),
    /// Paths disagree, or code the verifier cannot see decided: no judgement.
    Top,
}

/// Whether a value can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    Live,
    /// Released, freed, handed over or freed with its arena, at this instruction.
    Gone(InstAddr, Gone),
    /// Destroyed (stack or arena memory stays until its region ends).
    Destroyed(InstAddr),
}

/// How a value went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gone {
    Released,
    HandedOver,
    ArenaFreed,
}

/// What the verifier knows about a value's placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `heap_rc` or `heap_atomic_rc`.
    Counted,
    /// `heap_unique` or `manual`: one owner, freed by `free`.
    Unique,
    /// `stack` or `arena`: freed with its region; `destroy` runs its `drop` block.
    Region,
    /// `static`: never freed.
    Static,
    /// Not known locally (a parameter, a loaded value, a call's result).
    Unknown,
}

/// Where a borrowed value was read from: the place that keeps it alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    None,
    Field(Option<ValueId>, u32),
    Elem(Option<ValueId>),
    Global(u32),
}

/// What the function knows about one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ValueState {
    /// References the function owns.
    pub(super) count: Count,
    pub(super) life: Life,
    /// Kept alive by something outside the function's counts (a borrowed parameter, the
    /// container it was read from, a place it was stored into): releasing its last owned
    /// reference does not end it.
    pub(super) backed: bool,
    pub(super) kind: Kind,
    /// For arena objects: the arena scope the plan names.
    pub(super) arena_scope: Option<ScopeId>,
    pub(super) origin: Origin,
    /// Fields taken out of it (`move` on a field).
    pub(super) taken: Vec<u32>,
    /// For an object this function allocated: fields known to hold no reference (`null`,
    /// constant data), stored so here and not exposed since (the object has not been
    /// passed, stored, captured or returned, so no other code can have written them).
    pub(super) constant_fields: Vec<u32>,
    /// Likewise: fields known to hold stack, arena or static memory (which no count
    /// concerns), with its kind and arena scope.
    pub(super) region_fields: Vec<(u32, Kind, Option<ScopeId>)>,
    /// Its class has a `drop` block.
    pub(super) observable: bool,
    /// What the value can be, by the whole-program points-to sets, when known more
    /// precisely than by the sets of the locals that name it: the site of an allocation,
    /// what the sites of the value it was loaded from hold in that field or element
    /// (`None`: the sets of its locals apply).
    pub(super) sites: Option<std::rc::Rc<AbstractSet>>,
    /// For an array this function allocated empty: it still holds no element (nothing was
    /// pushed or stored through any of its names, it was not exposed to other code, and
    /// no copy-on-write may have left it in a local that was written since). Loading an
    /// element of it stops the program (rule verify-fact-empty).
    pub(super) empty: bool,
    /// For an object this function allocated: fields that hold an array known empty (as
    /// `empty`; forgotten by any write through an array and any value handed to other
    /// code, which may reach the array through an alias).
    pub(super) empty_fields: Vec<u32>,
}

impl ValueState {
    /// A value the function holds `count` references to; memory freed by its region or
    /// never freed is owed nothing.
    pub(super) fn new(count: u32, kind: Kind) -> ValueState {
        let count = if matches!(kind, Kind::Region | Kind::Static) { 0 } else { count };
        ValueState {
            count: Count::Known(count),
            life: Life::Live,
            backed: false,
            kind,
            arena_scope: None,
            origin: Origin::None,
            taken: Vec::new(),
            constant_fields: Vec::new(),
            region_fields: Vec::new(),
            observable: false,
            sites: None,
            empty: false,
            empty_fields: Vec::new(),
        }
    }

    /// Whether counts of this value matter: memory freed by its region or never freed is
    /// not the plan's to count.
    pub(super) fn counts(&self) -> bool {
        matches!(self.kind, Kind::Counted | Kind::Unique | Kind::Unknown)
    }

    /// Whether the function still owes this value a release: a reference it owns, or for
    /// a stack or arena object with a `drop` block or holding heap references it owned,
    /// the `destroy` that runs the block and releases them.
    pub(super) fn owes(&self) -> bool {
        matches!(self.count, Count::Known(n) if n > 0)
            && self.life == Life::Live
            && matches!(self.kind, Kind::Counted | Kind::Unique | Kind::Unknown | Kind::Region)
    }
}

/// The abstract state at one program point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub(super) locals: Vec<Slot>,
    pub(super) values: BTreeMap<ValueId, ValueState>,
    /// The arena scopes open in this frame, innermost last.
    pub(super) arenas: Vec<ScopeId>,
    /// Places whose value was released (`drop`, `free`, `destroy` on the place) and that
    /// still point at it: nothing has been stored there since.
    pub(super) released: Vec<(Place, InstAddr)>,
}

/// A field, element or global, as the plan's operations and the stores name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Field `f` of the object (or struct) value.
    Field(ValueId, u32),
    /// The element of the array value at the index in the local.
    Elem(ValueId, LocalId),
    /// A global.
    Global(u32),
}

/// Two paths that disagree about a value at a merge.
#[derive(Debug, Clone)]
pub(super) struct Mismatch {
    pub(super) local: LocalId,
    pub(super) left: u32,
    pub(super) right: u32,
}

impl State {
    pub(super) fn slot(&self, local: LocalId) -> Slot {
        self.locals.get(local.index()).copied().unwrap_or(Slot::Empty)
    }

    pub(super) fn value(&self, local: LocalId) -> Option<(ValueId, &ValueState)> {
        match self.slot(local) {
            Slot::Val(v) => self.values.get(&v).map(|s| (v, s)),
            _ => None,
        }
    }

    /// Whether a local other than `except` names `v`.
    pub(super) fn named_elsewhere(&self, v: ValueId, except: Option<LocalId>) -> bool {
        self.locals.iter().enumerate().any(|(i, s)| *s == Slot::Val(v) && Some(LocalId::from(i)) != except)
    }

    /// Forgets values that nothing names (and that are no named value's container), so
    /// states stay small.
    pub(super) fn collect_garbage(&mut self) {
        let mut keep: Vec<ValueId> =
            self.locals.iter().filter_map(|s| if let Slot::Val(v) = s { Some(*v) } else { None }).collect();
        keep.sort_unstable();
        keep.dedup();
        // Containers of named values (and theirs), found without hashing.
        let mut todo = keep.clone();
        while let Some(v) = todo.pop() {
            if let Some(s) = self.values.get(&v)
                && let Origin::Field(Some(p), _) | Origin::Elem(Some(p)) = s.origin
                && let Err(at) = keep.binary_search(&p)
            {
                keep.insert(at, p);
                todo.push(p);
            }
        }
        // A value no local names that still owns references was reported as a leak when
        // its last name went; it is forgotten here.
        self.values.retain(|v, _| keep.binary_search(v).is_ok());
    }

    /// The join of two states at the entry of `block`; disagreements about ownership are
    /// returned (the values concerned get [`Count::Top`]).
    ///
    /// A local that names the same value on both sides keeps it; locals that name
    /// different values get one merged value per pair of values. Counts are per value,
    /// and aliases make it ambiguous which name carries which reference, so counts are
    /// compared per *component*: the values of both sides linked by the locals that name
    /// them. The totals of a component must agree on both sides (unless a local holds
    /// nothing on one side: an operation on it then does nothing there), and the merged
    /// values take the distribution of a side on which each value has a single merged
    /// name; when both sides have one, they must agree value by value.
    pub(super) fn join(&self, other: &State, block: BlockId, values: &mut Values) -> (State, Vec<Mismatch>) {
        // The common case: every local names the same value on both sides (a local that
        // holds nothing on one side and is empty on the other holds nothing after).
        let same = self.locals.len() == other.locals.len()
            && self.locals.iter().zip(&other.locals).all(|(a, b)| match (a, b) {
                (Slot::Val(x), Slot::Val(y)) => x == y,
                (Slot::Val(_), _) | (_, Slot::Val(_)) => false,
                _ => true,
            });
        if same {
            return self.join_same_names(other);
        }
        let n = self.locals.len().max(other.locals.len());
        let sides = [self, other];
        let slot_of = |side: usize, i: usize| sides[side].locals.get(i).copied().unwrap_or(Slot::Empty);
        let mut locals = vec![Slot::Empty; n];
        // Merged values: (left slot, right slot) -> id, with the locals that name it.
        let mut results: Vec<((Slot, Slot), ValueId, Vec<usize>)> = Vec::new();
        let mut by_pair: HashMap<(Slot, Slot), usize> = HashMap::new();
        for (i, out) in locals.iter_mut().enumerate() {
            let (a, b) = (slot_of(0, i), slot_of(1, i));
            if !matches!(a, Slot::Val(_)) && !matches!(b, Slot::Val(_)) {
                *out = if a == b { a } else { Slot::Nothing };
                continue;
            }
            if let Some(&r) = by_pair.get(&(a, b)) {
                let result: &mut ((Slot, Slot), ValueId, Vec<usize>) = &mut results[r];
                result.2.push(i);
                *out = Slot::Val(result.1);
                continue;
            }
            let id = match (a, b) {
                (Slot::Val(x), Slot::Val(y)) if x == y => x,
                _ => values.id(ValueKey::Phi(block, LocalId::from(i))),
            };
            by_pair.insert((a, b), results.len());
            results.push(((a, b), id, vec![i]));
            *out = Slot::Val(id);
        }
        // Components: union-find over results, linked when they share a value on a side.
        let m = results.len();
        let mut parent: Vec<usize> = (0..m).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for side in 0..2 {
            let mut first_of: BTreeMap<ValueId, usize> = BTreeMap::new();
            for (r, res) in results.iter().enumerate() {
                let slot = if side == 0 { res.0.0 } else { res.0.1 };
                if let Slot::Val(v) = slot {
                    match first_of.get(&v) {
                        Some(&f) => {
                            let (x, y) = (find(&mut parent, f), find(&mut parent, r));
                            parent[x] = y;
                        }
                        None => {
                            first_of.insert(v, r);
                        }
                    }
                }
            }
        }
        // Static data is like no value at all here: a release of it does nothing, so a
        // local that holds it on one side and a counted value on the other may be
        // released on both (as a local that holds nothing on one side).
        let is_static = |side: usize, slot: Slot| matches!(slot, Slot::Val(v) if sides[side].values.get(&v).is_some_and(|s| s.kind == Kind::Static));
        let count_of = |side: usize, slot: Slot| -> Option<Count> {
            let Slot::Val(v) = slot else { return None };
            let s = sides[side].values.get(&v)?;
            if s.kind == Kind::Static {
                return None;
            }
            Some(if s.counts() { s.count } else { Count::Known(0) })
        };
        let mut out: BTreeMap<ValueId, ValueState> = BTreeMap::new();
        let mut mismatches = Vec::new();
        let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for r in 0..m {
            let root = find(&mut parent, r);
            components.entry(root).or_default().push(r);
        }
        for members in components.into_values() {
            // Per side: the distinct values, their total, and whether each has one result.
            let mut total = [Some(0u32); 2];
            let mut determinate = [true; 2];
            let mut one_sided = false;
            for side in 0..2 {
                let mut seen: Vec<ValueId> = Vec::new();
                for &r in &members {
                    let slot = if side == 0 { results[r].0.0 } else { results[r].0.1 };
                    let Slot::Val(v) = slot else {
                        one_sided = true;
                        continue;
                    };
                    if is_static(side, slot) {
                        one_sided = true;
                        continue;
                    }
                    if seen.contains(&v) {
                        determinate[side] = false;
                        continue;
                    }
                    seen.push(v);
                    total[side] = match (total[side], count_of(side, slot)) {
                        (Some(t), Some(Count::Known(c))) => Some(t + c),
                        _ => None,
                    };
                }
            }
            let first_local = LocalId::from(results[members[0]].2[0]);
            let mut clash = false;
            if determinate[0] && determinate[1] {
                for &r in &members {
                    if let (Some(Count::Known(x)), Some(Count::Known(y))) =
                        (count_of(0, results[r].0.0), count_of(1, results[r].0.1))
                        && x != y
                    {
                        clash = true;
                        mismatches.push(Mismatch {
                            local: LocalId::from(results[r].2[0]),
                            left: x,
                            right: y,
                        });
                    }
                }
            } else if !one_sided
                && let (Some(x), Some(y)) = (total[0], total[1])
                && x != y
            {
                clash = true;
                mismatches.push(Mismatch { local: first_local, left: x, right: y });
            }
            for &r in &members {
                let ((a, b), id, _) = results[r];
                let state_of = |side: usize, slot: Slot| match slot {
                    Slot::Val(v) => sides[side].values.get(&v).cloned(),
                    _ => None,
                };
                let (x, y) = (state_of(0, a), state_of(1, b));
                let count = if clash {
                    Count::Top
                } else if determinate[0] && count_of(0, a).is_some() {
                    count_of(0, a).unwrap_or(Count::Top)
                } else if determinate[1] && count_of(1, b).is_some() {
                    count_of(1, b).unwrap_or(Count::Top)
                } else if determinate[0] && determinate[1] {
                    // Nothing on both sides' determinate values: a one-sided local.
                    count_of(0, a).or(count_of(1, b)).unwrap_or(Count::Top)
                } else {
                    Count::Top
                };
                let mut merged = match (x, y) {
                    (Some(x), Some(y)) => merge(&x, &y),
                    (Some(x), None) | (None, Some(x)) => x,
                    (None, None) => continue,
                };
                merged.count = count;
                out.insert(id, merged);
            }
        }
        // Containers of loaded values, kept when both sides know them.
        for (v, x) in &self.values {
            if !out.contains_key(v)
                && let Some(y) = other.values.get(v)
            {
                out.insert(*v, merge(x, y));
            }
        }
        let (arenas, released) = self.join_arenas_and_releases(other);
        let mut state = State { locals, values: out, arenas, released };
        state.collect_garbage();
        (state, mismatches)
    }
}

impl State {
    /// What both joins share: the open arenas are the longest common prefix (the verifier
    /// reports a disagreement), and a place is released after the join if it is on both
    /// paths.
    fn join_arenas_and_releases(&self, other: &State) -> (Vec<ScopeId>, Vec<(Place, InstAddr)>) {
        let arenas =
            self.arenas.iter().zip(&other.arenas).take_while(|(a, b)| a == b).map(|(a, _)| *a).collect();
        let released = self
            .released
            .iter()
            .filter(|(p, _)| other.released.iter().any(|(q, _)| q == p))
            .copied()
            .collect();
        (arenas, released)
    }

    /// The join when every local names the same value on both sides (the common case: a
    /// branch that writes no reference-holding local): values merge one by one, and each
    /// value's counts must agree.
    fn join_same_names(&self, other: &State) -> (State, Vec<Mismatch>) {
        let mut out = BTreeMap::new();
        let mut mismatches = Vec::new();
        for (v, x) in &self.values {
            let Some(y) = other.values.get(v) else { continue };
            if x == y {
                out.insert(*v, x.clone());
                continue;
            }
            let mut merged = merge(x, y);
            if let (Count::Known(a), Count::Known(b)) = (x.count, y.count)
                && a != b
                && x.counts()
                && y.counts()
            {
                let local = self.locals.iter().position(|s| *s == Slot::Val(*v)).unwrap_or(0);
                mismatches.push(Mismatch { local: LocalId::from(local), left: a, right: b });
                merged.count = Count::Top;
            } else if x.count != y.count {
                merged.count = Count::Top;
            }
            out.insert(*v, merged);
        }
        let (arenas, released) = self.join_arenas_and_releases(other);
        let locals = self
            .locals
            .iter()
            .zip(&other.locals)
            .map(|(a, b)| if a == b { *a } else { Slot::Nothing })
            .collect();
        let mut state = State { locals, values: out, arenas, released };
        state.collect_garbage();
        (state, mismatches)
    }
}

/// Merges what two paths know about a value (its count is decided by the caller).
fn merge(x: &ValueState, y: &ValueState) -> ValueState {
    let mut m = x.clone();
    if x.count != y.count {
        m.count = Count::Top;
    }
    // Gone on either path: a use after the merge is a use after release on that path.
    m.life = match (x.life, y.life) {
        (Life::Live, other) | (other, Life::Live) => other,
        (a, _) => a,
    };
    m.backed = x.backed || y.backed;
    if x.kind != y.kind {
        m.kind = Kind::Unknown;
    }
    if x.arena_scope != y.arena_scope {
        m.arena_scope = None;
    }
    if x.origin != y.origin {
        m.origin = Origin::None;
    }
    for f in &y.taken {
        if !m.taken.contains(f) {
            m.taken.push(*f);
        }
    }
    m.constant_fields.retain(|f| y.constant_fields.contains(f));
    m.region_fields.retain(|f| y.region_fields.contains(f));
    m.observable = x.observable || y.observable;
    m.empty = x.empty && y.empty;
    m.empty_fields.retain(|f| y.empty_fields.contains(f));
    m.sites = match (&x.sites, &y.sites) {
        (Some(a), Some(b)) if a == b => Some(a.clone()),
        (Some(a), Some(b)) => Some(std::rc::Rc::new(a.union(b).copied().collect())),
        _ => None,
    };
    m
}
