//! Lowering: one checked body to IR functions.
//!
//! A body becomes one [`ir::Function`] plus one per closure literal in it. The lowering is
//! position-independent (spans relative to the body) and refers to other functions by
//! their place in the item scope's body list, so it is reused across edits elsewhere;
//! [`crate::program`] assembles the program, numbers the closures and shifts the spans.
//!
//! Shapes worth knowing:
//! - Every lexical scope is bracketed by `scope_enter` (listing the locals it declares) and
//!   `scope_exit`; `return`, `break` and `continue` exit every scope they leave, innermost
//!   first, before jumping. A function's parameters form the outermost scope, so they are
//!   released after its locals.
//! - `&&` and `||` are branches; `x == null` is `is_null`.
//! - A value used where its nullable type must be non-null gets a `null_check` first.
//! - Writes go through places: `a.b[i] = v` loads `a.b`, stores into the element, and
//!   stores the array back (copy-on-write makes that correct for shared arrays); a struct
//!   held by a local is written in place.
//! - `for x in xs` iterates over a copy of the reference taken when the loop starts, so
//!   writes to `xs` in the body do not change which elements it visits.
//! - A returned named local is copied into a temporary before the scopes are exited, so
//!   the exits may release the local.
//! - Plans release a variable's old value just before the instruction that writes it, so
//!   that instruction never runs code or reads what a destructor could change: `b = f(b)`,
//!   `b = make()` and `b = o.f` compute into a temporary and copy it into `b`; `b = c`,
//!   literals and allocations write `b` directly.

use super::infer::{Builtin, InferenceResult, LocalIdx, NodePtr, Resolution, infer_body};
use super::item_tree::{Body, BodyPath, body_source};
use super::scope::{BodyOwner, ItemScope, item_scope};
use super::ty::Ty;
use crate::plan::holds_references;
use custody_ir as ir;
use custody_ir::{BlockId, Callee, Constant, FunctionId, Inst, InstKind, LocalId, ScopeId, Span};
use custody_syntax::ast::{self, AstNode};
use custody_syntax::{SyntaxNode, TextRange};
use std::collections::HashMap;

/// Closure bodies refer to their enclosing function with this parent id until the program
/// is assembled; closure `k` of a body is referred to as `FunctionId(k)` likewise.
pub const BODY_PLACEHOLDER: FunctionId = FunctionId(u32::MAX);

/// A lowered body: its function and the functions of its closures (closure `k` at index
/// `k`). Closure references inside are body-local until [`crate::program`] relocates them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoweredBody {
    /// The body's function.
    pub function: Option<ir::Function>,
    /// Its closures, by number.
    pub closures: Vec<ir::Function>,
}

/// Lowers one body. Re-runs only when the body's own text, its types, or a signature it
/// depends on changes.
#[salsa::tracked(returns(ref), no_eq)]
pub fn lower_body<'db>(db: &'db dyn salsa::Database, body: Body<'db>) -> LoweredBody {
    let scope = item_scope(db, *body.file(db));
    let Some(green) = body_source(db, body).clone() else {
        return LoweredBody::default();
    };
    let infer = infer_body(db, body);
    let root = SyntaxNode::new_root(green);
    let owner = scope.body_id(body.path(db), *body.index(db)).and_then(|b| scope.body_owners.get(b as usize));
    lower(scope, infer, body.path(db), owner.copied(), &root)
}

/// Lowers a body's node.
pub fn lower(
    scope: &ItemScope,
    infer: &InferenceResult,
    path: &BodyPath,
    owner: Option<BodyOwner>,
    root: &SyntaxNode,
) -> LoweredBody {
    let class_id = match owner {
        Some(BodyOwner::Method(c, _) | BodyOwner::Drop(c)) => ir::ClassId(c.0),
        _ => ir::ClassId(0),
    };
    let name = path.display_name();
    let mut closures: Vec<Option<ir::Function>> = Vec::new();
    let function = match path {
        BodyPath::Fn(_) | BodyPath::Method(..) => ast::FnItem::cast(root.clone()).map(|f| {
            let attrs: Vec<String> = f.attrs().filter_map(|a| a.name()).map(|n| n.text()).collect();
            let kind = match path {
                BodyPath::Method(..) => ir::FunctionKind::Method { class: class_id },
                _ => ir::FunctionKind::Plain,
            };
            let mut cx =
                FnLower::new(scope, infer, &mut closures, name.clone(), kind, infer.ret.as_ref(), range(&f));
            cx.func.arena = attrs.iter().any(|a| a == "arena");
            cx.func.manual = attrs.iter().any(|a| a == "manual");
            let params: Vec<LocalIdx> = infer.params.clone();
            cx.lower_fn_body(&params, f.body(), None);
            cx.finish()
        }),
        BodyPath::Drop(_) => ast::DropBlock::cast(root.clone()).map(|d| {
            let kind = ir::FunctionKind::Drop { class: class_id };
            let mut cx = FnLower::new(scope, infer, &mut closures, name.clone(), kind, None, range(&d));
            let params: Vec<LocalIdx> = infer.params.clone();
            cx.lower_fn_body(&params, d.body(), None);
            cx.finish()
        }),
        BodyPath::GlobalInit(_) => ast::GlobalItem::cast(root.clone()).map(|g| {
            let mut cx = FnLower::new(
                scope,
                infer,
                &mut closures,
                name.clone(),
                ir::FunctionKind::GlobalInit,
                None,
                range(&g),
            );
            let index = match owner {
                Some(BodyOwner::Global(g)) => g as usize,
                _ => 0,
            };
            cx.enter_scope(range(&g), false);
            // The initialiser is a statement: its temporaries end with it.
            cx.stmt_frames.push(StmtFrame {
                start: (cx.current, 1),
                depth: cx.scopes.len(),
                scoped: false,
                range: range(&g),
            });
            if let Some(init) = g.init() {
                let want = scope.globals.get(index).map_or(Ty::Unknown, |x| x.ty.clone());
                let value = cx.expr_as(&init, &want, None);
                cx.emit(InstKind::StoreGlobal { global: ir::GlobalId(index as u32), value }, range(&g));
            }
            if cx.stmt_frames.pop().is_some_and(|f| f.scoped) {
                cx.exit_scope(range(&g));
            }
            cx.exit_all_scopes(range(&g));
            cx.emit(InstKind::Return { value: None }, range(&g));
            cx.finish()
        }),
    };
    LoweredBody {
        function,
        closures: closures.into_iter().map(|c| c.unwrap_or_else(empty_function)).collect(),
    }
}

fn empty_function() -> ir::Function {
    ir::Function {
        name: String::new(),
        kind: ir::FunctionKind::Plain,
        arena: false,
        manual: false,
        params: vec![],
        captures: vec![],
        ret: None,
        locals: vec![],
        blocks: vec![ir::Block { insts: vec![Inst { kind: InstKind::Unreachable, span: Span::NONE }] }],
        span: Span::NONE,
    }
}

fn range(node: &impl AstNode<Language = custody_syntax::CustodyLanguage>) -> TextRange {
    node.syntax().text_range()
}

fn span(range: TextRange) -> Span {
    Span::new(range.start().into(), range.end().into())
}

/// A semantic type as an IR type. Only well-typed bodies are lowered; the types that
/// exist only during checking never reach here, and map to `int` if they do.
pub fn ir_type(ty: &Ty) -> ir::Type {
    match ty {
        Ty::Int | Ty::Unknown | Ty::Unit => ir::Type::Int,
        Ty::Float => ir::Type::Float,
        Ty::Bool => ir::Type::Bool,
        Ty::String => ir::Type::String,
        Ty::Array(elem) => ir::Type::Array(Box::new(ir_type(elem))),
        Ty::EmptyArray => ir::Type::Array(Box::new(ir::Type::Int)),
        Ty::Nullable(inner) => ir::Type::Nullable(Box::new(ir_type(inner))),
        Ty::Null => ir::Type::Nullable(Box::new(ir::Type::Int)),
        Ty::Struct(idx) => ir::Type::Struct(ir::StructId(idx.0)),
        Ty::Class(idx) => ir::Type::Class(ir::ClassId(idx.0)),
        Ty::Fn(params, ret) => ir::Type::Closure(Box::new(ir::FnType {
            params: params.iter().map(ir_type).collect(),
            ret: ret.as_deref().map(ir_type),
        })),
    }
}

/// A place that can be written.
enum Place {
    Local(LocalId),
    Global(ir::GlobalId, ir::Type),
    /// A field of an object (a class reference) or of a struct value held in `container`.
    Field {
        object: LocalId,
        field: u32,
        ty: ir::Type,
        container: Option<Box<Place>>,
    },
    /// An element of the array held in `container`.
    Elem {
        array: LocalId,
        index: LocalId,
        ty: ir::Type,
        container: Box<Place>,
    },
}

struct ScopeFrame {
    id: ScopeId,
    /// Where its `scope_enter` is, to fill in the locals when the scope closes.
    enter: (BlockId, usize),
    locals: Vec<LocalId>,
}

struct LoopFrame {
    continue_to: BlockId,
    break_to: BlockId,
    /// How many scopes were open outside the loop.
    depth: usize,
}

struct FnLower<'a> {
    scope: &'a ItemScope,
    infer: &'a InferenceResult,
    closures: &'a mut Vec<Option<ir::Function>>,
    func: ir::Function,
    current: BlockId,
    locals: HashMap<LocalIdx, LocalId>,
    scopes: Vec<ScopeFrame>,
    loops: Vec<LoopFrame>,
    next_scope: u32,
    /// The statements being lowered, innermost last (their temporaries' scopes).
    stmt_frames: Vec<StmtFrame>,
    /// The result type of the function or closure being lowered (not of the body that
    /// contains a closure: a `return` in a closure returns the closure's result).
    ret: Option<Ty>,
}

/// A statement being lowered. Its reference-holding temporaries live until it ends: the
/// first one creates a scope for them, whose `scope_enter` is inserted where the statement
/// began (so statements without such temporaries cost no instructions).
struct StmtFrame {
    /// Where the statement's first instruction went.
    start: (BlockId, usize),
    /// How many scopes were open when it began.
    depth: usize,
    /// Whether its temporaries' scope exists (then it is `scopes[depth]`).
    scoped: bool,
    /// The statement's source, for its scope's instructions.
    range: TextRange,
}

impl<'a> FnLower<'a> {
    fn new(
        scope: &'a ItemScope,
        infer: &'a InferenceResult,
        closures: &'a mut Vec<Option<ir::Function>>,
        name: String,
        kind: ir::FunctionKind,
        ret: Option<&Ty>,
        whole: TextRange,
    ) -> FnLower<'a> {
        let func = ir::Function {
            name,
            kind,
            arena: false,
            manual: false,
            params: vec![],
            captures: vec![],
            ret: ret.map(ir_type),
            locals: vec![],
            blocks: vec![ir::Block { insts: vec![] }],
            span: span(whole),
        };
        FnLower {
            scope,
            infer,
            closures,
            func,
            current: BlockId(0),
            locals: HashMap::new(),
            scopes: vec![],
            loops: vec![],
            next_scope: 0,
            stmt_frames: vec![],
            ret: ret.cloned(),
        }
    }

    // ---- building blocks ------------------------------------------------------------------

    fn emit(&mut self, mut kind: InstKind, at: TextRange) {
        // A named local both read and written by one instruction (`x = x.next`): compute
        // into a temporary first, so a plan can release the old value before it is
        // overwritten without losing what the instruction still has to read.
        if let Some(dest) = kind.dest()
            && self.is_named_local(dest)
            && holds_references(&self.func.locals[dest.index()].ty)
            && kind.uses().contains(&dest)
        {
            let ty = self.func.locals[dest.index()].ty.clone();
            let t = self.temp_ir(ty, at);
            if let Some(d) = kind.dest_mut() {
                *d = t;
            }
            self.emit(kind, at);
            self.emit(InstKind::Copy { dest, src: t }, at);
            return;
        }
        self.push_inst(kind, at);
    }

    fn push_inst(&mut self, kind: InstKind, at: TextRange) {
        let block = &mut self.func.blocks[self.current.index()];
        // After a terminator the rest of the source is dead: give it a block of its own.
        if block.insts.last().is_some_and(|i| i.kind.is_terminator()) {
            let dead = self.new_block();
            self.current = dead;
        }
        self.func.blocks[self.current.index()].insts.push(Inst { kind, span: span(at) });
    }

    fn new_block(&mut self) -> BlockId {
        self.func.blocks.push(ir::Block { insts: vec![] });
        BlockId((self.func.blocks.len() - 1) as u32)
    }

    fn switch_to(&mut self, block: BlockId) {
        self.current = block;
    }

    fn terminated(&self) -> bool {
        self.func.blocks[self.current.index()].insts.last().is_some_and(|i| i.kind.is_terminator())
    }

    fn jump(&mut self, target: BlockId, at: TextRange) {
        if !self.terminated() {
            self.emit(InstKind::Jump { target }, at);
        }
    }

    fn new_local(
        &mut self,
        name: Option<String>,
        ty: ir::Type,
        kind: ir::LocalKind,
        at: TextRange,
        mode: Option<ir::Mode>,
    ) -> LocalId {
        self.func.locals.push(ir::LocalDecl { name, ty, kind, mode, span: span(at) });
        LocalId((self.func.locals.len() - 1) as u32)
    }

    fn temp(&mut self, ty: &Ty, at: TextRange) -> LocalId {
        self.temp_ir(ir_type(ty), at)
    }

    /// A temporary; one that holds references is released when its statement ends.
    fn temp_ir(&mut self, ty: ir::Type, at: TextRange) -> LocalId {
        let scoped = holds_references(&ty);
        let t = self.new_local(None, ty, ir::LocalKind::Temp, at, None);
        if scoped {
            self.scope_temp(t);
        }
        t
    }

    /// A temporary no scope releases: its value moves elsewhere (a returned value).
    fn temp_unscoped(&mut self, ty: ir::Type, at: TextRange) -> LocalId {
        self.new_local(None, ty, ir::LocalKind::Temp, at, None)
    }

    /// Puts a temporary into its statement's scope, creating that scope on first use.
    fn scope_temp(&mut self, t: LocalId) {
        let Some(frame) = self.stmt_frames.last() else { return };
        if !frame.scoped {
            // Temporaries of a statement are made before any scope it opens, so the
            // statement's scope goes right above the scopes open when it began.
            if self.scopes.len() != frame.depth {
                return;
            }
            let (block, index) = frame.start;
            let id = ScopeId(self.next_scope);
            self.next_scope += 1;
            let span = span(frame.range);
            self.func.blocks[block.index()].insts.insert(
                index,
                Inst { kind: InstKind::ScopeEnter { scope: id, arena: false, locals: vec![] }, span },
            );
            // Positions recorded after the insertion point moved by one.
            for f in &mut self.scopes {
                if f.enter.0 == block && f.enter.1 >= index {
                    f.enter.1 += 1;
                }
            }
            for f in &mut self.stmt_frames {
                if f.start.0 == block && f.start.1 > index {
                    f.start.1 += 1;
                }
            }
            self.scopes.push(ScopeFrame { id, enter: (block, index), locals: vec![] });
            if let Some(frame) = self.stmt_frames.last_mut() {
                frame.scoped = true;
            }
        }
        let depth = self.stmt_frames.last().map_or(0, |f| f.depth);
        if let Some(scope) = self.scopes.get_mut(depth) {
            scope.locals.push(t);
        }
    }

    /// Takes a temporary out of its statement's scope (its value moves to the caller).
    fn unscope(&mut self, t: LocalId) {
        if let Some(frame) = self.stmt_frames.last()
            && frame.scoped
            && let Some(scope) = self.scopes.get_mut(frame.depth)
        {
            scope.locals.retain(|&l| l != t);
        }
    }

    /// The IR local of a checked local, declaring it on first sight.
    fn local_of(&mut self, idx: LocalIdx) -> LocalId {
        if let Some(&l) = self.locals.get(&idx) {
            return l;
        }
        let data = self.infer.local(idx);
        let kind = match data.kind {
            super::infer::LocalKind::Param => ir::LocalKind::Param,
            super::infer::LocalKind::Let => ir::LocalKind::Let,
            super::infer::LocalKind::LoopVar => ir::LocalKind::LoopVar,
        };
        let l = self.new_local(Some(data.name.clone()), ir_type(&data.ty), kind, data.range, data.mode);
        self.locals.insert(idx, l);
        l
    }

    fn enter_scope(&mut self, at: TextRange, arena: bool) {
        let id = ScopeId(self.next_scope);
        self.next_scope += 1;
        self.emit(InstKind::ScopeEnter { scope: id, arena, locals: vec![] }, at);
        let enter = (self.current, self.func.blocks[self.current.index()].insts.len() - 1);
        self.scopes.push(ScopeFrame { id, enter, locals: vec![] });
    }

    /// Declares a local in the innermost scope, not counting the scope of the current
    /// statement's temporaries (a `let` outlives its statement).
    fn declare_in_scope(&mut self, local: LocalId) {
        let index = match self.stmt_frames.last() {
            Some(frame) if frame.scoped => frame.depth.checked_sub(1),
            _ => self.scopes.len().checked_sub(1),
        };
        if let Some(frame) = index.and_then(|i| self.scopes.get_mut(i)) {
            frame.locals.push(local);
        }
    }

    /// Closes the innermost scope on the normal path.
    fn exit_scope(&mut self, at: TextRange) {
        let Some(frame) = self.scopes.pop() else {
            return;
        };
        if let InstKind::ScopeEnter { locals, .. } =
            &mut self.func.blocks[frame.enter.0.index()].insts[frame.enter.1].kind
        {
            *locals = frame.locals;
        }
        if !self.terminated() {
            self.emit(InstKind::ScopeExit { scope: frame.id }, at);
        }
    }

    /// Emits exits for the open scopes above `depth`, innermost first (an early exit).
    fn exit_scopes_to(&mut self, depth: usize, at: TextRange) {
        let ids: Vec<ScopeId> = self.scopes[depth..].iter().rev().map(|f| f.id).collect();
        for id in ids {
            self.emit(InstKind::ScopeExit { scope: id }, at);
        }
    }

    fn exit_all_scopes(&mut self, at: TextRange) {
        while !self.scopes.is_empty() {
            self.exit_scope(at);
        }
    }

    /// Drops unreachable blocks and renumbers the rest, so the CFG has no dead code.
    fn finish(mut self) -> ir::Function {
        let n = self.func.blocks.len();
        // Every block needs a terminator; a block left open reaches nowhere.
        for block in &mut self.func.blocks {
            if !block.insts.last().is_some_and(|i| i.kind.is_terminator()) {
                let at = block.insts.last().map_or(Span::NONE, |i| i.span);
                block.insts.push(Inst { kind: InstKind::Unreachable, span: at });
            }
        }
        let mut reachable = vec![false; n];
        let mut stack = vec![0usize];
        while let Some(b) = stack.pop() {
            if std::mem::replace(&mut reachable[b], true) {
                continue;
            }
            if let Some(last) = self.func.blocks[b].insts.last() {
                stack.extend(last.kind.successors().into_iter().map(|s| s.index()));
            }
        }
        let mut renumber = vec![u32::MAX; n];
        let mut next = 0;
        for (b, live) in reachable.iter().enumerate() {
            if *live {
                renumber[b] = next;
                next += 1;
            }
        }
        let blocks = std::mem::take(&mut self.func.blocks);
        self.func.blocks = blocks
            .into_iter()
            .enumerate()
            .filter(|(b, _)| reachable[*b])
            .map(|(_, mut block)| {
                if let Some(last) = block.insts.last_mut() {
                    match &mut last.kind {
                        InstKind::Jump { target } => *target = BlockId(renumber[target.index()]),
                        InstKind::Branch { then_block, else_block, .. } => {
                            *then_block = BlockId(renumber[then_block.index()]);
                            *else_block = BlockId(renumber[else_block.index()]);
                        }
                        _ => {}
                    }
                }
                block
            })
            .collect();
        self.func
    }

    // ---- functions --------------------------------------------------------------------------

    /// Parameters (outermost scope), then the body block; falls off the end with `return`.
    fn lower_fn_body(
        &mut self,
        params: &[LocalIdx],
        body: Option<ast::Block>,
        captures: Option<&[LocalIdx]>,
    ) {
        let whole = body.as_ref().map_or(TextRange::default(), range);
        self.enter_scope(whole, false);
        if let Some(captured) = captures {
            for &c in captured {
                let data = self.infer.local(c);
                let l = self.new_local(
                    Some(data.name.clone()),
                    ir_type(&data.ty),
                    ir::LocalKind::Capture,
                    data.range,
                    None,
                );
                // Captures are borrowed from the closure's environment, which outlives
                // the call: no scope releases them.
                self.locals.insert(c, l);
                self.func.captures.push(l);
            }
        }
        // A `drop` block's `self` is borrowed from the object being destroyed.
        let borrowed_self = matches!(self.func.kind, ir::FunctionKind::Drop { .. });
        for &p in params {
            let l = self.local_of(p);
            self.func.params.push(l);
            if !borrowed_self {
                self.declare_in_scope(l);
            }
        }
        if let Some(block) = body {
            let arena = self.func.arena;
            self.block(&block, arena);
        }
        let end = self.func.span;
        let end = TextRange::new(end.end.saturating_sub(1).into(), end.end.into());
        if self.func.ret.is_none() {
            self.exit_all_scopes(end);
            if !self.terminated() {
                self.emit(InstKind::Return { value: None }, end);
            }
        } else {
            if !self.terminated() {
                // The checker proved every path returns: this point is unreachable.
                self.emit(InstKind::Unreachable, end);
            }
            // Close the frames (recording their locals); nothing is emitted after the
            // terminator.
            self.exit_all_scopes(end);
        }
    }

    // ---- statements -------------------------------------------------------------------------

    fn block(&mut self, block: &ast::Block, arena: bool) {
        self.enter_scope(range(block), arena);
        for stmt in block.stmts() {
            self.stmt(&stmt);
        }
        let close = block.r_curly_token().map_or(range(block), |t| t.text_range());
        self.exit_scope(close);
    }

    /// Lowers a statement; its reference-holding temporaries are released at its end.
    fn stmt(&mut self, stmt: &ast::Stmt) {
        if self.terminated() {
            let dead = self.new_block();
            self.switch_to(dead);
        }
        let start = (self.current, self.func.blocks[self.current.index()].insts.len());
        self.stmt_frames.push(StmtFrame {
            start,
            depth: self.scopes.len(),
            scoped: false,
            range: range(stmt),
        });
        self.stmt_inner(stmt);
        if let Some(frame) = self.stmt_frames.pop()
            && frame.scoped
        {
            self.exit_scope(frame.range);
        }
    }

    fn stmt_inner(&mut self, stmt: &ast::Stmt) {
        let at = range(stmt);
        match stmt {
            ast::Stmt::LetStmt(it) => {
                let Some(local) = self.infer.binding(it.syntax()) else {
                    return;
                };
                let ty = self.infer.local(local).ty.clone();
                let dest = self.local_of(local);
                if let Some(init) = it.init() {
                    self.expr_as(&init, &ty, Some(dest));
                }
                // Declared after its initialiser: `let x = x + 1` reads the outer `x`.
                self.declare_in_scope(dest);
            }
            ast::Stmt::AssignStmt(it) => {
                let (Some(place_expr), Some(value)) = (it.place(), it.value()) else {
                    return;
                };
                let place = self.place(&place_expr);
                let want = self.infer.type_of(&place_expr);
                // The variable's old value is released after the right side has run and its
                // value is stored (spec/language.md 6.2, 7.3), but a plan releases it just
                // before the instruction that overwrites it: a right side whose last step is
                // not inert is computed into a temporary and copied.
                let target = match &place {
                    Place::Local(l)
                        if !holds_references(&self.func.locals[l.index()].ty)
                            || self.last_step_is_inert(&value) =>
                    {
                        Some(*l)
                    }
                    _ => None,
                };
                let v = self.expr_as(&value, &want, target);
                self.store(&place, v, at);
            }
            ast::Stmt::ExprStmt(it) => {
                if let Some(e) = it.expr() {
                    self.effect(&e);
                }
            }
            ast::Stmt::IfStmt(it) => self.if_stmt(it),
            ast::Stmt::WhileStmt(it) => {
                let header = self.new_block();
                let body = self.new_block();
                let exit = self.new_block();
                self.jump(header, at);
                self.switch_to(header);
                match it.condition() {
                    Some(cond) => {
                        let c = self.expr_as(&cond, &Ty::Bool, None);
                        self.emit(
                            InstKind::Branch { cond: c, then_block: body, else_block: exit },
                            range(&cond),
                        );
                    }
                    None => self.jump(exit, at),
                }
                self.switch_to(body);
                self.loops.push(LoopFrame { continue_to: header, break_to: exit, depth: self.scopes.len() });
                if let Some(b) = it.body() {
                    self.block(&b, false);
                }
                self.loops.pop();
                self.jump(header, at);
                self.switch_to(exit);
            }
            ast::Stmt::ForStmt(it) => self.for_stmt(it),
            ast::Stmt::ReturnStmt(it) => {
                let value = it.expr().map(|e| {
                    let want = self.ret.clone().unwrap_or(Ty::Unknown);
                    let v = self.expr_as(&e, &want, None);
                    if self.is_named_local(v) {
                        // The scope exits may release the variable: return a copy.
                        let t = self.temp_unscoped(self.func.locals[v.index()].ty.clone(), range(&e));
                        self.emit(InstKind::Copy { dest: t, src: v }, range(&e));
                        t
                    } else {
                        // The value moves to the caller: its statement must not release it.
                        self.unscope(v);
                        v
                    }
                });
                self.exit_scopes_to(0, at);
                self.emit(InstKind::Return { value }, at);
            }
            ast::Stmt::BreakStmt(_) | ast::Stmt::ContinueStmt(_) => {
                let Some(frame) = self.loops.last() else {
                    return;
                };
                let (target, depth) = if matches!(stmt, ast::Stmt::BreakStmt(_)) {
                    (frame.break_to, frame.depth)
                } else {
                    (frame.continue_to, frame.depth)
                };
                self.exit_scopes_to(depth, at);
                self.emit(InstKind::Jump { target }, at);
            }
            ast::Stmt::Block(b) => self.block(b, false),
            ast::Stmt::ArenaStmt(it) => {
                if let Some(b) = it.body() {
                    self.block(&b, true);
                }
            }
            ast::Stmt::SpawnStmt(it) => {
                if let Some(e) = it.expr() {
                    self.spawn(&e, at);
                }
            }
        }
    }

    /// Whether the instruction that finally produces `e`'s value is inert: it runs no
    /// program code (a call may print, or destroy objects) and reads nothing a destructor
    /// could change (a field of an object, a global, or a container that `pop` writes back
    /// after it). Constants, copies of locals, allocations from operands already evaluated,
    /// operators, fields of struct values and elements of array values (arrays are values)
    /// are inert.
    fn last_step_is_inert(&self, e: &ast::Expr) -> bool {
        match e {
            ast::Expr::ParenExpr(p) => p.expr().is_none_or(|inner| self.last_step_is_inert(&inner)),
            ast::Expr::NameRef(n) => !matches!(self.resolution(n), Some(Resolution::Global(_))),
            ast::Expr::FieldExpr(f) => {
                f.receiver().is_none_or(|r| matches!(self.infer.type_of(&r).non_null(), Ty::Struct(_)))
            }
            ast::Expr::CallExpr(call) => {
                let Some(ast::Expr::NameRef(callee)) = call.callee() else { return true };
                match self.resolution(&callee) {
                    // `pop` writes a local array in place, but an array in a field or a
                    // global back after it.
                    Some(Resolution::Builtin(Builtin::Pop)) => match call.args().next() {
                        Some(ast::Expr::NameRef(array)) => {
                            matches!(self.resolution(&array), Some(Resolution::Local(_)))
                        }
                        _ => false,
                    },
                    Some(Resolution::Builtin(_)) => true,
                    _ => false,
                }
            }
            ast::Expr::MethodCallExpr(_) => false,
            _ => true,
        }
    }

    fn resolution(&self, name: &ast::NameRef) -> Option<Resolution> {
        self.infer.names.get(&NodePtr::new(name.syntax())).copied()
    }

    fn is_named_local(&self, l: LocalId) -> bool {
        self.func.locals[l.index()].kind != ir::LocalKind::Temp
    }

    fn if_stmt(&mut self, it: &ast::IfStmt) {
        let at = range(it);
        let then_block = self.new_block();
        let else_block = self.new_block();
        let join = self.new_block();
        match it.condition() {
            Some(cond) => {
                let c = self.expr_as(&cond, &Ty::Bool, None);
                self.emit(InstKind::Branch { cond: c, then_block, else_block }, range(&cond));
            }
            None => self.jump(else_block, at),
        }
        self.switch_to(then_block);
        if let Some(b) = it.then_branch() {
            self.block(&b, false);
        }
        self.jump(join, at);
        self.switch_to(else_block);
        match it.else_branch() {
            Some(ast::ElseBranch::Block(b)) => self.block(&b, false),
            Some(ast::ElseBranch::IfStmt(nested)) => {
                // `else if` is a statement of its own: temporaries of its condition get a
                // scope that starts in the else branch, so an early exit in the `then`
                // branch above never enters it.
                let start = (self.current, self.func.blocks[self.current.index()].insts.len());
                let frame =
                    StmtFrame { start, depth: self.scopes.len(), scoped: false, range: range(&nested) };
                self.stmt_frames.push(frame);
                self.if_stmt(&nested);
                if let Some(frame) = self.stmt_frames.pop()
                    && frame.scoped
                {
                    self.exit_scope(frame.range);
                }
            }
            None => {}
        }
        self.jump(join, at);
        self.switch_to(join);
    }

    fn for_stmt(&mut self, it: &ast::ForStmt) {
        let at = range(it);
        let Some(var) = self.infer.binding(it.syntax()) else {
            return;
        };
        let int = Ty::Int;
        // The counter, the bound and (for arrays) the array are evaluated once.
        let (array, start, end) = if let Some(r) = it.range() {
            let s = match r.start() {
                Some(e) => self.expr_as(&e, &int, None),
                None => self.const_int(0, at),
            };
            let e = match r.end() {
                Some(e) => self.expr_as(&e, &int, None),
                None => self.const_int(0, at),
            };
            (None, s, e)
        } else {
            let Some(iterable) = it.iterable() else {
                return;
            };
            let ty = self.infer.type_of(&iterable);
            let v = self.expr(&iterable, None);
            self.null_check_if(v, &ty, range(&iterable));
            let arr = self.temp(&ty.non_null().clone(), range(&iterable));
            self.emit(InstKind::Copy { dest: arr, src: v }, range(&iterable));
            let len = self.temp(&int, range(&iterable));
            self.emit(InstKind::Len { dest: len, value: arr }, range(&iterable));
            let zero = self.const_int(0, at);
            (Some(arr), zero, len)
        };
        let counter = self.temp(&int, at);
        self.emit(InstKind::Copy { dest: counter, src: start }, at);
        let header = self.new_block();
        let body = self.new_block();
        let step = self.new_block();
        let exit = self.new_block();
        self.jump(header, at);
        self.switch_to(header);
        let cond = self.temp(&Ty::Bool, at);
        self.emit(InstKind::Binary { dest: cond, op: ir::BinaryOp::Lt, lhs: counter, rhs: end }, at);
        self.emit(InstKind::Branch { cond, then_block: body, else_block: exit }, at);
        self.switch_to(body);
        self.loops.push(LoopFrame { continue_to: step, break_to: exit, depth: self.scopes.len() });
        // The loop variable lives in a scope of its own, fresh each iteration, around the body.
        let name_range = it.name().map_or(at, |n| range(&n));
        self.enter_scope(name_range, false);
        let v = self.local_of(var);
        match array {
            Some(arr) => self.emit(InstKind::LoadElem { dest: v, array: arr, index: counter }, name_range),
            None => self.emit(InstKind::Copy { dest: v, src: counter }, name_range),
        }
        self.declare_in_scope(v);
        if let Some(b) = it.body() {
            self.block(&b, false);
        }
        let close = it.body().and_then(|b| b.r_curly_token()).map_or(at, |t| t.text_range());
        self.exit_scope(close);
        self.loops.pop();
        self.jump(step, at);
        self.switch_to(step);
        let one = self.const_int(1, at);
        self.emit(InstKind::Binary { dest: counter, op: ir::BinaryOp::Add, lhs: counter, rhs: one }, at);
        self.emit(InstKind::Jump { target: header }, at);
        self.switch_to(exit);
    }

    fn const_int(&mut self, value: i64, at: TextRange) -> LocalId {
        let t = self.temp(&Ty::Int, at);
        self.emit(InstKind::Const { dest: t, value: Constant::Int(value) }, at);
        t
    }

    // ---- places -----------------------------------------------------------------------------

    fn place(&mut self, e: &ast::Expr) -> Place {
        match e {
            ast::Expr::NameRef(n) => match self.infer.names.get(&NodePtr::new(n.syntax())) {
                Some(Resolution::Local(l)) => Place::Local(self.local_of(*l)),
                Some(Resolution::Global(g)) => {
                    let ty = self.scope.globals.get(*g as usize).map_or(ir::Type::Int, |x| ir_type(&x.ty));
                    Place::Global(ir::GlobalId(*g), ty)
                }
                _ => Place::Local(self.expr(e, None)),
            },
            ast::Expr::FieldExpr(f) => {
                let Some(receiver) = f.receiver() else {
                    return Place::Local(self.expr(e, None));
                };
                let field = self.infer.fields.get(&NodePtr::new(f.syntax())).copied().unwrap_or(0);
                let ty = ir_type(&self.infer.type_of(e));
                let recv_ty = self.infer.type_of(&receiver);
                if let Ty::Struct(_) = recv_ty.non_null() {
                    let container = self.place(&receiver);
                    let object = self.load(&container, range(&receiver));
                    Place::Field { object, field, ty, container: Some(Box::new(container)) }
                } else {
                    let object = self.expr(&receiver, None);
                    self.null_check_if(object, &recv_ty, range(&receiver));
                    Place::Field { object, field, ty, container: None }
                }
            }
            ast::Expr::IndexExpr(i) => {
                let (Some(base), Some(index)) = (i.base(), i.index()) else {
                    return Place::Local(self.expr(e, None));
                };
                let container = self.place(&base);
                let array = self.load(&container, range(&base));
                self.null_check_if(array, &self.infer.type_of(&base), range(&base));
                let idx = self.expr_as(&index, &Ty::Int, None);
                let ty = ir_type(&self.infer.type_of(e));
                Place::Elem { array, index: idx, ty, container: Box::new(container) }
            }
            ast::Expr::ParenExpr(p) => match p.expr() {
                Some(inner) => self.place(&inner),
                None => Place::Local(self.expr(e, None)),
            },
            other => Place::Local(self.expr(other, None)),
        }
    }

    /// The value currently in a place (a local is its own value).
    fn load(&mut self, place: &Place, at: TextRange) -> LocalId {
        match place {
            Place::Local(l) => *l,
            Place::Global(g, ty) => {
                let t = self.temp_ir(ty.clone(), at);
                self.emit(InstKind::LoadGlobal { dest: t, global: *g }, at);
                t
            }
            Place::Field { object, field, ty, .. } => {
                let t = self.temp_ir(ty.clone(), at);
                self.emit(InstKind::LoadField { dest: t, object: *object, field: *field }, at);
                t
            }
            Place::Elem { array, index, ty, .. } => {
                let t = self.temp_ir(ty.clone(), at);
                self.emit(InstKind::LoadElem { dest: t, array: *array, index: *index }, at);
                t
            }
        }
    }

    /// Writes `value` into a place, and writes modified containers back outward.
    fn store(&mut self, place: &Place, value: LocalId, at: TextRange) {
        match place {
            Place::Local(l) => {
                if *l != value {
                    self.emit(InstKind::Copy { dest: *l, src: value }, at);
                }
            }
            Place::Global(g, _) => self.emit(InstKind::StoreGlobal { global: *g, value }, at),
            Place::Field { object, field, container, .. } => {
                self.emit(InstKind::StoreField { object: *object, field: *field, value }, at);
                if let Some(container) = container {
                    self.write_back(container, *object, at);
                }
            }
            Place::Elem { array, index, container, .. } => {
                self.emit(InstKind::StoreElem { array: *array, index: *index, value }, at);
                self.write_back(container, *array, at);
            }
        }
    }

    /// After modifying `value` (loaded from `container`), stores it back unless it is the
    /// container itself (a local modified in place).
    fn write_back(&mut self, container: &Place, value: LocalId, at: TextRange) {
        if let Place::Local(l) = container
            && *l == value
        {
            return;
        }
        self.store(container, value, at);
    }

    // ---- expressions ------------------------------------------------------------------------

    /// Emits a null check when a value of nullable type is used as its plain type.
    fn null_check_if(&mut self, value: LocalId, ty: &Ty, at: TextRange) {
        if ty.is_nullable() {
            self.emit(InstKind::NullCheck { value }, at);
        }
    }

    /// Lowers `e` for a use that wants `want`: a nullable value used as a plain one is
    /// checked for `null` first.
    fn expr_as(&mut self, e: &ast::Expr, want: &Ty, dest: Option<LocalId>) -> LocalId {
        let ty = self.infer.type_of(e);
        if ty.is_nullable() && !want.is_nullable() && !want.is_unknown() {
            // Check before the value reaches a place of the non-nullable type.
            let v = self.expr(e, None);
            self.emit(InstKind::NullCheck { value: v }, range(e));
            return self.copy_to_dest(v, dest, range(e));
        }
        self.expr(e, dest)
    }

    /// The destination for an expression's value: `dest` if given, else a new temporary.
    fn dest(&mut self, e: &ast::Expr, dest: Option<LocalId>) -> LocalId {
        match dest {
            Some(d) => d,
            None => {
                let ty = self.infer.type_of(e);
                self.temp(&ty, range(e))
            }
        }
    }

    /// Moves an existing value into `dest` when one was asked for.
    fn copy_to_dest(&mut self, value: LocalId, dest: Option<LocalId>, at: TextRange) -> LocalId {
        match dest {
            Some(d) if d != value => {
                self.emit(InstKind::Copy { dest: d, src: value }, at);
                d
            }
            _ => value,
        }
    }

    fn expr(&mut self, e: &ast::Expr, dest: Option<LocalId>) -> LocalId {
        let at = range(e);
        match e {
            ast::Expr::Literal(it) => {
                let value = match it.kind() {
                    Some(ast::LiteralKind::Int(t)) => {
                        Constant::Int(t.text().replace('_', "").parse().unwrap_or(0))
                    }
                    Some(ast::LiteralKind::Float(t)) => {
                        Constant::Float(t.text().replace('_', "").parse().unwrap_or(0.0))
                    }
                    Some(ast::LiteralKind::String(t)) => {
                        Constant::Str(custody_syntax::lexer::string_value(t.text()))
                    }
                    Some(ast::LiteralKind::Bool(b)) => Constant::Bool(b),
                    Some(ast::LiteralKind::Null) | None => Constant::Null,
                };
                let d = self.dest(e, dest);
                self.emit(InstKind::Const { dest: d, value }, at);
                d
            }
            ast::Expr::NameRef(n) => {
                let v = match self.infer.names.get(&NodePtr::new(n.syntax())).copied() {
                    Some(Resolution::Local(l)) => self.local_of(l),
                    Some(Resolution::Global(g)) => {
                        let d = self.dest(e, dest);
                        self.emit(InstKind::LoadGlobal { dest: d, global: ir::GlobalId(g) }, at);
                        return d;
                    }
                    _ => {
                        let d = self.dest(e, dest);
                        self.emit(InstKind::Const { dest: d, value: Constant::Int(0) }, at);
                        return d;
                    }
                };
                self.copy_to_dest(v, dest, at)
            }
            ast::Expr::SelfExpr(it) => {
                let v = match self.infer.names.get(&NodePtr::new(it.syntax())).copied() {
                    Some(Resolution::Local(l)) => self.local_of(l),
                    _ => self.dest(e, None),
                };
                self.copy_to_dest(v, dest, at)
            }
            ast::Expr::ParenExpr(it) => match it.expr() {
                Some(inner) => self.expr(&inner, dest),
                None => self.dest(e, dest),
            },
            ast::Expr::ArrayExpr(it) => {
                let ty = self.infer.type_of(e);
                let elem_ty = ty.non_null().clone();
                let elem_ty = match elem_ty {
                    Ty::Array(elem) => *elem,
                    _ => Ty::Unknown,
                };
                let elems: Vec<LocalId> = it.elements().map(|el| self.expr_as(&el, &elem_ty, None)).collect();
                let d = self.dest(e, dest);
                self.emit(InstKind::NewArray { dest: d, elem: ir_type(&elem_ty), elems }, at);
                d
            }
            ast::Expr::ArrayRepeatExpr(it) => {
                let elem_ty = match self.infer.type_of(e).non_null() {
                    Ty::Array(elem) => (**elem).clone(),
                    _ => Ty::Unknown,
                };
                let value = match it.value() {
                    Some(v) => self.expr_as(&v, &elem_ty, None),
                    None => self.const_int(0, at),
                };
                let count = match it.count() {
                    Some(c) => self.expr_as(&c, &Ty::Int, None),
                    None => self.const_int(0, at),
                };
                let d = self.dest(e, dest);
                self.emit(InstKind::NewArrayRepeat { dest: d, elem: ir_type(&elem_ty), value, count }, at);
                d
            }
            ast::Expr::RecordExpr(it) => self.record(it, dest),
            ast::Expr::ClosureExpr(it) => self.closure(it, dest),
            ast::Expr::PrefixExpr(it) => {
                let operand_ty = it.expr().map_or(Ty::Unknown, |o| self.infer.type_of(&o));
                let operand = match it.expr() {
                    Some(o) => self.expr_as(&o, operand_ty.non_null(), None),
                    None => self.const_int(0, at),
                };
                let op = match it.op() {
                    Some(ast::PrefixOp::Not) => ir::UnaryOp::Not,
                    _ => ir::UnaryOp::Neg,
                };
                let d = self.dest(e, dest);
                self.emit(InstKind::Unary { dest: d, op, operand }, at);
                d
            }
            ast::Expr::BinExpr(it) => self.binary(it, dest),
            ast::Expr::CallExpr(it) => match self.call(it, dest, false) {
                Some(v) => v,
                None => self.dest(e, dest),
            },
            ast::Expr::MethodCallExpr(it) => match self.method_call(it, dest, false) {
                Some(v) => v,
                None => self.dest(e, dest),
            },
            ast::Expr::FieldExpr(it) => {
                let Some(receiver) = it.receiver() else {
                    return self.dest(e, dest);
                };
                let recv_ty = self.infer.type_of(&receiver);
                let object = self.expr(&receiver, None);
                self.null_check_if(object, &recv_ty, range(&receiver));
                let field = self.infer.fields.get(&NodePtr::new(it.syntax())).copied().unwrap_or(0);
                let d = self.dest(e, dest);
                self.emit(InstKind::LoadField { dest: d, object, field }, at);
                d
            }
            ast::Expr::IndexExpr(it) => {
                let (Some(base), Some(index)) = (it.base(), it.index()) else {
                    return self.dest(e, dest);
                };
                let base_ty = self.infer.type_of(&base);
                let array = self.expr(&base, None);
                self.null_check_if(array, &base_ty, range(&base));
                let idx = self.expr_as(&index, &Ty::Int, None);
                let d = self.dest(e, dest);
                self.emit(InstKind::LoadElem { dest: d, array, index: idx }, at);
                d
            }
        }
    }

    fn record(&mut self, it: &ast::RecordExpr, dest: Option<LocalId>) -> LocalId {
        let e = ast::Expr::RecordExpr(it.clone());
        let ty = self.infer.type_of(&e);
        let field_tys: Vec<Ty> = match &ty {
            Ty::Class(c) => self.scope.classes[c.0 as usize].fields.iter().map(|f| f.ty.clone()).collect(),
            Ty::Struct(s) => self.scope.structs[s.0 as usize].fields.iter().map(|f| f.ty.clone()).collect(),
            _ => vec![],
        };
        // Fields are evaluated in the order written, and stored in declaration order.
        let mut values: Vec<Option<LocalId>> = vec![None; field_tys.len()];
        for field in it.fields() {
            let Some(&index) = self.infer.fields.get(&NodePtr::new(field.syntax())) else {
                continue;
            };
            let Some(value) = field.value() else { continue };
            let want = field_tys.get(index as usize).cloned().unwrap_or(Ty::Unknown);
            let v = self.expr_as(&value, &want, None);
            if let Some(slot) = values.get_mut(index as usize) {
                *slot = Some(v);
            }
        }
        let at = range(it);
        let fields: Vec<LocalId> =
            values.into_iter().map(|v| v.unwrap_or_else(|| self.const_int(0, at))).collect();
        let d = self.dest(&e, dest);
        match ty {
            Ty::Struct(s) => {
                self.emit(InstKind::NewStruct { dest: d, strukt: ir::StructId(s.0), fields }, at)
            }
            Ty::Class(c) => self.emit(InstKind::NewObject { dest: d, class: ir::ClassId(c.0), fields }, at),
            _ => self.emit(InstKind::Const { dest: d, value: Constant::Int(0) }, at),
        }
        d
    }

    fn closure(&mut self, it: &ast::ClosureExpr, dest: Option<LocalId>) -> LocalId {
        let at = range(it);
        let Some(data) = self.infer.closures.get(&NodePtr::new(it.syntax())).cloned() else {
            return self.dest(&ast::Expr::ClosureExpr(it.clone()), dest);
        };
        let index = data.index as usize;
        if self.closures.len() <= index {
            self.closures.resize_with(index + 1, || None);
        }
        let name = format!("{}#closure{}", self.func.name.split('#').next().unwrap_or(""), data.index);
        let parent = data.parent.map_or(BODY_PLACEHOLDER, FunctionId);
        let function = {
            let mut inner = FnLower::new(
                self.scope,
                self.infer,
                self.closures,
                name,
                ir::FunctionKind::Closure { parent },
                data.ret.as_ref(),
                at,
            );
            inner.lower_fn_body(&data.params, it.body(), Some(&data.captures));
            inner.finish()
        };
        self.closures[index] = Some(function);
        let captures: Vec<LocalId> = data.captures.iter().map(|&c| self.local_of(c)).collect();
        let d = self.dest(&ast::Expr::ClosureExpr(it.clone()), dest);
        self.emit(InstKind::NewClosure { dest: d, function: FunctionId(data.index), captures }, at);
        d
    }

    /// A run of operators of one precedence (`a + b - c`), applied left to right. Lowered
    /// in a loop, step by step, exactly as the nested `((a + b) - c)` it means would be:
    /// each prefix gets a temporary (the whole chain `dest`), and a chain of any length
    /// costs no stack.
    fn binary(&mut self, it: &ast::BinExpr, dest: Option<LocalId>) -> LocalId {
        use ast::BinaryOp as B;
        let e = ast::Expr::BinExpr(it.clone());
        let steps = it.steps();
        let (Some(first), false) = (it.lhs(), steps.is_empty()) else {
            return self.dest(&e, dest);
        };
        let Some(rhss) = steps.iter().map(|s| s.rhs.clone()).collect::<Option<Vec<ast::Expr>>>() else {
            return self.dest(&e, dest);
        };
        let n = steps.len();
        let start = range(it).start();
        let prefix = |k: usize| TextRange::new(start, range(&rhss[k]).end());
        if matches!(steps[0].op, B::And | B::Or) {
            // a && b: if a { b } else { false };  a || b: if a { true } else { b }
            // The nested form takes its destination before its left side: outermost first.
            let mut dests = vec![None; n];
            for k in (0..n).rev() {
                dests[k] =
                    Some(if k == n - 1 { self.dest(&e, dest) } else { self.temp(&Ty::Bool, prefix(k)) });
            }
            let mut l = self.expr_as(&first, &Ty::Bool, None);
            let mut l_at = range(&first);
            for (k, step) in steps.iter().enumerate() {
                let (op, rhs, at) = (step.op, &rhss[k], prefix(k));
                let d = dests[k].unwrap_or(l);
                let eval_rhs = self.new_block();
                let short = self.new_block();
                let join = self.new_block();
                let (then_block, else_block) =
                    if op == B::And { (eval_rhs, short) } else { (short, eval_rhs) };
                self.emit(InstKind::Branch { cond: l, then_block, else_block }, l_at);
                self.switch_to(eval_rhs);
                self.expr_as(rhs, &Ty::Bool, Some(d));
                self.jump(join, at);
                self.switch_to(short);
                self.emit(InstKind::Const { dest: d, value: Constant::Bool(op == B::Or) }, at);
                self.jump(join, at);
                self.switch_to(join);
                l = d;
                l_at = at;
            }
            return l;
        }
        // The value of the prefix so far (`None`: the first operand, not lowered yet, since
        // `null == x` never lowers its `null`) and its type.
        let mut value: Option<LocalId> = None;
        let mut lt = self.infer.type_of(&first);
        for (k, step) in steps.iter().enumerate() {
            let (op, rhs, at) = (step.op, &rhss[k], prefix(k));
            let last = k == n - 1;
            let result_ty = match op {
                B::Add | B::Sub | B::Mul | B::Div | B::Rem => lt.non_null().clone(),
                _ => Ty::Bool,
            };
            let rt = self.infer.type_of(rhs);
            let d = if matches!(op, B::Eq | B::Ne) {
                // `x == null`: a null test, not a comparison of references.
                let first_is_null = value.is_none() && is_null_literal(&first);
                let tested = if is_null_literal(rhs) {
                    Some(None)
                } else if first_is_null {
                    Some(Some(rhs))
                } else {
                    None
                };
                if let Some(tested) = tested {
                    let v = match tested {
                        Some(rhs) => self.expr(rhs, None),
                        None => self.prefix_value(value, &first, None),
                    };
                    let d = self.step_dest(&e, dest, last, &result_ty, at);
                    if op == B::Eq {
                        self.emit(InstKind::IsNull { dest: d, value: v }, at);
                    } else {
                        let t = self.temp(&Ty::Bool, at);
                        self.emit(InstKind::IsNull { dest: t, value: v }, at);
                        self.emit(InstKind::Unary { dest: d, op: ir::UnaryOp::Not, operand: t }, at);
                    }
                    d
                } else {
                    let l = self.prefix_value(value, &first, None);
                    let r = self.expr(rhs, None);
                    let d = self.step_dest(&e, dest, last, &result_ty, at);
                    let op = if op == B::Eq { ir::BinaryOp::Eq } else { ir::BinaryOp::Ne };
                    self.emit(InstKind::Binary { dest: d, op, lhs: l, rhs: r }, at);
                    d
                }
            } else {
                let l = self.prefix_value(value, &first, Some(lt.non_null()));
                let r = self.expr_as(rhs, rt.non_null(), None);
                let d = self.step_dest(&e, dest, last, &result_ty, at);
                if op == B::Add && matches!(lt.non_null(), Ty::String) {
                    self.emit(InstKind::Concat { dest: d, lhs: l, rhs: r }, at);
                } else {
                    let op = match op {
                        B::Add => ir::BinaryOp::Add,
                        B::Sub => ir::BinaryOp::Sub,
                        B::Mul => ir::BinaryOp::Mul,
                        B::Div => ir::BinaryOp::Div,
                        B::Rem => ir::BinaryOp::Rem,
                        B::Lt => ir::BinaryOp::Lt,
                        B::Le => ir::BinaryOp::Le,
                        B::Gt => ir::BinaryOp::Gt,
                        B::Ge => ir::BinaryOp::Ge,
                        B::Eq | B::Ne | B::And | B::Or => ir::BinaryOp::Eq,
                    };
                    self.emit(InstKind::Binary { dest: d, op, lhs: l, rhs: r }, at);
                }
                d
            };
            value = Some(d);
            lt = result_ty;
        }
        value.unwrap_or_else(|| self.dest(&e, dest))
    }

    /// The left side of a chain's step: the prefix's value, or the first operand lowered
    /// now (checked against `null` when `want` is not nullable, as any operand is).
    fn prefix_value(&mut self, value: Option<LocalId>, first: &ast::Expr, want: Option<&Ty>) -> LocalId {
        match (value, want) {
            (Some(v), _) => v,
            (None, Some(want)) => self.expr_as(first, want, None),
            (None, None) => self.expr(first, None),
        }
    }

    /// Where a chain's step puts its value: the chain's destination for the last step, a
    /// new temporary of the prefix's type otherwise.
    fn step_dest(
        &mut self,
        e: &ast::Expr,
        dest: Option<LocalId>,
        last: bool,
        ty: &Ty,
        at: TextRange,
    ) -> LocalId {
        if last { self.dest(e, dest) } else { self.temp(ty, at) }
    }

    /// Arguments, each checked for `null` where its parameter is not nullable.
    fn args(&mut self, args: &[ast::Expr], params: &[Ty]) -> Vec<LocalId> {
        args.iter()
            .enumerate()
            .map(|(i, a)| {
                let want = params.get(i).cloned().unwrap_or(Ty::Unknown);
                self.expr_as(a, &want, None)
            })
            .collect()
    }

    fn call_result(&mut self, e: &ast::Expr, returns: bool, dest: Option<LocalId>) -> Option<LocalId> {
        if returns { Some(self.dest(e, dest)) } else { None }
    }

    /// A call; its result, if the callee returns one.
    fn call(&mut self, it: &ast::CallExpr, dest: Option<LocalId>, spawn: bool) -> Option<LocalId> {
        let e = ast::Expr::CallExpr(it.clone());
        let at = range(it);
        let args: Vec<ast::Expr> = it.args().collect();
        let Some(ast::Expr::NameRef(callee)) = it.callee() else {
            return Some(self.dest(&e, dest));
        };
        let resolution = self.infer.names.get(&NodePtr::new(callee.syntax())).copied();
        let (target, params, returns) = match resolution {
            Some(Resolution::Fn(f)) => {
                let data = &self.scope.functions[f as usize];
                let params: Vec<Ty> = data.sig.params.iter().map(|p| p.ty.clone()).collect();
                (Callee::Function(FunctionId(data.body)), params, data.sig.ret.is_some())
            }
            Some(Resolution::Extern(x)) => {
                let data = &self.scope.externs[x as usize];
                let params: Vec<Ty> = data.params.iter().map(|p| p.ty.clone()).collect();
                (Callee::Extern(ir::ExternId(x)), params, data.ret.is_some())
            }
            Some(Resolution::Local(l)) => {
                let ty = self.infer.local(l).ty.clone();
                let closure = self.local_of(l);
                self.null_check_if(closure, &ty, range(&callee));
                match ty.non_null() {
                    Ty::Fn(params, ret) => (Callee::Closure(closure), params.clone(), ret.is_some()),
                    _ => return Some(self.dest(&e, dest)),
                }
            }
            Some(Resolution::Builtin(b)) => return self.builtin(b, &args, &e, dest),
            _ => return Some(self.dest(&e, dest)),
        };
        let arg_values = self.args(&args, &params);
        if spawn {
            self.emit(InstKind::Spawn { callee: target, args: arg_values }, at);
            return None;
        }
        let d = self.call_result(&e, returns, dest);
        self.emit(InstKind::Call { dest: d, callee: target, args: arg_values }, at);
        d
    }

    fn method_call(
        &mut self,
        it: &ast::MethodCallExpr,
        dest: Option<LocalId>,
        spawn: bool,
    ) -> Option<LocalId> {
        let e = ast::Expr::MethodCallExpr(it.clone());
        let at = range(it);
        let Some(receiver) = it.receiver() else {
            return Some(self.dest(&e, dest));
        };
        let Some(&(class, method)) = self.infer.methods.get(&NodePtr::new(it.syntax())) else {
            return Some(self.dest(&e, dest));
        };
        let recv_ty = self.infer.type_of(&receiver);
        let recv = self.expr(&receiver, None);
        self.null_check_if(recv, &recv_ty, range(&receiver));
        let data = &self.scope.classes[class.0 as usize].methods[method as usize];
        let params: Vec<Ty> = data.sig.params.iter().skip(1).map(|p| p.ty.clone()).collect();
        let (body, returns) = (data.body, data.sig.ret.is_some());
        let args: Vec<ast::Expr> = it.args().collect();
        let mut values = vec![recv];
        values.extend(self.args(&args, &params));
        let callee = Callee::Function(FunctionId(body));
        if spawn {
            self.emit(InstKind::Spawn { callee, args: values }, at);
            return None;
        }
        let d = self.call_result(&e, returns, dest);
        self.emit(InstKind::Call { dest: d, callee, args: values }, at);
        d
    }

    fn spawn(&mut self, e: &ast::Expr, _at: TextRange) {
        match e {
            ast::Expr::CallExpr(call) => {
                self.call(call, None, true);
            }
            ast::Expr::MethodCallExpr(call) => {
                self.method_call(call, None, true);
            }
            other => self.effect(other),
        }
    }

    /// An expression evaluated for its effect: a call's missing result needs no local.
    fn effect(&mut self, e: &ast::Expr) {
        match e {
            ast::Expr::CallExpr(call) => {
                self.call(call, None, false);
            }
            ast::Expr::MethodCallExpr(call) => {
                self.method_call(call, None, false);
            }
            ast::Expr::ParenExpr(p) => {
                if let Some(inner) = p.expr() {
                    self.effect(&inner);
                }
            }
            other => {
                self.expr(other, None);
            }
        }
    }

    fn builtin(
        &mut self,
        b: Builtin,
        args: &[ast::Expr],
        e: &ast::Expr,
        dest: Option<LocalId>,
    ) -> Option<LocalId> {
        let at = range(e);
        let Some(first) = args.first() else {
            return Some(self.dest(e, dest));
        };
        let first_ty = self.infer.type_of(first);
        match b {
            Builtin::Print => {
                let v = self.expr_as(first, first_ty.non_null(), None);
                self.emit(InstKind::Print { value: v }, at);
                None
            }
            Builtin::Len => {
                let v = self.expr_as(first, first_ty.non_null(), None);
                let d = self.dest(e, dest);
                self.emit(InstKind::Len { dest: d, value: v }, at);
                Some(d)
            }
            Builtin::Str => {
                let v = self.expr_as(first, first_ty.non_null(), None);
                let d = self.dest(e, dest);
                self.emit(InstKind::ToString { dest: d, value: v }, at);
                Some(d)
            }
            Builtin::Free => {
                let v = self.expr(first, None);
                self.emit(InstKind::Free { value: v }, at);
                None
            }
            Builtin::Push | Builtin::Pop => {
                let container = self.place(first);
                let array = self.load(&container, range(first));
                self.null_check_if(array, &first_ty, range(first));
                let result = if b == Builtin::Push {
                    let elem = match first_ty.non_null() {
                        Ty::Array(elem) => (**elem).clone(),
                        _ => Ty::Unknown,
                    };
                    let value = match args.get(1) {
                        Some(v) => self.expr_as(v, &elem, None),
                        None => self.const_int(0, at),
                    };
                    self.emit(InstKind::Push { array, value }, at);
                    None
                } else {
                    let d = self.dest(e, dest);
                    self.emit(InstKind::Pop { dest: d, array }, at);
                    Some(d)
                };
                self.write_back(&container, array, at);
                result
            }
        }
    }
}

fn is_null_literal(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Literal(l) => matches!(l.kind(), Some(ast::LiteralKind::Null)),
        ast::Expr::ParenExpr(p) => p.expr().is_some_and(|inner| is_null_literal(&inner)),
        _ => false,
    }
}
