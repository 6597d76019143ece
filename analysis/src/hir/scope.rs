//! The item scope: every item's name and signature, resolved to semantic types.
//!
//! Bodies are checked against this table, never against the syntax of other items, so an
//! edit inside one body leaves the table equal and no other body is re-checked. The table
//! holds no source positions for the same reason; the problems found while building it
//! (duplicate names, unknown types in signatures, a recursive struct, a bad `main`) are
//! reported separately by [`item_diagnostics`].

use super::item_tree::{BodyPath, ItemKind, item_tree};
use super::ty::{ClassIdx, StructIdx, Ty, TyDisplay};
use crate::db::SourceFile;
use crate::diagnostic::{Diagnostic, codes};
use custody_ir::Mode;
use custody_syntax::TextRange;
use custody_syntax::ast::{self, AstNode};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The built-in types.
pub const BUILTIN_TYPES: [&str; 4] = ["int", "float", "bool", "string"];
/// The built-in functions.
pub const BUILTIN_FUNCTIONS: [&str; 6] = ["print", "len", "push", "pop", "str", "free"];

/// What a file-level name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemRef {
    /// A function: index into [`ItemScope::functions`].
    Fn(u32),
    /// An extern: index into [`ItemScope::externs`].
    Extern(u32),
    /// A global: index into [`ItemScope::globals`].
    Global(u32),
    /// A class.
    Class(ClassIdx),
    /// A struct.
    Struct(StructIdx),
}

/// A parameter in a signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParamSig {
    /// Its name (`self` for the receiver).
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// The declared mode.
    pub mode: Option<Mode>,
}

/// A function's or method's signature (for a method, parameter 0 is `self`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FnSig {
    /// Parameters.
    pub params: Vec<ParamSig>,
    /// Result type.
    pub ret: Option<Ty>,
    /// `@arena`
    pub arena: bool,
    /// `@manual`
    pub manual: bool,
}

/// A field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldData {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// A method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodData {
    /// Its name.
    pub name: String,
    /// Its signature (`self` first).
    pub sig: FnSig,
    /// Its body: an index into [`ItemScope::bodies`].
    pub body: u32,
}

/// A class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassData {
    /// Its name.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldData>,
    /// Methods in declaration order.
    pub methods: Vec<MethodData>,
    /// The `drop` block's body, if any.
    pub drop: Option<u32>,
    /// Field index by name.
    pub field_index: BTreeMap<String, u32>,
    /// Method index by name.
    pub method_index: BTreeMap<String, u32>,
}

/// A struct.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructData {
    /// Its name.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldData>,
    /// Field index by name.
    pub field_index: BTreeMap<String, u32>,
}

/// A plain function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FnData {
    /// Its name.
    pub name: String,
    /// Its signature.
    pub sig: FnSig,
    /// Its body: an index into [`ItemScope::bodies`].
    pub body: u32,
}

/// A global.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GlobalData {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// Its initialiser's body.
    pub body: u32,
}

/// An extern function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternData {
    /// Its name.
    pub name: String,
    /// Its parameters.
    pub params: Vec<ParamSig>,
    /// Its result type.
    pub ret: Option<Ty>,
}

/// What a body is the code of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyOwner {
    /// A function: index into [`ItemScope::functions`] (`None` for a duplicate).
    Fn(Option<u32>),
    /// A method: its class, and its index in the class's methods (`None` for a duplicate).
    Method(ClassIdx, Option<u32>),
    /// A class's `drop` block.
    Drop(ClassIdx),
    /// A global's initialiser: index into [`ItemScope::globals`].
    Global(u32),
}

/// Everything declared at the top level of a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemScope {
    /// Classes, in declaration order.
    pub classes: Vec<ClassData>,
    /// Structs, in declaration order.
    pub structs: Vec<StructData>,
    /// Globals, in declaration order.
    pub globals: Vec<GlobalData>,
    /// Plain functions, in declaration order.
    pub functions: Vec<FnData>,
    /// Externs, in declaration order.
    pub externs: Vec<ExternData>,
    /// Every body, in the order the IR numbers its functions, with its duplicate index.
    pub bodies: Vec<(BodyPath, u32)>,
    /// What each body belongs to (parallel to `bodies`).
    pub body_owners: Vec<BodyOwner>,
    /// The position in `bodies` of each (path, duplicate index).
    pub body_ids: BTreeMap<(BodyPath, u32), u32>,
    /// The file-wide namespace (the first definition of each name).
    pub names: HashMap<String, ItemRef>,
    class_names: Vec<String>,
    struct_names: Vec<String>,
}

impl ItemScope {
    /// The position of a body in [`ItemScope::bodies`].
    pub fn body_id(&self, path: &BodyPath, index: u32) -> Option<u32> {
        self.body_ids.get(&(path.clone(), index)).copied()
    }

    /// The signature a body is checked against (`None` for drop blocks and initialisers).
    pub fn body_sig(&self, body: u32) -> Option<&FnSig> {
        match self.body_owners.get(body as usize)? {
            BodyOwner::Fn(Some(f)) => Some(&self.functions[*f as usize].sig),
            BodyOwner::Method(c, Some(m)) => Some(&self.classes[c.0 as usize].methods[*m as usize].sig),
            _ => None,
        }
    }

    /// What a file-level name refers to.
    pub fn lookup(&self, name: &str) -> Option<ItemRef> {
        self.names.get(name).copied()
    }

    /// A type for messages: `[Node]?`.
    pub fn display<'a>(&'a self, ty: &'a Ty) -> TyDisplay<'a> {
        TyDisplay { ty, class_names: &self.class_names, struct_names: &self.struct_names }
    }

    /// Resolves a written type. Problems go to `report` with ranges relative to the tree
    /// `ty` belongs to.
    pub fn resolve_type(&self, ty: &ast::Type, report: &mut dyn FnMut(Diagnostic)) -> Ty {
        match ty {
            ast::Type::NameType(it) => {
                let Some(name_ref) = it.name_ref() else {
                    return Ty::Unknown;
                };
                let name = name_ref.text();
                match name.as_str() {
                    "int" => Ty::Int,
                    "float" => Ty::Float,
                    "bool" => Ty::Bool,
                    "string" => Ty::String,
                    _ => match self.lookup(&name) {
                        Some(ItemRef::Class(idx)) => Ty::Class(idx),
                        Some(ItemRef::Struct(idx)) => Ty::Struct(idx),
                        Some(_) => {
                            report(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                it.syntax().text_range(),
                                format!(
                                    "`{name}` is not a type: only `int`, `float`, `bool`, `string`, structs and classes are"
                                ),
                            ));
                            Ty::Unknown
                        }
                        None => {
                            report(Diagnostic::error(
                                codes::UNRESOLVED_NAME,
                                it.syntax().text_range(),
                                format!("cannot find type `{name}`"),
                            ));
                            Ty::Unknown
                        }
                    },
                }
            }
            ast::Type::ArrayType(it) => {
                let elem = it.elem().map_or(Ty::Unknown, |e| self.resolve_type(&e, report));
                Ty::Array(Box::new(elem))
            }
            ast::Type::NullableType(it) => {
                let inner = it.inner().map_or(Ty::Unknown, |e| self.resolve_type(&e, report));
                if let Ty::Nullable(_) = inner {
                    report(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        it.syntax().text_range(),
                        format!(
                            "`{}?` is not a type: a nullable type cannot be made nullable again",
                            self.display(&inner)
                        ),
                    ));
                    return Ty::Unknown;
                }
                inner.nullable()
            }
            ast::Type::FnType(it) => {
                let params = it.params().map(|p| self.resolve_type(&p, report)).collect();
                let ret = it
                    .ret_type()
                    .map(|r| Box::new(r.ty().map_or(Ty::Unknown, |t| self.resolve_type(&t, report))));
                Ty::Fn(params, ret)
            }
            ast::Type::ParenType(it) => it.inner().map_or(Ty::Unknown, |t| self.resolve_type(&t, report)),
        }
    }

    /// The signature of a function, method or drop block's node (`self` for methods).
    fn signature(
        &self,
        params: Option<ast::ParamList>,
        ret: Option<ast::RetType>,
        self_ty: Option<&Ty>,
        attrs: (bool, bool),
        report: &mut dyn FnMut(Diagnostic),
    ) -> FnSig {
        let mut out = Vec::new();
        if let Some(list) = params {
            for param in list.all_params() {
                match param {
                    ast::AnyParam::SelfParam(it) => {
                        let mode = it.mode().and_then(|m| m.mode()).map(to_mode);
                        match self_ty {
                            Some(ty) if out.is_empty() => {
                                out.push(ParamSig { name: "self".into(), ty: ty.clone(), mode })
                            }
                            Some(_) => report(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                it.syntax().text_range(),
                                "`self` must be the first parameter of a method",
                            )),
                            None => report(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                it.syntax().text_range(),
                                "only methods take `self`: this is not a method of a class",
                            )),
                        }
                    }
                    ast::AnyParam::Param(it) => {
                        let ty = it.ty().map_or(Ty::Unknown, |t| self.resolve_type(&t, report));
                        let name = it.name().map(|n| n.text()).unwrap_or_default();
                        let mode = it.mode().and_then(|m| m.mode()).map(to_mode);
                        out.push(ParamSig { name, ty, mode });
                    }
                }
            }
        }
        let ret = ret.map(|r| r.ty().map_or(Ty::Unknown, |t| self.resolve_type(&t, report)));
        FnSig { params: out, ret, arena: attrs.0, manual: attrs.1 }
    }
}

pub(crate) fn to_mode(mode: ast::Mode) -> Mode {
    match mode {
        ast::Mode::Own => Mode::Own,
        ast::Mode::Borrow => Mode::Borrow,
    }
}

fn fn_attrs(f: &ast::FnItem) -> (bool, bool) {
    let names: Vec<String> = f.attrs().filter_map(|a| a.name()).map(|n| n.text()).collect();
    (names.iter().any(|n| n == "arena"), names.iter().any(|n| n == "manual"))
}

/// The item scope and the problems found building it (ranges in file coordinates).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemScopeResult {
    /// The scope.
    pub scope: ItemScope,
    /// Its diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds the item scope. Re-runs after every edit; [`item_scope`] is the firewall.
#[salsa::tracked(returns(ref))]
pub fn item_scope_with_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> ItemScopeResult {
    build(item_tree(db, file))
}

/// The item scope alone: equal across edits that change no name or signature, so the
/// bodies that read it are not re-checked.
#[salsa::tracked(returns(ref))]
pub fn item_scope(db: &dyn salsa::Database, file: SourceFile) -> ItemScope {
    item_scope_with_diagnostics(db, file).scope.clone()
}

/// Problems with the items themselves: duplicate names, unknown types in signatures and
/// fields, recursive structs, a `main` with the wrong signature.
#[salsa::tracked(returns(ref))]
pub fn item_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    item_scope_with_diagnostics(db, file).diagnostics.clone()
}

fn build(tree: &super::item_tree::ItemTree) -> ItemScopeResult {
    let mut scope = ItemScope::default();
    let mut diagnostics = Vec::new();
    let duplicate = |what: &str, name: &str, range: TextRange| {
        Diagnostic::error(
            codes::DUPLICATE_DEFINITION,
            range,
            format!("{what} `{name}` is defined more than once"),
        )
    };

    // Pass 1: names of every item, so types and calls can refer to items in any order.
    for entry in &tree.items {
        let root = entry.syntax();
        let name_range = name_node(&root).map(|n| n.syntax().text_range() + entry.offset);
        if entry.name.is_empty() {
            continue;
        }
        let reference = match entry.kind {
            ItemKind::Fn => ItemRef::Fn(u32::MAX),
            ItemKind::Extern => ItemRef::Extern(u32::MAX),
            ItemKind::Global => ItemRef::Global(u32::MAX),
            ItemKind::Class => ItemRef::Class(ClassIdx(scope.classes.len() as u32)),
            ItemKind::Struct => ItemRef::Struct(StructIdx(scope.structs.len() as u32)),
        };
        match entry.kind {
            ItemKind::Class => scope.classes.push(ClassData {
                name: entry.name.clone(),
                fields: vec![],
                methods: vec![],
                drop: None,
                field_index: BTreeMap::new(),
                method_index: BTreeMap::new(),
            }),
            ItemKind::Struct => scope.structs.push(StructData {
                name: entry.name.clone(),
                fields: vec![],
                field_index: BTreeMap::new(),
            }),
            _ => {}
        }
        if BUILTIN_TYPES.contains(&entry.name.as_str()) || BUILTIN_FUNCTIONS.contains(&entry.name.as_str()) {
            if let Some(range) = name_range {
                diagnostics.push(Diagnostic::error(
                    codes::DUPLICATE_DEFINITION,
                    range,
                    format!("`{}` is a built-in name and cannot be redefined", entry.name),
                ));
            }
            continue;
        }
        if scope.names.contains_key(&entry.name) {
            if let Some(range) = name_range {
                diagnostics.push(duplicate("the name", &entry.name, range));
            }
            continue;
        }
        // Functions, externs and globals get their index in pass 2.
        scope.names.insert(entry.name.clone(), reference);
    }
    scope.class_names = scope.classes.iter().map(|c| c.name.clone()).collect();
    scope.struct_names = scope.structs.iter().map(|s| s.name.clone()).collect();

    // Pass 2: signatures, fields, bodies.
    let mut class_i = 0usize;
    let mut struct_i = 0usize;
    let mut body_counts: HashMap<BodyPath, u32> = HashMap::new();
    let mut add_body = |scope: &mut ItemScope, path: BodyPath, owner: BodyOwner| -> u32 {
        let count = body_counts.entry(path.clone()).or_insert(0);
        let id = scope.bodies.len() as u32;
        scope.body_ids.insert((path.clone(), *count), id);
        scope.bodies.push((path, *count));
        scope.body_owners.push(owner);
        *count += 1;
        id
    };
    let mut globals_pending = Vec::new();
    for entry in &tree.items {
        // A class or struct without a name (a syntax error, reported by the parser) got no
        // slot in pass 1, so it gets none here either: the slots of the others must match.
        if entry.name.is_empty() && matches!(entry.kind, ItemKind::Class | ItemKind::Struct) {
            continue;
        }
        let root = entry.syntax();
        let offset = entry.offset;
        let mut report = |d: Diagnostic| diagnostics.push(d.shifted(offset));
        match entry.kind {
            ItemKind::Fn => {
                let Some(f) = ast::FnItem::cast(root) else {
                    continue;
                };
                let sig = scope.signature(f.param_list(), f.ret_type(), None, fn_attrs(&f), &mut report);
                check_params(&f.param_list(), &mut report);
                if entry.name == "main"
                    && (!sig.params.is_empty() || sig.ret.is_some())
                    && let Some(name) = f.name()
                {
                    report(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        name.syntax().text_range(),
                        "`main` takes no parameters and returns no value: write `fn main()`",
                    ));
                }
                let index = scope.functions.len() as u32;
                let body = add_body(&mut scope, BodyPath::Fn(entry.name.clone()), BodyOwner::Fn(Some(index)));

                scope.functions.push(FnData { name: entry.name.clone(), sig, body });
                if scope.names.get(&entry.name) == Some(&ItemRef::Fn(u32::MAX)) {
                    scope.names.insert(entry.name.clone(), ItemRef::Fn(index));
                }
            }
            ItemKind::Extern => {
                let Some(f) = ast::ExternFn::cast(root) else {
                    continue;
                };
                let sig = scope.signature(f.param_list(), f.ret_type(), None, (false, false), &mut report);
                check_params(&f.param_list(), &mut report);
                let index = scope.externs.len() as u32;
                scope.externs.push(ExternData { name: entry.name.clone(), params: sig.params, ret: sig.ret });
                if scope.names.get(&entry.name) == Some(&ItemRef::Extern(u32::MAX)) {
                    scope.names.insert(entry.name.clone(), ItemRef::Extern(index));
                }
            }
            ItemKind::Global => {
                let Some(g) = ast::GlobalItem::cast(root) else {
                    continue;
                };
                let ty = g.ty().map_or(Ty::Unknown, |t| scope.resolve_type(&t, &mut report));
                globals_pending.push((entry.name.clone(), ty));
            }
            ItemKind::Struct => {
                let idx = struct_i;
                struct_i += 1;
                let Some(s) = ast::StructItem::cast(root) else {
                    continue;
                };
                let fields = fields(&scope, s.member_list(), &mut report);
                scope.structs[idx].field_index = index_of(&fields);
                scope.structs[idx].fields = fields;
            }
            ItemKind::Class => {
                let idx = class_i;
                class_i += 1;
                let Some(c) = ast::ClassItem::cast(root) else {
                    continue;
                };
                let class_ty = Ty::Class(ClassIdx(idx as u32));
                let fields = fields(&scope, c.member_list(), &mut report);
                let field_index = index_of(&fields);
                let mut method_index: BTreeMap<String, u32> = BTreeMap::new();
                let mut methods = Vec::new();
                let mut drop = None;
                if let Some(list) = c.member_list() {
                    for m in list.methods() {
                        let name = m.name().map(|n| n.text()).unwrap_or_default();
                        let name_range = m.name().map(|n| n.syntax().text_range());
                        let sig = scope.signature(
                            m.param_list(),
                            m.ret_type(),
                            Some(&class_ty),
                            fn_attrs(&m),
                            &mut report,
                        );
                        check_params(&m.param_list(), &mut report);
                        if m.param_list()
                            .and_then(|l| l.all_params().next())
                            .is_none_or(|p| !matches!(p, ast::AnyParam::SelfParam(_)))
                            && let Some(range) = name_range
                        {
                            report(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                range,
                                format!("method `{name}` must take `self` as its first parameter"),
                            ));
                        }
                        let is_dup = method_index.contains_key(&name) || field_index.contains_key(&name);
                        if is_dup && let Some(range) = name_range {
                            report(duplicate("the member", &name, range));
                        }
                        let slot = (!is_dup).then_some(methods.len() as u32);
                        let owner = BodyOwner::Method(ClassIdx(idx as u32), slot);
                        let body =
                            add_body(&mut scope, BodyPath::Method(entry.name.clone(), name.clone()), owner);
                        if let Some(slot) = slot {
                            method_index.insert(name.clone(), slot);
                            methods.push(MethodData { name, sig, body });
                        }
                    }
                    if list.drop_blocks().next().is_some() {
                        let owner = BodyOwner::Drop(ClassIdx(idx as u32));
                        drop = Some(add_body(&mut scope, BodyPath::Drop(entry.name.clone()), owner));
                    }
                }
                scope.classes[idx].fields = fields;
                scope.classes[idx].field_index = field_index;
                scope.classes[idx].methods = methods;
                scope.classes[idx].method_index = method_index;
                scope.classes[idx].drop = drop;
            }
        }
    }
    // Globals last: their initialiser bodies come after every function in the IR.
    for (name, ty) in globals_pending {
        let index = scope.globals.len() as u32;
        let body = add_body(&mut scope, BodyPath::GlobalInit(name.clone()), BodyOwner::Global(index));

        scope.globals.push(GlobalData { name: name.clone(), ty, body });
        if scope.names.get(&name) == Some(&ItemRef::Global(u32::MAX)) {
            scope.names.insert(name, ItemRef::Global(index));
        }
    }
    check_recursive_structs(&scope, tree, &mut diagnostics);
    diagnostics.sort_by_key(|d| (d.range.start(), d.range.end()));
    ItemScopeResult { scope, diagnostics }
}

fn index_of(fields: &[FieldData]) -> BTreeMap<String, u32> {
    fields.iter().enumerate().map(|(i, f)| (f.name.clone(), i as u32)).collect()
}

fn name_node(item: &custody_syntax::SyntaxNode) -> Option<ast::Name> {
    item.children().find_map(ast::Name::cast)
}

/// Duplicate parameter names, and parameters named after built-in functions.
fn check_params(list: &Option<ast::ParamList>, report: &mut dyn FnMut(Diagnostic)) {
    let mut seen: HashSet<String> = HashSet::new();
    for param in list.iter().flat_map(|l| l.params()) {
        let Some(name) = param.name() else { continue };
        let text = name.text();
        if BUILTIN_FUNCTIONS.contains(&text.as_str()) {
            report(Diagnostic::error(
                codes::DUPLICATE_DEFINITION,
                name.syntax().text_range(),
                format!("`{text}` is a built-in function and cannot name a parameter"),
            ));
        } else if seen.contains(&text) {
            report(Diagnostic::error(
                codes::DUPLICATE_DEFINITION,
                name.syntax().text_range(),
                format!("the parameter `{text}` is defined more than once"),
            ));
        }
        seen.insert(text);
    }
}

fn fields(
    scope: &ItemScope,
    list: Option<ast::MemberList>,
    report: &mut dyn FnMut(Diagnostic),
) -> Vec<FieldData> {
    let mut out: Vec<FieldData> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for field in list.iter().flat_map(|l| l.fields()) {
        let Some(name) = field.name() else { continue };
        let text = name.text();
        let ty = field.ty().map_or(Ty::Unknown, |t| scope.resolve_type(&t, report));
        if !seen.insert(text.clone()) {
            report(Diagnostic::error(
                codes::DUPLICATE_DEFINITION,
                name.syntax().text_range(),
                format!("the field `{text}` is defined more than once"),
            ));
            continue;
        }
        out.push(FieldData { name: text, ty });
    }
    out
}

/// A struct that contains itself (directly or through other structs, inline) would be
/// infinitely large.
fn check_recursive_structs(
    scope: &ItemScope,
    tree: &super::item_tree::ItemTree,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let inline_struct = |ty: &Ty| match ty.non_null() {
        Ty::Struct(idx) => Some(idx.0 as usize),
        _ => None,
    };
    // Colour-marking DFS, iterative; reports the field that closes each cycle once.
    let n = scope.structs.len();
    let mut state = vec![0u8; n];
    let mut reported = vec![false; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let fields = &scope.structs[node].fields;
            if *next >= fields.len() {
                state[node] = 2;
                stack.pop();
                continue;
            }
            let field = *next;
            *next += 1;
            let Some(target) = inline_struct(&fields[field].ty) else {
                continue;
            };
            match state[target] {
                0 => {
                    state[target] = 1;
                    stack.push((target, 0));
                }
                1 if !reported[node] => {
                    reported[node] = true;
                    if let Some(range) =
                        field_type_range(tree, &scope.structs[node].name, &fields[field].name)
                    {
                        diagnostics.push(Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            range,
                            format!(
                                "struct `{}` contains itself through field `{}`: it would be infinitely large (a class holds its fields by reference)",
                                scope.structs[node].name, fields[field].name
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

fn field_type_range(tree: &super::item_tree::ItemTree, struct_name: &str, field: &str) -> Option<TextRange> {
    let entry = tree.items.iter().find(|e| e.kind == ItemKind::Struct && e.name == struct_name)?;
    let s = ast::StructItem::cast(entry.syntax())?;
    let f = s.member_list()?.fields().find(|f| f.name().is_some_and(|n| n.text() == field))?;
    Some(f.ty()?.syntax().text_range() + entry.offset)
}
