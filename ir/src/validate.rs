//! The validator: checks IR that arrives from outside custody before anything analyses it.
//!
//! A frontend that hands custody a [`Program`] (through JSON or the builder) can get
//! anything wrong: an id that points nowhere, a block without a terminator, an `add` of a
//! string and an int, a call with one argument too many. [`validate`] finds all of these,
//! never panics whatever the input, and reports every problem it finds (not just the
//! first) in a fixed order: the program's entry points, then classes, structs, globals,
//! externs, and functions, each in index order, and inside a function its signature and
//! locals, then its blocks and instructions in order.
//!
//! Every [`ValidationError`] says where the problem is ([`Location`]: the item by name, and
//! for a function the block and the instruction, `b3.2`) and what is wrong in plain words:
//!
//! ```text
//! function `make`, b0.2: `call` passes 1 argument to `Node.get`, which takes 2
//! ```
//!
//! # Type rules
//!
//! Operand types follow the language's rules (`spec/language.md`, section 5). A value of
//! type `T` fits where `T?` is expected, and a value of type `T?` fits where `T` is
//! expected (the operation checks for `null` at run time; no `null_check` is required
//! before). Otherwise types must be equal: no conversion between `int` and `float`, arrays
//! are invariant (`[T]` does not fit `[T?]`). `null` only goes into a nullable local.
//!
//! What is checked, besides every id (class, struct, global, function, extern, local,
//! block, field index) pointing at something that exists:
//!
//! - the program: `main` is a plain function without parameters or result; `global_init`
//!   is a `global_init` function (there may be several, say one per global, which only
//!   global initialisers call; then `global_init` names the one that runs them in order);
//! - classes and structs: field types exist, field names are distinct, no struct contains
//!   itself by value (not even through `?`), `drop` and `methods` name functions of the
//!   right kind for the class;
//! - functions: at least one block; `params` and `captures` list locals of kind `param`
//!   and `capture` (and every such local is listed); only closure bodies have captures;
//!   methods and `drop` blocks take `self` of their class first; only parameters have
//!   modes; every local's type exists and is not `T??`;
//! - blocks: not empty, end with a terminator, no terminator before the end;
//! - spans: none ends before it starts (serde does not normalise them as [`Span::new`]
//!   does);
//! - instructions: operand and result types (see each instruction's documentation), calls
//!   (argument count and types against the callee's parameters, result presence),
//!   closures (captures against the body's `captures`, the body is a closure of this
//!   function), returns against the result type, and `scope_exit` only of a scope that
//!   some `scope_enter` of the function opens.

use crate::print::{class_name, function_name};
use crate::{
    BinaryOp, BlockId, Callee, ClassId, Constant, ExternId, FieldDef, Function, FunctionId, FunctionKind,
    GlobalId, Inst, InstAddr, InstKind, LocalId, LocalKind, Program, ScopeId, Span, StructId, Type, UnaryOp,
};
use std::collections::HashSet;
use std::fmt;

/// Checks a program that comes from outside custody. Returns every problem found, in a
/// deterministic order (see the [module docs](self)); never panics.
pub fn validate(program: &Program) -> Result<(), Vec<ValidationError>> {
    let mut v = Validator { program, errors: Vec::new() };
    v.entries();
    v.classes();
    v.structs();
    v.globals();
    v.externs();
    for (index, function) in program.functions.iter().enumerate() {
        FnCheck::new(&mut v, FunctionId::from(index), function).run();
    }
    if v.errors.is_empty() { Ok(()) } else { Err(v.errors) }
}

/// One problem in a program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValidationError {
    /// Where the problem is.
    pub location: Location,
    /// The source span of what is wrong (the instruction, local or item), if the IR has
    /// spans; [`Span::NONE`] otherwise.
    pub span: Span,
    /// What is wrong, in plain words (without the location).
    pub message: String,
}

/// Where in a program a [`ValidationError`] is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// The program as a whole (`main`, `global_init`).
    Program,
    /// A class definition.
    Class {
        /// The class.
        id: ClassId,
        /// Its name.
        name: String,
    },
    /// A struct definition.
    Struct {
        /// The struct.
        id: StructId,
        /// Its name.
        name: String,
    },
    /// A global.
    Global {
        /// The global.
        id: GlobalId,
        /// Its name.
        name: String,
    },
    /// An external function.
    Extern {
        /// The extern.
        id: ExternId,
        /// Its name.
        name: String,
    },
    /// A function's signature, kind or locals.
    Function {
        /// The function.
        id: FunctionId,
        /// Its name.
        name: String,
    },
    /// A block of a function as a whole (empty, or not ending with a terminator).
    Block {
        /// The function.
        function: FunctionId,
        /// The function's name.
        name: String,
        /// The block.
        block: BlockId,
    },
    /// An instruction.
    Inst {
        /// The function.
        function: FunctionId,
        /// The function's name.
        name: String,
        /// The instruction's address (`b3.2`).
        addr: InstAddr,
    },
}

impl Location {
    /// The function the problem is in, if it is in one.
    pub fn function(&self) -> Option<FunctionId> {
        match self {
            Location::Function { id, .. } => Some(*id),
            Location::Block { function, .. } | Location::Inst { function, .. } => Some(*function),
            _ => None,
        }
    }

    /// The instruction the problem is at, if it is at one.
    pub fn addr(&self) -> Option<InstAddr> {
        match self {
            Location::Inst { addr, .. } => Some(*addr),
            _ => None,
        }
    }
}

/// `kind `name``, or `kind #N` when the name is empty.
fn named(f: &mut fmt::Formatter<'_>, kind: &str, name: &str, index: u32) -> fmt::Result {
    if name.is_empty() { write!(f, "{kind} #{index}") } else { write!(f, "{kind} `{name}`") }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Program => f.write_str("program"),
            Location::Class { id, name } => named(f, "class", name, id.0),
            Location::Struct { id, name } => named(f, "struct", name, id.0),
            Location::Global { id, name } => named(f, "global", name, id.0),
            Location::Extern { id, name } => named(f, "extern", name, id.0),
            Location::Function { id, name } => named(f, "function", name, id.0),
            Location::Block { function, name, block } => {
                named(f, "function", name, function.0)?;
                write!(f, ", b{}", block.0)
            }
            Location::Inst { function, name, addr } => {
                named(f, "function", name, function.0)?;
                write!(f, ", {addr}")
            }
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// `1 class`, `2 classes`, `no classes`.
fn count(n: usize, singular: &str, plural: &str) -> String {
    match n {
        0 => format!("no {plural}"),
        1 => format!("1 {singular}"),
        n => format!("{n} {plural}"),
    }
}

/// Whether a value of type `value` fits where `expected` is expected: equal once `?` is
/// removed from both (`T` fits `T?`; `T?` fits `T` with a run-time check).
fn fits(value: &Type, expected: &Type) -> bool {
    value.non_null() == expected.non_null()
}

/// The struct stored inline by a field of type `ty` (`S` or `S?`).
fn inline_struct(ty: &Type) -> Option<StructId> {
    match ty.non_null() {
        Type::Struct(id) => Some(*id),
        _ => None,
    }
}

/// How a function's kind reads in a message: `a plain function`, `a method of `Node``.
fn kind_desc(program: &Program, kind: &FunctionKind) -> String {
    match kind {
        FunctionKind::Plain => "a plain function".to_string(),
        FunctionKind::Method { class } => format!("a method of `{}`", class_name(program, *class)),
        FunctionKind::Drop { class } => {
            format!("the `drop` block of `{}`", class_name(program, *class))
        }
        FunctionKind::Closure { parent } => {
            format!("a closure body in `{}`", function_name(program, *parent))
        }
        FunctionKind::GlobalInit => "a global initialiser".to_string(),
    }
}

struct Validator<'p> {
    program: &'p Program,
    errors: Vec<ValidationError>,
}

impl<'p> Validator<'p> {
    fn push(&mut self, location: Location, span: Span, message: String) {
        self.errors.push(ValidationError { location, span, message });
    }

    fn ty(&self, ty: &Type) -> String {
        ty.display(self.program).to_string()
    }

    /// Reports a span that ends before it starts (`Span::len` would underflow on it).
    fn check_span(&mut self, location: &Location, span: Span, what: &str) {
        if span.start > span.end {
            let message =
                format!("{what} has the span {}..{}, which ends before it starts", span.start, span.end);
            self.push(location.clone(), Span::NONE, message);
        }
    }

    /// `class #7 does not exist (the program has 2 classes)`.
    fn missing(&self, what: &str, id: u32) -> String {
        let p = self.program;
        let (n, singular, plural) = match what {
            "class" => (p.classes.len(), "class", "classes"),
            "struct" => (p.structs.len(), "struct", "structs"),
            "global" => (p.globals.len(), "global", "globals"),
            "extern" => (p.externs.len(), "extern", "externs"),
            _ => (p.functions.len(), "function", "functions"),
        };
        format!("{what} #{id}, which does not exist (the program has {})", count(n, singular, plural))
    }

    /// The first thing wrong with a type: an unknown class or struct, or `T??`.
    fn type_problem(&self, ty: &Type) -> Option<String> {
        match ty {
            Type::Int | Type::Float | Type::Bool | Type::String => None,
            Type::Array(elem) => self.type_problem(elem),
            Type::Nullable(inner) => {
                if inner.is_nullable() {
                    Some(format!(
                        "`{}` is not a type: a nullable type cannot be made nullable again",
                        self.ty(ty)
                    ))
                } else {
                    self.type_problem(inner)
                }
            }
            Type::Struct(id) => (id.index() >= self.program.structs.len())
                .then(|| format!("it refers to {}", self.missing("struct", id.0))),
            Type::Class(id) => (id.index() >= self.program.classes.len())
                .then(|| format!("it refers to {}", self.missing("class", id.0))),
            Type::Closure(sig) => {
                sig.params.iter().chain(sig.ret.as_ref()).find_map(|t| self.type_problem(t))
            }
        }
    }

    /// Reports `what` (`field `next``; empty for the item itself) having a broken type.
    fn check_type(&mut self, location: &Location, span: Span, what: &str, ty: &Type) {
        if let Some(problem) = self.type_problem(ty) {
            let what = if what.is_empty() { String::new() } else { format!("{what} ") };
            let message = format!("{what}has type `{}`, but {problem}", self.ty(ty));
            self.push(location.clone(), span, message);
        }
    }

    fn entries(&mut self) {
        let p = self.program;
        if let Some(main) = p.main
            && main.index() >= p.functions.len()
        {
            let message = format!("`main` is {}", self.missing("function", main.0));
            self.push(Location::Program, Span::NONE, message);
        }
        if let Some(init) = p.global_init {
            match p.functions.get(init.index()) {
                None => {
                    let message = format!("`global_init` is {}", self.missing("function", init.0));
                    self.push(Location::Program, Span::NONE, message);
                }
                Some(f) if f.kind != FunctionKind::GlobalInit => {
                    let message = format!(
                        "`global_init` is `{}`, which is {}, not a global initialiser (kind `global_init`)",
                        f.name,
                        kind_desc(p, &f.kind)
                    );
                    self.push(Location::Program, f.span, message);
                }
                Some(_) => {}
            }
        }
    }

    fn fields(&mut self, location: &Location, fields: &[FieldDef]) {
        let mut seen = HashSet::new();
        for field in fields {
            let what = format!("field `{}`", field.name);
            self.check_span(location, field.span, &what);
            self.check_type(location, field.span, &what, &field.ty);
            if !seen.insert(field.name.as_str()) {
                let message = format!("declares field `{}` more than once", field.name);
                self.push(location.clone(), field.span, message);
            }
        }
    }

    fn classes(&mut self) {
        let p = self.program;
        for (index, class) in p.classes.iter().enumerate() {
            let id = ClassId::from(index);
            let location = Location::Class { id, name: class.name.clone() };
            self.check_span(&location, class.span, "the class");
            self.fields(&location, &class.fields);
            if let Some(drop) = class.drop {
                match p.functions.get(drop.index()) {
                    None => {
                        let message = format!("its `drop` block is {}", self.missing("function", drop.0));
                        self.push(location.clone(), class.span, message);
                    }
                    Some(f) if f.kind != (FunctionKind::Drop { class: id }) => {
                        let message = format!(
                            "its `drop` block is `{}`, which is {}, not the `drop` block of `{}`",
                            f.name,
                            kind_desc(p, &f.kind),
                            class.name
                        );
                        self.push(location.clone(), class.span, message);
                    }
                    Some(_) => {}
                }
            }
            for &method in &class.methods {
                match p.functions.get(method.index()) {
                    None => {
                        let message = format!("its methods include {}", self.missing("function", method.0));
                        self.push(location.clone(), class.span, message);
                    }
                    Some(f) if f.kind != (FunctionKind::Method { class: id }) => {
                        let message = format!(
                            "lists `{}` as a method, but it is {}, not a method of `{}`",
                            f.name,
                            kind_desc(p, &f.kind),
                            class.name
                        );
                        self.push(location.clone(), class.span, message);
                    }
                    Some(_) => {}
                }
            }
        }
    }

    fn structs(&mut self) {
        let p = self.program;
        for (index, s) in p.structs.iter().enumerate() {
            let location = Location::Struct { id: StructId::from(index), name: s.name.clone() };
            self.check_span(&location, s.span, "the struct");
            self.fields(&location, &s.fields);
        }
        self.struct_cycles();
    }

    /// Reports every struct that contains itself by value (directly or through other
    /// structs' fields, with or without `?`): such a struct has no finite size.
    fn struct_cycles(&mut self) {
        let structs = &self.program.structs;
        let n = structs.len();
        // 0: not visited, 1: on the stack, 2: done.
        let mut state = vec![0u8; n];
        for root in 0..n {
            if state[root] != 0 {
                continue;
            }
            state[root] = 1;
            // (struct, index of the next field to explore)
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(top) = stack.last_mut() {
                let (s, i) = *top;
                let Some(field) = structs[s].fields.get(i) else {
                    state[s] = 2;
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                let Some(t) = inline_struct(&field.ty).map(StructId::index) else {
                    continue;
                };
                match state.get(t) {
                    Some(0) => {
                        state[t] = 1;
                        stack.push((t, 0));
                    }
                    Some(1) => {
                        let start = stack.iter().position(|&(x, _)| x == t).unwrap_or(0);
                        let path: Vec<String> = stack[start..]
                            .iter()
                            .map(|&(x, j)| {
                                let field = j
                                    .checked_sub(1)
                                    .and_then(|j| structs[x].fields.get(j))
                                    .map_or("?", |f| f.name.as_str());
                                format!("`{}.{}`", structs[x].name, field)
                            })
                            .collect();
                        let message = format!(
                            "contains itself by value through {}, so it has no finite size (a struct cannot contain itself, not even through `?`; use an array or a class)",
                            path.join(" and ")
                        );
                        let location =
                            Location::Struct { id: StructId::from(t), name: structs[t].name.clone() };
                        self.push(location, structs[t].span, message);
                    }
                    _ => {}
                }
            }
        }
    }

    fn globals(&mut self) {
        for (index, global) in self.program.globals.iter().enumerate() {
            let location = Location::Global { id: GlobalId::from(index), name: global.name.clone() };
            self.check_span(&location, global.span, "the global");
            self.check_type(&location, global.span, "", &global.ty);
        }
    }

    fn externs(&mut self) {
        for (index, ext) in self.program.externs.iter().enumerate() {
            let location = Location::Extern { id: ExternId::from(index), name: ext.name.clone() };
            self.check_span(&location, ext.span, "the extern");
            for param in &ext.params {
                let what = format!("parameter `{}`", param.name);
                self.check_type(&location, ext.span, &what, &param.ty);
            }
            if let Some(ret) = &ext.ret {
                self.check_type(&location, ext.span, "its result", ret);
            }
        }
    }
}

/// What a call calls, as far as type checking goes.
struct Signature<'p> {
    /// How messages name the callee: `` `make` ``, `the closure in %3`.
    name: String,
    /// Parameter names (for messages) and types (`None` when the parameter's local does
    /// not exist, which is reported at the callee).
    params: Vec<(String, Option<&'p Type>)>,
    /// The result type.
    ret: Option<&'p Type>,
}

/// The checks of one function.
struct FnCheck<'v, 'p> {
    v: &'v mut Validator<'p>,
    id: FunctionId,
    f: &'p Function,
    addr: InstAddr,
    span: Span,
    /// Every scope some `scope_enter` of the function opens.
    entered: HashSet<ScopeId>,
}

impl<'v, 'p> FnCheck<'v, 'p> {
    fn new(v: &'v mut Validator<'p>, id: FunctionId, f: &'p Function) -> Self {
        FnCheck {
            v,
            id,
            f,
            addr: InstAddr { block: BlockId(0), index: 0 },
            span: Span::NONE,
            entered: HashSet::new(),
        }
    }

    fn program(&self) -> &'p Program {
        self.v.program
    }

    fn fn_location(&self) -> Location {
        Location::Function { id: self.id, name: self.f.name.clone() }
    }

    /// An error about the function as a whole.
    fn fn_err(&mut self, span: Span, message: String) {
        let location = self.fn_location();
        self.v.push(location, span, message);
    }

    /// An error at the current instruction.
    fn err(&mut self, message: String) {
        let location = Location::Inst { function: self.id, name: self.f.name.clone(), addr: self.addr };
        self.v.push(location, self.span, message);
    }

    fn ty(&self, ty: &Type) -> String {
        self.v.ty(ty)
    }

    /// The type of a local, if it exists.
    fn local_ty(&self, id: LocalId) -> Option<&'p Type> {
        self.f.locals.get(id.index()).map(|l| &l.ty)
    }

    /// `%3` or `%3 `n``.
    fn local_desc(&self, id: LocalId) -> String {
        match self.f.locals.get(id.index()).and_then(|l| l.name.as_deref()) {
            Some(name) => format!("%{} `{name}`", id.0),
            None => format!("%{}", id.0),
        }
    }

    /// `` `int` (%3) ``: a value and its type, for messages.
    fn val(&self, id: LocalId, ty: &Type) -> String {
        format!("`{}` (%{})", self.ty(ty), id.0)
    }

    /// `(the function has 3 locals)`.
    fn missing_local(&self, id: LocalId) -> String {
        format!(
            "%{}, which does not exist (the function has {})",
            id.0,
            count(self.f.locals.len(), "local", "locals")
        )
    }

    fn run(mut self) {
        self.kind();
        self.locals();
        self.params();
        self.captures();
        if self.f.blocks.is_empty() {
            self.fn_err(
                self.f.span,
                "has no blocks; a function needs at least one (execution starts at b0)".to_string(),
            );
        }
        for block in &self.f.blocks {
            for inst in &block.insts {
                if let InstKind::ScopeEnter { scope, .. } = inst.kind {
                    self.entered.insert(scope);
                }
            }
        }
        for (b, block) in self.f.blocks.iter().enumerate() {
            self.block(BlockId::from(b), &block.insts);
        }
    }

    fn kind(&mut self) {
        let p = self.program();
        let f = self.f;
        match &f.kind {
            FunctionKind::Plain => {}
            FunctionKind::Method { class } | FunctionKind::Drop { class } => {
                let is_drop = matches!(f.kind, FunctionKind::Drop { .. });
                let what = if is_drop { "the `drop` block" } else { "a method" };
                let Some(def) = p.classes.get(class.index()) else {
                    let message = format!("is {what} of {}", self.v.missing("class", class.0));
                    self.fn_err(f.span, message);
                    return;
                };
                let listed = if is_drop { def.drop == Some(self.id) } else { def.methods.contains(&self.id) };
                if !listed {
                    let message = if is_drop {
                        format!(
                            "is {what} of `{}`, but `{}` does not name it as its `drop` block",
                            def.name, def.name
                        )
                    } else {
                        format!(
                            "is {what} of `{}`, but `{}` does not list it among its methods",
                            def.name, def.name
                        )
                    };
                    self.fn_err(f.span, message);
                }
                let self_ty = Type::Class(*class);
                match f.params.first().map(|&p| (p, self.local_ty(p))) {
                    None => {
                        let message = format!(
                            "is {what} of `{}`, so it must take `self` (of type `{}`) as parameter 0, but it has no parameters",
                            def.name, def.name
                        );
                        self.fn_err(f.span, message);
                    }
                    Some((p, Some(ty))) if *ty != self_ty => {
                        let message = format!(
                            "is {what} of `{}`, so parameter 0 must be `self` of type `{}`, but {} is `{}`",
                            def.name,
                            def.name,
                            self.local_desc(p),
                            self.ty(ty)
                        );
                        self.fn_err(f.span, message);
                    }
                    _ => {}
                }
                if is_drop && (f.params.len() > 1 || f.ret.is_some()) {
                    self.fn_err(
                        f.span,
                        "is a `drop` block, so it must take only `self` and return no value".to_string(),
                    );
                }
            }
            FunctionKind::Closure { parent } => {
                if parent.index() >= p.functions.len() {
                    let message = format!("is a closure body in {}", self.v.missing("function", parent.0));
                    self.fn_err(f.span, message);
                }
            }
            FunctionKind::GlobalInit => {
                // Several functions may be global initialisers (one per global, and the
                // one `global_init` names, which runs them in order), but one must be named.
                if p.global_init.is_none() {
                    self.fn_err(
                        f.span,
                        "is a global initialiser, but the program's `global_init` is not set".to_string(),
                    );
                }
                if !f.params.is_empty() || f.ret.is_some() {
                    self.fn_err(
                        f.span,
                        "is the global initialiser, so it must take no parameters and return no value"
                            .to_string(),
                    );
                }
            }
        }
        if p.main == Some(self.id) {
            if f.kind != FunctionKind::Plain {
                let message = format!(
                    "is the program's entry point (`main`), so it must be a plain function, but it is {}",
                    kind_desc(p, &f.kind)
                );
                self.fn_err(f.span, message);
            }
            let mut wrong = Vec::new();
            if !f.params.is_empty() {
                wrong.push(format!("takes {}", count(f.params.len(), "parameter", "parameters")));
            }
            if let Some(ret) = &f.ret {
                wrong.push(format!("returns `{}`", self.ty(ret)));
            }
            if !wrong.is_empty() {
                let message = format!(
                    "is the program's entry point (`main`), so it must take no parameters and return no value, but it {}",
                    wrong.join(" and ")
                );
                self.fn_err(f.span, message);
            }
        }
        if !f.captures.is_empty() && !matches!(f.kind, FunctionKind::Closure { .. }) {
            let message = format!(
                "has captures, but it is {}; only closure bodies have captures",
                kind_desc(p, &f.kind)
            );
            self.fn_err(f.span, message);
        }
    }

    fn locals(&mut self) {
        let f = self.f;
        let location = self.fn_location();
        self.v.check_span(&location, f.span, "the function");
        if let Some(ret) = &f.ret {
            self.v.check_type(&location, f.span, "its result", ret);
        }
        for (i, local) in f.locals.iter().enumerate() {
            let what = format!("local {}", self.local_desc(LocalId::from(i)));
            self.v.check_span(&location, local.span, &what);
            self.v.check_type(&location, local.span, &what, &local.ty);
            if let Some(mode) = local.mode
                && local.kind != LocalKind::Param
            {
                let message = format!(
                    "{what} is a `{}` local but has a mode (`{}`); only parameters have modes",
                    local.kind.mnemonic(),
                    mode.keyword()
                );
                self.fn_err(local.span, message);
            }
        }
    }

    /// Checks `params` or `captures`: each entry a local of kind `kind`, none twice, and
    /// every local of that kind listed.
    fn local_list(&mut self, list: &[LocalId], kind: LocalKind, what: &str) {
        let f = self.f;
        let mut seen = HashSet::new();
        for (i, &id) in list.iter().enumerate() {
            let Some(local) = f.locals.get(id.index()) else {
                let message = format!("{what} {i} is {}", self.missing_local(id));
                self.fn_err(f.span, message);
                continue;
            };
            if local.kind != kind {
                let message = format!(
                    "{what} {i} is {}, which is a `{}` local, not a `{}`",
                    self.local_desc(id),
                    local.kind.mnemonic(),
                    kind.mnemonic()
                );
                self.fn_err(local.span, message);
            }
            if !seen.insert(id) {
                let message = format!("lists {} as a {what} twice", self.local_desc(id));
                self.fn_err(local.span, message);
            }
        }
        for (i, local) in f.locals.iter().enumerate() {
            let id = LocalId::from(i);
            if local.kind == kind && !seen.contains(&id) {
                let message = format!(
                    "local {} is a `{}`, but the function's {what}s do not include it",
                    self.local_desc(id),
                    kind.mnemonic()
                );
                self.fn_err(local.span, message);
            }
        }
    }

    fn params(&mut self) {
        self.local_list(&self.f.params, LocalKind::Param, "parameter");
    }

    fn captures(&mut self) {
        self.local_list(&self.f.captures, LocalKind::Capture, "capture");
    }

    fn block(&mut self, block: BlockId, insts: &'p [Inst]) {
        let location = Location::Block { function: self.id, name: self.f.name.clone(), block };
        match insts.last() {
            None => {
                let message = "is empty; every block must end with a terminator (`jump`, `branch`, `return` or `unreachable`)".to_string();
                self.v.push(location, Span::NONE, message);
            }
            Some(last) if !last.kind.is_terminator() => {
                let message = format!(
                    "does not end with a terminator: its last instruction, b{}.{}, is `{}`; end the block with `jump`, `branch`, `return` or `unreachable`",
                    block.0,
                    insts.len() - 1,
                    last.kind.mnemonic()
                );
                self.v.push(location, last.span, message);
            }
            Some(_) => {}
        }
        for (i, inst) in insts.iter().enumerate() {
            self.addr = InstAddr { block, index: u32::try_from(i).unwrap_or(u32::MAX) };
            self.span = inst.span;
            if inst.span.start > inst.span.end {
                self.span = Span::NONE;
                let message = format!(
                    "`{}` has the span {}..{}, which ends before it starts",
                    inst.kind.mnemonic(),
                    inst.span.start,
                    inst.span.end
                );
                self.err(message);
            }
            let after = insts.len() - 1 - i;
            if inst.kind.is_terminator() && after > 0 {
                let message = format!(
                    "`{}` is a terminator, so it must be the last instruction of b{}, but {} {} it",
                    inst.kind.mnemonic(),
                    block.0,
                    count(after, "instruction", "instructions"),
                    if after == 1 { "follows" } else { "follow" }
                );
                self.err(message);
            }
            self.inst(&inst.kind);
        }
    }

    fn inst(&mut self, kind: &'p InstKind) {
        // Every local mentioned must exist; the type checks below skip unknown ones.
        let mut locals = kind.uses();
        locals.extend(kind.dest());
        if let InstKind::ScopeEnter { locals: declared, .. } = kind {
            locals.extend(declared);
        }
        let mut reported = HashSet::new();
        for id in locals {
            if id.index() >= self.f.locals.len() && reported.insert(id) {
                let message = format!("`{}` refers to {}", kind.mnemonic(), self.missing_local(id));
                self.err(message);
            }
        }
        self.types(kind);
    }

    /// Reports a result of type `produced` that does not fit `dest`.
    fn result(&mut self, op: &str, produced: &Type, dest: LocalId) {
        if let Some(dest_ty) = self.local_ty(dest)
            && !fits(produced, dest_ty)
        {
            let message = format!(
                "`{op}` gives `{}`, which does not fit %{} of type `{}`",
                self.ty(produced),
                dest.0,
                self.ty(dest_ty)
            );
            self.err(message);
        }
    }

    /// Reports an operand that is not an array; returns the element type.
    fn array(&mut self, op: &str, array: LocalId) -> Option<&'p Type> {
        let ty = self.local_ty(array)?;
        let elem = ty.array_elem();
        if elem.is_none() {
            let message = format!("`{op}` needs an array, got {}", self.val(array, ty));
            self.err(message);
        }
        elem
    }

    /// Reports an index that is not an `int`.
    fn index(&mut self, op: &str, index: LocalId) {
        if let Some(ty) = self.local_ty(index)
            && *ty.non_null() != Type::Int
        {
            let message = format!("`{op}` needs an `int` index, got {}", self.val(index, ty));
            self.err(message);
        }
    }

    /// Checks one value per field, in order, each fitting its field.
    fn record(&mut self, op: &str, name: &str, fields: &'p [FieldDef], values: &[LocalId]) {
        if fields.len() != values.len() {
            let message = format!(
                "`{op} {name}` gives {}, but `{name}` has {}",
                count(values.len(), "value", "values"),
                count(fields.len(), "field", "fields")
            );
            self.err(message);
            return;
        }
        for (field, &value) in fields.iter().zip(values) {
            if let Some(ty) = self.local_ty(value)
                && !fits(ty, &field.ty)
            {
                let message = format!(
                    "`{op} {name}`: field `{}` is `{}`, but the value given, %{}, is `{}`",
                    field.name,
                    self.ty(&field.ty),
                    value.0,
                    self.ty(ty)
                );
                self.err(message);
            }
        }
    }

    /// The fields of the class or struct `object` holds, with the type's name.
    fn object_fields(&mut self, op: &str, object: LocalId) -> Option<(String, &'p [FieldDef])> {
        let p = self.program();
        let ty = self.local_ty(object)?;
        match ty.non_null() {
            // Unknown classes and structs are reported at the local's declaration.
            Type::Class(id) => p.classes.get(id.index()).map(|c| (c.name.clone(), c.fields.as_slice())),
            Type::Struct(id) => p.structs.get(id.index()).map(|s| (s.name.clone(), s.fields.as_slice())),
            _ => {
                let message =
                    format!("`{op}` on {}, which is neither a class nor a struct", self.val(object, ty));
                self.err(message);
                None
            }
        }
    }

    /// The field `field` of what `object` holds.
    fn field(&mut self, op: &str, object: LocalId, field: u32) -> Option<&'p FieldDef> {
        let (name, fields) = self.object_fields(op, object)?;
        let def = fields.get(field as usize);
        if def.is_none() {
            let message = format!(
                "`{op}` of field #{field} of `{name}`, which has {}",
                count(fields.len(), "field", "fields")
            );
            self.err(message);
        }
        def
    }

    /// The signature of what a `call` or `spawn` calls.
    fn signature(&mut self, op: &str, callee: &Callee) -> Option<Signature<'p>> {
        let p = self.program();
        match *callee {
            Callee::Function(id) => {
                let Some(f) = p.functions.get(id.index()) else {
                    let message = format!("`{op}` of {}", self.v.missing("function", id.0));
                    self.err(message);
                    return None;
                };
                let refusal = match f.kind {
                    FunctionKind::Closure { .. } => {
                        Some("which is a closure body; call the closure through a local that holds it")
                    }
                    FunctionKind::Drop { .. } => {
                        Some("which is a `drop` block; `drop` blocks are never called explicitly")
                    }
                    // The initialiser `global_init` names runs the others.
                    FunctionKind::GlobalInit if self.f.kind != FunctionKind::GlobalInit => Some(
                        "which is a global initialiser; only global initialisers call each other, before `main` runs",
                    ),
                    _ => None,
                };
                if let Some(refusal) = refusal {
                    let message = format!("`{op}` of `{}`, {refusal}", f.name);
                    self.err(message);
                    return None;
                }
                let params = f
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| {
                        let decl = f.locals.get(l.index());
                        let name = match decl.and_then(|d| d.name.as_deref()) {
                            Some(name) => format!("`{name}`"),
                            None => format!("#{i}"),
                        };
                        (name, decl.map(|d| &d.ty))
                    })
                    .collect();
                Some(Signature { name: format!("`{}`", f.name), params, ret: f.ret.as_ref() })
            }
            Callee::Extern(id) => {
                let Some(e) = p.externs.get(id.index()) else {
                    let message = format!("`{op}` of {}", self.v.missing("extern", id.0));
                    self.err(message);
                    return None;
                };
                Some(Signature {
                    name: format!("`{}`", e.name),
                    params: e
                        .params
                        .iter()
                        .map(|param| (format!("`{}`", param.name), Some(&param.ty)))
                        .collect(),
                    ret: e.ret.as_ref(),
                })
            }
            Callee::Closure(local) => {
                let ty = self.local_ty(local)?;
                let Type::Closure(sig) = ty.non_null() else {
                    let message = format!("`{op}` of {}, which is not a closure", self.val(local, ty));
                    self.err(message);
                    return None;
                };
                Some(Signature {
                    name: format!("the closure in %{}", local.0),
                    params: sig.params.iter().enumerate().map(|(i, t)| (format!("#{i}"), Some(t))).collect(),
                    ret: sig.ret.as_ref(),
                })
            }
        }
    }

    /// Checks a call's arguments against its callee; returns the callee's signature.
    fn call(&mut self, op: &str, callee: &Callee, args: &[LocalId]) -> Option<Signature<'p>> {
        let sig = self.signature(op, callee)?;
        if sig.params.len() != args.len() {
            let message = format!(
                "`{op}` passes {} to {}, which takes {}",
                count(args.len(), "argument", "arguments"),
                sig.name,
                sig.params.len()
            );
            self.err(message);
            return Some(sig);
        }
        for ((param, expected), &arg) in sig.params.iter().zip(args) {
            if let (Some(expected), Some(ty)) = (expected, self.local_ty(arg))
                && !fits(ty, expected)
            {
                let message = format!(
                    "`{op}` passes {} for parameter {param} of {}, which is `{}`",
                    self.val(arg, ty),
                    sig.name,
                    self.ty(expected)
                );
                self.err(message);
            }
        }
        Some(sig)
    }

    fn types(&mut self, kind: &'p InstKind) {
        use InstKind::*;
        let p = self.program();
        let op = kind.mnemonic();
        match kind {
            Const { dest, value } => {
                let Some(dest_ty) = self.local_ty(*dest) else {
                    return;
                };
                let (constant, text) = match value {
                    Constant::Int(v) => (Type::Int, v.to_string()),
                    Constant::Float(v) => (Type::Float, format!("{v:?}")),
                    Constant::Bool(v) => (Type::Bool, v.to_string()),
                    Constant::Str(v) => (Type::String, format!("{v:?}")),
                    Constant::Null => {
                        if !dest_ty.is_nullable() {
                            let message = format!(
                                "`const null` into %{} of type `{}`, which is not nullable (only a `T?` can hold `null`)",
                                dest.0,
                                self.ty(dest_ty)
                            );
                            self.err(message);
                        }
                        return;
                    }
                };
                if dest_ty.non_null() != &constant {
                    let message = format!(
                        "`const` puts the `{}` constant {text} into %{} of type `{}`",
                        self.ty(&constant),
                        dest.0,
                        self.ty(dest_ty)
                    );
                    self.err(message);
                }
            }
            Copy { dest, src } => {
                if let Some(ty) = self.local_ty(*src) {
                    self.result(op, ty, *dest);
                }
            }
            Unary { dest, op: u, operand, .. } => {
                let Some(ty) = self.local_ty(*operand) else {
                    return;
                };
                let t = ty.non_null();
                let ok = match u {
                    UnaryOp::Neg => matches!(t, Type::Int | Type::Float),
                    UnaryOp::Not => *t == Type::Bool,
                };
                if ok {
                    self.result(op, t, *dest);
                } else {
                    let needs = match u {
                        UnaryOp::Neg => "an `int` or a `float`",
                        UnaryOp::Not => "a `bool`",
                    };
                    let message = format!("`{op}` needs {needs}, got {}", self.val(*operand, ty));
                    self.err(message);
                }
            }
            Binary { dest, op: b, lhs, rhs } => {
                let (Some(l), Some(r)) = (self.local_ty(*lhs), self.local_ty(*rhs)) else {
                    return;
                };
                let (lt, rt) = (l.non_null(), r.non_null());
                let same = lt == rt;
                let (ok, needs, result) = match b {
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => (
                        same && matches!(lt, Type::Int | Type::Float),
                        "two `int`s or two `float`s",
                        lt.clone(),
                    ),
                    BinaryOp::Rem => (same && *lt == Type::Int, "two `int`s", Type::Int),
                    BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => (
                        same && matches!(lt, Type::Int | Type::Float | Type::String),
                        "two `int`s, two `float`s or two `string`s",
                        Type::Bool,
                    ),
                    BinaryOp::Eq | BinaryOp::Ne => (
                        same && !matches!(lt, Type::Struct(_)),
                        "two values of the same type (ignoring `?`) that is not a struct",
                        Type::Bool,
                    ),
                };
                if ok {
                    self.result(op, &result, *dest);
                } else {
                    let mut message =
                        format!("`{op}` needs {needs}, got {} and {}", self.val(*lhs, l), self.val(*rhs, r));
                    if *b == BinaryOp::Add && same && *lt == Type::String {
                        message.push_str(" (strings are joined with `concat`)");
                    }
                    self.err(message);
                }
            }
            IsNull { dest, value } => {
                self.nullable(op, *value);
                self.result(op, &Type::Bool, *dest);
            }
            NullCheck { value } => self.nullable(op, *value),
            NewObject { dest, class, fields } => {
                let Some(def) = p.classes.get(class.index()) else {
                    let message = format!("`{op}` of {}", self.v.missing("class", class.0));
                    self.err(message);
                    return;
                };
                self.record(op, &def.name, &def.fields, fields);
                self.result(op, &Type::Class(*class), *dest);
            }
            NewStruct { dest, strukt, fields } => {
                let Some(def) = p.structs.get(strukt.index()) else {
                    let message = format!("`{op}` of {}", self.v.missing("struct", strukt.0));
                    self.err(message);
                    return;
                };
                self.record(op, &def.name, &def.fields, fields);
                self.result(op, &Type::Struct(*strukt), *dest);
            }
            NewArray { dest, elem, elems } => {
                if let Some(problem) = self.v.type_problem(elem) {
                    let message = format!("`{op}` has element type `{}`, but {problem}", self.ty(elem));
                    self.err(message);
                    return;
                }
                for (i, &e) in elems.iter().enumerate() {
                    if let Some(ty) = self.local_ty(e)
                        && !fits(ty, elem)
                    {
                        let message = format!(
                            "`{op}`: element {i} is {}, but the array holds `{}`",
                            self.val(e, ty),
                            self.ty(elem)
                        );
                        self.err(message);
                    }
                }
                self.result(op, &Type::Array(Box::new(elem.clone())), *dest);
            }
            NewArrayRepeat { dest, elem, value, count } => {
                if let Some(problem) = self.v.type_problem(elem) {
                    let message = format!("`{op}` has element type `{}`, but {problem}", self.ty(elem));
                    self.err(message);
                    return;
                }
                if let Some(ty) = self.local_ty(*value)
                    && !fits(ty, elem)
                {
                    let message = format!(
                        "`{op}` repeats {}, but the array holds `{}`",
                        self.val(*value, ty),
                        self.ty(elem)
                    );
                    self.err(message);
                }
                if let Some(ty) = self.local_ty(*count)
                    && *ty.non_null() != Type::Int
                {
                    let message = format!("`{op}` needs an `int` count, got {}", self.val(*count, ty));
                    self.err(message);
                }
                self.result(op, &Type::Array(Box::new(elem.clone())), *dest);
            }
            Concat { dest, lhs, rhs } => {
                let (Some(l), Some(r)) = (self.local_ty(*lhs), self.local_ty(*rhs)) else {
                    return;
                };
                if *l.non_null() != Type::String || *r.non_null() != Type::String {
                    let message = format!(
                        "`{op}` needs two `string`s, got {} and {}",
                        self.val(*lhs, l),
                        self.val(*rhs, r)
                    );
                    self.err(message);
                } else {
                    self.result(op, &Type::String, *dest);
                }
            }
            ToString { dest, value } => {
                if let Some(ty) = self.local_ty(*value)
                    && !matches!(ty.non_null(), Type::Int | Type::Float | Type::Bool)
                {
                    let message =
                        format!("`{op}` needs an `int`, a `float` or a `bool`, got {}", self.val(*value, ty));
                    self.err(message);
                }
                self.result(op, &Type::String, *dest);
            }
            NewClosure { dest, function, captures } => self.new_closure(*dest, *function, captures),
            LoadField { dest, object, field } => {
                if let Some(def) = self.field(op, *object, *field) {
                    self.result(op, &def.ty, *dest);
                }
            }
            StoreField { object, field, value } => {
                if let Some(def) = self.field(op, *object, *field)
                    && let Some(ty) = self.local_ty(*value)
                    && !fits(ty, &def.ty)
                {
                    let message = format!(
                        "`{op}` stores {} into field `{}`, which is `{}`",
                        self.val(*value, ty),
                        def.name,
                        self.ty(&def.ty)
                    );
                    self.err(message);
                }
            }
            LoadElem { dest, array, index } => {
                let elem = self.array(op, *array);
                self.index(op, *index);
                if let Some(elem) = elem {
                    self.result(op, elem, *dest);
                }
            }
            StoreElem { array, index, value } => {
                let elem = self.array(op, *array);
                self.index(op, *index);
                self.element(op, elem, *value);
            }
            Push { array, value } => {
                let elem = self.array(op, *array);
                self.element(op, elem, *value);
            }
            Pop { dest, array } => {
                if let Some(elem) = self.array(op, *array) {
                    self.result(op, elem, *dest);
                }
            }
            Len { dest, value } => {
                if let Some(ty) = self.local_ty(*value)
                    && ty.array_elem().is_none()
                    && *ty.non_null() != Type::String
                {
                    let message =
                        format!("`{op}` needs an array or a `string`, got {}", self.val(*value, ty));
                    self.err(message);
                }
                self.result(op, &Type::Int, *dest);
            }
            LoadGlobal { dest, global } => match p.globals.get(global.index()) {
                Some(def) => self.result(op, &def.ty, *dest),
                None => {
                    let message = format!("`{op}` of {}", self.v.missing("global", global.0));
                    self.err(message);
                }
            },
            StoreGlobal { global, value } => match p.globals.get(global.index()) {
                Some(def) => {
                    if let Some(ty) = self.local_ty(*value)
                        && !fits(ty, &def.ty)
                    {
                        let message = format!(
                            "`{op}` stores {} into global `{}`, which is `{}`",
                            self.val(*value, ty),
                            def.name,
                            self.ty(&def.ty)
                        );
                        self.err(message);
                    }
                }
                None => {
                    let message = format!("`{op}` of {}", self.v.missing("global", global.0));
                    self.err(message);
                }
            },
            Call { dest, callee, args } => {
                let Some(sig) = self.call(op, callee, args) else {
                    return;
                };
                if let Some(dest) = dest {
                    match sig.ret {
                        Some(ret) => self.result(op, ret, *dest),
                        None => {
                            let message = format!(
                                "`{op}` puts the result of {} into %{}, but {} returns no value",
                                sig.name, dest.0, sig.name
                            );
                            self.err(message);
                        }
                    }
                }
            }
            Spawn { callee, args } => {
                self.call(op, callee, args);
            }
            Print { value } => {
                if let Some(ty) = self.local_ty(*value)
                    && !matches!(ty.non_null(), Type::Int | Type::Float | Type::Bool | Type::String)
                {
                    let message = format!(
                        "`{op}` needs an `int`, a `float`, a `bool` or a `string`, got {}",
                        self.val(*value, ty)
                    );
                    self.err(message);
                }
            }
            Free { value } => {
                if let Some(ty) = self.local_ty(*value)
                    && !ty.is_reference()
                {
                    let message = format!(
                        "`{op}` needs a reference (a string, array, object or closure), got {}",
                        self.val(*value, ty)
                    );
                    self.err(message);
                }
            }
            ScopeEnter { .. } => {}
            ScopeExit { scope } => {
                if !self.entered.contains(scope) {
                    let message = format!(
                        "`{op}` of s{}, but no `scope_enter` of the function opens s{}",
                        scope.0, scope.0
                    );
                    self.err(message);
                }
            }
            Jump { target } => self.target(op, *target),
            Branch { cond, then_block, else_block } => {
                if let Some(ty) = self.local_ty(*cond)
                    && *ty.non_null() != Type::Bool
                {
                    let message = format!("`{op}` needs a `bool` condition, got {}", self.val(*cond, ty));
                    self.err(message);
                }
                self.target(op, *then_block);
                self.target(op, *else_block);
            }
            Return { value } => match (value, &self.f.ret) {
                (None, None) => {}
                (None, Some(ret)) => {
                    let message =
                        format!("`{op}` without a value, but `{}` returns `{}`", self.f.name, self.ty(ret));
                    self.err(message);
                }
                (Some(value), None) => {
                    let message =
                        format!("`{op}` of a value (%{}), but `{}` returns no value", value.0, self.f.name);
                    self.err(message);
                }
                (Some(value), Some(ret)) => {
                    if let Some(ty) = self.local_ty(*value)
                        && !fits(ty, ret)
                    {
                        let message = format!(
                            "`{op}` of {}, but `{}` returns `{}`",
                            self.val(*value, ty),
                            self.f.name,
                            self.ty(ret)
                        );
                        self.err(message);
                    }
                }
            },
            Unreachable => {}
        }
    }

    /// Reports a `is_null` / `null_check` of a value that cannot be `null`.
    fn nullable(&mut self, op: &str, value: LocalId) {
        if let Some(ty) = self.local_ty(value)
            && !ty.is_nullable()
        {
            let message =
                format!("`{op}` of {}, which is not nullable and so is never `null`", self.val(value, ty));
            self.err(message);
        }
    }

    /// Reports a value written into an array that does not fit its element type.
    fn element(&mut self, op: &str, elem: Option<&Type>, value: LocalId) {
        if let Some(elem) = elem
            && let Some(ty) = self.local_ty(value)
            && !fits(ty, elem)
        {
            let message =
                format!("`{op}` writes {} into an array of `{}`", self.val(value, ty), self.ty(elem));
            self.err(message);
        }
    }

    /// Reports a jump target that does not exist.
    fn target(&mut self, op: &str, target: BlockId) {
        if target.index() >= self.f.blocks.len() {
            let message = format!(
                "`{op}` to b{}, which does not exist (the function has {})",
                target.0,
                count(self.f.blocks.len(), "block", "blocks")
            );
            self.err(message);
        }
    }

    fn new_closure(&mut self, dest: LocalId, function: FunctionId, captures: &[LocalId]) {
        let p = self.program();
        let op = "new_closure";
        let Some(body) = p.functions.get(function.index()) else {
            let message = format!("`{op}` of {}", self.v.missing("function", function.0));
            self.err(message);
            return;
        };
        let FunctionKind::Closure { parent } = body.kind else {
            let message = format!(
                "`{op}` of `{}`, which is {}, not a closure body",
                body.name,
                kind_desc(p, &body.kind)
            );
            self.err(message);
            return;
        };
        if parent != self.id {
            let message = format!(
                "`{op}` of `{}`, which is a closure body in `{}`, not in `{}`",
                body.name,
                function_name(p, parent),
                self.f.name
            );
            self.err(message);
        }
        if body.captures.len() != captures.len() {
            let message = format!(
                "`{op}` gives {} to `{}`, which takes {}",
                count(captures.len(), "capture", "captures"),
                body.name,
                body.captures.len()
            );
            self.err(message);
        } else {
            for (i, (&given, &receiver)) in captures.iter().zip(&body.captures).enumerate() {
                let Some(expected) = body.locals.get(receiver.index()).map(|l| &l.ty) else {
                    continue;
                };
                if let Some(ty) = self.local_ty(given)
                    && !fits(ty, expected)
                {
                    let message = format!(
                        "`{op}`: capture {i} is {}, but `{}` receives it in %{} of type `{}`",
                        self.val(given, ty),
                        body.name,
                        receiver.0,
                        self.ty(expected)
                    );
                    self.err(message);
                }
            }
        }
        let params: Option<Vec<Type>> =
            body.params.iter().map(|l| body.locals.get(l.index()).map(|d| d.ty.clone())).collect();
        if let Some(params) = params {
            let ty = Type::Closure(Box::new(crate::FnType { params, ret: body.ret.clone() }));
            self.result(op, &ty, dest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(0, "class", "classes"), "no classes");
        assert_eq!(count(1, "class", "classes"), "1 class");
        assert_eq!(count(3, "class", "classes"), "3 classes");
    }

    #[test]
    fn fitting_ignores_one_level_of_nullability() {
        let node = Type::Class(ClassId(0));
        let maybe = Type::Nullable(Box::new(node.clone()));
        assert!(fits(&node, &maybe) && fits(&maybe, &node) && fits(&maybe, &maybe));
        let arr = Type::Array(Box::new(node.clone()));
        let arr_maybe = Type::Array(Box::new(maybe));
        assert!(!fits(&arr, &arr_maybe));
        assert!(!fits(&Type::Int, &Type::Float));
    }
}
