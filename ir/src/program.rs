//! The program as custody analyses it: definitions, and functions as control-flow graphs.
//!
//! A [`Function`] is a list of basic blocks over typed locals. Every block is a list of
//! instructions whose last one, and only that one, is a terminator (`jump`, `branch`,
//! `return`, `unreachable`). Operands are always locals: constants are loaded into
//! temporaries with `const`, so every value an analysis tracks has a name. An instruction
//! is addressed by its block and its index in the block ([`InstAddr`], printed `b3.2`), and
//! carries the [`Span`] of the source it came from.
//!
//! What allocates is explicit: `new_object`, `new_array`, `new_array_repeat`, `concat`,
//! `to_string` and `new_closure` create memory; `const` of a string is constant data;
//! `new_struct` builds an inline value. Scopes are explicit too: `scope_enter` lists the
//! locals a scope declares and `scope_exit` ends them (every path out of a scope, early
//! `return`, `break` and `continue` included, passes a `scope_exit`), which is where
//! memory plans put their drops.

use crate::span::Span;
use crate::types::*;
use serde::{Deserialize, Serialize};

/// A whole program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Program {
    /// Classes: reference types with fields, an optional destructor and methods.
    pub classes: Vec<ClassDef>,
    /// Structs: value types with fields.
    pub structs: Vec<StructDef>,
    /// Globals, in declaration order (the order their initialisers run).
    pub globals: Vec<GlobalDef>,
    /// External functions (bodies unknown).
    pub externs: Vec<ExternDef>,
    /// Every function: plain functions, methods, `drop` blocks, closure bodies, and the
    /// global initialiser.
    pub functions: Vec<Function>,
    /// The function that initialises the globals in order, run before `main`.
    pub global_init: Option<FunctionId>,
    /// The entry point, `main`, if the program has one.
    pub main: Option<FunctionId>,
}

impl Program {
    /// Field `n` of the class or struct a value of type `ty` is (`T?` as `T`), if it has one.
    pub fn field(&self, ty: &Type, n: u32) -> Option<&FieldDef> {
        let fields = match ty.non_null() {
            Type::Class(c) => &self.classes.get(c.index())?.fields,
            Type::Struct(s) => &self.structs.get(s.index())?.fields,
            _ => return None,
        };
        fields.get(n as usize)
    }
}

/// A class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassDef {
    /// Its name.
    pub name: String,
    /// Fields in declaration order (the order they are released in).
    pub fields: Vec<FieldDef>,
    /// The `drop` block, compiled as a function taking `self`.
    pub drop: Option<FunctionId>,
    /// The methods, each taking `self` as parameter 0.
    pub methods: Vec<FunctionId>,
    /// The whole class item.
    #[serde(default)]
    pub span: Span,
}

/// A struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructDef {
    /// Its name.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldDef>,
    /// The whole struct item.
    #[serde(default)]
    pub span: Span,
}

/// A field of a class or struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Where it is declared.
    #[serde(default)]
    pub span: Span,
}

/// A global variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalDef {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// The whole `global` item.
    #[serde(default)]
    pub span: Span,
}

/// A declared parameter mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The callee takes control of the argument.
    Own,
    /// The callee only looks at the argument; it does not keep it.
    Borrow,
}

/// An external function: its body is unknown, its parameter modes say what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternDef {
    /// Its name.
    pub name: String,
    /// Its parameters.
    pub params: Vec<ExternParam>,
    /// Its result type; `None` when it returns no value.
    pub ret: Option<Type>,
    /// The whole `extern fn` item.
    #[serde(default)]
    pub span: Span,
}

/// A parameter of an external function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternParam {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// `borrow`: contained; anything else: escapes everywhere.
    pub mode: Option<Mode>,
}

/// What a function is, in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionKind {
    /// `fn name(...)`.
    Plain,
    /// A method of a class; parameter 0 is `self`.
    Method {
        /// The class.
        class: ClassId,
    },
    /// A class's `drop` block; parameter 0 is `self`.
    Drop {
        /// The class.
        class: ClassId,
    },
    /// The body of a closure literal; its captured values arrive in `captures`.
    Closure {
        /// The function whose body contains the literal.
        parent: FunctionId,
    },
    /// Global initialisation. The program's `global_init` (`#globals`) runs before `main`
    /// and calls, in declaration order, one initialiser per global (`cache#init`), which
    /// computes the value and stores the global. Only `global_init` may call them.
    GlobalInit,
}

/// A function as a control-flow graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// Its name as plans show it: `make`, `Node.get`, `Node.drop`, `main#closure0`.
    pub name: String,
    /// What kind of function it is.
    #[serde(flatten)]
    pub kind: FunctionKind,
    /// `@arena`: the whole body is one arena scope.
    #[serde(default)]
    pub arena: bool,
    /// `@manual`: its allocations are freed by hand.
    #[serde(default)]
    pub manual: bool,
    /// Parameters, in order (`self` first for methods and drop blocks).
    pub params: Vec<LocalId>,
    /// For a closure body: the locals that receive the captured values, in the order of
    /// the `new_closure` instruction's `captures`.
    #[serde(default)]
    pub captures: Vec<LocalId>,
    /// Result type; `None` when the function returns no value.
    pub ret: Option<Type>,
    /// Every local and temporary.
    pub locals: Vec<LocalDecl>,
    /// The blocks; execution starts at block 0.
    pub blocks: Vec<Block>,
    /// The whole item (from its first attribute or `fn`), or the closure literal.
    #[serde(default)]
    pub span: Span,
}

/// A local variable or temporary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalDecl {
    /// The source name; `None` for temporaries.
    pub name: Option<String>,
    /// Its type.
    pub ty: Type,
    /// What it is.
    pub kind: LocalKind,
    /// For parameters: the declared mode, if written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Where it is declared (for temporaries: the expression it holds).
    #[serde(default)]
    pub span: Span,
}

/// What a local is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalKind {
    /// A parameter (including `self`).
    Param,
    /// A `let` variable.
    Let,
    /// The variable of a `for` loop.
    LoopVar,
    /// A closure body's copy of a captured value.
    Capture,
    /// An intermediate value the lowering introduced.
    Temp,
}

/// A basic block: instructions, the last of which is a terminator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// The instructions.
    pub insts: Vec<Inst>,
}

/// Where an instruction is: block and index within the block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct InstAddr {
    /// The block.
    pub block: BlockId,
    /// The index in the block's instruction list.
    pub index: u32,
}

impl std::fmt::Display for InstAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b{}.{}", self.block.0, self.index)
    }
}

/// One instruction and the source it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inst {
    /// What it does.
    #[serde(flatten)]
    pub kind: InstKind,
    /// The source expression or statement (empty for IR without source).
    #[serde(default)]
    pub span: Span,
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constant {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string literal: constant data, never allocated or freed.
    Str(String),
    /// `null` (of the destination's nullable type).
    Null,
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    /// Arithmetic negation (`int` wraps).
    Neg,
    /// Boolean not.
    Not,
}

/// A binary operator. `&&` and `||` do not appear: they are lowered to branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// `+` on numbers (strings use `concat`).
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (an `int` division by zero is a run-time error)
    Div,
    /// `%` (ints only)
    Rem,
    /// `==`: immediates and strings by value, references by identity.
    Eq,
    /// `!=`
    Ne,
    /// `<` on numbers and strings.
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// What a call calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Callee {
    /// A function or method of the program (a method gets its receiver as argument 0).
    Function(FunctionId),
    /// An external function.
    Extern(ExternId),
    /// The closure held by a local.
    Closure(LocalId),
}

/// What an instruction does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "inst", rename_all = "snake_case")]
pub enum InstKind {
    // ---- values -------------------------------------------------------------------------
    /// `dest = value`
    Const {
        /// Destination.
        dest: LocalId,
        /// The constant.
        value: Constant,
    },
    /// `dest = src`: a copy of the value (for a reference, a second reference).
    Copy {
        /// Destination.
        dest: LocalId,
        /// Source.
        src: LocalId,
    },
    /// `dest = op operand`
    Unary {
        /// Destination.
        dest: LocalId,
        /// Operator.
        op: UnaryOp,
        /// Operand.
        operand: LocalId,
    },
    /// `dest = lhs op rhs`
    Binary {
        /// Destination.
        dest: LocalId,
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        lhs: LocalId,
        /// Right operand.
        rhs: LocalId,
    },
    /// `dest = value == null`
    IsNull {
        /// Destination (a `bool`).
        dest: LocalId,
        /// The nullable value tested.
        value: LocalId,
    },
    /// Stops the program with a run-time error if `value` is `null`; afterwards `value`
    /// may be used as its non-nullable type.
    NullCheck {
        /// The value checked.
        value: LocalId,
    },

    // ---- allocations ----------------------------------------------------------------------
    /// `dest = Class { fields... }`: allocates an object. `fields` are in declaration order.
    NewObject {
        /// Destination.
        dest: LocalId,
        /// The class.
        class: ClassId,
        /// One value per field, in declaration order.
        fields: Vec<LocalId>,
    },
    /// `dest = [elems...]`: allocates an array.
    NewArray {
        /// Destination.
        dest: LocalId,
        /// The element type (needed for `[]`).
        elem: Type,
        /// The elements.
        elems: Vec<LocalId>,
    },
    /// `dest = [value; count]`: allocates an array of `count` copies of `value`.
    NewArrayRepeat {
        /// Destination.
        dest: LocalId,
        /// The element type.
        elem: Type,
        /// The value every element starts as.
        value: LocalId,
        /// How many (an `int`; negative is a run-time error).
        count: LocalId,
    },
    /// `dest = lhs + rhs` on strings: allocates a new string.
    Concat {
        /// Destination.
        dest: LocalId,
        /// Left string.
        lhs: LocalId,
        /// Right string.
        rhs: LocalId,
    },
    /// `dest = str(value)`: allocates the text of an `int`, `float` or `bool`.
    ToString {
        /// Destination.
        dest: LocalId,
        /// The value.
        value: LocalId,
    },
    /// `dest = fn(...) { ... }`: allocates a closure whose environment holds copies of
    /// `captures` (bound to the body's `captures` locals, in order).
    NewClosure {
        /// Destination.
        dest: LocalId,
        /// The closure body.
        function: FunctionId,
        /// The captured values, at the moment of creation.
        captures: Vec<LocalId>,
    },
    /// `dest = Struct { fields... }`: an inline value; allocates nothing.
    NewStruct {
        /// Destination.
        dest: LocalId,
        /// The struct.
        strukt: StructId,
        /// One value per field, in declaration order.
        fields: Vec<LocalId>,
    },

    // ---- memory access --------------------------------------------------------------------
    /// `dest = object.field` (an object, or a struct value held by a local).
    LoadField {
        /// Destination.
        dest: LocalId,
        /// The object or struct.
        object: LocalId,
        /// The field's index in declaration order.
        field: u32,
    },
    /// `object.field = value`. For a struct-typed local, writes into that local.
    StoreField {
        /// The object or struct local.
        object: LocalId,
        /// The field's index.
        field: u32,
        /// The value stored.
        value: LocalId,
    },
    /// `dest = array[index]`
    LoadElem {
        /// Destination.
        dest: LocalId,
        /// The array.
        array: LocalId,
        /// The index (an `int`; out of range is a run-time error).
        index: LocalId,
    },
    /// `array[index] = value`: a write to the array (copy-on-write applies).
    StoreElem {
        /// The array local written through.
        array: LocalId,
        /// The index.
        index: LocalId,
        /// The value stored.
        value: LocalId,
    },
    /// `push(array, value)`: a write to the array (copy-on-write applies).
    Push {
        /// The array local written through.
        array: LocalId,
        /// The value appended.
        value: LocalId,
    },
    /// `dest = pop(array)`: a write to the array (copy-on-write applies).
    Pop {
        /// Destination (the removed element).
        dest: LocalId,
        /// The array local written through.
        array: LocalId,
    },
    /// `dest = len(value)` of an array or string.
    Len {
        /// Destination (an `int`).
        dest: LocalId,
        /// The array or string.
        value: LocalId,
    },
    /// `dest = global`
    LoadGlobal {
        /// Destination.
        dest: LocalId,
        /// The global.
        global: GlobalId,
    },
    /// `global = value`
    StoreGlobal {
        /// The global.
        global: GlobalId,
        /// The value stored.
        value: LocalId,
    },

    // ---- calls and effects ----------------------------------------------------------------
    /// `dest = callee(args...)`
    Call {
        /// Destination, when the callee returns a value that is used.
        dest: Option<LocalId>,
        /// What is called.
        callee: Callee,
        /// The arguments (a method's receiver first).
        args: Vec<LocalId>,
    },
    /// `spawn callee(args...)`: runs the call on a new thread; its result is discarded.
    Spawn {
        /// What is called.
        callee: Callee,
        /// The arguments, shared with (or moved to) the new thread.
        args: Vec<LocalId>,
    },
    /// `print(value)`
    Print {
        /// An `int`, `float`, `bool` or `string`.
        value: LocalId,
    },
    /// `free(value)`: in automatic code ends the variable here; in `@manual` code destroys
    /// the object.
    Free {
        /// The local freed.
        value: LocalId,
    },

    // ---- scopes ---------------------------------------------------------------------------
    /// A lexical scope opens, declaring `locals` (released at its exit in reverse order).
    ScopeEnter {
        /// The scope.
        scope: ScopeId,
        /// Whether the scope is an arena (`arena { }` or the body of an `@arena fn`).
        #[serde(default)]
        arena: bool,
        /// The locals declared directly in the scope, in declaration order.
        locals: Vec<LocalId>,
    },
    /// A lexical scope closes (on every path that leaves it).
    ScopeExit {
        /// The scope.
        scope: ScopeId,
    },

    // ---- terminators ----------------------------------------------------------------------
    /// Continue at `target`.
    Jump {
        /// The next block.
        target: BlockId,
    },
    /// Continue at `then_block` if `cond` is true, else at `else_block`.
    Branch {
        /// A `bool`.
        cond: LocalId,
        /// Taken when true.
        then_block: BlockId,
        /// Taken when false.
        else_block: BlockId,
    },
    /// Return from the function.
    Return {
        /// The result, for functions that have one.
        value: Option<LocalId>,
    },
    /// Control never reaches here (the end of a block after an endless loop).
    Unreachable,
}

impl InstKind {
    /// Whether this instruction ends a block.
    pub fn is_terminator(&self) -> bool {
        matches!(
            self,
            InstKind::Jump { .. } | InstKind::Branch { .. } | InstKind::Return { .. } | InstKind::Unreachable
        )
    }

    /// Whether this instruction allocates memory (an allocation site).
    pub fn is_allocation(&self) -> bool {
        matches!(
            self,
            InstKind::NewObject { .. }
                | InstKind::NewArray { .. }
                | InstKind::NewArrayRepeat { .. }
                | InstKind::Concat { .. }
                | InstKind::ToString { .. }
                | InstKind::NewClosure { .. }
        )
    }

    /// The local this instruction writes, if any.
    pub fn dest(&self) -> Option<LocalId> {
        use InstKind::*;
        match self {
            Const { dest, .. }
            | Copy { dest, .. }
            | Unary { dest, .. }
            | Binary { dest, .. }
            | IsNull { dest, .. }
            | NewObject { dest, .. }
            | NewArray { dest, .. }
            | NewArrayRepeat { dest, .. }
            | Concat { dest, .. }
            | ToString { dest, .. }
            | NewClosure { dest, .. }
            | NewStruct { dest, .. }
            | LoadField { dest, .. }
            | LoadElem { dest, .. }
            | Pop { dest, .. }
            | Len { dest, .. }
            | LoadGlobal { dest, .. } => Some(*dest),
            Call { dest, .. } => *dest,
            _ => None,
        }
    }

    /// The local this instruction writes, mutably (to redirect it).
    pub fn dest_mut(&mut self) -> Option<&mut LocalId> {
        use InstKind::*;
        match self {
            Const { dest, .. }
            | Copy { dest, .. }
            | Unary { dest, .. }
            | Binary { dest, .. }
            | IsNull { dest, .. }
            | NewObject { dest, .. }
            | NewArray { dest, .. }
            | NewArrayRepeat { dest, .. }
            | Concat { dest, .. }
            | ToString { dest, .. }
            | NewClosure { dest, .. }
            | NewStruct { dest, .. }
            | LoadField { dest, .. }
            | LoadElem { dest, .. }
            | Pop { dest, .. }
            | Len { dest, .. }
            | LoadGlobal { dest, .. } => Some(dest),
            Call { dest, .. } => dest.as_mut(),
            _ => None,
        }
    }

    /// The locals this instruction reads, in operand order. A local written in place
    /// (the object of `store_field`, the array of `store_elem`, `push`, `pop`) is listed too.
    pub fn uses(&self) -> Vec<LocalId> {
        use InstKind::*;
        match self {
            Const { .. }
            | LoadGlobal { .. }
            | ScopeEnter { .. }
            | ScopeExit { .. }
            | Jump { .. }
            | Unreachable => {
                vec![]
            }
            Copy { src, .. } => vec![*src],
            Unary { operand, .. } => vec![*operand],
            Binary { lhs, rhs, .. } | Concat { lhs, rhs, .. } => vec![*lhs, *rhs],
            IsNull { value, .. } | NullCheck { value } | ToString { value, .. } | Len { value, .. } => {
                vec![*value]
            }
            Print { value } | Free { value } | StoreGlobal { value, .. } => vec![*value],
            NewObject { fields, .. } | NewStruct { fields, .. } => fields.clone(),
            NewArray { elems, .. } => elems.clone(),
            NewArrayRepeat { value, count, .. } => vec![*value, *count],
            NewClosure { captures, .. } => captures.clone(),
            LoadField { object, .. } => vec![*object],
            StoreField { object, value, .. } => vec![*object, *value],
            LoadElem { array, index, .. } => vec![*array, *index],
            StoreElem { array, index, value } => vec![*array, *index, *value],
            Push { array, value } => vec![*array, *value],
            Pop { array, .. } => vec![*array],
            Call { callee, args, .. } | Spawn { callee, args } => {
                let mut uses = Vec::with_capacity(args.len() + 1);
                if let Callee::Closure(local) = callee {
                    uses.push(*local);
                }
                uses.extend(args);
                uses
            }
            Branch { cond, .. } => vec![*cond],
            Return { value } => value.iter().copied().collect(),
        }
    }

    /// The blocks control may continue at after this instruction (terminators only).
    pub fn successors(&self) -> Vec<BlockId> {
        match self {
            InstKind::Jump { target } => vec![*target],
            InstKind::Branch { then_block, else_block, .. } => vec![*then_block, *else_block],
            _ => vec![],
        }
    }
}

impl Function {
    /// The locals each scope declares, from the scope's first `scope_enter`.
    pub fn scope_locals(&self) -> std::collections::HashMap<ScopeId, Vec<LocalId>> {
        let mut out = std::collections::HashMap::new();
        for (_, inst) in self.insts() {
            if let InstKind::ScopeEnter { scope, locals, .. } = &inst.kind {
                out.entry(*scope).or_insert_with(|| locals.clone());
            }
        }
        out
    }

    /// The locals an instruction ends (without counting): a `scope_exit` its scope's locals
    /// (`scope_locals` is [`Function::scope_locals`]), a `scope_enter` the ones it starts
    /// empty (parameters and captures keep the values the call gave them), `free` its local.
    pub fn ended_by(
        &self,
        kind: &InstKind,
        scope_locals: &std::collections::HashMap<ScopeId, Vec<LocalId>>,
    ) -> Vec<LocalId> {
        match kind {
            InstKind::ScopeExit { scope } => scope_locals.get(scope).cloned().unwrap_or_default(),
            InstKind::ScopeEnter { locals, .. } => locals
                .iter()
                .copied()
                .filter(|&l| {
                    self.get_local(l)
                        .is_some_and(|d| !matches!(d.kind, LocalKind::Param | LocalKind::Capture))
                })
                .collect(),
            InstKind::Free { value } => vec![*value],
            _ => Vec::new(),
        }
    }

    /// The instruction at `addr`, if it exists.
    pub fn inst(&self, addr: InstAddr) -> Option<&Inst> {
        self.blocks.get(addr.block.index())?.insts.get(addr.index as usize)
    }

    /// Every instruction with its address, block by block.
    pub fn insts(&self) -> impl Iterator<Item = (InstAddr, &Inst)> {
        self.blocks.iter().enumerate().flat_map(|(b, block)| {
            block
                .insts
                .iter()
                .enumerate()
                .map(move |(i, inst)| (InstAddr { block: BlockId(b as u32), index: i as u32 }, inst))
        })
    }

    /// The declaration of a local. Panics on an id out of range: validate IR that comes
    /// from outside first, or use [`Function::get_local`].
    pub fn local(&self, id: LocalId) -> &LocalDecl {
        &self.locals[id.index()]
    }

    /// The declaration of a local, if the id is in range.
    pub fn get_local(&self, id: LocalId) -> Option<&LocalDecl> {
        self.locals.get(id.index())
    }

    /// Moves every span by `offset` bytes (spans are lowered relative to their item and
    /// placed in the file when the program is assembled).
    pub fn shift_spans(&mut self, offset: u32) {
        let shift = |span: &mut Span| {
            if *span != Span::NONE {
                span.start = span.start.saturating_add(offset);
                span.end = span.end.saturating_add(offset);
            }
        };
        shift(&mut self.span);
        for local in &mut self.locals {
            shift(&mut local.span);
        }
        for block in &mut self.blocks {
            for inst in &mut block.insts {
                shift(&mut inst.span);
            }
        }
    }
}
