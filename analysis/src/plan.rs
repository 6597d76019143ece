//! Assembling a [`MemoryPlan`]: the parts every plan shares, naive or inferred.
//!
//! - source spans with line and column;
//! - the type table: which classes can form cycles (a strongly connected component of the
//!   class graph, whose edges are reference-holding fields) and through which fields, and
//!   the order fields are released in;
//! - allocation sites (`function#n` in instruction order) and their kinds and types;
//! - the names plans show for locals (`x`, `%3`);
//! - the stats, counted from the plan itself.

use custody_ir as ir;
use custody_ir::plan::*;
use custody_syntax::{LineIndex, TextSize};
use petgraph::graph::DiGraph;

/// Turns IR spans into plan spans with lines and columns (all zero for IR without source).
pub struct SpanMap<'a> {
    index: Option<&'a LineIndex>,
}

impl<'a> SpanMap<'a> {
    /// Spans of a source file.
    pub fn new(index: Option<&'a LineIndex>) -> SpanMap<'a> {
        SpanMap { index }
    }

    /// The plan span of an IR span.
    pub fn span(&self, span: ir::Span) -> SourceSpan {
        let (line, col) = match self.index {
            Some(index) if span != ir::Span::NONE => {
                let pos = index.line_col(TextSize::from(span.start));
                (pos.line, pos.col)
            }
            _ => (0, 0),
        };
        SourceSpan { start: span.start, end: span.end, line, col }
    }
}

/// The plan of IR that failed validation: no functions, no types, and one `invalid-ir`
/// error per problem the validator found, in its order.
pub fn invalid_ir_plan(source: &str, spans: &SpanMap<'_>, errors: &[ir::ValidationError]) -> MemoryPlan {
    MemoryPlan {
        format: PLAN_FORMAT.to_string(),
        version: PLAN_VERSION,
        source: source.to_string(),
        types: Vec::new(),
        stats: stats(&[], 0),
        functions: Vec::new(),
        diagnostics: errors
            .iter()
            .map(|e| PlanDiagnostic {
                severity: "error".to_string(),
                code: INVALID_IR.to_string(),
                message: e.to_string(),
                span: spans.span(e.span),
                related: Vec::new(),
            })
            .collect(),
    }
}

/// The code of a plan diagnostic for IR that failed validation.
pub const INVALID_IR: &str = "invalid-ir";

/// The type table: every class and struct, with cycle facts and release order.
pub fn type_table(program: &ir::Program) -> Vec<TypeInfo> {
    let cycles = class_cycles(program);
    let classes = program.classes.iter().enumerate().map(|(i, class)| TypeInfo {
        name: class.name.clone(),
        kind: TypeKind::Class,
        cyclic: !cycles[i].is_empty(),
        cycle_via: cycles[i].clone(),
        release_order: class.fields.iter().map(|f| f.name.clone()).collect(),
    });
    let structs = program.structs.iter().map(|s| TypeInfo {
        name: s.name.clone(),
        kind: TypeKind::Struct,
        cyclic: false,
        cycle_via: vec![],
        release_order: s.fields.iter().map(|f| f.name.clone()).collect(),
    });
    classes.chain(structs).collect()
}

/// The classes a value of `ty` can hold a reference to (through arrays, nullables,
/// structs and closures' unknown environments aside). Each struct type is looked into
/// once: a struct may reach itself through arrays (`struct S { a: [S], b: [S] }`), and
/// following every path would be exponential in its depth.
fn referenced_classes(program: &ir::Program, ty: &ir::Type, out: &mut Vec<usize>) {
    let mut seen_structs = vec![false; program.structs.len()];
    let mut work = vec![ty];
    while let Some(ty) = work.pop() {
        match ty {
            ir::Type::Class(c) => out.push(c.index()),
            ir::Type::Array(elem) | ir::Type::Nullable(elem) => work.push(elem),
            // A closure's environment can hold anything: conservatively, every class.
            ir::Type::Closure(_) => out.extend(0..program.classes.len()),
            ir::Type::Struct(s) => {
                if let Some(seen) = seen_structs.get_mut(s.index())
                    && !std::mem::replace(seen, true)
                    && let Some(def) = program.structs.get(s.index())
                {
                    work.extend(def.fields.iter().map(|f| &f.ty));
                }
            }
            _ => {}
        }
    }
}

/// For each class, the fields (`Class.field`) through which a cycle of classes can close:
/// the fields whose target class is in the same strongly connected component.
fn class_cycles(program: &ir::Program) -> Vec<Vec<String>> {
    let n = program.classes.len();
    let mut graph = DiGraph::<usize, (usize, usize)>::with_capacity(n, n);
    let nodes: Vec<_> = (0..n).map(|i| graph.add_node(i)).collect();
    for (i, class) in program.classes.iter().enumerate() {
        for (f, field) in class.fields.iter().enumerate() {
            let mut targets = Vec::new();
            referenced_classes(program, &field.ty, &mut targets);
            for t in targets {
                if t < n {
                    graph.add_edge(nodes[i], nodes[t], (i, f));
                }
            }
        }
    }
    let mut component = vec![usize::MAX; n];
    for (c, scc) in crate::scc::tarjan_scc(&graph).into_iter().enumerate() {
        for node in scc {
            component[graph[node]] = c;
        }
    }
    let mut via = vec![Vec::new(); n];
    for edge in graph.edge_indices() {
        let (a, b) = graph.edge_endpoints(edge).unwrap_or((nodes[0], nodes[0]));
        let (class, field) = graph[edge];
        if component[graph[a]] == component[graph[b]] {
            let name =
                format!("{}.{}", program.classes[class].name, program.classes[class].fields[field].name);
            if !via[class].contains(&name) {
                via[class].push(name);
            }
        }
    }
    via
}

/// Whether a value of this type may hold references (a struct may, in its fields).
pub fn holds_references(ty: &ir::Type) -> bool {
    matches!(ty.value_kind(), ir::ValueKind::Reference | ir::ValueKind::Struct)
}

/// Whether a value of `ty` may hold a reference, looking into struct fields (a struct of
/// immediates holds none).
pub fn type_holds_references(program: &ir::Program, ty: &ir::Type) -> bool {
    // Each struct type is looked into once (a struct reaches itself only through an array,
    // a reference, where the walk stops; but nested structs may share parts, and following
    // every path would be exponential). This runs per operation: the structs met are
    // usually few, so they are remembered in a short list rather than a set over all of
    // the program's; past a few dozen (a generated chain of 87,500 nested structs) in a
    // hash set, or the list's searches would make the walk quadratic.
    let mut seen = SeenStructs::default();
    let mut work = vec![ty];
    while let Some(ty) = work.pop() {
        match ty.non_null() {
            ir::Type::Struct(s) => match program.structs.get(s.index()) {
                // An unknown struct: conservatively, it may.
                None => return true,
                Some(def) => {
                    if seen.first_visit(s.0) {
                        work.extend(def.fields.iter().map(|f| &f.ty));
                    }
                }
            },
            ty if holds_references(ty) => return true,
            _ => {}
        }
    }
    false
}

/// The structs a walk over types has met: a short list while they are few (the usual
/// case, and cheap to make per operation), a hash set past a few dozen (a generated
/// chain of 87,500 nested structs), so no walk is quadratic.
#[derive(Default)]
pub(crate) struct SeenStructs {
    few: Vec<u32>,
    many: Option<std::collections::HashSet<u32>>,
}

impl SeenStructs {
    /// Whether struct `s` was met.
    pub(crate) fn contains(&self, s: u32) -> bool {
        match &self.many {
            Some(set) => set.contains(&s),
            None => self.few.contains(&s),
        }
    }

    /// Records struct `s`; whether it was met for the first time.
    pub(crate) fn first_visit(&mut self, s: u32) -> bool {
        match &mut self.many {
            Some(set) => set.insert(s),
            None if self.few.contains(&s) => false,
            None => {
                self.few.push(s);
                if self.few.len() > 32 {
                    self.many = Some(self.few.drain(..).collect());
                }
                true
            }
        }
    }
}

/// The name a plan shows for a local: its source name, or `%n` for a temporary.
pub fn local_name(function: &ir::Function, local: ir::LocalId) -> String {
    function.get_local(local).and_then(|l| l.name.clone()).unwrap_or_else(|| format!("%{}", local.0))
}

/// The kind and the type (as the source writes it) of an allocation instruction.
pub fn allocation_kind(
    program: &ir::Program,
    function: &ir::Function,
    kind: &ir::InstKind,
) -> Option<(AllocKind, String)> {
    let ty = |local: ir::LocalId| {
        function.get_local(local).map_or_else(String::new, |l| l.ty.display(program).to_string())
    };
    match kind {
        ir::InstKind::NewObject { dest, .. } => Some((AllocKind::Object, ty(*dest))),
        ir::InstKind::NewArray { dest, .. } | ir::InstKind::NewArrayRepeat { dest, .. } => {
            Some((AllocKind::Array, ty(*dest)))
        }
        ir::InstKind::Concat { .. } | ir::InstKind::ToString { .. } => {
            Some((AllocKind::String, "string".into()))
        }
        ir::InstKind::NewClosure { dest, .. } => Some((AllocKind::Closure, ty(*dest))),
        _ => None,
    }
}

/// The stats of a plan, counted from its functions.
pub fn stats(functions: &[FunctionPlan], rc_ops_naive: u32) -> PlanStats {
    let mut stats = PlanStats { functions: functions.len() as u32, rc_ops_naive, ..PlanStats::default() };
    for f in functions {
        for a in &f.allocations {
            stats.allocations += 1;
            stats.by_placement.add(a.placement);
        }
        stats.rc_ops += count_rc_ops(f) as u32;
    }
    stats
}

/// The counter operations of a function's plan: `dup` and `drop`s whose value can be
/// counted (every `dup` and `drop` a plan emits is on a counted value or a no-op).
pub fn count_rc_ops(f: &FunctionPlan) -> usize {
    f.ops.iter().filter(|op| matches!(op.op, OpKind::Dup | OpKind::Drop)).count()
}

/// The temporaries a literal takes (`spec/language.md` 7.3): written once, and read once,
/// as a field of a class or struct literal, an element of an array literal or a closure's
/// capture. The new value holds them from then on, and the statement no longer does. Both
/// plans follow this one definition (rules naive-move-part, life-observable-handover):
/// when they disagreed, destructors ran in another order under each.
pub(crate) fn literal_temporaries(f: &ir::Function) -> std::collections::HashSet<ir::LocalId> {
    let n = f.locals.len();
    let (mut defs, mut reads) = (vec![0u32; n], vec![0u32; n]);
    for (_, inst) in f.insts() {
        if let Some(d) = inst.kind.dest().and_then(|d| defs.get_mut(d.index())) {
            *d += 1;
        }
        for u in inst.kind.uses() {
            if let Some(r) = reads.get_mut(u.index()) {
                *r += 1;
            }
        }
    }
    let mut out = std::collections::HashSet::new();
    for (_, inst) in f.insts() {
        let parts = match &inst.kind {
            ir::InstKind::NewObject { fields: parts, .. }
            | ir::InstKind::NewStruct { fields: parts, .. }
            | ir::InstKind::NewArray { elems: parts, .. }
            | ir::InstKind::NewClosure { captures: parts, .. } => parts,
            _ => continue,
        };
        for &p in parts {
            let temp = f.get_local(p).is_some_and(|d| d.kind == ir::LocalKind::Temp);
            if temp && defs.get(p.index()) == Some(&1) && reads.get(p.index()) == Some(&1) {
                out.insert(p);
            }
        }
    }
    out
}
