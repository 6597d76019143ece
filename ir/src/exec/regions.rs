//! Memory that is freed as a whole: a frame's stack objects when it returns, an arena's
//! objects when it exits.
//!
//! When a region ends, every object in it that is still live and whose class has a `drop`
//! block is a skipped destructor (the plan should have destroyed it); then all its objects
//! become tombstones; then any of them that is still referenced dangles. A reference counts
//! if it is held by memory that is not freed (an object's field, element or capture, a
//! global, a spawned call's argument), by a live local of the frame that exits the arena
//! (live: some path still reads it, see [`super::liveness`]), or by the value a returning
//! frame hands back. Frames below cannot hold anything allocated after them, and spawned
//! calls run to completion one at a time, so nothing else needs looking at.

use super::liveness::Liveness;
use super::machine::{Machine, Stop};
use super::value::{ObjId, Value};
use super::{Violation, ViolationKind};
use crate::plan::When;
use crate::{InstAddr, LocalId, ScopeId, Span};
use std::collections::HashMap;

/// An arena: the objects allocated in it, freed together when it exits.
#[derive(Debug, Clone)]
pub(super) struct Arena {
    /// Its scope.
    pub(super) scope: ScopeId,
    /// Its objects, in allocation order.
    pub(super) objects: Vec<ObjId>,
    /// Whether it is still open.
    pub(super) open: bool,
    /// Where it was opened.
    pub(super) span: Span,
}

/// Which region ends.
enum Region<'r> {
    Arena(ScopeId),
    Frame(&'r str),
}

impl Machine<'_> {
    /// `arena_enter`: a fresh arena opens in the current frame.
    pub(super) fn arena_enter(&mut self, scope: ScopeId) -> Result<(), Stop> {
        let span = self.span;
        let id = self.arenas.len();
        self.frame()?.arenas.push(id);
        self.arenas.push(Arena { scope, objects: Vec::new(), open: true, span });
        self.trace(|| format!("arena enter s{}", scope.0));
        Ok(())
    }

    /// `arena_exit`: the innermost open arena of `scope` in this frame (and any opened
    /// after it) is freed.
    pub(super) fn arena_exit(
        &mut self,
        scope: ScopeId,
        at: InstAddr,
        when: When,
        k: usize,
    ) -> Result<(), Stop> {
        let open = self.frame()?.arenas.clone();
        let Some(pos) = open.iter().rposition(|&a| self.arenas.get(a).is_some_and(|a| a.scope == scope))
        else {
            let span = self.span;
            let message = format!(
                "`arena_exit` of s{} at {}, which is not open here",
                scope.0,
                self.positions.render(span)
            );
            self.violation(ViolationKind::InvalidPlan, None, Some(span), Some(span), message);
            return Ok(());
        };
        self.frame()?.arenas.truncate(pos);
        let roots = self.live_roots(at, when, k)?;
        for &a in open[pos..].iter().rev() {
            self.close_arena(a, &roots);
        }
        Ok(())
    }

    /// The arena an `arena` allocation goes to: the innermost open arena of `scope` in the
    /// current frame, else the current frame's innermost, else the innermost open arena of
    /// a calling frame (a callee's fresh result gathered in its caller's arena).
    pub(super) fn find_arena(&self, scope: Option<ScopeId>) -> Option<usize> {
        let thread = self.threads.last()?;
        let mut frames = thread.stack.iter().rev().filter_map(|a| match a {
            super::machine::Act::Frame(f) => Some(f),
            super::machine::Act::Task(_) => None,
        });
        let current = frames.next()?;
        if let Some(scope) = scope
            && let Some(&a) =
                current.arenas.iter().rev().find(|&&a| self.arenas.get(a).is_some_and(|a| a.scope == scope))
        {
            return Some(a);
        }
        current.arenas.last().copied().or_else(|| frames.find_map(|f| f.arenas.last().copied()))
    }

    /// The references held by live locals of the current frame just after operation `k`
    /// of side `when` of the instruction at `at`, each with the local's name.
    fn live_roots(&mut self, at: InstAddr, when: When, k: usize) -> Result<HashMap<ObjId, String>, Stop> {
        let (program, plan) = (self.program, self.plan);
        let function = self.frame()?.function;
        let (Some(func), Some(fplan)) = (program.functions.get(function.index()), plan.function(function))
        else {
            return Ok(HashMap::new());
        };
        let liveness = self.liveness.entry(function).or_insert_with(|| Liveness::compute(func, fplan));
        let live = liveness.after_op(func, fplan, at, when, k);
        let mut roots = HashMap::new();
        for (i, value) in self.frame()?.locals.iter().enumerate() {
            let local = LocalId::from(i);
            if live.contains(local) {
                for r in value.refs() {
                    roots.entry(r).or_insert_with(|| {
                        match func.get_local(local).and_then(|l| l.name.as_deref()) {
                            Some(name) => format!("local `{name}`"),
                            None => format!("temporary %{i}"),
                        }
                    });
                }
            }
        }
        Ok(roots)
    }

    /// Frees an arena and checks what still refers into it.
    fn close_arena(&mut self, a: usize, roots: &HashMap<ObjId, String>) {
        let Some(arena) = self.arenas.get_mut(a) else { return };
        arena.open = false;
        let objects = std::mem::take(&mut arena.objects);
        let scope = arena.scope;
        let n = objects.len();
        self.trace(|| format!("arena exit s{}: {n} objects", scope.0));
        self.end_region(objects, Region::Arena(scope), roots);
    }

    /// Ends the top frame's regions before it returns `value`: arenas it left open, then
    /// its stack objects.
    pub(super) fn end_frame(&mut self, value: &Value) -> Result<(), Stop> {
        let frame = self.frame()?;
        let arenas = std::mem::take(&mut frame.arenas);
        let stack = std::mem::take(&mut frame.stack_objs);
        let function = frame.function;
        let name = crate::print::function_name(self.program, function);
        let roots: HashMap<ObjId, String> =
            value.refs().into_iter().map(|r| (r, "the returned value".into())).collect();
        for &a in arenas.iter().rev() {
            if let Some(arena) = self.arenas.get(a) {
                let span = self.span;
                let message = format!(
                    "arena s{} opened at {} is never exited: `{name}` returns at {} with it open",
                    arena.scope.0,
                    self.positions.render(arena.span),
                    self.positions.render(span)
                );
                let violation = Violation {
                    kind: ViolationKind::InvalidPlan,
                    message,
                    alloc_span: arena.span,
                    free_span: None,
                    use_span: Some(span),
                    function: name.clone(),
                    alloc_site: String::new(),
                    count: 1,
                };
                self.push_violation(violation, Some((ViolationKind::InvalidPlan, None, Some(arena.span))));
            }
            self.close_arena(a, &roots);
        }
        if !stack.is_empty() {
            self.end_region(stack, Region::Frame(&name), &roots);
        }
        Ok(())
    }

    /// Skipped destructors, tombstones, dangling references (see the module docs).
    fn end_region(&mut self, objects: Vec<ObjId>, region: Region<'_>, roots: &HashMap<ObjId, String>) {
        let span = self.span;
        let at = self.positions.render(span);
        let (what, kind) = match region {
            Region::Arena(scope) => (format!("arena s{}", scope.0), ViolationKind::DanglingArena),
            Region::Frame(name) => (format!("the frame of `{name}`"), ViolationKind::DanglingStack),
        };
        let objects: Vec<ObjId> = objects
            .into_iter()
            .filter(|&o| self.heap.get(o).is_some_and(|o| o.state != super::heap::State::Freed))
            .collect();
        for &o in &objects {
            let live = self.heap.get(o).is_some_and(|o| o.state == super::heap::State::Live);
            if live && self.drop_block(o).is_some() {
                let message = format!(
                    "{} is freed with {what} at {at} without being destroyed: its drop block never runs",
                    self.who(o)
                );
                self.violation(ViolationKind::SkippedDestructor, Some(o), Some(span), None, message);
            }
        }
        for &o in &objects {
            self.free_memory(o, span);
        }
        for &o in &objects {
            let holders = self.heap.get(o).map_or(0, |o| o.holders);
            let by = match roots.get(&o) {
                Some(root) => root.clone(),
                None if holders > 0 => format!(
                    "{holders} reference{} in memory that is still live (a field, element, global or spawned call)",
                    if holders == 1 { "" } else { "s" }
                ),
                None => continue,
            };
            let verb = match kind {
                ViolationKind::DanglingStack => "lives on the stack of",
                _ => "lives in",
            };
            let message =
                format!("{} {verb} {what}, which ends at {at}, but is still referenced by {by}", self.who(o));
            self.violation(kind, Some(o), Some(span), None, message);
        }
    }
}
