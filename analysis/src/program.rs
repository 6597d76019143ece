//! Assembling the whole program's IR from the lowered bodies.
//!
//! Function numbering: the item scope's bodies first, in its order (so a body's
//! `FunctionId` is its index there, which is how lowered code refers to other functions);
//! then `#globals`, which runs every global's initialiser in declaration order; then the
//! closures, body by body. Lowered bodies refer to their closures by body-local numbers and
//! carry body-relative spans: both are fixed up here ("relocated"), which is what lets the
//! lowering of an unchanged body be reused after an edit elsewhere.

use crate::db::SourceFile;
use crate::hir::item_tree::{Body, ItemEntry, ItemKind, body_offset, item_tree};
use crate::hir::lower::{BODY_PLACEHOLDER, ir_type, lower_body};
use crate::hir::scope::item_scope;
use custody_ir as ir;
use custody_ir::{FunctionId, InstKind, Span};
use custody_syntax::ast::{self, AstNode};
use std::collections::HashMap;

/// The IR of a whole file. Meaningful only when [`crate::check_file`] found no errors
/// (bodies with errors lower to something well-formed but meaningless).
#[salsa::tracked(returns(ref), no_eq)]
pub fn program_ir(db: &dyn salsa::Database, file: SourceFile) -> ir::Program {
    let scope = item_scope(db, file);
    let tree = item_tree(db, file);
    // The first item of each kind and name (duplicates are errors, reported elsewhere).
    let mut entries: HashMap<(ItemKind, &str), &ItemEntry> = HashMap::new();
    for entry in &tree.items {
        entries.entry((entry.kind, entry.name.as_str())).or_insert(entry);
    }
    let item_span = |kind: ItemKind, name: &str| {
        entries.get(&(kind, name)).map_or(Span::NONE, |e| {
            Span::new(e.offset.into(), u32::from(e.offset) + u32::from(e.green.text_len()))
        })
    };
    // Field spans, found in the item's own subtree.
    let field_spans = |kind: ItemKind, name: &str| -> Vec<Span> {
        let Some(entry) = entries.get(&(kind, name)) else { return vec![] };
        let list = match kind {
            ItemKind::Class => ast::ClassItem::cast(entry.syntax()).and_then(|c| c.member_list()),
            _ => ast::StructItem::cast(entry.syntax()).and_then(|s| s.member_list()),
        };
        list.iter()
            .flat_map(|l| l.fields())
            .map(|f| {
                let r = f.syntax().text_range() + entry.offset;
                Span::new(r.start().into(), r.end().into())
            })
            .collect()
    };
    let fields = |defs: &[crate::hir::scope::FieldData], spans: Vec<Span>| -> Vec<ir::FieldDef> {
        defs.iter()
            .enumerate()
            .map(|(i, f)| ir::FieldDef {
                name: f.name.clone(),
                ty: ir_type(&f.ty),
                span: spans.get(i).copied().unwrap_or(Span::NONE),
            })
            .collect()
    };

    let mut program = ir::Program {
        classes: scope
            .classes
            .iter()
            .map(|c| ir::ClassDef {
                name: c.name.clone(),
                fields: fields(&c.fields, field_spans(ItemKind::Class, &c.name)),
                drop: c.drop.map(FunctionId),
                methods: c.methods.iter().map(|m| FunctionId(m.body)).collect(),
                span: item_span(ItemKind::Class, &c.name),
            })
            .collect(),
        structs: scope
            .structs
            .iter()
            .map(|s| ir::StructDef {
                name: s.name.clone(),
                fields: fields(&s.fields, field_spans(ItemKind::Struct, &s.name)),
                span: item_span(ItemKind::Struct, &s.name),
            })
            .collect(),
        globals: scope
            .globals
            .iter()
            .map(|g| ir::GlobalDef {
                name: g.name.clone(),
                ty: ir_type(&g.ty),
                span: item_span(ItemKind::Global, &g.name),
            })
            .collect(),
        externs: scope
            .externs
            .iter()
            .map(|x| ir::ExternDef {
                name: x.name.clone(),
                params: x
                    .params
                    .iter()
                    .map(|p| ir::ExternParam { name: p.name.clone(), ty: ir_type(&p.ty), mode: p.mode })
                    .collect(),
                ret: x.ret.as_ref().map(ir_type),
                span: item_span(ItemKind::Extern, &x.name),
            })
            .collect(),
        functions: Vec::with_capacity(scope.bodies.len() + 1),
        global_init: None,
        main: scope.functions.iter().find(|f| f.name == "main").map(|f| FunctionId(f.body)),
    };

    let mut closures: Vec<ir::Function> = Vec::new();
    let closure_base = scope.bodies.len() as u32 + u32::from(!scope.globals.is_empty());
    for (i, (path, index)) in scope.bodies.iter().enumerate() {
        let body = Body::new(db, file, path.clone(), *index);
        let lowered = lower_body(db, body);
        let offset = u32::from(*body_offset(db, body));
        let base = closure_base + closures.len() as u32;
        let relocate = |mut f: ir::Function| {
            f.shift_spans(offset);
            relocate_closures(&mut f, FunctionId(i as u32), base);
            f
        };
        let function =
            lowered.function.clone().map_or_else(|| missing_body_function(path.display_name()), relocate);
        program.functions.push(function);
        closures.extend(lowered.closures.iter().cloned().map(relocate));
    }
    if !scope.globals.is_empty() {
        program.global_init = Some(FunctionId(scope.bodies.len() as u32));
        program.functions.push(globals_sequencer(scope.globals.iter().map(|g| FunctionId(g.body))));
    }
    program.functions.extend(closures);
    program
}

/// Rewrites a lowered function's body-local closure references to program ids.
fn relocate_closures(f: &mut ir::Function, body: FunctionId, base: u32) {
    if let ir::FunctionKind::Closure { parent } = &mut f.kind {
        *parent = if *parent == BODY_PLACEHOLDER { body } else { FunctionId(base + parent.0) };
    }
    for block in &mut f.blocks {
        for inst in &mut block.insts {
            if let InstKind::NewClosure { function, .. } = &mut inst.kind {
                *function = FunctionId(base + function.0);
            }
        }
    }
}

/// `#globals`: calls each global's initialiser, in declaration order.
fn globals_sequencer(inits: impl Iterator<Item = FunctionId>) -> ir::Function {
    let mut insts: Vec<ir::Inst> = inits
        .map(|init| ir::Inst {
            kind: InstKind::Call { dest: None, callee: ir::Callee::Function(init), args: vec![] },
            span: Span::NONE,
        })
        .collect();
    insts.push(ir::Inst { kind: InstKind::Return { value: None }, span: Span::NONE });
    ir::Function {
        name: "#globals".to_string(),
        kind: ir::FunctionKind::GlobalInit,
        arena: false,
        manual: false,
        params: vec![],
        captures: vec![],
        ret: None,
        locals: vec![],
        blocks: vec![ir::Block { insts }],
        span: Span::NONE,
    }
}

/// A body that no longer parses as one: a function that stops if it is ever run.
fn missing_body_function(name: String) -> ir::Function {
    ir::Function {
        name,
        kind: ir::FunctionKind::Plain,
        arena: false,
        manual: false,
        params: vec![],
        captures: vec![],
        ret: None,
        locals: vec![],
        blocks: vec![ir::Block { insts: vec![ir::Inst { kind: InstKind::Unreachable, span: Span::NONE }] }],
        span: Span::NONE,
    }
}
