//! The end of a run: the globals are released, then everything still allocated leaks.
//!
//! Leaked objects are grouped into strongly connected components by their references. A
//! component that contains a cycle is one `leaked-cycle` violation that names the cycle's
//! objects and the fields that close it (objects reachable only from such a cycle are
//! counted with it); every other leaked object is reported with its allocation site, one
//! `leak` violation per site with the number of objects.

use super::heap::{Body, State};
use super::machine::{Act, Action, MAIN_THREAD, Machine, Stop, Task, Thread};
use super::value::{ObjId, Value};
use super::{Violation, ViolationKind};
use crate::Span;
use crate::plan::Placement;
use std::collections::{BTreeMap, HashMap, VecDeque};

impl Machine<'_> {
    /// Releases the globals, last declared first (drop if counted, free if unique).
    pub(super) fn release_globals(&mut self) -> Result<(), Stop> {
        let values: Vec<Value> = self.globals.iter_mut().rev().filter_map(Option::take).collect();
        let mut refs = Vec::new();
        for value in &values {
            self.heap.hold(value, false);
            value.refs_into(&mut refs);
        }
        if refs.is_empty() {
            return Ok(());
        }
        self.trace(|| "release globals".into());
        let task =
            Task::Each { refs, next: 0, repeat: 1, done: 0, action: Action::Release, cause: Span::NONE };
        self.threads.push(Thread { id: MAIN_THREAD, stack: vec![Act::Task(task)], frames: 0 });
        self.run_loop()
    }

    /// Reports everything still allocated (static data excepted).
    pub(super) fn leak_check(&mut self) {
        let leaked: Vec<ObjId> = (0..self.heap.objs.len())
            .filter(|&id| {
                self.heap.get(id).is_some_and(|o| o.state != State::Freed && o.placement != Placement::Static)
            })
            .collect();
        self.stats.leaked = leaked.len() as u64;
        if leaked.is_empty() {
            return;
        }
        let position: HashMap<ObjId, usize> = leaked.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let edges: Vec<Vec<(usize, String)>> = leaked
            .iter()
            .map(|&id| {
                self.labeled_refs(id)
                    .into_iter()
                    .filter_map(|(r, label)| Some((*position.get(&r)?, label)))
                    .collect()
            })
            .collect();
        let adjacency: Vec<Vec<usize>> = edges.iter().map(|e| e.iter().map(|(t, _)| *t).collect()).collect();
        let mut cyclic_components: Vec<Vec<usize>> = strongly_connected(&adjacency)
            .into_iter()
            .filter(|c| c.len() > 1 || c.iter().any(|&v| adjacency[v].contains(&v)))
            .collect();
        for c in &mut cyclic_components {
            c.sort_unstable();
        }
        cyclic_components.sort();

        // Which cycle (if any) holds each leaked object.
        let mut owner: Vec<Option<usize>> = vec![None; leaked.len()];
        let mut queue = VecDeque::new();
        for (c, component) in cyclic_components.iter().enumerate() {
            for &v in component {
                owner[v] = Some(c);
                queue.push_back(v);
            }
        }
        let mut held = vec![0usize; cyclic_components.len()];
        while let Some(v) = queue.pop_front() {
            let Some(c) = owner[v] else { continue };
            for &w in &adjacency[v] {
                if owner[w].is_none() {
                    owner[w] = Some(c);
                    held[c] += 1;
                    queue.push_back(w);
                }
            }
        }

        // Cycles of the same shape (the same sites in the same order) are one violation.
        let mut shapes: HashMap<String, usize> = HashMap::new();
        for (c, component) in cyclic_components.iter().enumerate() {
            let (violation, shape) = self.cycle_violation(&leaked, &edges, component, held[c]);
            match shapes.get(&shape).and_then(|&i| self.violations.get_mut(i)) {
                Some(existing) => existing.count += 1,
                None => {
                    shapes.insert(shape, self.violations.len());
                    self.push_violation(violation, None);
                }
            }
        }

        let mut by_site: BTreeMap<usize, Vec<ObjId>> = BTreeMap::new();
        for (i, &id) in leaked.iter().enumerate() {
            if owner[i].is_none()
                && let Some(o) = self.heap.get(id)
            {
                by_site.entry(o.site).or_default().push(id);
            }
        }
        let mut sites: Vec<(usize, Vec<ObjId>)> = by_site.into_iter().collect();
        sites.sort_by_key(|(_, ids)| ids[0]);
        for (site, ids) in sites {
            let first = ids[0];
            let message = if ids.len() == 1 {
                format!("{} was never freed", self.who(first))
            } else {
                let (label, id, span) = self
                    .heap
                    .sites
                    .get(site)
                    .map_or_else(Default::default, |s| (s.label.clone(), s.id.clone(), s.span));
                format!(
                    "{} objects from {id} ({label}, {}) were never freed (the first is #{first})",
                    ids.len(),
                    self.positions.render(span)
                )
            };
            let violation = self.end_violation(ViolationKind::Leak, first, message);
            self.push_violation(violation, None);
        }
    }

    /// A violation about an object, found at the end of the run.
    fn end_violation(&self, kind: ViolationKind, id: ObjId, message: String) -> Violation {
        let site = self.heap.site_of(id);
        Violation {
            kind,
            message,
            alloc_span: site.map_or(Span::NONE, |s| s.span),
            free_span: None,
            use_span: None,
            function: site
                .map_or_else(String::new, |s| crate::print::function_name(self.program, s.function)),
            alloc_site: site.map_or_else(String::new, |s| s.id.clone()),
            count: 1,
        }
    }

    /// The violation for one leaked cycle (the shortest cycle through its first object),
    /// and the cycle's shape: its sites and fields, for de-duplication.
    fn cycle_violation(
        &self,
        leaked: &[ObjId],
        edges: &[Vec<(usize, String)>],
        component: &[usize],
        held: usize,
    ) -> (Violation, String) {
        let start = component[0];
        let in_component = |v: usize| component.binary_search(&v).is_ok();
        // Breadth-first from `start` back to it, within the component.
        let mut parent: HashMap<usize, (usize, String)> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing: Option<(usize, String)> = None;
        'search: while let Some(v) = queue.pop_front() {
            for (w, label) in &edges[v] {
                if *w == start {
                    closing = Some((v, label.clone()));
                    break 'search;
                }
                if in_component(*w) && !parent.contains_key(w) {
                    parent.insert(*w, (v, label.clone()));
                    queue.push_back(*w);
                }
            }
        }
        let mut path = Vec::new(); // (node, label of the edge leaving it)
        if let Some((last, label)) = closing {
            let mut v = last;
            path.push((v, label));
            while v != start {
                let Some((p, label)) = parent.get(&v) else { break };
                path.push((*p, label.clone()));
                v = *p;
            }
            path.reverse();
        }
        let describe = |v: usize| {
            let id = leaked[v];
            match self.heap.site_of(id) {
                Some(s) => format!("{} #{id} ({}, {})", s.label, s.id, self.positions.render(s.span)),
                None => format!("#{id}"),
            }
        };
        let mut shape = format!("{} {held}", component.len());
        for (v, label) in &path {
            let site = self.heap.get(leaked[*v]).map_or(usize::MAX, |o| o.site);
            shape.push_str(&format!(" {site}.{label}"));
        }
        let mut chain = describe(start);
        for (i, (_, label)) in path.iter().enumerate() {
            let target =
                path.get(i + 1).map_or_else(|| "back to the first".to_string(), |(v, _)| describe(*v));
            chain.push_str(&format!(" -> `{label}` -> {target}"));
        }
        let n = path.len().max(1);
        let mut message = if component.len() > n {
            format!(
                "a group of {} objects that refer to each other was never freed; one cycle: {chain}",
                component.len()
            )
        } else {
            format!("a cycle of {n} object{} was never freed: {chain}", if n == 1 { "" } else { "s" })
        };
        if held > 0 {
            message.push_str(&format!(
                " (it holds {held} more leaked object{})",
                if held == 1 { "" } else { "s" }
            ));
        }
        (self.end_violation(ViolationKind::LeakedCycle, leaked[start], message), shape)
    }

    /// The references an object holds, each with the field, index or capture holding it.
    fn labeled_refs(&self, id: ObjId) -> Vec<(ObjId, String)> {
        let mut out = Vec::new();
        let Some(obj) = self.heap.get(id) else { return out };
        match &obj.body {
            Body::Object { class, fields } => {
                let def = self.program.classes.get(class.index());
                for (i, value) in fields.iter().enumerate() {
                    let name =
                        def.and_then(|d| d.fields.get(i)).map_or_else(|| format!("#{i}"), |f| f.name.clone());
                    out.extend(value.refs().into_iter().map(|r| (r, name.clone())));
                }
            }
            Body::Array(elems) => {
                for (i, value) in elems.iter().enumerate() {
                    out.extend(value.refs().into_iter().map(|r| (r, format!("[{i}]"))));
                }
            }
            Body::Closure { function, captures } => {
                let f = self.program.functions.get(function.index());
                for (i, value) in captures.iter().enumerate() {
                    let name = f
                        .and_then(|f| f.captures.get(i))
                        .and_then(|&l| f.and_then(|f| f.get_local(l)))
                        .and_then(|l| l.name.clone())
                        .unwrap_or_else(|| format!("capture {i}"));
                    out.extend(value.refs().into_iter().map(|r| (r, name.clone())));
                }
            }
            Body::Str(_) | Body::Gone => {}
        }
        out
    }
}

/// The strongly connected components of a graph over `0..n` (Tarjan's algorithm, with an
/// explicit stack so that a long chain cannot overflow the Rust stack).
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adjacency.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
            if let Some(&w) = adjacency[v].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::strongly_connected;

    #[test]
    fn components_of_a_small_graph() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3, 4 -> 4
        let graph = vec![vec![1], vec![2], vec![0, 3], vec![], vec![4]];
        let mut components: Vec<Vec<usize>> = strongly_connected(&graph)
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        components.sort();
        assert_eq!(components, vec![vec![0, 1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let n = 200_000;
        let graph: Vec<Vec<usize>> = (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] }).collect();
        let components = strongly_connected(&graph);
        assert_eq!(components.len(), 1);
        assert_eq!(components[0].len(), n);
    }
}
