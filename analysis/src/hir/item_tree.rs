//! The item tree: the file's items, each with a stable identity and its own subtree.
//!
//! Incrementality rests on two facts. First, a [`Body`] (a function, method, `drop` block or
//! global initialiser) is named by its path (`Node.get`), not by its position, so it keeps
//! its identity when text before it changes. Second, rowan green nodes carry no absolute
//! offsets: the green subtree of an unchanged function is equal before and after an edit
//! elsewhere, even if the function moved. [`body_source`] returns just that subtree, so
//! salsa's early cut-off stops the re-execution there: everything computed from an
//! unchanged body (types, IR) is reused. Offsets are kept apart ([`body_offset`]) and only
//! applied when results are reported.

use crate::db::{SourceFile, parse};
use custody_syntax::ast::{self, AstNode};
use custody_syntax::{GreenNode, SyntaxNode, TextRange, TextSize};
use std::collections::{BTreeMap, HashMap};

/// Which body, by name. Duplicated names (an error) are told apart by `index`, the
/// position among bodies of the same path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BodyPath {
    /// A function: `name`.
    Fn(String),
    /// A method: `Class.name`.
    Method(String, String),
    /// A class's `drop` block: `Class.drop`.
    Drop(String),
    /// A global's initialiser: `name#init`.
    GlobalInit(String),
}

impl BodyPath {
    /// The name plans and the IR use: `make`, `Node.get`, `Node.drop`, `cache#init`.
    pub fn display_name(&self) -> String {
        match self {
            BodyPath::Fn(name) => name.clone(),
            BodyPath::Method(class, name) => format!("{class}.{name}"),
            BodyPath::Drop(class) => format!("{class}.drop"),
            BodyPath::GlobalInit(name) => format!("{name}#init"),
        }
    }
}

/// A body of code in a file, identified by path (stable across edits).
#[salsa::interned(debug)]
pub struct Body<'db> {
    /// The file it is in.
    pub file: SourceFile,
    /// Its path.
    #[returns(ref)]
    pub path: BodyPath,
    /// Which of several bodies with this path (0 unless names are duplicated).
    pub index: u32,
}

/// The kind of a top-level item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// `fn`
    Fn,
    /// `extern fn`
    Extern,
    /// `global`
    Global,
    /// `struct`
    Struct,
    /// `class`
    Class,
}

/// One top-level item: its kind, name, subtree and where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemEntry {
    /// What it is.
    pub kind: ItemKind,
    /// Its name (empty when the name is missing: a syntax error).
    pub name: String,
    /// Its subtree, position-independent.
    pub green: GreenNode,
    /// Its byte offset in the file.
    pub offset: TextSize,
}

/// The file's items, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ItemTree {
    /// The items.
    pub items: Vec<ItemEntry>,
    /// Where each body is: its item, and its node's range within the item.
    bodies: BTreeMap<(BodyPath, u32), (u32, TextRange)>,
}

impl ItemEntry {
    /// The item as a syntax node rooted at the item (offsets relative to its start).
    pub fn syntax(&self) -> SyntaxNode {
        SyntaxNode::new_root(self.green.clone())
    }
}

/// The items of a file. Re-runs after every edit (it is cheap), and its consumers are
/// shielded from that by [`body_source`] and the item scope, which compare equal when
/// nothing they care about changed.
#[salsa::tracked(returns(ref), no_eq)]
pub fn item_tree(db: &dyn salsa::Database, file: SourceFile) -> ItemTree {
    let parse = parse(db, file);
    let root = parse.tree();
    let items: Vec<ItemEntry> = root
        .items()
        .map(|item| {
            let (kind, name) = match &item {
                ast::Item::FnItem(it) => (ItemKind::Fn, it.name()),
                ast::Item::ExternFn(it) => (ItemKind::Extern, it.name()),
                ast::Item::GlobalItem(it) => (ItemKind::Global, it.name()),
                ast::Item::StructItem(it) => (ItemKind::Struct, it.name()),
                ast::Item::ClassItem(it) => (ItemKind::Class, it.name()),
            };
            let syntax = item.syntax();
            ItemEntry {
                kind,
                name: name.map(|n| n.text()).unwrap_or_default(),
                green: syntax.green().to_owned(),
                offset: syntax.text_range().start(),
            }
        })
        .collect();
    let bodies = index_bodies(&items);
    ItemTree { items, bodies }
}

/// Every body's location, numbered the way the item scope numbers duplicates: in item
/// order, and in member order within a class.
fn index_bodies(items: &[ItemEntry]) -> BTreeMap<(BodyPath, u32), (u32, TextRange)> {
    let mut bodies = BTreeMap::new();
    let mut counts: HashMap<BodyPath, u32> = HashMap::new();
    let mut add = |path: BodyPath, item: usize, node: &SyntaxNode| {
        let count = counts.entry(path.clone()).or_insert(0);
        bodies.insert((path, *count), (item as u32, node.text_range()));
        *count += 1;
    };
    for (i, entry) in items.iter().enumerate() {
        let root = entry.syntax();
        match entry.kind {
            ItemKind::Fn => add(BodyPath::Fn(entry.name.clone()), i, &root),
            ItemKind::Global => add(BodyPath::GlobalInit(entry.name.clone()), i, &root),
            // A class without a name has no slot in the item scope (a syntax error).
            ItemKind::Class if entry.name.is_empty() => {}
            ItemKind::Class => {
                let Some(list) = ast::ClassItem::cast(root).and_then(|c| c.member_list()) else { continue };
                for m in list.methods() {
                    let name = m.name().map(|n| n.text()).unwrap_or_default();
                    add(BodyPath::Method(entry.name.clone(), name), i, m.syntax());
                }
                for d in list.drop_blocks().take(1) {
                    add(BodyPath::Drop(entry.name.clone()), i, d.syntax());
                }
            }
            ItemKind::Extern | ItemKind::Struct => {}
        }
    }
    bodies
}

/// Where a body's code is: the item holding it, and the node within the item.
struct BodyLocation<'t> {
    entry: &'t ItemEntry,
    node: SyntaxNode,
}

fn locate<'t>(tree: &'t ItemTree, path: &BodyPath, index: u32) -> Option<BodyLocation<'t>> {
    let &(item, range) = tree.bodies.get(&(path.clone(), index))?;
    let entry = tree.items.get(item as usize)?;
    let node = match entry.syntax().covering_element(range) {
        custody_syntax::NodeOrToken::Node(node) => node,
        custody_syntax::NodeOrToken::Token(token) => token.parent()?,
    };
    // The covering element is the innermost node with that range; the body is the
    // outermost one (a method's FN_ITEM, not a child that happens to span it all).
    let node = node.ancestors().take_while(|n| n.text_range() == range).last()?;
    Some(BodyLocation { entry, node })
}

/// The code of a body: the green subtree of its item node (a `FN_ITEM`, `DROP_BLOCK` or
/// `GLOBAL_ITEM`), position-independent, or `None` if the body no longer exists.
#[salsa::tracked]
pub fn body_source<'db>(db: &'db dyn salsa::Database, body: Body<'db>) -> Option<GreenNode> {
    let tree = item_tree(db, *body.file(db));
    locate(tree, body.path(db), *body.index(db)).map(|loc| loc.node.green().to_owned())
}

/// The byte offset at which a body's node starts in its file.
#[salsa::tracked]
pub fn body_offset<'db>(db: &'db dyn salsa::Database, body: Body<'db>) -> TextSize {
    let tree = item_tree(db, *body.file(db));
    locate(tree, body.path(db), *body.index(db))
        .map(|loc| loc.entry.offset + loc.node.text_range().start())
        .unwrap_or_default()
}
