//! An independent verifier of memory plans, in the spirit of regalloc2's checker.
//!
//! [`verify_plan`] takes an IR [`Program`] and a [`MemoryPlan`] and proves, for every
//! function and every path through its control-flow graph, that the plan's operations are
//! consistent with the semantics `ir::exec` gives them (spec/plan-format.md, 1.3 and 4).
//! It shares no code with the analysis that produced the plan (the `ir` crate does not
//! depend on `analysis`): it re-derives what it needs from the program and the plan alone,
//! so a bug in the escape or lifetime analysis cannot hide itself by being repeated here.
//! With the checked interpreter it shares only the reading of the format itself: what
//! an operation applies to (`plan::resolve_target`, spec/plan-format.md 4.1).
//!
//! # How
//!
//! An abstract interpretation of each function: a forward dataflow over the CFG, block by
//! block from a worklist, with a join at merges, to a fixpoint. The abstract state
//! (`state.rs`) says, for every local, which *value* it names (an identity given by where
//! the value came from: a parameter, the instruction that wrote it, a copy-on-write, a
//! merge), so that `copy` makes aliases, and for every value how many references the
//! function owns, whether it is still alive, what is known of its placement and where it
//! was loaded from. The transfer functions (`transfer.rs`) apply each instruction between
//! its `before` and `after` operations, exactly in the interpreter's order. Each block is
//! processed a bounded number of times (a block that does not settle after 64 visits gets
//! a note), no walk within a block is quadratic, and a merge where every local names the
//! same value on both sides (the common case) joins value by value without hashing. The
//! cost is that of a dense dataflow: each block's processing copies a state linear in the
//! function's locals and live values, so a function with thousands of simultaneously
//! live references and thousands of branches costs their product (3,000 `if`s over 3,000
//! live objects in one function: about 5 s and 1.2 GB in a release build; every program
//! of the repository: milliseconds). Entry states are kept only for merge points. The
//! whole-program points-to analysis (`points_to.rs`) costs what its sets hold, bounded
//! (500,000 values, beyond which it gives no facts): a chain of 1,000 functions each
//! returning the previous one's result takes about 7 s in a debug build, 4 s without
//! the facts.
//!
//! Ownership follows the execution model: a fresh allocation starts with one reference,
//! an `own` parameter arrives with one, a borrowed one with none; `dup` adds one (on a
//! value that may be counted), `drop`/`free`/`collect_cycles` release one; storing a value
//! into memory, passing it to an `own` parameter or a thread, and returning it hand one
//! over. Counts are kept per value, not per name, because which alias carries which
//! reference is not written anywhere; at a merge they are compared per group of values
//! linked by the locals that name them (`State::join` in `state.rs`). A callee's result is
//! owned by its caller unless the callee's plan returns borrowed values or only constant
//! data (decided by passes over every function until that settles). What placements the
//! plan gives the function's allocations (and all allocations of a class) says which
//! operations do anything to a value: counting ignores stack, arena and static memory.
//! Every check is a named rule ([`Rule`], documented in spec/rules.md, "Plan
//! verification"):
//!
//! - every owned reference is consumed exactly once on every path: nothing owned is left
//!   when its last name is overwritten or ended or when the function returns, and a stack
//!   or arena object with a `drop` block or owned heap references is destroyed
//!   (`verify-leak`); no value is released twice or released without being owned
//!   (`verify-double-release`, `verify-release-unowned`), nor a released place released
//!   again before a store; nothing is handed over without a reference of its own
//!   (`verify-handover-unowned`); paths agree at merges (`verify-path-mismatch`); a
//!   function returns owned results or borrowed ones, not both (`verify-return-mixed`);
//! - nothing is used, dup'd or moved after it was released, handed over, destroyed or
//!   freed with its arena (`verify-use-after-release`);
//! - a field is taken out of an object at most once (`verify-double-take`);
//! - a stored-over place is released only once the new value is secured
//!   (`verify-store-order`);
//! - releases use the operation the placement needs (`verify-release-kind`);
//! - `cow_in_place` is only applied to arrays not known to be shared or constant
//!   (`verify-cow-shared`), and writes through possibly shared arrays have a
//!   copy-on-write operation (`verify-cow-missing`);
//! - arenas open and close in step (`verify-arena-balance`);
//! - objects with a `drop` block die where plain counting lets them die: at their
//!   scope's end (last declared first), reassignment, `free` or return
//!   (`verify-observable-early`).
//!
//! # What it does not prove, and why
//!
//! The heap is not modelled: what a field or element holds is known only through the
//! local it was loaded into, so aliasing through memory (two locals loaded from fields
//! of two objects that may be one) and counts held by other frames and objects cannot be
//! judged locally. A verifier that guessed there would either reject correct plans or
//! accept wrong ones by luck; this one stays silent or emits a *note*
//! (`verify-unproven`), and the checked interpreter (`ir::exec`) remains the judge:
//! whether releasing a container frees what a local borrowed from it, cycles and their
//! collection, counts repeated by a run-time number (`count`), values handed to extern
//! code, whether an array written in place is shared through the heap, whether a stack or
//! arena object reaches memory that outlives it, and atomicity of counts shared between
//! threads. An error, on the other hand, is a path on which the plan breaks one of the
//! rules above. The converse gap: a plan that leaves out an operation only the whole
//! program shows to do nothing (on constant data or arena memory) could be rejected
//! though it runs clean. Such facts are re-derived from the program alone, never read
//! from the plan: a whole-program points-to analysis (`points_to.rs`) says which locals
//! can only hold constant data (`verify-fact-constant`) or memory of one placement
//! (`verify-fact-placement`), following values through fields, elements, globals,
//! parameters, results (a function returning a parameter, or what it reaches through
//! fields and elements, returns per call what that call's argument reaches:
//! `verify-fact-returned-parameter`) and closure calls; an element
//! loaded from an array the function made empty and has not filled ends the path
//! (`verify-fact-empty`); what a field holds at one point of a run is still not derived.
//! Older, narrower passes remain: a flow-insensitive
//! pass (`constants.rs`) finds the fields (of classes and structs) and globals that only
//! ever hold constants (to a fixpoint: loads from such places are constants too), and the
//! classes that closure calls pass (a closure body's parameter of another class never
//! receives a value, and is treated as counted, as every closure argument is); the
//! transfer functions remember, for an object the function allocated and has not exposed
//! (passed, stored, captured, returned), which fields hold constants or stack, arena or
//! static memory; a call through a closure value returns nothing counted when no closure
//! body of its arity does; a `dup`'d value stored back into the place that still holds it
//! hands nothing over.
//!
//! # Inputs
//!
//! Nothing in the plan is trusted (`input.rs`): a function the program does not have, an
//! operation on a local, global, scope or instruction that does not exist, an allocation
//! entry on an instruction that does not allocate, all become `verify-invalid-plan`
//! findings, never a panic.

mod constants;
mod input;
mod liveness;
mod points_to;
mod report;
mod state;
mod transfer;

pub use report::{Finding, Rule, RuleName, Severity, VerifyReport};

use crate::plan::{MemoryPlan, When};
use crate::{BlockId, FunctionId, InstAddr, InstKind, Program, Span};
use constants::ConstantPlaces;
use input::PlanInput;
use state::State;
use std::collections::{HashSet, VecDeque};
use transfer::{Raw, ResultConvention, Transfer};

/// Verifies `plan` against `program` (which should have passed [`validate()`](crate::validate()); the
/// verifier does not panic on one that has not, but its findings are then of little use).
pub fn verify_plan(program: &Program, plan: &MemoryPlan) -> VerifyReport {
    let input = PlanInput::build(program, plan);
    let mut constants = ConstantPlaces::find(program);
    constants.class_kinds = class_kinds(program, &input);
    constants.points_to = points_to::PointsTo::find(program, &input.functions);
    let mut report =
        VerifyReport { findings: Vec::new(), functions: program.functions.len() as u32, ops: input.ops };
    for p in &input.problems {
        report.findings.push(Finding {
            severity: Severity::Error,
            rule: RuleName(p.rule),
            function: p.function.clone(),
            path: Vec::new(),
            inst: p.inst,
            op: None,
            span: p.span,
            message: p.message.clone(),
        });
    }
    // How each function hands its result over (owned, borrowed, or nothing counted) is
    // found by passes over every function, from "owned everywhere" until it settles; the
    // last pass checks with what the others found.
    let mut conventions: Vec<Option<ResultConvention>> = vec![None; program.functions.len()];
    for _ in 0..MAX_CONVENTION_PASSES {
        let mut next = conventions.clone();
        for (id, slot) in next.iter_mut().enumerate() {
            // Only what a function returns matters here: one that returns no reference
            // needs no pass of its own.
            let returns_refs = program.functions[id]
                .ret
                .as_ref()
                .is_some_and(|t| t.value_kind() != crate::ValueKind::Immediate);
            if !returns_refs {
                *slot = Some(ResultConvention::Nothing);
                continue;
            }
            let (_, returned) =
                verify_function(program, &input, FunctionId::from(id), &conventions, &constants);
            *slot = Some(match returned {
                (true, _) => ResultConvention::Owned,
                (false, true) => ResultConvention::Borrowed,
                (false, false) => ResultConvention::Nothing,
            });
        }
        if next == conventions {
            break;
        }
        conventions = next;
    }
    for (id, function) in program.functions.iter().enumerate() {
        let (findings, returned) =
            verify_function(program, &input, FunctionId::from(id), &conventions, &constants);
        report.findings.extend(findings);
        if returned == (true, true) {
            report.findings.push(Finding {
                severity: Severity::Error,
                rule: RuleName(Rule::ReturnMixed),
                function: function.name.clone(),
                path: Vec::new(),
                inst: None,
                op: None,
                span: function.span,
                message: format!(
                    "`{}` returns a reference its caller owns on some paths and a borrowed one on others: no caller can release its result correctly",
                    function.name
                ),
            });
        }
    }
    report
}

/// How many passes may refine the result conventions (a chain of functions returning
/// each other's results settles in as many passes as it is long).
const MAX_CONVENTION_PASSES: usize = 6;

/// How many times a block may be processed before the verifier gives up on it.
const MAX_VISITS: u32 = 64;

/// Verifies one function; returns its findings and what its returns did (owned, borrowed).
fn verify_function(
    program: &Program,
    input: &PlanInput,
    id: FunctionId,
    conventions: &[Option<ResultConvention>],
    constants: &ConstantPlaces,
) -> (Vec<Finding>, (bool, bool)) {
    let Some(function) = program.functions.get(id.index()) else { return (Vec::new(), (false, false)) };
    let Some(fin) = input.functions.get(id.index()) else { return (Vec::new(), (false, false)) };
    let mut t = Transfer::new(program, id, fin, &input.functions, conventions, constants);
    let n = function.blocks.len();
    if n == 0 {
        return (Vec::new(), (false, false));
    }
    let mut entry: Vec<Option<State>> = vec![None; n];
    let mut reached_from: Vec<Option<usize>> = vec![None; n];
    let mut visits = vec![0u32; n];
    let mut queued = vec![false; n];
    let mut queue = VecDeque::from([0usize]);
    entry[0] = Some(t.entry());
    queued[0] = true;
    // Blocks with one predecessor are never joined into: their entry state is dropped
    // once used (a new state from the predecessor replaces it), which keeps the memory
    // to the merge points' states.
    let mut preds = vec![0u32; n];
    for block in &function.blocks {
        for succ in block.insts.last().map(|i| i.kind.successors()).unwrap_or_default() {
            if let Some(p) = preds.get_mut(succ.index()) {
                *p += 1;
            }
        }
    }
    let mut raws: Vec<(Raw, Option<usize>)> = Vec::new();
    while let Some(b) = queue.pop_front() {
        queued[b] = false;
        visits[b] += 1;
        let taken = if b != 0 && preds[b] == 1 { entry[b].take() } else { entry[b].clone() };
        let Some(mut state) = taken else { continue };
        if visits[b] > MAX_VISITS {
            let at = InstAddr { block: BlockId::from(b), index: 0 };
            let message = format!(
                "the states of b{b} did not settle after {MAX_VISITS} visits; the rest of this path is not verified"
            );
            t.raws.push(Raw { severity: Severity::Note, rule: Rule::Unproven, at, op: None, message });
            continue;
        }
        let block = &function.blocks[b];
        for (i, inst) in block.insts.iter().enumerate() {
            let at = InstAddr { block: BlockId::from(b), index: i as u32 };
            for op in fin.ops_at(at, When::Before) {
                t.op(&mut state, op, When::Before, at, &inst.kind);
            }
            t.inst(&mut state, at, &inst.kind);
            if t.path_ends {
                break;
            }
            for op in fin.ops_at(at, When::After) {
                t.op(&mut state, op, When::After, at, &inst.kind);
            }
            if matches!(inst.kind, InstKind::Return { .. }) {
                t.at_return(&state, at);
            }
        }
        raws.extend(t.raws.drain(..).map(|r| (r, None)));
        if std::mem::take(&mut t.path_ends) {
            continue;
        }
        state.collect_garbage();
        let successors = block.insts.last().map(|i| i.kind.successors()).unwrap_or_default();
        for succ in successors {
            let s = succ.index();
            if s >= n {
                continue;
            }
            let next = match &entry[s] {
                None => {
                    reached_from[s] = Some(b);
                    Some(state.clone())
                }
                Some(old) => {
                    let (joined, mismatches) = old.join(&state, succ, &mut t.values);
                    for m in mismatches {
                        let at = InstAddr { block: succ, index: 0 };
                        let message = format!(
                            "paths disagree on the references owned to the value of {}: {} on one path, {} on the path through b{b}; one of them leaks or releases twice",
                            t.name(m.local),
                            m.left,
                            m.right
                        );
                        let raw = Raw {
                            severity: Severity::Error,
                            rule: Rule::PathMismatch,
                            at,
                            op: None,
                            message,
                        };
                        raws.push((raw, Some(b)));
                    }
                    (joined != *old).then_some(joined)
                }
            };
            if let Some(next) = next {
                entry[s] = Some(next);
                if !queued[s] {
                    queued[s] = true;
                    queue.push_back(s);
                }
            }
        }
    }
    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    for (raw, via) in raws {
        let key = (raw.rule, raw.at, raw.op, raw.message.clone());
        if !seen.insert(key) {
            continue;
        }
        let mut path = match via {
            Some(pred) => {
                let mut p = path_to(&reached_from, pred);
                p.push(raw.at.block.0);
                p
            }
            None => path_to(&reached_from, raw.at.block.index()),
        };
        path.dedup();
        let span = function.inst(raw.at).map_or(Span::NONE, |i| i.span);
        let op = raw
            .op
            .and_then(|(k, when)| fin.plan_ops.get(k).map(|op| describe_op(program, function, op, when)));
        findings.push(Finding {
            severity: raw.severity,
            rule: RuleName(raw.rule),
            function: function.name.clone(),
            path,
            inst: Some(raw.at),
            op,
            span,
            message: raw.message,
        });
    }
    findings.sort_by_key(|f| (f.inst, f.severity));
    (findings, t.returned)
}

/// The kind every allocation site of a class shares, per class (classes whose sites are
/// placed in different ways are left out).
fn class_kinds(
    program: &Program,
    input: &PlanInput,
) -> std::collections::HashMap<crate::ClassId, state::Kind> {
    let mut kinds: std::collections::HashMap<crate::ClassId, Option<state::Kind>> = Default::default();
    for (function, fin) in program.functions.iter().zip(&input.functions) {
        for (addr, inst) in function.insts() {
            if let InstKind::NewObject { class, .. } = &inst.kind {
                let kind =
                    fin.allocs.get(&addr).map_or(state::Kind::Counted, |a| Transfer::kind_of(a.placement));
                let entry = kinds.entry(*class).or_insert(Some(kind));
                if *entry != Some(kind) {
                    *entry = None;
                }
            }
        }
    }
    kinds.into_iter().filter_map(|(c, k)| Some((c, k?))).collect()
}

/// The blocks from the entry to `block`, following the edges that first reached each.
fn path_to(reached_from: &[Option<usize>], block: usize) -> Vec<u32> {
    let mut path = vec![block as u32];
    let mut b = block;
    while let Some(Some(p)) = reached_from.get(b) {
        if path.len() > reached_from.len() {
            break;
        }
        path.push(*p as u32);
        b = *p;
    }
    path.reverse();
    path
}

/// `drop %3 before b0.5`, `drop n.next before b2.1`, `arena_exit s3 after b4.0`.
fn describe_op(program: &Program, function: &crate::Function, op: &crate::plan::Op, when: When) -> String {
    let local = |l: crate::LocalId| {
        function.get_local(l).and_then(|d| d.name.clone()).unwrap_or_else(|| format!("%{}", l.0))
    };
    let target = if let Some(g) = op.global {
        program.globals.get(g.index()).map_or_else(|| format!("global#{}", g.0), |g| g.name.clone())
    } else if let Some(scope) = op.scope {
        format!("s{}", scope.0)
    } else if let Some(l) = op.local {
        let base = local(l);
        match (op.field, op.index) {
            (Some(f), _) => {
                let field = function
                    .get_local(l)
                    .and_then(|d| program.field(&d.ty, f))
                    .map_or_else(|| f.to_string(), |fd| fd.name.clone());
                format!("{base}.{field}")
            }
            (None, Some(i)) => format!("{base}[{}]", local(i)),
            (None, None) => base,
        }
    } else {
        op.value.clone().unwrap_or_default()
    };
    let when = match when {
        When::Before => "before",
        When::After => "after",
    };
    let target = if target.is_empty() { String::new() } else { format!(" {target}") };
    format!("{}{target} {when} {}", op.op.as_str(), op.inst)
}

#[cfg(test)]
mod tests;
