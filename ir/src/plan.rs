//! The memory plan: custody's product, and the contract with every backend.
//!
//! A plan says, for every function of a program: where each allocation lives (its
//! [`Placement`]), who is responsible for freeing it ([`Control`]), how far it escapes
//! ([`Escape`]), where each variable is used for the last time, and which memory
//! operations ([`Op`]) a backend must emit where. Backends (a C emitter, a VM, custody's own
//! checking interpreter in [`crate::exec`]) execute the plan; they never redo the analysis.
//!
//! The JSON field names are fixed by the plan-format contract (`spec/plan-format.md`);
//! fields beyond the contract (`inst`, `local`, `scope`, ...) are additions that let a
//! machine apply the plan to the IR exactly, where the contract's source spans locate it
//! for people.
//!
//! # What the operations mean
//!
//! An operation is attached to one IR instruction and runs just `before` or `after` it.
//! Instructions themselves never count, free or copy memory: `copy`, `load_field` and the
//! rest only move values; everything memory does is an operation of the plan. A fresh
//! allocation starts with one reference, owned by the local it is written to. Two
//! instructions end variables (without counting): `scope_exit` ends the locals its scope
//! declared and `free` ends its local; an ended local holds nothing, and operations on it
//! do nothing (so a `drop` before a `scope_exit` releases the value, and the local cannot
//! be released twice). `scope_enter` starts its locals empty.
//!
//! An operation applies to the value in a local, or, when it names a place, to the value
//! stored there: `field` (a field of the object or struct in `local`), `index` (the element
//! of the array in `local` at the index held by that local) or `global`. Storing into a
//! place overwrites its value without releasing it: a plan releases the old value with an
//! operation on the place before the store. `count` repeats an operation as many times as
//! the int in that local says (`[v; n]` stores `n` references to `v`).
//!
//! - `dup` local: the value in `local` gains a reference (counted placements only; a
//!   struct value dups every reference inside it).
//! - `drop` local: the value loses a reference; at zero it is destroyed and freed.
//! - `move` local: ownership passes on without counting (documentation for backends).
//! - `free` local: the value is destroyed and freed now (unique and manual placements;
//!   on a counted value it is a `drop`).
//! - `destroy` local: the value's `drop` block runs and its fields are released now; its
//!   memory goes with its frame or arena (stack and arena placements).
//! - `cow_check` / `cow_in_place` / `cow_copy` local: before a write to the array in
//!   `local`: copy it if shared / it is proven unshared / copy it unconditionally.
//! - `arena_enter` / `arena_exit` scope: an arena opens; the arena and everything allocated
//!   in it is freed.
//! - `collect_cycles` local: release the value (as `drop`), then, if it survives, run the
//!   cycle collector on its strongly connected group, freeing it if nothing outside holds it.
//!
//! Destroying an object runs its class's `drop` block, then releases its fields in
//! declaration order (an array releases its elements in order, a closure its captures); to
//! release a value is to `drop` it if it is counted, `free` it if it is unique, and nothing
//! otherwise (stack, arena, static and manual memory is freed by its own mechanism).

use crate::program::{Function, InstAddr, InstKind, Mode, Program};
use crate::types::{GlobalId, LocalId, ScopeId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The format tag of every plan.
pub const PLAN_FORMAT: &str = "custody-plan";
/// The version of the plan format this crate reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// A whole program's memory plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemoryPlan {
    /// Always `custody-plan`.
    pub format: String,
    /// The format version (1).
    pub version: u32,
    /// The source file, as given on the command line.
    pub source: String,
    /// Every class and struct: can it form cycles, in what order are its fields released.
    pub types: Vec<TypeInfo>,
    /// Every function, method, `drop` block, closure body and global initialiser.
    pub functions: Vec<FunctionPlan>,
    /// Problems found while planning (and by the checker).
    pub diagnostics: Vec<PlanDiagnostic>,
    /// Totals.
    pub stats: PlanStats,
}

/// A position in the source: byte range plus the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub struct SourceSpan {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset just past the last byte.
    pub end: u32,
    /// 1-based line of `start`.
    pub line: u32,
    /// 1-based column of `start`, in characters.
    pub col: u32,
}

/// What the plan knows about a class or struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TypeInfo {
    /// The type's name.
    pub name: String,
    /// `class` or `struct`.
    pub kind: TypeKind,
    /// Whether objects of this type can be part of a reference cycle.
    pub cyclic: bool,
    /// The fields through which a cycle can close (`Node.next`).
    pub cycle_via: Vec<String>,
    /// The fields in the order they are released when an object is destroyed.
    pub release_order: Vec<String>,
}

/// A class or a struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    /// A reference type.
    Class,
    /// A value type.
    Struct,
}

/// How far a value escapes the function that creates or receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    /// Never outlives the function (scope) that created or received it.
    Contained,
    /// Leaves only through the result or into another parameter's contents.
    Binding,
    /// Stored where the bound is lost: a global, an uncontained object, unknown code.
    Uncontained,
    /// Reachable from another thread.
    Thread,
}

/// Where an allocation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Constant data, emitted once and never freed.
    Static,
    /// In its function's frame; freed when its lifetime ends, no counter.
    Stack,
    /// In an arena, freed with the arena.
    Arena,
    /// On the heap with one owner at every moment; freed by `free`, no counter.
    HeapUnique,
    /// On the heap, reference counted.
    HeapRc,
    /// On the heap, reference counted atomically (shared across threads).
    HeapAtomicRc,
    /// Allocated in `@manual` code; freed by the program's `free`.
    Manual,
}

impl Placement {
    /// Every placement, in the order of the stats' `by_placement`.
    pub const ALL: [Placement; 7] = [
        Placement::Stack,
        Placement::Arena,
        Placement::HeapUnique,
        Placement::HeapRc,
        Placement::HeapAtomicRc,
        Placement::Manual,
        Placement::Static,
    ];

    /// Whether objects of this placement carry a reference count.
    pub fn is_counted(self) -> bool {
        matches!(self, Placement::HeapRc | Placement::HeapAtomicRc)
    }

    /// The name used in JSON and traces: `heap_rc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Static => "static",
            Placement::Stack => "stack",
            Placement::Arena => "arena",
            Placement::HeapUnique => "heap_unique",
            Placement::HeapRc => "heap_rc",
            Placement::HeapAtomicRc => "heap_atomic_rc",
            Placement::Manual => "manual",
        }
    }
}

/// Who is responsible for freeing an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// The function that creates it.
    Function,
    /// Whoever called the creating function (it is returned).
    Caller,
    /// The program: it is stored in a global.
    Global,
    /// An arena scope (named by the allocation's `arena_scope`).
    Arena,
}

/// What kind of memory an allocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocKind {
    /// A class literal.
    Object,
    /// An array literal or repeat.
    Array,
    /// `+` on strings, or `str(...)`.
    String,
    /// A closure literal's environment.
    Closure,
}

/// One function's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunctionPlan {
    /// The function's name as in the IR: `make`, `Node.get`, `main#closure0`.
    pub name: String,
    /// The whole item.
    pub span: SourceSpan,
    /// Parameters (`self` first for methods).
    pub params: Vec<ParamPlan>,
    /// What the function returns, and whose control it stays under.
    pub returns: ReturnPlan,
    /// The allocation sites of the function.
    pub allocations: Vec<AllocationPlan>,
    /// Named variables and where each is used for the last time.
    pub variables: Vec<VariablePlan>,
    /// The memory operations, in instruction order.
    pub ops: Vec<Op>,
}

/// A parameter's escape and mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParamPlan {
    /// Its name (`self` for the receiver).
    pub name: String,
    /// Its position.
    pub index: u32,
    /// Its type, as the source writes it.
    #[serde(rename = "type")]
    pub ty: String,
    /// How far it, or anything reachable from it, escapes.
    pub escape: Escape,
    /// Whether the callee takes control (`own`) or only looks (`borrow`).
    pub mode: Mode,
    /// Where the parameter's value (or a part of it) goes.
    pub flows_to: Vec<FlowTarget>,
}

/// Where a parameter's value flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum FlowTarget {
    /// The function's result.
    Return,
    /// Into another parameter's contents, at `path` (`.next`, `[]`).
    Param {
        /// The parameter's position.
        index: u32,
        /// The field path inside it.
        path: String,
    },
    /// A global.
    Global {
        /// The global's name.
        name: String,
    },
    /// Another thread.
    Thread,
    /// Code custody cannot see (an extern).
    Unknown,
}

/// Whose control a function's result is under (VSL's return rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnBound {
    /// It returns something it allocated: control passes to the caller.
    Callee,
    /// It returns (part of) a parameter: control stays with the argument's.
    Parameter,
    /// It returns something reachable from a global.
    Parent,
    /// Several of these.
    Mixed,
    /// It returns no reference.
    None,
}

/// A function's return binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReturnPlan {
    /// The kind of binding.
    pub bound: ReturnBound,
    /// The parameters the result may be (part of).
    pub params: Vec<u32>,
}

/// One allocation site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AllocationPlan {
    /// `function#n`, numbered in instruction order.
    pub id: String,
    /// The allocating expression.
    pub span: SourceSpan,
    /// What is allocated.
    pub kind: AllocKind,
    /// The allocated type, as the source writes it.
    #[serde(rename = "type")]
    pub ty: String,
    /// How far it escapes its function.
    pub escape: Escape,
    /// Where it lives.
    pub placement: Placement,
    /// Who frees it.
    pub control: Control,
    /// For `control: arena` (and `placement: arena`): the arena scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arena_scope: Option<ScopeId>,
    /// Whether it may be part of a cycle the program builds.
    pub cyclic: bool,
    /// Why it is placed as it is (empty for the cheapest placement).
    pub reason: String,
    /// The allocating instruction.
    pub inst: InstAddr,
}

/// A named variable and its last uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VariablePlan {
    /// Its name.
    pub name: String,
    /// Its declaration.
    pub span: SourceSpan,
    /// The uses after which its value is dead, one per path.
    pub last_uses: Vec<SourceSpan>,
    /// The IR local.
    pub local: LocalId,
}

/// The kind of a memory operation (see the module documentation for their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Add a reference.
    Dup,
    /// Release a reference.
    Drop,
    /// Hand over without counting.
    Move,
    /// Destroy and free a unique or manual object.
    Free,
    /// Run a `drop` block and release the fields.
    Destroy,
    /// Copy the array before writing if it is shared.
    CowCheck,
    /// Write in place: the array is proven unshared.
    CowInPlace,
    /// Copy the array before writing: it is proven shared.
    CowCopy,
    /// Open an arena.
    ArenaEnter,
    /// Free an arena and everything in it.
    ArenaExit,
    /// Run the cycle collector on the value's group.
    CollectCycles,
}

impl OpKind {
    /// The name used in JSON and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Dup => "dup",
            OpKind::Drop => "drop",
            OpKind::Move => "move",
            OpKind::Free => "free",
            OpKind::Destroy => "destroy",
            OpKind::CowCheck => "cow_check",
            OpKind::CowInPlace => "cow_in_place",
            OpKind::CowCopy => "cow_copy",
            OpKind::ArenaEnter => "arena_enter",
            OpKind::ArenaExit => "arena_exit",
            OpKind::CollectCycles => "collect_cycles",
        }
    }
}

/// Before or after its instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Just before the instruction.
    Before,
    /// Just after the instruction.
    After,
}

/// A memory operation at an instruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Op {
    /// What to do.
    pub op: OpKind,
    /// The variable it applies to, by source name (`%3` for a temporary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The allocation site of the value, when it is known statically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc: Option<String>,
    /// The source of the instruction.
    pub at: SourceSpan,
    /// Before or after the instruction.
    pub when: When,
    /// The instruction.
    pub inst: InstAddr,
    /// The local the operation applies to (all but arena operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalId>,
    /// The arena scope (arena operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeId>,
    /// The operation applies to this field of the value in `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<u32>,
    /// The operation applies to the element, at the index held by this local, of the
    /// array in `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<LocalId>,
    /// The operation applies to the value of this global.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalId>,
    /// The operation is applied as many times as the int in this local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<LocalId>,
    /// Why the operation is here (`last use`, `shared with xs`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Op {
    /// Operation `op`, `when` the instruction at `inst` (source `at`) runs, applying to
    /// nothing yet: set `local`, a place or a scope, and `value`, after.
    pub fn new(op: OpKind, at: SourceSpan, when: When, inst: InstAddr) -> Op {
        Op {
            op,
            value: None,
            alloc: None,
            at,
            when,
            inst,
            local: None,
            scope: None,
            field: None,
            index: None,
            global: None,
            count: None,
            reason: None,
        }
    }
}

/// A diagnostic in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDiagnostic {
    /// `error`, `warning` or `note`.
    pub severity: String,
    /// The stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// Where to fix it.
    pub span: SourceSpan,
    /// Other places that explain it.
    pub related: Vec<RelatedSpan>,
}

/// A place that explains a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RelatedSpan {
    /// Where.
    pub span: SourceSpan,
    /// Why it matters.
    pub message: String,
}

/// Totals of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct PlanStats {
    /// Functions planned.
    pub functions: u32,
    /// Allocation sites.
    pub allocations: u32,
    /// Allocation sites per placement.
    pub by_placement: ByPlacement,
    /// Counter operations (`dup` and `drop` of counted values) in the plan.
    pub rc_ops: u32,
    /// Counter operations of the naive plan of the same program.
    pub rc_ops_naive: u32,
}

/// A count per placement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ByPlacement {
    /// `stack`
    pub stack: u32,
    /// `arena`
    pub arena: u32,
    /// `heap_unique`
    pub heap_unique: u32,
    /// `heap_rc`
    pub heap_rc: u32,
    /// `heap_atomic_rc`
    pub heap_atomic_rc: u32,
    /// `manual`
    pub manual: u32,
    /// `static`
    #[serde(rename = "static")]
    pub static_: u32,
}

impl ByPlacement {
    /// Adds one to a placement's count.
    pub fn add(&mut self, placement: Placement) {
        *self.get_mut(placement) += 1;
    }

    /// The count of a placement.
    pub fn get(&self, placement: Placement) -> u32 {
        match placement {
            Placement::Stack => self.stack,
            Placement::Arena => self.arena,
            Placement::HeapUnique => self.heap_unique,
            Placement::HeapRc => self.heap_rc,
            Placement::HeapAtomicRc => self.heap_atomic_rc,
            Placement::Manual => self.manual,
            Placement::Static => self.static_,
        }
    }

    fn get_mut(&mut self, placement: Placement) -> &mut u32 {
        match placement {
            Placement::Stack => &mut self.stack,
            Placement::Arena => &mut self.arena,
            Placement::HeapUnique => &mut self.heap_unique,
            Placement::HeapRc => &mut self.heap_rc,
            Placement::HeapAtomicRc => &mut self.heap_atomic_rc,
            Placement::Manual => &mut self.manual,
            Placement::Static => &mut self.static_,
        }
    }
}

/// The JSON Schema of [`MemoryPlan`], as checked into `spec/plan.schema.json`.
pub fn plan_schema() -> String {
    let schema = schemars::schema_for!(MemoryPlan);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// What an operation applies to, resolved against its function (spec/plan-format.md 4.1):
/// the one reading of the plan format that the checked interpreter and the verifier share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpTarget {
    /// The value in a local.
    Local(LocalId),
    /// A field of the object or struct in a local.
    Field(LocalId, u32),
    /// The element of the array in the first local at the index in the second.
    Elem(LocalId, LocalId),
    /// The value of a global.
    Global(GlobalId),
    /// An arena scope.
    Scope(ScopeId),
}

/// What `op` applies to, checked against the program.
pub(crate) fn resolve_target(
    program: &Program,
    function: &Function,
    inst: &InstKind,
    op: &Op,
) -> Result<OpTarget, String> {
    let what = format!("`{}` at {}", op.op.as_str(), op.inst);
    if matches!(op.op, OpKind::ArenaEnter | OpKind::ArenaExit) {
        let scope = op.scope.or(match inst {
            InstKind::ScopeEnter { scope, .. } | InstKind::ScopeExit { scope } => Some(*scope),
            _ => None,
        });
        return scope.map(OpTarget::Scope).ok_or_else(|| format!("{what} names no arena scope"));
    }
    if let Some(global) = op.global {
        return if global.index() < program.globals.len() {
            Ok(OpTarget::Global(global))
        } else {
            Err(format!("{what} names global #{}, which does not exist", global.0))
        };
    }
    let local = match op.local {
        Some(local) => local,
        None => local_by_name(function, op.value.as_deref()).ok_or_else(|| match &op.value {
            Some(name) => format!("{what} names `{name}`, which is not one local of `{}`", function.name),
            None => format!("{what} names no local"),
        })?,
    };
    if local.index() >= function.locals.len() {
        return Err(format!("{what} names %{}, which does not exist", local.0));
    }
    if let Some(index) = op.index {
        if index.index() >= function.locals.len() {
            return Err(format!("{what} indexes by %{}, which does not exist", index.0));
        }
        return Ok(OpTarget::Elem(local, index));
    }
    Ok(match op.field {
        Some(field) => OpTarget::Field(local, field),
        None => OpTarget::Local(local),
    })
}

/// The local a plan names by its source name: `%3`, or the only local called `name`.
fn local_by_name(function: &Function, name: Option<&str>) -> Option<LocalId> {
    let name = name?;
    if let Some(number) = name.strip_prefix('%') {
        return number.parse::<u32>().ok().map(LocalId);
    }
    let mut found = function.locals.iter().enumerate().filter(|(_, l)| l.name.as_deref() == Some(name));
    let (first, _) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(LocalId::from(first))
}
