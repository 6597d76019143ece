//! Liveness of locals over a function's control-flow graph (rule life-liveness).
//!
//! A local is live at a point when some path from there reads it before writing or ending
//! it. The analysis is the textbook backward dataflow, on bit sets, to a fixpoint; what
//! counts as a read and as an end is the caller's choice ([`Transfer`]), because the
//! lifetime analysis asks the question twice: once about the program as written, once
//! with the extra reads that ownership implies (a borrowed value keeps its owner alive; an
//! observable object lives to its scope's end; see [`super::ownership`]).

use custody_ir as ir;
use custody_ir::{InstAddr, LocalId};

/// A set of locals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LocalSet(Vec<u64>);

impl LocalSet {
    pub(crate) fn new(locals: usize) -> LocalSet {
        LocalSet(vec![0; locals.div_ceil(64)])
    }

    pub(crate) fn insert(&mut self, local: LocalId) -> bool {
        let (w, b) = (local.index() / 64, local.index() % 64);
        match self.0.get_mut(w) {
            Some(word) => {
                let new = *word & (1 << b) == 0;
                *word |= 1 << b;
                new
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, local: LocalId) {
        if let Some(word) = self.0.get_mut(local.index() / 64) {
            *word &= !(1 << (local.index() % 64));
        }
    }

    pub(crate) fn contains(&self, local: LocalId) -> bool {
        self.0.get(local.index() / 64).is_some_and(|w| w & (1 << (local.index() % 64)) != 0)
    }

    pub(crate) fn union(&mut self, other: &LocalSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// The locals, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = LocalId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64).filter(move |b| word & (1 << b) != 0).map(move |b| LocalId((w * 64 + b) as u32))
        })
    }
}

/// What an instruction reads and ends, as the liveness question at hand sees it.
pub(crate) trait Transfer {
    /// The locals read at `at` (they are live just before it).
    fn uses(&self, at: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>);
    /// The locals written or ended at `at` (dead just before it, unless also read).
    fn kills(&self, at: InstAddr, inst: &ir::Inst, out: &mut Vec<LocalId>);
}

/// The solution: live locals after every instruction, and at every block's entry.
#[derive(Debug, Clone)]
pub(crate) struct Liveness {
    /// Per block, per instruction: live just after it.
    pub(crate) live_out: Vec<Vec<LocalSet>>,
    /// Per block: live at its entry (including the extra entry uses).
    pub(crate) live_in: Vec<LocalSet>,
}

impl Liveness {
    /// Solves liveness; `entry_uses[b]` are extra reads at the very start of block `b`.
    pub(crate) fn solve(f: &ir::Function, transfer: &dyn Transfer, entry_uses: &[LocalSet]) -> Liveness {
        let n = f.locals.len();
        let blocks = f.blocks.len();
        // Per instruction, the reads and ends, computed once.
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
                    if s.index() < blocks {
                        preds[s.index()].push(b);
                    }
                }
            }
            gen_kill.push(per);
        }
        let mut live_out: Vec<Vec<LocalSet>> =
            f.blocks.iter().map(|b| vec![LocalSet::new(n); b.insts.len()]).collect();
        let mut live_in = vec![LocalSet::new(n); blocks];
        let mut queued = vec![true; blocks];
        let mut work: Vec<usize> = (0..blocks).collect();
        while let Some(b) = work.pop() {
            queued[b] = false;
            let block = &f.blocks[b];
            let mut live = LocalSet::new(n);
            if let Some(last) = block.insts.last() {
                for s in last.kind.successors() {
                    if let Some(set) = live_in.get(s.index()) {
                        live.union(set);
                    }
                }
            }
            for i in (0..block.insts.len()).rev() {
                live_out[b][i] = live.clone();
                let (uses, kills) = &gen_kill[b][i];
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
            if live != live_in[b] {
                live_in[b] = live;
                for &p in &preds[b] {
                    if !queued[p] {
                        queued[p] = true;
                        work.push(p);
                    }
                }
            }
        }
        Liveness { live_out, live_in }
    }

    /// Live just after the instruction at `at`.
    pub(crate) fn out(&self, at: InstAddr) -> &LocalSet {
        &self.live_out[at.block.index()][at.index as usize]
    }
}
