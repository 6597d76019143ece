//! The constraint graph of one function: abstract objects, nodes, and one or more named
//! constraints per IR instruction.
//!
//! Rules (each named in `spec/rules.md`; the constraint that implements a rule carries its
//! name, which is what explanations show):
//!
//! - `esc-param-entry`: on entry, parameter `i`'s definition points to the object
//!   `param i` (a closure's captures are parameters after its declared ones).
//! - `esc-alloc`: an allocation's destination points to the new object; the values it is
//!   built from flow into its fields (`esc-alloc-field`).
//! - `esc-copy`: `d = s` makes `d` point to whatever `s` points to.
//! - `esc-merge`: a read of a local names one value, a definition or a merge of the
//!   definitions meeting at a join ([`super::reaching`]); a merge holds what each incoming
//!   value holds.
//! - `esc-field-load` / `esc-field-store`: `d = o.f` / `o.f = v`, through every object `o`
//!   points to, into that object's own field `f` (field-sensitive: `a.x = b` does not
//!   touch `a.y`). Elements (`esc-elem-load`, `esc-elem-store`) are one field `[]`.
//! - `esc-param-content`: a field of a parameter's object, read before anything is stored
//!   in it, holds the caller's object at that path.
//! - `esc-global-load` / `esc-global-store`: a global holds what is stored into it, and
//!   everything it holds is `uncontained` (`esc-global-root`).
//! - `esc-return`: the result node holds what is returned.
//! - `esc-call-summary`: a call applies the callee's summary, flow by flow;
//!   `esc-call-fresh`: a callee that returns a fresh object gives the caller a new one.
//! - `esc-extern`: an extern's parameters not declared `borrow` escape to unknown code.
//! - `esc-closure-call`: calling a closure whose literal is known applies its body's
//!   summary, its captured values standing for the extra parameters; `esc-unknown-call`:
//!   calling any other closure is a call of unknown code, which receives the arguments and
//!   everything the closure holds (its captured values, which its code may return or keep).
//! - `esc-spawn`: everything reachable from a spawned call's arguments (and a spawned
//!   closure's environment) is reachable from another thread.

use super::reaching::{Reaching, Value};
use super::summary::{FlowDst, Summary};
use custody_ir as ir;
use custody_ir::{FunctionId, GlobalId, InstAddr, InstKind, LocalId};
use std::collections::HashMap;

/// A step into an object: a field, the elements of an array, or a closure's captured slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sel {
    /// Field `n` of an object or struct.
    Field(u32),
    /// Any element of an array.
    Elem,
    /// Captured value `n` of a closure.
    Env(u32),
}

/// How deep inside a parameter the analysis names objects separately; deeper objects
/// share one name (`Deep`), which keeps recursive structures finite.
pub const MAX_PATH: usize = 3;

/// A path of steps into an object, cut off at [`MAX_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Path {
    /// The steps.
    pub steps: Vec<Sel>,
    /// Whether the path was cut off (it stands for every deeper path too).
    pub deep: bool,
}

impl Path {
    /// The path one step further.
    pub fn then(&self, sel: Sel) -> Path {
        if self.deep || self.steps.len() >= MAX_PATH {
            return Path { steps: self.steps.clone(), deep: true };
        }
        let mut steps = self.steps.clone();
        steps.push(sel);
        Path { steps, deep: false }
    }

    /// The root path.
    pub fn root() -> Path {
        Path::default()
    }
}

/// What a reference may point to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Obj {
    /// The object an allocation instruction of this function creates (for `new_struct`,
    /// the struct value: structs are modelled as objects so their fields are tracked).
    Alloc(InstAddr),
    /// The object at `path` inside parameter `n` (as the caller passed it).
    Param(u32, Path),
    /// The fresh object a call returns, and everything inside it.
    CallResult(InstAddr),
    /// The array an array write leaves in its local (`esc-cow`), or the struct value a
    /// struct copy makes (`esc-struct-copy`): a value of its own, holding what the
    /// original held (plus the written element).
    Copy(InstAddr),
    /// A struct parameter's own copy of the caller's struct (`esc-struct-copy`).
    ParamCopy(u32),
    /// Whatever a global holds, and everything inside it.
    Global(GlobalId),
    /// Something only unknown code knows: an extern's result, a closure from elsewhere.
    Unknown,
}

/// A holder of references.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// A definition of a local: `Def(n)` is [`FunctionGraph::defs`]`[n]`.
    Def(u32),
    /// A field of an abstract object.
    Field(u32, Sel),
    /// The function's result.
    Ret,
    /// A global's value.
    Global(GlobalId),
    /// An intermediate value of a call's summary application.
    Temp(u32),
    /// A merge of a local's definitions where control flow joins (`esc-merge`):
    /// `Merge(n)` is [`FunctionGraph::reaching`]`.merges[n]`.
    Merge(u32),
}

/// Where a value goes when it escapes for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    /// A global.
    Global(GlobalId),
    /// Another thread.
    Thread,
    /// Code custody cannot see.
    Unknown,
}

/// The rule that justifies a constraint (names as in `spec/rules.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Rule {
    ParamEntry,
    Alloc,
    AllocField,
    Copy,
    FieldLoad,
    FieldStore,
    ElemLoad,
    ElemStore,
    ParamContent,
    GlobalLoad,
    GlobalStore,
    Return,
    CallSummary,
    CallFresh,
    Extern,
    ClosureCall,
    UnknownCall,
    Spawn,
    ClosureCapture,
    Cow,
    StructCopy,
    Merge,
    UnknownWrites,
}

impl Rule {
    /// The rule's name in `spec/rules.md`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ParamEntry => "esc-param-entry",
            Rule::Alloc => "esc-alloc",
            Rule::AllocField => "esc-alloc-field",
            Rule::Copy => "esc-copy",
            Rule::FieldLoad => "esc-field-load",
            Rule::FieldStore => "esc-field-store",
            Rule::ElemLoad => "esc-elem-load",
            Rule::ElemStore => "esc-elem-store",
            Rule::ParamContent => "esc-param-content",
            Rule::GlobalLoad => "esc-global-load",
            Rule::GlobalStore => "esc-global-store",
            Rule::Return => "esc-return",
            Rule::CallSummary => "esc-call-summary",
            Rule::CallFresh => "esc-call-fresh",
            Rule::Extern => "esc-extern",
            Rule::ClosureCall => "esc-closure-call",
            Rule::UnknownCall => "esc-unknown-call",
            Rule::Spawn => "esc-spawn",
            Rule::ClosureCapture => "esc-closure-capture",
            Rule::Cow => "esc-cow",
            Rule::StructCopy => "esc-struct-copy",
            Rule::Merge => "esc-merge",
            Rule::UnknownWrites => "esc-unknown-writes",
        }
    }
}

/// Why a constraint exists: its rule and the instruction it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The rule.
    pub rule: Rule,
    /// The instruction (none for entry facts).
    pub at: Option<InstAddr>,
}

/// A constraint over nodes (ids into [`FunctionGraph::nodes`]) and objects. The fields
/// are named by the relation each variant's documentation states.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Constraint {
    /// `node ∋ obj`.
    AddrOf { node: u32, obj: u32 },
    /// `pts(to) ⊇ pts(from)`.
    Copy { from: u32, to: u32 },
    /// `∀o ∈ pts(base): pts(to) ⊇ pts(o.sel)`.
    Load { base: u32, sel: Sel, to: u32 },
    /// `∀o ∈ pts(base): pts(o.sel) ⊇ pts(from)`.
    Store { base: u32, sel: Sel, from: u32 },
    /// `pts(to) ⊇` every object reachable from `pts(from)` through at least one field (a
    /// summary flow from below a cut-off path: the objects strictly inside `pts(from)`).
    CopyReach { from: u32, to: u32 },
    /// Everything reachable from `pts(node)` escapes to `sink`.
    Escape { node: u32, sink: Sink },
    /// A call of the closure in `callee`: for each closure object it may hold, apply that
    /// closure's summary (or treat it as unknown code).
    CallClosure { callee: u32, args: Vec<u32>, dest: Option<u32>, at: InstAddr, spawn: bool },
}

/// A definition of a local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefInfo {
    /// The local.
    pub local: LocalId,
    /// The instruction that writes it (`None`: its value on entry).
    pub at: Option<InstAddr>,
}

/// Interns values to dense ids.
#[derive(Debug, Clone)]
pub struct Interner<T: std::hash::Hash + Eq + Clone> {
    items: Vec<T>,
    ids: HashMap<T, u32>,
}

impl<T: std::hash::Hash + Eq + Clone> Default for Interner<T> {
    fn default() -> Self {
        Interner { items: Vec::new(), ids: HashMap::new() }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    /// The id of `item`, adding it if new; `true` if it was new.
    pub fn intern(&mut self, item: T) -> (u32, bool) {
        if let Some(&id) = self.ids.get(&item) {
            return (id, false);
        }
        let id = self.items.len() as u32;
        self.ids.insert(item.clone(), id);
        self.items.push(item);
        (id, true)
    }

    /// The id of `item`, if interned.
    pub fn get(&self, item: &T) -> Option<u32> {
        self.ids.get(item).copied()
    }

    /// The item with this id.
    pub fn item(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One function's constraints.
#[derive(Debug, Clone, Default)]
pub struct FunctionGraph {
    /// The abstract objects.
    pub objs: Interner<Obj>,
    /// The nodes.
    pub nodes: Interner<Node>,
    /// The constraints, each with its origin.
    pub constraints: Vec<(Constraint, Origin)>,
    /// Every definition of a reference-holding local.
    pub defs: Vec<DefInfo>,
    /// The definition each instruction makes.
    pub def_at: HashMap<InstAddr, u32>,
    /// The new definition of the array local an array write makes (copy-on-write).
    pub array_def_at: HashMap<InstAddr, u32>,
    /// For each struct copy, the nodes it copies from (to tell a returned copy of a
    /// parameter from a fresh value).
    pub struct_copies: HashMap<InstAddr, Vec<u32>>,
    /// The entry definition of each parameter (and capture), by parameter number.
    pub param_defs: Vec<u32>,
    /// The value each read of a local reads, and the merges of definitions.
    pub reaching: Reaching,
    temps: u32,
}

impl FunctionGraph {
    /// The node id of a node.
    pub fn node(&mut self, node: Node) -> u32 {
        self.nodes.intern(node).0
    }

    /// The object id of an object.
    pub fn obj(&mut self, obj: Obj) -> u32 {
        self.objs.intern(obj).0
    }

    /// The field node `obj.sel`, and the object it initially holds if it is new and `obj`
    /// stands for outside memory (a parameter's content, a global's, unknown code's).
    pub fn field(&mut self, obj: u32, sel: Sel) -> (u32, Option<u32>) {
        let (node, new) = self.nodes.intern(Node::Field(obj, sel));
        if !new {
            return (node, None);
        }
        // rule esc-param-content
        let seed = match self.objs.item(obj).clone() {
            Obj::Param(i, path) => Some(Obj::Param(i, path.then(sel))),
            Obj::Global(g) => Some(Obj::Global(g)),
            Obj::Unknown => Some(Obj::Unknown),
            Obj::CallResult(at) => Some(Obj::CallResult(at)),
            Obj::Alloc(_) | Obj::Copy(_) | Obj::ParamCopy(_) => None,
        };
        (node, seed.map(|o| self.obj(o)))
    }

    /// The node whose points-to set is what `local` may hold when instruction `at` reads
    /// it (`None` when no definition reaches there).
    pub fn read_node(&self, at: InstAddr, local: LocalId) -> Option<u32> {
        match *self.reaching.reads.get(&(at, local))? {
            Value::Def(d) => self.nodes.get(&Node::Def(d)),
            Value::Merge(m) => self.nodes.get(&Node::Merge(m)),
        }
    }

    fn temp(&mut self) -> u32 {
        self.temps += 1;
        self.node(Node::Temp(self.temps))
    }

    fn add(&mut self, c: Constraint, rule: Rule, at: Option<InstAddr>) {
        self.constraints.push((c, Origin { rule, at }));
    }
}

/// Whether a local's values may hold references (rule esc-plain-value): references, and
/// structs with a reference in some field at any depth. A struct of scalars only (`In { a:
/// int }`, or one nesting such structs) is a plain value like an `int`: it is copied
/// wherever it goes and nothing can escape through it, so it gets no definitions, no
/// objects and no flows.
pub fn tracked(program: &ir::Program, ty: &ir::Type) -> bool {
    match ty.value_kind() {
        ir::ValueKind::Reference => true,
        ir::ValueKind::Struct => crate::plan::type_holds_references(program, ty),
        ir::ValueKind::Immediate => false,
    }
}

/// The summaries a function's constraints are built with: of every function it may call.
pub trait Summaries {
    /// The summary of a function (an empty one while it is being computed).
    fn summary(&self, function: FunctionId) -> Option<&Summary>;
}

/// What a function's code alone decides about its locals: its definitions, numbered, and
/// the value every read names. It does not depend on callees' summaries, so a recursive
/// component's functions compute it once, however many rounds the component takes.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    defs: Vec<DefInfo>,
    def_at: HashMap<InstAddr, u32>,
    array_def_at: HashMap<InstAddr, u32>,
    reaching: Reaching,
}

impl Definitions {
    /// The definitions and reads of `f`.
    pub fn of(program: &ir::Program, f: &ir::Function) -> Definitions {
        let mut g = FunctionGraph::default();
        number_defs(program, f, &mut g);
        let reaching = super::reaching::compute(
            f,
            &super::reaching::Defs { defs: &g.defs, def_at: &g.def_at, array_def_at: &g.array_def_at },
        );
        Definitions { defs: g.defs, def_at: g.def_at, array_def_at: g.array_def_at, reaching }
    }
}

/// Builds the constraint graph of `function` (with its [`Definitions`], when they are known
/// already).
pub fn build(
    program: &ir::Program,
    fid: FunctionId,
    summaries: &dyn Summaries,
    definitions: Option<&Definitions>,
) -> FunctionGraph {
    let mut g = FunctionGraph::default();
    let Some(f) = program.functions.get(fid.index()) else { return g };
    let Definitions { defs, def_at, array_def_at, reaching } = match definitions {
        Some(known) => known.clone(),
        None => Definitions::of(program, f),
    };
    (g.defs, g.def_at, g.array_def_at, g.reaching) = (defs, def_at, array_def_at, reaching);
    // rule esc-param-entry: parameters and captures arrive holding the caller's objects.
    let entry: Vec<LocalId> = f.params.iter().chain(&f.captures).copied().collect();
    for (i, local) in entry.iter().enumerate() {
        let def = g.defs.iter().position(|d| d.local == *local && d.at.is_none());
        let Some(def) = def else {
            g.param_defs.push(u32::MAX);
            continue;
        };
        let def = def as u32;
        g.param_defs.push(def);
        let node = g.node(Node::Def(def));
        let obj = g.obj(Obj::Param(i as u32, Path::root()));
        match f.get_local(*local).map(|l| l.ty.non_null().clone()) {
            // rule esc-struct-copy: a struct arrives by value: the callee writes its own copy.
            Some(ir::Type::Struct(s)) => {
                let copy = g.obj(Obj::ParamCopy(i as u32));
                g.add(Constraint::AddrOf { node, obj: copy }, Rule::StructCopy, None);
                let from = g.temp();
                g.add(Constraint::AddrOf { node: from, obj }, Rule::ParamEntry, None);
                copy_struct_fields(program, s, &mut g, from, copy, None);
            }
            _ => g.add(Constraint::AddrOf { node, obj }, Rule::ParamEntry, None),
        }
    }
    for (at, inst) in f.insts() {
        // `use(x)@i`: the one definition or merge the instruction reads.
        let uses = |g: &mut FunctionGraph, local: LocalId| -> Vec<u32> {
            debug_assert!(inst.kind.uses().contains(&local), "{at} reads {local:?}, not among its uses");
            let value = g.reaching.reads.get(&(at, local)).copied();
            value.map(|v| value_node(g, v)).into_iter().collect()
        };
        translate(program, f, at, &inst.kind, &mut g, &uses, summaries);
    }
    // rule esc-merge: a merge holds what each of its incoming values holds. (After the
    // instructions, whose definitions feed the merges: a solver that applies constraints in
    // order, like the reference one, then needs fewer passes.)
    let merges: Vec<(u32, Vec<Value>)> =
        g.reaching.merges.iter().enumerate().map(|(m, merge)| (m as u32, merge.incoming.clone())).collect();
    for (m, incoming) in merges {
        let to = g.node(Node::Merge(m));
        for v in incoming {
            let from = value_node(&mut g, v);
            g.add(Constraint::Copy { from, to }, Rule::Merge, None);
        }
    }
    g
}

/// The node of a definition or a merge.
fn value_node(g: &mut FunctionGraph, value: Value) -> u32 {
    match value {
        Value::Def(d) => g.node(Node::Def(d)),
        Value::Merge(m) => g.node(Node::Merge(m)),
    }
}

/// Adds the constraints of one instruction.
fn translate(
    program: &ir::Program,
    f: &ir::Function,
    at: InstAddr,
    kind: &InstKind,
    g: &mut FunctionGraph,
    uses: &dyn Fn(&mut FunctionGraph, LocalId) -> Vec<u32>,
    summaries: &dyn Summaries,
) {
    let is_tracked = |l: LocalId| f.get_local(l).is_some_and(|d| tracked(program, &d.ty));
    let def = |g: &mut FunctionGraph| g.def_at.get(&at).copied().map(|d| g.node(Node::Def(d)));
    let some_at = Some(at);
    // `pts(to) ⊇ pts(uses of local)`.
    let copy_into = |g: &mut FunctionGraph, local: LocalId, to: u32, rule: Rule| {
        if is_tracked(local) {
            for from in uses(g, local) {
                g.add(Constraint::Copy { from, to }, rule, some_at);
            }
        }
    };
    match kind {
        // rule esc-copy (a struct is copied by value: esc-struct-copy)
        InstKind::Copy { src, .. } => {
            if let Some(d) = def(g) {
                match f.get_local(*src).map(|l| l.ty.non_null().clone()) {
                    Some(ir::Type::Struct(s)) => {
                        let copy = g.obj(Obj::Copy(at));
                        g.add(Constraint::AddrOf { node: d, obj: copy }, Rule::StructCopy, some_at);
                        let sources = uses(g, *src);
                        for &from in &sources {
                            copy_struct_fields(program, s, g, from, copy, some_at);
                        }
                        g.struct_copies.insert(at, sources);
                    }
                    _ => copy_into(g, *src, d, Rule::Copy),
                }
            }
        }
        // rules esc-alloc, esc-alloc-field
        InstKind::NewObject { fields: values, .. } | InstKind::NewStruct { fields: values, .. } => {
            if let Some(d) = def(g) {
                let obj = g.obj(Obj::Alloc(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::Alloc, some_at);
                for (n, v) in values.iter().enumerate() {
                    let (field, _) = g.field(obj, Sel::Field(n as u32));
                    copy_into(g, *v, field, Rule::AllocField);
                }
            }
        }
        InstKind::NewArray { elems, .. } => {
            if let Some(d) = def(g) {
                let obj = g.obj(Obj::Alloc(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::Alloc, some_at);
                let (field, _) = g.field(obj, Sel::Elem);
                for v in elems {
                    copy_into(g, *v, field, Rule::AllocField);
                }
            }
        }
        InstKind::NewArrayRepeat { value, .. } => {
            if let Some(d) = def(g) {
                let obj = g.obj(Obj::Alloc(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::Alloc, some_at);
                let (field, _) = g.field(obj, Sel::Elem);
                copy_into(g, *value, field, Rule::AllocField);
            }
        }
        InstKind::NewClosure { function, captures, .. } => {
            if let Some(d) = def(g) {
                let obj = g.obj(Obj::Alloc(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::Alloc, some_at);
                let mut env = Vec::with_capacity(captures.len());
                for (n, v) in captures.iter().enumerate() {
                    let (field, _) = g.field(obj, Sel::Env(n as u32));
                    copy_into(g, *v, field, Rule::AllocField);
                    env.push(field);
                }
                closure_capture(program, g, *function, &env, at, summaries);
            }
        }
        InstKind::Concat { .. } | InstKind::ToString { .. } => {
            if let Some(d) = def(g) {
                let obj = g.obj(Obj::Alloc(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::Alloc, some_at);
            }
        }
        // rule esc-field-load
        InstKind::LoadField { object, field, .. } => {
            if let Some(d) = def(g) {
                for base in uses(g, *object) {
                    g.add(
                        Constraint::Load { base, sel: Sel::Field(*field), to: d },
                        Rule::FieldLoad,
                        some_at,
                    );
                }
            }
        }
        // rule esc-field-store
        InstKind::StoreField { object, field, value } if is_tracked(*value) => {
            for base in uses(g, *object) {
                for from in uses(g, *value) {
                    g.add(
                        Constraint::Store { base, sel: Sel::Field(*field), from },
                        Rule::FieldStore,
                        some_at,
                    );
                }
            }
        }
        // rule esc-elem-load
        InstKind::LoadElem { array, .. } | InstKind::Pop { array, .. } => {
            if let Some(d) = def(g) {
                for base in uses(g, *array) {
                    g.add(Constraint::Load { base, sel: Sel::Elem, to: d }, Rule::ElemLoad, some_at);
                }
            }
            if matches!(kind, InstKind::Pop { .. }) {
                cow(g, at, *array, uses);
            }
        }
        // rule esc-elem-store, on the buffer copy-on-write leaves in the local (esc-cow)
        InstKind::StoreElem { array, value, .. } | InstKind::Push { array, value } => {
            let elems = cow(g, at, *array, uses);
            if is_tracked(*value) {
                for from in uses(g, *value) {
                    g.add(Constraint::Copy { from, to: elems }, Rule::ElemStore, some_at);
                }
            }
        }
        // rule esc-global-load
        InstKind::LoadGlobal { global, .. } => {
            if let Some(d) = def(g) {
                let node = global_node(g, *global);
                g.add(Constraint::Copy { from: node, to: d }, Rule::GlobalLoad, some_at);
            }
        }
        // rule esc-global-store
        InstKind::StoreGlobal { global, value } => {
            let node = global_node(g, *global);
            copy_into(g, *value, node, Rule::GlobalStore);
        }
        // rule esc-return
        InstKind::Return { value: Some(v) } => {
            let ret = g.node(Node::Ret);
            copy_into(g, *v, ret, Rule::Return);
        }
        InstKind::Call { callee, args, .. } => {
            call(program, at, kind, callee, args, false, g, uses, summaries, &is_tracked);
        }
        InstKind::Spawn { callee, args } => {
            call(program, at, kind, callee, args, true, g, uses, summaries, &is_tracked);
        }
        _ => {}
    }
}

/// rule esc-cow: an array write through `array` leaves in that local a buffer of its
/// own: a copy when the old one was shared, the old one when nobody else could see it.
/// Abstractly the local then holds the old buffer and a new object holding the old
/// elements; the written value joins only the new object's elements. Other holders of the
/// old buffer never see the write, which is why a push onto an array parameter does not
/// reach the caller, while the array itself (written in place) can still be returned.
/// Returns the new object's elements node.
fn cow(
    g: &mut FunctionGraph,
    at: InstAddr,
    array: LocalId,
    uses: &dyn Fn(&mut FunctionGraph, LocalId) -> Vec<u32>,
) -> u32 {
    let copy = g.obj(Obj::Copy(at));
    let (elems, _) = g.field(copy, Sel::Elem);
    for base in uses(g, array) {
        g.add(Constraint::Load { base, sel: Sel::Elem, to: elems }, Rule::Cow, Some(at));
    }
    if let Some(&def) = g.array_def_at.get(&at) {
        let node = g.node(Node::Def(def));
        g.add(Constraint::AddrOf { node, obj: copy }, Rule::Cow, Some(at));
        // Written in place when nobody else held it: the local may still hold the
        // original buffer (whose other holders, if any, made the write copy instead).
        for from in uses(g, array) {
            g.add(Constraint::Copy { from, to: node }, Rule::Cow, Some(at));
        }
    }
    elems
}

/// rule esc-struct-copy: the copy's fields hold what the original's fields hold.
fn copy_struct_fields(
    program: &ir::Program,
    s: ir::StructId,
    g: &mut FunctionGraph,
    from: u32,
    copy: u32,
    at: Option<InstAddr>,
) {
    let n = program.structs.get(s.index()).map_or(0, |d| d.fields.len());
    for k in 0..n {
        let (field, _) = g.field(copy, Sel::Field(k as u32));
        g.add(Constraint::Load { base: from, sel: Sel::Field(k as u32), to: field }, Rule::StructCopy, at);
    }
}

/// rule esc-closure-capture: what a closure's body does with its captures can happen at
/// any call of it, wherever the closure goes, so the flows of the captured values to
/// globals, threads and unknown code are applied where the closure is made; a flow into
/// the contents of one of the closure's parameters reaches whatever its callers pass,
/// which is unknown here. (Flows to the closure's result need nothing: the environment
/// already holds the values, so they escape with the closure.)
fn closure_capture(
    program: &ir::Program,
    g: &mut FunctionGraph,
    function: FunctionId,
    env: &[u32],
    at: InstAddr,
    summaries: &dyn Summaries,
) {
    let Some(summary) = summaries.summary(function) else { return };
    let n_params = program.functions.get(function.index()).map_or(0, |f| f.params.len());
    let mut filtered = Summary { params: vec![Default::default(); n_params], ..Summary::default() };
    for k in 0..env.len() {
        let mut kept = super::summary::ParamSummary::default();
        for flow in summary.params.get(n_params + k).map(|p| p.flows.iter()).into_iter().flatten() {
            let dst = match &flow.dst {
                FlowDst::Return(_) => continue,
                FlowDst::Param(..) => FlowDst::Unknown,
                other => other.clone(),
            };
            kept.flows.insert(super::summary::Flow { src: flow.src.clone(), dst });
        }
        filtered.params.push(kept);
    }
    let mut args: Vec<u32> = (0..n_params).map(|_| g.temp()).collect();
    args.extend_from_slice(env);
    apply_summary(g, &filtered, &args, None, at, Rule::ClosureCapture);
}

/// The node of a global's value; it holds the global's previous contents, and everything
/// in it escapes (`esc-global-root`).
fn global_node(g: &mut FunctionGraph, global: GlobalId) -> u32 {
    let (node, new) = g.nodes.intern(Node::Global(global));
    if new {
        let obj = g.obj(Obj::Global(global));
        g.add(Constraint::AddrOf { node, obj }, Rule::GlobalLoad, None);
        g.add(Constraint::Escape { node, sink: Sink::Global(global) }, Rule::GlobalStore, None);
    }
    node
}

#[allow(clippy::too_many_arguments)]
fn call(
    program: &ir::Program,
    at: InstAddr,
    kind: &InstKind,
    callee: &ir::Callee,
    args: &[LocalId],
    spawn: bool,
    g: &mut FunctionGraph,
    uses: &dyn Fn(&mut FunctionGraph, LocalId) -> Vec<u32>,
    summaries: &dyn Summaries,
    is_tracked: &dyn Fn(LocalId) -> bool,
) {
    let some_at = Some(at);
    let dest = match kind {
        InstKind::Call { .. } => g.def_at.get(&at).copied().map(|d| g.node(Node::Def(d))),
        _ => None,
    };
    // Each argument as one node (the union of its reaching definitions), moved there by
    // the call's own rule, which is what explanations show for this step.
    let rule = match (spawn, callee) {
        (true, _) => Rule::Spawn,
        (false, ir::Callee::Function(_)) => Rule::CallSummary,
        (false, ir::Callee::Extern(_)) => Rule::Extern,
        (false, ir::Callee::Closure(_)) => Rule::ClosureCall,
    };
    let mut arg_nodes = Vec::with_capacity(args.len());
    for a in args {
        let node = g.temp();
        if is_tracked(*a) {
            for from in uses(g, *a) {
                g.add(Constraint::Copy { from, to: node }, rule, some_at);
            }
        }
        arg_nodes.push(node);
    }
    // rule esc-spawn
    if spawn {
        // Everything reachable from the arguments is shared with the new thread.
        for &node in &arg_nodes {
            g.add(Constraint::Escape { node, sink: Sink::Thread }, Rule::Spawn, some_at);
        }
        if let ir::Callee::Closure(local) = callee {
            for node in uses(g, *local) {
                g.add(Constraint::Escape { node, sink: Sink::Thread }, Rule::Spawn, some_at);
            }
        }
        return;
    }
    match callee {
        // rules esc-call-summary, esc-call-fresh
        ir::Callee::Function(fid) => {
            let empty = Summary::default();
            let summary = summaries.summary(*fid).unwrap_or(&empty);
            apply_summary(g, summary, &arg_nodes, dest, at, Rule::CallSummary);
        }
        // rule esc-extern
        ir::Callee::Extern(x) => {
            let params = program.externs.get(x.index()).map(|e| e.params.clone()).unwrap_or_default();
            for (i, &node) in arg_nodes.iter().enumerate() {
                let borrowed = params.get(i).is_some_and(|p| p.mode == Some(ir::Mode::Borrow));
                if !borrowed {
                    g.add(Constraint::Escape { node, sink: Sink::Unknown }, Rule::Extern, some_at);
                }
            }
            if let Some(d) = dest {
                let obj = g.obj(Obj::CallResult(at));
                g.add(Constraint::AddrOf { node: d, obj }, Rule::CallFresh, some_at);
            }
        }
        // rule esc-closure-call (instantiated by the solver)
        ir::Callee::Closure(local) => {
            for callee in uses(g, *local) {
                g.add(
                    Constraint::CallClosure { callee, args: arg_nodes.clone(), dest, at, spawn: false },
                    Rule::ClosureCall,
                    some_at,
                );
            }
        }
    }
}

/// Adds the constraints of a summary applied at a call: `args` are the argument nodes (a
/// closure's captured values after its declared parameters), `dest` the result's node.
pub fn apply_summary(
    g: &mut FunctionGraph,
    summary: &Summary,
    args: &[u32],
    dest: Option<u32>,
    at: InstAddr,
    rule: Rule,
) {
    let some_at = Some(at);
    for (i, param) in summary.params.iter().enumerate() {
        let Some(&arg) = args.get(i) else { continue };
        // rule sum-param-fresh: the callee may leave an object the caller has not seen at
        // these paths; the call's result object stands for it (the shortest paths first,
        // so that deeper ones find it).
        for path in &param.holds_fresh {
            let obj = g.obj(Obj::CallResult(at));
            let t = g.temp();
            g.add(Constraint::AddrOf { node: t, obj }, rule, some_at);
            store_path(g, arg, path, t, at, rule);
        }
        for flow in &param.flows {
            // The source: the argument, followed along the flow's path inside it.
            // The source: the argument followed along the flow's path; a path cut off at the
            // depth limit stands for everything below its last step.
            let base = load_path(g, arg, &flow.src.steps, at, rule);
            let source = if flow.src.deep {
                let t = g.temp();
                g.add(Constraint::CopyReach { from: base, to: t }, rule, some_at);
                t
            } else {
                base
            };
            match &flow.dst {
                FlowDst::Return(path) => {
                    let Some(d) = dest else { continue };
                    store_path(g, d, path, source, at, rule);
                }
                FlowDst::Param(j, path) => {
                    let Some(&target) = args.get(*j as usize) else { continue };
                    store_path(g, target, path, source, at, rule);
                }
                FlowDst::Global(global) => {
                    let node = global_node(g, *global);
                    g.add(Constraint::Copy { from: source, to: node }, rule, some_at);
                }
                FlowDst::Thread => {
                    g.add(Constraint::Escape { node: source, sink: Sink::Thread }, rule, some_at)
                }
                FlowDst::Unknown => {
                    g.add(Constraint::Escape { node: source, sink: Sink::Unknown }, rule, some_at)
                }
            }
        }
    }
    if let Some(d) = dest {
        if summary.returns_fresh {
            let obj = g.obj(Obj::CallResult(at));
            g.add(Constraint::AddrOf { node: d, obj }, Rule::CallFresh, some_at);
        }
        if summary.returns_outside {
            let obj = g.obj(Obj::Unknown);
            g.add(Constraint::AddrOf { node: d, obj }, rule, some_at);
        }
    }
}

/// Everything strictly inside the object `obj` (its fields, elements or captured values,
/// and what those hold) escapes to `sink` at `at`. Inside a parameter that is the object
/// `param(k, p…)`, which stands for everything below `p` whether or not this function
/// reads it (so the summary carries the flow `(k, p…) → sink` to the callers, who know
/// what is there); inside any other object it is what the object is found to hold.
pub fn contents_escape(g: &mut FunctionGraph, obj: u32, sink: Sink, at: InstAddr, rule: Rule) {
    let inside = g.temp();
    match g.objs.item(obj).clone() {
        Obj::Param(k, path) => {
            let below = g.obj(Obj::Param(k, Path { steps: path.steps, deep: true }));
            g.add(Constraint::AddrOf { node: inside, obj: below }, rule, Some(at));
        }
        _ => {
            let node = g.temp();
            g.add(Constraint::AddrOf { node, obj }, rule, Some(at));
            g.add(Constraint::CopyReach { from: node, to: inside }, rule, Some(at));
        }
    }
    g.add(Constraint::Escape { node: inside, sink }, rule, Some(at));
}

fn load_path(g: &mut FunctionGraph, from: u32, steps: &[Sel], at: InstAddr, rule: Rule) -> u32 {
    let mut node = from;
    for &sel in steps {
        let t = g.temp();
        g.add(Constraint::Load { base: node, sel, to: t }, rule, Some(at));
        node = t;
    }
    node
}

fn store_path(
    g: &mut FunctionGraph,
    base: u32,
    path: &super::graph::Path,
    value: u32,
    at: InstAddr,
    rule: Rule,
) {
    match path.steps.split_last() {
        None => g.add(Constraint::Copy { from: value, to: base }, rule, Some(at)),
        Some((&last, init)) => {
            let container = load_path(g, base, init, at, rule);
            g.add(Constraint::Store { base: container, sel: last, from: value }, rule, Some(at));
        }
    }
}

/// Numbers the definitions of the reference-holding locals: parameters' and captures' on
/// entry, then one per writing instruction, and one per array write (the buffer it
/// leaves).
fn number_defs(program: &ir::Program, f: &ir::Function, g: &mut FunctionGraph) {
    let is_tracked = |l: LocalId| f.get_local(l).is_some_and(|d| tracked(program, &d.ty));
    // Entry definitions of parameters and captures, then one per writing instruction.
    for &local in f.params.iter().chain(&f.captures) {
        if is_tracked(local) {
            g.defs.push(DefInfo { local, at: None });
        }
    }
    for (at, inst) in f.insts() {
        if let Some(dest) = inst.kind.dest()
            && is_tracked(dest)
        {
            g.def_at.insert(at, g.defs.len() as u32);
            g.defs.push(DefInfo { local: dest, at: Some(at) });
        }
        // An array write leaves a (possibly new) buffer in the array's local.
        if let InstKind::StoreElem { array, .. }
        | InstKind::Push { array, .. }
        | InstKind::Pop { array, .. } = &inst.kind
        {
            g.array_def_at.insert(at, g.defs.len() as u32);
            g.defs.push(DefInfo { local: *array, at: Some(at) });
        }
    }
}
