//! The builder API: how a compiler constructs a [`Program`] without writing source text.
//!
//! [`ProgramBuilder`] adds definitions (classes, structs, globals, externs) and declares
//! functions, handing out their ids at once so that types, calls and closures can refer
//! to things whose bodies are not built yet. [`ProgramBuilder::function`] returns a
//! [`FunctionBuilder`] that declares parameters and locals, creates blocks, and appends
//! one instruction per method call to the current block, each tagged with the current
//! span ([`FunctionBuilder::set_span`]).
//!
//! The builder keeps the bookkeeping consistent for you: methods and `drop` blocks are
//! registered with their class, a global initialiser becomes the program's
//! `global_init`, parameters and captures are listed in the function's `params` and
//! `captures` as they are declared, every function starts with its entry block `b0`, and
//! scopes are numbered in the order they are opened. It does not type-check: run
//! [`validate`](crate::validate()) on the result (or use
//! [`ProgramBuilder::finish_validated`]).
//!
//! # Examples
//!
//! A class `Node`, a function `make` that allocates and returns a `Node`, and `main`, which
//! calls `make` and prints a field:
//!
//! ```
//! use custody_ir::{FunctionKind, ProgramBuilder, Span, Type, print_program, validate};
//!
//! let mut b = ProgramBuilder::new();
//! let node = b.declare_class("Node");
//! b.add_class_field(node, "value", Type::Int);
//! b.add_class_field(node, "next", Type::Class(node).nullable());
//!
//! let make = b.declare_function("make", FunctionKind::Plain);
//! let main = b.declare_function("main", FunctionKind::Plain);
//! b.set_main(main);
//!
//! // fn make(v: int) -> Node { let n = Node { value: v, next: null }; return n; }
//! let mut f = b.function(make);
//! f.returns(Type::Class(node));
//! let v = f.param("v", Type::Int, None);
//! let n = f.local("n", Type::Class(node));
//! let null = f.temp(Type::Class(node).nullable());
//! let scope = f.scope_enter(&[n]);
//! f.set_span(Span::new(52, 56)); // where the source has `null`
//! f.const_null(null);
//! f.set_span(Span::new(30, 58));
//! f.new_object(n, node, &[v, null]);
//! f.clear_span();
//! f.scope_exit(scope);
//! f.ret(n);
//!
//! // fn main() { let n = make(7); print(n.value); }
//! let mut f = b.function(main);
//! let seven = f.temp(Type::Int);
//! let n = f.local("n", Type::Class(node));
//! let value = f.temp(Type::Int);
//! let scope = f.scope_enter(&[n]);
//! f.const_int(seven, 7);
//! f.call(n, make, &[seven]);
//! f.load_field(value, n, 0);
//! f.print(value);
//! f.scope_exit(scope);
//! f.ret(None);
//!
//! let program = b.finish();
//! assert_eq!(validate(&program), Ok(()));
//! assert_eq!(
//!     print_program(&program),
//!     "\
//! class Node { value: int, next: Node? }
//!
//! main: fn main
//!
//! fn make(%0 v: int) -> Node {
//!     %0 v: int   param
//!     %1 n: Node  let
//!     %2: Node?   temp
//! b0:
//!     scope_enter s0 [%1]
//!     %2 = const null                     @52..56
//!     %1 = new_object Node { value: %0, next: %2 }  @30..58
//!     scope_exit s0
//!     return %1
//! }
//!
//! fn main() {
//!     %0: int     temp
//!     %1 n: Node  let
//!     %2: int     temp
//! b0:
//!     scope_enter s0 [%1]
//!     %0 = const 7
//!     %1 = call make(%0)
//!     %2 = load_field %1.value
//!     print %2
//!     scope_exit s0
//!     return
//! }
//! "
//! );
//! ```

use crate::validate::{ValidationError, validate};
use crate::{
    BinaryOp, Block, BlockId, Callee, ClassDef, ClassId, Constant, ExternDef, ExternId, ExternParam,
    FieldDef, FnType, Function, FunctionId, FunctionKind, GlobalDef, GlobalId, Inst, InstKind, LocalDecl,
    LocalId, LocalKind, Mode, Program, ScopeId, Span, StructDef, StructId, Type, UnaryOp,
};

impl Type {
    /// `[elem]`.
    pub fn array(elem: Type) -> Type {
        Type::Array(Box::new(elem))
    }

    /// `self?`; a type that is already nullable is returned unchanged (there is no `T??`).
    pub fn nullable(self) -> Type {
        match self {
            Type::Nullable(_) => self,
            other => Type::Nullable(Box::new(other)),
        }
    }

    /// `fn(params) -> ret`; pass `None` as `ret` for a closure that returns no value.
    pub fn closure(params: impl IntoIterator<Item = Type>, ret: impl Into<Option<Type>>) -> Type {
        Type::Closure(Box::new(FnType { params: params.into_iter().collect(), ret: ret.into() }))
    }
}

impl From<FunctionId> for Callee {
    fn from(id: FunctionId) -> Callee {
        Callee::Function(id)
    }
}

impl From<ExternId> for Callee {
    fn from(id: ExternId) -> Callee {
        Callee::Extern(id)
    }
}

impl ClassDef {
    /// The index of the field called `name`, for `load_field` and `store_field`.
    pub fn field_index(&self, name: &str) -> Option<u32> {
        field_index(&self.fields, name)
    }
}

impl StructDef {
    /// The index of the field called `name`, for `load_field` and `store_field`.
    pub fn field_index(&self, name: &str) -> Option<u32> {
        field_index(&self.fields, name)
    }
}

fn field_index(fields: &[FieldDef], name: &str) -> Option<u32> {
    let index = fields.iter().position(|f| f.name == name)?;
    u32::try_from(index).ok()
}

fn id_of<T: From<usize>>(len: usize) -> T {
    T::from(len)
}

/// Builds a [`Program`]; see the [module docs](self) for an example.
#[derive(Debug, Default)]
pub struct ProgramBuilder {
    program: Program,
    /// Per function: the builder's cursor.
    cursors: Vec<Cursor>,
    /// The span given to items added from now on.
    span: Span,
}

/// Where a function's builder appends, kept between [`ProgramBuilder::function`] calls.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    block: BlockId,
    span: Span,
    next_scope: u32,
    next_closure: u32,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { block: BlockId(0), span: Span::NONE, next_scope: 0, next_closure: 0 }
    }
}

impl ProgramBuilder {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// The program built so far (to look up names, fields, signatures).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Sets the span of the items (classes, structs, fields, globals, externs, functions)
    /// added or declared from now on; [`Span::NONE`] (the default) for none.
    pub fn set_span(&mut self, span: Span) -> &mut Self {
        self.span = span;
        self
    }

    /// Declares a class without fields (add them with [`add_class_field`]), so that field
    /// types can refer to the class itself or to classes declared later.
    ///
    /// [`add_class_field`]: ProgramBuilder::add_class_field
    pub fn declare_class(&mut self, name: impl Into<String>) -> ClassId {
        let id = id_of(self.program.classes.len());
        self.program.classes.push(ClassDef {
            name: name.into(),
            fields: Vec::new(),
            drop: None,
            methods: Vec::new(),
            span: self.span,
        });
        id
    }

    /// Adds a class with these fields, in declaration order.
    pub fn add_class(&mut self, name: impl Into<String>, fields: &[(&str, Type)]) -> ClassId {
        let id = self.declare_class(name);
        for (name, ty) in fields {
            self.add_class_field(id, *name, ty.clone());
        }
        id
    }

    /// Appends a field to a class; returns its index.
    ///
    /// # Panics
    ///
    /// If `class` was not created by this builder.
    pub fn add_class_field(&mut self, class: ClassId, name: impl Into<String>, ty: Type) -> u32 {
        let span = self.span;
        let Some(def) = self.program.classes.get_mut(class.index()) else {
            panic!("add_class_field: there is no class #{}", class.0);
        };
        def.fields.push(FieldDef { name: name.into(), ty, span });
        (def.fields.len() - 1) as u32
    }

    /// Declares a struct without fields (add them with [`add_struct_field`]).
    ///
    /// [`add_struct_field`]: ProgramBuilder::add_struct_field
    pub fn declare_struct(&mut self, name: impl Into<String>) -> StructId {
        let id = id_of(self.program.structs.len());
        self.program.structs.push(StructDef { name: name.into(), fields: Vec::new(), span: self.span });
        id
    }

    /// Adds a struct with these fields, in declaration order.
    pub fn add_struct(&mut self, name: impl Into<String>, fields: &[(&str, Type)]) -> StructId {
        let id = self.declare_struct(name);
        for (name, ty) in fields {
            self.add_struct_field(id, *name, ty.clone());
        }
        id
    }

    /// Appends a field to a struct; returns its index.
    ///
    /// # Panics
    ///
    /// If `strukt` was not created by this builder.
    pub fn add_struct_field(&mut self, strukt: StructId, name: impl Into<String>, ty: Type) -> u32 {
        let span = self.span;
        let Some(def) = self.program.structs.get_mut(strukt.index()) else {
            panic!("add_struct_field: there is no struct #{}", strukt.0);
        };
        def.fields.push(FieldDef { name: name.into(), ty, span });
        (def.fields.len() - 1) as u32
    }

    /// Adds a global. Globals are initialised in the order they are added, by the
    /// function declared with [`FunctionKind::GlobalInit`].
    pub fn add_global(&mut self, name: impl Into<String>, ty: Type) -> GlobalId {
        let id = id_of(self.program.globals.len());
        self.program.globals.push(GlobalDef { name: name.into(), ty, span: self.span });
        id
    }

    /// Adds an external function: `params` are `(name, type, declared mode)`, `ret` its
    /// result type (`None` for none).
    pub fn add_extern(
        &mut self,
        name: impl Into<String>,
        params: &[(&str, Type, Option<Mode>)],
        ret: impl Into<Option<Type>>,
    ) -> ExternId {
        let id = id_of(self.program.externs.len());
        self.program.externs.push(ExternDef {
            name: name.into(),
            params: params
                .iter()
                .map(|(name, ty, mode)| ExternParam {
                    name: (*name).to_string(),
                    ty: ty.clone(),
                    mode: *mode,
                })
                .collect(),
            ret: ret.into(),
            span: self.span,
        });
        id
    }

    /// Declares a function, with no parameters, no result and an empty entry block, so
    /// that it can be called (or be a closure's body) before it is built; build it with
    /// [`function`](ProgramBuilder::function).
    ///
    /// A [`FunctionKind::Method`] is added to its class's methods, a
    /// [`FunctionKind::Drop`] becomes its class's `drop` block, and the first
    /// [`FunctionKind::GlobalInit`] becomes the program's `global_init`. `name` is the
    /// name plans show: `make`, `Node.get`, `Node.drop`, `main#closure0` (see
    /// [`declare_method`], [`declare_drop`] and [`declare_closure`], which choose it).
    ///
    /// [`declare_method`]: ProgramBuilder::declare_method
    /// [`declare_drop`]: ProgramBuilder::declare_drop
    /// [`declare_closure`]: ProgramBuilder::declare_closure
    pub fn declare_function(&mut self, name: impl Into<String>, kind: FunctionKind) -> FunctionId {
        let id: FunctionId = id_of(self.program.functions.len());
        match &kind {
            FunctionKind::Method { class } => {
                if let Some(def) = self.program.classes.get_mut(class.index()) {
                    def.methods.push(id);
                }
            }
            FunctionKind::Drop { class } => {
                if let Some(def) = self.program.classes.get_mut(class.index()) {
                    def.drop = Some(id);
                }
            }
            FunctionKind::GlobalInit => {
                self.program.global_init.get_or_insert(id);
            }
            FunctionKind::Plain | FunctionKind::Closure { .. } => {}
        }
        self.program.functions.push(Function {
            name: name.into(),
            kind,
            arena: false,
            manual: false,
            params: Vec::new(),
            captures: Vec::new(),
            ret: None,
            locals: Vec::new(),
            blocks: vec![Block { insts: Vec::new() }],
            span: self.span,
        });
        self.cursors.push(Cursor::default());
        id
    }

    /// Declares a method `Class.name` of `class` (its first parameter, `self`, is added
    /// with [`FunctionBuilder::self_param`]).
    pub fn declare_method(&mut self, class: ClassId, name: &str) -> FunctionId {
        let full = format!("{}.{name}", crate::print::class_name(&self.program, class));
        self.declare_function(full, FunctionKind::Method { class })
    }

    /// Declares the `drop` block `Class.drop` of `class`.
    pub fn declare_drop(&mut self, class: ClassId) -> FunctionId {
        let full = format!("{}.drop", crate::print::class_name(&self.program, class));
        self.declare_function(full, FunctionKind::Drop { class })
    }

    /// Declares the body of a closure literal written in `parent`, named
    /// `parent#closureN` (N counts the closures of `parent` declared so far).
    pub fn declare_closure(&mut self, parent: FunctionId) -> FunctionId {
        let n = match self.cursors.get_mut(parent.index()) {
            Some(cursor) => {
                cursor.next_closure += 1;
                cursor.next_closure - 1
            }
            None => 0,
        };
        let full = format!("{}#closure{n}", crate::print::function_name(&self.program, parent));
        self.declare_function(full, FunctionKind::Closure { parent })
    }

    /// Makes `function` the program's entry point.
    pub fn set_main(&mut self, function: FunctionId) -> &mut Self {
        self.program.main = Some(function);
        self
    }

    /// Makes `function` the program's global initialiser (the first function declared
    /// with [`FunctionKind::GlobalInit`] already is).
    pub fn set_global_init(&mut self, function: FunctionId) -> &mut Self {
        self.program.global_init = Some(function);
        self
    }

    /// A builder for the signature and body of `function`. Building may be spread over
    /// several calls: the builder continues in the block (and with the span) where the
    /// previous one stopped.
    ///
    /// # Panics
    ///
    /// If `function` was not declared by this builder.
    pub fn function(&mut self, function: FunctionId) -> FunctionBuilder<'_> {
        assert!(
            function.index() < self.program.functions.len(),
            "ProgramBuilder::function: there is no function #{}",
            function.0
        );
        FunctionBuilder { b: self, id: function }
    }

    /// The finished program.
    pub fn finish(self) -> Program {
        self.program
    }

    /// The finished program, if it passes [`validate`](crate::validate()).
    pub fn finish_validated(self) -> Result<Program, Vec<ValidationError>> {
        validate(&self.program)?;
        Ok(self.program)
    }
}

/// Builds one function's signature and body; made by [`ProgramBuilder::function`].
///
/// Instructions are appended to the current block (at first the entry block `b0`; change
/// it with [`switch_to`](FunctionBuilder::switch_to)) and carry the current span. Operands
/// are locals: load constants into temporaries with `const_*` first.
///
/// A block ends with its terminator (`jump`, `branch`, `ret`, `unreachable`): appending
/// anything after that panics, because it could never run. Code that follows a `return`
/// in the source goes into a fresh block ([`new_block`](FunctionBuilder::new_block)), which
/// may stay unreachable; [`is_terminated`](FunctionBuilder::is_terminated) tells whether
/// one is needed.
#[derive(Debug)]
pub struct FunctionBuilder<'b> {
    b: &'b mut ProgramBuilder,
    id: FunctionId,
}

impl FunctionBuilder<'_> {
    fn func(&self) -> &Function {
        &self.b.program.functions[self.id.index()]
    }

    fn func_mut(&mut self) -> &mut Function {
        &mut self.b.program.functions[self.id.index()]
    }

    fn cursor(&mut self) -> &mut Cursor {
        &mut self.b.cursors[self.id.index()]
    }

    /// The function being built.
    pub fn id(&self) -> FunctionId {
        self.id
    }

    /// The function as built so far.
    pub fn function(&self) -> &Function {
        self.func()
    }

    /// The program as built so far (to look up classes, fields, signatures).
    pub fn program(&self) -> &Program {
        &self.b.program
    }

    // ---- signature ----------------------------------------------------------------------

    /// Sets the result type.
    pub fn returns(&mut self, ty: Type) -> &mut Self {
        self.func_mut().ret = Some(ty);
        self
    }

    /// Marks the function `@arena`: its whole body is one arena scope.
    pub fn arena(&mut self) -> &mut Self {
        self.func_mut().arena = true;
        self
    }

    /// Marks the function `@manual`: its allocations are freed by hand.
    pub fn manual(&mut self) -> &mut Self {
        self.func_mut().manual = true;
        self
    }

    /// Sets the span of the whole function item (or closure literal).
    pub fn item_span(&mut self, span: Span) -> &mut Self {
        self.func_mut().span = span;
        self
    }

    fn add_local(&mut self, name: Option<String>, ty: Type, kind: LocalKind, mode: Option<Mode>) -> LocalId {
        let span = self.b.cursors[self.id.index()].span;
        let f = self.func_mut();
        let id = id_of(f.locals.len());
        f.locals.push(LocalDecl { name, ty, kind, mode, span });
        id
    }

    /// Adds the next parameter, with its declared mode (`None` when none is written).
    pub fn param(&mut self, name: impl Into<String>, ty: Type, mode: impl Into<Option<Mode>>) -> LocalId {
        let id = self.add_local(Some(name.into()), ty, LocalKind::Param, mode.into());
        self.func_mut().params.push(id);
        id
    }

    /// Adds `self`, of the class type, as the next parameter of a method or `drop` block.
    ///
    /// # Panics
    ///
    /// If the function is neither a method nor a `drop` block.
    pub fn self_param(&mut self, mode: impl Into<Option<Mode>>) -> LocalId {
        let class = match self.func().kind {
            FunctionKind::Method { class } | FunctionKind::Drop { class } => class,
            ref other => {
                panic!("self_param: `{}` is {other:?}, not a method or drop block", self.func().name)
            }
        };
        self.param("self", Type::Class(class), mode)
    }

    /// Adds the next capture of a closure body: the local that receives the next value
    /// of the `new_closure` instruction's `captures`.
    pub fn capture(&mut self, name: impl Into<String>, ty: Type) -> LocalId {
        let id = self.add_local(Some(name.into()), ty, LocalKind::Capture, None);
        self.func_mut().captures.push(id);
        id
    }

    /// Adds a `let` variable.
    pub fn local(&mut self, name: impl Into<String>, ty: Type) -> LocalId {
        self.add_local(Some(name.into()), ty, LocalKind::Let, None)
    }

    /// Adds the variable of a `for` loop.
    pub fn loop_var(&mut self, name: impl Into<String>, ty: Type) -> LocalId {
        self.add_local(Some(name.into()), ty, LocalKind::LoopVar, None)
    }

    /// Adds a temporary (a local without a source name).
    pub fn temp(&mut self, ty: Type) -> LocalId {
        self.add_local(None, ty, LocalKind::Temp, None)
    }

    // ---- blocks and spans ---------------------------------------------------------------

    /// Adds an empty block (it does not become the current one; see
    /// [`switch_to`](FunctionBuilder::switch_to)).
    pub fn new_block(&mut self) -> BlockId {
        let f = self.func_mut();
        f.blocks.push(Block { insts: Vec::new() });
        id_of(f.blocks.len() - 1)
    }

    /// Makes `block` the block instructions are appended to.
    ///
    /// # Panics
    ///
    /// If the function has no such block.
    pub fn switch_to(&mut self, block: BlockId) -> &mut Self {
        assert!(
            block.index() < self.func().blocks.len(),
            "switch_to: `{}` has no block b{}",
            self.func().name,
            block.0
        );
        self.cursor().block = block;
        self
    }

    /// The block instructions are appended to.
    pub fn current_block(&self) -> BlockId {
        self.b.cursors[self.id.index()].block
    }

    /// Whether the current block already ends with a terminator.
    pub fn is_terminated(&self) -> bool {
        let block = self.current_block();
        self.func().blocks[block.index()].insts.last().is_some_and(|inst| inst.kind.is_terminator())
    }

    /// Sets the span of the instructions (and locals) added from now on.
    pub fn set_span(&mut self, span: Span) -> &mut Self {
        self.cursor().span = span;
        self
    }

    /// Stops giving spans to what is added from now on (as `set_span(Span::NONE)`).
    pub fn clear_span(&mut self) -> &mut Self {
        self.set_span(Span::NONE)
    }

    // ---- instructions -------------------------------------------------------------------

    /// Appends any instruction to the current block, with the current span.
    ///
    /// # Panics
    ///
    /// If the current block already ends with a terminator.
    pub fn inst(&mut self, kind: InstKind) -> &mut Self {
        let cursor = self.b.cursors[self.id.index()];
        let f = &mut self.b.program.functions[self.id.index()];
        let name = &f.name;
        let block = &mut f.blocks[cursor.block.index()];
        if let Some(last) = block.insts.last()
            && last.kind.is_terminator()
        {
            panic!(
                "`{}`: cannot append `{}` to b{}, which already ends with `{}`; switch to another block first",
                name,
                kind.mnemonic(),
                cursor.block.0,
                last.kind.mnemonic()
            );
        }
        block.insts.push(Inst { kind, span: cursor.span });
        self
    }

    /// `dest = const value`.
    pub fn constant(&mut self, dest: LocalId, value: Constant) -> &mut Self {
        self.inst(InstKind::Const { dest, value })
    }

    /// `dest = const value` (an `int`).
    pub fn const_int(&mut self, dest: LocalId, value: i64) -> &mut Self {
        self.constant(dest, Constant::Int(value))
    }

    /// `dest = const value` (a `float`).
    pub fn const_float(&mut self, dest: LocalId, value: f64) -> &mut Self {
        self.constant(dest, Constant::Float(value))
    }

    /// `dest = const value` (a `bool`).
    pub fn const_bool(&mut self, dest: LocalId, value: bool) -> &mut Self {
        self.constant(dest, Constant::Bool(value))
    }

    /// `dest = const "value"` (a string literal: constant data, not an allocation).
    pub fn const_str(&mut self, dest: LocalId, value: impl Into<String>) -> &mut Self {
        self.constant(dest, Constant::Str(value.into()))
    }

    /// `dest = const null` (`dest` must be nullable).
    pub fn const_null(&mut self, dest: LocalId) -> &mut Self {
        self.constant(dest, Constant::Null)
    }

    /// `dest = copy src`.
    pub fn copy(&mut self, dest: LocalId, src: LocalId) -> &mut Self {
        self.inst(InstKind::Copy { dest, src })
    }

    /// `dest = op operand`.
    pub fn unary(&mut self, dest: LocalId, op: UnaryOp, operand: LocalId) -> &mut Self {
        self.inst(InstKind::Unary { dest, op, operand })
    }

    /// `dest = lhs op rhs`.
    pub fn binary(&mut self, dest: LocalId, op: BinaryOp, lhs: LocalId, rhs: LocalId) -> &mut Self {
        self.inst(InstKind::Binary { dest, op, lhs, rhs })
    }

    /// `dest = value == null`.
    pub fn is_null(&mut self, dest: LocalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::IsNull { dest, value })
    }

    /// Stops with a run-time error if `value` is `null`.
    pub fn null_check(&mut self, value: LocalId) -> &mut Self {
        self.inst(InstKind::NullCheck { value })
    }

    /// `dest = Class { fields }`: allocates an object; one value per field, in
    /// declaration order.
    pub fn new_object(&mut self, dest: LocalId, class: ClassId, fields: &[LocalId]) -> &mut Self {
        self.inst(InstKind::NewObject { dest, class, fields: fields.to_vec() })
    }

    /// `dest = [elems]`: allocates an array of `elem`s.
    pub fn new_array(&mut self, dest: LocalId, elem: Type, elems: &[LocalId]) -> &mut Self {
        self.inst(InstKind::NewArray { dest, elem, elems: elems.to_vec() })
    }

    /// `dest = [value; count]`: allocates an array of `count` copies of `value`.
    pub fn new_array_repeat(
        &mut self,
        dest: LocalId,
        elem: Type,
        value: LocalId,
        count: LocalId,
    ) -> &mut Self {
        self.inst(InstKind::NewArrayRepeat { dest, elem, value, count })
    }

    /// `dest = lhs + rhs` on strings: allocates a new string.
    pub fn concat(&mut self, dest: LocalId, lhs: LocalId, rhs: LocalId) -> &mut Self {
        self.inst(InstKind::Concat { dest, lhs, rhs })
    }

    /// `dest = str(value)`: allocates the text of an `int`, `float` or `bool`.
    pub fn to_string(&mut self, dest: LocalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::ToString { dest, value })
    }

    /// `dest = fn ...`: allocates a closure of the body `function` (declared with
    /// [`ProgramBuilder::declare_closure`]) capturing `captures`.
    pub fn new_closure(&mut self, dest: LocalId, function: FunctionId, captures: &[LocalId]) -> &mut Self {
        self.inst(InstKind::NewClosure { dest, function, captures: captures.to_vec() })
    }

    /// `dest = Struct { fields }`: an inline value; one value per field, in order.
    pub fn new_struct(&mut self, dest: LocalId, strukt: StructId, fields: &[LocalId]) -> &mut Self {
        self.inst(InstKind::NewStruct { dest, strukt, fields: fields.to_vec() })
    }

    /// `dest = object.field` (by index; see [`ClassDef::field_index`]).
    pub fn load_field(&mut self, dest: LocalId, object: LocalId, field: u32) -> &mut Self {
        self.inst(InstKind::LoadField { dest, object, field })
    }

    /// `object.field = value`.
    pub fn store_field(&mut self, object: LocalId, field: u32, value: LocalId) -> &mut Self {
        self.inst(InstKind::StoreField { object, field, value })
    }

    /// `dest = array[index]`.
    pub fn load_elem(&mut self, dest: LocalId, array: LocalId, index: LocalId) -> &mut Self {
        self.inst(InstKind::LoadElem { dest, array, index })
    }

    /// `array[index] = value`.
    pub fn store_elem(&mut self, array: LocalId, index: LocalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::StoreElem { array, index, value })
    }

    /// `push(array, value)`.
    pub fn push(&mut self, array: LocalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::Push { array, value })
    }

    /// `dest = pop(array)`.
    pub fn pop(&mut self, dest: LocalId, array: LocalId) -> &mut Self {
        self.inst(InstKind::Pop { dest, array })
    }

    /// `dest = len(value)` of an array or string.
    pub fn len(&mut self, dest: LocalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::Len { dest, value })
    }

    /// `dest = global`.
    pub fn load_global(&mut self, dest: LocalId, global: GlobalId) -> &mut Self {
        self.inst(InstKind::LoadGlobal { dest, global })
    }

    /// `global = value`.
    pub fn store_global(&mut self, global: GlobalId, value: LocalId) -> &mut Self {
        self.inst(InstKind::StoreGlobal { global, value })
    }

    /// `dest = callee(args)`: `dest` is a local or `None` (no result, or one not used);
    /// `callee` a [`FunctionId`], an [`ExternId`] or a [`Callee::Closure`]. A method gets
    /// its receiver as `args[0]`.
    pub fn call(
        &mut self,
        dest: impl Into<Option<LocalId>>,
        callee: impl Into<Callee>,
        args: &[LocalId],
    ) -> &mut Self {
        self.inst(InstKind::Call { dest: dest.into(), callee: callee.into(), args: args.to_vec() })
    }

    /// `spawn callee(args)`: the call runs on a new thread; its result is discarded.
    pub fn spawn(&mut self, callee: impl Into<Callee>, args: &[LocalId]) -> &mut Self {
        self.inst(InstKind::Spawn { callee: callee.into(), args: args.to_vec() })
    }

    /// `print(value)`.
    pub fn print(&mut self, value: LocalId) -> &mut Self {
        self.inst(InstKind::Print { value })
    }

    /// `free(value)`.
    pub fn free(&mut self, value: LocalId) -> &mut Self {
        self.inst(InstKind::Free { value })
    }

    fn open_scope(&mut self, arena: bool, locals: &[LocalId]) -> ScopeId {
        let cursor = self.cursor();
        let scope = ScopeId(cursor.next_scope);
        cursor.next_scope += 1;
        self.inst(InstKind::ScopeEnter { scope, arena, locals: locals.to_vec() });
        scope
    }

    /// Opens a new scope declaring `locals`; returns it, for the
    /// [`scope_exit`](FunctionBuilder::scope_exit)s on every path out of it. Scopes are
    /// numbered in the order they are opened.
    pub fn scope_enter(&mut self, locals: &[LocalId]) -> ScopeId {
        self.open_scope(false, locals)
    }

    /// Opens a new arena scope (`arena { }`, or the body of an `@arena` function).
    pub fn arena_scope_enter(&mut self, locals: &[LocalId]) -> ScopeId {
        self.open_scope(true, locals)
    }

    /// Closes `scope` (on one path out of it).
    pub fn scope_exit(&mut self, scope: ScopeId) -> &mut Self {
        self.inst(InstKind::ScopeExit { scope })
    }

    /// Terminator: continue at `target`.
    pub fn jump(&mut self, target: BlockId) -> &mut Self {
        self.inst(InstKind::Jump { target })
    }

    /// Terminator: continue at `then_block` if `cond` is true, else at `else_block`.
    pub fn branch(&mut self, cond: LocalId, then_block: BlockId, else_block: BlockId) -> &mut Self {
        self.inst(InstKind::Branch { cond, then_block, else_block })
    }

    /// Terminator: return `value` (a local, or `None` for a function without a result).
    pub fn ret(&mut self, value: impl Into<Option<LocalId>>) -> &mut Self {
        self.inst(InstKind::Return { value: value.into() })
    }

    /// Terminator: control never reaches here.
    pub fn unreachable(&mut self) -> &mut Self {
        self.inst(InstKind::Unreachable)
    }
}
