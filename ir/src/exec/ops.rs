//! The plan's operations (`dup`, `drop`, `free`, `destroy`, copy-on-write, arenas, cycle
//! collection) and the destroy cascade they start.
//!
//! Counting applies to counted placements only (`heap_rc`, `heap_atomic_rc`); on any other
//! placement `dup` and `drop` do nothing. Destroying runs as [`Task`]s on the thread's
//! stack, never by Rust recursion: a `drop` block is a pushed frame, and releasing the
//! fields of a long list destroys one node per task.

use super::ViolationKind;
use super::heap::{Body, State};
use super::interp::Where;
use super::machine::{Act, Action, DestroyStage, GroupStage, Machine, RetTo, Stop, Task};
use super::plan_index::{ROp, Target};
use super::value::{ObjId, Value};
use crate::plan::{AllocKind, OpKind, Placement, When};
use crate::{InstAddr, Span};
use std::collections::{HashMap, HashSet};

impl Machine<'_> {
    /// Runs operation `k` of side `when` of the instruction at `at`.
    pub(super) fn exec_op(&mut self, op: &ROp, at: InstAddr, when: When, k: usize) -> Result<(), Stop> {
        let span = self.span;
        match op.kind {
            // Moving a field's reference out leaves the field empty: the object no longer
            // holds it, so freeing the object later does not release it.
            OpKind::Move => match op.target {
                Target::Field(..) => self.write_place(op.target, Value::Null),
                _ => Ok(()),
            },
            OpKind::ArenaEnter => {
                if let Target::Scope(scope) = op.target {
                    self.arena_enter(scope)?;
                }
                Ok(())
            }
            OpKind::ArenaExit => {
                if let Target::Scope(scope) = op.target {
                    self.arena_exit(scope, at, when, k)?;
                }
                Ok(())
            }
            OpKind::Dup => {
                let value = self.read_place(op.target)?;
                let n = self.count(op)?;
                for id in value.refs() {
                    self.dup(id, n);
                }
                Ok(())
            }
            OpKind::Drop | OpKind::Free | OpKind::Destroy => {
                let value = self.read_place(op.target)?;
                let n = self.count(op)?;
                let refs = value.refs();
                let action = match op.kind {
                    OpKind::Drop => Action::Drop,
                    OpKind::Free => Action::Free,
                    _ => Action::Destroy,
                };
                match refs.as_slice() {
                    [] => {}
                    [id] if n == 1 => self.apply(action, *id, span)?,
                    _ if n > 0 => {
                        self.push_task(Task::Each { refs, next: 0, repeat: n, done: 0, action, cause: span })
                    }
                    _ => {}
                }
                Ok(())
            }
            OpKind::CowCheck | OpKind::CowCopy | OpKind::CowInPlace => self.cow(op),
            // The value's reference is released first; a group that survives its last
            // reference from outside is then collected (spec/plan-format.md 4.6).
            OpKind::CollectCycles => {
                let value = self.read_place(op.target)?;
                // On a place (the old value of a field, element or global about to be
                // overwritten), the reference leaves the place first, so the collector does
                // not count the stale slot as a reference from inside the group.
                if !matches!(op.target, Target::Local(_)) && !value.refs().is_empty() {
                    self.write_place(op.target, Value::Null)?;
                }
                // One reference after the other, as `drop` does (a task each): releasing
                // one may start a destruction, which runs before the next is released (a
                // struct's fields in declaration order).
                match value.refs().as_slice() {
                    [] => Ok(()),
                    [id] => self.apply(Action::Collect, *id, span),
                    _ => {
                        let refs = value.refs();
                        let task = Task::Each {
                            refs,
                            next: 0,
                            repeat: 1,
                            done: 0,
                            action: Action::Collect,
                            cause: span,
                        };
                        self.push_task(task);
                        Ok(())
                    }
                }
            }
        }
    }

    /// `collect_cycles` of one reference: release it, then, if the object survives, run
    /// the cycle collector on its group.
    fn collect_release(&mut self, id: ObjId, cause: Span) -> Result<(), Stop> {
        self.access(id)?;
        self.release_ref(id, cause);
        if self.heap.get(id).is_some_and(|o| o.state == State::Live && o.rc > 0) {
            self.collect(id)?;
        }
        Ok(())
    }

    /// Releases each of `refs` once, as a task (a long list destroys one node per task).
    fn release_each(&mut self, refs: Vec<ObjId>, cause: Span) {
        if !refs.is_empty() {
            self.push_task(Task::Each { refs, next: 0, repeat: 1, done: 0, action: Action::Release, cause });
        }
    }

    /// How many times to apply an operation.
    fn count(&self, op: &ROp) -> Result<u64, Stop> {
        match op.count.map(|l| self.local(l)) {
            None => Ok(1),
            Some(Value::Int(n)) => Ok(n.max(0) as u64),
            Some(Value::Null) => Ok(0),
            Some(v) => Err(self.internal(format!("operation count {v:?} is not an int"))),
        }
    }

    // ---- places ---------------------------------------------------------------------------

    /// The value an operation applies to (`null` for an ended local or a place that does
    /// not exist at run time, such as an index out of range: the operation then does
    /// nothing).
    pub(super) fn read_place(&mut self, target: Target) -> Result<Value, Stop> {
        Ok(match target {
            Target::Local(l) => self.local(l),
            Target::Field(l, field) => match self.local(l) {
                Value::Struct(fields) => fields.get(field as usize).cloned().unwrap_or_default(),
                Value::Ref(o) => {
                    self.access(o)?;
                    match self.heap.get(o).map(|o| &o.body) {
                        Some(Body::Object { fields, .. }) => {
                            fields.get(field as usize).cloned().unwrap_or_default()
                        }
                        _ => Value::Null,
                    }
                }
                _ => Value::Null,
            },
            Target::Elem(l, index) => match (self.local(l), self.local(index)) {
                (Value::Ref(o), Value::Int(i)) => {
                    self.access(o)?;
                    match self.heap.get(o).map(|o| &o.body) {
                        Some(Body::Array(elems)) => {
                            usize::try_from(i).ok().and_then(|i| elems.get(i)).cloned().unwrap_or_default()
                        }
                        _ => Value::Null,
                    }
                }
                _ => Value::Null,
            },
            Target::Global(g) => self.globals.get(g.index()).cloned().flatten().unwrap_or_default(),
            Target::Scope(_) => Value::Null,
        })
    }

    /// Replaces the value at a place (a copy-on-write puts the copy there).
    fn write_place(&mut self, target: Target, value: Value) -> Result<(), Stop> {
        match target {
            Target::Local(l) => self.set_local(l, value),
            Target::Field(l, field) => match self.local(l) {
                Value::Struct(mut fields) => {
                    if let Some(slot) = fields.get_mut(field as usize) {
                        *slot = value;
                    }
                    self.set_local(l, Value::Struct(fields))
                }
                Value::Ref(o) => {
                    self.store_field(o, field, value);
                    Ok(())
                }
                _ => Ok(()),
            },
            Target::Elem(l, index) => {
                if let (Value::Ref(o), Value::Int(i)) = (self.local(l), self.local(index))
                    && let Ok(i) = usize::try_from(i)
                {
                    self.store_elem(o, i, value);
                }
                Ok(())
            }
            Target::Global(g) => {
                self.store_global(g.index(), value);
                Ok(())
            }
            Target::Scope(_) => Ok(()),
        }
    }

    // ---- counting and freeing -------------------------------------------------------------------

    /// Applies an action to one reference.
    fn apply(&mut self, action: Action, id: ObjId, cause: Span) -> Result<(), Stop> {
        match action {
            Action::Drop => self.drop_ref(id, cause),
            Action::Free => self.free_ref(id, cause),
            Action::Destroy => self.destroy_ref(id, cause),
            Action::Release => self.release_ref(id, cause),
            Action::Collect => return self.collect_release(id, cause),
        }
        Ok(())
    }

    /// Records which thread touched a non-atomic counter.
    fn touch(&mut self, id: ObjId) {
        let thread = self.thread_id();
        let Some(obj) = self.heap.get_mut(id) else { return };
        if obj.placement != Placement::HeapRc {
            return;
        }
        if obj.thread == 0 {
            obj.thread = thread;
        } else if obj.thread != thread {
            let first = obj.thread;
            let span = self.span;
            let message = format!(
                "{} is counted by threads {first} and {thread} (at {}), but its count is not atomic (heap_rc)",
                self.who(id),
                self.positions.render(span)
            );
            self.violation(ViolationKind::NonAtomicShared, Some(id), Some(span), None, message);
        }
    }

    /// `dup`, `n` times.
    pub(super) fn dup(&mut self, id: ObjId, n: u64) {
        let Some(obj) = self.heap.get(id) else { return };
        if !obj.placement.is_counted() || n == 0 {
            return;
        }
        if matches!(obj.state, State::Destroyed | State::Freed) {
            let span = self.span;
            let message = format!(
                "{} gains a reference at {} after it was freed",
                self.who(id),
                self.positions.render(span)
            );
            self.violation(ViolationKind::DupOfFreed, Some(id), Some(span), Some(span), message);
            return;
        }
        self.touch(id);
        let rc = match self.heap.get_mut(id) {
            Some(obj) => {
                obj.rc = obj.rc.saturating_add(n as i64);
                obj.rc
            }
            None => return,
        };
        self.stats.rc_ops += n;
        self.trace_obj("dup", id, Some(rc));
    }

    /// `drop`: a counted object loses a reference and is destroyed and freed at zero.
    pub(super) fn drop_ref(&mut self, id: ObjId, cause: Span) {
        let Some(obj) = self.heap.get(id) else { return };
        if !obj.placement.is_counted() {
            return;
        }
        let state = obj.state;
        if state == State::Freed {
            return self.double_free(id, "released");
        }
        self.touch(id);
        let rc = match self.heap.get_mut(id) {
            Some(obj) => {
                obj.rc -= 1;
                obj.rc
            }
            None => return,
        };
        self.stats.rc_ops += 1;
        self.trace_obj("drop", id, Some(rc));
        if rc < 0 {
            if let Some(obj) = self.heap.get_mut(id) {
                obj.rc = 0;
            }
            return self.double_free(id, "released more often than it was referenced");
        }
        if rc == 0 {
            match state {
                State::Live => self.begin_destroy(id, true, cause),
                State::Destroyed => self.free_memory(id, cause),
                State::Destroying | State::Freed => {}
            }
        }
    }

    /// `free`: a unique or manual object is destroyed and freed now; a counted one is
    /// dropped; a stack or arena one is destroyed (its memory goes with its region).
    pub(super) fn free_ref(&mut self, id: ObjId, cause: Span) {
        let Some(obj) = self.heap.get(id) else { return };
        let (placement, state) = (obj.placement, obj.state);
        if placement.is_counted() {
            return self.drop_ref(id, cause);
        }
        let owns_memory = matches!(placement, Placement::HeapUnique | Placement::Manual);
        match (placement, state) {
            (Placement::Static, _) => {}
            (_, State::Live) => self.begin_destroy(id, owns_memory, cause),
            (_, State::Destroyed) if owns_memory => self.free_memory(id, cause),
            _ => self.double_free(id, "freed"),
        }
    }

    /// `destroy`: the drop block runs and the fields are released; the memory stays.
    pub(super) fn destroy_ref(&mut self, id: ObjId, cause: Span) {
        let Some(obj) = self.heap.get(id) else { return };
        match (obj.placement, obj.state) {
            (Placement::Static, _) => {}
            (_, State::Live) => self.begin_destroy(id, false, cause),
            _ => self.double_free(id, "destroyed"),
        }
    }

    /// Release: drop if counted, free if unique, nothing otherwise.
    /// A counted object that may be on a cycle (of a class the type table marks `cyclic`,
    /// an array of such objects, a closure that may capture one: [`super::heap::Site`]'s
    /// `may_cycle`) and survives the release is collected if it is garbage
    /// (spec/plan-format.md 4.2): what a destroyed object, an array or a global held may be
    /// the last reference to a cycle.
    pub(super) fn release_ref(&mut self, id: ObjId, cause: Span) {
        match self.heap.get(id).map(|o| o.placement) {
            Some(p) if p.is_counted() => {
                self.drop_ref(id, cause);
                let cyclic = self.heap.get(id).is_some_and(|o| {
                    o.state == State::Live
                        && o.rc > 0
                        && self.heap.sites.get(o.site).is_some_and(|s| s.may_cycle)
                });
                // The object is live, so the collector's access check cannot fail.
                if cyclic && self.collect(id).is_err() {
                    self.trace(|| "collect failed".to_string());
                }
            }
            Some(Placement::HeapUnique) => self.free_ref(id, cause),
            _ => {}
        }
    }

    fn double_free(&mut self, id: ObjId, what: &str) {
        let span = self.span;
        let ended = self
            .heap
            .get(id)
            .and_then(|o| o.ended_at)
            .map_or_else(String::new, |s| format!(" (it was freed at {})", self.positions.render(s)));
        let message = format!(
            "double free: {} is {what} again at {}{ended}",
            self.who(id),
            self.positions.render(span)
        );
        self.violation(ViolationKind::DoubleFree, Some(id), Some(span), Some(span), message);
    }

    /// Starts destroying an object: its drop block, then its contents, then (if `free`)
    /// its memory.
    pub(super) fn begin_destroy(&mut self, id: ObjId, free: bool, cause: Span) {
        if let Some(obj) = self.heap.get_mut(id) {
            obj.state = State::Destroying;
        }
        self.push_task(Task::Destroy { obj: id, stage: DestroyStage::DropBlock, free, cause });
    }

    /// Frees an object's memory (tombstone).
    pub(super) fn free_memory(&mut self, id: ObjId, cause: Span) {
        if self.heap.tombstone(id, cause) {
            self.stats.frees += 1;
            self.trace_obj("free", id, None);
        }
    }

    /// The `drop` block of an object's class, if it has one.
    pub(super) fn drop_block(&self, id: ObjId) -> Option<crate::FunctionId> {
        match self.heap.get(id).map(|o| &o.body) {
            Some(Body::Object { class, .. }) => self.program.classes.get(class.index()).and_then(|c| c.drop),
            _ => None,
        }
    }

    fn push_task(&mut self, task: Task) {
        if let Some(thread) = self.threads.last_mut() {
            thread.stack.push(Act::Task(task));
        }
    }

    fn pop_task(&mut self) {
        if let Some(thread) = self.threads.last_mut()
            && matches!(thread.stack.last(), Some(Act::Task(_)))
        {
            thread.stack.pop();
        }
    }

    /// One step of the task on top of the running thread's stack.
    pub(super) fn step_task(&mut self) -> Result<(), Stop> {
        self.tick()?;
        let Some(Act::Task(task)) = self.threads.last_mut().and_then(|t| t.stack.last_mut()) else {
            return Err(self.internal("no task".into()));
        };
        match task {
            Task::Each { refs, next, repeat, done, action, cause } => {
                let Some(&id) = refs.get(*next) else {
                    self.pop_task();
                    return Ok(());
                };
                *done += 1;
                if *done >= *repeat {
                    *next += 1;
                    *done = 0;
                }
                let (action, cause) = (*action, *cause);
                self.apply(action, id, cause)
            }
            Task::Destroy { obj, stage, free, cause } => {
                let (id, free, cause) = (*obj, *free, *cause);
                match *stage {
                    DestroyStage::DropBlock => {
                        *stage = DestroyStage::Release;
                        let block = self.drop_block(id);
                        if self.options.trace {
                            let suffix = if block.is_some() { " (drop block)" } else { "" };
                            let line = format!("destroy {}{suffix}", self.heap.name(id));
                            self.trace(|| line);
                        }
                        if let Some(f) = block {
                            self.push_frame(f, vec![Value::Ref(id)], Vec::new(), RetTo::Discard)?;
                        }
                        Ok(())
                    }
                    DestroyStage::Release => {
                        *stage = DestroyStage::Finish;
                        let refs = self.heap.let_go(id);
                        self.release_each(refs, cause);
                        Ok(())
                    }
                    DestroyStage::Finish => {
                        self.pop_task();
                        if free {
                            self.free_memory(id, cause);
                        } else if let Some(obj) = self.heap.get_mut(id) {
                            obj.state = State::Destroyed;
                            obj.ended_at.get_or_insert(cause);
                        }
                        Ok(())
                    }
                }
            }
            Task::Group { members, stage, cause } => {
                let cause = *cause;
                match *stage {
                    GroupStage::Drops(i) => {
                        let Some(&id) = members.get(i) else {
                            *stage = GroupStage::Release(0);
                            return Ok(());
                        };
                        *stage = GroupStage::Drops(i + 1);
                        if let Some(f) = self.drop_block(id) {
                            if self.options.trace {
                                let line = format!("destroy {} (drop block)", self.heap.name(id));
                                self.trace(|| line);
                            }
                            self.push_frame(f, vec![Value::Ref(id)], Vec::new(), RetTo::Discard)?;
                        }
                        Ok(())
                    }
                    GroupStage::Release(i) => {
                        let Some(&id) = members.get(i) else {
                            *stage = GroupStage::Finish;
                            return Ok(());
                        };
                        *stage = GroupStage::Release(i + 1);
                        let group: HashSet<ObjId> = members.iter().copied().collect();
                        let refs: Vec<ObjId> =
                            self.heap.let_go(id).into_iter().filter(|r| !group.contains(r)).collect();
                        self.release_each(refs, cause);
                        Ok(())
                    }
                    GroupStage::Finish => {
                        let members = std::mem::take(members);
                        self.pop_task();
                        for id in members {
                            self.free_memory(id, cause);
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    // ---- copy-on-write ------------------------------------------------------------------------

    /// `cow_check`, `cow_copy`, `cow_in_place` on the array at the op's place.
    fn cow(&mut self, op: &ROp) -> Result<(), Stop> {
        let Value::Ref(id) = self.read_place(op.target)? else { return Ok(()) };
        self.access(id)?;
        let Some(obj) = self.heap.get(id) else { return Ok(()) };
        if obj.kind != AllocKind::Array {
            return Ok(());
        }
        let shared = obj.placement.is_counted() && obj.rc > 1;
        let constant = obj.placement == Placement::Static;
        match op.kind {
            OpKind::CowCheck if shared || constant => self.cow_copy(op.target, id),
            OpKind::CowCopy => self.cow_copy(op.target, id),
            OpKind::CowInPlace if shared || constant => {
                let span = self.span;
                let why = if constant {
                    "it is constant data (static)".to_string()
                } else {
                    format!("{} references share it, and the others would see the write", obj.rc)
                };
                let message = format!(
                    "{} is written in place at {} (cow_in_place) but {why}",
                    self.who(id),
                    self.positions.render(span)
                );
                self.violation(ViolationKind::SharedWrite, Some(id), Some(span), Some(span), message);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Copies the array at `target`: the place gets a fresh array with the same placement
    /// (a constant one gets `heap_rc`), whose elements gain a reference each; the old array
    /// loses the reference the place held.
    fn cow_copy(&mut self, target: Target, id: ObjId) -> Result<(), Stop> {
        let Some(obj) = self.heap.get(id) else { return Ok(()) };
        let Body::Array(elems) = &obj.body else { return Ok(()) };
        let elems = elems.clone();
        let (site, arena) = (obj.site, obj.arena);
        let placement = if obj.placement == Placement::Static { Placement::HeapRc } else { obj.placement };
        let arena = arena.map_or(Where::Scope(None), Where::Arena);
        let refs: Vec<ObjId> = elems.iter().flat_map(Value::refs).collect();
        let copy = self.place(Body::Array(elems), AllocKind::Array, site, placement, arena)?;
        for r in refs {
            self.dup(r, 1);
        }
        if self.options.trace {
            let line = format!("cow copy {} -> #{copy}", self.heap.name(id));
            self.trace(|| line);
        }
        self.write_place(target, Value::Ref(copy))?;
        let cause = self.span;
        self.release_ref(id, cause);
        Ok(())
    }

    // ---- cycle collection -----------------------------------------------------------------------

    /// `collect_cycles`: if the counted objects strongly connected with `id` are referenced
    /// only by each other (each one's count equals the references the others hold), they
    /// are garbage: run all their drop blocks, then release their contents and free them.
    fn collect(&mut self, id: ObjId) -> Result<(), Stop> {
        self.access(id)?;
        let Some(obj) = self.heap.get(id) else { return Ok(()) };
        if !obj.placement.is_counted() || obj.state != State::Live {
            return Ok(());
        }
        let group = self.counted_component(id);
        let members: HashSet<ObjId> = group.iter().copied().collect();
        let mut internal: HashMap<ObjId, i64> = HashMap::new();
        let mut self_loop = false;
        for &m in &group {
            for r in self.heap.get(m).map(|o| super::value::refs_of(o.body.values())).unwrap_or_default() {
                if members.contains(&r) {
                    *internal.entry(r).or_default() += 1;
                    self_loop |= r == m;
                }
            }
        }
        if group.len() < 2 && !self_loop {
            return Ok(());
        }
        let garbage = group
            .iter()
            .all(|m| self.heap.get(*m).is_some_and(|o| o.rc <= internal.get(m).copied().unwrap_or(0)));
        if !garbage {
            return Ok(());
        }
        let order = self.depth_first(id, &members);
        for &m in &order {
            if let Some(o) = self.heap.get_mut(m) {
                o.state = State::Destroying;
            }
        }
        let n = order.len();
        self.trace(|| format!("collect {n} objects"));
        let cause = self.span;
        self.push_task(Task::Group { members: order, stage: GroupStage::Drops(0), cause });
        Ok(())
    }

    /// The live counted objects in the same strongly connected component as `root` (by
    /// references in fields, elements and captures), found without recursion.
    fn counted_component(&self, root: ObjId) -> Vec<ObjId> {
        let edges = |id: ObjId| -> Vec<ObjId> {
            self.heap
                .get(id)
                .map(|o| super::value::refs_of(o.body.values()))
                .unwrap_or_default()
                .into_iter()
                .filter(|&r| {
                    self.heap.get(r).is_some_and(|o| o.placement.is_counted() && o.state == State::Live)
                })
                .collect()
        };
        // Forward reachability from root, then backward within it: the component is what
        // both reach.
        let mut forward = vec![root];
        let mut seen: HashSet<ObjId> = HashSet::from([root]);
        let mut i = 0;
        while let Some(&id) = forward.get(i) {
            i += 1;
            for r in edges(id) {
                if seen.insert(r) {
                    forward.push(r);
                }
            }
        }
        let mut reverse: HashMap<ObjId, Vec<ObjId>> = HashMap::new();
        for &id in &forward {
            for r in edges(id) {
                reverse.entry(r).or_default().push(id);
            }
        }
        let mut back = vec![root];
        let mut reached: HashSet<ObjId> = HashSet::from([root]);
        let mut i = 0;
        while let Some(&id) = back.get(i) {
            i += 1;
            for &r in reverse.get(&id).map_or(&[][..], Vec::as_slice) {
                if reached.insert(r) {
                    back.push(r);
                }
            }
        }
        let mut component: Vec<ObjId> = forward.into_iter().filter(|id| reached.contains(id)).collect();
        component.sort_unstable();
        component
    }

    /// The members in the order a depth-first walk from `root` reaches them, following
    /// references in field order.
    fn depth_first(&self, root: ObjId, members: &HashSet<ObjId>) -> Vec<ObjId> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            order.push(id);
            let refs = self.heap.get(id).map(|o| super::value::refs_of(o.body.values())).unwrap_or_default();
            for r in refs.into_iter().rev() {
                if members.contains(&r) && !seen.contains(&r) {
                    stack.push(r);
                }
            }
        }
        let mut rest: Vec<ObjId> = members.iter().copied().filter(|m| !seen.contains(m)).collect();
        rest.sort_unstable();
        order.extend(rest);
        order
    }

    /// A trace line about an object: `dup Node #12 rc=2`, `free Node #12`.
    pub(super) fn trace_obj(&mut self, what: &str, id: ObjId, rc: Option<i64>) {
        if self.options.trace {
            let line = match rc {
                Some(rc) => format!("{what} {} rc={rc}", self.heap.name(id)),
                None => format!("{what} {}", self.heap.name(id)),
            };
            self.trace(|| line);
        }
    }
}
