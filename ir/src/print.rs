//! The text form of a program, for people and for golden tests.
//!
//! [`print_program`] (also `Display for Program`) writes every definition and every
//! function in a stable, line-oriented format: the same program always prints the same
//! bytes, with no trailing whitespace. Types are written as the source language writes
//! them (`int`, `[Node]`, `Node?`, `fn(int) -> int`, `(fn() -> int)?`), classes and structs
//! by name. The printer never panics: ids that point nowhere print as `class#7`, `%12`,
//! `fn#3` and so on, so it can show IR that failed validation.
//!
//! ```
//! # use custody_ir::{FunctionKind, ProgramBuilder, Span, Type, print_program};
//! # let mut b = ProgramBuilder::new();
//! # let node = b.declare_class("Node");
//! # b.add_class_field(node, "value", Type::String);
//! # b.add_class_field(node, "next", Type::Class(node).nullable());
//! # let make = b.declare_function("make", FunctionKind::Plain);
//! # let mut f = b.function(make);
//! # f.returns(Type::Class(node));
//! # let v = f.param("v", Type::String, None);
//! # let n = f.local("n", Type::Class(node));
//! # let t = f.temp(Type::Class(node).nullable());
//! # f.set_span(Span::new(40, 95));
//! # let s = f.scope_enter(&[n]);
//! # f.set_span(Span::new(60, 64)).const_null(t);
//! # f.set_span(Span::new(45, 70)).new_object(n, node, &[v, t]);
//! # f.clear_span().scope_exit(s).ret(n);
//! # let program = b.finish();
//! assert_eq!(
//!     print_program(&program),
//!     "\
//! class Node { value: string, next: Node? }
//!
//! fn make(%0 v: string) -> Node {
//!     %0 v: string  param
//!     %1 n: Node    let
//!     %2: Node?     temp
//! b0:
//!     scope_enter s0 [%1]                 @40..95
//!     %2 = const null                     @60..64
//!     %1 = new_object Node { value: %0, next: %2 }  @45..70
//!     scope_exit s0
//!     return %1
//! }
//! "
//! );
//! ```
//!
//! The layout, item by item:
//!
//! - definitions first, one line each: `class Name { field: T, ... }` (followed by
//!   `drop: Name.drop` and `methods: Name.m, ...` when it has them), `struct Name { ... }`,
//!   `global name: T`, `extern fn name(borrow p: T) -> R`; then `main: fn main` and
//!   `global_init: fn init` when the program names them;
//! - each function: a header `@arena @manual fn name(%0 borrow p: T) -> R` followed by its
//!   kind when it is not a plain function (`method of Node`, `drop of Node`,
//!   `closure in main`, `global init`) and a closure body's captured locals
//!   (`captures [%0 n]`); then one line per local (`%1 n: Node  let`, with `param own` /
//!   `param borrow` for declared modes); then each block `b0:` with one instruction per
//!   line;
//! - spans appear as `@start..end` at the end of a line when they are not empty.

use crate::{
    BinaryOp, Callee, ClassId, Constant, ExternId, Function, FunctionId, FunctionKind, GlobalId, Inst,
    InstKind, LocalId, LocalKind, Mode, Program, Span, StructId, Type, UnaryOp,
};
use std::fmt::{self, Write as _};

/// The column at which instruction spans start (when the instruction is shorter).
const SPAN_COLUMN: usize = 40;

/// Prints the whole program in custody's IR text format (see the [module docs](self)).
pub fn print_program(program: &Program) -> String {
    let mut out = String::new();
    let p = Printer { program };
    p.definitions(&mut out);
    for function in &program.functions {
        if !out.is_empty() {
            out.push('\n');
        }
        p.function(&mut out, function);
    }
    out
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_program(self))
    }
}

/// Prints one function (its header, locals and blocks) as [`print_program`] would.
pub fn print_function(program: &Program, function: &Function) -> String {
    let mut out = String::new();
    Printer { program }.function(&mut out, function);
    out
}

/// Prints one instruction (without its span) as [`print_program`] would, e.g.
/// `%1 = new_object Node { value: %0, next: %2 }`.
pub fn print_inst(program: &Program, function: &Function, inst: &Inst) -> String {
    Printer { program }.inst(function, &inst.kind)
}

/// A type written as the source language writes it; see [`Type::display`].
#[derive(Debug, Clone, Copy)]
pub struct TypeDisplay<'a> {
    ty: &'a Type,
    program: &'a Program,
}

impl Type {
    /// This type as the source language writes it (`[Node?]`, `fn(int) -> string`), with
    /// classes and structs named from `program` (an unknown id prints as `class#7`).
    pub fn display<'a>(&'a self, program: &'a Program) -> TypeDisplay<'a> {
        TypeDisplay { ty: self, program }
    }
}

impl fmt::Display for TypeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = self.program;
        match self.ty {
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Bool => f.write_str("bool"),
            Type::String => f.write_str("string"),
            Type::Array(elem) => write!(f, "[{}]", elem.display(program)),
            Type::Nullable(inner) => match **inner {
                // `fn() -> int?` is a closure returning `int?`: parenthesise.
                Type::Closure(_) => write!(f, "({})?", inner.display(program)),
                _ => write!(f, "{}?", inner.display(program)),
            },
            Type::Struct(id) => f.write_str(&struct_name(program, *id)),
            Type::Class(id) => f.write_str(&class_name(program, *id)),
            Type::Closure(sig) => {
                f.write_str("fn(")?;
                for (i, param) in sig.params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", param.display(program))?;
                }
                f.write_str(")")?;
                if let Some(ret) = &sig.ret {
                    write!(f, " -> {}", ret.display(program))?;
                }
                Ok(())
            }
        }
    }
}

impl InstKind {
    /// The instruction's name in the text format and in messages: `const`, `new_object`,
    /// `call`, ...; for `unary` and `binary`, the operator's (`neg`, `add`, `lt`, ...).
    pub fn mnemonic(&self) -> &'static str {
        use InstKind::*;
        match self {
            Const { .. } => "const",
            Copy { .. } => "copy",
            Unary { op, .. } => op.mnemonic(),
            Binary { op, .. } => op.mnemonic(),
            IsNull { .. } => "is_null",
            NullCheck { .. } => "null_check",
            NewObject { .. } => "new_object",
            NewArray { .. } => "new_array",
            NewArrayRepeat { .. } => "new_array_repeat",
            Concat { .. } => "concat",
            ToString { .. } => "to_string",
            NewClosure { .. } => "new_closure",
            NewStruct { .. } => "new_struct",
            LoadField { .. } => "load_field",
            StoreField { .. } => "store_field",
            LoadElem { .. } => "load_elem",
            StoreElem { .. } => "store_elem",
            Push { .. } => "push",
            Pop { .. } => "pop",
            Len { .. } => "len",
            LoadGlobal { .. } => "load_global",
            StoreGlobal { .. } => "store_global",
            Call { .. } => "call",
            Spawn { .. } => "spawn",
            Print { .. } => "print",
            Free { .. } => "free",
            ScopeEnter { .. } => "scope_enter",
            ScopeExit { .. } => "scope_exit",
            Jump { .. } => "jump",
            Branch { .. } => "branch",
            Return { .. } => "return",
            Unreachable => "unreachable",
        }
    }
}

impl UnaryOp {
    /// `neg` or `not`.
    pub fn mnemonic(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Not => "not",
        }
    }
}

impl BinaryOp {
    /// `add`, `sub`, `mul`, `div`, `rem`, `eq`, `ne`, `lt`, `le`, `gt` or `ge`.
    pub fn mnemonic(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Rem => "rem",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
        }
    }
}

impl LocalKind {
    /// `param`, `let`, `loop_var`, `capture` or `temp`.
    pub fn mnemonic(self) -> &'static str {
        match self {
            LocalKind::Param => "param",
            LocalKind::Let => "let",
            LocalKind::LoopVar => "loop_var",
            LocalKind::Capture => "capture",
            LocalKind::Temp => "temp",
        }
    }
}

impl Mode {
    /// `own` or `borrow`, as the source writes it.
    pub fn keyword(self) -> &'static str {
        match self {
            Mode::Own => "own",
            Mode::Borrow => "borrow",
        }
    }
}

/// The name of a class, or `class#N` when there is no such class.
pub(crate) fn class_name(program: &Program, id: ClassId) -> String {
    match program.classes.get(id.index()) {
        Some(class) => class.name.clone(),
        None => format!("class#{}", id.0),
    }
}

/// The name of a struct, or `struct#N`.
pub(crate) fn struct_name(program: &Program, id: StructId) -> String {
    match program.structs.get(id.index()) {
        Some(s) => s.name.clone(),
        None => format!("struct#{}", id.0),
    }
}

/// The name of a function, or `fn#N`.
pub(crate) fn function_name(program: &Program, id: FunctionId) -> String {
    match program.functions.get(id.index()) {
        Some(f) => f.name.clone(),
        None => format!("fn#{}", id.0),
    }
}

/// The name of an extern, or `extern#N`.
pub(crate) fn extern_name(program: &Program, id: ExternId) -> String {
    match program.externs.get(id.index()) {
        Some(e) => e.name.clone(),
        None => format!("extern#{}", id.0),
    }
}

/// The name of a global, or `global#N`.
pub(crate) fn global_name(program: &Program, id: GlobalId) -> String {
    match program.globals.get(id.index()) {
        Some(g) => g.name.clone(),
        None => format!("global#{}", id.0),
    }
}

/// The name of field `field` of a value of type `ty` (a class or struct, possibly
/// nullable), or `#N` when there is no such field.
pub(crate) fn field_name(program: &Program, ty: Option<&Type>, field: u32) -> String {
    let fields = match ty.map(Type::non_null) {
        Some(Type::Class(id)) => program.classes.get(id.index()).map(|c| &c.fields),
        Some(Type::Struct(id)) => program.structs.get(id.index()).map(|s| &s.fields),
        _ => None,
    };
    match fields.and_then(|fields| fields.get(field as usize)) {
        Some(f) => f.name.clone(),
        None => format!("#{field}"),
    }
}

/// `line`, followed by `  @start..end` when `span` is not empty, padded so that spans of
/// consecutive lines line up.
fn with_span(line: &str, span: Span, column: usize) -> String {
    if span.is_empty() {
        return line.to_string();
    }
    let width = line.chars().count();
    if width + 2 <= column {
        format!("{line}{:pad$}@{span}", "", pad = column - width)
    } else {
        format!("{line}  @{span}")
    }
}

fn locals_list(ids: &[LocalId]) -> String {
    let items: Vec<String> = ids.iter().map(|l| format!("%{}", l.0)).collect();
    format!("[{}]", items.join(", "))
}

struct Printer<'p> {
    program: &'p Program,
}

impl Printer<'_> {
    fn ty(&self, ty: &Type) -> String {
        ty.display(self.program).to_string()
    }

    fn fields(&self, fields: &[crate::FieldDef]) -> String {
        if fields.is_empty() {
            return "{}".to_string();
        }
        let items: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.name, self.ty(&f.ty))).collect();
        format!("{{ {} }}", items.join(", "))
    }

    fn definitions(&self, out: &mut String) {
        let program = self.program;
        let mut lines = Vec::new();
        for class in &program.classes {
            let mut line = format!("class {} {}", class.name, self.fields(&class.fields));
            if let Some(drop) = class.drop {
                let _ = write!(line, "  drop: {}", function_name(program, drop));
            }
            if !class.methods.is_empty() {
                let names: Vec<String> = class.methods.iter().map(|m| function_name(program, *m)).collect();
                let _ = write!(line, "  methods: {}", names.join(", "));
            }
            lines.push((line, class.span));
        }
        for s in &program.structs {
            let line = format!("struct {} {}", s.name, self.fields(&s.fields));
            lines.push((line, s.span));
        }
        for global in &program.globals {
            let line = format!("global {}: {}", global.name, self.ty(&global.ty));
            lines.push((line, global.span));
        }
        for ext in &program.externs {
            let params: Vec<String> = ext
                .params
                .iter()
                .map(|p| {
                    let mode = p.mode.map(|m| format!("{} ", m.keyword())).unwrap_or_default();
                    format!("{mode}{}: {}", p.name, self.ty(&p.ty))
                })
                .collect();
            let mut line = format!("extern fn {}({})", ext.name, params.join(", "));
            if let Some(ret) = &ext.ret {
                let _ = write!(line, " -> {}", self.ty(ret));
            }
            lines.push((line, ext.span));
        }
        for (line, span) in lines {
            out.push_str(&with_span(&line, span, 0));
            out.push('\n');
        }
        let mut entries = Vec::new();
        if let Some(main) = program.main {
            entries.push(format!("main: fn {}", function_name(program, main)));
        }
        if let Some(init) = program.global_init {
            entries.push(format!("global_init: fn {}", function_name(program, init)));
        }
        if !entries.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            for entry in entries {
                out.push_str(&entry);
                out.push('\n');
            }
        }
    }

    fn local_name(&self, function: &Function, id: LocalId) -> String {
        match function.locals.get(id.index()).and_then(|l| l.name.as_deref()) {
            Some(name) => format!("%{} {name}", id.0),
            None => format!("%{}", id.0),
        }
    }

    fn function(&self, out: &mut String, function: &Function) {
        let program = self.program;
        // Header.
        let mut header = String::new();
        if function.arena {
            header.push_str("@arena ");
        }
        if function.manual {
            header.push_str("@manual ");
        }
        let params: Vec<String> = function
            .params
            .iter()
            .map(|&p| match function.locals.get(p.index()) {
                Some(decl) => {
                    let mode = decl.mode.map(|m| format!("{} ", m.keyword())).unwrap_or_default();
                    format!("{mode}{}: {}", self.local_name(function, p), self.ty(&decl.ty))
                }
                None => format!("%{}", p.0),
            })
            .collect();
        let _ = write!(header, "fn {}({})", function.name, params.join(", "));
        if let Some(ret) = &function.ret {
            let _ = write!(header, " -> {}", self.ty(ret));
        }
        match &function.kind {
            FunctionKind::Plain => {}
            FunctionKind::Method { class } => {
                let _ = write!(header, "  method of {}", class_name(program, *class));
            }
            FunctionKind::Drop { class } => {
                let _ = write!(header, "  drop of {}", class_name(program, *class));
            }
            FunctionKind::Closure { parent } => {
                let _ = write!(header, "  closure in {}", function_name(program, *parent));
            }
            FunctionKind::GlobalInit => header.push_str("  global init"),
        }
        if !function.captures.is_empty() {
            let names: Vec<String> =
                function.captures.iter().map(|&c| self.local_name(function, c)).collect();
            let _ = write!(header, "  captures [{}]", names.join(", "));
        }
        if !function.span.is_empty() {
            let _ = write!(header, "  @{}", function.span);
        }
        header.push_str(" {\n");
        out.push_str(&header);

        // Locals, as an aligned table: declaration, kind (and mode), span.
        let rows: Vec<(String, String, Span)> = function
            .locals
            .iter()
            .enumerate()
            .map(|(i, decl)| {
                let id = LocalId::from(i);
                let decl_text = format!("{}: {}", self.local_name(function, id), self.ty(&decl.ty));
                let mut kind = decl.kind.mnemonic().to_string();
                if let Some(mode) = decl.mode {
                    let _ = write!(kind, " {}", mode.keyword());
                }
                (decl_text, kind, decl.span)
            })
            .collect();
        let decl_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let kind_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        for (decl_text, kind, span) in rows {
            let pad = decl_width - decl_text.chars().count();
            let mut line = format!("    {decl_text}{:pad$}  {kind}", "");
            if !span.is_empty() {
                let pad = kind_width - kind.chars().count();
                let _ = write!(line, "{:pad$}  @{span}", "");
            }
            out.push_str(&line);
            out.push('\n');
        }

        // Blocks.
        for (b, block) in function.blocks.iter().enumerate() {
            let _ = writeln!(out, "b{b}:");
            for inst in &block.insts {
                let line = format!("    {}", self.inst(function, &inst.kind));
                out.push_str(&with_span(&line, inst.span, SPAN_COLUMN));
                out.push('\n');
            }
        }
        out.push_str("}\n");
    }

    fn inst(&self, function: &Function, kind: &InstKind) -> String {
        use InstKind::*;
        let program = self.program;
        let l = |id: &LocalId| format!("%{}", id.0);
        let list = |ids: &[LocalId]| ids.iter().map(|id| format!("%{}", id.0)).collect::<Vec<_>>().join(", ");
        let local_ty = |id: &LocalId| function.locals.get(id.index()).map(|d| &d.ty);
        let record = |fields: Option<&Vec<crate::FieldDef>>, values: &[LocalId]| {
            if values.is_empty() {
                return "{}".to_string();
            }
            let items: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| match fields.and_then(|fields| fields.get(i)) {
                    Some(field) => format!("{}: %{}", field.name, v.0),
                    None => format!("#{i}: %{}", v.0),
                })
                .collect();
            format!("{{ {} }}", items.join(", "))
        };
        let callee = |callee: &Callee| match callee {
            Callee::Function(f) => function_name(program, *f),
            Callee::Extern(e) => format!("extern {}", extern_name(program, *e)),
            Callee::Closure(local) => format!("%{}", local.0),
        };
        let name = kind.mnemonic();
        match kind {
            Const { dest, value } => {
                let value = match value {
                    Constant::Int(v) => v.to_string(),
                    Constant::Float(v) => format!("{v:?}"),
                    Constant::Bool(v) => v.to_string(),
                    Constant::Str(s) => format!("{s:?}"),
                    Constant::Null => "null".to_string(),
                };
                format!("{} = const {value}", l(dest))
            }
            Copy { dest, src } => format!("{} = copy {}", l(dest), l(src)),
            Unary { dest, operand, .. } => format!("{} = {name} {}", l(dest), l(operand)),
            Binary { dest, lhs, rhs, .. } => {
                format!("{} = {name} {}, {}", l(dest), l(lhs), l(rhs))
            }
            IsNull { dest, value } => format!("{} = is_null {}", l(dest), l(value)),
            NullCheck { value } => format!("null_check {}", l(value)),
            NewObject { dest, class, fields } => {
                let defs = program.classes.get(class.index()).map(|c| &c.fields);
                format!("{} = new_object {} {}", l(dest), class_name(program, *class), record(defs, fields))
            }
            NewStruct { dest, strukt, fields } => {
                let defs = program.structs.get(strukt.index()).map(|s| &s.fields);
                format!("{} = new_struct {} {}", l(dest), struct_name(program, *strukt), record(defs, fields))
            }
            NewArray { dest, elem, elems } => {
                format!("{} = new_array {} [{}]", l(dest), self.ty(elem), list(elems))
            }
            NewArrayRepeat { dest, elem, value, count } => {
                format!("{} = new_array_repeat {} [{}; {}]", l(dest), self.ty(elem), l(value), l(count))
            }
            Concat { dest, lhs, rhs } => format!("{} = concat {}, {}", l(dest), l(lhs), l(rhs)),
            ToString { dest, value } => format!("{} = to_string {}", l(dest), l(value)),
            NewClosure { dest, function: body, captures } => format!(
                "{} = new_closure {} {}",
                l(dest),
                function_name(program, *body),
                locals_list(captures)
            ),
            LoadField { dest, object, field } => format!(
                "{} = load_field {}.{}",
                l(dest),
                l(object),
                field_name(program, local_ty(object), *field)
            ),
            StoreField { object, field, value } => format!(
                "store_field {}.{} = {}",
                l(object),
                field_name(program, local_ty(object), *field),
                l(value)
            ),
            LoadElem { dest, array, index } => {
                format!("{} = load_elem {}[{}]", l(dest), l(array), l(index))
            }
            StoreElem { array, index, value } => {
                format!("store_elem {}[{}] = {}", l(array), l(index), l(value))
            }
            Push { array, value } => format!("push {}, {}", l(array), l(value)),
            Pop { dest, array } => format!("{} = pop {}", l(dest), l(array)),
            Len { dest, value } => format!("{} = len {}", l(dest), l(value)),
            LoadGlobal { dest, global } => {
                format!("{} = load_global {}", l(dest), global_name(program, *global))
            }
            StoreGlobal { global, value } => {
                format!("store_global {} = {}", global_name(program, *global), l(value))
            }
            Call { dest, callee: c, args } => {
                let call = format!("call {}({})", callee(c), list(args));
                match dest {
                    Some(dest) => format!("{} = {call}", l(dest)),
                    None => call,
                }
            }
            Spawn { callee: c, args } => format!("spawn {}({})", callee(c), list(args)),
            Print { value } => format!("print {}", l(value)),
            Free { value } => format!("free {}", l(value)),
            ScopeEnter { scope, arena, locals } => {
                let arena = if *arena { " arena" } else { "" };
                format!("scope_enter s{}{arena} {}", scope.0, locals_list(locals))
            }
            ScopeExit { scope } => format!("scope_exit s{}", scope.0),
            Jump { target } => format!("jump b{}", target.0),
            Branch { cond, then_block, else_block } => {
                format!("branch {}, b{}, b{}", l(cond), then_block.0, else_block.0)
            }
            Return { value: Some(value) } => format!("return {}", l(value)),
            Return { value: None } => "return".to_string(),
            Unreachable => "unreachable".to_string(),
        }
    }
}
