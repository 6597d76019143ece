//! Name resolution and type checking of one body.
//!
//! A body (function, method, `drop` block, global initialiser) is checked on its own
//! subtree, against the [`ItemScope`] of the file, so the result is position-independent
//! and reused across edits elsewhere. Checking is bidirectional: an expected type flows
//! down into an expression (which is how `null`, `[]` and closures get their types), and
//! each expression's type flows up.
//!
//! One mistake, one diagnostic: whatever cannot be typed gets [`Ty::Unknown`], which fits
//! every expectation, so nothing downstream of an error is reported again.
//!
//! The result records, for the lowering: every local (parameters, `let`s, `for`
//! variables, across the body and its closures), the type of every expression, what every
//! name refers to, which field or method every `.` selects, and what each closure
//! captures (the enclosing locals its body mentions, in order of first mention).

use super::item_tree::{Body, BodyPath, body_source};
use super::scope::{BUILTIN_FUNCTIONS, BodyOwner, ItemRef, ItemScope, item_scope};
use super::ty::{ClassIdx, Ty};
use crate::diagnostic::{Diagnostic, codes};
use custody_ir::Mode;
use custody_syntax::ast::{self, AstNode, SyntaxNodePtr};
use custody_syntax::{CustodyLanguage, SyntaxNode, TextRange};
use std::collections::HashMap;

/// A pointer to a node of the body's subtree (offsets relative to the body).
pub type NodePtr = SyntaxNodePtr<CustodyLanguage>;

/// A local variable: an index into [`InferenceResult::locals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalIdx(pub u32);

/// What kind of variable a local is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalKind {
    /// A parameter, `self` included.
    Param,
    /// A `let`.
    Let,
    /// A `for` variable.
    LoopVar,
}

/// A local variable of the body or of one of its closures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalData {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// What it is.
    pub kind: LocalKind,
    /// The function that declares it: `None` for the body itself, `Some(k)` for closure `k`.
    pub owner: Option<u32>,
    /// The declaring name (relative range).
    pub range: TextRange,
    /// A parameter's declared mode.
    pub mode: Option<Mode>,
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `print(x)`
    Print,
    /// `len(a)`
    Len,
    /// `push(a, x)`
    Push,
    /// `pop(a)`
    Pop,
    /// `str(x)`
    Str,
    /// `free(x)`
    Free,
}

impl Builtin {
    fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "print" => Builtin::Print,
            "len" => Builtin::Len,
            "push" => Builtin::Push,
            "pop" => Builtin::Pop,
            "str" => Builtin::Str,
            "free" => Builtin::Free,
            _ => return None,
        })
    }
}

/// What a name in an expression refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// A local variable.
    Local(LocalIdx),
    /// A function of the file.
    Fn(u32),
    /// An extern.
    Extern(u32),
    /// A global.
    Global(u32),
    /// A built-in function.
    Builtin(Builtin),
}

/// A closure literal in the body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClosureData {
    /// Its number within the body, in source order of the literals (`main#closure0`).
    pub index: u32,
    /// The closure that contains this one, if any.
    pub parent: Option<u32>,
    /// The enclosing locals it captures, in order of first mention.
    pub captures: Vec<LocalIdx>,
    /// Its parameters.
    pub params: Vec<LocalIdx>,
    /// Its result type.
    pub ret: Option<Ty>,
}

/// Everything the checker learned about a body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InferenceResult {
    /// All locals of the body and its closures.
    pub locals: Vec<LocalData>,
    /// The body's own parameters (`self` first for methods and drop blocks).
    pub params: Vec<LocalIdx>,
    /// The type of every expression.
    pub expr_types: HashMap<NodePtr, Ty>,
    /// What each `NameRef` expression refers to (callees included).
    pub names: HashMap<NodePtr, Resolution>,
    /// The local each `let`, `for`, parameter and `self` parameter node declares.
    pub bindings: HashMap<NodePtr, LocalIdx>,
    /// The field index selected by each field expression and record field.
    pub fields: HashMap<NodePtr, u32>,
    /// The method each method call calls: class and method index.
    pub methods: HashMap<NodePtr, (ClassIdx, u32)>,
    /// The closures, by their literal.
    pub closures: HashMap<NodePtr, ClosureData>,
    /// The result type of the body.
    pub ret: Option<Ty>,
    /// Problems, in relative coordinates.
    pub diagnostics: Vec<Diagnostic>,
}

impl InferenceResult {
    /// The type of an expression (`Unknown` if it was never typed).
    pub fn type_of(&self, expr: &ast::Expr) -> Ty {
        self.expr_types.get(&NodePtr::new(expr.syntax())).cloned().unwrap_or(Ty::Unknown)
    }

    /// The local a declaration node declares.
    pub fn binding(&self, node: &SyntaxNode) -> Option<LocalIdx> {
        self.bindings.get(&NodePtr::new(node)).copied()
    }

    /// A local's data.
    pub fn local(&self, idx: LocalIdx) -> &LocalData {
        &self.locals[idx.0 as usize]
    }
}

/// Checks one body.
#[salsa::tracked(returns(ref))]
pub fn infer_body<'db>(db: &'db dyn salsa::Database, body: Body<'db>) -> InferenceResult {
    let scope = item_scope(db, *body.file(db));
    let Some(green) = body_source(db, body).clone() else {
        return InferenceResult::default();
    };
    let root = SyntaxNode::new_root(green);
    let body_index = scope.body_id(body.path(db), *body.index(db));
    infer(scope, body.path(db), body_index, &root)
}

/// Checks a body's node (`FN_ITEM`, `DROP_BLOCK` or `GLOBAL_ITEM`).
pub fn infer(
    scope: &ItemScope,
    path: &BodyPath,
    body_index: Option<u32>,
    root: &SyntaxNode,
) -> InferenceResult {
    let mut cx = Checker {
        scope,
        result: InferenceResult::default(),
        scopes: vec![],
        visible: HashMap::new(),
        closure_ptrs: vec![],
        fns: vec![],
        global_limit: None,
        closure_count: 0,
    };
    match path {
        BodyPath::Fn(_) | BodyPath::Method(..) => {
            let Some(f) = ast::FnItem::cast(root.clone()) else {
                return cx.result;
            };
            let sig = body_index.and_then(|b| scope.body_sig(b)).cloned();
            let self_ty = match path {
                BodyPath::Method(class, _) => scope.lookup(class).and_then(|r| match r {
                    ItemRef::Class(idx) => Some(Ty::Class(idx)),
                    _ => None,
                }),
                _ => None,
            };
            let ret = sig.as_ref().and_then(|s| s.ret.clone());
            cx.enter_fn(ret.clone(), None);
            cx.result.ret = ret.clone();
            // Parameters: names from the syntax, types from the signature (whose problems
            // the item diagnostics already reported).
            let mut sig_params = sig.iter().flat_map(|s| s.params.iter());
            for param in f.param_list().iter().flat_map(|l| l.all_params()) {
                let (name, range, mode) = match &param {
                    ast::AnyParam::SelfParam(it) => {
                        if self_ty.is_none() {
                            continue;
                        }
                        ("self".to_string(), it.syntax().text_range(), it.mode().and_then(|m| m.mode()))
                    }
                    ast::AnyParam::Param(it) => (
                        it.name().map(|n| n.text()).unwrap_or_default(),
                        it.name().map_or(it.syntax().text_range(), |n| n.syntax().text_range()),
                        it.mode().and_then(|m| m.mode()),
                    ),
                };
                let ty = sig_params.next().map_or(Ty::Unknown, |p| p.ty.clone());
                let local = cx.declare(name, ty, LocalKind::Param, range, mode.map(super::scope::to_mode));
                cx.result.bindings.insert(NodePtr::new(param.syntax()), local);
                cx.result.params.push(local);
            }
            if let Some(block) = f.body() {
                let returns = cx.block(&block);
                if let Some(ret) = &ret
                    && !returns
                    && !ret.is_unknown()
                {
                    let at = f.name().map_or(f.syntax().text_range(), |n| n.syntax().text_range());
                    cx.error(
                        codes::MISSING_RETURN,
                        at,
                        format!(
                            "`{}` must return `{}` on every path, but its end can be reached (loops do not count as returning)",
                            f.name().map(|n| n.text()).unwrap_or_default(),
                            scope.display(ret)
                        ),
                    );
                }
            }
            cx.exit_fn();
        }
        BodyPath::Drop(class) => {
            let Some(d) = ast::DropBlock::cast(root.clone()) else {
                return cx.result;
            };
            cx.enter_fn(None, None);
            if let Some(ItemRef::Class(idx)) = scope.lookup(class) {
                let local = cx.declare(
                    "self".into(),
                    Ty::Class(idx),
                    LocalKind::Param,
                    d.syntax().text_range(),
                    Some(Mode::Borrow),
                );
                cx.result.params.push(local);
            }
            if let Some(block) = d.body() {
                cx.block(&block);
            }
            cx.exit_fn();
        }
        BodyPath::GlobalInit(name) => {
            let Some(g) = ast::GlobalItem::cast(root.clone()) else {
                return cx.result;
            };
            let global = match body_index.and_then(|b| scope.body_owners.get(b as usize)) {
                Some(BodyOwner::Global(g)) => Some(*g as usize),
                _ => None,
            };
            cx.global_limit = global.map(|g| g as u32);
            let ty = global.map_or(Ty::Unknown, |g| scope.globals[g].ty.clone());
            cx.enter_fn(Some(ty.clone()), None);
            cx.result.ret = Some(ty.clone());
            if let Some(init) = g.init() {
                cx.check_expr(&init, &ty, &format!("the initialiser of global `{name}`"));
            }
            cx.exit_fn();
        }
    }
    cx.result.diagnostics.sort_by_key(|d| (d.range.start(), d.range.end()));
    cx.result
}

/// The function being checked: the body or a closure inside it.
struct FnFrame {
    ret: Option<Ty>,
    loop_depth: u32,
    /// `None` for the body, `Some(k)` for closure `k`.
    closure: Option<u32>,
    /// The first lexical scope that belongs to this function.
    first_scope: usize,
}

struct Checker<'a> {
    scope: &'a ItemScope,
    result: InferenceResult,
    /// Lexical scopes, innermost last: the names each declares (to undo on exit).
    scopes: Vec<Vec<String>>,
    /// For each name, the locals it can mean, innermost last, with the scope depth that
    /// declared each: a lookup is one hash probe, however many locals are in scope.
    visible: HashMap<String, Vec<(usize, LocalIdx)>>,
    /// The literal of each closure, by number.
    closure_ptrs: Vec<NodePtr>,
    fns: Vec<FnFrame>,
    /// In a global initialiser: globals from this index on are not yet initialised.
    global_limit: Option<u32>,
    closure_count: u32,
}

fn range(node: &impl AstNode<Language = CustodyLanguage>) -> TextRange {
    node.syntax().text_range()
}

impl Checker<'_> {
    fn error(&mut self, code: &'static str, range: TextRange, message: impl Into<String>) {
        self.result.diagnostics.push(Diagnostic::error(code, range, message));
    }

    fn show(&self, ty: &Ty) -> String {
        format!("`{}`", self.scope.display(ty))
    }

    fn enter_fn(&mut self, ret: Option<Ty>, closure: Option<u32>) {
        self.fns.push(FnFrame { ret, loop_depth: 0, closure, first_scope: self.scopes.len() });
        self.push_scope();
    }

    fn exit_fn(&mut self) {
        if let Some(frame) = self.fns.pop() {
            while self.scopes.len() > frame.first_scope {
                self.pop_scope();
            }
        }
    }

    fn frame(&mut self) -> &mut FnFrame {
        self.fns.last_mut().expect("checking always happens inside a function frame")
    }

    fn declare(
        &mut self,
        name: String,
        ty: Ty,
        kind: LocalKind,
        range: TextRange,
        mode: Option<Mode>,
    ) -> LocalIdx {
        let owner = self.fns.last().and_then(|f| f.closure);
        let idx = LocalIdx(self.result.locals.len() as u32);
        self.result.locals.push(LocalData { name: name.clone(), ty, kind, owner, range, mode });
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(name.clone());
            let depth = self.scopes.len() - 1;
            self.visible.entry(name).or_default().push((depth, idx));
        }
        idx
    }

    fn push_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    fn pop_scope(&mut self) {
        for name in self.scopes.pop().unwrap_or_default() {
            if let Some(stack) = self.visible.get_mut(&name) {
                stack.pop();
            }
        }
    }

    /// Looks a value name up: locals (recording captures for the closures crossed), then
    /// items, then built-ins.
    fn resolve_value(&mut self, name: &str) -> Option<Resolution> {
        if let Some(&(depth, local)) = self.visible.get(name).and_then(|stack| stack.last()) {
            // Every closure whose frame starts above the local's scope captures it.
            let crossing: Vec<u32> =
                self.fns.iter().filter(|f| f.first_scope > depth).filter_map(|f| f.closure).collect();
            for closure in crossing {
                let ptr = self.closure_ptrs[closure as usize];
                if let Some(data) = self.result.closures.get_mut(&ptr)
                    && !data.captures.contains(&local)
                {
                    data.captures.push(local);
                }
            }
            return Some(Resolution::Local(local));
        }
        match self.scope.lookup(name) {
            Some(ItemRef::Fn(i)) => Some(Resolution::Fn(i)),
            Some(ItemRef::Extern(i)) => Some(Resolution::Extern(i)),
            Some(ItemRef::Global(i)) => Some(Resolution::Global(i)),
            Some(ItemRef::Class(_) | ItemRef::Struct(_)) => None,
            None => Builtin::from_name(name).map(Resolution::Builtin),
        }
    }

    /// Whether a local is captured by the closure being checked (and so read-only here).
    fn is_captured(&self, local: LocalIdx) -> bool {
        let owner = self.result.locals[local.0 as usize].owner;
        self.fns.last().is_some_and(|f| f.closure != owner)
    }

    // ---- statements -----------------------------------------------------------------------

    /// Checks a block in a new scope; returns whether every path through it returns.
    fn block(&mut self, block: &ast::Block) -> bool {
        self.push_scope();
        let mut returns = false;
        for stmt in block.stmts() {
            returns |= self.stmt(&stmt);
        }
        self.pop_scope();
        returns
    }

    fn stmt(&mut self, stmt: &ast::Stmt) -> bool {
        match stmt {
            ast::Stmt::LetStmt(it) => {
                self.let_stmt(it);
                false
            }
            ast::Stmt::AssignStmt(it) => {
                self.assign(it);
                false
            }
            ast::Stmt::ExprStmt(it) => {
                if let Some(e) = it.expr() {
                    self.infer_expr(&e, None);
                }
                false
            }
            ast::Stmt::IfStmt(it) => self.if_stmt(it),
            ast::Stmt::WhileStmt(it) => {
                if let Some(cond) = it.condition() {
                    self.check_expr(&cond, &Ty::Bool, "the `while` condition");
                }
                self.loop_body(it.body());
                false
            }
            ast::Stmt::ForStmt(it) => {
                self.for_stmt(it);
                false
            }
            ast::Stmt::ReturnStmt(it) => {
                self.return_stmt(it);
                true
            }
            ast::Stmt::BreakStmt(it) => {
                if self.frame().loop_depth == 0 {
                    self.error(codes::INVALID_CONTROL_FLOW, range(it), "`break` outside of a loop");
                }
                false
            }
            ast::Stmt::ContinueStmt(it) => {
                if self.frame().loop_depth == 0 {
                    self.error(codes::INVALID_CONTROL_FLOW, range(it), "`continue` outside of a loop");
                }
                false
            }
            ast::Stmt::Block(it) => self.block(it),
            ast::Stmt::ArenaStmt(it) => it.body().is_some_and(|b| self.block(&b)),
            ast::Stmt::SpawnStmt(it) => {
                if let Some(e) = it.expr() {
                    let is_call = match &e {
                        ast::Expr::CallExpr(call) => !matches!(
                            call.callee(),
                            Some(ast::Expr::NameRef(n)) if Builtin::from_name(&n.text()).is_some() && self.scope.lookup(&n.text()).is_none() && !self.is_local(&n.text())
                        ),
                        ast::Expr::MethodCallExpr(_) => true,
                        _ => false,
                    };
                    if !is_call {
                        self.error(
                            codes::INVALID_CONTROL_FLOW,
                            range(&e),
                            "`spawn` needs a call of a function, method or closure: `spawn f(x);`",
                        );
                    }
                    self.infer_expr(&e, None);
                }
                false
            }
        }
    }

    fn is_local(&self, name: &str) -> bool {
        self.visible.get(name).is_some_and(|stack| !stack.is_empty())
    }

    fn loop_body(&mut self, body: Option<ast::Block>) {
        self.frame().loop_depth += 1;
        if let Some(b) = body {
            self.block(&b);
        }
        self.frame().loop_depth -= 1;
    }

    fn let_stmt(&mut self, it: &ast::LetStmt) {
        let annotation = it.ty().map(|t| {
            let mut diags = Vec::new();
            let ty = self.scope.resolve_type(&t, &mut |d| diags.push(d));
            self.result.diagnostics.extend(diags);
            ty
        });
        let name = it.name();
        let text = name.as_ref().map(|n| n.text()).unwrap_or_default();
        let ty = match (&annotation, it.init()) {
            (Some(ann), Some(init)) => {
                self.check_expr(&init, ann, &format!("`{text}`"));
                ann.clone()
            }
            (None, Some(init)) => {
                let ty = self.infer_expr(&init, None);
                match ty {
                    Ty::Null => {
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(&init),
                            format!("the type of `null` is not known here: annotate the variable (`let {text}: T? = null;`)"),
                        );
                        Ty::Unknown
                    }
                    Ty::EmptyArray => {
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(&init),
                            format!("the element type of `[]` is not known here: annotate the variable (`let {text}: [T] = [];`)"),
                        );
                        Ty::Unknown
                    }
                    Ty::Unit => {
                        self.error(codes::TYPE_MISMATCH, range(&init), "this call returns no value to store");
                        Ty::Unknown
                    }
                    ty => ty,
                }
            }
            (ann, None) => ann.clone().unwrap_or(Ty::Unknown),
        };
        if let Some(name) = name {
            if BUILTIN_FUNCTIONS.contains(&text.as_str()) {
                self.error(
                    codes::DUPLICATE_DEFINITION,
                    range(&name),
                    format!("`{text}` is a built-in function and cannot name a variable"),
                );
            }
            let local = self.declare(text, ty, LocalKind::Let, range(&name), None);
            self.result.bindings.insert(NodePtr::new(it.syntax()), local);
        }
    }

    fn assign(&mut self, it: &ast::AssignStmt) {
        let Some(place) = it.place() else { return };
        let ty = self.infer_expr(&place, None);
        let is_place = self.check_place(&place, "assign to");
        if let Some(value) = it.value() {
            if is_place {
                self.check_expr(&value, &ty, "the assigned value");
            } else {
                self.infer_expr(&value, None);
            }
        }
    }

    /// Whether `e` is a place that can be written; reports why not.
    fn check_place(&mut self, e: &ast::Expr, action: &str) -> bool {
        match e {
            ast::Expr::NameRef(n) => {
                match self.result.names.get(&NodePtr::new(n.syntax())).copied() {
                    Some(Resolution::Local(local)) => {
                        if self.is_captured(local) {
                            let name = n.text();
                            self.error(
                            codes::TYPE_MISMATCH,
                            range(n),
                            format!("cannot {action} `{name}`: a closure holds a copy of `{name}`, which cannot change"),
                        );
                            return false;
                        }
                        true
                    }
                    Some(Resolution::Global(_)) => true,
                    // Using a function as a value was already reported where it was read.
                    Some(_) | None => false,
                }
            }
            ast::Expr::FieldExpr(f) => match f.receiver() {
                Some(receiver) => match self.result.type_of(&receiver).non_null() {
                    Ty::Struct(_) => self.check_place(&receiver, action),
                    _ => true,
                },
                None => false,
            },
            ast::Expr::IndexExpr(i) => match i.base() {
                Some(base) => self.check_place(&base, action),
                None => false,
            },
            ast::Expr::ParenExpr(p) => {
                self.error(
                    codes::TYPE_MISMATCH,
                    range(p),
                    format!(
                        "cannot {action} a parenthesised expression: name the variable, field or element"
                    ),
                );
                false
            }
            other => {
                self.error(
                    codes::TYPE_MISMATCH,
                    range(other),
                    format!(
                        "cannot {action} this value: only a variable, a field or an element can be written"
                    ),
                );
                false
            }
        }
    }

    fn if_stmt(&mut self, it: &ast::IfStmt) -> bool {
        if let Some(cond) = it.condition() {
            self.check_expr(&cond, &Ty::Bool, "the `if` condition");
        }
        let then_returns = it.then_branch().is_some_and(|b| self.block(&b));
        let else_returns = match it.else_branch() {
            Some(ast::ElseBranch::Block(b)) => self.block(&b),
            Some(ast::ElseBranch::IfStmt(nested)) => self.if_stmt(&nested),
            None => false,
        };
        then_returns && else_returns
    }

    fn for_stmt(&mut self, it: &ast::ForStmt) {
        let var_ty = if let Some(range_clause) = it.range() {
            for bound in [range_clause.start(), range_clause.end()].into_iter().flatten() {
                self.check_expr(&bound, &Ty::Int, "a range bound");
            }
            Ty::Int
        } else if let Some(iterable) = it.iterable() {
            let ty = self.infer_expr(&iterable, None);
            match ty.non_null() {
                Ty::Array(elem) => (**elem).clone(),
                Ty::EmptyArray => {
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(&iterable),
                        "the element type of `[]` is not known here",
                    );
                    Ty::Unknown
                }
                t if t.is_unknown() => Ty::Unknown,
                _ => {
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(&iterable),
                        format!("`for` iterates over an array or a range `a..b`, found {}", self.show(&ty)),
                    );
                    Ty::Unknown
                }
            }
        } else {
            Ty::Unknown
        };
        self.push_scope();
        if let Some(name) = it.name() {
            let text = name.text();
            let local = self.declare(text, var_ty, LocalKind::LoopVar, range(&name), None);
            self.result.bindings.insert(NodePtr::new(it.syntax()), local);
        }
        self.loop_body(it.body());
        self.pop_scope();
    }

    fn return_stmt(&mut self, it: &ast::ReturnStmt) {
        let ret = self.frame().ret.clone();
        match (it.expr(), ret) {
            (Some(e), Some(ret)) => self.check_expr(&e, &ret, "the returned value"),
            (Some(e), None) => {
                self.infer_expr(&e, None);
                self.error(
                    codes::INVALID_CONTROL_FLOW,
                    range(&e),
                    "this function returns no value: remove the value, or declare a result type with `->`",
                );
            }
            (None, Some(ret)) if !ret.is_unknown() => {
                let shown = self.show(&ret);
                self.error(
                    codes::INVALID_CONTROL_FLOW,
                    range(it),
                    format!("this function returns {shown}: `return` needs a value"),
                );
            }
            (None, _) => {}
        }
    }

    // ---- expressions ----------------------------------------------------------------------

    /// Checks `e` against `expected`, reporting a mismatch at `e`.
    fn check_expr(&mut self, e: &ast::Expr, expected: &Ty, what: &str) {
        let ty = self.infer_expr(e, Some(expected));
        if ty == Ty::Unit {
            self.error(
                codes::TYPE_MISMATCH,
                range(e),
                format!("{what} must be {}, but this call returns no value", self.show(expected)),
            );
        } else if !ty.fits(expected) {
            let message = match ty {
                Ty::Null => format!(
                    "{what} must be {}, which cannot be `null` (write `{}?` for a nullable type)",
                    self.show(expected),
                    self.scope.display(expected)
                ),
                _ => format!("{what} must be {}, found {}", self.show(expected), self.show(&ty)),
            };
            self.error(codes::TYPE_MISMATCH, range(e), message);
        }
    }

    fn infer_expr(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Ty {
        let ty = self.infer_inner(e, expected);
        // `null` and `[]` take the expected type where there is one.
        let ty = match (&ty, expected) {
            (Ty::Null, Some(exp)) if exp.is_unknown() || matches!(exp, Ty::Nullable(_)) => exp.clone(),
            (Ty::EmptyArray, Some(exp)) if matches!(exp.non_null(), Ty::Array(_)) => exp.non_null().clone(),
            _ => ty,
        };
        self.result.expr_types.insert(NodePtr::new(e.syntax()), ty.clone());
        ty
    }

    fn infer_inner(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Ty {
        match e {
            ast::Expr::Literal(it) => match it.kind() {
                Some(ast::LiteralKind::Int(_)) => Ty::Int,
                Some(ast::LiteralKind::Float(_)) => Ty::Float,
                Some(ast::LiteralKind::String(_)) => Ty::String,
                Some(ast::LiteralKind::Bool(_)) => Ty::Bool,
                Some(ast::LiteralKind::Null) => Ty::Null,
                None => Ty::Unknown,
            },
            ast::Expr::NameRef(it) => self.name_expr(it),
            ast::Expr::SelfExpr(it) => match self.resolve_value("self") {
                Some(Resolution::Local(local)) => {
                    self.result.names.insert(NodePtr::new(it.syntax()), Resolution::Local(local));
                    self.result.local(local).ty.clone()
                }
                _ => {
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(it),
                        "`self` is only available in methods and `drop` blocks",
                    );
                    Ty::Unknown
                }
            },
            ast::Expr::ParenExpr(it) => {
                it.expr().map_or(Ty::Unknown, |inner| self.infer_expr(&inner, expected))
            }
            ast::Expr::ArrayExpr(it) => self.array_expr(it, expected),
            ast::Expr::ArrayRepeatExpr(it) => {
                let elem_expected = expected.and_then(|t| match t.non_null() {
                    Ty::Array(elem) => Some((**elem).clone()),
                    _ => None,
                });
                let elem = match (it.value(), &elem_expected) {
                    (Some(v), Some(exp)) => {
                        self.check_expr(&v, exp, "the repeated value");
                        exp.clone()
                    }
                    (Some(v), None) => self.infer_expr(&v, None),
                    (None, _) => Ty::Unknown,
                };
                if let Some(count) = it.count() {
                    self.check_expr(&count, &Ty::Int, "the repeat count");
                }
                match elem {
                    Ty::Null | Ty::EmptyArray => {
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(it),
                            "the element type of this array is not known here: annotate the variable",
                        );
                        Ty::Unknown
                    }
                    elem => Ty::Array(Box::new(elem)),
                }
            }
            ast::Expr::RecordExpr(it) => self.record_expr(it),
            ast::Expr::ClosureExpr(it) => self.closure_expr(it),
            ast::Expr::PrefixExpr(it) => {
                let Some(operand) = it.expr() else {
                    return Ty::Unknown;
                };
                let ty = self.infer_expr(&operand, None);
                match (it.op(), ty.non_null()) {
                    (_, t) if t.is_unknown() => Ty::Unknown,
                    (Some(ast::PrefixOp::Neg), Ty::Int) => Ty::Int,
                    (Some(ast::PrefixOp::Neg), Ty::Float) => Ty::Float,
                    (Some(ast::PrefixOp::Not), Ty::Bool) => Ty::Bool,
                    (Some(op), _) => {
                        let (sym, wants) = match op {
                            ast::PrefixOp::Neg => ("-", "an `int` or a `float`"),
                            ast::PrefixOp::Not => ("!", "a `bool`"),
                        };
                        let shown = self.show(&ty);
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(it),
                            format!("`{sym}` needs {wants}, found {shown}"),
                        );
                        Ty::Unknown
                    }
                    (None, _) => Ty::Unknown,
                }
            }
            ast::Expr::BinExpr(it) => self.bin_expr(it),
            ast::Expr::CallExpr(it) => self.call_expr(it),
            ast::Expr::MethodCallExpr(it) => self.method_call(it),
            ast::Expr::FieldExpr(it) => {
                let Some(receiver) = it.receiver() else {
                    return Ty::Unknown;
                };
                let ty = self.infer_expr(&receiver, None);
                let Some(name) = it.name_ref() else {
                    return Ty::Unknown;
                };
                let field = name.text();
                let (fields, index) = match ty.non_null() {
                    Ty::Class(c) => {
                        let class = &self.scope.classes[c.0 as usize];
                        (&class.fields, &class.field_index)
                    }
                    Ty::Struct(s) => {
                        let strukt = &self.scope.structs[s.0 as usize];
                        (&strukt.fields, &strukt.field_index)
                    }
                    t if t.is_unknown() => return Ty::Unknown,
                    _ => {
                        let shown = self.show(&ty);
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(&name),
                            format!("{shown} has no fields: only objects and structs do"),
                        );
                        return Ty::Unknown;
                    }
                };
                match index.get(&field).map(|&i| i as usize) {
                    Some(i) => {
                        let fty = fields[i].ty.clone();
                        self.result.fields.insert(NodePtr::new(it.syntax()), i as u32);
                        fty
                    }
                    None => {
                        let shown = self.show(&ty);
                        self.error(
                            codes::UNRESOLVED_NAME,
                            range(&name),
                            format!("{shown} has no field `{field}`"),
                        );
                        Ty::Unknown
                    }
                }
            }
            ast::Expr::IndexExpr(it) => {
                let base_ty = it.base().map_or(Ty::Unknown, |b| self.infer_expr(&b, None));
                if let Some(index) = it.index() {
                    self.check_expr(&index, &Ty::Int, "an index");
                }
                match base_ty.non_null() {
                    Ty::Array(elem) => (**elem).clone(),
                    t if t.is_unknown() => Ty::Unknown,
                    _ => {
                        let shown = self.show(&base_ty);
                        let at = it.base().map_or(range(it), |b| range(&b));
                        self.error(
                            codes::TYPE_MISMATCH,
                            at,
                            format!("only arrays can be indexed, found {shown}"),
                        );
                        Ty::Unknown
                    }
                }
            }
        }
    }

    fn name_expr(&mut self, it: &ast::NameRef) -> Ty {
        let name = it.text();
        let ptr = NodePtr::new(it.syntax());
        match self.resolve_value(&name) {
            Some(res) => {
                self.result.names.insert(ptr, res);
                match res {
                    Resolution::Local(local) => self.result.local(local).ty.clone(),
                    Resolution::Global(g) => {
                        if let Some(limit) = self.global_limit
                            && g >= limit
                            && self.fns.len() == 1
                        {
                            self.error(
                                codes::UNRESOLVED_NAME,
                                range(it),
                                format!("`{name}` is not initialised yet: a global's initialiser can use only the globals declared before it"),
                            );
                            return Ty::Unknown;
                        }
                        self.scope.globals[g as usize].ty.clone()
                    }
                    Resolution::Fn(_) | Resolution::Extern(_) | Resolution::Builtin(_) => {
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(it),
                            format!("`{name}` is a function, not a value: call it, or wrap it in a closure"),
                        );
                        Ty::Unknown
                    }
                }
            }
            None => {
                let message = match self.scope.lookup(&name) {
                    Some(ItemRef::Class(_) | ItemRef::Struct(_)) => {
                        format!("`{name}` is a type, not a value: build one with `{name} {{ ... }}`")
                    }
                    _ => format!("cannot find `{name}` in this scope"),
                };
                let code = if matches!(self.scope.lookup(&name), Some(ItemRef::Class(_) | ItemRef::Struct(_)))
                {
                    codes::TYPE_MISMATCH
                } else {
                    codes::UNRESOLVED_NAME
                };
                self.error(code, range(it), message);
                Ty::Unknown
            }
        }
    }

    fn array_expr(&mut self, it: &ast::ArrayExpr, expected: Option<&Ty>) -> Ty {
        let elem_expected = expected.and_then(|t| match t.non_null() {
            Ty::Array(elem) => Some((**elem).clone()),
            _ => None,
        });
        let elements: Vec<ast::Expr> = it.elements().collect();
        if elements.is_empty() {
            return Ty::EmptyArray;
        }
        if let Some(exp) = elem_expected {
            for el in &elements {
                self.check_expr(el, &exp, "an array element");
            }
            return Ty::Array(Box::new(exp));
        }
        // No expected type: the first element that says something decides; `null`
        // elements make it nullable.
        let mut elem: Option<Ty> = None;
        let mut has_null = false;
        for el in &elements {
            match &elem {
                None => match self.infer_expr(el, None) {
                    Ty::Null => has_null = true,
                    ty => elem = Some(ty),
                },
                Some(decided) => {
                    let decided = decided.clone();
                    let ty = self.infer_expr(el, Some(&decided.clone().nullable()));
                    if matches!(ty, Ty::Null) || (ty.is_nullable() && !decided.is_nullable()) {
                        has_null = true;
                    } else if !ty.fits(&decided) {
                        let (a, b) = (self.show(&decided), self.show(&ty));
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(el),
                            format!("the elements of an array must have one type: expected {a}, found {b}"),
                        );
                    }
                }
            }
        }
        match elem {
            Some(Ty::EmptyArray) | None => {
                self.error(
                    codes::TYPE_MISMATCH,
                    range(it),
                    "the element type of this array is not known here: annotate the variable",
                );
                Ty::Unknown
            }
            Some(ty) if has_null => Ty::Array(Box::new(ty.nullable())),
            Some(ty) => Ty::Array(Box::new(ty)),
        }
    }

    fn record_expr(&mut self, it: &ast::RecordExpr) -> Ty {
        let Some(name_ref) = it.name_ref() else {
            return Ty::Unknown;
        };
        let name = name_ref.text();
        let (ty, fields, index) = match self.scope.lookup(&name) {
            Some(ItemRef::Class(c)) => {
                let class = &self.scope.classes[c.0 as usize];
                (Ty::Class(c), class.fields.clone(), class.field_index.clone())
            }
            Some(ItemRef::Struct(s)) => {
                let strukt = &self.scope.structs[s.0 as usize];
                (Ty::Struct(s), strukt.fields.clone(), strukt.field_index.clone())
            }
            Some(_) => {
                self.error(
                    codes::TYPE_MISMATCH,
                    range(&name_ref),
                    format!("`{name}` is not a class or a struct"),
                );
                self.infer_record_fields_blind(it);
                return Ty::Unknown;
            }
            None => {
                self.error(
                    codes::UNRESOLVED_NAME,
                    range(&name_ref),
                    format!("cannot find class or struct `{name}`"),
                );
                self.infer_record_fields_blind(it);
                return Ty::Unknown;
            }
        };
        let mut given = vec![false; fields.len()];
        for field in it.fields() {
            let Some(fname) = field.name_ref() else {
                continue;
            };
            let text = fname.text();
            match index.get(&text).map(|&i| i as usize) {
                Some(i) => {
                    if given[i] {
                        self.error(
                            codes::DUPLICATE_DEFINITION,
                            range(&fname),
                            format!("the field `{text}` is given more than once"),
                        );
                    }
                    given[i] = true;
                    self.result.fields.insert(NodePtr::new(field.syntax()), i as u32);
                    if let Some(value) = field.value() {
                        self.check_expr(&value, &fields[i].ty, &format!("field `{text}`"));
                    }
                }
                None => {
                    self.error(
                        codes::UNRESOLVED_NAME,
                        range(&fname),
                        format!("`{name}` has no field `{text}`"),
                    );
                    if let Some(value) = field.value() {
                        self.infer_expr(&value, None);
                    }
                }
            }
        }
        let missing: Vec<String> =
            fields.iter().zip(&given).filter(|(_, g)| !**g).map(|(f, _)| format!("`{}`", f.name)).collect();
        if !missing.is_empty() {
            let plural = if missing.len() == 1 { "field" } else { "fields" };
            self.error(
                codes::ARGUMENT_COUNT,
                range(&name_ref),
                format!("missing {plural} {} in `{name}`: every field must be given", missing.join(", ")),
            );
        }
        ty
    }

    fn infer_record_fields_blind(&mut self, it: &ast::RecordExpr) {
        for field in it.fields() {
            if let Some(value) = field.value() {
                self.infer_expr(&value, None);
            }
        }
    }

    fn closure_expr(&mut self, it: &ast::ClosureExpr) -> Ty {
        let index = self.closure_count;
        self.closure_count += 1;
        let parent = self.fns.last().and_then(|f| f.closure);
        let mut diags = Vec::new();
        let params: Vec<(ast::AnyParam, Ty)> = it
            .param_list()
            .iter()
            .flat_map(|l| l.all_params())
            .map(|p| {
                let ty = match &p {
                    ast::AnyParam::Param(param) => param
                        .ty()
                        .map_or(Ty::Unknown, |t| self.scope.resolve_type(&t, &mut |d| diags.push(d))),
                    ast::AnyParam::SelfParam(s) => {
                        diags.push(Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            range(s),
                            "only methods take `self`: a closure cannot",
                        ));
                        Ty::Unknown
                    }
                };
                (p, ty)
            })
            .collect();
        let ret = it
            .ret_type()
            .map(|r| r.ty().map_or(Ty::Unknown, |t| self.scope.resolve_type(&t, &mut |d| diags.push(d))));
        self.result.diagnostics.extend(diags);
        let ptr = NodePtr::new(it.syntax());
        self.closure_ptrs.push(ptr);
        self.result
            .closures
            .insert(ptr, ClosureData { index, parent, captures: vec![], params: vec![], ret: ret.clone() });
        self.enter_fn(ret.clone(), Some(index));
        let mut param_locals = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (p, ty) in &params {
            if let ast::AnyParam::Param(param) = p {
                let name = param.name().map(|n| n.text()).unwrap_or_default();
                if let Some(n) = param.name() {
                    if BUILTIN_FUNCTIONS.contains(&name.as_str()) {
                        self.error(
                            codes::DUPLICATE_DEFINITION,
                            range(&n),
                            format!("`{name}` is a built-in function and cannot name a parameter"),
                        );
                    } else if seen.contains(&name) {
                        self.error(
                            codes::DUPLICATE_DEFINITION,
                            range(&n),
                            format!("the parameter `{name}` is defined more than once"),
                        );
                    }
                    seen.push(name.clone());
                }
                let at = param.name().map_or(range(param), |n| range(&n));
                let mode = param.mode().and_then(|m| m.mode()).map(super::scope::to_mode);
                let local = self.declare(name, ty.clone(), LocalKind::Param, at, mode);
                self.result.bindings.insert(NodePtr::new(param.syntax()), local);
                param_locals.push(local);
            }
        }
        let returns = it.body().is_some_and(|b| self.block(&b));
        self.exit_fn();
        if let Some(data) = self.result.closures.get_mut(&ptr) {
            data.params = param_locals;
        }
        if let Some(ret) = &ret
            && !returns
            && !ret.is_unknown()
        {
            let shown = self.show(ret);
            let at = it.syntax().first_token().map_or(range(it), |t| t.text_range());
            self.error(
                codes::MISSING_RETURN,
                at,
                format!("this closure must return {shown} on every path, but its end can be reached"),
            );
        }
        Ty::Fn(params.into_iter().map(|(_, t)| t).collect(), ret.map(Box::new))
    }

    /// A run of operators of one precedence, applied left to right: the type of each
    /// prefix (`a + b`, then `a + b - c`, ...) is the left side of the next step. A loop,
    /// not a recursion, so a chain of any length costs no stack.
    fn bin_expr(&mut self, it: &ast::BinExpr) -> Ty {
        let Some(first) = it.lhs() else {
            return Ty::Unknown;
        };
        let steps = it.steps();
        if steps.is_empty() {
            return Ty::Unknown;
        }
        let start = range(it).start();
        let mut lt = self.infer_expr(&first, None);
        for step in steps {
            let op = step.op;
            // `null` on the right takes the left side's type, and the other way round.
            let Some(rhs) = step.rhs else {
                return Ty::Unknown;
            };
            let rt = self.infer_expr(
                &rhs,
                if matches!(op, ast::BinaryOp::Eq | ast::BinaryOp::Ne) { Some(&lt) } else { None },
            );
            let at = TextRange::new(start, range(&rhs).end());
            lt = self.bin_step(op, at, &lt, &rt);
        }
        lt
    }

    /// The type of `lt op rt` (reporting a mismatch at `at`, the prefix of the chain).
    fn bin_step(&mut self, op: ast::BinaryOp, at: TextRange, lt: &Ty, rt: &Ty) -> Ty {
        use ast::BinaryOp::*;
        if lt.is_unknown() || rt.is_unknown() {
            return match op {
                Eq | Ne | Lt | Le | Gt | Ge | And | Or => Ty::Bool,
                _ => Ty::Unknown,
            };
        }
        let (l, r) = (lt.non_null(), rt.non_null());
        let result = match op {
            Add => match (l, r) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (Ty::Float, Ty::Float) => Some(Ty::Float),
                (Ty::String, Ty::String) => Some(Ty::String),
                _ => None,
            },
            Sub | Mul | Div => match (l, r) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (Ty::Float, Ty::Float) => Some(Ty::Float),
                _ => None,
            },
            Rem => match (l, r) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                _ => None,
            },
            Lt | Le | Gt | Ge => match (l, r) {
                (Ty::Int, Ty::Int) | (Ty::Float, Ty::Float) | (Ty::String, Ty::String) => Some(Ty::Bool),
                _ => None,
            },
            And | Or => match (l, r) {
                (Ty::Bool, Ty::Bool) => Some(Ty::Bool),
                _ => None,
            },
            Eq | Ne => return self.equality(op, at, lt, rt),
        };
        match result {
            Some(ty) => ty,
            None => {
                let wants = match op {
                    Add => "two `int`s, two `float`s or two `string`s",
                    Sub | Mul | Div => "two `int`s or two `float`s",
                    Rem => "two `int`s",
                    Lt | Le | Gt | Ge => "two numbers of one type or two `string`s",
                    And | Or => "two `bool`s",
                    Eq | Ne => "",
                };
                let (a, b) = (self.show(lt), self.show(rt));
                self.error(
                    codes::TYPE_MISMATCH,
                    at,
                    format!("`{}` needs {wants}, found {a} and {b}", op.symbol()),
                );
                match op {
                    Lt | Le | Gt | Ge | And | Or => Ty::Bool,
                    _ => Ty::Unknown,
                }
            }
        }
    }

    fn equality(&mut self, op: ast::BinaryOp, at: TextRange, lt: &Ty, rt: &Ty) -> Ty {
        let op = op.symbol();
        let comparable = match (lt, rt) {
            (Ty::Null, Ty::Null) => true,
            (Ty::Null, other) | (other, Ty::Null) => {
                if !other.is_nullable() {
                    let shown = self.show(other);
                    self.error(
                        codes::TYPE_MISMATCH,
                        at,
                        format!(
                            "{shown} can never be `null`: only a nullable `T?` can be compared with `null`"
                        ),
                    );
                    return Ty::Bool;
                }
                true
            }
            (a, b) => a.non_null().fits(b.non_null()) || b.non_null().fits(a.non_null()),
        };
        if !comparable {
            let (a, b) = (self.show(lt), self.show(rt));
            self.error(
                codes::TYPE_MISMATCH,
                at,
                format!("`{op}` compares values of one type, found {a} and {b}"),
            );
        } else if matches!(lt.non_null(), Ty::Struct(_)) {
            self.error(
                codes::TYPE_MISMATCH,
                at,
                format!("structs cannot be compared with `{op}`: compare their fields"),
            );
        }
        Ty::Bool
    }

    fn check_args(&mut self, args: &[ast::Expr], params: &[Ty], callee: &str, at: TextRange) {
        if args.len() != params.len() {
            let plural = if params.len() == 1 { "argument" } else { "arguments" };
            let given = match args.len() {
                1 => "1 was given".to_string(),
                n => format!("{n} were given"),
            };
            self.error(
                codes::ARGUMENT_COUNT,
                at,
                format!("{callee} takes {} {plural}, but {given}", params.len()),
            );
        }
        for (i, arg) in args.iter().enumerate() {
            match params.get(i) {
                Some(p) => self.check_expr(arg, p, &format!("argument {} of {callee}", i + 1)),
                None => {
                    self.infer_expr(arg, None);
                }
            }
        }
    }

    fn call_expr(&mut self, it: &ast::CallExpr) -> Ty {
        let args: Vec<ast::Expr> = it.args().collect();
        let Some(callee) = it.callee() else {
            return Ty::Unknown;
        };
        let ast::Expr::NameRef(name_ref) = &callee else {
            let ty = self.infer_expr(&callee, None);
            if !ty.is_unknown() {
                self.error(
                    codes::TYPE_MISMATCH,
                    range(&callee),
                    "only a function, or a local variable holding a closure, can be called: store the closure in a `let` first",
                );
            }
            for arg in &args {
                self.infer_expr(arg, None);
            }
            return Ty::Unknown;
        };
        let name = name_ref.text();
        let ptr = NodePtr::new(name_ref.syntax());
        let resolution = self.resolve_value(&name);
        if let Some(res) = resolution {
            self.result.names.insert(ptr, res);
        }
        let call_range = range(it);
        match resolution {
            Some(Resolution::Fn(f)) => {
                let sig = self.scope.functions[f as usize].sig.clone();
                let params: Vec<Ty> = sig.params.iter().map(|p| p.ty.clone()).collect();
                self.check_args(&args, &params, &format!("`{name}`"), call_range);
                sig.ret.unwrap_or(Ty::Unit)
            }
            Some(Resolution::Extern(e)) => {
                let ext = self.scope.externs[e as usize].clone();
                let params: Vec<Ty> = ext.params.iter().map(|p| p.ty.clone()).collect();
                self.check_args(&args, &params, &format!("`{name}`"), call_range);
                ext.ret.unwrap_or(Ty::Unit)
            }
            Some(Resolution::Local(local)) => {
                let ty = self.result.local(local).ty.clone();
                self.result.expr_types.insert(NodePtr::new(name_ref.syntax()), ty.clone());
                match ty.non_null() {
                    Ty::Fn(params, ret) => {
                        let (params, ret) = (params.clone(), ret.clone());
                        self.check_args(&args, &params, &format!("the closure `{name}`"), call_range);
                        ret.map_or(Ty::Unit, |r| *r)
                    }
                    t if t.is_unknown() => {
                        for arg in &args {
                            self.infer_expr(arg, None);
                        }
                        Ty::Unknown
                    }
                    _ => {
                        let shown = self.show(&ty);
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(name_ref),
                            format!("`{name}` is {shown}, not a function or closure"),
                        );
                        for arg in &args {
                            self.infer_expr(arg, None);
                        }
                        Ty::Unknown
                    }
                }
            }
            Some(Resolution::Global(g)) => {
                let ty = self.scope.globals[g as usize].ty.clone();
                let message = match ty.non_null() {
                    Ty::Fn(..) => format!(
                        "the closure in global `{name}` must be copied into a local to be called: `let f = {name}; f(...)`"
                    ),
                    _ => format!("`{name}` is a global of type {}, not a function", self.show(&ty)),
                };
                self.error(codes::TYPE_MISMATCH, range(name_ref), message);
                for arg in &args {
                    self.infer_expr(arg, None);
                }
                Ty::Unknown
            }
            Some(Resolution::Builtin(b)) => self.builtin_call(b, &name, &args, call_range),
            None => {
                let message = match self.scope.lookup(&name) {
                    Some(ItemRef::Class(_) | ItemRef::Struct(_)) => {
                        format!(
                            "`{name}` is a type, not a function: build one with `{name} {{ field: value, ... }}`"
                        )
                    }
                    _ => format!("cannot find function `{name}`"),
                };
                let code = if self.scope.lookup(&name).is_some() {
                    codes::TYPE_MISMATCH
                } else {
                    codes::UNRESOLVED_NAME
                };
                self.error(code, range(name_ref), message);
                for arg in &args {
                    self.infer_expr(arg, None);
                }
                Ty::Unknown
            }
        }
    }

    /// Reports an argument that is the result of a call returning no value; true if so.
    fn no_value(&mut self, arg: &ast::Expr, ty: &Ty, name: &str) -> bool {
        if *ty == Ty::Unit {
            self.error(
                codes::TYPE_MISMATCH,
                range(arg),
                format!("`{name}` needs a value, but this call returns no value"),
            );
            return true;
        }
        false
    }

    fn builtin_call(
        &mut self,
        builtin: Builtin,
        name: &str,
        args: &[ast::Expr],
        call_range: TextRange,
    ) -> Ty {
        let arity = match builtin {
            Builtin::Push => 2,
            _ => 1,
        };
        if args.len() != arity {
            let plural = if arity == 1 { "argument" } else { "arguments" };
            let given = match args.len() {
                1 => "1 was given".to_string(),
                n => format!("{n} were given"),
            };
            self.error(
                codes::ARGUMENT_COUNT,
                call_range,
                format!("`{name}` takes {arity} {plural}, but {given}"),
            );
            for arg in args {
                self.infer_expr(arg, None);
            }
            return match builtin {
                Builtin::Len => Ty::Int,
                Builtin::Str => Ty::String,
                Builtin::Print | Builtin::Push | Builtin::Free => Ty::Unit,
                Builtin::Pop => Ty::Unknown,
            };
        }
        let arg = &args[0];
        match builtin {
            Builtin::Print => {
                let ty = self.infer_expr(arg, None);
                if !self.no_value(arg, &ty, name)
                    && !ty.is_unknown()
                    && !matches!(ty.non_null(), Ty::Int | Ty::Float | Ty::Bool | Ty::String)
                {
                    let shown = self.show(&ty);
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(arg),
                        format!("`print` takes an `int`, `float`, `bool` or `string`, found {shown}"),
                    );
                }
                Ty::Unit
            }
            Builtin::Str => {
                let ty = self.infer_expr(arg, None);
                if !self.no_value(arg, &ty, name)
                    && !ty.is_unknown()
                    && !matches!(ty.non_null(), Ty::Int | Ty::Float | Ty::Bool)
                {
                    let shown = self.show(&ty);
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(arg),
                        format!("`str` takes an `int`, `float` or `bool`, found {shown}"),
                    );
                }
                Ty::String
            }
            Builtin::Len => {
                let ty = self.infer_expr(arg, None);
                if !self.no_value(arg, &ty, name)
                    && !ty.is_unknown()
                    && !matches!(ty.non_null(), Ty::Array(_) | Ty::String)
                {
                    let shown = self.show(&ty);
                    self.error(
                        codes::TYPE_MISMATCH,
                        range(arg),
                        format!("`len` takes an array or a `string`, found {shown}"),
                    );
                }
                Ty::Int
            }
            Builtin::Push | Builtin::Pop => {
                let ty = self.infer_expr(arg, None);
                let elem = match ty.non_null() {
                    Ty::Array(elem) => Some((**elem).clone()),
                    t if t.is_unknown() => None,
                    _ => {
                        let shown = self.show(&ty);
                        self.error(
                            codes::TYPE_MISMATCH,
                            range(arg),
                            format!("`{name}` takes an array, found {shown}"),
                        );
                        None
                    }
                };
                if elem.is_some() {
                    self.check_place(arg, name);
                }
                if builtin == Builtin::Push {
                    match &elem {
                        Some(elem) => self.check_expr(&args[1], elem, "the pushed value"),
                        None => {
                            self.infer_expr(&args[1], None);
                        }
                    }
                    Ty::Unit
                } else {
                    elem.unwrap_or(Ty::Unknown)
                }
            }
            Builtin::Free => {
                let ty = self.infer_expr(arg, None);
                match arg {
                    ast::Expr::NameRef(n) => {
                        let res = self.result.names.get(&NodePtr::new(n.syntax())).copied();
                        if let Some(Resolution::Local(local)) = res
                            && self.is_captured(local)
                        {
                            self.error(
                                codes::TYPE_MISMATCH,
                                range(arg),
                                format!(
                                    "cannot free `{}`: it is a closure's copy of a captured variable",
                                    n.text()
                                ),
                            );
                        } else if !ty.is_unknown() && !ty.is_reference() {
                            let shown = self.show(&ty);
                            self.error(codes::TYPE_MISMATCH, range(arg), format!("`free` takes a reference (an object, array, string or closure), found {shown}"));
                        }
                    }
                    _ if ty.is_unknown() => {}
                    _ => self.error(
                        codes::TYPE_MISMATCH,
                        range(arg),
                        "`free` takes a variable: store the value in a `let` first, or let custody free it",
                    ),
                }
                Ty::Unit
            }
        }
    }

    fn method_call(&mut self, it: &ast::MethodCallExpr) -> Ty {
        let args: Vec<ast::Expr> = it.args().collect();
        let receiver_ty = it.receiver().map_or(Ty::Unknown, |r| self.infer_expr(&r, None));
        let Some(name_ref) = it.name_ref() else {
            return Ty::Unknown;
        };
        let name = name_ref.text();
        let blind = |cx: &mut Self| {
            for arg in &args {
                cx.infer_expr(arg, None);
            }
            Ty::Unknown
        };
        let class = match receiver_ty.non_null() {
            Ty::Class(c) => *c,
            t if t.is_unknown() => return blind(self),
            Ty::Struct(_) => {
                let shown = self.show(&receiver_ty);
                self.error(
                    codes::TYPE_MISMATCH,
                    range(&name_ref),
                    format!("{shown} is a struct, and structs have no methods"),
                );
                return blind(self);
            }
            _ => {
                let shown = self.show(&receiver_ty);
                self.error(
                    codes::TYPE_MISMATCH,
                    range(&name_ref),
                    format!("{shown} has no methods: only objects of classes do"),
                );
                return blind(self);
            }
        };
        let data = &self.scope.classes[class.0 as usize];
        let Some(m) = data.method_index.get(&name).map(|&m| m as usize) else {
            let class_name = data.name.clone();
            let is_field = data.fields.iter().any(|f| f.name == name);
            let message = if is_field {
                format!(
                    "`{name}` is a field of `{class_name}`, not a method: to call a closure stored in it, copy it into a local first"
                )
            } else {
                format!("`{class_name}` has no method `{name}`")
            };
            self.error(codes::UNRESOLVED_NAME, range(&name_ref), message);
            return blind(self);
        };
        let sig = data.methods[m].sig.clone();
        let class_name = data.name.clone();
        self.result.methods.insert(NodePtr::new(it.syntax()), (class, m as u32));
        let params: Vec<Ty> = sig.params.iter().skip(1).map(|p| p.ty.clone()).collect();
        self.check_args(&args, &params, &format!("`{class_name}.{name}`"), range(it));
        sig.ret.unwrap_or(Ty::Unit)
    }
}
