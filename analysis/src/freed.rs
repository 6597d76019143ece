//! `freed`: where a variable is used after `free` ended it, and where it is freed twice.
//!
//! `free(x)` ends the *variable* `x` (`spec/language.md` 7.6): from the `free` on, until `x`
//! is assigned again, reading `x` is a `use-after-free` error (reported at the use) and a
//! second `free(x)` is a `double-free` error (reported at the second `free`); either way the
//! earlier `free` is the related span. The rule is the same in `@manual` functions. It is a
//! rule about variables, not objects: after `let y = x; free(x);` a read of `y` is not this
//! rule's business (in automatic code `y` keeps the object alive; in `@manual` code it
//! dangles, which the manual-memory checker, following objects, reports).
//!
//! Decided per function on the lowered IR, by a forward "may" dataflow over its CFG: at each
//! point, for every local that some `free` names, whether some path from the entry to the
//! point passes a `free` of it and no write of it afterwards, and if so which `free` (the
//! first in source order among those that may have ended it, so the related span does not
//! depend on the iteration order). The lattice per local is "live" below every `free`, a
//! join keeps the earliest `free` (elementwise minimum of their numbers), and a block's
//! entry value for a local can only move to an earlier `free` of that local, so each block
//! is re-run at most once per `free` of the function and the worklist ends. Only locals
//! that some `free` names are tracked (a state is one number per such local): a function
//! without `free` costs one scan of its instructions, one with `F` frees at most `F + 1`
//! passes over them (in practice one or two). The errors are collected by one more pass
//! over the solved states, so each instruction reports a mistake once however many paths
//! reach it.

use crate::diagnostic::span_range as text_range;
use crate::diagnostic::{Diagnostic, codes};
use crate::hir::infer::{InferenceResult, NodePtr, Resolution, infer_body};
use crate::hir::item_tree::{Body, body_source};
use crate::hir::lower::lower_body;
use custody_ir::{BlockId, Function, InstAddr, InstKind, LocalId, Span};
use custody_syntax::{SyntaxNode, TextRange};
use std::collections::{HashMap, VecDeque};

/// Which mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mistake {
    /// A read of a variable that a `free` may have ended (`use-after-free`).
    UseAfterFree,
    /// A `free` of a variable that a `free` may already have ended (`double-free`).
    DoubleFree,
}

/// A mistake found in one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FreeError {
    /// Which mistake.
    pub mistake: Mistake,
    /// The variable.
    pub local: LocalId,
    /// The instruction that reads it, or the second `free`.
    pub at: InstAddr,
    /// The `free` that ended it (on some path to `at`).
    pub freed_at: InstAddr,
}

/// The value of a local that no `free` has ended on any path so far.
const LIVE: u32 = u32::MAX;

/// The slot of a local that no `free` names (not tracked).
const UNTRACKED: u32 = u32::MAX;

/// The uses after `free` and second frees of one function, in block order (each
/// instruction and variable at most once).
pub fn check_function(function: &Function) -> Vec<FreeError> {
    let Some(flow) = Flow::new(function) else { return Vec::new() };
    let entry = flow.solve();
    let mut errors = Vec::new();
    for (b, state) in entry.iter().enumerate() {
        if let Some(mut state) = state.clone() {
            flow.block(BlockId::from(b), &mut state, Some(&mut errors));
        }
    }
    errors
}

/// The analysis of one function: which locals are tracked, and the `free`s in source order.
struct Flow<'f> {
    function: &'f Function,
    /// For each local, its place in the state, or `UNTRACKED` for a local no `free` names.
    slot: Vec<u32>,
    /// How many locals are tracked.
    tracked: usize,
    /// The `free` instructions, in source order: a free's number is its index here.
    frees: Vec<InstAddr>,
    /// The number of each `free` instruction.
    free_number: HashMap<InstAddr, u32>,
}

impl<'f> Flow<'f> {
    /// `None` when the function has no `free` (nothing to decide).
    fn new(function: &'f Function) -> Option<Flow<'f>> {
        let mut frees: Vec<(Span, InstAddr, LocalId)> = function
            .insts()
            .filter_map(|(addr, inst)| match inst.kind {
                InstKind::Free { value } => Some((inst.span, addr, value)),
                _ => None,
            })
            .collect();
        if frees.is_empty() {
            return None;
        }
        frees.sort_by_key(|(span, addr, _)| (span.start, span.end, *addr));
        let mut slot = vec![UNTRACKED; function.locals.len()];
        let mut tracked = 0;
        for (_, _, local) in &frees {
            if let Some(s) = slot.get_mut(local.index())
                && *s == UNTRACKED
            {
                *s = tracked as u32;
                tracked += 1;
            }
        }
        let free_number = frees.iter().enumerate().map(|(n, (_, addr, _))| (*addr, n as u32)).collect();
        Some(Flow {
            function,
            slot,
            tracked,
            frees: frees.into_iter().map(|(_, a, _)| a).collect(),
            free_number,
        })
    }

    fn slot(&self, local: LocalId) -> Option<usize> {
        self.slot.get(local.index()).filter(|s| **s != UNTRACKED).map(|s| *s as usize)
    }

    /// The entry state of every block control can reach from the entry (`None`: unreachable).
    fn solve(&self) -> Vec<Option<Vec<u32>>> {
        let blocks = self.function.blocks.len();
        let mut entry: Vec<Option<Vec<u32>>> = vec![None; blocks];
        if blocks == 0 {
            return entry;
        }
        entry[0] = Some(vec![LIVE; self.tracked]);
        let mut queued = vec![false; blocks];
        let mut worklist = VecDeque::from([0usize]);
        queued[0] = true;
        while let Some(b) = worklist.pop_front() {
            queued[b] = false;
            let Some(mut state) = entry[b].clone() else { continue };
            self.block(BlockId::from(b), &mut state, None);
            let successors =
                self.function.blocks[b].insts.last().map(|i| i.kind.successors()).unwrap_or_default();
            for succ in successors {
                let s = succ.index();
                if s >= blocks {
                    continue;
                }
                // rule free-join: a local may be ended after a join if it may be on some
                // incoming path; the earliest `free` (in source order) is kept.
                let changed = match &mut entry[s] {
                    None => {
                        entry[s] = Some(state.clone());
                        true
                    }
                    Some(old) => {
                        let mut changed = false;
                        for (o, n) in old.iter_mut().zip(&state) {
                            if *n < *o {
                                *o = *n;
                                changed = true;
                            }
                        }
                        changed
                    }
                };
                if changed && !queued[s] {
                    queued[s] = true;
                    worklist.push_back(s);
                }
            }
        }
        entry
    }

    /// Runs a block from its entry `state`, reporting mistakes when `errors` is given.
    fn block(&self, block: BlockId, state: &mut [u32], mut errors: Option<&mut Vec<FreeError>>) {
        for (index, inst) in self.function.blocks[block.index()].insts.iter().enumerate() {
            let at = InstAddr { block, index: index as u32 };
            self.step(at, &inst.kind, state, errors.as_deref_mut());
        }
    }

    fn step(&self, at: InstAddr, kind: &InstKind, state: &mut [u32], errors: Option<&mut Vec<FreeError>>) {
        let mut found: Vec<FreeError> = Vec::new();
        match kind {
            InstKind::Free { value } => {
                if let Some(s) = self.slot(*value) {
                    // rule free-double: a `free` of a variable a `free` may have ended.
                    if state[s] != LIVE {
                        found.push(self.error(Mistake::DoubleFree, *value, at, state[s]));
                    }
                    // rule free-ends-variable: from here the variable is ended.
                    state[s] = self.free_number.get(&at).copied().unwrap_or(LIVE);
                }
            }
            InstKind::ScopeEnter { locals, .. } => {
                // rule free-not-a-use: entering a scope is no read; rule free-reassign: the
                // variables it declares are new ones (a `let` in a loop, every iteration).
                for local in locals {
                    if let Some(s) = self.slot(*local) {
                        state[s] = LIVE;
                    }
                }
            }
            _ => {
                // rule free-use-after: every operand is a read (a `scope_exit` has none).
                for local in kind.uses() {
                    if let Some(s) = self.slot(local)
                        && state[s] != LIVE
                        && !found.iter().any(|e| e.local == local)
                    {
                        found.push(self.error(Mistake::UseAfterFree, local, at, state[s]));
                    }
                }
                // rule free-reassign: a write makes the variable usable again.
                if let Some(dest) = kind.dest()
                    && let Some(s) = self.slot(dest)
                {
                    state[s] = LIVE;
                }
            }
        }
        if let Some(errors) = errors {
            errors.extend(found);
        }
    }

    fn error(&self, mistake: Mistake, local: LocalId, at: InstAddr, free: u32) -> FreeError {
        FreeError { mistake, local, at, freed_at: self.frees[free as usize] }
    }
}

/// The `use-after-free` and `double-free` errors of a body and its closures, relative to
/// the body (like its type errors). Meaningful only for a body without other errors: it
/// reads the body's lowering. One diagnostic per place (two instructions lowered from one
/// use, or two paths to it, give one).
#[salsa::tracked(returns(ref))]
pub fn free_diagnostics<'db>(db: &'db dyn salsa::Database, body: Body<'db>) -> Vec<Diagnostic> {
    let lowered = lower_body(db, body);
    let functions: Vec<&Function> = lowered.function.iter().chain(&lowered.closures).collect();
    let found: Vec<(&Function, FreeError)> =
        functions.iter().flat_map(|f| check_function(f).into_iter().map(move |e| (*f, e))).collect();
    if found.is_empty() {
        return Vec::new();
    }
    let Some(green) = body_source(db, body).clone() else { return Vec::new() };
    let root = SyntaxNode::new_root(green);
    let infer = infer_body(db, body);
    let mut out: Vec<Diagnostic> =
        found.iter().map(|(function, error)| diagnostic(function, error, &root, infer)).collect();
    out.sort_by(|a, b| {
        (a.range.start(), a.range.end(), a.code).cmp(&(b.range.start(), b.range.end(), b.code))
    });
    out.dedup_by(|a, b| a.code == b.code && a.range == b.range);
    out
}

fn diagnostic(
    function: &Function,
    error: &FreeError,
    root: &SyntaxNode,
    infer: &InferenceResult,
) -> Diagnostic {
    let decl = function.get_local(error.local);
    let name = decl.and_then(|d| d.name.clone()).unwrap_or_else(|| format!("%{}", error.local.0));
    let span_of = |addr: InstAddr| function.inst(addr).map_or(Span::NONE, |i| i.span);
    let at = text_range(span_of(error.at));
    let diagnostic = match error.mistake {
        Mistake::UseAfterFree => {
            // The place to fix is the name itself, not the whole expression around it.
            let range = decl.and_then(|d| name_ref_within(root, infer, &name, d.span, at)).unwrap_or(at);
            Diagnostic::error(codes::USE_AFTER_FREE, range, format!("`{name}` is used after `free({name})`"))
        }
        Mistake::DoubleFree => Diagnostic::error(codes::DOUBLE_FREE, at, format!("`{name}` is freed twice")),
    };
    let freed = text_range(span_of(error.freed_at));
    // A `free` that reaches a place before it (or itself) came round a loop.
    let note = if freed.start() >= diagnostic.range.start() && freed != TextRange::default() {
        format!("`{name}` was freed here, in an earlier iteration of the loop")
    } else {
        format!("`{name}` was freed here")
    };
    diagnostic.with_related(freed, note)
}

/// The first mention of the variable declared at `decl` (named `name`) inside `range`.
fn name_ref_within(
    root: &SyntaxNode,
    infer: &InferenceResult,
    name: &str,
    decl: Span,
    range: TextRange,
) -> Option<TextRange> {
    let local = infer.locals.iter().position(|l| l.name == name && l.range == text_range(decl))?;
    crate::diagnostic::name_refs_within(root, range)
        .into_iter()
        .find(|n| {
            matches!(infer.names.get(&NodePtr::new(n)), Some(Resolution::Local(l)) if l.0 as usize == local)
        })
        .map(|n| n.text_range())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_ir::{FunctionBuilder, FunctionKind, ProgramBuilder, Type};

    /// The mistakes of a function `build` writes: (mistake, where, freed where).
    fn errors(build: impl FnOnce(&mut FunctionBuilder<'_>)) -> Vec<(Mistake, String, String)> {
        let mut p = ProgramBuilder::new();
        let f = p.declare_function("f", FunctionKind::Plain);
        build(&mut p.function(f));
        let program = p.finish();
        check_function(&program.functions[f.index()])
            .into_iter()
            .map(|e| (e.mistake, e.at.to_string(), e.freed_at.to_string()))
            .collect()
    }

    fn found(mistake: Mistake, at: &str, freed_at: &str) -> (Mistake, String, String) {
        (mistake, at.to_string(), freed_at.to_string())
    }

    #[test]
    fn a_read_after_a_free_on_one_branch_is_reported_once() {
        let errors = errors(|f| {
            let x = f.local("x", Type::String);
            let c = f.local("c", Type::Bool);
            f.const_str(x, "a").const_bool(c, true);
            let (then, other, join) = (f.new_block(), f.new_block(), f.new_block());
            f.branch(c, then, other);
            f.switch_to(then).free(x).jump(join);
            f.switch_to(other).jump(join);
            f.switch_to(join).print(x).print(x).ret(None);
        });
        assert_eq!(
            errors,
            vec![found(Mistake::UseAfterFree, "b3.0", "b1.0"), found(Mistake::UseAfterFree, "b3.1", "b1.0")]
        );
    }

    #[test]
    fn a_free_in_a_loop_is_a_double_free_unless_the_variable_is_written_again() {
        let looped = |rewrite: bool| {
            errors(|f| {
                let x = f.local("x", Type::String);
                let c = f.local("c", Type::Bool);
                f.const_str(x, "a");
                let (head, body, exit) = (f.new_block(), f.new_block(), f.new_block());
                f.jump(head);
                f.switch_to(head).const_bool(c, true).branch(c, body, exit);
                f.switch_to(body).free(x);
                if rewrite {
                    f.const_str(x, "b");
                }
                f.jump(head);
                f.switch_to(exit).ret(None);
            })
        };
        assert_eq!(looped(false), vec![found(Mistake::DoubleFree, "b2.0", "b2.0")]);
        assert_eq!(looped(true), vec![]);
    }

    #[test]
    fn scope_exits_are_not_reads_and_unreachable_code_is_not_checked() {
        let errors = errors(|f| {
            let x = f.local("x", Type::String);
            let scope = f.scope_enter(&[x]);
            f.const_str(x, "a").free(x).scope_exit(scope).ret(None);
            let dead = f.new_block();
            f.switch_to(dead).print(x).ret(None);
        });
        assert_eq!(errors, vec![]);
    }

    #[test]
    fn the_earliest_free_is_the_related_one_after_a_join() {
        let errors = errors(|f| {
            let x = f.local("x", Type::String);
            let c = f.local("c", Type::Bool);
            f.const_str(x, "a").const_bool(c, true);
            let (then, other, join) = (f.new_block(), f.new_block(), f.new_block());
            f.branch(c, then, other);
            f.switch_to(then).set_span(Span::new(10, 17)).free(x).clear_span().jump(join);
            f.switch_to(other).set_span(Span::new(30, 37)).free(x).clear_span().jump(join);
            f.switch_to(join).free(x).ret(None);
        });
        assert_eq!(errors, vec![found(Mistake::DoubleFree, "b3.0", "b1.0")]);
    }
}
