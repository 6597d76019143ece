//! Which locals are live (read again before being written) after an instruction: a
//! backward dataflow over the CFG on bitsets, computed once per function.
//!
//! `cow_in_place` needs it: an array written in place must have no other name that is
//! read afterwards (it would see the write, where value semantics promise it a copy).

use crate::{Function, InstAddr, LocalId};

/// Live locals at the exit of every block.
pub(super) struct Liveness {
    live_out: Vec<Vec<u64>>,
}

impl Liveness {
    pub(super) fn new(function: &Function) -> Liveness {
        let n = function.blocks.len();
        let words = function.locals.len().div_ceil(64);
        let mut live_in = vec![vec![0u64; words]; n];
        let mut live_out = vec![vec![0u64; words]; n];
        let successors: Vec<Vec<usize>> = function
            .blocks
            .iter()
            .map(|b| {
                b.insts
                    .last()
                    .map(|i| i.kind.successors().into_iter().map(|s| s.index()).filter(|&s| s < n).collect())
                    .unwrap_or_default()
            })
            .collect();
        // Iterate to a fixpoint, blocks in reverse order (most edges go forward).
        let mut changed = true;
        let mut rounds = 0;
        while changed && rounds < 4 * n + 8 {
            changed = false;
            rounds += 1;
            for b in (0..n).rev() {
                let mut out = vec![0u64; words];
                for &s in &successors[b] {
                    for (o, i) in out.iter_mut().zip(&live_in[s]) {
                        *o |= i;
                    }
                }
                let mut live = out.clone();
                for inst in function.blocks[b].insts.iter().rev() {
                    if let Some(d) = inst.kind.dest() {
                        clear(&mut live, d);
                    }
                    for u in inst.kind.uses() {
                        set(&mut live, u);
                    }
                }
                if live != live_in[b] || out != live_out[b] {
                    live_in[b] = live;
                    live_out[b] = out;
                    changed = true;
                }
            }
        }
        Liveness { live_out }
    }

    /// Whether `local` may be read after the instruction at `at` before it is written.
    pub(super) fn live_after(&self, function: &Function, at: InstAddr, local: LocalId) -> bool {
        let Some(block) = function.blocks.get(at.block.index()) else { return false };
        for inst in block.insts.iter().skip(at.index as usize + 1) {
            if inst.kind.uses().contains(&local) {
                return true;
            }
            if inst.kind.dest() == Some(local) {
                return false;
            }
        }
        self.live_out.get(at.block.index()).is_some_and(|out| get(out, local))
    }
}

fn set(bits: &mut [u64], l: LocalId) {
    if let Some(w) = bits.get_mut(l.index() / 64) {
        *w |= 1 << (l.index() % 64);
    }
}

fn clear(bits: &mut [u64], l: LocalId) {
    if let Some(w) = bits.get_mut(l.index() / 64) {
        *w &= !(1 << (l.index() % 64));
    }
}

fn get(bits: &[u64], l: LocalId) -> bool {
    bits.get(l.index() / 64).is_some_and(|w| w & (1 << (l.index() % 64)) != 0)
}
