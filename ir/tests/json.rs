//! JSON is how frontends in other languages hand programs to custody: every instruction and
//! type must survive a round trip through `serde_json` unchanged, and no JSON that
//! deserialises can make the validator or the printer panic.

use custody_ir::{
    BinaryOp, Callee, FunctionKind, InstKind, Mode, Program, ProgramBuilder, Span, Type, UnaryOp,
    print_program, validate,
};
use expect_test::expect;
use serde_json::Value;

/// A program that uses every instruction and every type (checked below), and is valid.
fn kitchen_sink() -> Program {
    let mut b = ProgramBuilder::new();
    b.set_span(Span::new(0, 40));
    let node = b.declare_class("Node");
    b.add_class_field(node, "value", Type::Int);
    b.add_class_field(node, "next", Type::Class(node).nullable());
    b.set_span(Span::new(41, 70));
    let point = b.add_struct("Point", &[("x", Type::Float), ("y", Type::Float)]);
    b.set_span(Span::NONE);
    let counter = b.add_global("counter", Type::Int);
    let log = b.add_extern("write_log", &[("msg", Type::String, Some(Mode::Borrow))], Type::Int);
    let register =
        b.add_extern("register", &[("handler", Type::closure([Type::Int], Type::Int), None)], None);

    let init = b.declare_function("init", FunctionKind::GlobalInit);
    let get = b.declare_method(node, "get");
    let drop = b.declare_drop(node);
    let main = b.declare_function("main", FunctionKind::Plain);
    let body = b.declare_closure(main);
    b.set_main(main);

    let mut f = b.function(init);
    let zero = f.temp(Type::Int);
    f.const_int(zero, 0).store_global(counter, zero).ret(None);

    let mut f = b.function(get);
    f.returns(Type::Int);
    let this = f.self_param(Mode::Borrow);
    let value = f.temp(Type::Int);
    f.load_field(value, this, 0).ret(value);

    let mut f = b.function(drop);
    f.self_param(None);
    let bye = f.temp(Type::String);
    f.const_str(bye, "bye \"node\"\n").print(bye).ret(None);

    let mut f = b.function(body);
    f.returns(Type::Int);
    let captured = f.capture("n", Type::Int);
    let x = f.param("x", Type::Int, None);
    let sum = f.temp(Type::Int);
    f.binary(sum, BinaryOp::Add, captured, x).ret(sum);

    let mut f = b.function(main);
    f.arena().item_span(Span::new(100, 400));
    let closure_ty = Type::closure([Type::Int], Type::Int);
    let i = f.local("i", Type::Int);
    let fl = f.local("f", Type::Float);
    let t = f.local("t", Type::Bool);
    let s = f.local("s", Type::String);
    let maybe = f.local("maybe", Type::Class(node).nullable());
    let n = f.local("n", Type::Class(node));
    let arr = f.local("arr", Type::array(Type::Int));
    let rep = f.local("rep", Type::array(Type::Int));
    let clo = f.local("clo", closure_ty.clone());
    let maybe_clo = f.local("maybe_clo", closure_ty.clone().nullable());
    let pt = f.local("pt", Type::Struct(point));
    let each = f.loop_var("each", Type::Int);
    f.set_span(Span::new(120, 130));
    let i2 = f.temp(Type::Int);
    let neg = f.temp(Type::Int);
    let not = f.temp(Type::Bool);
    let sum = f.temp(Type::Int);
    let is_null = f.temp(Type::Bool);
    let s2 = f.temp(Type::String);
    let s3 = f.temp(Type::String);
    let v = f.temp(Type::Int);
    let e = f.temp(Type::Int);
    let popped = f.temp(Type::Int);
    let len = f.temp(Type::Int);
    let g = f.temp(Type::Int);
    let r = f.temp(Type::Int);
    let r2 = f.temp(Type::Int);
    let w = f.temp(Type::Int);
    let small = f.temp(Type::Float);
    let third = f.temp(Type::Float);
    let huge = f.temp(Type::Float);
    let neg_zero = f.temp(Type::Float);
    let c = f.temp(Type::Bool);
    let fmaybe = f.temp(Type::Float.nullable());
    let then_block = f.new_block();
    let else_block = f.new_block();
    let dead = f.new_block();

    let scope = f.arena_scope_enter(&[i, fl, t, s, maybe, n, arr, rep, clo, maybe_clo, pt]);
    f.set_span(Span::new(140, 141));
    f.const_int(i, -9_223_372_036_854_775_808);
    f.const_float(fl, 2.5);
    f.const_float(small, f64::MIN_POSITIVE);
    f.const_float(third, 1.0 / 3.0);
    f.const_float(huge, 1e300);
    f.const_float(neg_zero, -0.0);
    f.const_float(fmaybe, 0.1);
    f.const_bool(t, true);
    f.const_str(s, "héllo\t\u{1f600}");
    f.const_null(maybe);
    f.clear_span();
    f.copy(i2, i);
    f.unary(neg, UnaryOp::Neg, i);
    f.unary(not, UnaryOp::Not, t);
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Rem] {
        f.binary(sum, op, i, i2);
    }
    for op in [BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge] {
        f.binary(c, op, s, s2);
    }
    f.is_null(is_null, maybe);
    f.null_check(maybe);
    f.new_object(n, node, &[i, maybe]);
    f.new_array(arr, Type::Int, &[i, i2]);
    f.new_array_repeat(rep, Type::Int, i, i2);
    f.concat(s2, s, s);
    f.to_string(s3, fl);
    f.new_closure(clo, body, &[i]);
    f.copy(maybe_clo, clo);
    f.new_struct(pt, point, &[fl, fmaybe]);
    f.load_field(v, n, 0);
    f.store_field(n, 1, maybe);
    f.store_field(pt, 0, fl);
    f.load_elem(e, arr, i);
    f.store_elem(arr, i, e);
    f.push(arr, each);
    f.pop(popped, arr);
    f.len(len, arr);
    f.load_global(g, counter);
    f.store_global(counter, len);
    f.call(r, get, &[n]);
    f.call(r2, Callee::Closure(maybe_clo), &[r]);
    f.call(w, log, &[s2]);
    f.call(None, register, &[clo]);
    f.spawn(get, &[n]);
    f.print(s3);
    f.free(rep);
    f.branch(c, then_block, else_block);
    f.switch_to(then_block).scope_exit(scope).ret(None);
    f.switch_to(else_block).jump(dead);
    f.switch_to(dead).unreachable();
    b.finish()
}

/// A number per `InstKind` variant; the match makes a new variant a compile error here.
fn inst_variant(kind: &InstKind) -> usize {
    use InstKind::*;
    match kind {
        Const { .. } => 0,
        Copy { .. } => 1,
        Unary { .. } => 2,
        Binary { .. } => 3,
        IsNull { .. } => 4,
        NullCheck { .. } => 5,
        NewObject { .. } => 6,
        NewArray { .. } => 7,
        NewArrayRepeat { .. } => 8,
        Concat { .. } => 9,
        ToString { .. } => 10,
        NewClosure { .. } => 11,
        NewStruct { .. } => 12,
        LoadField { .. } => 13,
        StoreField { .. } => 14,
        LoadElem { .. } => 15,
        StoreElem { .. } => 16,
        Push { .. } => 17,
        Pop { .. } => 18,
        Len { .. } => 19,
        LoadGlobal { .. } => 20,
        StoreGlobal { .. } => 21,
        Call { .. } => 22,
        Spawn { .. } => 23,
        Print { .. } => 24,
        Free { .. } => 25,
        ScopeEnter { .. } => 26,
        ScopeExit { .. } => 27,
        Jump { .. } => 28,
        Branch { .. } => 29,
        Return { .. } => 30,
        Unreachable => 31,
    }
}
const INST_VARIANTS: usize = 32;

/// A number per `Type` variant, over a type and everything inside it.
fn type_variants(ty: &Type, seen: &mut [bool; 9]) {
    let index = match ty {
        Type::Int => 0,
        Type::Float => 1,
        Type::Bool => 2,
        Type::String => 3,
        Type::Array(elem) => {
            type_variants(elem, seen);
            4
        }
        Type::Nullable(inner) => {
            type_variants(inner, seen);
            5
        }
        Type::Struct(_) => 6,
        Type::Class(_) => 7,
        Type::Closure(sig) => {
            for t in sig.params.iter().chain(&sig.ret) {
                type_variants(t, seen);
            }
            8
        }
    };
    seen[index] = true;
}

#[test]
fn kitchen_sink_uses_every_instruction_and_type_and_is_valid() {
    let program = kitchen_sink();
    let mut insts = [false; INST_VARIANTS];
    let mut types = [false; 9];
    for function in &program.functions {
        for (_, inst) in function.insts() {
            insts[inst_variant(&inst.kind)] = true;
        }
        for local in &function.locals {
            type_variants(&local.ty, &mut types);
        }
    }
    assert!(insts.iter().all(|&x| x), "instructions not used: {insts:?}");
    assert!(types.iter().all(|&x| x), "types not used: {types:?}");
    assert_eq!(validate(&program), Ok(()));
}

#[test]
fn json_round_trip_is_lossless() {
    let program = kitchen_sink();
    let compact = serde_json::to_string(&program).unwrap();
    let back: Program = serde_json::from_str(&compact).unwrap();
    assert_eq!(back, program);
    let pretty = serde_json::to_string_pretty(&program).unwrap();
    let back: Program = serde_json::from_str(&pretty).unwrap();
    assert_eq!(back, program);
    // Byte-identical on a second trip, and floats keep their exact bits (`==` cannot
    // tell `-0.0` from `0.0`).
    assert_eq!(serde_json::to_string(&back).unwrap(), compact);
    let bits = |p: &Program| -> Vec<u64> {
        p.functions
            .iter()
            .flat_map(|f| f.insts())
            .filter_map(|(_, inst)| match &inst.kind {
                InstKind::Const { value: custody_ir::Constant::Float(v), .. } => Some(v.to_bits()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(bits(&back), bits(&program));
    assert_eq!(print_program(&back), print_program(&program));
}

#[test]
fn kitchen_sink_prints() {
    expect![[r#"
        class Node { value: int, next: Node? }  drop: Node.drop  methods: Node.get  @0..40
        struct Point { x: float, y: float }  @41..70
        global counter: int
        extern fn write_log(borrow msg: string) -> int
        extern fn register(handler: fn(int) -> int)

        main: fn main
        global_init: fn init

        fn init()  global init {
            %0: int  temp
        b0:
            %0 = const 0
            store_global counter = %0
            return
        }

        fn Node.get(borrow %0 self: Node) -> int  method of Node {
            %0 self: Node  param borrow
            %1: int        temp
        b0:
            %1 = load_field %0.value
            return %1
        }

        fn Node.drop(%0 self: Node)  drop of Node {
            %0 self: Node  param
            %1: string     temp
        b0:
            %1 = const "bye \"node\"\n"
            print %1
            return
        }

        @arena fn main()  @100..400 {
            %0 i: int                        let
            %1 f: float                      let
            %2 t: bool                       let
            %3 s: string                     let
            %4 maybe: Node?                  let
            %5 n: Node                       let
            %6 arr: [int]                    let
            %7 rep: [int]                    let
            %8 clo: fn(int) -> int           let
            %9 maybe_clo: (fn(int) -> int)?  let
            %10 pt: Point                    let
            %11 each: int                    loop_var
            %12: int                         temp      @120..130
            %13: int                         temp      @120..130
            %14: bool                        temp      @120..130
            %15: int                         temp      @120..130
            %16: bool                        temp      @120..130
            %17: string                      temp      @120..130
            %18: string                      temp      @120..130
            %19: int                         temp      @120..130
            %20: int                         temp      @120..130
            %21: int                         temp      @120..130
            %22: int                         temp      @120..130
            %23: int                         temp      @120..130
            %24: int                         temp      @120..130
            %25: int                         temp      @120..130
            %26: int                         temp      @120..130
            %27: float                       temp      @120..130
            %28: float                       temp      @120..130
            %29: float                       temp      @120..130
            %30: float                       temp      @120..130
            %31: bool                        temp      @120..130
            %32: float?                      temp      @120..130
        b0:
            scope_enter s0 arena [%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10]  @120..130
            %0 = const -9223372036854775808     @140..141
            %1 = const 2.5                      @140..141
            %27 = const 2.2250738585072014e-308  @140..141
            %28 = const 0.3333333333333333      @140..141
            %29 = const 1e300                   @140..141
            %30 = const -0.0                    @140..141
            %32 = const 0.1                     @140..141
            %2 = const true                     @140..141
            %3 = const "héllo\t😀"               @140..141
            %4 = const null                     @140..141
            %12 = copy %0
            %13 = neg %0
            %14 = not %2
            %15 = add %0, %12
            %15 = sub %0, %12
            %15 = mul %0, %12
            %15 = div %0, %12
            %15 = rem %0, %12
            %31 = eq %3, %17
            %31 = ne %3, %17
            %31 = lt %3, %17
            %31 = le %3, %17
            %31 = gt %3, %17
            %31 = ge %3, %17
            %16 = is_null %4
            null_check %4
            %5 = new_object Node { value: %0, next: %4 }
            %6 = new_array int [%0, %12]
            %7 = new_array_repeat int [%0; %12]
            %17 = concat %3, %3
            %18 = to_string %1
            %8 = new_closure main#closure0 [%0]
            %9 = copy %8
            %10 = new_struct Point { x: %1, y: %32 }
            %19 = load_field %5.value
            store_field %5.next = %4
            store_field %10.x = %1
            %20 = load_elem %6[%0]
            store_elem %6[%0] = %20
            push %6, %11
            %21 = pop %6
            %22 = len %6
            %23 = load_global counter
            store_global counter = %22
            %24 = call Node.get(%5)
            %25 = call %9(%24)
            %26 = call extern write_log(%17)
            call extern register(%8)
            spawn Node.get(%5)
            print %18
            free %7
            branch %31, b1, b2
        b1:
            scope_exit s0
            return
        b2:
            jump b3
        b3:
            unreachable
        }

        fn main#closure0(%1 x: int) -> int  closure in main  captures [%0 n] {
            %0 n: int  capture
            %1 x: int  param
            %2: int    temp
        b0:
            %2 = add %0, %1
            return %2
        }
    "#]]
    .assert_eq(&print_program(&kitchen_sink()));
}

#[test]
fn json_shape_of_a_small_program() {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let x = f.temp(Type::Int.nullable());
    f.set_span(Span::new(3, 7));
    f.const_null(x).ret(None);
    let json = serde_json::to_string_pretty(&b.finish()).unwrap();
    expect![[r#"
        {
          "classes": [],
          "structs": [],
          "globals": [],
          "externs": [],
          "functions": [
            {
              "name": "main",
              "kind": "plain",
              "arena": false,
              "manual": false,
              "params": [],
              "captures": [],
              "ret": null,
              "locals": [
                {
                  "name": null,
                  "ty": {
                    "nullable": "int"
                  },
                  "kind": "temp",
                  "span": {
                    "start": 0,
                    "end": 0
                  }
                }
              ],
              "blocks": [
                {
                  "insts": [
                    {
                      "inst": "const",
                      "dest": 0,
                      "value": "null",
                      "span": {
                        "start": 3,
                        "end": 7
                      }
                    },
                    {
                      "inst": "return",
                      "value": null,
                      "span": {
                        "start": 3,
                        "end": 7
                      }
                    }
                  ]
                }
              ],
              "span": {
                "start": 0,
                "end": 0
              }
            }
          ],
          "global_init": null,
          "main": 0
        }"#]]
    .assert_eq(&json);
}

/// Every number in the JSON value, as a path of object keys and array indices.
fn number_paths(value: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match value {
        Value::Number(_) => out.push(path.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Value::from(i));
                number_paths(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                path.push(Value::from(key.as_str()));
                number_paths(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(value, |v, key| match key {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// Every id, index and count in the kitchen sink replaced in turn by a number far out of
/// range (and by 0): the validator reports the damage, and neither it nor the printer
/// panics.
#[test]
fn out_of_range_numbers_anywhere_never_panic() {
    let original = serde_json::to_value(kitchen_sink()).unwrap();
    let mut paths = Vec::new();
    number_paths(&original, &mut Vec::new(), &mut paths);
    assert!(paths.len() > 200, "only {} numbers", paths.len());
    let mut rejected = 0;
    for path in &paths {
        for replacement in [4_000_000_000u64, 0, 1] {
            let mut json = original.clone();
            *at(&mut json, path) = Value::from(replacement);
            let Ok(program) = serde_json::from_value::<Program>(json) else {
                continue;
            };
            if validate(&program).is_err() {
                rejected += 1;
            }
            let _ = print_program(&program);
        }
    }
    assert!(rejected > paths.len() / 2, "only {rejected} rejected");
}

/// Dropping any single instruction, local, block, field or parameter never panics either.
#[test]
fn removed_elements_never_panic() {
    let original = serde_json::to_value(kitchen_sink()).unwrap();
    let mut arrays = Vec::new();
    collect_array_paths(&original, &mut Vec::new(), &mut arrays);
    for path in &arrays {
        let len = at(&mut original.clone(), path).as_array().unwrap().len();
        for i in 0..len {
            let mut json = original.clone();
            at(&mut json, path).as_array_mut().unwrap().remove(i);
            if let Ok(program) = serde_json::from_value::<Program>(json) {
                let _ = validate(&program);
                let _ = print_program(&program);
            }
        }
    }
}

fn collect_array_paths(value: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match value {
        Value::Array(items) => {
            out.push(path.clone());
            for (i, item) in items.iter().enumerate() {
                path.push(Value::from(i));
                collect_array_paths(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                path.push(Value::from(key.as_str()));
                collect_array_paths(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}
