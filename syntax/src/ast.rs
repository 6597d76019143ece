//! Typed views of the syntax tree, one per node of `custody.ungram`.
//!
//! Each type wraps a [`SyntaxNode`] of one kind (or, for enums such as [`Expr`], one of
//! several kinds). Every accessor returns `Option` or an iterator: in a tree with syntax
//! errors any child may be missing, and code that walks the tree must cope with that
//! rather than panic.

use crate::{CustodyLanguage, SyntaxKind, SyntaxKind::*, SyntaxNode, SyntaxToken};
use rowan::NodeOrToken;
use rowan::ast::support;
pub use rowan::ast::{AstChildren, AstNode, AstPtr, SyntaxNodePtr};

macro_rules! ast_node {
    ($($(#[$doc:meta])* $name:ident = $kind:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            pub(crate) syntax: SyntaxNode,
        }

        impl AstNode for $name {
            type Language = CustodyLanguage;
            fn can_cast(kind: SyntaxKind) -> bool {
                kind == $kind
            }
            fn cast(syntax: SyntaxNode) -> Option<Self> {
                Self::can_cast(syntax.kind()).then(|| $name { syntax })
            }
            fn syntax(&self) -> &SyntaxNode {
                &self.syntax
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.syntax, f)
            }
        }
    )*};
}

macro_rules! ast_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum $name {
            $($variant($variant)),*
        }

        impl AstNode for $name {
            type Language = CustodyLanguage;
            fn can_cast(kind: SyntaxKind) -> bool {
                $($variant::can_cast(kind))||*
            }
            fn cast(syntax: SyntaxNode) -> Option<Self> {
                $(if $variant::can_cast(syntax.kind()) {
                    return Some($name::$variant($variant { syntax }));
                })*
                None
            }
            fn syntax(&self) -> &SyntaxNode {
                match self {
                    $($name::$variant(it) => &it.syntax),*
                }
            }
        }

        $(impl From<$variant> for $name {
            fn from(it: $variant) -> $name {
                $name::$variant(it)
            }
        })*
    };
}

ast_node! {
    /// The whole file.
    SourceFile = SOURCE_FILE;
    /// `@arena fn name(params) -> T { ... }`
    FnItem = FN_ITEM;
    /// `extern fn name(params) -> T;`
    ExternFn = EXTERN_FN;
    /// `global name: T = init;`
    GlobalItem = GLOBAL_ITEM;
    /// `struct Name { fields }`
    StructItem = STRUCT_ITEM;
    /// `class Name { fields, drop { ... }, methods }`
    ClassItem = CLASS_ITEM;
    /// `@arena`, `@manual`
    Attr = ATTR;
    /// The braces of a class or struct and what is between them.
    MemberList = MEMBER_LIST;
    /// `name: T` in a class or struct.
    Field = FIELD;
    /// `drop { ... }`: a class's destructor.
    DropBlock = DROP_BLOCK;
    /// `(a: int, own b: Node)`
    ParamList = PARAM_LIST;
    /// `borrow name: T`
    Param = PARAM;
    /// `self` as a method's first parameter.
    SelfParam = SELF_PARAM;
    /// `own` or `borrow`.
    ParamMode = PARAM_MODE;
    /// `-> T`
    RetType = RET_TYPE;
    /// `int`, `Node`: a named type.
    NameType = NAME_TYPE;
    /// `[T]`
    ArrayType = ARRAY_TYPE;
    /// `T?`
    NullableType = NULLABLE_TYPE;
    /// `fn(T, U) -> R`
    FnType = FN_TYPE;
    /// `(T)`
    ParenType = PAREN_TYPE;
    /// `{ statements }`
    Block = BLOCK;
    /// `let name: T = init;`
    LetStmt = LET_STMT;
    /// `place = value;`
    AssignStmt = ASSIGN_STMT;
    /// `expr;`
    ExprStmt = EXPR_STMT;
    /// `if cond { ... } else ...`
    IfStmt = IF_STMT;
    /// `while cond { ... }`
    WhileStmt = WHILE_STMT;
    /// `for x in iterable { ... }` or `for i in a..b { ... }`
    ForStmt = FOR_STMT;
    /// `a..b` in a `for` head.
    RangeClause = RANGE_CLAUSE;
    /// `return expr;`
    ReturnStmt = RETURN_STMT;
    /// `break;`
    BreakStmt = BREAK_STMT;
    /// `continue;`
    ContinueStmt = CONTINUE_STMT;
    /// `arena { ... }`
    ArenaStmt = ARENA_STMT;
    /// `spawn f(x);`
    SpawnStmt = SPAWN_STMT;
    /// `42`, `3.5`, `"text"`, `true`, `false`, `null`
    Literal = LITERAL;
    /// `self` as an expression.
    SelfExpr = SELF_EXPR;
    /// `(expr)`
    ParenExpr = PAREN_EXPR;
    /// `[a, b, c]`
    ArrayExpr = ARRAY_EXPR;
    /// `[value; count]`
    ArrayRepeatExpr = ARRAY_REPEAT_EXPR;
    /// `Name { field: value, ... }`
    RecordExpr = RECORD_EXPR;
    /// The braces of a record literal.
    RecordFieldList = RECORD_FIELD_LIST;
    /// `field: value` in a record literal.
    RecordField = RECORD_FIELD;
    /// `fn(params) -> T { ... }`
    ClosureExpr = CLOSURE_EXPR;
    /// `-x`, `!b`
    PrefixExpr = PREFIX_EXPR;
    /// `a + b`
    BinExpr = BIN_EXPR;
    /// `f(args)`
    CallExpr = CALL_EXPR;
    /// `receiver.method(args)`
    MethodCallExpr = METHOD_CALL_EXPR;
    /// `receiver.field`
    FieldExpr = FIELD_EXPR;
    /// `base[index]`
    IndexExpr = INDEX_EXPR;
    /// `(a, b)` of a call.
    ArgList = ARG_LIST;
    /// A name being defined.
    Name = NAME;
    /// A name being used.
    NameRef = NAME_REF;
}

ast_enum! {
    /// A top-level item.
    Item { FnItem, ExternFn, GlobalItem, StructItem, ClassItem }
}
ast_enum! {
    /// A parameter: named, or `self`.
    AnyParam { Param, SelfParam }
}
ast_enum! {
    /// A type.
    Type { NameType, ArrayType, NullableType, FnType, ParenType }
}
ast_enum! {
    /// A statement.
    Stmt {
        LetStmt, AssignStmt, ExprStmt, IfStmt, WhileStmt, ForStmt, ReturnStmt, BreakStmt,
        ContinueStmt, Block, ArenaStmt, SpawnStmt,
    }
}
ast_enum! {
    /// An expression.
    Expr {
        Literal, NameRef, SelfExpr, ParenExpr, ArrayExpr, ArrayRepeatExpr, RecordExpr,
        ClosureExpr, PrefixExpr, BinExpr, CallExpr, MethodCallExpr, FieldExpr, IndexExpr,
    }
}
ast_enum! {
    /// What follows `else`: another `if`, or a block.
    ElseBranch { IfStmt, Block }
}

/// The first child of type `N` that comes after the first token of kind `after`
/// (children before that token are skipped). Used where a node has two children of the
/// same type separated by a token: `a + b`, `a..b`, `[v; n]`, `place = value`.
fn child_after<N: AstNode<Language = CustodyLanguage>>(
    node: &SyntaxNode,
    after: impl Fn(SyntaxKind) -> bool,
) -> Option<N> {
    node.children_with_tokens()
        .skip_while(|el| el.as_token().is_none_or(|t| !after(t.kind())))
        .filter_map(|el| el.into_node())
        .find_map(N::cast)
}

/// The first child of type `N` before the first token of kind `before`.
fn child_before<N: AstNode<Language = CustodyLanguage>>(
    node: &SyntaxNode,
    before: impl Fn(SyntaxKind) -> bool,
) -> Option<N> {
    node.children_with_tokens()
        .take_while(|el| el.as_token().is_none_or(|t| !before(t.kind())))
        .filter_map(|el| el.into_node())
        .find_map(N::cast)
}

impl SourceFile {
    /// The items, in source order.
    pub fn items(&self) -> AstChildren<Item> {
        support::children(&self.syntax)
    }
}

impl Name {
    /// The identifier token (a keyword token for `@arena`).
    pub fn ident_token(&self) -> Option<SyntaxToken> {
        self.syntax.first_token()
    }
    /// The identifier's text.
    pub fn text(&self) -> String {
        self.ident_token().map(|t| t.text().to_owned()).unwrap_or_default()
    }
}

impl NameRef {
    /// The identifier token.
    pub fn ident_token(&self) -> Option<SyntaxToken> {
        support::token(&self.syntax, IDENT)
    }
    /// The identifier's text.
    pub fn text(&self) -> String {
        self.ident_token().map(|t| t.text().to_owned()).unwrap_or_default()
    }
}

impl FnItem {
    /// `@arena`, `@manual`, in order.
    pub fn attrs(&self) -> AstChildren<Attr> {
        support::children(&self.syntax)
    }
    /// The function's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// The parameters.
    pub fn param_list(&self) -> Option<ParamList> {
        support::child(&self.syntax)
    }
    /// `-> T`, absent when the function returns no value.
    pub fn ret_type(&self) -> Option<RetType> {
        support::child(&self.syntax)
    }
    /// The body.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
    /// The `fn` keyword.
    pub fn fn_token(&self) -> Option<SyntaxToken> {
        support::token(&self.syntax, T![fn])
    }
}

impl Attr {
    /// The attribute's name: `arena` or `manual` (others are rejected by the checker).
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
}

impl ExternFn {
    /// The function's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// The parameters; their modes say what the foreign code does with them.
    pub fn param_list(&self) -> Option<ParamList> {
        support::child(&self.syntax)
    }
    /// `-> T`
    pub fn ret_type(&self) -> Option<RetType> {
        support::child(&self.syntax)
    }
}

impl GlobalItem {
    /// The global's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// Its declared type.
    pub fn ty(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
    /// Its initialiser.
    pub fn init(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

impl StructItem {
    /// The struct's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// Its body.
    pub fn member_list(&self) -> Option<MemberList> {
        support::child(&self.syntax)
    }
}

impl ClassItem {
    /// The class's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// Its body.
    pub fn member_list(&self) -> Option<MemberList> {
        support::child(&self.syntax)
    }
}

impl MemberList {
    /// The fields, in declaration order (the order they are released in).
    pub fn fields(&self) -> AstChildren<Field> {
        support::children(&self.syntax)
    }
    /// The `drop` blocks (at most one is valid).
    pub fn drop_blocks(&self) -> AstChildren<DropBlock> {
        support::children(&self.syntax)
    }
    /// The methods.
    pub fn methods(&self) -> AstChildren<FnItem> {
        support::children(&self.syntax)
    }
}

impl Field {
    /// The field's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// Its type.
    pub fn ty(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl DropBlock {
    /// The destructor's body.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
}

impl ParamList {
    /// All parameters, `self` included, in order.
    pub fn all_params(&self) -> AstChildren<AnyParam> {
        support::children(&self.syntax)
    }
    /// The named parameters.
    pub fn params(&self) -> AstChildren<Param> {
        support::children(&self.syntax)
    }
    /// `self`, if present.
    pub fn self_param(&self) -> Option<SelfParam> {
        support::child(&self.syntax)
    }
}

/// A declared parameter mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `own`: the callee takes control.
    Own,
    /// `borrow`: the callee only looks.
    Borrow,
}

impl ParamMode {
    /// Which mode.
    pub fn mode(&self) -> Option<Mode> {
        match self.syntax.first_token()?.kind() {
            T![own] => Some(Mode::Own),
            T![borrow] => Some(Mode::Borrow),
            _ => None,
        }
    }
}

impl Param {
    /// `own` or `borrow`, when written.
    pub fn mode(&self) -> Option<ParamMode> {
        support::child(&self.syntax)
    }
    /// The parameter's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// Its type.
    pub fn ty(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl SelfParam {
    /// `own` or `borrow`, when written.
    pub fn mode(&self) -> Option<ParamMode> {
        support::child(&self.syntax)
    }
    /// The `self` keyword.
    pub fn self_token(&self) -> Option<SyntaxToken> {
        support::token(&self.syntax, T![self])
    }
}

impl RetType {
    /// The returned type.
    pub fn ty(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl NameType {
    /// The type's name.
    pub fn name_ref(&self) -> Option<NameRef> {
        support::child(&self.syntax)
    }
}

impl ArrayType {
    /// The element type.
    pub fn elem(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl NullableType {
    /// The type that may also be `null`.
    pub fn inner(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl FnType {
    /// The parameter types.
    pub fn params(&self) -> AstChildren<Type> {
        support::children(&self.syntax)
    }
    /// `-> R`, absent when the closure returns no value.
    pub fn ret_type(&self) -> Option<RetType> {
        support::child(&self.syntax)
    }
}

impl ParenType {
    /// The type inside the parentheses.
    pub fn inner(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
}

impl Block {
    /// The statements, in order.
    pub fn stmts(&self) -> AstChildren<Stmt> {
        support::children(&self.syntax)
    }
    /// The opening `{`.
    pub fn l_curly_token(&self) -> Option<SyntaxToken> {
        support::token(&self.syntax, T!['{'])
    }
    /// The closing `}` (absent when the block is unclosed).
    pub fn r_curly_token(&self) -> Option<SyntaxToken> {
        support::token(&self.syntax, T!['}'])
    }
}

impl LetStmt {
    /// The variable's name.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// The annotation after `:`, if any.
    pub fn ty(&self) -> Option<Type> {
        support::child(&self.syntax)
    }
    /// The initialiser.
    pub fn init(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

impl AssignStmt {
    /// The place assigned to.
    pub fn place(&self) -> Option<Expr> {
        child_before(&self.syntax, |k| k == T![=])
    }
    /// The value assigned.
    pub fn value(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| k == T![=])
    }
}

impl ExprStmt {
    /// The expression.
    pub fn expr(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

impl IfStmt {
    /// The condition.
    pub fn condition(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The block run when the condition holds.
    pub fn then_branch(&self) -> Option<Block> {
        child_before(&self.syntax, |k| k == T![else])
    }
    /// What follows `else`.
    pub fn else_branch(&self) -> Option<ElseBranch> {
        child_after(&self.syntax, |k| k == T![else])
    }
}

impl WhileStmt {
    /// The condition.
    pub fn condition(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The loop body.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
}

impl ForStmt {
    /// The loop variable.
    pub fn name(&self) -> Option<Name> {
        support::child(&self.syntax)
    }
    /// `a..b`, for a loop over integers.
    pub fn range(&self) -> Option<RangeClause> {
        support::child(&self.syntax)
    }
    /// The array iterated over, for a loop over elements.
    pub fn iterable(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The loop body.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
}

impl RangeClause {
    /// The first value (inclusive).
    pub fn start(&self) -> Option<Expr> {
        child_before(&self.syntax, |k| k == T![..])
    }
    /// The bound (exclusive).
    pub fn end(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| k == T![..])
    }
}

impl ReturnStmt {
    /// The returned value, if any.
    pub fn expr(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

impl ArenaStmt {
    /// The arena's scope.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
}

impl SpawnStmt {
    /// The call run on a new thread.
    pub fn expr(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

/// What a literal is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralKind {
    /// `42`, `1_000`
    Int(SyntaxToken),
    /// `3.5`, `1e9`
    Float(SyntaxToken),
    /// `"text"`
    String(SyntaxToken),
    /// `true` or `false`
    Bool(bool),
    /// `null`
    Null,
}

impl Literal {
    /// The literal's token.
    pub fn token(&self) -> Option<SyntaxToken> {
        self.syntax.first_token()
    }
    /// What kind of literal it is.
    pub fn kind(&self) -> Option<LiteralKind> {
        let token = self.token()?;
        Some(match token.kind() {
            INT_NUMBER => LiteralKind::Int(token),
            FLOAT_NUMBER => LiteralKind::Float(token),
            STRING => LiteralKind::String(token),
            T![true] => LiteralKind::Bool(true),
            T![false] => LiteralKind::Bool(false),
            T![null] => LiteralKind::Null,
            _ => return None,
        })
    }
}

impl ParenExpr {
    /// The expression inside.
    pub fn expr(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

impl ArrayExpr {
    /// The elements.
    pub fn elements(&self) -> AstChildren<Expr> {
        support::children(&self.syntax)
    }
}

impl ArrayRepeatExpr {
    /// The value every element starts as.
    pub fn value(&self) -> Option<Expr> {
        child_before(&self.syntax, |k| k == T![;])
    }
    /// How many elements.
    pub fn count(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| k == T![;])
    }
}

impl RecordExpr {
    /// The class or struct named.
    pub fn name_ref(&self) -> Option<NameRef> {
        support::child(&self.syntax)
    }
    /// The braces and the fields.
    pub fn field_list(&self) -> Option<RecordFieldList> {
        support::child(&self.syntax)
    }
    /// The fields given, in source order.
    pub fn fields(&self) -> impl Iterator<Item = RecordField> + use<> {
        self.field_list().into_iter().flat_map(|list| support::children::<RecordField>(&list.syntax))
    }
}

impl RecordFieldList {
    /// The fields given, in source order.
    pub fn fields(&self) -> AstChildren<RecordField> {
        support::children(&self.syntax)
    }
}

impl RecordField {
    /// The field's name.
    pub fn name_ref(&self) -> Option<NameRef> {
        support::child(&self.syntax)
    }
    /// Its value.
    pub fn value(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| k == T![:])
    }
}

impl ClosureExpr {
    /// The parameters.
    pub fn param_list(&self) -> Option<ParamList> {
        support::child(&self.syntax)
    }
    /// `-> T`, absent when the closure returns no value.
    pub fn ret_type(&self) -> Option<RetType> {
        support::child(&self.syntax)
    }
    /// The body.
    pub fn body(&self) -> Option<Block> {
        support::child(&self.syntax)
    }
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixOp {
    /// `-x`
    Neg,
    /// `!b`
    Not,
}

impl PrefixExpr {
    /// The operator.
    pub fn op(&self) -> Option<PrefixOp> {
        match self.syntax.first_token()?.kind() {
            T![-] => Some(PrefixOp::Neg),
            T![!] => Some(PrefixOp::Not),
            _ => None,
        }
    }
    /// The operand.
    pub fn expr(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    fn from_kind(kind: SyntaxKind) -> Option<BinaryOp> {
        Some(match kind {
            T![||] => BinaryOp::Or,
            T![&&] => BinaryOp::And,
            T![==] => BinaryOp::Eq,
            T![!=] => BinaryOp::Ne,
            T![<] => BinaryOp::Lt,
            T![<=] => BinaryOp::Le,
            T![>] => BinaryOp::Gt,
            T![>=] => BinaryOp::Ge,
            T![+] => BinaryOp::Add,
            T![-] => BinaryOp::Sub,
            T![*] => BinaryOp::Mul,
            T![/] => BinaryOp::Div,
            T![%] => BinaryOp::Rem,
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl BinExpr {
    /// The first operator token.
    pub fn op_token(&self) -> Option<SyntaxToken> {
        self.syntax
            .children_with_tokens()
            .filter_map(|el| el.into_token())
            .find(|t| BinaryOp::from_kind(t.kind()).is_some())
    }
    /// The first operator.
    pub fn op(&self) -> Option<BinaryOp> {
        BinaryOp::from_kind(self.op_token()?.kind())
    }
    /// The left operand of the first operator: the first operand.
    pub fn lhs(&self) -> Option<Expr> {
        child_before(&self.syntax, |k| BinaryOp::from_kind(k).is_some())
    }
    /// The right operand of the first operator.
    pub fn rhs(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| BinaryOp::from_kind(k).is_some())
    }
    /// Every operator with the operand after it, in order. A run of operators of one
    /// precedence is one node (`a + b - c` has two steps), applied left to right:
    /// `((a + b) - c)`. A step whose operand is missing (a syntax error) has `None`.
    pub fn steps(&self) -> Vec<BinStep> {
        let mut steps: Vec<BinStep> = Vec::new();
        for el in self.syntax.children_with_tokens() {
            match el {
                NodeOrToken::Token(t) => {
                    if let Some(op) = BinaryOp::from_kind(t.kind()) {
                        steps.push(BinStep { op, op_token: t, rhs: None });
                    }
                }
                NodeOrToken::Node(n) => {
                    if let Some(step) = steps.last_mut()
                        && step.rhs.is_none()
                    {
                        step.rhs = Expr::cast(n);
                    }
                }
            }
        }
        steps
    }
}

/// One operator of a [`BinExpr`] and its right operand.
#[derive(Debug, Clone)]
pub struct BinStep {
    /// The operator.
    pub op: BinaryOp,
    /// Its token.
    pub op_token: SyntaxToken,
    /// The operand after it.
    pub rhs: Option<Expr>,
}

impl CallExpr {
    /// What is called: a function name or a local holding a closure.
    pub fn callee(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The arguments.
    pub fn arg_list(&self) -> Option<ArgList> {
        support::child(&self.syntax)
    }
    /// The arguments' expressions.
    pub fn args(&self) -> impl Iterator<Item = Expr> + use<> {
        self.arg_list().into_iter().flat_map(|list| list.args())
    }
}

impl MethodCallExpr {
    /// The object the method is called on.
    pub fn receiver(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The method's name.
    pub fn name_ref(&self) -> Option<NameRef> {
        child_after(&self.syntax, |k| k == T![.])
    }
    /// The arguments.
    pub fn arg_list(&self) -> Option<ArgList> {
        support::child(&self.syntax)
    }
    /// The arguments' expressions.
    pub fn args(&self) -> impl Iterator<Item = Expr> + use<> {
        self.arg_list().into_iter().flat_map(|list| list.args())
    }
}

impl FieldExpr {
    /// The object whose field is read.
    pub fn receiver(&self) -> Option<Expr> {
        support::child(&self.syntax)
    }
    /// The field's name.
    pub fn name_ref(&self) -> Option<NameRef> {
        child_after(&self.syntax, |k| k == T![.])
    }
}

impl IndexExpr {
    /// The array.
    pub fn base(&self) -> Option<Expr> {
        child_before(&self.syntax, |k| k == T!['['])
    }
    /// The index.
    pub fn index(&self) -> Option<Expr> {
        child_after(&self.syntax, |k| k == T!['['])
    }
}

impl ArgList {
    /// The arguments, in order.
    pub fn args(&self) -> AstChildren<Expr> {
        support::children(&self.syntax)
    }
}
