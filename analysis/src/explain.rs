//! `explain`: why the allocation or parameter at a source position escapes, as the chain
//! of flows from it to where the bound was lost.

use crate::escape::describe::{Position, Sentence, sentences};
use crate::escape::graph::{Obj, Rule};
use crate::escape::{FunctionEscape, ProgramEscape};
use crate::plan::local_name;
use custody_ir as ir;
use custody_ir::plan::Escape;
use custody_ir::{Callee, InstAddr, InstKind, LocalId};
use custody_syntax::{LineCol, LineIndex};
use serde::Serialize;
use std::collections::HashMap;

/// What is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// An allocation site.
    Allocation,
    /// A parameter.
    Parameter,
}

/// One explained verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Allocation or parameter.
    pub subject: Subject,
    /// The allocation's plan id (`main#3`) or the parameter's `function(name)`.
    pub id: String,
    /// The function it belongs to.
    pub function: String,
    /// Its escape state.
    pub escape: Escape,
    /// Its source.
    pub span: ir::Span,
    /// The chain, in order.
    pub steps: Vec<Step>,
}

/// One step of the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Where (empty for steps that are facts, not instructions).
    pub span: ir::Span,
    /// The rule of `spec/rules.md` that justifies it.
    pub rule: &'static str,
    /// What happened.
    pub text: String,
}

impl From<Sentence> for Step {
    fn from(s: Sentence) -> Step {
        Step { span: s.span, rule: s.rule, text: s.text }
    }
}

/// Every allocation and parameter at `line` (and `col`, if given: the innermost whose
/// source contains it), explained.
pub fn explain_at(
    program: &ir::Program,
    escape: &ProgramEscape,
    index: &LineIndex,
    text: &str,
    line: u32,
    col: Option<u32>,
    pos: Position<'_>,
) -> Vec<Explanation> {
    let offset = col.and_then(|c| index.offset(LineCol { line, col: c }, text)).map(u32::from);
    let on_line = |span: ir::Span| span != ir::Span::NONE && index.line_col(span.start.into()).line == line;
    let matches = |span: ir::Span| match offset {
        Some(o) => span.start <= o && o < span.end.max(span.start + 1),
        None => on_line(span),
    };
    let program_escape = escape;
    let mut found: Vec<Explanation> = Vec::new();
    for (fi, f) in program.functions.iter().enumerate() {
        let fe = &escape.functions[fi];
        let mut n = 0;
        for (at, inst) in f.insts() {
            if !inst.kind.is_allocation() {
                continue;
            }
            let id = format!("{}#{n}", f.name);
            n += 1;
            if !matches(inst.span) {
                continue;
            }
            let obj = fe.graph.objs.get(&Obj::Alloc(at));
            let escape = obj.map_or(Escape::Contained, |o| fe.verdicts.escape(o));
            let mut steps: Vec<Step> = obj
                .map(|o| sentences(program, f, fe, o, pos))
                .unwrap_or_default()
                .into_iter()
                .map(Step::from)
                .collect();
            through_callees(program, program_escape, Vec::new(), f, fe, &mut steps, obj, pos);
            found.push(Explanation {
                subject: Subject::Allocation,
                id,
                function: f.name.clone(),
                escape,
                span: inst.span,
                steps,
            });
        }
        for (i, &p) in f.params.iter().enumerate() {
            let Some(decl) = f.get_local(p) else { continue };
            if !matches(decl.span) {
                continue;
            }
            let escape = fe.summary.params.get(i).map_or(Escape::Contained, |s| s.escape());
            let (obj, mut steps) = match parameter_witness(program, f, fe, i, escape, &|_| true, pos) {
                Some((o, steps)) => (Some(o), steps),
                None => (None, Vec::new()),
            };
            through_callees(program, program_escape, vec![(fi, i)], f, fe, &mut steps, obj, pos);
            found.push(Explanation {
                subject: Subject::Parameter,
                id: format!("{}({})", f.name, local_name(f, p)),
                function: f.name.clone(),
                escape,
                span: decl.span,
                steps,
            });
        }
    }
    // Innermost first when a column narrows it down.
    if offset.is_some() {
        found.sort_by_key(|e| e.span.len());
        found.truncate(1);
    }
    found
}

/// The witness of parameter `i` of `f` whose state is `escape`: the part of the parameter
/// that escapes that far (the shallowest first; for a struct parameter, its own copy when no
/// part of the caller's value does) among the objects `accept` admits, and the chain from
/// it. A part below the parameter itself gets a first step saying where it is. `None` when
/// the state is `contained` or no admitted part escapes that far.
pub fn parameter_witness(
    program: &ir::Program,
    f: &ir::Function,
    fe: &FunctionEscape,
    i: usize,
    escape: Escape,
    accept: &dyn Fn(u32) -> bool,
    pos: Position<'_>,
) -> Option<(u32, Vec<Step>)> {
    if escape == Escape::Contained {
        return None;
    }
    let p = *f.params.get(i)?;
    // The parameter's state covers everything inside it: explain the part that escapes
    // worst, the shallowest first.
    let mut parts: Vec<(usize, u32)> = (0..fe.graph.objs.len() as u32)
        .filter_map(|o| match fe.graph.objs.item(o) {
            Obj::Param(j, path) if *j == i as u32 => Some((path.steps.len() + usize::from(path.deep), o)),
            _ => None,
        })
        .collect();
    parts.sort_unstable();
    let own_copy = fe.graph.objs.get(&Obj::ParamCopy(i as u32));
    let worst = parts
        .into_iter()
        .map(|(_, o)| o)
        .chain(own_copy)
        .find(|&o| fe.verdicts.escape(o) == escape && accept(o))?;
    let mut steps = Vec::new();
    if let Obj::Param(_, path) = fe.graph.objs.item(worst)
        && (!path.steps.is_empty() || path.deep)
    {
        let ty = f.get_local(p).map(|l| l.ty.clone());
        let at = crate::inferred::path_text(program, ty, &path.steps, path.deep);
        steps.push(Step {
            span: ir::Span::NONE,
            rule: "esc-param-content",
            text: format!("the object at `{}{at}` is part of the parameter", local_name(f, p)),
        });
    }
    steps.extend(sentences(program, f, fe, worst, pos).into_iter().map(Step::from));
    Some((worst, steps))
}

impl Explanation {
    /// The explanation as text: a headline and the numbered steps.
    pub fn text(&self, source: &str, pos: Position<'_>) -> String {
        let what = match self.subject {
            Subject::Allocation => {
                let snippet = source.get(self.span.start as usize..self.span.end as usize).unwrap_or("");
                let snippet: String = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
                let snippet = if snippet.chars().count() > 40 {
                    format!("{}...", snippet.chars().take(40).collect::<String>())
                } else {
                    snippet
                };
                format!("allocation {} at {} (`{}`)", self.id, pos(self.span), snippet)
            }
            Subject::Parameter => format!("parameter {} at {}", self.id, pos(self.span)),
        };
        let state = match self.escape {
            Escape::Contained => "contained",
            Escape::Binding => "binding",
            Escape::Uncontained => "uncontained",
            Escape::Thread => "thread",
        };
        let mut out = format!("{what} is `{state}`");
        if self.steps.is_empty() {
            out.push_str(match self.subject {
                Subject::Allocation => ": it never outlives its function\n",
                Subject::Parameter => ": the function does not keep it\n",
            });
            return out;
        }
        out.push_str(":\n");
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}  [{}]\n", i + 1, step.text, step.rule));
        }
        out
    }
}

/// Where the chain `steps` ends in a call that keeps the value, continues it in the callee
/// (and its callees): a step naming the callee's parameter, then that parameter's witness.
/// The fact that ended the chain so far (`esc-state-…`) gives way to the callee's.
#[allow(clippy::too_many_arguments)]
fn through_callees(
    program: &ir::Program,
    escape: &ProgramEscape,
    seen: Vec<(usize, usize)>,
    f: &ir::Function,
    fe: &FunctionEscape,
    steps: &mut Vec<Step>,
    obj: Option<u32>,
    pos: Position<'_>,
) {
    for ((c, j), callee_steps) in callee_witnesses(program, escape, seen, f, fe, steps, obj, pos) {
        if steps.last().is_some_and(|s| s.span == ir::Span::NONE && s.rule.starts_with("esc-state-")) {
            steps.pop();
        }
        let callee = &program.functions[c];
        let name = callee.params.get(j).map_or_else(String::new, |&p| local_name(callee, p));
        steps.push(Step {
            span: ir::Span::NONE,
            rule: Rule::CallSummary.name(),
            text: format!("in `{}`, as its parameter `{name}`:", callee.name),
        });
        steps.extend(callee_steps);
    }
}

/// How many callees deep a witness is followed.
pub(crate) const MAX_CALL_DEPTH: usize = 8;

/// Where a witness (`steps`, explaining object `obj` of `f`) ends in a call that keeps the
/// value (rule esc-call-summary), the witness of the callee's parameter that received it
/// (the object itself or one holding it), and so on callee by callee: at most
/// [`MAX_CALL_DEPTH`] deep, each function and parameter once (`seen` holds those already
/// explained). Each entry names the callee and its parameter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn callee_witnesses<'a>(
    program: &'a ir::Program,
    escape: &'a ProgramEscape,
    mut seen: Vec<(usize, usize)>,
    mut f: &'a ir::Function,
    mut fe: &'a FunctionEscape,
    steps: &[Step],
    obj: Option<u32>,
    pos: Position<'_>,
) -> Vec<((usize, usize), Vec<Step>)> {
    let mut out = Vec::new();
    let (mut steps, mut obj) = (steps.to_vec(), obj);
    while let Some(obj_here) = obj
        && let Some((c, j)) = keeping_callee(f, fe, &steps, obj_here)
        && !seen.contains(&(c, j))
        && seen.len() <= MAX_CALL_DEPTH
    {
        seen.push((c, j));
        let (Some(callee), Some(callee_fe)) = (program.functions.get(c), escape.functions.get(c)) else {
            break;
        };
        let state = callee_fe.summary.params.get(j).map_or(Escape::Contained, |s| s.escape());
        let Some((o, callee_steps)) = parameter_witness(program, callee, callee_fe, j, state, &|_| true, pos)
        else {
            break;
        };
        out.push(((c, j), callee_steps.clone()));
        (f, fe, steps, obj) = (callee, callee_fe, callee_steps, Some(o));
    }
    out
}

/// When a witness ends with a call that keeps the value (rule esc-call-summary), the
/// callee and its parameter that received the witness's object (or an object it is
/// inside).
fn keeping_callee(f: &ir::Function, fe: &FunctionEscape, steps: &[Step], obj: u32) -> Option<(usize, usize)> {
    let last = steps.iter().rev().find(|s| s.span != ir::Span::NONE)?;
    if last.rule != Rule::CallSummary.name() {
        return None;
    }
    let (at, callee, args) = f.insts().find_map(|(at, inst)| match &inst.kind {
        InstKind::Call { callee: Callee::Function(c), args, .. } if inst.span == last.span => {
            Some((at, *c, args))
        }
        _ => None,
    })?;
    let queries: Vec<(InstAddr, LocalId)> = args.iter().map(|&a| (at, a)).collect();
    let held = holds_at(fe, &queries);
    let holds = |a: LocalId| held.get(&(at, a)).map_or(&[][..], Vec::as_slice);
    let j = args.iter().position(|&a| holds(a).contains(&obj)).or_else(|| {
        args.iter().position(|&a| {
            crate::escape::summary::reach_with_paths(&fe.graph, &fe.solution, holds(a))
                .iter()
                .any(|&(o, _)| o == obj)
        })
    })?;
    Some((callee.index(), j))
}

/// The objects each queried `local` may hold when its instruction `at` reads it: the
/// points-to set of the value the escape analysis resolved that read to (one definition
/// or one merge of the definitions that reach there).
pub(crate) fn holds_at(
    fe: &FunctionEscape,
    queries: &[(InstAddr, LocalId)],
) -> HashMap<(InstAddr, LocalId), Vec<u32>> {
    queries
        .iter()
        .map(|&(at, l)| {
            let objs = fe.graph.read_node(at, l).map_or(&[][..], |node| fe.solution.pts(node));
            ((at, l), objs.to_vec())
        })
        .collect()
}
