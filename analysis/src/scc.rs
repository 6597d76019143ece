//! Strongly connected components without recursion.
//!
//! petgraph's `tarjan_scc` recurses once per node on a path, so a call chain, a ring of
//! classes or a long straight-line CFG of some 10,000 nodes overflowed the stack (issue
//! 16). [`tarjan_scc`] is the same algorithm (Pierce's space-efficient Tarjan, as petgraph
//! implements it) with an explicit stack: it visits the same nodes in the same order and
//! returns the same components in the same order (reverse topological: callees first),
//! so it is a drop-in replacement.

use petgraph::visit::{IntoNeighbors, IntoNodeIdentifiers, NodeIndexable};
use std::num::NonZeroUsize;

/// The strongly connected components of `g`, in reverse topological order, exactly as
/// `petgraph::algo::tarjan_scc` returns them, in space proportional to the graph only.
pub(crate) fn tarjan_scc<G>(g: G) -> Vec<Vec<G::NodeId>>
where
    G: IntoNodeIdentifiers + IntoNeighbors + NodeIndexable,
    G::NodeId: Copy + PartialEq,
{
    struct Frame<N, I> {
        v: N,
        neighbors: I,
        local_root: bool,
        /// The neighbour being visited below this frame, to look at when it returns.
        child: Option<N>,
    }
    let mut rootindex: Vec<Option<NonZeroUsize>> = vec![None; g.node_bound()];
    let mut index = 1usize;
    let mut componentcount = usize::MAX;
    let mut stack: Vec<G::NodeId> = Vec::new();
    let mut sccs = Vec::new();
    let mut frames: Vec<Frame<G::NodeId, G::Neighbors>> = Vec::new();
    for start in g.node_identifiers() {
        if rootindex[g.to_index(start)].is_some() {
            continue;
        }
        rootindex[g.to_index(start)] = NonZeroUsize::new(index);
        index += 1;
        frames.push(Frame { v: start, neighbors: g.neighbors(start), local_root: true, child: None });
        while let Some(frame) = frames.last_mut() {
            let v = frame.v;
            let vi = g.to_index(v);
            if let Some(w) = frame.child.take() {
                let wi = g.to_index(w);
                if rootindex[wi] < rootindex[vi] {
                    rootindex[vi] = rootindex[wi];
                    frame.local_root = false;
                }
            }
            if let Some(w) = frame.neighbors.next() {
                let wi = g.to_index(w);
                if rootindex[wi].is_none() {
                    frame.child = Some(w);
                    rootindex[wi] = NonZeroUsize::new(index);
                    index += 1;
                    frames.push(Frame { v: w, neighbors: g.neighbors(w), local_root: true, child: None });
                } else if rootindex[wi] < rootindex[vi] {
                    rootindex[vi] = rootindex[wi];
                    frame.local_root = false;
                }
                continue;
            }
            let local_root = frame.local_root;
            frames.pop();
            if local_root {
                let mut adjustment = 1;
                let c = NonZeroUsize::new(componentcount);
                let start = stack
                    .iter()
                    .rposition(|&w| {
                        let wi = g.to_index(w);
                        if rootindex[vi] > rootindex[wi] {
                            true
                        } else {
                            rootindex[wi] = c;
                            adjustment += 1;
                            false
                        }
                    })
                    .map_or(0, |x| x + 1);
                rootindex[vi] = c;
                stack.push(v);
                sccs.push(stack[start..].to_vec());
                stack.truncate(start);
                index -= adjustment;
                componentcount -= 1;
            } else {
                stack.push(v);
            }
        }
    }
    sccs
}

#[cfg(test)]
mod tests {
    use super::*;
    use petgraph::graph::DiGraph;

    /// Same components in the same order as petgraph's recursive version, on small
    /// graphs of every shape (a deterministic pseudo-random sample).
    #[test]
    fn agrees_with_petgraph() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let n = (next() % 12) as usize;
            let mut g = DiGraph::<(), ()>::new();
            let nodes: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
            if n > 0 {
                for _ in 0..(next() % (3 * n as u64 + 1)) {
                    let a = nodes[(next() % n as u64) as usize];
                    let b = nodes[(next() % n as u64) as usize];
                    g.add_edge(a, b, ());
                }
            }
            assert_eq!(tarjan_scc(&g), petgraph::algo::tarjan_scc(&g));
        }
    }

    /// A path of a million nodes on a test thread's small stack.
    #[test]
    fn a_long_path_needs_no_stack() {
        let n = 1_000_000;
        let mut g = DiGraph::<(), ()>::with_capacity(n, n);
        let nodes: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
        for w in nodes.windows(2) {
            g.add_edge(w[0], w[1], ());
        }
        g.add_edge(nodes[n - 1], nodes[0], ());
        let sccs = tarjan_scc(&g);
        assert_eq!(sccs.len(), 1);
        assert_eq!(sccs[0].len(), n);
    }
}
