//! Which locals still matter: liveness over a function's control-flow graph, counting the
//! plan's operations as uses.
//!
//! A local is live at a point if some path from there reads it (by an instruction or by
//! an operation of the plan) before writing or ending it. Only the values of live locals
//! count as references when an arena is freed: a dead local may keep stale bits (a
//! temporary nobody reads again) without being a dangling reference. Computed once per
//! function, when first needed.

use super::plan_index::FnPlan;
use crate::plan::When;
use crate::{Function, InstAddr, LocalSet};

/// The live locals after every instruction (and its `after` operations) of a function.
#[derive(Debug, Clone)]
pub(super) struct Liveness {
    live_out: Vec<Vec<LocalSet>>,
    locals: usize,
}

impl Liveness {
    /// Solves liveness for `function` under its plan.
    pub(super) fn compute(function: &Function, plan: &FnPlan) -> Liveness {
        let locals = function.locals.len();
        let blocks = function.blocks.len();
        let mut live_out: Vec<Vec<LocalSet>> =
            function.blocks.iter().map(|b| vec![LocalSet::new(locals); b.insts.len()]).collect();
        let mut live_in = vec![LocalSet::new(locals); blocks];
        loop {
            let mut changed = false;
            for b in (0..blocks).rev() {
                let block = &function.blocks[b];
                let mut live = LocalSet::new(locals);
                if let Some(last) = block.insts.last() {
                    for succ in last.kind.successors() {
                        if let Some(set) = live_in.get(succ.index()) {
                            live.union(set);
                        }
                    }
                }
                for i in (0..block.insts.len()).rev() {
                    live_out[b][i] = live.clone();
                    let addr = InstAddr { block: crate::BlockId::from(b), index: i as u32 };
                    step_back(function, plan, addr, &mut live, None);
                }
                if live != live_in[b] {
                    live_in[b] = live;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Liveness { live_out, locals }
    }

    /// The locals live just after operation `k` on side `when` of the instruction at
    /// `addr` has run.
    pub(super) fn after_op(
        &self,
        function: &Function,
        plan: &FnPlan,
        addr: InstAddr,
        when: When,
        k: usize,
    ) -> LocalSet {
        let mut live = self
            .live_out
            .get(addr.block.index())
            .and_then(|b| b.get(addr.index as usize))
            .cloned()
            .unwrap_or_else(|| LocalSet::new(self.locals));
        step_back(function, plan, addr, &mut live, Some((when, k)));
        live
    }
}

/// Moves `live` from after an instruction to before it; with `stop`, only back to just
/// after that operation.
fn step_back(
    function: &Function,
    plan: &FnPlan,
    addr: InstAddr,
    live: &mut LocalSet,
    stop: Option<(When, usize)>,
) {
    let Some(inst) = function.inst(addr) else { return };
    let empty = Default::default();
    let iplan = plan.inst(addr).unwrap_or(&empty);
    for (j, op) in iplan.after.iter().enumerate().rev() {
        if stop.is_some_and(|(when, k)| when == When::After && j <= k) {
            return;
        }
        for l in op.uses() {
            live.insert(l);
        }
    }
    if stop.is_some_and(|(when, _)| when == When::After) {
        return;
    }
    if let Some(dest) = inst.kind.dest() {
        live.remove(dest);
    }
    for l in plan.ended_by(function, &inst.kind) {
        live.remove(l);
    }
    if !matches!(inst.kind, crate::InstKind::Free { .. }) {
        for l in inst.kind.uses() {
            live.insert(l);
        }
    }
    for (j, op) in iplan.before.iter().enumerate().rev() {
        if stop.is_some_and(|(_, k)| j <= k) {
            return;
        }
        for l in op.uses() {
            live.insert(l);
        }
    }
}
