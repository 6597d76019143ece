//! Function summaries: what a function does with its parameters, as its callers see it.
//!
//! For each parameter, the *flows* of its value and of the objects inside it: into the
//! result (at a field path), into another parameter's contents (at a path), into a global,
//! to another thread, to unknown code. The parameter's escape state is the worst of its
//! flows. A summary also says whether the result may be a fresh object (control passes
//! to the caller) or something from outside (a global's contents, unknown code's).
//!
//! Summaries are computed from a solved function ([`compute`]) and applied at call sites
//! by [`super::graph::apply_summary`].

use super::graph::{FunctionGraph, Node, Obj, Path, Sel, Sink};
use super::solve::Solution;
use custody_ir::GlobalId;
use custody_ir::plan::Escape;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// Where a flow goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowDst {
    /// The result, at a path inside it (empty: the result itself).
    Return(Path),
    /// Another parameter's contents, at a (non-empty) path.
    Param(u32, Path),
    /// A global.
    Global(GlobalId),
    /// Another thread.
    Thread,
    /// Unknown code.
    Unknown,
}

/// One flow of (part of) a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    /// Which part of the parameter: a path inside it (empty: the parameter itself).
    pub src: Path,
    /// Where it goes.
    pub dst: FlowDst,
}

/// What a function does with one parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamSummary {
    /// Its flows, sorted.
    pub flows: BTreeSet<Flow>,
    /// The paths inside the parameter at which the function may store an object the
    /// caller cannot see (one it allocated, a callee's result, a global's or unknown code's
    /// contents); the caller puts an object of its own there, so that the flows below such
    /// a path have somewhere to land (rule sum-param-fresh).
    pub holds_fresh: BTreeSet<Path>,
}

impl ParamSummary {
    /// The parameter's escape state: the worst of its flows (rule sum-param-state).
    pub fn escape(&self) -> Escape {
        self.flows
            .iter()
            .map(|f| match f.dst {
                FlowDst::Return(_) | FlowDst::Param(..) => Escape::Binding,
                FlowDst::Global(_) | FlowDst::Unknown => Escape::Uncontained,
                FlowDst::Thread => Escape::Thread,
            })
            .max()
            .unwrap_or(Escape::Contained)
    }
}

/// A function's summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// One per parameter (a closure's captures after its declared parameters).
    pub params: Vec<ParamSummary>,
    /// The result may be an object the function (or a callee) allocated.
    pub returns_fresh: bool,
    /// The result may be something from outside: a global's contents, unknown code's.
    pub returns_outside: bool,
}

/// Computes the summary of a solved function with `n_params` parameters.
pub fn compute(g: &FunctionGraph, solution: &Solution, n_params: usize) -> Summary {
    let mut summary = Summary { params: vec![ParamSummary::default(); n_params], ..Summary::default() };
    let record = |obj: &Obj, dst: FlowDst, summary: &mut Summary| {
        if let Obj::Param(i, path) = obj
            && let Some(p) = summary.params.get_mut(*i as usize)
        {
            p.flows.insert(Flow { src: path.clone(), dst });
        }
    };
    // rule sum-return: what the result holds, with the path at which it holds it.
    if let Some(ret) = g.nodes.get(&Node::Ret) {
        for (obj, path) in reach_with_paths(g, solution, solution.pts(ret)) {
            match g.objs.item(obj) {
                // A struct parameter's copy returned (perhaps copied again) is a version of
                // the parameter; any other copy of a struct is as fresh as its source.
                Obj::ParamCopy(i) => {
                    record(&Obj::Param(*i, Path::root()), FlowDst::Return(path), &mut summary)
                }
                Obj::Copy(at) if g.struct_copies.contains_key(at) => {
                    match struct_copy_origin(g, solution, obj) {
                        Some(i) => record(&Obj::Param(i, Path::root()), FlowDst::Return(path), &mut summary),
                        None => summary.returns_fresh = true,
                    }
                }
                Obj::Alloc(_) | Obj::CallResult(_) | Obj::Copy(_) => summary.returns_fresh = true,
                Obj::Global(_) | Obj::Unknown => summary.returns_outside = true,
                p @ Obj::Param(..) => record(&p.clone(), FlowDst::Return(path), &mut summary),
            }
        }
    }
    // rule sum-param-store: stores into parameters' contents (beyond the caller's own).
    for node in 0..g.nodes.len() as u32 {
        let Node::Field(base, sel) = *g.nodes.item(node) else { continue };
        let Obj::Param(j, base_path) = g.objs.item(base).clone() else { continue };
        let target = base_path.then(sel);
        let seed = Obj::Param(j, target.clone());
        let stored: Vec<u32> =
            solution.pts(node).iter().copied().filter(|&o| *g.objs.item(o) != seed).collect();
        for (obj, path) in reach_with_paths(g, solution, &stored) {
            let mut dst_path = target.clone();
            for s in &path.steps {
                dst_path = dst_path.then(*s);
            }
            let obj = g.objs.item(obj).clone();
            if !matches!(obj, Obj::Param(..))
                && let Some(p) = summary.params.get_mut(j as usize)
            {
                // rule sum-param-fresh
                p.holds_fresh.insert(dst_path.clone());
            }
            // A parameter's own content seen again at its own place is not a flow.
            if obj != Obj::Param(j, dst_path.clone()) {
                record(&obj, FlowDst::Param(j, dst_path), &mut summary);
            }
        }
    }
    // rule sum-sink: globals, threads, unknown code.
    for (node, sink) in &solution.escapes {
        let dst = match sink {
            Sink::Global(g) => FlowDst::Global(*g),
            Sink::Thread => FlowDst::Thread,
            Sink::Unknown => FlowDst::Unknown,
        };
        for (obj, _) in reach_with_paths(g, solution, solution.pts(*node)) {
            let obj = g.objs.item(obj).clone();
            record(&obj, dst.clone(), &mut summary);
        }
    }
    for p in &mut summary.params {
        // A widened parameter's parts may still be (in) the result, which the caller no
        // longer learns from a flow: the result may then be something from outside.
        if compact(&mut p.flows) {
            summary.returns_outside = true;
        }
    }
    summary
}

/// The least summary above both (rule sum-scc): every flow and fresh path of either,
/// compacted (and widened where that makes too many). A parameter widened on either side
/// stays widened: the widened flow is the top, so a recursive component's summaries only
/// grow and its fixpoint ends.
pub fn join(a: &Summary, b: &Summary) -> Summary {
    let mut out = b.clone();
    out.returns_fresh |= a.returns_fresh;
    out.returns_outside |= a.returns_outside;
    for (p, q) in out.params.iter_mut().zip(&a.params) {
        p.holds_fresh.extend(q.holds_fresh.iter().cloned());
        if is_widened(&p.flows) || is_widened(&q.flows) {
            p.flows = widened();
            out.returns_outside = true;
            continue;
        }
        p.flows.extend(q.flows.iter().cloned());
        if compact(&mut p.flows) {
            out.returns_outside = true;
        }
    }
    out
}

/// The flows of a widened parameter (rule sum-widen): it escapes to unknown code (`p →
/// unknown`: the argument and everything reachable from it) and so does everything inside
/// it (`p… → unknown`). The second alone would be applied strictly inside the argument
/// (`CopyReach`), leaving the argument object itself, which the widened flows may have
/// stored anywhere, `contained` in the caller. Compaction never leaves both (the first
/// implies the second), so the pair also marks the set as widened.
pub fn widened() -> BTreeSet<Flow> {
    BTreeSet::from([
        Flow { src: Path::root(), dst: FlowDst::Unknown },
        Flow { src: Path { steps: Vec::new(), deep: true }, dst: FlowDst::Unknown },
    ])
}

/// Whether a parameter's flows are the widened set (or contain it).
fn is_widened(flows: &BTreeSet<Flow>) -> bool {
    widened().iter().all(|f| flows.contains(f))
}

/// More flows than this for one parameter are widened (see [`compact`]).
pub const MAX_FLOWS: usize = 24;

/// Removes the flows implied by shorter ones (rule sum-compact), then widens an
/// oversized set.
///
/// `(p.r, D.r)` follows from `(p, D)`: the object at `p` lands at `D`, and what is inside
/// it comes along (verdicts are reachability, and the caller reaches `p.r` through `p`);
/// `(p.r, sink)` follows from `(p, sink)` likewise. Without this, a parameter walked in a
/// loop and stored elsewhere yields a flow for every path, and recursive components
/// multiply them round after round.
///
/// Widening (rule sum-widen), past [`MAX_FLOWS`]: the parameter and everything inside it
/// escape to unknown code (one flow, `p…` to unknown), and the function's result may be
/// something from outside. Coarser but exact-looking flows would be unsound: "`p` lands
/// at the result" for "`p.f29` lands at `result.f0`" makes the caller read `result.f0` as
/// `p.f0`, so the object really stored there (`p.f29`) could be placed in an arena the
/// caller's global outlives. Unknown is the top of every verdict, so nothing is missed;
/// the widened set is the largest there is, so fixpoints still end. Returns whether it
/// widened.
pub fn compact(flows: &mut BTreeSet<Flow>) -> bool {
    let implied = |flow: &Flow, all: &BTreeSet<Flow>| -> bool {
        let steps = &flow.src.steps;
        for k in 0..=steps.len() {
            if k == steps.len() && !flow.src.deep {
                break;
            }
            let prefix = Path { steps: steps[..k].to_vec(), deep: false };
            let suffix = &steps[k..];
            let shorter = match &flow.dst {
                FlowDst::Return(q) if !flow.src.deep && q.steps.ends_with(suffix) && !q.deep => {
                    FlowDst::Return(Path {
                        steps: q.steps[..q.steps.len() - suffix.len()].to_vec(),
                        deep: false,
                    })
                }
                FlowDst::Param(j, q)
                    if !flow.src.deep
                        && q.steps.ends_with(suffix)
                        && !q.deep
                        && q.steps.len() > suffix.len() =>
                {
                    FlowDst::Param(
                        *j,
                        Path { steps: q.steps[..q.steps.len() - suffix.len()].to_vec(), deep: false },
                    )
                }
                FlowDst::Global(_) | FlowDst::Thread | FlowDst::Unknown => flow.dst.clone(),
                _ => continue,
            };
            let candidate = Flow { src: prefix, dst: shorter };
            if &candidate != flow && all.contains(&candidate) {
                return true;
            }
        }
        false
    };
    let redundant: Vec<Flow> = flows.iter().filter(|f| implied(f, flows)).cloned().collect();
    for f in redundant {
        flows.remove(&f);
    }
    if flows.len() > MAX_FLOWS {
        *flows = widened();
        return true;
    }
    false
}

/// The struct parameter a chain of struct copies starts from, if it starts from one.
fn struct_copy_origin(g: &FunctionGraph, solution: &Solution, obj: u32) -> Option<u32> {
    let mut seen = vec![obj];
    let mut stack = vec![obj];
    while let Some(o) = stack.pop() {
        match g.objs.item(o) {
            Obj::ParamCopy(i) => return Some(*i),
            Obj::Copy(at) => {
                for &node in g.struct_copies.get(at).into_iter().flatten() {
                    for &src in solution.pts(node) {
                        if !seen.contains(&src) {
                            seen.push(src);
                            stack.push(src);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// Every object reachable from `roots` through fields, each with its canonical path
/// (rule sum-path): the shortest, and among the shortest the least (`Path`'s order: step
/// by step, fields in declaration order before elements before captures).
///
/// An object is often reachable at several paths of the same length (`r.next` and
/// `r.other` holding one object; below the depth cut, where every step of a cut-off path
/// leads to the same `…` object). Taking whichever the search meets first would make the
/// summary depend on the order in which a solver happened to create field nodes and
/// objects, so the fast and the reference solver would disagree on facts they share. The
/// search therefore goes a whole layer (one more step) at a time and keeps, for each
/// object first met in a layer, the least path it was met at; `Path::then` keeps the order
/// (a lesser path extended stays lesser or equal), so this is the least of all its
/// shortest paths.
pub fn reach_with_paths(g: &FunctionGraph, solution: &Solution, roots: &[u32]) -> Vec<(u32, Path)> {
    let mut seen = vec![false; g.objs.len()];
    let mut out = Vec::new();
    let mut layer: Vec<(u32, Path)> = Vec::new();
    for &o in roots {
        if !std::mem::replace(&mut seen[o as usize], true) {
            layer.push((o, Path::root()));
        }
    }
    while !layer.is_empty() {
        // Keyed by object id so that the order of the output (and of the facts a caller
        // adds from it, with their provenance) is the same on every run.
        let mut next: BTreeMap<u32, Path> = BTreeMap::new();
        for (o, path) in &layer {
            for (sel, node) in solution.fields_of(*o) {
                let step = path.then(sel);
                for &inner in solution.pts(node) {
                    if seen.get(inner as usize) != Some(&false) {
                        continue;
                    }
                    match next.entry(inner) {
                        Entry::Vacant(e) => {
                            e.insert(step.clone());
                        }
                        Entry::Occupied(mut e) if step < *e.get() => {
                            e.insert(step.clone());
                        }
                        Entry::Occupied(_) => {}
                    }
                }
            }
        }
        out.append(&mut layer);
        for &o in next.keys() {
            seen[o as usize] = true;
        }
        layer = next.into_iter().collect();
    }
    out
}

/// A field selector, for paths shown to people: `.3`, `[]`, `.env2`.
pub fn sel_text(sel: Sel, field_name: impl Fn(u32) -> Option<String>) -> String {
    match sel {
        Sel::Field(n) => format!(".{}", field_name(n).unwrap_or_else(|| n.to_string())),
        Sel::Elem => "[]".to_string(),
        Sel::Env(n) => format!(".capture{n}"),
    }
}
