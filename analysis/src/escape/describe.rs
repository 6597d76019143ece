//! Witnesses in words: each step of a chain as a sentence with its source position, for
//! `custody explain` and the plan's `reason`.

use super::FunctionEscape;
use super::explain::{Root, Step};
use super::graph::{Obj, Rule, Sel, Sink};
use custody_ir as ir;
use custody_ir::{InstKind, Span};

/// One explained step: where, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The instruction's source (empty for facts without one).
    pub span: Span,
    /// The rule that justifies the step.
    pub rule: &'static str,
    /// What happened, for a person.
    pub text: String,
}

/// Positions as people read them (`12:9`), or byte ranges without source.
pub type Position<'a> = &'a dyn Fn(Span) -> String;

fn local_name(f: &ir::Function, local: ir::LocalId) -> Option<String> {
    f.get_local(local).and_then(|l| l.name.clone())
}

/// The name of summary parameter `i` (a closure's captures follow its parameters).
fn param_name(f: &ir::Function, i: u32) -> Option<String> {
    f.params.iter().chain(&f.captures).nth(i as usize).and_then(|&l| local_name(f, l))
}

/// The local of summary parameter `i`.
fn param_local(f: &ir::Function, i: u32) -> Option<ir::LocalId> {
    f.params.iter().chain(&f.captures).nth(i as usize).copied()
}

/// How to name a local in a sentence: `` `x` ``, or for a temporary the place it was
/// read from (`global `cache``, `field `items` of `o``).
fn place_name(program: &ir::Program, f: &ir::Function, local: ir::LocalId) -> String {
    if let Some(name) = local_name(f, local) {
        return format!("`{name}`");
    }
    let def = f.insts().find(|(_, i)| i.kind.dest() == Some(local)).map(|(_, i)| i.kind.clone());
    match def {
        Some(InstKind::LoadGlobal { global, .. }) => {
            format!("global `{}`", program.globals.get(global.index()).map_or("?", |g| g.name.as_str()))
        }
        Some(InstKind::LoadField { object, field, .. }) => {
            let ty = f.get_local(object).map(|l| l.ty.clone());
            format!(
                "field `{}` of {}",
                field_name(program, ty.as_ref(), Sel::Field(field)),
                place_name(program, f, object)
            )
        }
        Some(InstKind::LoadElem { array, .. }) => format!("an element of {}", place_name(program, f, array)),
        _ => "a temporary".to_string(),
    }
}

fn callee_name(program: &ir::Program, f: &ir::Function, callee: &ir::Callee) -> String {
    match callee {
        ir::Callee::Function(c) => program.functions.get(c.index()).map_or("?".into(), |f| f.name.clone()),
        ir::Callee::Extern(x) => program.externs.get(x.index()).map_or("?".into(), |e| e.name.clone()),
        ir::Callee::Closure(l) => local_name(f, *l).unwrap_or_else(|| "a closure".into()),
    }
}

/// A field's name, given the type of the value it is selected from.
fn field_name(program: &ir::Program, ty: Option<&ir::Type>, sel: Sel) -> String {
    match (sel, ty.map(|t| t.non_null())) {
        (Sel::Field(n), ty) => ty.and_then(|t| program.field(t, n)).map_or(n.to_string(), |f| f.name.clone()),
        (Sel::Elem, _) => "[]".into(),
        (Sel::Env(n), _) => format!("capture {n}"),
    }
}

/// How to name an object in a sentence.
pub fn describe_obj(
    program: &ir::Program,
    f: &ir::Function,
    fe: &FunctionEscape,
    obj: u32,
    pos: Position<'_>,
) -> String {
    match fe.graph.objs.item(obj) {
        Obj::Alloc(at) => {
            let what = match f.inst(*at).map(|i| &i.kind) {
                Some(InstKind::NewArray { .. } | InstKind::NewArrayRepeat { .. }) => "the array",
                Some(InstKind::Concat { .. } | InstKind::ToString { .. }) => "the string",
                Some(InstKind::NewClosure { .. }) => "the closure",
                Some(InstKind::NewStruct { .. }) => "the struct value",
                _ => "the object",
            };
            let span = f.inst(*at).map_or(Span::NONE, |i| i.span);
            format!("{what} allocated at {}", pos(span))
        }
        Obj::Param(i, path) => {
            let name = param_name(f, *i).unwrap_or_else(|| format!("#{i}"));
            if path.steps.is_empty() {
                format!("parameter `{name}`")
            } else {
                format!("an object inside parameter `{name}`")
            }
        }
        Obj::CallResult(at) => {
            let (callee, span) = match f.inst(*at) {
                Some(ir::Inst { kind: InstKind::Call { callee, .. }, span }) => {
                    (callee_name(program, f, callee), *span)
                }
                _ => ("a call".into(), Span::NONE),
            };
            format!("the result of `{callee}` at {}", pos(span))
        }
        Obj::Global(g) => {
            format!("global `{}`", program.globals.get(g.index()).map_or("?", |g| g.name.as_str()))
        }
        Obj::Unknown => "memory custody cannot see".into(),
        Obj::Copy(at) => {
            let span = f.inst(*at).map_or(Span::NONE, |i| i.span);
            match f.inst(*at).map(|i| &i.kind) {
                Some(InstKind::Copy { .. }) => format!("the struct copied at {}", pos(span)),
                _ => format!("the array written at {}", pos(span)),
            }
        }
        Obj::ParamCopy(i) => {
            let name = param_name(f, *i).unwrap_or_else(|| format!("#{i}"));
            format!("the copy of struct parameter `{name}`")
        }
    }
}

/// The witness of an object as sentences.
pub fn sentences(
    program: &ir::Program,
    f: &ir::Function,
    fe: &FunctionEscape,
    obj: u32,
    pos: Position<'_>,
) -> Vec<Sentence> {
    let mut out: Vec<Sentence> = Vec::new();
    for step in fe.verdicts.witness(&fe.solution, obj) {
        match step {
            Step::Flow { origin } => {
                // The buffer an array write leaves is an implementation detail of
                // copy-on-write: the write itself has been told already.
                if origin.rule == Rule::Cow {
                    continue;
                }
                let Some(at) = origin.at else { continue };
                let Some(inst) = f.inst(at) else { continue };
                // One sentence per statement: `push(cache, n)` is a push and a write-back.
                if out.last().is_some_and(|last| last.span == inst.span) {
                    continue;
                }
                if let Some(text) = flow_text(program, f, &inst.kind, origin.rule, pos, inst.span) {
                    out.push(Sentence { span: inst.span, rule: origin.rule.name(), text });
                }
            }
            Step::StoredIn { container, .. } if matches!(fe.graph.objs.item(container), Obj::Copy(at) if !fe.graph.struct_copies.contains_key(at)) =>
                {}
            Step::StoredIn { container, sel } => {
                let ty = container_type(f, fe, container);
                let field = field_name(program, ty.as_ref(), sel);
                let container_text = describe_obj(program, f, fe, container, pos);
                let text = if sel == Sel::Elem {
                    format!("it is an element of {container_text}")
                } else {
                    format!("it is in field `{field}` of {container_text}")
                };
                out.push(Sentence { span: Span::NONE, rule: "esc-reach", text });
            }
            Step::Reached(root) => {
                let text = match root {
                    Root::Return => format!("`{}` returns it: control passes to the caller", f.name),
                    Root::ParamContent(i) => {
                        let name = param_name(f, i).unwrap_or_default();
                        format!("it is now part of parameter `{name}`, which the caller controls")
                    }
                    Root::Sink(Sink::Global(g)) => format!(
                        "global `{}` keeps it for the rest of the program",
                        program.globals.get(g.index()).map_or("?", |g| g.name.as_str())
                    ),
                    Root::Sink(Sink::Thread) => "another thread can reach it".to_string(),
                    Root::Sink(Sink::Unknown) => "code custody cannot see may keep it".to_string(),
                    Root::Outside(owner) => {
                        format!(
                            "{} holds it, out of this function's control",
                            describe_obj(program, f, fe, owner, pos)
                        )
                    }
                };
                let rule = match root {
                    Root::Return => "esc-state-binding",
                    Root::ParamContent(_) => "esc-state-binding",
                    Root::Sink(Sink::Thread) => "esc-state-thread",
                    _ => "esc-state-uncontained",
                };
                out.push(Sentence { span: Span::NONE, rule, text });
            }
        }
    }
    out
}

/// The static type of the values an object stands for, when the analysis can tell.
fn container_type(f: &ir::Function, fe: &FunctionEscape, obj: u32) -> Option<ir::Type> {
    match fe.graph.objs.item(obj) {
        Obj::Alloc(at) | Obj::CallResult(at) => {
            f.inst(*at).and_then(|i| i.kind.dest()).and_then(|d| f.get_local(d)).map(|l| l.ty.clone())
        }
        Obj::Param(i, path) if path.steps.is_empty() => {
            param_local(f, *i).and_then(|l| f.get_local(l)).map(|l| l.ty.clone())
        }
        _ => None,
    }
}

fn flow_text(
    program: &ir::Program,
    f: &ir::Function,
    kind: &InstKind,
    rule: Rule,
    pos: Position<'_>,
    span: Span,
) -> Option<String> {
    let at = pos(span);
    let named = |l: ir::LocalId| local_name(f, l);
    Some(match kind {
        _ if rule == Rule::Alloc => return None,
        InstKind::Copy { dest, .. } => format!("assigned to `{}` at {at}", named(*dest)?),
        InstKind::LoadField { dest, .. } | InstKind::LoadElem { dest, .. } | InstKind::Pop { dest, .. } => {
            format!("read into `{}` at {at}", named(*dest)?)
        }
        InstKind::StoreField { object, field, .. } => {
            let ty = f.get_local(*object).map(|l| l.ty.clone());
            let name = field_name(program, ty.as_ref(), Sel::Field(*field));
            format!("stored into field `{name}` of {} at {at}", place_name(program, f, *object))
        }
        InstKind::StoreElem { array, .. } => {
            format!("stored into an element of {} at {at}", place_name(program, f, *array))
        }
        InstKind::Push { array, .. } => format!("pushed onto {} at {at}", place_name(program, f, *array)),
        InstKind::NewObject { .. } | InstKind::NewStruct { .. } => {
            format!("put into the object built at {at}")
        }
        InstKind::NewArray { .. } | InstKind::NewArrayRepeat { .. } => {
            format!("put into the array built at {at}")
        }
        InstKind::NewClosure { .. } => format!("captured by the closure created at {at}"),
        InstKind::StoreGlobal { global, .. } => {
            format!(
                "stored into global `{}` at {at}",
                program.globals.get(global.index()).map_or("?", |g| g.name.as_str())
            )
        }
        InstKind::LoadGlobal { .. } => return None,
        InstKind::Return { .. } => format!("returned at {at}"),
        InstKind::Call { callee, .. } => {
            let name = callee_name(program, f, callee);
            match (rule, callee) {
                (Rule::Extern, _) => {
                    format!("passed to extern `{name}` at {at}, whose parameter is not `borrow`")
                }
                (Rule::UnknownCall, _) => {
                    format!(
                        "passed to, or captured by, `{name}`, called at {at}: a closure custody cannot see"
                    )
                }
                (_, ir::Callee::Closure(_)) => {
                    format!("passed to the closure `{name}` at {at}, which keeps it")
                }
                _ => format!("passed to `{name}` at {at}, which keeps it"),
            }
        }
        InstKind::Spawn { callee, .. } => {
            format!("passed to a call of `{}` spawned at {at}", callee_name(program, f, callee))
        }
        _ => return None,
    })
}

/// The plan's one-line reason for an escaping object: its last flow and where it ended.
pub fn reason(
    program: &ir::Program,
    f: &ir::Function,
    fe: &FunctionEscape,
    obj: u32,
    pos: Position<'_>,
) -> String {
    let all = sentences(program, f, fe, obj, pos);
    let flows: Vec<&Sentence> = all.iter().filter(|s| s.span != Span::NONE).collect();
    let end = all.last().map(|s| s.text.clone()).unwrap_or_default();
    match flows.last() {
        Some(last) => format!("{}; {}", last.text, end),
        None => end,
    }
}
