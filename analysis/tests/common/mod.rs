//! What the annotated-case harnesses (`escape_cases.rs`, `lifetime_cases.rs`) share.

use custody_ir::plan::{FunctionPlan, MemoryPlan, ParamPlan};
use custody_ir::{LocalDecl, Program, Span};
use custody_syntax::LineIndex;

/// Every parameter the source declares (not those the lowering adds), with the line its
/// declaration starts on: where a case annotates it.
pub(crate) fn declared_params<'a>(
    plan: &'a MemoryPlan,
    program: &'a Program,
    index: &LineIndex,
) -> Vec<(u32, &'a FunctionPlan, &'a ParamPlan, &'a LocalDecl)> {
    let mut out = Vec::new();
    for (f, ir_f) in plan.functions.iter().zip(&program.functions) {
        for (i, p) in f.params.iter().enumerate() {
            let Some(decl) = ir_f.params.get(i).and_then(|&l| ir_f.get_local(l)) else { continue };
            if decl.span != Span::NONE {
                out.push((index.line_col(decl.span.start.into()).line, f, p, decl));
            }
        }
    }
    out
}
