//! `manual`: the checks of hand-managed memory in `@manual` functions (`spec/language.md` 7.7).
//!
//! In a `@manual` function the allocations made by its own allocating expressions (outside
//! `arena { }` blocks; not those of callees or of closure bodies written inside it) carry no
//! count. This pass decides, per `@manual` function on its lowered IR, for every such
//! allocation and every path through the function:
//!
//! - `leak`: the allocation reaches a `return` (or the end of the function) neither freed,
//!   nor returned, nor handed over to someone else (reported at the allocation, with the
//!   first such exit in source order as the related span);
//! - `double-free`: a `free` of an object that is already freed, also through another
//!   variable holding it (reported at the second `free`, related: the first);
//! - `use-after-free`: a read or write of a freed object through any variable holding it
//!   (reported at the mention, related: the `free`);
//! - `free-borrowed`: a `free` of something the function does not control: an object it
//!   handed over, a parameter not declared `own`, the value of a global, a value loaded
//!   from a field or element of something it does not control, a string literal.
//!
//! The names of the rules (`manual-…`) are those of `spec/rules.md`, "Manual memory".
//! Mistakes about the freed *variable* itself (`free(x); print(x);`, `free(x); free(x);`)
//! are [`crate::freed`]'s: where it reports one at an instruction, this pass says nothing
//! there, so each mistake gives one diagnostic.
//!
//! **Abstraction.** An abstract *site* is an allocation instruction (tracked when it is a
//! manual allocation), a struct literal or a struct parameter (untracked "value sites":
//! they only hold other objects). A flow-insensitive points-to pass (Andersen-style, fields
//! and elements merged per site) gives, for every local, the sites it may ever hold, and
//! for every site the sites stored into it (its *contents*). The flow-sensitive state at a
//! program point is, per tracked site, a small set of *facts*, one per kind of path: the
//! object's status (`live`: allocated and still the function's to free; `freed`, with the
//! `free` that freed it; `gone`, handed over or returned, with the instruction that did it)
//! and the locals that hold it on those paths (`must` ⊆ `may`; equal unless facts were
//! merged), and those that reach it through the function's own objects, arrays or structs
//! it was stored into (`via`: when such a local is `null`, so is the path to the object).
//! Facts of different paths stay apart, so `if c { free(a); } else { free(b); }`
//! with `b` a copy of `a` frees the object on both paths, and a path on which a variable
//! holds something else does not make its object "maybe freed". Alongside, per local that
//! can hold a reference, the *origins* of what it may hold (a manual allocation, a parameter
//! with or without `own`, a global, a load, a call result, a string literal, `null`), a
//! bit set joined by union.
//!
//! **Lattice and cost.** A join is the union of the facts (identical facts merge, keeping
//! the earliest instruction in source order) and of the origins. A site keeps at most
//! [`MAX_FACTS`] facts: beyond, its facts of one status merge into one (`must` intersected,
//! `may` united); after [`WIDEN_AFTER`] changes of a block's entry state, every join into it
//! merges that way, so `must` only shrinks, `may` and `via` only grow and statuses only get
//! added: the worklist ends. An instruction touches only the facts of the sites its locals
//! may hold or reach (the points-to sets), so the work per instruction is proportional to
//! the aliasing around it, not to the size of the function (a local that may hold any of
//! `k` sites costs `k` at each instruction that writes it). A state is kept per block in
//! pages shared with the states it was copied from (`Paged`): a block's copy costs one
//! pointer per 64 sites and locals, and only what an instruction changes is copied.
//! Errors are collected by one more pass over the solved entry states, so a mistake
//! reachable along several paths is reported once.

use crate::db::{SourceFile, parse};
use crate::diagnostic::span_range as text_range;
use crate::diagnostic::{Diagnostic, codes};
use crate::program::program_ir;
use custody_ir::{
    BlockId, Callee, Constant, Function, GlobalId, InstAddr, InstKind, LocalId, LocalKind, Mode, Program,
    ScopeId, Span, Type, UnaryOp, ValueKind,
};
use custody_syntax::{SyntaxNode, TextRange};
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::{Deref, DerefMut, Index, IndexMut};
use std::rc::Rc;

/// The local id that stands for an allocation's destination while its operands' facts
/// are re-pointed at it (the destination is written in between, so it cannot be named yet).
const PENDING: u32 = u32::MAX - 1;

/// The most facts a site keeps at one point before those of one status are merged.
pub const MAX_FACTS: usize = 8;

/// How many times a block's entry state may change before joins into it merge facts.
pub const WIDEN_AFTER: u32 = 16;

/// A mistake found in a `@manual` function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManualError {
    /// A manual allocation that leaves the function at `exit` neither freed nor returned.
    Leak {
        /// The allocation.
        site: InstAddr,
        /// The first exit (in source order) on a path where it leaks.
        exit: InstAddr,
    },
    /// A `free` of `local`, which holds an object `freed_at` already freed.
    DoubleFree {
        /// The variable freed the second time.
        local: LocalId,
        /// The second `free`.
        at: InstAddr,
        /// The first `free` (the earliest in source order when several may have).
        freed_at: InstAddr,
    },
    /// A use of `local`, which holds an object `freed_at` freed.
    UseAfterFree {
        /// The variable used.
        local: LocalId,
        /// The instruction using it.
        at: InstAddr,
        /// The `free` that freed the object.
        freed_at: InstAddr,
    },
    /// A `free` of something the function does not control.
    FreeBorrowed {
        /// The variable freed.
        local: LocalId,
        /// The `free`.
        at: InstAddr,
        /// What `local` holds.
        what: NotControlled,
    },
}

/// What a `free` in a `@manual` function frees that the function does not control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotControlled {
    /// An object the function handed over (or returned) at this instruction.
    HandedOver(InstAddr),
    /// A parameter not declared `own` (its caller keeps control).
    Param(LocalId),
    /// The value of a global.
    Global(GlobalId),
    /// A value loaded from a field or element of something the function does not control.
    Loaded,
    /// A string literal (constant data).
    Literal,
}

/// The mistakes of one function (none unless it is `@manual`), leaks first (by allocation),
/// then the others in block order.
pub fn check_function(program: &Program, function: &Function) -> Vec<ManualError> {
    if !function.manual || function.blocks.is_empty() {
        return Vec::new();
    }
    let flow = Flow::new(program, function);
    let entry = flow.solve();
    let mut report = Report::default();
    for (b, state) in entry.iter().enumerate() {
        if let Some(mut state) = state.clone() {
            flow.block(BlockId::from(b), &mut state, Some(&mut report));
        }
    }
    // rule manual-once: what `freed` reports at an instruction (the same variable used or
    // freed again after `free`) is its diagnostic, not this pass's.
    let freed = if report.errors.is_empty() { Vec::new() } else { crate::freed::check_function(function) };
    let variable_level: HashSet<(InstAddr, LocalId, bool)> = freed
        .into_iter()
        .map(|e| (e.at, e.local, e.mistake == crate::freed::Mistake::UseAfterFree))
        .collect();
    let second_free: HashSet<InstAddr> =
        variable_level.iter().filter(|(_, _, is_use)| !is_use).map(|(at, _, _)| *at).collect();
    let mut leaks: Vec<(u32, u32)> = report.leaks.into_iter().collect();
    leaks.sort_unstable();
    let mut out: Vec<ManualError> = leaks
        .into_iter()
        .filter_map(|(site, exit)| {
            Some(ManualError::Leak {
                site: flow.sites[site as usize].addr?,
                exit: flow.by_rank[exit as usize],
            })
        })
        .collect();
    for error in report.errors {
        let keep = match error {
            ManualError::UseAfterFree { local, at, .. } => !variable_level.contains(&(at, local, true)),
            ManualError::DoubleFree { at, .. } | ManualError::FreeBorrowed { at, .. } => {
                !second_free.contains(&at)
            }
            ManualError::Leak { .. } => true,
        };
        if keep && !out.contains(&error) {
            out.push(error);
        }
    }
    out
}

/// The manual-memory diagnostics of a file (meaningful only for a file without errors).
/// A plain function, not a query: [`crate::check_file`], which calls it, is the query.
pub fn file_manual_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    let program = program_ir(db, file);
    let frees = |f: &Function| f.insts().any(|(_, i)| matches!(i.kind, InstKind::Free { .. }));
    if !program.functions.iter().any(|f| f.manual || frees(f)) {
        return Vec::new();
    }
    let root = parse(db, file).syntax_node();
    manual_diagnostics(program, file.text(db), &root)
}

/// The manual-memory diagnostics of a program whose spans are in `text` (parsed as `root`),
/// sorted by position, one per place.
pub fn manual_diagnostics(program: &Program, text: &str, root: &SyntaxNode) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for f in &program.functions {
        let errors = if f.manual { check_function(program, f) } else { automatic_free_borrowed(f) };
        for error in errors {
            out.push(diagnostic(program, f, &error, text, root));
        }
    }
    out.sort_by(|a, b| {
        (a.range.start(), a.range.end(), a.code).cmp(&(b.range.start(), b.range.end(), b.code))
    });
    out.dedup_by(|a, b| a.code == b.code && a.range == b.range);
    out
}

/// The `free`s of an automatic function that free what it does not control (spec 7.6):
/// a parameter declared `borrow` (rule free-borrowed-param) or a global's value, which
/// `free(g)` frees through the temporary it loads `g` into (rule free-borrowed-global). A
/// variable that merely holds a global's value may be freed: that ends the variable. In
/// `@manual` functions [`check_function`] decides, following objects.
fn automatic_free_borrowed(f: &Function) -> Vec<ManualError> {
    let mut loaded_global: HashMap<LocalId, GlobalId> = HashMap::new();
    let mut out = Vec::new();
    for (at, inst) in f.insts() {
        match &inst.kind {
            InstKind::LoadGlobal { dest, global }
                if f.get_local(*dest).is_some_and(|d| d.kind == custody_ir::LocalKind::Temp) =>
            {
                loaded_global.insert(*dest, *global);
            }
            InstKind::Free { value } => {
                let decl = f.get_local(*value);
                let what = if decl
                    .is_some_and(|d| d.kind == custody_ir::LocalKind::Param && d.mode == Some(Mode::Borrow))
                {
                    Some(NotControlled::Param(*value))
                } else {
                    loaded_global.get(value).map(|&g| NotControlled::Global(g))
                };
                if let Some(what) = what {
                    out.push(ManualError::FreeBorrowed { local: *value, at, what });
                }
            }
            _ => {}
        }
    }
    out
}

// ---- the analysis ------------------------------------------------------------------------

/// A set of small integers (locals or sites).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(bits: usize) -> BitSet {
        BitSet(vec![0; bits.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) -> bool {
        let word = &mut self.0[i / 64];
        let new = *word & (1 << (i % 64)) == 0;
        *word |= 1 << (i % 64);
        new
    }

    fn union_with(&mut self, other: &BitSet) -> bool {
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            let new = *a | *b;
            changed |= new != *a;
            *a = new;
        }
        changed
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(i * 64 + b)
            })
        })
    }
}

/// An abstract site.
struct Site {
    /// The allocation or struct literal (`None` for a struct parameter's value).
    addr: Option<InstAddr>,
    /// A manual allocation, whose facts are tracked.
    tracked: bool,
}

/// What happened to an object on the paths a fact stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Status {
    /// Allocated, and still the function's to free.
    Live,
    /// Freed (by the `free` of rank `at`).
    Freed,
    /// Handed over or returned (by the instruction of rank `at`).
    Gone,
}

/// An object of one site on some paths: its status and the locals that hold it there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fact {
    status: Status,
    /// Locals that hold it on every path of the fact (sorted).
    must: Vec<u32>,
    /// Locals that may hold it on some path of the fact (sorted; a superset of `must`).
    may: Vec<u32>,
    /// Locals that may reach it through the function's own objects, arrays or structs it
    /// was stored into (sorted).
    via: Vec<u32>,
    /// The rank of the `free` (for `Freed`) or of the handover (for `Gone`); 0 for `Live`.
    at: u32,
}

impl Fact {
    fn may_hold(&self, local: LocalId) -> bool {
        self.may.binary_search(&local.0).is_ok()
    }

    fn must_hold(&self, local: LocalId) -> bool {
        self.must.binary_search(&local.0).is_ok()
    }

    fn reached_via(&self, local: LocalId) -> bool {
        self.via.binary_search(&local.0).is_ok()
    }

    /// Whether `local` holds or reaches it (on some path).
    fn mentions(&self, local: LocalId) -> bool {
        self.may_hold(local) || self.reached_via(local)
    }

    fn remove(&mut self, local: LocalId) {
        for set in [&mut self.must, &mut self.may, &mut self.via] {
            if let Ok(i) = set.binary_search(&local.0) {
                set.remove(i);
            }
        }
    }

    fn add_via(&mut self, local: u32) {
        if let Err(i) = self.via.binary_search(&local) {
            self.via.insert(i, local);
        }
    }

    fn add(&mut self, local: LocalId, must: bool) {
        if must && let Err(i) = self.must.binary_search(&local.0) {
            self.must.insert(i, local.0);
        }
        if let Err(i) = self.may.binary_search(&local.0) {
            self.may.insert(i, local.0);
        }
    }
}

// The origins of what a local may hold (rule manual-origin).
/// The function's own memory: a manual allocation, an arena's, a struct value, a copy an
/// array write made.
const MANUAL: u16 = 1;
/// `null`.
const NULL: u16 = 1 << 1;
/// Loaded from a field or element of the function's own memory.
const INNER: u16 = 1 << 2;
/// The result of a call (control passes to the caller).
const CALL: u16 = 1 << 3;
/// A parameter not declared `own`.
const PARAM: u16 = 1 << 4;
/// A parameter declared `own`.
const PARAM_OWN: u16 = 1 << 5;
/// The value of a global.
const GLOBAL: u16 = 1 << 6;
/// Loaded from a field or element of something the function does not control.
const LOADED: u16 = 1 << 7;
/// A string literal.
const LITERAL: u16 = 1 << 8;
/// What a store may go into and keep the stored object the function's.
const CONTROLLED: u16 = MANUAL | NULL | INNER;

/// The origins of what one local may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin {
    bits: u16,
    /// The first parameter (not `own`) it may hold, `u32::MAX` for none.
    param: u32,
    /// The first global it may hold, `u32::MAX` for none.
    global: u32,
}

impl Origin {
    const NONE: Origin = Origin { bits: 0, param: u32::MAX, global: u32::MAX };

    fn of(bits: u16) -> Origin {
        Origin { bits, ..Origin::NONE }
    }

    fn join(&mut self, other: &Origin) {
        self.bits |= other.bits;
        self.param = self.param.min(other.param);
        self.global = self.global.min(other.global);
    }
}

/// The facts of one site, shared between states until one of them changes them (a block's
/// state is a copy of its entry state: copying it copies one pointer per site).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct SiteFacts(Rc<Vec<Fact>>);

impl Deref for SiteFacts {
    type Target = Vec<Fact>;
    fn deref(&self) -> &Vec<Fact> {
        &self.0
    }
}

impl DerefMut for SiteFacts {
    fn deref_mut(&mut self) -> &mut Vec<Fact> {
        Rc::make_mut(&mut self.0)
    }
}

/// How many entries share one page of a [`Paged`] vector.
const PAGE: usize = 64;

/// A vector in pages shared between copies until a copy changes one: copying a state
/// copies one pointer per [`PAGE`] entries, so keeping a state per block costs memory in
/// proportion to what differs, not to the size of the function.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Paged<T: Clone>(Vec<Rc<Vec<T>>>);

impl<T: Clone> Paged<T> {
    fn new(len: usize, value: T) -> Paged<T> {
        // Every page starts as the same shared one: the first write to a page copies it.
        let page = Rc::new(vec![value; PAGE]);
        Paged((0..len.div_ceil(PAGE)).map(|_| Rc::clone(&page)).collect())
    }
}

impl<T: Clone> Index<usize> for Paged<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.0[i / PAGE][i % PAGE]
    }
}

impl<T: Clone> IndexMut<usize> for Paged<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut Rc::make_mut(&mut self.0[i / PAGE])[i % PAGE]
    }
}

/// The state at a program point.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// Per site, its facts (always empty for an untracked site).
    facts: Paged<SiteFacts>,
    /// Per origin slot (a local that can hold a reference), its origins.
    origins: Paged<Origin>,
}

/// What the reporting pass found.
#[derive(Default)]
struct Report {
    errors: Vec<ManualError>,
    /// Per leaking site, the rank of its first leaking exit.
    leaks: HashMap<u32, u32>,
}

/// The analysis of one `@manual` function.
struct Flow<'p> {
    program: &'p Program,
    function: &'p Function,
    /// The index of each block's first instruction in `rank`.
    block_start: Vec<usize>,
    /// The rank (position in source order) of every instruction, block by block.
    rank: Vec<u32>,
    /// The instruction of each rank.
    by_rank: Vec<InstAddr>,
    sites: Vec<Site>,
    site_of: HashMap<InstAddr, u32>,
    /// Per local, the sites it may hold at some point (flow-insensitive).
    pts: Vec<BitSet>,
    /// Per site, the sites that may be stored into it.
    content: Vec<BitSet>,
    /// Per local, the sites it may hold or reach through their contents.
    reach: Vec<BitSet>,
    /// Per site, whether some load takes its objects back out of the function's own memory.
    loaded_back: Vec<bool>,
    /// Per local, its origin slot (`u32::MAX`: it holds no reference).
    slot: Vec<u32>,
    slots: usize,
    scope_locals: HashMap<ScopeId, Vec<LocalId>>,
    /// Per block ending in a null test: the local tested and whether it is `null` when the
    /// branch goes to its `then` block.
    null_tests: Vec<Option<(LocalId, bool)>>,
}

impl<'p> Flow<'p> {
    fn new(program: &'p Program, function: &'p Function) -> Flow<'p> {
        let f = function;
        // Source order, for "the first `free`" and "the first exit".
        let mut block_start = Vec::with_capacity(f.blocks.len());
        let mut all: Vec<(Span, InstAddr)> = Vec::new();
        for (b, block) in f.blocks.iter().enumerate() {
            block_start.push(all.len());
            for (i, inst) in block.insts.iter().enumerate() {
                all.push((inst.span, InstAddr { block: BlockId::from(b), index: i as u32 }));
            }
        }
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by_key(|&i| (all[i].0.start, all[i].0.end, all[i].1));
        let mut rank = vec![0u32; all.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        let by_rank = order.iter().map(|&i| all[i].1).collect();

        // rule manual-site: the tracked sites are the function's own allocations outside
        // arena blocks; struct literals and struct parameters are value sites.
        let in_arena = arena_instructions(f);
        let mut sites = Vec::new();
        let mut site_of = HashMap::new();
        for (at, inst) in f.insts() {
            let tracked = inst.kind.is_allocation();
            if tracked || matches!(inst.kind, InstKind::NewStruct { .. }) {
                site_of.insert(at, sites.len() as u32);
                sites.push(Site { addr: Some(at), tracked: tracked && !in_arena.contains(&at) });
            }
        }
        let mut param_sites = Vec::new();
        for &p in &f.params {
            if f.get_local(p).is_some_and(|d| matches!(d.ty, Type::Struct(_))) {
                param_sites.push((p, sites.len()));
                sites.push(Site { addr: None, tracked: false });
            }
        }

        // rule manual-points-to: which sites each local may hold, and what each site may
        // hold, to a fixpoint over the function's instructions.
        let n = sites.len();
        let mut pts = vec![BitSet::new(n); f.locals.len()];
        let mut content = vec![BitSet::new(n); n];
        for (p, s) in param_sites {
            pts[p.index()].insert(s);
        }
        let mut changed = true;
        while changed {
            changed = false;
            for (at, inst) in f.insts() {
                let k = &inst.kind;
                if let Some(&s) = site_of.get(&at) {
                    let s = s as usize;
                    if let Some(d) = k.dest() {
                        changed |= pts[d.index()].insert(s);
                    }
                    let stored: &[LocalId] = match k {
                        InstKind::NewObject { fields, .. } | InstKind::NewStruct { fields, .. } => fields,
                        InstKind::NewArray { elems, .. } => elems,
                        InstKind::NewArrayRepeat { value, .. } => std::slice::from_ref(value),
                        InstKind::NewClosure { captures, .. } => captures,
                        _ => &[],
                    };
                    for v in stored {
                        let from = pts[v.index()].clone();
                        changed |= content[s].union_with(&from);
                    }
                    continue;
                }
                match k {
                    InstKind::Copy { dest, src } if dest != src => {
                        let from = pts[src.index()].clone();
                        changed |= pts[dest.index()].union_with(&from);
                    }
                    InstKind::LoadField { dest, object: o, .. }
                    | InstKind::LoadElem { dest, array: o, .. }
                    | InstKind::Pop { dest, array: o } => {
                        let mut from = BitSet::new(n);
                        for s in pts[o.index()].iter() {
                            from.union_with(&content[s]);
                        }
                        changed |= pts[dest.index()].union_with(&from);
                    }
                    InstKind::StoreField { object: o, value, .. }
                    | InstKind::StoreElem { array: o, value, .. }
                    | InstKind::Push { array: o, value } => {
                        let from = pts[value.index()].clone();
                        for s in pts[o.index()].clone().iter() {
                            changed |= content[s].union_with(&from);
                        }
                    }
                    _ => {}
                }
            }
        }

        let mut reach: Vec<BitSet> = Vec::with_capacity(f.locals.len());
        for p in &pts {
            let mut r = p.clone();
            if !p.is_empty() {
                let mut stack: Vec<usize> = p.iter().collect();
                while let Some(s) = stack.pop() {
                    for c in content[s].iter() {
                        if r.insert(c) {
                            stack.push(c);
                        }
                    }
                }
            }
            reach.push(r);
        }
        let mut loaded_back = vec![false; n];
        let local_ty = |l: LocalId| f.get_local(l).map(|d| d.ty.non_null().clone());
        for (_, inst) in f.insts() {
            if let InstKind::LoadField { dest, object: from, .. }
            | InstKind::LoadElem { dest, array: from, .. }
            | InstKind::Pop { dest, array: from } = inst.kind
                && !pts[from.index()].is_empty()
            {
                for s in pts[dest.index()].iter() {
                    let site_dest = sites[s].addr.and_then(|a| f.inst(a)).and_then(|i| i.kind.dest());
                    loaded_back[s] |= site_dest.is_some_and(|d| local_ty(d) == local_ty(dest));
                }
            }
        }
        let mut slot = vec![u32::MAX; f.locals.len()];
        let mut slots = 0;
        for (i, decl) in f.locals.iter().enumerate() {
            if decl.ty.value_kind() != ValueKind::Immediate {
                slot[i] = slots as u32;
                slots += 1;
            }
        }
        let null_tests = f.blocks.iter().map(null_test).collect();
        Flow {
            program,
            function,
            block_start,
            rank,
            by_rank,
            sites,
            site_of,
            pts,
            content,
            reach,
            loaded_back,
            slot,
            slots,
            scope_locals: f.scope_locals(),
            null_tests,
        }
    }

    fn rank_of(&self, at: InstAddr) -> u32 {
        self.rank[self.block_start[at.block.index()] + at.index as usize]
    }

    fn origin(&self, state: &State, local: LocalId) -> Origin {
        match self.slot.get(local.index()) {
            Some(&s) if s != u32::MAX => state.origins[s as usize],
            _ => Origin::NONE,
        }
    }

    fn set_origin(&self, state: &mut State, local: LocalId, origin: Origin) {
        // Written only when it changes, so an unchanged page stays shared.
        if let Some(&s) = self.slot.get(local.index())
            && s != u32::MAX
            && state.origins[s as usize] != origin
        {
            state.origins[s as usize] = origin;
        }
    }

    /// The state on entry: nothing allocated; parameters hold what their modes say.
    fn initial(&self) -> State {
        let mut state = State {
            facts: Paged::new(self.sites.len(), SiteFacts::default()),
            origins: Paged::new(self.slots, Origin::NONE),
        };
        for (k, &p) in self.function.params.iter().enumerate() {
            let own = self.function.get_local(p).is_some_and(|d| d.mode == Some(Mode::Own));
            let mut origin = if own { Origin::of(PARAM_OWN) } else { Origin::of(PARAM) };
            if !own {
                origin.param = k as u32;
            }
            self.set_origin(&mut state, p, origin);
        }
        state
    }

    /// The entry state of every block control can reach (`None`: unreachable).
    fn solve(&self) -> Vec<Option<State>> {
        let blocks = self.function.blocks.len();
        let mut entry: Vec<Option<State>> = vec![None; blocks];
        let mut changes = vec![0u32; blocks];
        entry[0] = Some(self.initial());
        let mut queued = vec![false; blocks];
        let mut worklist = VecDeque::from([0usize]);
        queued[0] = true;
        while let Some(b) = worklist.pop_front() {
            queued[b] = false;
            let Some(mut state) = entry[b].clone() else { continue };
            self.block(BlockId::from(b), &mut state, None);
            for (succ, out) in self.edges(b, state) {
                let s = succ.index();
                if s >= blocks {
                    continue;
                }
                let widen = changes[s] >= WIDEN_AFTER;
                let changed = match &mut entry[s] {
                    None => {
                        let mut out = out;
                        if widen {
                            for site in 0..self.sites.len() {
                                if !out.facts[site].is_empty() {
                                    normalize(&mut out.facts[site], true);
                                }
                            }
                        }
                        entry[s] = Some(out);
                        true
                    }
                    Some(old) => join(old, &out, widen),
                };
                if changed {
                    changes[s] += 1;
                    if !queued[s] {
                        queued[s] = true;
                        worklist.push_back(s);
                    }
                }
            }
        }
        entry
    }

    /// The states leaving block `b` (whose exit state is `state`) along each edge.
    fn edges(&self, b: usize, state: State) -> Vec<(BlockId, State)> {
        let Some(last) = self.function.blocks[b].insts.last() else { return Vec::new() };
        match &last.kind {
            InstKind::Jump { target } => vec![(*target, state)],
            InstKind::Branch { then_block, else_block, .. } => {
                let (mut then_state, mut else_state) = (state.clone(), state);
                // rule manual-null-edge: where a branch tests a local for `null`, on the edge
                // where it is `null` it holds no object.
                if let Some((local, null_on_then)) = self.null_tests[b] {
                    let target = if null_on_then { &mut then_state } else { &mut else_state };
                    self.holds_null(target, local);
                }
                vec![(*then_block, then_state), (*else_block, else_state)]
            }
            _ => Vec::new(),
        }
    }

    fn holds_null(&self, state: &mut State, local: LocalId) {
        for s in self.reach[local.index()].iter() {
            if !state.facts[s].iter().any(|f| f.mentions(local)) {
                continue;
            }
            let facts = &mut state.facts[s];
            // What it holds, and what is reachable only through what it holds.
            facts.retain(|f| !f.must_hold(local) && !f.reached_via(local));
            for f in facts.iter_mut() {
                f.remove(local);
            }
            normalize(facts, false);
        }
    }

    /// Runs a block from its entry `state`, reporting mistakes when `report` is given.
    fn block(&self, block: BlockId, state: &mut State, mut report: Option<&mut Report>) {
        for (index, inst) in self.function.blocks[block.index()].insts.iter().enumerate() {
            let at = InstAddr { block, index: index as u32 };
            self.step(at, &inst.kind, state, report.as_deref_mut());
        }
    }

    /// Forgets that `local` holds what it held (it is written or ends).
    fn kill(&self, state: &mut State, local: LocalId) {
        for s in self.reach[local.index()].iter() {
            let facts = &mut state.facts[s];
            if facts.iter().any(|f| f.mentions(local)) {
                for f in facts.iter_mut() {
                    f.remove(local);
                }
                normalize(facts, false);
            }
        }
    }

    fn step(&self, at: InstAddr, kind: &InstKind, state: &mut State, mut report: Option<&mut Report>) {
        match kind {
            InstKind::ScopeEnter { locals, .. } => {
                // rule manual-alias: the variables a scope declares are new ones.
                for &l in locals {
                    let fresh = self
                        .function
                        .get_local(l)
                        .is_some_and(|d| !matches!(d.kind, LocalKind::Param | LocalKind::Capture));
                    if fresh {
                        self.kill(state, l);
                        self.set_origin(state, l, Origin::NONE);
                    }
                }
            }
            InstKind::ScopeExit { scope } => {
                // rule manual-alias: a variable whose scope ends holds nothing (its object,
                // if live, is still the function's to free: no release frees a manual one).
                for &l in self.scope_locals.get(scope).map(Vec::as_slice).unwrap_or(&[]) {
                    self.kill(state, l);
                }
            }
            InstKind::Free { value } => self.free(at, *value, state, report),
            _ => {
                if let Some(report) = report.as_deref_mut() {
                    self.check_uses(at, kind, state, report);
                }
                self.effect(at, kind, state, report);
            }
        }
    }

    /// rule manual-use-after-free: a mention of a named variable that holds, on some path,
    /// an object a `free` freed.
    fn check_uses(&self, at: InstAddr, kind: &InstKind, state: &State, report: &mut Report) {
        let mut seen: Vec<LocalId> = Vec::new();
        for u in kind.uses() {
            if seen.contains(&u) || self.function.get_local(u).is_none_or(|d| d.name.is_none()) {
                continue;
            }
            seen.push(u);
            let freed = self.pts[u.index()]
                .iter()
                .flat_map(|s| state.facts[s].iter())
                .filter(|f| f.status == Status::Freed && f.may_hold(u))
                .map(|f| f.at)
                .min();
            if let Some(r) = freed {
                report.errors.push(ManualError::UseAfterFree {
                    local: u,
                    at,
                    freed_at: self.by_rank[r as usize],
                });
            }
        }
    }
}

impl Flow<'_> {
    /// What an instruction other than a scope boundary or a `free` does to the state.
    fn effect(&self, at: InstAddr, kind: &InstKind, state: &mut State, report: Option<&mut Report>) {
        match kind {
            InstKind::Copy { dest, src } => {
                let origin = self.origin(state, *src);
                self.copy(state, *dest, *src);
                self.set_origin(state, *dest, origin);
            }
            InstKind::NewStruct { dest, fields, .. } => {
                self.stored_into(state, fields, *dest);
                self.set_origin(state, *dest, Origin::of(MANUAL));
            }
            k if k.is_allocation() => {
                let Some(dest) = k.dest() else { return };
                self.stored_into(state, &stored_operands(k), dest);
                // rule manual-site: a new object, live, held by the variable written.
                if let Some(&s) = self.site_of.get(&at)
                    && self.sites[s as usize].tracked
                {
                    let facts = &mut state.facts[s as usize];
                    facts.push(Fact {
                        status: Status::Live,
                        must: vec![dest.0],
                        may: vec![dest.0],
                        via: Vec::new(),
                        at: 0,
                    });
                    normalize(facts, false);
                }
                self.set_origin(state, dest, Origin::of(MANUAL));
            }
            InstKind::LoadField { dest, object: from, .. } | InstKind::LoadElem { dest, array: from, .. } => {
                self.load(state, *dest, *from);
            }
            InstKind::Pop { dest, array } => {
                self.array_write(state, *array);
                self.load(state, *dest, *array);
            }
            InstKind::StoreField { object, value, .. } => {
                // rule manual-contained-store: a struct value is the local's own; an object
                // is the function's when the container is.
                let is_struct = self
                    .function
                    .get_local(*object)
                    .is_some_and(|d| matches!(d.ty.non_null(), Type::Struct(_)));
                if !is_struct && !self.controlled(state, *object) {
                    self.handover(at, *value, state);
                } else {
                    self.reachable_from(state, *value, *object);
                }
            }
            InstKind::StoreElem { array, value, .. } | InstKind::Push { array, value } => {
                let controlled = self.controlled(state, *array);
                self.array_write(state, *array);
                if controlled {
                    self.reachable_from(state, *value, *array);
                } else {
                    self.handover(at, *value, state);
                }
            }
            InstKind::LoadGlobal { dest, global } => {
                self.kill(state, *dest);
                self.set_origin(state, *dest, Origin { global: global.0, ..Origin::of(GLOBAL) });
            }
            InstKind::StoreGlobal { value, .. } => self.handover(at, *value, state),
            InstKind::Call { dest, callee, args } => {
                // rule manual-boundary: an argument keeps being the caller's unless the
                // parameter takes it over (`own`; an extern's parameter not `borrow`).
                for (j, &a) in args.iter().enumerate() {
                    if self.takes_over(callee, j) {
                        self.handover(at, a, state);
                    }
                }
                // rule manual-boundary: a call's result is the caller's (managed
                // automatically), not a manual allocation of this function.
                if let Some(d) = dest {
                    self.kill(state, *d);
                    self.set_origin(state, *d, Origin::of(CALL));
                }
            }
            InstKind::Spawn { callee, args } => {
                for &a in args {
                    self.handover(at, a, state);
                }
                if let Callee::Closure(c) = callee {
                    self.handover(at, *c, state);
                }
            }
            InstKind::Const { dest, value } => {
                self.kill(state, *dest);
                let bits = match value {
                    Constant::Str(_) => LITERAL,
                    Constant::Null => NULL,
                    _ => 0,
                };
                self.set_origin(state, *dest, Origin::of(bits));
            }
            InstKind::Return { value } => {
                // rule manual-return: the returned object (and what it holds) passes to the
                // caller.
                if let Some(v) = value {
                    self.handover(at, *v, state);
                }
                if let Some(report) = report {
                    self.leaks(at, state, report);
                }
            }
            other => {
                if let Some(d) = other.dest() {
                    self.kill(state, d);
                    self.set_origin(state, d, Origin::NONE);
                }
            }
        }
    }

    /// rule manual-alias: `dest = src` holds what `src` holds, on the same paths.
    fn copy(&self, state: &mut State, dest: LocalId, src: LocalId) {
        if dest == src {
            return;
        }
        self.kill(state, dest);
        for s in self.reach[src.index()].iter() {
            if !state.facts[s].iter().any(|f| f.mentions(src)) {
                continue;
            }
            let facts = &mut state.facts[s];
            let mut touched = false;
            for f in facts.iter_mut() {
                if f.may_hold(src) {
                    let must = f.must_hold(src);
                    f.add(dest, must);
                    touched = true;
                }
                if f.reached_via(src) {
                    f.add_via(dest.0);
                    touched = true;
                }
            }
            if touched {
                normalize(facts, false);
            }
        }
    }

    /// rule manual-contained-store: `dest = new …` with `operands` stored in it: what they
    /// hold or reach is reachable through `dest` (written here).
    fn stored_into(&self, state: &mut State, operands: &[LocalId], dest: LocalId) {
        // Mark first, then write `dest` (an operand may be `dest` itself), then name it.
        for &v in operands {
            for s in self.reach[v.index()].iter() {
                if state.facts[s].iter().any(|f| f.mentions(v)) {
                    for f in state.facts[s].iter_mut().filter(|f| f.mentions(v)) {
                        f.add_via(PENDING);
                    }
                }
            }
        }
        self.kill(state, dest);
        for &v in operands {
            for s in self.reach[v.index()].iter() {
                if !state.facts[s].iter().any(|f| f.reached_via(LocalId(PENDING))) {
                    continue;
                }
                let facts = &mut state.facts[s];
                let mut touched = false;
                for f in facts.iter_mut().filter(|f| f.reached_via(LocalId(PENDING))) {
                    f.remove(LocalId(PENDING));
                    f.add_via(dest.0);
                    touched = true;
                }
                if touched {
                    normalize(facts, false);
                }
            }
        }
    }

    /// rule manual-contained-store: after `container.f = value` (or an element store, a
    /// push), what `value` holds or reaches is reachable through `container`.
    fn reachable_from(&self, state: &mut State, value: LocalId, container: LocalId) {
        for s in self.reach[value.index()].iter() {
            if !state.facts[s].iter().any(|f| f.mentions(value)) {
                continue;
            }
            let facts = &mut state.facts[s];
            let mut touched = false;
            for f in facts.iter_mut().filter(|f| f.mentions(value)) {
                f.add_via(container.0);
                touched = true;
            }
            if touched {
                normalize(facts, false);
            }
        }
    }

    /// rule manual-origin: a load from the function's own memory is the function's; any
    /// other load is not.
    fn load(&self, state: &mut State, dest: LocalId, from: LocalId) {
        let o = self.origin(state, from);
        self.kill(state, dest);
        // A load from `null` fails at run time: it says nothing about control.
        let bits = if o.bits & (MANUAL | INNER) != 0 || o.bits & !NULL == 0 { INNER } else { LOADED };
        self.set_origin(state, dest, Origin::of(bits));
    }

    /// Whether the objects of site `s` have the type of `local` (nullable or not).
    fn same_type(&self, s: usize, local: LocalId) -> bool {
        let ty = |l: LocalId| self.function.get_local(l).map(|d| d.ty.non_null().clone());
        let site_ty = self.sites[s].addr.and_then(|a| self.function.inst(a)).and_then(|i| i.kind.dest());
        site_ty.is_some_and(|d| ty(d) == ty(local))
    }

    /// Whether a store into `container` keeps the stored object the function's: the container
    /// holds only the function's own memory (or `null`), none of it handed over.
    fn controlled(&self, state: &State, container: LocalId) -> bool {
        let o = self.origin(state, container);
        let gone = self.pts[container.index()]
            .iter()
            .flat_map(|s| state.facts[s].iter())
            .any(|f| f.status == Status::Gone && f.may_hold(container));
        o.bits & !CONTROLLED == 0 && !gone
    }

    /// rule manual-cow: a write through an array that someone else may also hold at this
    /// point leaves the writer with a copy of its own (copy-on-write); the original stays
    /// with the others. Someone else holds it where another local does, where one of the
    /// function's objects it was stored into still does (`via`), or where it was handed
    /// over; an array stored into an object only later (or into one freed since) is the
    /// writer's alone, and is written in place.
    fn array_write(&self, state: &mut State, array: LocalId) {
        let shared = |f: &Fact| f.may.len() > 1 || !f.via.is_empty() || f.status == Status::Gone;
        let mut detached = false;
        for s in self.pts[array.index()].iter() {
            if !state.facts[s].iter().any(|f| f.may_hold(array) && shared(f)) {
                continue;
            }
            let facts = &mut state.facts[s];
            let mut touched = false;
            for f in facts.iter_mut() {
                if f.may_hold(array) && shared(f) {
                    f.remove(array);
                    touched = true;
                }
            }
            if touched {
                normalize(facts, false);
                detached = true;
            }
        }
        if detached {
            let mut o = self.origin(state, array);
            o.bits |= MANUAL;
            self.set_origin(state, array, o);
        }
    }

    /// Whether parameter `j` of `callee` takes its argument over.
    fn takes_over(&self, callee: &Callee, j: usize) -> bool {
        match callee {
            Callee::Function(g) => self
                .program
                .functions
                .get(g.index())
                .and_then(|g| g.params.get(j).and_then(|&p| g.get_local(p)))
                .is_some_and(|d| d.mode == Some(Mode::Own)),
            Callee::Extern(x) => self
                .program
                .externs
                .get(x.index())
                .and_then(|x| x.params.get(j))
                .is_none_or(|p| p.mode != Some(Mode::Borrow)),
            Callee::Closure(_) => false,
        }
    }

    /// rule manual-handover: `value` leaves the function's control at `at`: the live object
    /// it holds is gone (no longer to be freed here, and not to be freed again); objects
    /// stored in it (and, for a value loaded from the function's memory, what it may be)
    /// are no longer tracked.
    fn handover(&self, at: InstAddr, value: LocalId, state: &mut State) {
        let pts = &self.pts[value.index()];
        if pts.is_empty() {
            return;
        }
        let r = self.rank_of(at);
        for s in pts.iter() {
            if !state.facts[s].iter().any(|f| f.status == Status::Live && f.may_hold(value)) {
                continue;
            }
            let facts = &mut state.facts[s];
            let mut touched = false;
            facts.retain_mut(|f| {
                if f.status != Status::Live || !f.may_hold(value) {
                    return true;
                }
                touched = true;
                if f.must_hold(value) {
                    f.status = Status::Gone;
                    f.at = r;
                    true
                } else {
                    false
                }
            });
            if touched {
                normalize(facts, false);
            }
        }
        let mut untrack = self.contents(pts);
        if self.origin(state, value).bits & INNER != 0 {
            untrack.union_with(pts);
        }
        self.untrack(state, &untrack, value);
    }

    /// Stops tracking the objects of `sites`, except those `keep` holds.
    fn untrack(&self, state: &mut State, sites: &BitSet, keep: LocalId) {
        for s in sites.iter() {
            if state.facts[s].iter().any(|f| !f.may_hold(keep)) {
                state.facts[s].retain(|f| f.may_hold(keep));
            }
        }
    }

    /// The sites stored (directly or further down) into the sites of `roots`.
    fn contents(&self, roots: &BitSet) -> BitSet {
        let mut seen = BitSet::new(self.sites.len());
        let mut stack: Vec<usize> = roots.iter().flat_map(|s| self.content[s].iter()).collect();
        while let Some(s) = stack.pop() {
            if seen.insert(s) {
                stack.extend(self.content[s].iter());
            }
        }
        seen
    }

    /// `free(x)`.
    fn free(&self, at: InstAddr, x: LocalId, state: &mut State, report: Option<&mut Report>) {
        let r = self.rank_of(at);
        let mut freed: Option<u32> = None;
        let mut gone: Option<u32> = None;
        for s in self.pts[x.index()].iter() {
            if !state.facts[s].iter().any(|f| f.may_hold(x)) {
                continue;
            }
            let facts = &mut state.facts[s];
            let mut split = Vec::new();
            let mut touched = false;
            for f in facts.iter_mut() {
                if !f.may_hold(x) {
                    continue;
                }
                touched = true;
                match f.status {
                    // rule manual-double-free
                    Status::Freed => freed = Some(freed.map_or(f.at, |m| m.min(f.at))),
                    // rule manual-free-borrowed: an object handed over is no longer the
                    // function's to free.
                    Status::Gone => gone = Some(gone.map_or(f.at, |m| m.min(f.at))),
                    // rule manual-free: the object `x` holds is freed (on the paths where it
                    // holds it).
                    Status::Live if f.must_hold(x) => {
                        f.status = Status::Freed;
                        f.at = r;
                    }
                    Status::Live => {
                        let mut g = f.clone();
                        g.status = Status::Freed;
                        g.at = r;
                        g.add(x, true);
                        split.push(g);
                        f.remove(x);
                    }
                }
            }
            if touched {
                facts.extend(split);
                normalize(facts, false);
            }
        }
        let origin = self.origin(state, x);
        if let Some(report) = report {
            let error = if let Some(first) = freed {
                Some(ManualError::DoubleFree { local: x, at, freed_at: self.by_rank[first as usize] })
            } else {
                // rule manual-free-borrowed: something the function does not control.
                let what = if let Some(h) = gone {
                    Some(NotControlled::HandedOver(self.by_rank[h as usize]))
                } else if origin.bits & PARAM != 0 {
                    self.function.params.get(origin.param as usize).map(|&p| NotControlled::Param(p))
                } else if origin.bits & GLOBAL != 0 {
                    Some(NotControlled::Global(GlobalId(origin.global)))
                } else if origin.bits & LOADED != 0 {
                    Some(NotControlled::Loaded)
                } else if origin.bits & LITERAL != 0 {
                    Some(NotControlled::Literal)
                } else {
                    None
                };
                what.map(|what| ManualError::FreeBorrowed { local: x, at, what })
            };
            report.errors.extend(error);
        }
        // rule manual-cow: the object `x` held is destroyed and releases what it held, so
        // nothing stays reached through `x` (an array stored in it is its writer's again).
        for s in self.reach[x.index()].iter() {
            if state.facts[s].iter().any(|f| f.reached_via(x)) {
                let facts = &mut state.facts[s];
                for f in facts.iter_mut() {
                    if let Ok(i) = f.via.binary_search(&x.0) {
                        f.via.remove(i);
                    }
                }
                normalize(facts, false);
            }
        }
        // rule manual-inner-free: a value loaded from the function's own memory may be any
        // object of its type stored there; freeing it ends the tracking of those objects.
        if origin.bits & INNER != 0 {
            for s in self.pts[x.index()].iter() {
                if self.same_type(s, x) && state.facts[s].iter().any(|f| !f.may_hold(x)) {
                    state.facts[s].retain(|f| f.may_hold(x));
                }
            }
        }
    }

    /// rule manual-leak: at an exit, every object still live on some path leaks, except
    /// (rule manual-inner-load) one that no variable holds of a site whose objects some load
    /// takes back out of the function's own memory (`next = cur.next; free(cur);`, `for b in
    /// bufs { free(b); }`): those are freed through such loads, which the checker does not
    /// follow.
    fn leaks(&self, at: InstAddr, state: &State, report: &mut Report) {
        let r = self.rank_of(at);
        for s in 0..self.sites.len() {
            let facts = &state.facts[s];
            let loaded_back = self.loaded_back[s];
            if facts.iter().any(|f| f.status == Status::Live && !(loaded_back && f.may.is_empty())) {
                let first = report.leaks.entry(s as u32).or_insert(r);
                *first = (*first).min(r);
            }
        }
    }
}

/// rule manual-join: the join of two states is the union of their facts and origins.
/// Returns whether `old` changed.
fn join(old: &mut State, new: &State, widen: bool) -> bool {
    let mut changed = false;
    for (old_page, new_page) in old.facts.0.iter_mut().zip(&new.facts.0) {
        if Rc::ptr_eq(old_page, new_page) && !widen {
            continue;
        }
        for (i, n) in new_page.iter().enumerate() {
            let o = &old_page[i];
            if (Rc::ptr_eq(&o.0, &n.0) && !widen) || (n.is_empty() && (!widen || o.is_empty())) {
                continue;
            }
            let mut merged: Vec<Fact> = o.iter().chain(n.iter()).cloned().collect();
            normalize(&mut merged, widen);
            if merged != **o {
                Rc::make_mut(old_page)[i] = SiteFacts(Rc::new(merged));
                changed = true;
            }
        }
    }
    for (old_page, new_page) in old.origins.0.iter_mut().zip(&new.origins.0) {
        if Rc::ptr_eq(old_page, new_page) {
            continue;
        }
        let mut page = (**old_page).clone();
        for (a, b) in page.iter_mut().zip(new_page.iter()) {
            a.join(b);
        }
        if page != **old_page {
            *old_page = Rc::new(page);
            changed = true;
        }
    }
    changed
}

/// Sorts a site's facts, merges identical ones (keeping the earliest instruction), and
/// merges those of one status into one when there are too many or `widen` says so.
fn normalize(facts: &mut Vec<Fact>, widen: bool) {
    facts.sort();
    facts.dedup_by(|later, first| {
        later.status == first.status
            && later.must == first.must
            && later.may == first.may
            && later.via == first.via
    });
    if widen || facts.len() > MAX_FACTS {
        let mut merged: Vec<Fact> = Vec::with_capacity(3);
        for f in facts.drain(..) {
            match merged.last_mut() {
                Some(m) if m.status == f.status => {
                    m.must.retain(|l| f.must.binary_search(l).is_ok());
                    for l in f.may {
                        if let Err(i) = m.may.binary_search(&l) {
                            m.may.insert(i, l);
                        }
                    }
                    for l in f.via {
                        m.add_via(l);
                    }
                    m.at = m.at.min(f.at);
                }
                _ => merged.push(f),
            }
        }
        *facts = merged;
    }
}

/// The operands an allocation (or a struct literal) stores into what it makes.
fn stored_operands(kind: &InstKind) -> Vec<LocalId> {
    match kind {
        InstKind::NewObject { fields, .. } | InstKind::NewStruct { fields, .. } => fields.clone(),
        InstKind::NewArray { elems, .. } => elems.clone(),
        InstKind::NewArrayRepeat { value, .. } => vec![*value],
        InstKind::NewClosure { captures, .. } => captures.clone(),
        _ => Vec::new(),
    }
}

/// The local a block's final branch tests for `null`, and whether it is `null` on the
/// `then` edge (`x == null` lowers to `is_null`, `x != null` to `not` of it).
fn null_test(block: &custody_ir::Block) -> Option<(LocalId, bool)> {
    let insts = &block.insts;
    let InstKind::Branch { cond, .. } = &insts.last()?.kind else { return None };
    let end = insts.len() - 1;
    // The instruction defining `local` last before `end`.
    let def = |local: LocalId, end: usize| (0..end).rev().find(|&i| insts[i].kind.dest() == Some(local));
    let tested = |i: usize| match insts[i].kind {
        InstKind::IsNull { value, .. } => {
            // Not written again before the branch.
            (i + 1..end).all(|j| insts[j].kind.dest() != Some(value)).then_some(value)
        }
        _ => None,
    };
    let i = def(*cond, end)?;
    match &insts[i].kind {
        InstKind::IsNull { .. } => tested(i).map(|v| (v, true)),
        InstKind::Unary { op: UnaryOp::Not, operand, .. } => tested(def(*operand, i)?).map(|v| (v, false)),
        _ => None,
    }
}

/// The allocations made inside `arena { }` blocks (the arena frees them: not manual).
fn arena_instructions(f: &Function) -> HashSet<InstAddr> {
    let arenas: HashSet<ScopeId> = f
        .insts()
        .filter_map(|(_, i)| match i.kind {
            InstKind::ScopeEnter { scope, arena: true, .. } => Some(scope),
            _ => None,
        })
        .collect();
    let mut out = HashSet::new();
    if arenas.is_empty() {
        return out;
    }
    let mut depth: Vec<Option<u32>> = vec![None; f.blocks.len()];
    depth[0] = Some(0);
    let mut work = vec![0usize];
    while let Some(b) = work.pop() {
        let Some(mut d) = depth[b] else { continue };
        for (i, inst) in f.blocks[b].insts.iter().enumerate() {
            match &inst.kind {
                InstKind::ScopeEnter { arena: true, .. } => d += 1,
                InstKind::ScopeExit { scope } if arenas.contains(scope) => d = d.saturating_sub(1),
                k if k.is_allocation() && d > 0 => {
                    out.insert(InstAddr { block: BlockId::from(b), index: i as u32 });
                }
                k => {
                    for s in k.successors() {
                        if let Some(slot) = depth.get_mut(s.index())
                            && slot.is_none()
                        {
                            *slot = Some(d);
                            work.push(s.index());
                        }
                    }
                }
            }
        }
    }
    out
}

// ---- diagnostics -------------------------------------------------------------------------

fn diagnostic(
    program: &Program,
    f: &Function,
    error: &ManualError,
    text: &str,
    root: &SyntaxNode,
) -> Diagnostic {
    let span_of = |a: InstAddr| f.inst(a).map_or(Span::NONE, |i| i.span);
    let name = |l: LocalId| crate::plan::local_name(f, l);
    let freed_name = |a: InstAddr| match f.inst(a).map(|i| &i.kind) {
        Some(InstKind::Free { value }) => name(*value),
        _ => "?".to_string(),
    };
    // A `free` that reaches a place before it (or itself) came round a loop.
    let freed_note = |freed: TextRange, at: TextRange, first: &str| {
        if freed.start() >= at.start() && freed != TextRange::default() {
            format!("{first}, in an earlier iteration of the loop")
        } else {
            first.to_string()
        }
    };
    match *error {
        ManualError::Leak { site, exit } => {
            let inst = f.inst(site);
            let what = inst.map_or("an allocation".to_string(), |i| allocation_word(program, &i.kind));
            let dest = inst.and_then(|i| i.kind.dest());
            // `x = C { … }` allocates into a temporary copied into `x`.
            let named = dest.and_then(|d| named_holder(f, d));
            let message = match named {
                Some(d) => format!(
                    "manual allocation `{}` ({what}) is neither freed nor returned on some path",
                    name(d)
                ),
                None if dest.is_some_and(|d| !stored_anywhere(f, d)) => format!(
                    "this manual allocation ({what}) is neither freed nor returned on some path: no variable \
                     holds it, so nothing can free it (bind it with `let` and `free` it)"
                ),
                None => format!("this manual allocation ({what}) is neither freed nor returned on some path"),
            };
            let exit_range = text_range(span_of(exit));
            let at_end =
                text.get(usize::from(exit_range.start())..usize::from(exit_range.end())) == Some("}");
            let note = if at_end {
                "it leaks when the function ends here"
            } else {
                "it leaks when the function returns here"
            };
            Diagnostic::error(codes::LEAK, text_range(span_of(site)), message).with_related(exit_range, note)
        }
        ManualError::UseAfterFree { local, at, freed_at } => {
            let (b, a) = (name(local), freed_name(freed_at));
            let inst_range = text_range(span_of(at));
            let range = name_ref_within(root, &b, inst_range).unwrap_or(inst_range);
            let message = if a == b {
                format!("`{b}` is used after `free({b})`")
            } else {
                format!("`{b}` is used after the object it refers to was freed by `free({a})`")
            };
            let freed = text_range(span_of(freed_at));
            let note = freed_note(freed, range, "freed here");
            Diagnostic::error(codes::USE_AFTER_FREE, range, message).with_related(freed, note)
        }
        ManualError::DoubleFree { local, at, freed_at } => {
            let (b, a) = (name(local), freed_name(freed_at));
            let range = text_range(span_of(at));
            let message = if a == b {
                format!("`{b}` is freed twice")
            } else {
                format!("`{b}` refers to an object that `free({a})` already freed")
            };
            let freed = text_range(span_of(freed_at));
            let note = freed_note(freed, range, "first freed here");
            Diagnostic::error(codes::DOUBLE_FREE, range, message).with_related(freed, note)
        }
        ManualError::FreeBorrowed { local, at, what } => {
            let range = text_range(span_of(at));
            // `free(g)` of a global frees a temporary loaded from it: name what is written.
            let x = match f.get_local(local).and_then(|d| d.name.clone()) {
                Some(n) => n,
                None => text
                    .get(usize::from(range.start())..usize::from(range.end()))
                    .and_then(|t| t.strip_prefix("free(")?.strip_suffix(')'))
                    .map_or_else(|| name(local), |t| t.trim().to_string()),
            };
            match what {
                NotControlled::HandedOver(h) => {
                    let how = handover_words(program, f, h);
                    Diagnostic::error(
                        codes::FREE_BORROWED,
                        range,
                        format!(
                            "cannot free `{x}`: the object it refers to was {how}, so this function no longer \
                             controls it"
                        ),
                    )
                    .with_related(text_range(span_of(h)), "handed over here")
                }
                NotControlled::Param(p) => {
                    let pn = name(p);
                    let declared = if f.get_local(p).is_some_and(|d| d.mode == Some(Mode::Borrow)) {
                        "declared `borrow`"
                    } else {
                        "not declared `own`"
                    };
                    let message = if p == local {
                        format!(
                            "cannot free parameter `{pn}`: it is {declared}, so the caller keeps control of it"
                        )
                    } else {
                        format!(
                            "cannot free `{x}`: it may hold parameter `{pn}`, which is {declared} (the caller \
                             keeps control of it)"
                        )
                    };
                    let decl = f.get_local(p).map_or(Span::NONE, |d| d.span);
                    Diagnostic::error(codes::FREE_BORROWED, range, message)
                        .with_related(text_range(decl), format!("`{pn}` is declared here"))
                }
                NotControlled::Global(g) => {
                    let gn = program.globals.get(g.index()).map_or("?", |g| g.name.as_str());
                    let message = if x == gn {
                        format!("cannot free global `{gn}`: the global keeps control of its value")
                    } else {
                        format!(
                            "cannot free `{x}`: it holds the value of global `{gn}`, which keeps control of it"
                        )
                    };
                    Diagnostic::error(codes::FREE_BORROWED, range, message)
                }
                NotControlled::Loaded => Diagnostic::error(
                    codes::FREE_BORROWED,
                    range,
                    format!(
                        "cannot free `{x}`: it holds a value loaded from a field or element of something this \
                         function does not control"
                    ),
                ),
                NotControlled::Literal => Diagnostic::error(
                    codes::FREE_BORROWED,
                    range,
                    format!("cannot free `{x}`: it may hold a string literal, which is constant data"),
                ),
            }
        }
    }
}

/// What an allocation instruction makes, in words.
fn allocation_word(program: &Program, kind: &InstKind) -> String {
    match kind {
        InstKind::NewObject { class, .. } => {
            format!("an object of `{}`", program.classes.get(class.index()).map_or("?", |c| c.name.as_str()))
        }
        InstKind::NewArray { .. } | InstKind::NewArrayRepeat { .. } => "an array".into(),
        InstKind::Concat { .. } | InstKind::ToString { .. } => "a string".into(),
        InstKind::NewClosure { .. } => "a closure".into(),
        _ => "an allocation".into(),
    }
}

/// The local an allocation's value is written to, if it has a source name: the allocation's
/// destination, or the named local the temporary holding it is copied into.
fn named_holder(f: &Function, dest: LocalId) -> Option<LocalId> {
    let named = |l: LocalId| f.get_local(l).is_some_and(|d| d.name.is_some());
    if named(dest) {
        return Some(dest);
    }
    f.insts().find_map(|(_, i)| match i.kind {
        InstKind::Copy { dest: d, src } if src == dest && named(d) => Some(d),
        _ => None,
    })
}

/// Whether a temporary is stored into an object, array, closure or struct.
fn stored_anywhere(f: &Function, local: LocalId) -> bool {
    f.insts().any(|(_, i)| match &i.kind {
        InstKind::NewObject { fields, .. } | InstKind::NewStruct { fields, .. } => fields.contains(&local),
        InstKind::NewArray { elems, .. } => elems.contains(&local),
        InstKind::NewArrayRepeat { value, .. } => *value == local,
        InstKind::NewClosure { captures, .. } => captures.contains(&local),
        InstKind::StoreField { value, .. }
        | InstKind::StoreElem { value, .. }
        | InstKind::Push { value, .. }
        | InstKind::StoreGlobal { value, .. } => *value == local,
        _ => false,
    })
}

/// How the instruction at `at` handed an object over, in words.
fn handover_words(program: &Program, f: &Function, at: InstAddr) -> String {
    match f.inst(at).map(|i| &i.kind) {
        Some(InstKind::StoreGlobal { global, .. }) => format!(
            "stored into global `{}`",
            program.globals.get(global.index()).map_or("?", |g| g.name.as_str())
        ),
        Some(InstKind::Call { callee: Callee::Function(g), .. }) => format!(
            "passed to `{}`, which takes it over (`own` parameter)",
            program.functions.get(g.index()).map_or("?", |g| g.name.as_str())
        ),
        Some(InstKind::Call { callee: Callee::Extern(x), .. }) => format!(
            "passed to extern `{}`, which may keep it",
            program.externs.get(x.index()).map_or("?", |x| x.name.as_str())
        ),
        Some(InstKind::Spawn { .. }) => "handed to another thread".into(),
        Some(InstKind::Return { .. }) => "returned".into(),
        Some(
            InstKind::StoreField { object: container, .. }
            | InstKind::StoreElem { array: container, .. }
            | InstKind::Push { array: container, .. },
        ) => {
            // `push(g, x)` writes through a temporary loaded from the global.
            let global = f.insts().find_map(|(_, i)| match i.kind {
                InstKind::LoadGlobal { dest, global } if dest == *container => Some(global),
                _ => None,
            });
            match global.and_then(|g| program.globals.get(g.index())) {
                Some(g) => format!("stored into global `{}`", g.name),
                None => "stored into something this function does not control".into(),
            }
        }
        _ => "stored into something this function does not control".into(),
    }
}

/// The first mention of `name` inside `range`.
fn name_ref_within(root: &SyntaxNode, name: &str, range: TextRange) -> Option<TextRange> {
    crate::diagnostic::name_refs_within(root, range)
        .into_iter()
        .find(|n| n.text() == name)
        .map(|n| n.text_range())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_ir::{ClassId, FunctionBuilder, FunctionKind, ProgramBuilder};

    /// The mistakes of a `@manual` function `build` writes (class `C { v: int }` is class 0),
    /// as short strings.
    fn errors(build: impl FnOnce(&mut FunctionBuilder<'_>, Type)) -> Vec<String> {
        let mut p = ProgramBuilder::new();
        let class = p.add_class("C", &[("v", Type::Int)]);
        let f = p.declare_function("f", FunctionKind::Plain);
        {
            let mut b = p.function(f);
            b.manual();
            build(&mut b, Type::Class(class));
        }
        let program = p.finish();
        check_function(&program, &program.functions[f.index()])
            .into_iter()
            .map(|e| match e {
                ManualError::Leak { site, exit } => format!("leak {site} at {exit}"),
                ManualError::DoubleFree { at, freed_at, .. } => format!("double-free {at} after {freed_at}"),
                ManualError::UseAfterFree { at, freed_at, .. } => {
                    format!("use-after-free {at} after {freed_at}")
                }
                ManualError::FreeBorrowed { at, what, .. } => format!("free-borrowed {at}: {what:?}"),
            })
            .collect()
    }

    #[test]
    fn a_copy_freed_frees_the_object_and_a_use_through_the_other_copy_dangles() {
        let found = errors(|f, c| {
            let (a, b, v) = (f.local("a", c.clone()), f.local("b", c), f.local("v", Type::Int));
            f.const_int(v, 1)
                .new_object(a, ClassId(0), &[v])
                .copy(b, a)
                .free(b)
                .load_field(v, a, 0)
                .ret(None);
        });
        assert_eq!(found, vec!["use-after-free b0.4 after b0.3"]);
    }

    #[test]
    fn a_path_that_holds_something_else_does_not_make_the_object_maybe_freed() {
        // `x` holds the object on one path and `null` on the other; after `x != null` it is
        // freed, and nothing leaks or dangles.
        let found = errors(|f, c| {
            let x = f.local("x", Type::Nullable(Box::new(c)));
            let (v, cond, t) = (f.temp(Type::Int), f.temp(Type::Bool), f.temp(Type::Bool));
            let (alloc, join, free, done) = (f.new_block(), f.new_block(), f.new_block(), f.new_block());
            f.const_null(x).const_bool(cond, true).branch(cond, alloc, join);
            f.switch_to(alloc).const_int(v, 1).new_object(x, ClassId(0), &[v]).jump(join);
            f.switch_to(join).is_null(t, x).unary(cond, UnaryOp::Not, t).branch(cond, free, done);
            f.switch_to(free).free(x).jump(done);
            f.switch_to(done).ret(None);
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn copies_going_round_a_loop_terminate_and_the_leak_is_reported_once() {
        let found = errors(|f, c| {
            let locals: Vec<LocalId> = (0..12).map(|i| f.local(format!("l{i}"), c.clone())).collect();
            let (v, cond) = (f.temp(Type::Int), f.temp(Type::Bool));
            let (head, body, exit) = (f.new_block(), f.new_block(), f.new_block());
            f.jump(head);
            f.switch_to(head).const_bool(cond, true).branch(cond, body, exit);
            f.switch_to(body).const_int(v, 1).new_object(locals[0], ClassId(0), &[v]);
            for w in locals.windows(2).rev() {
                f.copy(w[1], w[0]);
            }
            f.jump(head);
            f.switch_to(exit).ret(None);
        });
        assert_eq!(found, vec!["leak b2.1 at b3.0"]);
    }

    #[test]
    fn own_parameters_take_objects_over_and_others_do_not() {
        let mut p = ProgramBuilder::new();
        let class = p.add_class("C", &[("v", Type::Int)]);
        let ty = Type::Class(class);
        let (take, look, f) = (
            p.declare_function("take", FunctionKind::Plain),
            p.declare_function("look", FunctionKind::Plain),
            p.declare_function("f", FunctionKind::Plain),
        );
        {
            let mut b = p.function(take);
            b.param("n", ty.clone(), Mode::Own);
            b.ret(None);
        }
        {
            let mut b = p.function(look);
            b.param("n", ty.clone(), None);
            b.ret(None);
        }
        {
            let mut b = p.function(f);
            b.manual();
            let (a, c, v) = (b.local("a", ty.clone()), b.local("c", ty), b.temp(Type::Int));
            b.const_int(v, 1).new_object(a, class, &[v]).new_object(c, class, &[v]);
            b.call(None, take, &[a]).call(None, look, &[c]).free(a).ret(None);
        }
        let program = p.finish();
        let found = check_function(&program, &program.functions[f.index()]);
        let at = |i: u32| InstAddr { block: BlockId(0), index: i };
        assert_eq!(
            found,
            vec![
                ManualError::Leak { site: at(2), exit: at(6) },
                ManualError::FreeBorrowed {
                    local: LocalId(0),
                    at: at(5),
                    what: NotControlled::HandedOver(at(3))
                },
            ]
        );
    }
}
