//! Which fields and globals only ever hold constant data (string literals, `null`,
//! immediates): a flow-insensitive pass over the whole program.
//!
//! A value loaded from such a place holds no reference, so a plan may `dup` it and never
//! release it (both do nothing at run time). The pass looks at every value that can be
//! stored into a class's field (the fields of `new_object`, `store_field`) or a global
//! (`store_global`): a field is constant-only when every such value is a local that only
//! `const` instructions (or copies of such locals) ever write.

use crate::{ClassId, InstKind, LocalId, Program, Type};
use std::collections::HashSet;

/// The constant-only places of a program, and what every allocation of a class has in
/// common.
#[derive(Debug, Default)]
pub(super) struct ConstantPlaces {
    /// For each class whose allocation sites all have placements of one kind: that kind
    /// (a value of the class, wherever it comes from, is then of that kind).
    pub(super) class_kinds: std::collections::HashMap<ClassId, super::state::Kind>,
    /// (class, field) pairs that can hold a reference.
    fields: HashSet<(ClassId, u32)>,
    /// Globals that can hold a reference.
    globals: HashSet<u32>,
}

impl ConstantPlaces {
    pub(super) fn field_is_constant(&self, ty: Option<&Type>, field: u32) -> bool {
        match ty.map(Type::non_null) {
            Some(Type::Class(c)) => !self.fields.contains(&(*c, field)),
            _ => false,
        }
    }

    pub(super) fn global_is_constant(&self, global: u32) -> bool {
        !self.globals.contains(&global)
    }

    pub(super) fn find(program: &Program) -> ConstantPlaces {
        let mut places = ConstantPlaces::default();
        for function in &program.functions {
            // Locals written only by constants (and copies of them), to a fixpoint.
            let n = function.locals.len();
            let mut constant = vec![true; n];
            for &p in function.params.iter().chain(&function.captures) {
                if let Some(c) = constant.get_mut(p.index()) {
                    *c = false;
                }
            }
            loop {
                let mut changed = false;
                for (_, inst) in function.insts() {
                    let Some(dest) = inst.kind.dest() else { continue };
                    let stays = match &inst.kind {
                        InstKind::Const { .. } => true,
                        InstKind::Copy { src, .. } => constant.get(src.index()).copied().unwrap_or(false),
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
            let class_of = |l: LocalId| match function.get_local(l).map(|d| d.ty.non_null()) {
                Some(Type::Class(c)) => Some(*c),
                _ => None,
            };
            for (_, inst) in function.insts() {
                match &inst.kind {
                    InstKind::NewObject { class, fields, .. } => {
                        for (f, &v) in fields.iter().enumerate() {
                            if !is_constant(v) {
                                places.fields.insert((*class, f as u32));
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
        places
    }
}
