//! The plan, indexed for execution: for every instruction of every function, the
//! operations to run before and after it and the allocation entry that places it.
//!
//! Plan functions are matched to IR functions by name, operations and allocations to
//! instructions by address. Nothing in the plan is trusted: an operation on a local,
//! global, instruction or scope that does not exist, an allocation entry on an instruction
//! that does not allocate, or a plan function the program does not have is recorded as a
//! [`Problem`] (reported as an `invalid-plan` violation) and left out, never indexed
//! blindly.

pub(super) use crate::plan::OpTarget as Target;
use crate::plan::{AllocationPlan, MemoryPlan, Op, OpKind, Placement, When, resolve_target as resolve};
use crate::{Function, FunctionId, InstAddr, InstKind, LocalId, Program, ScopeId, Span};
use std::collections::HashMap;

/// One operation, resolved against the IR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ROp {
    /// What to do.
    pub(super) kind: OpKind,
    /// To what.
    pub(super) target: Target,
    /// Repeat as many times as the int in this local says.
    pub(super) count: Option<LocalId>,
}

impl ROp {
    /// The locals the operation reads (for liveness).
    pub(super) fn uses(&self) -> impl Iterator<Item = LocalId> {
        let (a, b) = match self.target {
            Target::Local(l) | Target::Field(l, _) => (Some(l), None),
            Target::Elem(l, i) => (Some(l), Some(i)),
            Target::Global(_) | Target::Scope(_) => (None, None),
        };
        a.into_iter().chain(b).chain(self.count)
    }
}

/// How the plan places one allocation site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AllocInfo {
    /// Where it lives.
    pub(super) placement: Placement,
    /// For arena placement: the arena scope.
    pub(super) arena_scope: Option<ScopeId>,
    /// The plan's id of the site.
    pub(super) id: String,
}

/// What the plan says about one instruction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct InstPlan {
    /// Operations just before it, in plan order.
    pub(super) before: Vec<ROp>,
    /// Operations just after it, in plan order.
    pub(super) after: Vec<ROp>,
    /// Its allocation entry, if it allocates and the plan has one.
    pub(super) alloc: Option<AllocInfo>,
}

impl InstPlan {
    /// The operations on one side.
    pub(super) fn ops(&self, when: When) -> &[ROp] {
        match when {
            When::Before => &self.before,
            When::After => &self.after,
        }
    }
}

/// What the plan says about one function.
#[derive(Debug, Clone, Default)]
pub(super) struct FnPlan {
    /// Per block, per instruction.
    pub(super) insts: Vec<Vec<InstPlan>>,
    /// The locals each scope declares (from its first `scope_enter`).
    pub(super) scope_locals: HashMap<ScopeId, Vec<LocalId>>,
}

impl FnPlan {
    /// The plan of one instruction (an empty one if the address is out of range).
    pub(super) fn inst(&self, addr: InstAddr) -> Option<&InstPlan> {
        self.insts.get(addr.block.index())?.get(addr.index as usize)
    }

    /// The locals that an instruction ends ([`Function::ended_by`]).
    pub(super) fn ended_by(&self, function: &Function, kind: &InstKind) -> Vec<LocalId> {
        function.ended_by(kind, &self.scope_locals)
    }
}

/// Something in the plan that does not fit the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// The IR function it concerns (empty if none).
    pub(super) function: String,
    /// The instruction's span, if any.
    pub(super) span: Span,
    /// What is wrong.
    pub(super) message: String,
}

/// The whole plan, indexed by IR function.
#[derive(Debug, Clone, Default)]
pub(super) struct PlanIndex {
    /// Indexed by [`FunctionId`].
    pub(super) functions: Vec<FnPlan>,
    /// What did not fit.
    pub(super) problems: Vec<Problem>,
    /// The classes the plan's type table marks `cyclic`.
    pub(super) cyclic: std::collections::HashSet<crate::ClassId>,
}

impl PlanIndex {
    /// Indexes `plan` against `program` (which must have passed validation).
    pub(super) fn build(program: &Program, plan: &MemoryPlan) -> PlanIndex {
        let mut index = PlanIndex {
            functions: program.functions.iter().map(skeleton).collect(),
            problems: Vec::new(),
            cyclic: Default::default(),
        };
        // By name through a map: a search of the classes per cyclic type was quadratic (a
        // ring of 87,500 classes took 30 s to run).
        let mut class_by_name: HashMap<&str, usize> = HashMap::new();
        for (c, class) in program.classes.iter().enumerate() {
            class_by_name.entry(class.name.as_str()).or_insert(c);
        }
        for t in plan.types.iter().filter(|t| t.cyclic) {
            if let Some(&c) = class_by_name.get(t.name.as_str()) {
                index.cyclic.insert(crate::ClassId(c as u32));
            }
        }
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, f) in program.functions.iter().enumerate() {
            by_name.entry(f.name.as_str()).or_insert(i);
        }
        let mut planned = vec![false; program.functions.len()];
        for fp in &plan.functions {
            let Some(&id) = by_name.get(fp.name.as_str()) else {
                index.problem(
                    "",
                    Span::NONE,
                    format!("the plan has a function `{}` the program does not", fp.name),
                );
                continue;
            };
            if std::mem::replace(&mut planned[id], true) {
                index.problem(&fp.name, Span::NONE, format!("the plan has two entries for `{}`", fp.name));
                continue;
            }
            let function = &program.functions[id];
            for alloc in &fp.allocations {
                index.allocation(function, id, alloc);
            }
            for op in &fp.ops {
                index.op(program, function, id, op);
            }
        }
        index
    }

    /// Whether a value of type `ty` may be part of a reference cycle (spec/plan-format.md
    /// 4.2): an object of a class the type table marks `cyclic`, an array or nullable value
    /// of such a type, a struct with a field of one, or a closure (its environment may hold
    /// anything, another closure or an array holding it included).
    pub(super) fn type_may_cycle(&self, program: &Program, ty: &crate::Type) -> bool {
        // Iterative, each struct type looked into once: a struct may reach itself through
        // arrays (`struct S { a: [S], b: [S] }`), and following every path would be
        // exponential in its depth.
        let mut seen_structs = vec![false; program.structs.len()];
        let mut stack = vec![ty];
        while let Some(ty) = stack.pop() {
            match ty {
                crate::Type::Class(c) if self.cyclic.contains(c) => return true,
                crate::Type::Closure(_) => return true,
                crate::Type::Array(inner) | crate::Type::Nullable(inner) => stack.push(inner),
                crate::Type::Struct(s) => {
                    if let Some(seen) = seen_structs.get_mut(s.index())
                        && !std::mem::replace(seen, true)
                        && let Some(def) = program.structs.get(s.index())
                    {
                        stack.extend(def.fields.iter().map(|f| &f.ty));
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// Whether what the allocating instruction `inst` makes may be part of a reference
    /// cycle: an object of a `cyclic` class, an array whose elements may be, a closure
    /// whose captures may be; never a string.
    pub(super) fn allocation_may_cycle(
        &self,
        program: &Program,
        function: &Function,
        inst: &InstKind,
    ) -> bool {
        match inst {
            InstKind::NewObject { class, .. } => self.cyclic.contains(class),
            InstKind::NewArray { elem, .. } | InstKind::NewArrayRepeat { elem, .. } => {
                self.type_may_cycle(program, elem)
            }
            InstKind::NewClosure { captures, .. } => captures
                .iter()
                .any(|&c| function.get_local(c).is_some_and(|d| self.type_may_cycle(program, &d.ty))),
            _ => false,
        }
    }

    /// The plan of a function.
    pub(super) fn function(&self, id: FunctionId) -> Option<&FnPlan> {
        self.functions.get(id.index())
    }

    fn problem(&mut self, function: &str, span: Span, message: String) {
        self.problems.push(Problem { function: function.to_string(), span, message });
    }

    fn allocation(&mut self, function: &Function, id: usize, alloc: &AllocationPlan) {
        let Some(inst) = function.inst(alloc.inst) else {
            let message =
                format!("allocation `{}` is placed at {}, which does not exist", alloc.id, alloc.inst);
            return self.problem(&function.name, Span::NONE, message);
        };
        if !inst.kind.is_allocation() {
            let message = format!(
                "allocation `{}` is placed at {}, which is `{}`, not an allocation",
                alloc.id,
                alloc.inst,
                inst.kind.mnemonic()
            );
            return self.problem(&function.name, inst.span, message);
        }
        let slot = &mut self.functions[id].insts[alloc.inst.block.index()][alloc.inst.index as usize];
        if slot.alloc.is_some() {
            let message = format!("two allocation entries for {} (`{}` is the second)", alloc.inst, alloc.id);
            return self.problem(&function.name, inst.span, message);
        }
        slot.alloc = Some(AllocInfo {
            placement: alloc.placement,
            arena_scope: alloc.arena_scope,
            id: alloc.id.clone(),
        });
    }

    fn op(&mut self, program: &Program, function: &Function, id: usize, op: &Op) {
        let Some(inst) = function.inst(op.inst) else {
            let message = format!("`{}` is placed at {}, which does not exist", op.op.as_str(), op.inst);
            return self.problem(&function.name, Span::NONE, message);
        };
        let local_ok = |l: LocalId| l.index() < function.locals.len();
        let resolved = match resolve(program, function, &inst.kind, op) {
            Ok(target) => target,
            Err(message) => return self.problem(&function.name, inst.span, message),
        };
        if let Some(count) = op.count
            && !local_ok(count)
        {
            let message =
                format!("`{}` at {} repeats by %{}, which does not exist", op.op.as_str(), op.inst, count.0);
            return self.problem(&function.name, inst.span, message);
        }
        let rop = ROp { kind: op.op, target: resolved, count: op.count };
        let slot = &mut self.functions[id].insts[op.inst.block.index()][op.inst.index as usize];
        match op.when {
            When::Before => slot.before.push(rop),
            When::After => slot.after.push(rop),
        }
    }
}

/// An empty plan shaped like the function, with its scopes' locals.
fn skeleton(function: &Function) -> FnPlan {
    FnPlan {
        insts: function.blocks.iter().map(|b| vec![InstPlan::default(); b.insts.len()]).collect(),
        scope_locals: function.scope_locals(),
    }
}
