//! Witnesses: why an object escapes, as the chain of flows from its allocation to where
//! the bound was lost.
//!
//! An object escapes because it is held by a root (the result, a global, a thread's
//! argument, unknown code's argument, a parameter's contents) or by an object that
//! escapes. A breadth-first search from the roots through fields finds, for each escaping
//! object, the shortest containment chain (`A` is in field `next` of `B`, `B` is in global
//! `cache`); the recorded first derivation of each fact ([`super::solve::Prov`]) then gives
//! the instructions that moved it along each link. A witness is that sequence of steps.

use super::graph::{FunctionGraph, Node, Obj, Origin, Rule, Sel, Sink};
use super::solve::Solution;
use custody_ir::InstAddr;
use custody_ir::plan::Escape;
use std::collections::VecDeque;

/// Where an escaping object's bound was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The function's result.
    Return,
    /// A parameter's contents (the caller's memory).
    ParamContent(u32),
    /// A sink: a global, a thread, unknown code.
    Sink(Sink),
    /// Memory from outside: a global's or unknown code's object (the one named).
    Outside(u32),
}

impl Root {
    /// The escape state this root implies.
    pub fn escape(self) -> Escape {
        match self {
            Root::Return | Root::ParamContent(_) => Escape::Binding,
            Root::Sink(Sink::Thread) => Escape::Thread,
            Root::Sink(_) | Root::Outside(_) => Escape::Uncontained,
        }
    }
}

/// One step of a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value moved by an instruction (rule and instruction).
    Flow {
        /// Why.
        origin: Origin,
    },
    /// The object is held in field `sel` of another object (whose own steps follow).
    StoredIn {
        /// The container.
        container: u32,
        /// The field.
        sel: Sel,
    },
    /// It reached the root.
    Reached(Root),
}

/// The escape state of every object of a solved function, and for each escaping one its
/// witness.
pub struct Verdicts {
    /// Per object: its state and, if not contained, the root and the parent link.
    state: Vec<(Escape, Option<Link>)>,
}

#[derive(Debug, Clone, Copy)]
enum Link {
    /// Held directly by a root node.
    Root(Root, u32),
    /// Held in a field node of a container object.
    In(u32, Sel, u32),
}

impl Verdicts {
    /// Computes every object's state: the most escaping root it can be reached from
    /// (rules esc-state-thread, esc-state-uncontained, esc-state-binding, esc-state-contained).
    pub fn compute(g: &FunctionGraph, sol: &Solution) -> Verdicts {
        let mut state: Vec<(Escape, Option<Link>)> = vec![(Escape::Contained, None); g.objs.len()];
        // Roots, most escaping first, so each object keeps its worst verdict's witness.
        let mut roots: Vec<(Root, u32)> = Vec::new();
        for &(node, sink) in &sol.escapes {
            roots.push((Root::Sink(sink), node));
        }
        if let Some(ret) = g.nodes.get(&Node::Ret) {
            roots.push((Root::Return, ret));
        }
        roots.sort_by_key(|(root, _)| std::cmp::Reverse(root.escape()));
        for level in [Escape::Thread, Escape::Uncontained, Escape::Binding] {
            let mut queue: VecDeque<u32> = VecDeque::new();
            let visit =
                |obj: u32, link: Link, state: &mut Vec<(Escape, Option<Link>)>, queue: &mut VecDeque<u32>| {
                    if let Some(slot) = state.get_mut(obj as usize)
                        && slot.0 < level
                    {
                        *slot = (level, Some(link));
                        queue.push_back(obj);
                    }
                };
            for &(root, node) in roots.iter().filter(|(r, _)| r.escape() == level) {
                for &obj in sol.pts(node) {
                    visit(obj, Link::Root(root, node), &mut state, &mut queue);
                }
            }
            // Memory from outside escapes by itself: what a global or unknown code holds is
            // uncontained, what a parameter holds belongs to the caller.
            for obj in 0..g.objs.len() as u32 {
                let root = match g.objs.item(obj) {
                    Obj::Global(_) | Obj::Unknown if level == Escape::Uncontained => Root::Outside(obj),
                    Obj::Param(i, _) if level == Escape::Binding => Root::ParamContent(*i),
                    _ => continue,
                };
                for (sel, field) in sol.fields_of(obj) {
                    // What the caller put there is not an escape of anything.
                    let seed = match g.objs.item(obj) {
                        Obj::Param(i, path) => g.objs.get(&Obj::Param(*i, path.then(sel))),
                        _ => None,
                    };
                    for &inner in sol.pts(field) {
                        if Some(inner) == seed {
                            continue;
                        }
                        visit(inner, Link::Root(root, field), &mut state, &mut queue);
                    }
                }
            }
            while let Some(obj) = queue.pop_front() {
                for (sel, field) in sol.fields_of(obj) {
                    for &inner in sol.pts(field) {
                        visit(inner, Link::In(obj, sel, field), &mut state, &mut queue);
                    }
                }
            }
        }
        Verdicts { state }
    }

    /// An object's escape state.
    pub fn escape(&self, obj: u32) -> Escape {
        self.state.get(obj as usize).map_or(Escape::Contained, |s| s.0)
    }

    /// The root an escaping object's witness ends at.
    pub fn root(&self, obj: u32) -> Option<Root> {
        let mut current = obj;
        for _ in 0..self.state.len() + 1 {
            match self.state.get(current as usize)?.1? {
                Link::Root(root, _) => return Some(root),
                Link::In(container, _, _) => current = container,
            }
        }
        None
    }

    /// The witness of an escaping object: the flows that carried it, link by link, from
    /// its allocation to the root. Empty for a contained object.
    pub fn witness(&self, sol: &Solution, obj: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut current = obj;
        for _ in 0..self.state.len() + 1 {
            let Some((_, Some(link))) = self.state.get(current as usize) else { break };
            let (node, next) = match *link {
                Link::Root(root, node) => (node, Err(root)),
                Link::In(container, sel, node) => (node, Ok((container, sel))),
            };
            steps.extend(flows_into(sol, node, current));
            match next {
                Err(root) => {
                    steps.push(Step::Reached(root));
                    break;
                }
                Ok((container, sel)) => {
                    steps.push(Step::StoredIn { container, sel });
                    current = container;
                }
            }
        }
        steps
    }
}

/// The flows that brought `obj` into `node`, in execution order (following each fact's
/// first derivation back to where the object entered).
fn flows_into(sol: &Solution, node: u32, obj: u32) -> Vec<Step> {
    let mut chain = Vec::new();
    let mut current = node;
    let mut guard = 0;
    while let Some(prov) = sol.prov.get(&(current, obj)) {
        chain.push(Step::Flow { origin: prov.origin });
        guard += 1;
        match prov.from {
            Some(from) if guard < 10_000 => current = from,
            _ => break,
        }
    }
    chain.reverse();
    // Keep the steps that say something: one per instruction, in order.
    let mut out: Vec<Step> = Vec::new();
    let mut last_at: Option<InstAddr> = None;
    for step in chain {
        if let Step::Flow { origin } = &step {
            if origin.at.is_some() && origin.at == last_at {
                continue;
            }
            if matches!(origin.rule, Rule::ParamEntry) {
                continue;
            }
            last_at = origin.at;
        }
        out.push(step);
    }
    out
}
