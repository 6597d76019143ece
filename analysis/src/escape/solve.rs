//! The fast solver: the least points-to solution of a function's constraints, by a
//! worklist with difference propagation.
//!
//! Loads and stores become copy edges as the objects their base points to are
//! discovered (`d = o.f` is an edge from each `O.f` to `d`), so after the first visit every
//! fact moves along plain edges. Closure calls are instantiated as the closures reaching
//! their callee are discovered. `CopyReach` (a summary flow from deep inside a parameter)
//! is evaluated in rounds after the worklist drains, until nothing changes.
//!
//! Every fact `obj ∈ pts(node)` records the first constraint that produced it and the
//! node it came from ([`Prov`]): the explanations are built from that.

use super::graph::{Constraint, FunctionGraph, Node, Obj, Origin, Sel, Sink};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// A node named by its meaning, for comparing solutions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FactNode {
    /// A definition.
    Def(u32),
    /// A field of an object.
    Field(super::graph::Obj, Sel),
    /// The result.
    Ret,
    /// A global.
    Global(custody_ir::GlobalId),
}

/// How a fact was first derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prov {
    /// The constraint's rule and instruction.
    pub origin: Origin,
    /// The node the object came from (none for `node ∋ obj` facts).
    pub from: Option<u32>,
}

/// The solution of a function's constraints.
#[derive(Debug, Clone, Default)]
pub struct Solution {
    pts: Vec<BTreeSet<u32>>,
    /// The field nodes of each object.
    fields: HashMap<u32, Vec<(Sel, u32)>>,
    /// The nodes whose contents escape to a sink.
    pub escapes: Vec<(u32, Sink)>,
    /// The first derivation of each fact.
    pub prov: HashMap<(u32, u32), Prov>,
    pts_cache: Vec<Vec<u32>>,
}

impl Solution {
    /// The objects a node may point to, in id order.
    pub fn pts(&self, node: u32) -> &[u32] {
        self.pts_cache.get(node as usize).map_or(&[], Vec::as_slice)
    }

    /// The field nodes of an object.
    pub fn fields_of(&self, obj: u32) -> Vec<(Sel, u32)> {
        self.fields.get(&obj).cloned().unwrap_or_default()
    }

    /// Every fact, as values comparable across solvers: nodes named by what they are
    /// (a field by its object's value, not its id, since solvers discover objects in
    /// different orders), internal temporaries left out.
    pub fn facts(&self, g: &FunctionGraph) -> BTreeSet<(FactNode, super::graph::Obj)> {
        let mut out = BTreeSet::new();
        for (node, set) in self.pts.iter().enumerate() {
            let name = match g.nodes.item(node as u32) {
                Node::Def(d) => FactNode::Def(*d),
                Node::Field(obj, sel) => FactNode::Field(g.objs.item(*obj).clone(), *sel),
                Node::Ret => FactNode::Ret,
                Node::Global(gl) => FactNode::Global(*gl),
                Node::Temp(_) | Node::Merge(_) => continue,
            };
            for &obj in set {
                out.insert((name.clone(), g.objs.item(obj).clone()));
            }
        }
        out
    }

    fn finish(&mut self) {
        self.pts_cache = self.pts.iter().map(|s| s.iter().copied().collect()).collect();
    }

    /// Indexes every field node of the graph by its object (field nodes are created both
    /// while building the graph and while solving).
    pub(super) fn index_fields(&mut self, g: &FunctionGraph) {
        self.fields.clear();
        for node in 0..g.nodes.len() as u32 {
            if let Node::Field(obj, sel) = *g.nodes.item(node) {
                self.fields.entry(obj).or_default().push((sel, node));
            }
        }
    }

    pub(super) fn set_parts(
        &mut self,
        pts: Vec<BTreeSet<u32>>,
        fields: Vec<(u32, Sel, u32)>,
        escapes: Vec<(u32, Sink)>,
        prov: HashMap<(u32, u32), Prov>,
    ) {
        self.pts = pts;
        for (obj, sel, node) in fields {
            self.fields.entry(obj).or_default().push((sel, node));
        }
        self.escapes = escapes;
        self.prov = prov;
        self.finish();
    }
}

/// Instantiates closure calls as their closures are discovered.
pub trait ClosureCalls {
    /// Adds to `g` the constraints of calling closure object `obj` at `call` (a
    /// `CallClosure` constraint).
    fn instantiate(&self, g: &mut FunctionGraph, obj: u32, call: &Constraint);
}

/// Edges and triggers built from the constraints.
#[derive(Default)]
struct Index {
    copy: HashMap<u32, Vec<(u32, Origin)>>,
    /// The copy edges present, to add each once without scanning its source's edges (a
    /// field many loads read from has as many edges).
    copy_edges: HashSet<(u32, u32)>,
    loads: HashMap<u32, Vec<(Sel, u32, Origin)>>,
    stores_by_base: HashMap<u32, Vec<(Sel, u32, Origin)>>,
    closure_calls: HashMap<u32, Vec<usize>>,
    reach: Vec<(u32, u32, Origin)>,
}

struct Solver<'a> {
    g: &'a mut FunctionGraph,
    calls: &'a dyn ClosureCalls,
    sol: Solution,
    index: Index,
    queue: VecDeque<u32>,
    queued: Vec<bool>,
    /// Per node, the objects not yet propagated from it.
    delta: Vec<Vec<u32>>,
    /// Closure objects already instantiated per call constraint.
    instantiated: HashMap<usize, BTreeSet<u32>>,
    indexed: usize,
    /// Objects unknown code can see, whose every field it may overwrite (rule
    /// esc-unknown-writes), and the `unknown` object's id once made.
    unknown_written: HashSet<u32>,
    unknown: Option<u32>,
}

/// Solves a function's constraints.
pub fn solve(g: &mut FunctionGraph, calls: &dyn ClosureCalls) -> Solution {
    let mut s = Solver {
        g,
        calls,
        sol: Solution::default(),
        index: Index::default(),
        queue: VecDeque::new(),
        queued: Vec::new(),
        delta: Vec::new(),
        instantiated: HashMap::new(),
        indexed: 0,
        unknown_written: HashSet::new(),
        unknown: None,
    };
    s.index_new_constraints();
    loop {
        while let Some(node) = s.queue.pop_front() {
            s.queued[node as usize] = false;
            s.process(node);
            s.index_new_constraints();
        }
        if !s.reach_round() && !s.unknown_writes_round() {
            break;
        }
    }
    let mut sol = s.sol;
    sol.index_fields(s.g);
    sol.finish();
    sol
}

impl Solver<'_> {
    fn grow(&mut self) {
        let n = self.g.nodes.len();
        if self.sol.pts.len() < n {
            self.sol.pts.resize_with(n, BTreeSet::new);
            self.delta.resize_with(n, Vec::new);
            self.queued.resize(n, false);
        }
    }

    /// Adds `obj` to `pts(node)`; on news, queues the node.
    fn add(&mut self, node: u32, obj: u32, prov: Prov) {
        self.grow();
        if self.sol.pts[node as usize].insert(obj) {
            self.sol.prov.entry((node, obj)).or_insert(prov);
            self.delta[node as usize].push(obj);
            if !std::mem::replace(&mut self.queued[node as usize], true) {
                self.queue.push_back(node);
            }
        }
    }

    /// The field node `obj.sel`, seeding it if it is new.
    fn field(&mut self, obj: u32, sel: Sel, origin: Origin) -> u32 {
        let (node, seed) = self.g.field(obj, sel);
        self.grow();
        let entry = self.sol.fields.entry(obj).or_default();
        let new = !entry.iter().any(|&(s, n)| s == sel && n == node);
        if new {
            entry.push((sel, node));
        }
        if let Some(seed) = seed {
            let origin = Origin { rule: super::graph::Rule::ParamContent, at: origin.at };
            self.add(node, seed, Prov { origin, from: None });
        }
        if new
            && self.unknown_written.contains(&obj)
            && let Some(u) = self.unknown
        {
            let origin = Origin { rule: super::graph::Rule::UnknownWrites, at: origin.at };
            self.add(node, u, Prov { origin, from: None });
        }
        node
    }

    /// rule esc-unknown-writes: code custody cannot see may write into every object it can
    /// reach, anything it knows (`unknown`), so each field of such an object may hold
    /// `unknown` from then on (a callee whose summary is widened may have linked the
    /// object to itself). Whether this round added anything.
    fn unknown_writes_round(&mut self) -> bool {
        let sinks: Vec<u32> =
            self.sol.escapes.iter().filter(|(_, sink)| *sink == Sink::Unknown).map(|&(n, _)| n).collect();
        if sinks.is_empty() {
            return false;
        }
        let mut sol = std::mem::take(&mut self.sol);
        sol.index_fields(self.g);
        sol.finish();
        let roots: Vec<u32> = sinks.iter().flat_map(|&n| sol.pts(n).to_vec()).collect();
        let reached = super::summary::reach_with_paths(self.g, &sol, &roots);
        self.sol = sol;
        let mut fresh: Vec<u32> = Vec::new();
        for (obj, _) in reached {
            if !matches!(self.g.objs.item(obj), Obj::Unknown) && self.unknown_written.insert(obj) {
                fresh.push(obj);
            }
        }
        if fresh.is_empty() {
            return false;
        }
        let u = *self.unknown.get_or_insert_with(|| self.g.obj(Obj::Unknown));
        for obj in fresh {
            let fields: Vec<u32> =
                self.sol.fields.get(&obj).map(|fs| fs.iter().map(|&(_, n)| n).collect()).unwrap_or_default();
            for node in fields {
                let origin = Origin { rule: super::graph::Rule::UnknownWrites, at: None };
                self.add(node, u, Prov { origin, from: None });
            }
        }
        true
    }

    fn copy_edge(&mut self, from: u32, to: u32, origin: Origin) {
        if !self.index.copy_edges.insert((from, to)) {
            return;
        }
        self.index.copy.entry(from).or_default().push((to, origin));
        self.grow();
        let existing: Vec<u32> = self.sol.pts[from as usize].iter().copied().collect();
        for obj in existing {
            self.add(to, obj, Prov { origin, from: Some(from) });
        }
    }

    fn index_new_constraints(&mut self) {
        while self.indexed < self.g.constraints.len() {
            let i = self.indexed;
            self.indexed += 1;
            let (c, origin) = self.g.constraints[i].clone();
            self.grow();
            match c {
                Constraint::AddrOf { node, obj } => self.add(node, obj, Prov { origin, from: None }),
                Constraint::Copy { from, to } => self.copy_edge(from, to, origin),
                Constraint::Load { base, sel, to } => {
                    self.index.loads.entry(base).or_default().push((sel, to, origin));
                    let objs: Vec<u32> = self.sol.pts[base as usize].iter().copied().collect();
                    for obj in objs {
                        let f = self.field(obj, sel, origin);
                        self.copy_edge(f, to, origin);
                    }
                }
                Constraint::Store { base, sel, from } => {
                    self.index.stores_by_base.entry(base).or_default().push((sel, from, origin));
                    let objs: Vec<u32> = self.sol.pts[base as usize].iter().copied().collect();
                    for obj in objs {
                        let f = self.field(obj, sel, origin);
                        self.copy_edge(from, f, origin);
                    }
                }
                Constraint::CopyReach { from, to } => self.index.reach.push((from, to, origin)),
                Constraint::Escape { node, sink } => self.sol.escapes.push((node, sink)),
                Constraint::CallClosure { callee, .. } => {
                    self.index.closure_calls.entry(callee).or_default().push(i);
                    let objs: Vec<u32> = self.sol.pts[callee as usize].iter().copied().collect();
                    for obj in objs {
                        self.instantiate(i, obj);
                    }
                }
            }
        }
    }

    fn instantiate(&mut self, constraint: usize, obj: u32) {
        if !self.instantiated.entry(constraint).or_default().insert(obj) {
            return;
        }
        let call = self.g.constraints[constraint].0.clone();
        self.calls.instantiate(self.g, obj, &call);
    }

    fn process(&mut self, node: u32) {
        let delta = std::mem::take(&mut self.delta[node as usize]);
        if delta.is_empty() {
            return;
        }
        for &(to, origin) in self.index.copy.get(&node).cloned().unwrap_or_default().iter() {
            for &obj in &delta {
                self.add(to, obj, Prov { origin, from: Some(node) });
            }
        }
        for (sel, to, origin) in self.index.loads.get(&node).cloned().unwrap_or_default() {
            for &obj in &delta {
                let f = self.field(obj, sel, origin);
                self.copy_edge(f, to, origin);
            }
        }
        for (sel, from, origin) in self.index.stores_by_base.get(&node).cloned().unwrap_or_default() {
            for &obj in &delta {
                let f = self.field(obj, sel, origin);
                self.copy_edge(from, f, origin);
            }
        }
        for constraint in self.index.closure_calls.get(&node).cloned().unwrap_or_default() {
            for &obj in &delta {
                self.instantiate(constraint, obj);
            }
        }
    }

    /// One round of `CopyReach`; whether it added anything.
    fn reach_round(&mut self) -> bool {
        let mut added = false;
        for (from, to, origin) in self.index.reach.clone() {
            let mut sol = std::mem::take(&mut self.sol);
            sol.index_fields(self.g);
            sol.finish();
            // Strictly inside: start from the fields of the objects in `from`.
            let starts: Vec<u32> = sol
                .pts(from)
                .iter()
                .flat_map(|&o| sol.fields_of(o))
                .flat_map(|(_, f)| sol.pts(f).to_vec())
                .collect();
            let reached = super::summary::reach_with_paths(self.g, &sol, &starts);
            self.sol = sol;
            for (obj, _) in reached {
                self.grow();
                if !self.sol.pts[to as usize].contains(&obj) {
                    added = true;
                    self.add(to, obj, Prov { origin, from: Some(from) });
                }
            }
        }
        added
    }
}
