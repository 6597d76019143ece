//! Which fields and globals only ever hold constant data (string literals, `null`,
//! immediates): a flow-insensitive pass over the whole program.
//!
//! A value loaded from such a place holds no reference, so a plan may `dup` it and never
//! release it (both do nothing at run time). The pass looks at every value that can be
//! stored into a class's field (the fields of `new_object`, `store_field`) or a global
//! (`store_global`): a field is constant-only when every such value is a local that only
//! `const` instructions (or copies of such locals) ever write.

use crate::{Callee, ClassId, InstKind, LocalId, Program, StructId, Type};
use std::collections::HashSet;

/// The constant-only places of a program, and what every allocation of a class has in
/// common.
#[derive(Debug, Default)]
pub(super) struct ConstantPlaces {
    /// For each class whose allocation sites all have placements of one kind: that kind
    /// (a value of the class, wherever it comes from, is then of that kind).
    pub(super) class_kinds: std::collections::HashMap<ClassId, super::state::Kind>,
    /// What each local can hold, over the whole program (`points_to.rs`).
    pub(super) points_to: super::points_to::PointsTo,
    /// (class or struct, field) pairs that can hold a reference.
    fields: HashSet<(Record, u32)>,
    /// Globals that can hold a reference.
    globals: HashSet<u32>,
    /// Classes of the values some closure call passes (a closure body's parameter of
    /// another class never receives a value).
    closure_args: HashSet<ClassId>,
    /// Every closure body some `new_closure` creates, with its parameter count; `None`
    /// when extern code exists (it may hand out closures whose bodies are not seen).
    pub(super) closure_bodies: Option<Vec<(crate::FunctionId, usize)>>,
}

impl ConstantPlaces {
    pub(super) fn field_is_constant(&self, ty: Option<&Type>, field: u32) -> bool {
        match ty.and_then(record) {
            Some(r) => !self.fields.contains(&(r, field)),
            None => false,
        }
    }

    pub(super) fn global_is_constant(&self, global: u32) -> bool {
        !self.globals.contains(&global)
    }

    /// Whether a closure call anywhere in the program passes a value of class `c`.
    pub(super) fn closure_receives(&self, c: ClassId) -> bool {
        self.closure_args.contains(&c)
    }

    pub(super) fn find(program: &Program) -> ConstantPlaces {
        let mut places = ConstantPlaces::default();
        // Fields and globals start constant and lose it when a non-constant value may be
        // stored there; a local loaded from a constant place is constant too, so the
        // passes repeat until no place changes (places only ever lose the property).
        loop {
            let before = (places.fields.len(), places.globals.len());
            for function in &program.functions {
                places.scan(function);
            }
            if (places.fields.len(), places.globals.len()) == before {
                break;
            }
        }
        let mut bodies = Vec::new();
        for function in &program.functions {
            for (_, inst) in function.insts() {
                if let InstKind::NewClosure { function: body, .. } = &inst.kind {
                    let arity = program.functions.get(body.index()).map_or(0, |b| b.params.len());
                    bodies.push((*body, arity));
                }
                if let InstKind::Call { callee: Callee::Closure(_), args, .. }
                | InstKind::Spawn { callee: Callee::Closure(_), args } = &inst.kind
                {
                    for &a in args {
                        if let Some(Type::Class(c)) = function.get_local(a).map(|d| d.ty.non_null()) {
                            places.closure_args.insert(*c);
                        }
                    }
                }
            }
        }
        bodies.sort();
        bodies.dedup();
        places.closure_bodies = program.externs.is_empty().then_some(bodies);
        places
    }

    /// One pass over a function with what is known of the places so far.
    fn scan(&mut self, function: &crate::Function) {
        let places = self;
        {
            // Locals written only by constants (and copies of them, and loads from
            // constant places), to a fixpoint.
            let n = function.locals.len();
            let mut constant = vec![true; n];
            for &p in function.params.iter().chain(&function.captures) {
                if let Some(c) = constant.get_mut(p.index()) {
                    *c = false;
                }
            }
            let class_of = |l: LocalId| function.get_local(l).and_then(|d| record(&d.ty));
            loop {
                let mut changed = false;
                for (_, inst) in function.insts() {
                    let Some(dest) = inst.kind.dest() else { continue };
                    let stays = match &inst.kind {
                        InstKind::Const { .. } => true,
                        InstKind::Copy { src, .. } => constant.get(src.index()).copied().unwrap_or(false),
                        InstKind::LoadField { object, field, .. } => {
                            class_of(*object).is_some_and(|c| !places.fields.contains(&(c, *field)))
                        }
                        InstKind::LoadGlobal { global, .. } => !places.globals.contains(&global.0),
                        _ => false,
                    };
                    if !stays && constant.get(dest.index()).copied().unwrap_or(false) {
                        constant[dest.index()] = false;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
            let is_constant = |l: LocalId| constant.get(l.index()).copied().unwrap_or(false);
            for (_, inst) in function.insts() {
                match &inst.kind {
                    InstKind::NewObject { class, fields, .. } => {
                        for (f, &v) in fields.iter().enumerate() {
                            if !is_constant(v) {
                                places.fields.insert((Record::Class(*class), f as u32));
                            }
                        }
                    }
                    InstKind::NewStruct { strukt, fields, .. } => {
                        for (f, &v) in fields.iter().enumerate() {
                            if !is_constant(v) {
                                places.fields.insert((Record::Struct(*strukt), f as u32));
                            }
                        }
                    }
                    InstKind::StoreField { object, field, value } => {
                        if let Some(c) = class_of(*object)
                            && !is_constant(*value)
                        {
                            places.fields.insert((c, *field));
                        }
                    }
                    InstKind::StoreGlobal { global, value } if !is_constant(*value) => {
                        places.globals.insert(global.0);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A class or a struct: what has fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Record {
    Class(ClassId),
    Struct(StructId),
}

fn record(ty: &Type) -> Option<Record> {
    match ty.non_null() {
        Type::Class(c) => Some(Record::Class(*c)),
        Type::Struct(s) => Some(Record::Struct(*s)),
        _ => None,
    }
}
