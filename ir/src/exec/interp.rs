//! The instructions, as spec/language.md section 6 defines them.
//!
//! Instructions move values and never count, free or copy memory (that is the plan's
//! operations' work, [`super::ops`]). They do check every access: reading or writing a
//! destroyed or freed object is a use after free, which halts the run; writing an array
//! that is shared (its count is above one) or constant is a shared write.

use super::format::float_text;
use super::heap::{Body, Obj, State};
use super::machine::{Machine, RetTo, Stop, Transfer};
use super::value::{ObjId, Value};
use super::{ProgramErrorKind, ViolationKind};
use crate::plan::{AllocKind, Placement};
use crate::{BinaryOp, Callee, Constant, Function, FunctionId, InstAddr, InstKind, LocalId, Type, UnaryOp};
use std::rc::Rc;

impl Machine<'_> {
    /// Runs one instruction of the top frame.
    pub(super) fn exec_inst(&mut self, func: &Function, at: InstAddr, kind: &InstKind) -> Result<(), Stop> {
        use InstKind as I;
        match kind {
            I::Const { dest, value } => {
                let v = match value {
                    Constant::Int(i) => Value::Int(*i),
                    Constant::Float(f) => Value::Float(*f),
                    Constant::Bool(b) => Value::Bool(*b),
                    Constant::Str(s) => Value::Const(Rc::new(s.clone())),
                    Constant::Null => Value::Null,
                };
                self.set_local(*dest, v)
            }
            I::Copy { dest, src } => {
                let v = self.local(*src);
                self.set_local(*dest, v)
            }
            I::Unary { dest, op, operand } => {
                let v = match (op, self.local(*operand)) {
                    (_, Value::Null) => return Err(self.null_access("operand of a prefix operator")),
                    (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (op, v) => return Err(self.internal(format!("`{}` of {v:?}", op.mnemonic()))),
                };
                self.set_local(*dest, v)
            }
            I::Binary { dest, op, lhs, rhs } => {
                let v = self.binary(*op, self.local(*lhs), self.local(*rhs))?;
                self.set_local(*dest, v)
            }
            I::IsNull { dest, value } => {
                let v = Value::Bool(self.local(*value) == Value::Null);
                self.set_local(*dest, v)
            }
            I::NullCheck { value } => match self.local(*value) {
                Value::Null => Err(self.null_access(&format!("{} is null", local_name(func, *value)))),
                _ => Ok(()),
            },
            I::NewObject { dest, class, fields } => {
                let fields: Vec<Value> = fields.iter().map(|&l| self.local(l)).collect();
                let label = crate::print::class_name(self.program, *class);
                let id =
                    self.allocate(at, Body::Object { class: *class, fields }, AllocKind::Object, label)?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::NewArray { dest, elem, elems } => {
                let elems: Vec<Value> = elems.iter().map(|&l| self.local(l)).collect();
                let label = array_label(self.program, elem);
                let id = self.allocate(at, Body::Array(elems), AllocKind::Array, label)?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::NewArrayRepeat { dest, elem, value, count } => {
                let n = self.int(*count, "repeat count")?;
                if n < 0 {
                    return Err(
                        self.error(ProgramErrorKind::NegativeRepeat, format!("negative repeat count {n}"))
                    );
                }
                let bytes = 16u64.saturating_add(8u64.saturating_mul(n as u64));
                self.check_heap(bytes)?;
                let elems = vec![self.local(*value); n as usize];
                let label = array_label(self.program, elem);
                let id = self.allocate(at, Body::Array(elems), AllocKind::Array, label)?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::Concat { dest, lhs, rhs } => {
                let mut text = self.text(&self.local(*lhs), "left operand of `+`")?.to_string();
                text.push_str(&self.text(&self.local(*rhs), "right operand of `+`")?);
                let id = self.allocate(at, Body::Str(text), AllocKind::String, "string".into())?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::ToString { dest, value } => {
                let text = self.show(&self.local(*value), "argument of `str`")?;
                let id = self.allocate(at, Body::Str(text), AllocKind::String, "string".into())?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::NewClosure { dest, function, captures } => {
                let captures: Vec<Value> = captures.iter().map(|&l| self.local(l)).collect();
                let label = format!("closure {}", crate::print::function_name(self.program, *function));
                let body = Body::Closure { function: *function, captures };
                let id = self.allocate(at, body, AllocKind::Closure, label)?;
                self.set_local(*dest, Value::Ref(id))
            }
            I::NewStruct { dest, fields, .. } => {
                let fields: Vec<Value> = fields.iter().map(|&l| self.local(l)).collect();
                self.set_local(*dest, Value::Struct(Box::new(fields)))
            }
            I::LoadField { dest, object, field } => {
                let v = match self.local(*object) {
                    Value::Null => {
                        return Err(self.null_access(&format!("field of {}", local_name(func, *object))));
                    }
                    Value::Struct(fields) => fields.get(*field as usize).cloned().unwrap_or_default(),
                    Value::Ref(o) => {
                        self.access(o)?;
                        match self.heap.get(o).map(|o| &o.body) {
                            Some(Body::Object { fields, .. }) => {
                                fields.get(*field as usize).cloned().unwrap_or_default()
                            }
                            _ => {
                                return Err(
                                    self.internal("`load_field` of something that is not an object".into())
                                );
                            }
                        }
                    }
                    v => return Err(self.internal(format!("`load_field` of {v:?}"))),
                };
                self.set_local(*dest, v)
            }
            I::StoreField { object, field, value } => {
                let v = self.local(*value);
                match self.local(*object) {
                    Value::Null => Err(self.null_access(&format!("field of {}", local_name(func, *object)))),
                    Value::Struct(mut fields) => {
                        if let Some(slot) = fields.get_mut(*field as usize) {
                            *slot = v;
                        }
                        self.set_local(*object, Value::Struct(fields))
                    }
                    Value::Ref(o) => {
                        self.access(o)?;
                        self.store_field(o, *field, v);
                        Ok(())
                    }
                    v => Err(self.internal(format!("`store_field` into {v:?}"))),
                }
            }
            I::LoadElem { dest, array, index } => {
                let o = self.array(func, *array)?;
                let i = self.int(*index, "index")?;
                let len = self.array_len(o)?;
                let v =
                    match (usize::try_from(i).ok().filter(|&i| i < len), self.heap.get(o).map(|o| &o.body)) {
                        (Some(i), Some(Body::Array(elems))) => elems.get(i).cloned().unwrap_or_default(),
                        _ => return Err(self.out_of_range(i, len)),
                    };
                self.set_local(*dest, v)
            }
            I::StoreElem { array, index, value } => {
                let o = self.array(func, *array)?;
                let i = self.int(*index, "index")?;
                let v = self.local(*value);
                self.write_check(o)?;
                let len = self.array_len(o)?;
                let Some(slot) = usize::try_from(i).ok().filter(|&i| i < len) else {
                    return Err(self.out_of_range(i, len));
                };
                self.store_elem(o, slot, v);
                Ok(())
            }
            I::Push { array, value } => {
                let o = self.array(func, *array)?;
                let v = self.local(*value);
                self.write_check(o)?;
                self.check_heap(8)?;
                self.heap.hold(&v, true);
                let Some(obj) = self.heap.get_mut(o) else { return Ok(()) };
                if let Body::Array(elems) = &mut obj.body {
                    elems.push(v);
                }
                let bytes = obj.body.bytes();
                self.heap.resize(o, bytes);
                Ok(())
            }
            I::Pop { dest, array } => {
                let o = self.array(func, *array)?;
                self.write_check(o)?;
                let popped = match self.heap.get_mut(o).map(|o| &mut o.body) {
                    Some(Body::Array(elems)) => elems.pop(),
                    _ => return Err(self.internal("`pop` of something that is not an array".into())),
                };
                let Some(v) = popped else {
                    return Err(self.error(ProgramErrorKind::EmptyPop, "pop of an empty array".into()));
                };
                self.heap.hold(&v, false);
                let bytes = self.heap.get(o).map_or(0, |o| o.body.bytes());
                self.heap.resize(o, bytes);
                self.set_local(*dest, v)
            }
            I::Len { dest, value } => {
                let n = match self.local(*value) {
                    Value::Null => {
                        return Err(self.null_access(&format!("`len` of {}", local_name(func, *value))));
                    }
                    Value::Const(s) => s.len(),
                    Value::Ref(o) => {
                        self.access(o)?;
                        match self.heap.get(o).map(|o| &o.body) {
                            Some(Body::Str(s)) => s.len(),
                            Some(Body::Array(elems)) => elems.len(),
                            _ => return Err(self.internal("`len` of something without a length".into())),
                        }
                    }
                    v => return Err(self.internal(format!("`len` of {v:?}"))),
                };
                self.set_local(*dest, Value::Int(n as i64))
            }
            I::LoadGlobal { dest, global } => match self.globals.get(global.index()).cloned().flatten() {
                Some(v) => self.set_local(*dest, v),
                None => {
                    let name = self.program.globals.get(global.index()).map_or("?", |g| g.name.as_str());
                    let message = format!("global `{name}` read before its initialiser ran");
                    Err(self.error(ProgramErrorKind::UninitialisedGlobal, message))
                }
            },
            I::StoreGlobal { global, value } => {
                let v = self.local(*value);
                self.store_global(global.index(), v);
                Ok(())
            }
            I::Call { dest, callee, args } => {
                let ret = dest.map_or(RetTo::Discard, RetTo::Local);
                let args: Vec<Value> = args.iter().map(|&l| self.local(l)).collect();
                match callee {
                    Callee::Function(f) => {
                        self.check_args(*f, &args)?;
                        self.push_frame(*f, args, Vec::new(), ret)
                    }
                    Callee::Closure(local) => {
                        let (f, captures) = self.closure(func, *local)?;
                        self.check_args(f, &args)?;
                        self.push_frame(f, args, captures, ret)
                    }
                    Callee::Extern(e) => Err(self.extern_call(e.index())),
                }
            }
            I::Spawn { callee, args } => {
                let args: Vec<Value> = args.iter().map(|&l| self.local(l)).collect();
                match callee {
                    Callee::Function(f) => {
                        self.check_args(*f, &args)?;
                        self.spawn(super::threads::SpawnCallee::Function(*f), args);
                        Ok(())
                    }
                    Callee::Closure(local) => {
                        let v = self.local(*local);
                        if v == Value::Null {
                            return Err(self.null_access(&format!("spawn of {}", local_name(func, *local))));
                        }
                        self.spawn(super::threads::SpawnCallee::Closure(v), args);
                        Ok(())
                    }
                    Callee::Extern(e) => Err(self.extern_call(e.index())),
                }
            }
            I::Print { value } => {
                let mut text = self.show(&self.local(*value), "argument of `print`")?;
                text.push('\n');
                let _ = self.stdout.write_all(text.as_bytes());
                Ok(())
            }
            I::Free { value } => self.set_local(*value, Value::Null),
            I::ScopeEnter { .. } | I::ScopeExit { .. } => {
                let plan = self.plan;
                let function = self.frame()?.function;
                let ended = plan.function(function).map(|p| p.ended_by(func, kind)).unwrap_or_default();
                let frame = self.frame()?;
                for l in ended {
                    if let Some(slot) = frame.locals.get_mut(l.index()) {
                        *slot = Value::Null;
                    }
                }
                Ok(())
            }
            I::Jump { target } => {
                self.frame()?.transfer = Some(Transfer::Jump(*target));
                Ok(())
            }
            I::Branch { cond, then_block, else_block } => {
                let target = match self.local(*cond) {
                    Value::Bool(true) => *then_block,
                    Value::Bool(false) => *else_block,
                    Value::Null => return Err(self.null_access("condition")),
                    v => return Err(self.internal(format!("branch on {v:?}"))),
                };
                self.frame()?.transfer = Some(Transfer::Jump(target));
                Ok(())
            }
            I::Return { value } => {
                let v = value.map(|l| self.local(l)).unwrap_or_default();
                self.frame()?.transfer = Some(Transfer::Return(v));
                Ok(())
            }
            I::Unreachable => {
                Err(self.error(ProgramErrorKind::Unreachable, "reached `unreachable` code".into()))
            }
        }
    }

    // ---- allocation ---------------------------------------------------------------------------

    /// Fails if `bytes` more would exceed the heap limit.
    pub(super) fn check_heap(&self, bytes: u64) -> Result<(), Stop> {
        let limit = self.options.max_heap_bytes;
        if self.heap.live_bytes.saturating_add(bytes) > limit {
            return Err(
                self.error(ProgramErrorKind::HeapLimit, format!("heap limit of {limit} bytes exceeded"))
            );
        }
        Ok(())
    }

    /// Allocates at the instruction `at` of the current function, as the plan places it
    /// (`heap_rc` when the plan has no entry). A static site allocates once; executing it
    /// again gives the same object.
    fn allocate(&mut self, at: InstAddr, body: Body, kind: AllocKind, label: String) -> Result<ObjId, Stop> {
        let plan = self.plan;
        let function = self.frame()?.function;
        let info = plan.function(function).and_then(|p| p.inst(at)).and_then(|p| p.alloc.as_ref());
        let placement = info.map_or(Placement::HeapRc, |i| i.placement);
        if placement == Placement::Static
            && let Some((id, first)) = self.statics.get(&(function, at))
        {
            let id = *id;
            if *first != body {
                let message = format!(
                    "{} is placed `static` but its contents differ from one execution to the next",
                    self.who(id)
                );
                let span = self.span;
                self.violation(ViolationKind::InvalidPlan, Some(id), Some(span), None, message);
            }
            return Ok(id);
        }
        let site = match self.sites.get(&(function, at)) {
            Some(&site) => site,
            None => {
                let name = crate::print::function_name(self.program, function);
                let id = info.map_or_else(|| format!("{name}@{at}"), |i| i.id.clone());
                let site = self.heap.sites.len();
                let may_cycle = self.program.functions.get(function.index()).is_some_and(|f| {
                    f.inst(at).is_some_and(|i| plan.allocation_may_cycle(self.program, f, &i.kind))
                });
                self.heap.sites.push(super::heap::Site { function, span: self.span, id, label, may_cycle });
                self.sites.insert((function, at), site);
                site
            }
        };
        let arena = Where::Scope(info.and_then(|i| i.arena_scope));
        let id = self.place(body, kind, site, placement, arena)?;
        if placement == Placement::Static
            && let Some(obj) = self.heap.get(id)
        {
            self.statics.insert((function, at), (id, obj.body.clone()));
        }
        Ok(id)
    }

    /// Creates an object with this placement: on the current frame for `stack`, in an
    /// open arena for `arena` (chosen as `arena` says).
    pub(super) fn place(
        &mut self,
        body: Body,
        kind: AllocKind,
        site: usize,
        placement: Placement,
        arena: Where,
    ) -> Result<ObjId, Stop> {
        let bytes = body.bytes();
        self.check_heap(bytes)?;
        let mut placement = placement;
        let mut chosen = None;
        if placement == Placement::Arena {
            chosen = match arena {
                Where::Arena(a) if self.arenas.get(a).is_some_and(|a| a.open) => Some(a),
                Where::Arena(_) => self.find_arena(None),
                Where::Scope(scope) => self.find_arena(scope),
            };
            if chosen.is_none() {
                let label = self.heap.sites.get(site).map_or_else(String::new, |s| s.id.clone());
                let message = format!(
                    "`{label}` is placed in an arena, but no arena is open here; it is treated as heap_unique"
                );
                let span = self.span;
                self.violation(ViolationKind::InvalidPlan, None, Some(span), Some(span), message);
                placement = Placement::HeapUnique;
            }
        }
        let on_stack = placement == Placement::Stack;
        let obj = Obj {
            body,
            kind,
            site,
            placement,
            rc: 1,
            state: State::Live,
            holds: true,
            holders: 0,
            arena: chosen,
            thread: 0,
            bytes,
            ended_at: None,
        };
        let id = self.heap.insert(obj);
        if let Some(a) = chosen
            && let Some(arena) = self.arenas.get_mut(a)
        {
            arena.objects.push(id);
        }
        if on_stack
            && let Some(Some(f)) = self.threads.last_mut().map(|t| {
                t.stack.iter_mut().rev().find_map(|a| match a {
                    super::machine::Act::Frame(f) => Some(f),
                    super::machine::Act::Task(_) => None,
                })
            })
        {
            f.stack_objs.push(id);
        }
        self.stats.allocations += 1;
        self.stats.by_placement.add(placement);
        if self.options.trace {
            let site_span = self.heap.sites.get(site).map_or(crate::Span::NONE, |s| s.span);
            let line = format!(
                "alloc {} at {} {}",
                self.heap.name(id),
                self.positions.render(site_span),
                placement.as_str()
            );
            self.trace(|| line);
        }
        Ok(id)
    }

    // ---- memory access ------------------------------------------------------------------------

    /// Checks that an object may be accessed; a destroyed or freed one is a use after
    /// free, which halts the run.
    pub(super) fn access(&mut self, id: ObjId) -> Result<(), Stop> {
        let Some(obj) = self.heap.get(id) else { return Err(self.internal(format!("no object #{id}"))) };
        match obj.state {
            State::Live | State::Destroying => Ok(()),
            State::Destroyed | State::Freed => {
                let what = if obj.state == State::Freed { "freed" } else { "destroyed" };
                let span = self.span;
                let ended =
                    obj.ended_at.map_or_else(String::new, |s| format!(" at {}", self.positions.render(s)));
                let message = format!(
                    "use after free: {} is used at {} after it was {what}{ended}",
                    self.who(id),
                    self.positions.render(span)
                );
                self.violation(ViolationKind::UseAfterFree, Some(id), Some(span), Some(span), message);
                Err(Stop::Halt)
            }
        }
    }

    /// Checks a write to an array: it must be accessible, not constant and not shared.
    fn write_check(&mut self, id: ObjId) -> Result<(), Stop> {
        self.access(id)?;
        let Some(obj) = self.heap.get(id) else { return Ok(()) };
        let span = self.span;
        if obj.placement == Placement::Static {
            let message = format!(
                "{} is constant data (static) but is written at {}",
                self.who(id),
                self.positions.render(span)
            );
            self.violation(ViolationKind::SharedWrite, Some(id), Some(span), Some(span), message);
        } else if obj.placement.is_counted() && obj.rc > 1 {
            let message = format!(
                "{} is written at {} while {} references share it: the others would see the write (copy-on-write missing)",
                self.who(id),
                self.positions.render(span),
                obj.rc
            );
            self.violation(ViolationKind::SharedWrite, Some(id), Some(span), Some(span), message);
        }
        Ok(())
    }

    /// The array in a local (null access if null).
    fn array(&mut self, func: &Function, local: LocalId) -> Result<ObjId, Stop> {
        match self.local(local) {
            Value::Ref(o) => Ok(o),
            Value::Null => Err(self.null_access(&format!("indexing {}", local_name(func, local)))),
            v => Err(self.internal(format!("array access to {v:?}"))),
        }
    }

    /// The length of an array (after an access check).
    fn array_len(&mut self, id: ObjId) -> Result<usize, Stop> {
        self.access(id)?;
        match self.heap.get(id).map(|o| &o.body) {
            Some(Body::Array(elems)) => Ok(elems.len()),
            _ => Err(self.internal(format!("#{id} is not an array"))),
        }
    }

    fn out_of_range(&self, index: i64, len: usize) -> Stop {
        self.error(
            ProgramErrorKind::IndexOutOfRange,
            format!("index {index} out of range for an array of length {len}"),
        )
    }

    /// Overwrites a field of an object (no counting; holders follow).
    pub(super) fn store_field(&mut self, id: ObjId, field: u32, value: Value) {
        self.replace_slot(id, value, |body| match body {
            Body::Object { fields, .. } => fields.get_mut(field as usize),
            _ => None,
        });
    }

    /// Overwrites an element of an array (no counting; holders follow).
    pub(super) fn store_elem(&mut self, id: ObjId, index: usize, value: Value) {
        self.replace_slot(id, value, |body| match body {
            Body::Array(elems) => elems.get_mut(index),
            _ => None,
        });
    }

    /// Puts `value` into the slot `slot` picks in object `id` (nothing if there is none);
    /// the old value loses this holder and the new one gains it.
    fn replace_slot(&mut self, id: ObjId, value: Value, slot: impl FnOnce(&mut Body) -> Option<&mut Value>) {
        let holds = self.heap.get(id).is_some_and(|o| o.holds);
        let Some(place) = self.heap.get_mut(id).and_then(|o| slot(&mut o.body)) else { return };
        let old = std::mem::replace(place, value.clone());
        if holds {
            self.heap.hold(&old, false);
            self.heap.hold(&value, true);
        }
    }

    /// Overwrites a global (no counting; holders follow).
    pub(super) fn store_global(&mut self, index: usize, value: Value) {
        self.heap.hold(&value, true);
        if let Some(slot) = self.globals.get_mut(index)
            && let Some(old) = slot.replace(value)
        {
            self.heap.hold(&old, false);
        }
    }

    /// The function and environment of the closure in a local.
    fn closure(&mut self, func: &Function, local: LocalId) -> Result<(FunctionId, Vec<Value>), Stop> {
        match self.local(local) {
            Value::Ref(o) => {
                self.access(o)?;
                match self.heap.get(o).map(|o| &o.body) {
                    Some(Body::Closure { function, captures }) => Ok((*function, captures.clone())),
                    _ => Err(self.internal(format!("#{o} is not a closure"))),
                }
            }
            Value::Null => Err(self.null_access(&format!("call of {}", local_name(func, local)))),
            v => Err(self.internal(format!("call of {v:?}"))),
        }
    }

    /// `null` passed where the callee's parameter cannot be null is a null access.
    pub(super) fn check_args(&self, callee: FunctionId, args: &[Value]) -> Result<(), Stop> {
        let Some(f) = self.program.functions.get(callee.index()) else { return Ok(()) };
        for (i, (p, v)) in f.params.iter().zip(args).enumerate() {
            if *v == Value::Null && f.get_local(*p).is_some_and(|d| !d.ty.is_nullable()) {
                let what = if i == 0
                    && !matches!(f.kind, crate::FunctionKind::Plain | crate::FunctionKind::Closure { .. })
                {
                    format!("method `{}` called on null", f.name)
                } else {
                    format!("null passed as parameter {i} of `{}`", f.name)
                };
                return Err(self.null_access(&what));
            }
        }
        Ok(())
    }

    fn extern_call(&self, index: usize) -> Stop {
        let name = self.program.externs.get(index).map_or("?", |e| e.name.as_str());
        self.error(ProgramErrorKind::Extern, format!("cannot run foreign code: `{name}` is an extern"))
    }

    // ---- values -------------------------------------------------------------------------------

    /// An int operand.
    fn int(&self, local: LocalId, what: &str) -> Result<i64, Stop> {
        match self.local(local) {
            Value::Int(i) => Ok(i),
            Value::Null => Err(self.null_access(what)),
            v => Err(self.internal(format!("{what} is {v:?}, not an int"))),
        }
    }

    /// The text of a string value.
    fn text(&mut self, value: &Value, what: &str) -> Result<Rc<str>, Stop> {
        match value {
            Value::Const(s) => Ok(Rc::from(s.as_str())),
            Value::Ref(o) => {
                self.access(*o)?;
                match self.heap.get(*o).map(|o| &o.body) {
                    Some(Body::Str(s)) => Ok(Rc::from(s.as_str())),
                    _ => Err(self.internal(format!("{what} is not a string"))),
                }
            }
            Value::Null => Err(self.null_access(what)),
            v => Err(self.internal(format!("{what} is {v:?}, not a string"))),
        }
    }

    /// How `print` and `str` show a value.
    fn show(&mut self, value: &Value, what: &str) -> Result<String, Stop> {
        Ok(match value {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_text(*f),
            Value::Bool(b) => b.to_string(),
            Value::Null => return Err(self.null_access(what)),
            other => self.text(other, what)?.to_string(),
        })
    }

    /// Whether a reference is to a string (strings compare by content).
    fn is_string(&self, value: &Value) -> bool {
        match value {
            Value::Const(_) => true,
            Value::Ref(o) => self.heap.get(*o).is_some_and(|o| o.kind == AllocKind::String),
            _ => false,
        }
    }

    /// `==`: immediates and strings by value, references by identity, `null` only equal to
    /// `null`.
    fn equal(&mut self, a: &Value, b: &Value) -> Result<bool, Stop> {
        Ok(match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            _ if self.is_string(a) && self.is_string(b) => {
                self.text(a, "operand of `==`")? == self.text(b, "operand of `==`")?
            }
            (Value::Ref(x), Value::Ref(y)) => x == y,
            (Value::Struct(xs), Value::Struct(ys)) if xs.len() == ys.len() => {
                for (x, y) in xs.iter().zip(ys.iter()) {
                    if !self.equal(x, y)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => return Err(self.internal(format!("comparison of {a:?} and {b:?}"))),
        })
    }

    /// A binary operator.
    fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Result<Value, Stop> {
        use BinaryOp as B;
        if matches!(op, B::Eq | B::Ne) {
            let eq = self.equal(&a, &b)?;
            return Ok(Value::Bool(if op == B::Eq { eq } else { !eq }));
        }
        if a == Value::Null || b == Value::Null {
            return Err(self.null_access(&format!("operand of `{}`", op.mnemonic())));
        }
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => match op {
                B::Add => Value::Int(x.wrapping_add(y)),
                B::Sub => Value::Int(x.wrapping_sub(y)),
                B::Mul => Value::Int(x.wrapping_mul(y)),
                B::Div | B::Rem if y == 0 => {
                    let what = if op == B::Div { "division" } else { "remainder" };
                    return Err(self.error(ProgramErrorKind::DivisionByZero, format!("{what} by zero")));
                }
                B::Div => Value::Int(x.wrapping_div(y)),
                B::Rem => Value::Int(x.wrapping_rem(y)),
                B::Lt => Value::Bool(x < y),
                B::Le => Value::Bool(x <= y),
                B::Gt => Value::Bool(x > y),
                B::Ge => Value::Bool(x >= y),
                B::Eq | B::Ne => Value::Bool((x == y) == (op == B::Eq)),
            },
            (Value::Float(x), Value::Float(y)) => match op {
                B::Add => Value::Float(x + y),
                B::Sub => Value::Float(x - y),
                B::Mul => Value::Float(x * y),
                B::Div => Value::Float(x / y),
                B::Rem => Value::Float(x % y),
                B::Lt => Value::Bool(x < y),
                B::Le => Value::Bool(x <= y),
                B::Gt => Value::Bool(x > y),
                B::Ge => Value::Bool(x >= y),
                B::Eq | B::Ne => Value::Bool((x == y) == (op == B::Eq)),
            },
            (a, b) if self.is_string(&a) && self.is_string(&b) => {
                let (x, y) = (self.text(&a, "operand")?, self.text(&b, "operand")?);
                match op {
                    B::Lt => Value::Bool(x < y),
                    B::Le => Value::Bool(x <= y),
                    B::Gt => Value::Bool(x > y),
                    B::Ge => Value::Bool(x >= y),
                    _ => return Err(self.internal(format!("`{}` of strings", op.mnemonic()))),
                }
            }
            (a, b) => return Err(self.internal(format!("`{}` of {a:?} and {b:?}", op.mnemonic()))),
        })
    }
}

/// Which arena an `arena` object goes to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Where {
    /// The arena of this scope (see [`Machine::find_arena`]).
    Scope(Option<crate::ScopeId>),
    /// This arena if it is still open (a copy joins its original's arena).
    Arena(usize),
}

/// `%3` or `` `n` `` for messages.
fn local_name(func: &Function, local: LocalId) -> String {
    match func.get_local(local).and_then(|l| l.name.as_deref()) {
        Some(name) => format!("`{name}`"),
        None => format!("%{}", local.0),
    }
}

/// `[int]` for an array of `elem`.
fn array_label(program: &crate::Program, elem: &Type) -> String {
    format!("[{}]", elem.display(program))
}
