//! The reference solver: every constraint applied in full, in order, again and again, until
//! a whole pass changes nothing. Obviously correct and slow; the fast solver in
//! [`super::solve`] must agree with it on every function (see the tests), which is what
//! makes the fast one trustworthy.

use super::graph::{Constraint, FunctionGraph, Sel};
use super::solve::{ClosureCalls, Prov, Solution};
use std::collections::{BTreeSet, HashSet};

/// Solves a function's constraints by plain iteration.
pub fn solve_reference(g: &mut FunctionGraph, calls: &dyn ClosureCalls) -> Solution {
    let mut pts: Vec<BTreeSet<u32>> = Vec::new();
    let mut fields: Vec<(u32, Sel, u32)> = Vec::new();
    let mut escapes = Vec::new();
    let mut instantiated: HashSet<(usize, u32)> = HashSet::new();
    let mut escapes_seen: HashSet<usize> = HashSet::new();
    fn insert(pts: &mut Vec<BTreeSet<u32>>, node: u32, obj: u32) -> bool {
        if pts.len() <= node as usize {
            pts.resize_with(node as usize + 1, BTreeSet::new);
        }
        pts[node as usize].insert(obj)
    }
    fn get(pts: &[BTreeSet<u32>], node: u32) -> Vec<u32> {
        pts.get(node as usize).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }
    fn field(
        g: &mut FunctionGraph,
        pts: &mut Vec<BTreeSet<u32>>,
        fields: &mut Vec<(u32, Sel, u32)>,
        obj: u32,
        sel: Sel,
    ) -> (u32, bool) {
        let (node, seed) = g.field(obj, sel);
        let mut changed = false;
        if !fields.contains(&(obj, sel, node)) {
            fields.push((obj, sel, node));
        }
        if let Some(seed) = seed {
            changed |= insert(pts, node, seed);
        }
        (node, changed)
    }
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < g.constraints.len() {
            let (c, _) = g.constraints[i].clone();
            match &c {
                Constraint::AddrOf { node, obj } => changed |= insert(&mut pts, *node, *obj),
                Constraint::Copy { from, to } => {
                    for o in get(&pts, *from) {
                        changed |= insert(&mut pts, *to, o);
                    }
                }
                Constraint::Load { base, sel, to } => {
                    for o in get(&pts, *base) {
                        let (f, seeded) = field(g, &mut pts, &mut fields, o, *sel);
                        changed |= seeded;
                        for x in get(&pts, f) {
                            changed |= insert(&mut pts, *to, x);
                        }
                    }
                }
                Constraint::Store { base, sel, from } => {
                    for o in get(&pts, *base) {
                        let (f, seeded) = field(g, &mut pts, &mut fields, o, *sel);
                        changed |= seeded;
                        for x in get(&pts, *from) {
                            changed |= insert(&mut pts, f, x);
                        }
                    }
                }
                Constraint::CopyReach { from, to } => {
                    // Everything strictly inside `from`'s objects (through the fields known
                    // so far): start from their fields.
                    // Every field node of the graph counts, including those made while
                    // building it (an allocation's fields), not only those made here.
                    let all_fields = field_nodes(g);
                    let mut seen: BTreeSet<u32> = BTreeSet::new();
                    for o in get(&pts, *from) {
                        for &(owner, node) in &all_fields {
                            if owner == o {
                                seen.extend(get(&pts, node));
                            }
                        }
                    }
                    let mut stack: Vec<u32> = seen.iter().copied().collect();
                    while let Some(o) = stack.pop() {
                        for &(owner, node) in &all_fields {
                            if owner == o {
                                for x in get(&pts, node) {
                                    if seen.insert(x) {
                                        stack.push(x);
                                    }
                                }
                            }
                        }
                    }
                    for x in seen {
                        changed |= insert(&mut pts, *to, x);
                    }
                }
                Constraint::Escape { node, sink } => {
                    if escapes_seen.insert(i) {
                        escapes.push((*node, *sink));
                    }
                }
                Constraint::CallClosure { callee, .. } => {
                    for o in get(&pts, *callee) {
                        if instantiated.insert((i, o)) {
                            calls.instantiate(g, o, &c);
                            changed = true;
                        }
                    }
                }
            }
            i += 1;
        }
        // rule esc-unknown-writes: every field of an object unknown code can reach may hold
        // `unknown`.
        let all_fields = field_nodes(g);
        let mut reached: BTreeSet<u32> = BTreeSet::new();
        let mut stack: Vec<u32> = escapes
            .iter()
            .filter(|(_, sink)| *sink == super::graph::Sink::Unknown)
            .flat_map(|(node, _)| get(&pts, *node))
            .collect();
        while let Some(o) = stack.pop() {
            if !reached.insert(o) {
                continue;
            }
            for &(owner, node) in &all_fields {
                if owner == o {
                    stack.extend(get(&pts, node));
                }
            }
        }
        let unknown = (!reached.is_empty()).then(|| g.obj(super::graph::Obj::Unknown));
        for o in reached {
            if Some(o) == unknown {
                continue;
            }
            for &(owner, node) in &all_fields {
                if owner == o
                    && let Some(u) = unknown
                {
                    changed |= insert(&mut pts, node, u);
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut sol = Solution::from_parts(pts, fields, escapes, Default::default());
    sol.index_fields(g);
    sol
}

/// Every field node of the graph, with the object it belongs to.
fn field_nodes(g: &FunctionGraph) -> Vec<(u32, u32)> {
    (0..g.nodes.len() as u32)
        .filter_map(|n| match g.nodes.item(n) {
            super::graph::Node::Field(owner, _) => Some((*owner, n)),
            _ => None,
        })
        .collect()
}

impl Solution {
    /// A solution assembled from its parts (for solvers other than the worklist one).
    pub fn from_parts(
        pts: Vec<BTreeSet<u32>>,
        fields: Vec<(u32, Sel, u32)>,
        escapes: Vec<(u32, super::graph::Sink)>,
        prov: std::collections::HashMap<(u32, u32), Prov>,
    ) -> Solution {
        let mut sol = Solution::default();
        sol.set_parts(pts, fields, escapes, prov);
        sol
    }
}
