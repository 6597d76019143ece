//! Liveness of locals over a function's control-flow graph (rule life-liveness).
//!
//! A local is live at a point when some path from there reads it before writing or ending
//! it. The analysis is the textbook backward dataflow, on sets of locals ([`LocalSet`]:
//! sorted lists while small, bit sets beyond), to a fixpoint; what counts as a read and as
//! an end is the caller's choice ([`Transfer`]), because the
//! lifetime analysis asks the question twice: once about the program as written, once
//! with the extra reads that ownership implies (a borrowed value keeps its owner alive; an
//! observable object lives to its scope's end; see [`super::ownership`]).

use custody_ir as ir;
pub(crate) use custody_ir::LocalSet;
use custody_ir::{InstAddr, LocalId};

/// What an instruction reads and ends, as the liveness question at hand sees it.
pub(crate) trait Transfer {
    /// The locals read at `at` (they are live just before it).
    fn uses(&self, at: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>);
    /// The locals written or ended at `at` (dead just before it, unless also read).
    fn kills(&self, at: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>);
}

/// Instructions per liveness checkpoint.
const STRIDE: usize = 32;

/// One liveness question about one function: each instruction's reads and ends (asked of
/// the [`Transfer`] once), the predecessors of each block, and the solution.
#[derive(Debug, Clone)]
pub(crate) struct Liveness {
    /// Per block, per instruction: what it reads and what it ends.
    gen_kill: Vec<Vec<(Vec<LocalId>, Vec<LocalId>)>>,
    /// Per block: the blocks that jump or branch to it (each once).
    pub(crate) preds: Vec<Vec<usize>>,
    /// Per block, per stretch of [`STRIDE`] instructions: live just after the stretch's
    /// last instruction. What is live after any other instruction is recomputed from the
    /// next checkpoint ([`Liveness::out`]): a set per instruction would make one long
    /// function cost its length times its locals in memory.
    checkpoints: Vec<Vec<LocalSet>>,
    /// Per block: live at its entry (including the extra entry uses).
    pub(crate) live_in: Vec<LocalSet>,
}

impl Liveness {
    /// The question, unsolved.
    pub(crate) fn new(f: &ir::Function, transfer: &dyn Transfer) -> Liveness {
        let n = f.locals.len();
        let blocks = f.blocks.len();
        let mut gen_kill: Vec<Vec<(Vec<LocalId>, Vec<LocalId>)>> = Vec::with_capacity(blocks);
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); blocks];
        for (b, block) in f.blocks.iter().enumerate() {
            let mut per = Vec::with_capacity(block.insts.len());
            for (i, inst) in block.insts.iter().enumerate() {
                let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
                let (mut u, mut k) = (Vec::new(), Vec::new());
                transfer.uses(at, inst, &mut u);
                transfer.kills(at, inst, &mut k);
                per.push((u, k));
            }
            if let Some(last) = block.insts.last() {
                for s in last.kind.successors() {
                    if s.index() < blocks && !preds[s.index()].contains(&b) {
                        preds[s.index()].push(b);
                    }
                }
            }
            gen_kill.push(per);
        }
        Liveness {
            gen_kill,
            preds,
            checkpoints: f
                .blocks
                .iter()
                .map(|b| vec![LocalSet::new(n); b.insts.len().div_ceil(STRIDE)])
                .collect(),
            live_in: vec![LocalSet::new(n); blocks],
        }
    }

    /// Solves the question; `entry_uses[b]` are extra reads at the very start of block `b`.
    /// Solving again with more entry uses starts from the previous solution (liveness only
    /// grows), so the extra rounds cost what they change.
    pub(crate) fn solve(&mut self, f: &ir::Function, entry_uses: &[LocalSet]) {
        let n = f.locals.len();
        let blocks = f.blocks.len();
        let mut queued = vec![true; blocks];
        let mut work: Vec<usize> = (0..blocks).collect();
        while let Some(b) = work.pop() {
            queued[b] = false;
            let block = &f.blocks[b];
            let mut live = LocalSet::new(n);
            if let Some(last) = block.insts.last() {
                for s in last.kind.successors() {
                    if let Some(set) = self.live_in.get(s.index()) {
                        live.union(set);
                    }
                }
            }
            let len = block.insts.len();
            for i in (0..len).rev() {
                if i % STRIDE == STRIDE - 1 || i + 1 == len {
                    self.checkpoints[b][i / STRIDE] = live.clone();
                }
                let (uses, kills) = &self.gen_kill[b][i];
                for &k in kills {
                    live.remove(k);
                }
                for &u in uses {
                    live.insert(u);
                }
            }
            if let Some(extra) = entry_uses.get(b) {
                live.union(extra);
            }
            if live != self.live_in[b] {
                self.live_in[b] = live;
                for &p in &self.preds[b] {
                    if !queued[p] {
                        queued[p] = true;
                        work.push(p);
                    }
                }
            }
        }
    }

    /// The locals the instruction at `at` reads, as the question counts them.
    pub(crate) fn uses(&self, at: InstAddr) -> &[LocalId] {
        &self.gen_kill[at.block.index()][at.index as usize].0
    }

    /// The locals the instruction at `at` writes or ends.
    pub(crate) fn kills(&self, at: InstAddr) -> &[LocalId] {
        &self.gen_kill[at.block.index()][at.index as usize].1
    }

    /// Live just before the instruction at `at`.
    pub(crate) fn before(&self, at: InstAddr) -> LocalSet {
        let mut live = self.out(at);
        for &k in self.kills(at) {
            live.remove(k);
        }
        for &u in self.uses(at) {
            live.insert(u);
        }
        live
    }

    /// Live just after the instruction at `at`: from the checkpoint after it, stepping
    /// back over at most [`STRIDE`] instructions.
    pub(crate) fn out(&self, at: InstAddr) -> LocalSet {
        let (b, i) = (at.block.index(), at.index as usize);
        let steps = &self.gen_kill[b];
        let top = (i / STRIDE * STRIDE + STRIDE - 1).min(steps.len() - 1);
        let mut live = self.checkpoints[b][i / STRIDE].clone();
        for (uses, kills) in steps[i + 1..=top].iter().rev() {
            for &k in kills {
                live.remove(k);
            }
            for &u in uses {
                live.insert(u);
            }
        }
        live
    }

    /// Live at the end of block `b` (after its last instruction; empty for an empty block).
    pub(crate) fn block_out(&self, b: usize) -> Option<&LocalSet> {
        self.checkpoints.get(b)?.last()
    }
}

/// Which locals may hold a value at the entry of each block (rule life-assigned): the
/// forward "maybe assigned" question. A local is assigned by any instruction that writes
/// it and unassigned where a scope exit or a `free` ends it; parameters and captures hold
/// their values from the start. A local that cannot hold a value has nothing to release.
pub(crate) fn assigned_at_entry(
    f: &ir::Function,
    scope_locals: &std::collections::HashMap<ir::ScopeId, Vec<LocalId>>,
) -> Vec<LocalSet> {
    let n = f.locals.len();
    let blocks = f.blocks.len();
    let mut entry = vec![LocalSet::new(n); blocks];
    if blocks == 0 {
        return entry;
    }
    for &l in f.params.iter().chain(&f.captures) {
        entry[0].insert(l);
    }
    let mut queued = vec![true; blocks];
    let mut work: Vec<usize> = (0..blocks).rev().collect();
    while let Some(b) = work.pop() {
        queued[b] = false;
        let mut set = entry[b].clone();
        for inst in &f.blocks[b].insts {
            step_assigned(f, scope_locals, &inst.kind, &mut set);
        }
        if let Some(last) = f.blocks[b].insts.last() {
            for s in last.kind.successors() {
                let Some(target) = entry.get_mut(s.index()) else { continue };
                let before = target.clone();
                target.union(&set);
                if *target != before && !queued[s.index()] {
                    queued[s.index()] = true;
                    work.push(s.index());
                }
            }
        }
    }
    entry
}

/// The assigned set after an instruction, from the set before it.
pub(crate) fn step_assigned(
    f: &ir::Function,
    scope_locals: &std::collections::HashMap<ir::ScopeId, Vec<LocalId>>,
    kind: &ir::InstKind,
    set: &mut LocalSet,
) {
    for l in f.ended_by(kind, scope_locals) {
        set.remove(l);
    }
    if let Some(d) = kind.dest() {
        set.insert(d);
    }
}
