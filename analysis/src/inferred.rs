//! The inferred plan: escape states, control, parameter flows, return bindings and
//! reasons from the escape analysis.
//!
//! Placements, parameter modes, last uses and operations come from the lifetime analysis
//! ([`crate::lifetime`]); everything this plan states about escapes is the escape
//! analysis's verdict.

use crate::escape::describe::Position;
use crate::escape::graph::{Obj, Sel};
use crate::escape::summary::FlowDst;
use crate::escape::{FunctionEscape, ProgramEscape, analyze};
use crate::lifetime::plan_lifetimes;
use crate::naive::naive_plan_of_valid;
use crate::plan::{SpanMap, invalid_ir_plan, stats};
use custody_ir as ir;
use custody_ir::plan::*;
use std::collections::HashMap;

/// The plan of a program, with the escape analysis's facts. IR that fails
/// [`ir::validate`] is not analysed: the plan has no functions and the validator's errors
/// as its diagnostics (code `invalid-ir`), and the escape analysis is empty.
pub fn inferred_plan(
    program: &ir::Program,
    source: &str,
    spans: &SpanMap<'_>,
    pos: Position<'_>,
) -> (MemoryPlan, ProgramEscape) {
    if let Err(errors) = ir::validate(program) {
        return (invalid_ir_plan(source, spans, &errors), ProgramEscape { functions: Vec::new() });
    }
    let escape = analyze(program);
    let mut plan = naive_plan_of_valid(program, source, spans);
    for ((f, fp), fe) in program.functions.iter().zip(&mut plan.functions).zip(&escape.functions) {
        fill_function(program, f, fp, fe);
    }
    let alloc_ids: Vec<HashMap<ir::InstAddr, String>> = plan
        .functions
        .iter()
        .map(|fp| fp.allocations.iter().map(|a| (a.inst, a.id.clone())).collect())
        .collect();
    let (lifetimes, cycle_warnings) = plan_lifetimes(program, &escape, spans, &alloc_ids, pos);
    for ((fp, lt), f) in plan.functions.iter_mut().zip(lifetimes).zip(&program.functions) {
        for (param, mode) in fp.params.iter_mut().zip(&lt.param_modes) {
            param.mode = *mode;
        }
        for alloc in &mut fp.allocations {
            if let Some((placement, why)) = lt.placements.get(&alloc.inst) {
                alloc.placement = *placement;
                alloc.reason = why.clone();
            }
            if alloc.placement == Placement::Arena {
                alloc.arena_scope = lt.arena_scopes.get(&alloc.inst).copied();
                alloc.control = Control::Arena;
            }
        }
        for var in &mut fp.variables {
            var.last_uses = lt
                .last_uses
                .get(&var.local)
                .into_iter()
                .flatten()
                .filter_map(|at| f.inst(*at).map(|i| spans.span(i.span)))
                .collect();
            var.last_uses.sort_by_key(|s| (s.start, s.end));
            var.last_uses.dedup();
        }
        fp.ops = lt.ops;
    }
    for (span, message) in cycle_warnings {
        plan.diagnostics.push(PlanDiagnostic {
            severity: "warning".to_string(),
            code: "cycle".to_string(),
            message,
            span: spans.span(span),
            related: Vec::new(),
        });
    }
    plan.stats = stats(&plan.functions, plan.stats.rc_ops_naive);
    (plan, escape)
}

/// Control of an object in a given state: who frees it.
pub fn control(escape: Escape) -> Control {
    match escape {
        Escape::Contained => Control::Function,
        Escape::Binding => Control::Caller,
        Escape::Uncontained | Escape::Thread => Control::Global,
    }
}

fn fill_function(program: &ir::Program, f: &ir::Function, fp: &mut FunctionPlan, fe: &FunctionEscape) {
    for (i, param) in fp.params.iter_mut().enumerate() {
        let Some(summary) = fe.summary.params.get(i) else { continue };
        param.escape = summary.escape();
        param.flows_to = flows_to(program, f, summary);
    }
    fp.returns = return_plan(f, fe);
    for alloc in &mut fp.allocations {
        // The reason is the placement's (`crate::lifetime`), which cites the escape witness
        // where the escape is what keeps the allocation off the stack.
        alloc.escape =
            fe.graph.objs.get(&Obj::Alloc(alloc.inst)).map_or(Escape::Contained, |o| fe.verdicts.escape(o));
        alloc.control = control(alloc.escape);
    }
}

/// A parameter's flows in the plan's terms (paths with field names).
fn flows_to(
    program: &ir::Program,
    f: &ir::Function,
    summary: &crate::escape::summary::ParamSummary,
) -> Vec<FlowTarget> {
    let mut out: Vec<FlowTarget> = Vec::new();
    for flow in &summary.flows {
        let target = match &flow.dst {
            FlowDst::Return(_) => FlowTarget::Return,
            FlowDst::Param(j, path) => {
                let ty = f.params.get(*j as usize).and_then(|&l| f.get_local(l)).map(|l| l.ty.clone());
                FlowTarget::Param { index: *j, path: path_text(program, ty, &path.steps, path.deep) }
            }
            FlowDst::Global(g) => FlowTarget::Global {
                name: program.globals.get(g.index()).map_or(String::new(), |g| g.name.clone()),
            },
            FlowDst::Thread => FlowTarget::Thread,
            FlowDst::Unknown => FlowTarget::Unknown,
        };
        if !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// `.next`, `.items[]`: a path with field names, following the types.
pub fn path_text(program: &ir::Program, mut ty: Option<ir::Type>, steps: &[Sel], deep: bool) -> String {
    let mut out = String::new();
    for &sel in steps {
        let current = ty.as_ref().map(|t| t.non_null().clone());
        match (sel, &current) {
            (Sel::Field(n), Some(t)) if let Some(field) = program.field(t, n) => {
                out.push('.');
                out.push_str(&field.name);
                ty = Some(field.ty.clone());
            }
            (Sel::Elem, Some(ir::Type::Array(elem))) => {
                out.push_str("[]");
                ty = Some((**elem).clone());
            }
            (Sel::Elem, _) => {
                out.push_str("[]");
                ty = None;
            }
            (Sel::Field(n), _) => {
                out.push_str(&format!(".{n}"));
                ty = None;
            }
            (Sel::Env(n), _) => {
                out.push_str(&format!(".capture{n}"));
                ty = None;
            }
        }
    }
    if deep {
        out.push_str("...");
    }
    out
}

/// VSL's return rules from the summary: a fresh object (callee), a parameter or part of
/// one (parameter), something reachable from a global (parent), several, or none.
fn return_plan(f: &ir::Function, fe: &FunctionEscape) -> ReturnPlan {
    let returns_reference = f.ret.as_ref().is_some_and(crate::plan::holds_references);
    let mut params: Vec<u32> = fe
        .summary
        .params
        .iter()
        .enumerate()
        // Returned itself (or a part of it returned itself), not merely inside the result.
        .filter(|(_, p)| {
            p.flows
                .iter()
                .any(|fl| matches!(&fl.dst, FlowDst::Return(path) if path.steps.is_empty() && !path.deep))
        })
        .map(|(i, _)| i as u32)
        .filter(|&i| (i as usize) < f.params.len())
        .collect();
    params.dedup();
    let kinds = [fe.summary.returns_fresh, !params.is_empty(), fe.summary.returns_outside];
    let bound = match (returns_reference, kinds.iter().filter(|k| **k).count()) {
        (false, _) | (true, 0) => ReturnBound::None,
        (true, 1) if kinds[0] => ReturnBound::Callee,
        (true, 1) if kinds[1] => ReturnBound::Parameter,
        (true, 1) => ReturnBound::Parent,
        _ => ReturnBound::Mixed,
    };
    ReturnPlan { bound, params }
}
