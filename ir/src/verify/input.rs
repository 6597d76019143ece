//! Reading the plan against the program, trusting nothing: every function, operation and
//! allocation entry is matched to the IR, and whatever does not fit becomes a
//! `verify-invalid-plan` finding instead of an index out of range.

use super::report::Rule;
pub(super) use crate::plan::OpTarget as Target;
use crate::plan::{MemoryPlan, Op, OpKind, Placement, When, resolve_target as resolve};
use crate::{Function, InstAddr, LocalId, Mode, Program, ScopeId, Span};
use std::collections::HashMap;

/// One operation of the plan, checked.
#[derive(Debug, Clone)]
pub(super) struct VOp {
    /// What it does.
    pub(super) kind: OpKind,
    /// To what.
    pub(super) target: Target,
    /// Repeated by the int in this local.
    pub(super) count: Option<LocalId>,
    /// Its position in the plan's `ops` list (to name it in findings).
    pub(super) index: usize,
}

/// An allocation entry, checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Alloc {
    pub(super) placement: Placement,
    pub(super) arena_scope: Option<ScopeId>,
}

/// The plan of one function, indexed by instruction.
#[derive(Debug, Clone, Default)]
pub(super) struct FnInput {
    /// Per block, per instruction: operations before, operations after.
    pub(super) ops: Vec<Vec<(Vec<VOp>, Vec<VOp>)>>,
    /// Allocation entries by instruction.
    pub(super) allocs: HashMap<InstAddr, Alloc>,
    /// The mode of each parameter, in order (`None` when the plan does not say).
    pub(super) modes: Vec<Option<Mode>>,
    /// The plan's `ops`, for naming operations in findings.
    pub(super) plan_ops: Vec<Op>,
    /// The locals each scope declares.
    pub(super) scope_locals: HashMap<ScopeId, Vec<LocalId>>,
}

impl FnInput {
    /// The operations at an instruction, on one side.
    pub(super) fn ops_at(&self, at: InstAddr, when: When) -> &[VOp] {
        match self.ops.get(at.block.index()).and_then(|b| b.get(at.index as usize)) {
            Some((before, after)) => match when {
                When::Before => before,
                When::After => after,
            },
            None => &[],
        }
    }
}

/// A problem with the plan's shape.
#[derive(Debug, Clone)]
pub(super) struct InputProblem {
    pub(super) rule: Rule,
    pub(super) function: String,
    pub(super) inst: Option<InstAddr>,
    pub(super) span: Span,
    pub(super) message: String,
}

/// The whole plan, checked and indexed by IR function.
#[derive(Debug, Clone, Default)]
pub(super) struct PlanInput {
    pub(super) functions: Vec<FnInput>,
    pub(super) problems: Vec<InputProblem>,
    /// Operations that were checked (those that fit).
    pub(super) ops: u32,
}

impl PlanInput {
    pub(super) fn build(program: &Program, plan: &MemoryPlan) -> PlanInput {
        let mut input = PlanInput {
            functions: program.functions.iter().map(skeleton).collect(),
            problems: Vec::new(),
            ops: 0,
        };
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, f) in program.functions.iter().enumerate() {
            by_name.entry(f.name.as_str()).or_insert(i);
        }
        let mut planned = vec![false; program.functions.len()];
        for fp in &plan.functions {
            let Some(&id) = by_name.get(fp.name.as_str()) else {
                input.problem(
                    "",
                    None,
                    Span::NONE,
                    format!("the plan has a function `{}` the program does not", fp.name),
                );
                continue;
            };
            if std::mem::replace(&mut planned[id], true) {
                input.problem(
                    &fp.name,
                    None,
                    Span::NONE,
                    format!("the plan has two entries for `{}`", fp.name),
                );
                continue;
            }
            let function = &program.functions[id];
            let mut modes = vec![None; function.params.len()];
            for p in &fp.params {
                match modes.get_mut(p.index as usize) {
                    Some(slot) => *slot = Some(p.mode),
                    None => input.problem(
                        &fp.name,
                        None,
                        function.span,
                        format!(
                            "the plan gives a mode to parameter {} of `{}`, which has {}",
                            p.index,
                            fp.name,
                            function.params.len()
                        ),
                    ),
                }
            }
            input.functions[id].modes = modes;
            input.functions[id].plan_ops = fp.ops.clone();
            for alloc in &fp.allocations {
                match function.inst(alloc.inst) {
                    Some(inst) if inst.kind.is_allocation() => {
                        let entry = Alloc { placement: alloc.placement, arena_scope: alloc.arena_scope };
                        if input.functions[id].allocs.insert(alloc.inst, entry).is_some() {
                            input.problem(
                                &fp.name,
                                Some(alloc.inst),
                                inst.span,
                                format!("two allocation entries for {}", alloc.inst),
                            );
                        }
                    }
                    Some(inst) => input.problem(
                        &fp.name,
                        Some(alloc.inst),
                        inst.span,
                        format!(
                            "allocation `{}` is placed at {}, which is `{}`, not an allocation",
                            alloc.id,
                            alloc.inst,
                            inst.kind.mnemonic()
                        ),
                    ),
                    None => input.problem(
                        &fp.name,
                        None,
                        Span::NONE,
                        format!(
                            "allocation `{}` is placed at {}, which does not exist",
                            alloc.id, alloc.inst
                        ),
                    ),
                }
            }
            for (k, op) in fp.ops.iter().enumerate() {
                input.op(program, function, id, k, op);
            }
        }
        for (id, f) in program.functions.iter().enumerate() {
            if !planned[id] {
                input.problem(&f.name, None, f.span, format!("the plan has no entry for `{}`", f.name));
            }
        }
        input
    }

    fn problem(&mut self, function: &str, inst: Option<InstAddr>, span: Span, message: String) {
        self.problems.push(InputProblem {
            rule: Rule::InvalidPlan,
            function: function.to_string(),
            inst,
            span,
            message,
        });
    }

    fn op(&mut self, program: &Program, function: &Function, id: usize, k: usize, op: &Op) {
        let Some(inst) = function.inst(op.inst) else {
            let message = format!(
                "`{}` (operation {k}) is placed at {}, which does not exist",
                op.op.as_str(),
                op.inst
            );
            return self.problem(&function.name, None, Span::NONE, message);
        };
        let target = match resolve(program, function, &inst.kind, op) {
            Ok(target) => target,
            Err(message) => return self.problem(&function.name, Some(op.inst), inst.span, message),
        };
        if let Some(count) = op.count
            && count.index() >= function.locals.len()
        {
            let message =
                format!("`{}` at {} repeats by %{}, which does not exist", op.op.as_str(), op.inst, count.0);
            return self.problem(&function.name, Some(op.inst), inst.span, message);
        }
        let vop = VOp { kind: op.op, target, count: op.count, index: k };
        let Some(slot) = self.functions[id]
            .ops
            .get_mut(op.inst.block.index())
            .and_then(|b| b.get_mut(op.inst.index as usize))
        else {
            return;
        };
        match op.when {
            When::Before => slot.0.push(vop),
            When::After => slot.1.push(vop),
        }
        self.ops += 1;
    }
}

fn skeleton(function: &Function) -> FnInput {
    FnInput {
        ops: function.blocks.iter().map(|b| vec![(Vec::new(), Vec::new()); b.insts.len()]).collect(),
        scope_locals: function.scope_locals(),
        ..FnInput::default()
    }
}
