//! Reaching definitions of a function's reference-holding locals, sparsely: which
//! definitions of a local an instruction may read.
//!
//! The constraint graph needs, for every read of a local, the definitions that may reach
//! it (`use(x)@i` in `spec/rules.md`). Listing them for each read costs the number of
//! definitions that reach it, and bit sets of all definitions per block cost blocks ×
//! definitions: both are quadratic in one long function that reassigns its locals (a
//! local assigned in each of N `if`s is read through up to N definitions at the end).
//!
//! So reads are resolved the way SSA construction resolves them (Cytron et al.): a
//! *merge* is placed where different definitions of a local meet (at the iterated
//! dominance frontier of its definitions), and each read names exactly one value: the
//! definition or merge that is current there in a walk of the dominator tree. A merge
//! holds what each of its incoming values holds (rule `esc-merge`), so the points-to set
//! of a read is that of all the definitions behind it, with one constraint per incoming
//! edge instead of one per definition per read.
//!
//! Merges are placed only for locals that some block reads before writing (semi-pruned
//! SSA): temporaries, written and read in one block, get none. A merge may still be placed
//! where its local is no longer read; it costs a node and an edge and changes nothing.
//!
//! Reads in blocks the entry cannot reach see only the definitions made earlier in their
//! own block: they never run. [`dense`] is the plain bit-set dataflow this replaces; the
//! tests check that both give the same definitions for every reachable read.

use super::graph::DefInfo;
use custody_ir as ir;
use custody_ir::{InstAddr, LocalId};
use std::collections::HashMap;

/// What a read of a local names: one definition, or one merge of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// Definition `n` ([`super::graph::FunctionGraph::defs`]`[n]`).
    Def(u32),
    /// Merge `n` ([`Reaching::merges`]`[n]`).
    Merge(u32),
}

/// A merge of a local's values where control flow joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The local.
    pub local: LocalId,
    /// The block at whose entry the values meet.
    pub block: ir::BlockId,
    /// The value arriving along each edge into the block that carries one.
    pub incoming: Vec<Value>,
}

/// The value every read of a local reads.
#[derive(Debug, Clone, Default)]
pub struct Reaching {
    /// For each instruction and each local it reads that has definitions: the value read
    /// (absent when no definition reaches: the read is in code that never runs).
    pub reads: HashMap<(InstAddr, LocalId), Value>,
    /// The merges.
    pub merges: Vec<Merge>,
}

impl Reaching {
    /// The definitions behind a value: itself, or those of the merge's incoming values,
    /// transitively (for tests and diagnostics; the analysis itself uses merges as nodes).
    pub fn defs_behind(&self, value: Value) -> Vec<u32> {
        let mut out = Vec::new();
        let mut seen = vec![false; self.merges.len()];
        let mut work = vec![value];
        while let Some(v) = work.pop() {
            match v {
                Value::Def(d) => out.push(d),
                Value::Merge(m) => {
                    if !std::mem::replace(&mut seen[m as usize], true) {
                        work.extend(self.merges[m as usize].incoming.iter().copied());
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The definitions of a function, numbered: what [`compute`] resolves reads to.
pub struct Defs<'a> {
    /// Every definition (entry definitions have no instruction).
    pub defs: &'a [DefInfo],
    /// The definition each instruction makes.
    pub def_at: &'a HashMap<InstAddr, u32>,
    /// The new definition of the array local an array write makes.
    pub array_def_at: &'a HashMap<InstAddr, u32>,
}

/// Resolves every read of a local with definitions to the value it reads.
pub fn compute(f: &ir::Function, defs: &Defs<'_>) -> Reaching {
    let n = f.blocks.len();
    let mut out = Reaching::default();
    if n == 0 {
        return out;
    }
    // Each block's definitions in instruction order (definitions are numbered that way), so
    // that walks step through them without a lookup per instruction.
    let mut block_defs: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
    for (d, info) in defs.defs.iter().enumerate() {
        if let Some(at) = info.at
            && let Some(list) = block_defs.get_mut(at.block.index())
        {
            list.push((at.index, d as u32));
        }
    }
    let locals = f.locals.len();
    // One block that does not jump back to itself: nothing meets, no dominator tree needed
    // (the common case of a small function).
    if n == 1 && f.blocks[0].insts.last().is_none_or(|i| i.kind.successors().is_empty()) {
        let mut start: Vec<Option<Value>> = vec![None; locals];
        for (d, info) in defs.defs.iter().enumerate() {
            if info.at.is_none()
                && let Some(slot) = start.get_mut(info.local.index())
            {
                *slot = Some(Value::Def(d as u32));
            }
        }
        walk_alone(f, defs, &block_defs[0], 0, start, &mut out);
        return out;
    }
    let succs: Vec<Vec<usize>> = f
        .blocks
        .iter()
        .map(|b| b.insts.last().map(|i| i.kind.successors()).unwrap_or_default())
        .map(|s| s.into_iter().map(|b| b.index()).filter(|&b| b < n).collect())
        .collect();
    let idom = dominators(&succs);
    // Dominance frontiers (Cooper, Harvey and Kennedy's runner walk): a join block is in
    // the frontier of every block on the way up from each predecessor to its dominator.
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (b, ss) in succs.iter().enumerate() {
        if idom[b].is_some() {
            for &s in ss {
                preds[s].push(b);
            }
        }
    }
    let mut frontier: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (b, ps) in preds.iter().enumerate() {
        let Some(dom) = idom[b] else { continue };
        // A join: two edges in, or one into the entry block (entering the function is the
        // other).
        let edges_in = ps.len() + usize::from(b == 0);
        if edges_in < 2 {
            continue;
        }
        for &p in ps {
            let mut runner = p;
            // The entry block dominates itself; a back edge into it puts it in frontiers.
            while runner != dom || b == 0 {
                if frontier[runner].last() != Some(&b) {
                    frontier[runner].push(b);
                }
                if runner == 0 {
                    break;
                }
                match idom[runner] {
                    Some(up) if up != runner => runner = up,
                    _ => break,
                }
            }
        }
    }
    // The blocks defining each local (entry definitions in block 0).
    let mut def_blocks: Vec<Vec<usize>> = vec![Vec::new(); locals];
    for info in defs.defs {
        let b = info.at.map_or(0, |at| at.block.index());
        if b < n
            && idom[b].is_some()
            && let Some(v) = def_blocks.get_mut(info.local.index())
            && v.last() != Some(&b)
        {
            v.push(b);
        }
    }
    let has_defs = |l: LocalId| def_blocks.get(l.index()).is_some_and(|v| !v.is_empty());
    // Only a local that some block reads before writing it can read a value from another
    // block (semi-pruned SSA, after Briggs et al.): a temporary written and read within one
    // block needs no merge.
    let mut crosses_blocks = vec![false; locals];
    // Per local, the block (plus one) that last wrote it in this scan.
    let mut written_in = vec![0usize; locals];
    for (b, block) in f.blocks.iter().enumerate() {
        let mut next = 0;
        for (i, inst) in block.insts.iter().enumerate() {
            for l in inst.kind.uses() {
                if written_in.get(l.index()) != Some(&(b + 1))
                    && let Some(c) = crosses_blocks.get_mut(l.index())
                {
                    *c = true;
                }
            }
            while let Some(&(index, d)) = block_defs[b].get(next)
                && index as usize == i
            {
                written_in[defs.defs[d as usize].local.index()] = b + 1;
                next += 1;
            }
        }
    }
    // Merges at the iterated dominance frontier of each such local's definitions, locals in
    // id order.
    let merged_locals: Vec<LocalId> = (0..locals)
        .filter(|&l| crosses_blocks[l] && !def_blocks[l].is_empty())
        .map(|l| LocalId(l as u32))
        .collect();
    let mut merges_at: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut placed: Vec<u32> = vec![u32::MAX; n];
    let mut queued: Vec<u32> = vec![u32::MAX; n];
    for (stamp, &local) in merged_locals.iter().enumerate() {
        let stamp = stamp as u32;
        let mut work: Vec<usize> = Vec::new();
        for &b in &def_blocks[local.index()] {
            if queued[b] != stamp {
                queued[b] = stamp;
                work.push(b);
            }
        }
        while let Some(b) = work.pop() {
            for &y in &frontier[b] {
                if placed[y] == stamp {
                    continue;
                }
                placed[y] = stamp;
                merges_at[y].push(out.merges.len() as u32);
                out.merges.push(Merge { local, block: ir::BlockId(y as u32), incoming: Vec::new() });
                if queued[y] != stamp {
                    queued[y] = stamp;
                    work.push(y);
                }
            }
        }
    }
    // The walk of the dominator tree: each local's current value on a stack, restored when
    // the walk leaves the block that pushed it.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (b, dom) in idom.iter().enumerate().skip(1) {
        if let Some(d) = *dom
            && d != b
        {
            children[d].push(b);
        }
    }
    let mut current: Vec<Vec<Value>> = vec![Vec::new(); locals];
    let top = |current: &[Vec<Value>], l: LocalId| current.get(l.index()).and_then(|s| s.last()).copied();
    for (d, info) in defs.defs.iter().enumerate() {
        if info.at.is_none()
            && let Some(s) = current.get_mut(info.local.index())
        {
            s.push(Value::Def(d as u32));
        }
    }
    // Entry into block 0 from outside the function is an edge too.
    for &m in &merges_at[0] {
        if let Some(v) = top(&current, out.merges[m as usize].local) {
            out.merges[m as usize].incoming.push(v);
        }
    }
    let mut stack: Vec<(usize, bool)> = vec![(0, false)];
    let mut pushed: Vec<Vec<LocalId>> = vec![Vec::new(); n];
    while let Some((b, done)) = stack.pop() {
        if done {
            for l in pushed[b].drain(..) {
                current[l.index()].pop();
            }
            continue;
        }
        stack.push((b, true));
        let mut push = |current: &mut Vec<Vec<Value>>, l: LocalId, v: Value| {
            if let Some(s) = current.get_mut(l.index()) {
                s.push(v);
                pushed[b].push(l);
            }
        };
        for &m in &merges_at[b] {
            push(&mut current, out.merges[m as usize].local, Value::Merge(m));
        }
        let mut next = 0;
        for (i, inst) in f.blocks[b].insts.iter().enumerate() {
            let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
            for l in inst.kind.uses() {
                if has_defs(l)
                    && let Some(v) = top(&current, l)
                {
                    out.reads.insert((at, l), v);
                }
            }
            while let Some(&(index, d)) = block_defs[b].get(next)
                && index as usize == i
            {
                push(&mut current, defs.defs[d as usize].local, Value::Def(d));
                next += 1;
            }
        }
        for &s in &succs[b] {
            for &m in &merges_at[s] {
                if let Some(v) = top(&current, out.merges[m as usize].local) {
                    out.merges[m as usize].incoming.push(v);
                }
            }
        }
        for &c in children[b].iter().rev() {
            stack.push((c, false));
        }
    }
    // Blocks the entry cannot reach: only their own definitions.
    for (b, dom) in idom.iter().enumerate() {
        if dom.is_none() {
            walk_alone(f, defs, &block_defs[b], b, vec![None; locals], &mut out);
        }
    }
    out
}

/// Resolves the reads of block `b` (whose definitions are `block_defs`) walked on its own,
/// from the values `start` holds at its entry, by local: each read names the latest
/// definition before it in the block, else `start`'s.
fn walk_alone(
    f: &ir::Function,
    defs: &Defs<'_>,
    block_defs: &[(u32, u32)],
    b: usize,
    start: Vec<Option<Value>>,
    out: &mut Reaching,
) {
    let mut latest = start;
    let mut next = 0;
    for (i, inst) in f.blocks[b].insts.iter().enumerate() {
        let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
        for l in inst.kind.uses() {
            if let Some(&Some(v)) = latest.get(l.index()) {
                out.reads.insert((at, l), v);
            }
        }
        while let Some(&(index, d)) = block_defs.get(next)
            && index as usize == i
        {
            if let Some(slot) = latest.get_mut(defs.defs[d as usize].local.index()) {
                *slot = Some(Value::Def(d));
            }
            next += 1;
        }
    }
}

/// Each block's immediate dominator (the entry block's is itself; `None` for blocks the
/// entry cannot reach), by petgraph's Cooper–Harvey–Kennedy iteration.
fn dominators(succs: &[Vec<usize>]) -> Vec<Option<usize>> {
    let mut graph = petgraph::graph::DiGraph::<(), ()>::with_capacity(succs.len(), succs.len() * 2);
    let nodes: Vec<_> = (0..succs.len()).map(|_| graph.add_node(())).collect();
    for (b, ss) in succs.iter().enumerate() {
        for &s in ss {
            graph.add_edge(nodes[b], nodes[s], ());
        }
    }
    let doms = petgraph::algo::dominators::simple_fast(&graph, nodes[0]);
    (0..succs.len())
        .map(|b| if b == 0 { Some(0) } else { doms.immediate_dominator(nodes[b]).map(|d| d.index()) })
        .collect()
}

/// The reference: reaching definitions as bit sets over all definitions, iterated to a
/// fixpoint over the CFG. Quadratic in memory; kept to test [`compute`] against.
pub mod dense {
    use super::{Defs, InstAddr, LocalId};
    use custody_ir as ir;
    use std::collections::HashMap;

    /// For every read of a local with definitions, the definitions that reach it.
    pub fn reads(f: &ir::Function, defs: &Defs<'_>) -> HashMap<(InstAddr, LocalId), Vec<u32>> {
        let n = defs.defs.len();
        let words = n.div_ceil(64).max(1);
        let mut by_local: HashMap<LocalId, Vec<u32>> = HashMap::new();
        for (d, info) in defs.defs.iter().enumerate() {
            by_local.entry(info.local).or_default().push(d as u32);
        }
        let kill_gen = |set: &mut [u64], d: u32| {
            for &other in &by_local[&defs.defs[d as usize].local] {
                set[(other / 64) as usize] &= !(1 << (other % 64));
            }
            set[(d / 64) as usize] |= 1 << (d % 64);
        };
        let step = |set: &mut [u64], at: InstAddr| {
            for d in [defs.def_at.get(&at), defs.array_def_at.get(&at)].into_iter().flatten() {
                kill_gen(set, *d);
            }
        };
        let mut block_in = vec![vec![0u64; words]; f.blocks.len()];
        if let Some(entry) = block_in.first_mut() {
            for (d, info) in defs.defs.iter().enumerate() {
                if info.at.is_none() {
                    entry[d / 64] |= 1 << (d % 64);
                }
            }
        }
        let block_out = |b: usize, input: &[u64]| {
            let mut set = input.to_vec();
            for i in 0..f.blocks[b].insts.len() {
                step(&mut set, InstAddr { block: ir::BlockId(b as u32), index: i as u32 });
            }
            set
        };
        // A worklist of blocks whose input grew (each starts queued once).
        let mut work: Vec<usize> = (0..f.blocks.len()).rev().collect();
        let mut queued = vec![true; f.blocks.len()];
        while let Some(b) = work.pop() {
            queued[b] = false;
            let out = block_out(b, &block_in[b]);
            let succs = f.blocks[b].insts.last().map(|i| i.kind.successors()).unwrap_or_default();
            for s in succs {
                let Some(target) = block_in.get_mut(s.index()) else { continue };
                let mut grew = false;
                for (w, o) in target.iter_mut().zip(&out) {
                    grew |= *w | o != *w;
                    *w |= o;
                }
                if grew && !std::mem::replace(&mut queued[s.index()], true) {
                    work.push(s.index());
                }
            }
        }
        let mut reads = HashMap::new();
        for (b, block) in f.blocks.iter().enumerate() {
            let mut set = block_in[b].clone();
            for (i, inst) in block.insts.iter().enumerate() {
                let at = InstAddr { block: ir::BlockId(b as u32), index: i as u32 };
                for l in inst.kind.uses() {
                    if let Some(ds) = by_local.get(&l) {
                        let reaching: Vec<u32> = ds
                            .iter()
                            .copied()
                            .filter(|&d| set[(d / 64) as usize] & (1 << (d % 64)) != 0)
                            .collect();
                        reads.insert((at, l), reaching);
                    }
                }
                step(&mut set, at);
            }
        }
        reads
    }
}
