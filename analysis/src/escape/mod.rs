//! Escape analysis: how far every allocation and parameter escapes, and why.
//!
//! # The question
//!
//! For every allocation site: can the object outlive the function that creates it, and if
//! so, through what? The answer is one of four states, least to most escaping:
//! `contained` (never outlives the function), `binding` (leaves only through the result,
//! or into the contents of a parameter: the caller gets control), `uncontained` (stored
//! where the bound is lost: a global, unknown code) and `thread` (reachable from another
//! thread). The same question about a parameter (and everything reachable from it) gives
//! the function's *summary*, which is how a caller learns what a call does with its
//! arguments without looking inside.
//!
//! # The model
//!
//! The analysis is a field-sensitive points-to analysis over the IR, per function:
//!
//! - *Abstract objects* ([`graph::Obj`]): each allocation instruction; each parameter (and
//!   each object reachable inside it, named by its field path, cut off at a small depth);
//!   each call result that is fresh; what globals and unknown code hold.
//! - *Nodes* ([`graph::Node`]) hold references to abstract objects: every *definition* of
//!   a local (an instruction writing it, or its value on entry), every field of every
//!   abstract object (`obj.f`, the elements `obj[]`, a closure's captured slots), the
//!   function's result, and every global. Because nodes are definitions, not variables, a
//!   variable reused for two objects keeps them apart (Go merges them); because fields
//!   are nodes of their object, `a.x = b` does not make `a.y` escape (Go is field-blind).
//! - *Constraints* ([`graph::Constraint`]), one or more per instruction, each named by the
//!   rule in `spec/rules.md` that justifies it (`esc-copy`, `esc-field-store`,
//!   `esc-call-summary`, ...): `node ∋ obj`, `pts(a) ⊆ pts(b)`, loads and stores through
//!   the objects a node points to, and escapes to sinks (a global, a thread, unknown code).
//! - The solution ([`solve`]) is the least set of points-to facts closed under the
//!   constraints, computed with a worklist; [`reference`] computes the same by plain
//!   iteration and is the check on it.
//!
//! States follow from reachability over the solution: an object reachable (through
//! fields) from a thread sink is `thread`, from a global or unknown code `uncontained`,
//! from the result or from a store into a parameter's contents `binding`.
//!
//! # Between functions
//!
//! Functions are analysed bottom-up over the call graph's strongly connected components;
//! inside a component (recursion) the summaries are iterated to a fixpoint from empty,
//! which terminates because they only grow. A call applies the callee's summary
//! ([`summary`]): for each parameter, where (which part of) it flows — the result, a field
//! path of another parameter, a global, a thread, unknown code — so `store_into(a, b)`
//! makes `b` reach `a.item` exactly, not "the heap". A call of a closure whose literal the
//! analysis can see applies the closure body's summary (its captures are extra
//! parameters); a closure that arrives from elsewhere is unknown code.
//!
//! # Witnesses
//!
//! Every fact records the constraint that first produced it, so every verdict other than
//! `contained` can be explained ([`explain`]): the shortest chain of flows from the
//! allocation to where the bound was lost, each step with its instruction and a sentence.

pub mod describe;
pub mod explain;
pub mod graph;
pub mod reaching;
pub mod reference;
pub mod solve;
pub mod summary;

use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{FunctionId, InstAddr, InstKind};
use graph::{Constraint, FunctionGraph, Obj, Rule, Sel, Sink, Summaries};
use petgraph::graph::DiGraph;
use solve::{ClosureCalls, Solution};
use std::collections::HashMap;
use summary::Summary;

/// Bound on the fixpoint iterations of one recursive component. Summaries only grow and
/// paths are cut off, so this is never reached in practice; if it is, the component's
/// parameters are treated as escaping to unknown code, which is always sound.
const MAX_ROUNDS: usize = 64;

/// The escape analysis of one function.
pub struct FunctionEscape {
    /// Its constraints (with the field nodes and instantiated calls the solver added).
    pub graph: FunctionGraph,
    /// The solution.
    pub solution: Solution,
    /// Every object's state and witness.
    pub verdicts: explain::Verdicts,
    /// What it does with its parameters, for its callers.
    pub summary: Summary,
}

impl FunctionEscape {
    /// The escape state of the object an allocation instruction creates.
    pub fn allocation_escape(&self, at: InstAddr) -> Escape {
        self.graph.objs.get(&Obj::Alloc(at)).map_or(Escape::Contained, |o| self.verdicts.escape(o))
    }
}

/// The escape analysis of a whole program, one entry per function.
pub struct ProgramEscape {
    /// Per function, by id.
    pub functions: Vec<FunctionEscape>,
}

struct Table<'a> {
    summaries: &'a [Option<Summary>],
}

impl Summaries for Table<'_> {
    fn summary(&self, function: FunctionId) -> Option<&Summary> {
        self.summaries.get(function.index()).and_then(Option::as_ref)
    }
}

/// Closure calls, resolved against the closure literals of the function being analysed.
struct Closures<'a> {
    function: &'a ir::Function,
    table: &'a Table<'a>,
}

impl ClosureCalls for Closures<'_> {
    fn instantiate(&self, g: &mut FunctionGraph, obj: u32, call: &Constraint) {
        let Constraint::CallClosure { args, dest, at, .. } = call else { return };
        // rule esc-closure-call: a closure literal of this function: its body's summary,
        // with the captured values (the closure's environment) as extra arguments.
        if let Obj::Alloc(site) = g.objs.item(obj).clone()
            && let Some(InstKind::NewClosure { function, captures, .. }) =
                self.function.inst(site).map(|i| &i.kind)
        {
            let mut all_args = args.clone();
            for k in 0..captures.len() {
                let (env, _) = g.field(obj, Sel::Env(k as u32));
                all_args.push(env);
            }
            let empty = Summary::default();
            let summary = self.table.summary(*function).unwrap_or(&empty);
            graph::apply_summary(g, summary, &all_args, *dest, *at, Rule::ClosureCall);
            return;
        }
        // rule esc-unknown-call: any other closure is unknown code: its arguments escape,
        // and its result comes from outside. Its captured values go to the code it runs,
        // which may return them or let them escape (the literal is not known here), so
        // everything inside the closure escapes too; the closure object itself does not
        // (its code cannot name it).
        graph::contents_escape(g, obj, Sink::Unknown, *at, Rule::UnknownCall);
        for &node in args {
            g.constraints.push((
                Constraint::Escape { node, sink: Sink::Unknown },
                graph::Origin { rule: Rule::UnknownCall, at: Some(*at) },
            ));
        }
        if let Some(d) = dest {
            let unknown = g.obj(Obj::Unknown);
            g.constraints.push((
                Constraint::AddrOf { node: *d, obj: unknown },
                graph::Origin { rule: Rule::UnknownCall, at: Some(*at) },
            ));
        }
    }
}

/// The number of summary parameters of a function: its parameters, then its captures.
fn arity(f: &ir::Function) -> usize {
    f.params.len() + f.captures.len()
}

/// Which functions a function's analysis depends on: its direct callees, spawned
/// functions and the bodies of the closures it creates.
fn dependencies(f: &ir::Function) -> Vec<FunctionId> {
    let mut out = Vec::new();
    for (_, inst) in f.insts() {
        match &inst.kind {
            InstKind::Call { callee: ir::Callee::Function(c), .. }
            | InstKind::Spawn { callee: ir::Callee::Function(c), .. } => out.push(*c),
            InstKind::NewClosure { function, .. } => out.push(*function),
            _ => {}
        }
    }
    out
}

/// Analyses one function against the current summaries.
pub fn analyze_function(
    program: &ir::Program,
    fid: FunctionId,
    summaries: &[Option<Summary>],
    reference: bool,
    definitions: Option<&graph::Definitions>,
) -> FunctionEscape {
    let table = Table { summaries };
    let mut g = graph::build(program, fid, &table, definitions);
    let empty = ir::Function {
        name: String::new(),
        kind: ir::FunctionKind::Plain,
        arena: false,
        manual: false,
        params: vec![],
        captures: vec![],
        ret: None,
        locals: vec![],
        blocks: vec![],
        span: ir::Span::NONE,
    };
    let function = program.functions.get(fid.index()).unwrap_or(&empty);
    let closures = Closures { function, table: &table };
    let solution = if reference {
        reference::solve_reference(&mut g, &closures)
    } else {
        solve::solve(&mut g, &closures)
    };
    let verdicts = explain::Verdicts::compute(&g, &solution);
    let summary = summary::compute(&g, &solution, arity(function));
    FunctionEscape { graph: g, solution, verdicts, summary }
}

/// Analyses a whole program: bottom-up over the call graph's strongly connected
/// components, iterating each recursive component's summaries to a fixpoint (rule sum-scc).
pub fn analyze(program: &ir::Program) -> ProgramEscape {
    analyze_with(program, false)
}

/// [`analyze`] with the reference solver (for testing the fast one).
pub fn analyze_reference(program: &ir::Program) -> ProgramEscape {
    analyze_with(program, true)
}

fn analyze_with(program: &ir::Program, reference: bool) -> ProgramEscape {
    let n = program.functions.len();
    let mut calls = DiGraph::<usize, ()>::with_capacity(n, n);
    let nodes: Vec<_> = (0..n).map(|i| calls.add_node(i)).collect();
    for (i, f) in program.functions.iter().enumerate() {
        for dep in dependencies(f) {
            if dep.index() < n {
                calls.add_edge(nodes[i], nodes[dep.index()], ());
            }
        }
    }
    let mut summaries: Vec<Option<Summary>> = vec![None; n];
    let mut results: Vec<Option<FunctionEscape>> = (0..n).map(|_| None).collect();
    // Tarjan's algorithm yields components callees first.
    for component in crate::scc::tarjan_scc(&calls) {
        let members: Vec<usize> = component.iter().map(|&node| calls[node]).collect();
        for &m in &members {
            summaries[m] = Some(Summary {
                params: vec![Default::default(); arity(&program.functions[m])],
                ..Summary::default()
            });
        }
        let mut rounds = 0;
        // A single function that calls no member of its component needs one round.
        let recursive = members.len() > 1
            || dependencies(&program.functions[members[0]]).iter().any(|d| d.index() == members[0]);
        // The members' definitions and reads, once for all rounds.
        let definitions: HashMap<usize, graph::Definitions> = if recursive {
            members.iter().map(|&m| (m, graph::Definitions::of(program, &program.functions[m]))).collect()
        } else {
            HashMap::new()
        };
        loop {
            let mut changed = false;
            for &m in &members {
                let mut result = analyze_function(
                    program,
                    FunctionId(m as u32),
                    &summaries,
                    reference,
                    definitions.get(&m),
                );
                // Inside a recursive component each round's summary is joined with the last
                // one, so the summaries only grow: a widened parameter (rule sum-widen) makes
                // the next round's flows fewer, and without the join the two could take
                // turns until MAX_ROUNDS.
                if recursive && let Some(old) = &summaries[m] {
                    result.summary = summary::join(old, &result.summary);
                }
                if summaries[m].as_ref() != Some(&result.summary) {
                    changed = true;
                    summaries[m] = Some(result.summary.clone());
                }
                results[m] = Some(result);
            }
            rounds += 1;
            if !changed || !recursive {
                break;
            }
            if rounds >= MAX_ROUNDS {
                for &m in &members {
                    if let Some(s) = summaries[m].as_mut() {
                        for p in &mut s.params {
                            p.flows.extend(summary::widened());
                        }
                        s.returns_outside = true;
                    }
                }
                for &m in &members {
                    results[m] = Some(analyze_function(
                        program,
                        FunctionId(m as u32),
                        &summaries,
                        reference,
                        definitions.get(&m),
                    ));
                }
                break;
            }
        }
    }
    ProgramEscape {
        functions: results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    analyze_function(program, FunctionId(i as u32), &summaries, reference, None)
                })
            })
            .collect(),
    }
}
