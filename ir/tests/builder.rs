//! Programs built with the builder API: they validate, print as the snapshots show, and the
//! builder's bookkeeping (ids, method lists, scopes, spans) is what a frontend expects.

use custody_ir::{
    BinaryOp, BlockId, Callee, FunctionKind, InstAddr, InstKind, Location, Mode, Program, ProgramBuilder,
    ScopeId, Span, Type, print_program, validate,
};
use expect_test::{Expect, expect};

/// A linked list with a method, a destructor, a loop, a closure, a spawn, an `@arena` and
/// a `@manual` function, a global and an extern.
fn linked_list() -> Program {
    let mut b = ProgramBuilder::new();
    let node = b.declare_class("Node");
    let string = Type::String;
    let node_ty = Type::Class(node);
    let maybe_node = node_ty.clone().nullable();
    b.add_class_field(node, "value", string.clone());
    b.add_class_field(node, "next", maybe_node.clone());
    let count = b.add_global("count", Type::Int);
    let log = b.add_extern("write_log", &[("msg", string.clone(), Some(Mode::Borrow))], Type::Int);
    let init = b.declare_function("init", FunctionKind::GlobalInit);
    let len = b.declare_method(node, "len");
    let drop = b.declare_drop(node);
    let sum = b.declare_function("sum", FunctionKind::Plain);
    let scratch = b.declare_function("scratch", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    let greet = b.declare_closure(main);
    b.set_main(main);

    // count = 0
    let mut f = b.function(init);
    let zero = f.temp(Type::Int);
    f.const_int(zero, 0).store_global(count, zero).ret(None);

    // fn len(borrow self) -> int { let n = 0; let cur: Node? = self; while cur != null { ... } }
    let mut f = b.function(len);
    f.returns(Type::Int);
    let this = f.self_param(Mode::Borrow);
    let n = f.local("n", Type::Int);
    let cur = f.local("cur", maybe_node.clone());
    let done = f.temp(Type::Bool);
    let one = f.temp(Type::Int);
    let next = f.temp(maybe_node.clone());
    let (head, body, exit) = (f.new_block(), f.new_block(), f.new_block());
    let scope = f.scope_enter(&[n, cur]);
    f.const_int(n, 0).copy(cur, this).jump(head);
    f.switch_to(head).is_null(done, cur).branch(done, exit, body);
    f.switch_to(body)
        .const_int(one, 1)
        .binary(n, BinaryOp::Add, n, one)
        .load_field(next, cur, 1)
        .copy(cur, next)
        .jump(head);
    f.switch_to(exit).scope_exit(scope).ret(n);

    // drop { print("drop " + self.value); }
    let mut f = b.function(drop);
    let this = f.self_param(None);
    let prefix = f.temp(string.clone());
    let value = f.temp(string.clone());
    let text = f.temp(string.clone());
    f.const_str(prefix, "drop ").load_field(value, this, 0).concat(text, prefix, value).print(text).ret(None);

    // @arena fn sum(borrow xs: [int]) -> int { return xs[0] + len(xs); }
    let mut f = b.function(sum);
    f.arena().returns(Type::Int);
    let xs = f.param("xs", Type::array(Type::Int), Mode::Borrow);
    let (i, first, n, total) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Int));
    let scope = f.arena_scope_enter(&[]);
    f.const_int(i, 0)
        .load_elem(first, xs, i)
        .len(n, xs)
        .binary(total, BinaryOp::Add, first, n)
        .scope_exit(scope)
        .ret(total);

    // @manual fn scratch() { let n = Node { value: "tmp", next: null }; free(n); }
    let mut f = b.function(scratch);
    f.manual();
    let n = f.local("n", node_ty.clone());
    let (v, null) = (f.temp(string.clone()), f.temp(maybe_node.clone()));
    let scope = f.scope_enter(&[n]);
    f.const_str(v, "tmp")
        .const_null(null)
        .new_object(n, node, &[v, null])
        .free(n)
        .scope_exit(scope)
        .ret(None);

    // fn main() { let head: Node? = null; let i = 0; while i < 3 { head = Node { ... }; }
    //             print(head.len()); let greet = fn(name: string) { ... }; greet("x"); spawn write_log("hi"); }
    let mut f = b.function(main);
    f.item_span(Span::new(200, 420));
    let head = f.local("head", maybe_node.clone());
    let i = f.local("i", Type::Int);
    let prefix = f.local("prefix", string.clone());
    let greet_local = f.local("greet", Type::closure([string.clone()], None));
    let (three, one, cond, text, fresh, length) = (
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Bool),
        f.temp(string.clone()),
        f.temp(node_ty.clone()),
        f.temp(Type::Int),
    );
    let (cond_block, body, after) = (f.new_block(), f.new_block(), f.new_block());
    f.set_span(Span::new(210, 240));
    let scope = f.scope_enter(&[head, i, prefix, greet_local]);
    f.const_null(head).const_int(i, 0).const_int(three, 3);
    f.clear_span().jump(cond_block);
    f.switch_to(cond_block).binary(cond, BinaryOp::Lt, i, three).branch(cond, body, after);
    f.switch_to(body).set_span(Span::new(260, 300));
    f.to_string(text, i)
        .new_object(fresh, node, &[text, head])
        .copy(head, fresh)
        .const_int(one, 1)
        .binary(i, BinaryOp::Add, i, one)
        .clear_span()
        .jump(cond_block);
    f.switch_to(after)
        .call(length, len, &[head])
        .print(length)
        .const_str(prefix, "hello ")
        .new_closure(greet_local, greet, &[prefix])
        .call(None, Callee::Closure(greet_local), &[prefix])
        .spawn(log, &[prefix])
        .scope_exit(scope)
        .ret(None);

    // main#closure0: fn(name: string) { print(prefix + name); }
    let mut f = b.function(greet);
    let captured = f.capture("prefix", string.clone());
    let name = f.param("name", string.clone(), None);
    let line = f.temp(string);
    f.concat(line, captured, name).print(line).ret(None);

    b.finish()
}

fn check_print(program: &Program, expect: Expect) {
    assert_eq!(validate(program), Ok(()));
    expect.assert_eq(&print_program(program));
}

#[test]
fn linked_list_validates_and_prints() {
    check_print(
        &linked_list(),
        expect![[r#"
            class Node { value: string, next: Node? }  drop: Node.drop  methods: Node.len
            global count: int
            extern fn write_log(borrow msg: string) -> int

            main: fn main
            global_init: fn init

            fn init()  global init {
                %0: int  temp
            b0:
                %0 = const 0
                store_global count = %0
                return
            }

            fn Node.len(borrow %0 self: Node) -> int  method of Node {
                %0 self: Node  param borrow
                %1 n: int      let
                %2 cur: Node?  let
                %3: bool       temp
                %4: int        temp
                %5: Node?      temp
            b0:
                scope_enter s0 [%1, %2]
                %1 = const 0
                %2 = copy %0
                jump b1
            b1:
                %3 = is_null %2
                branch %3, b3, b2
            b2:
                %4 = const 1
                %1 = add %1, %4
                %5 = load_field %2.next
                %2 = copy %5
                jump b1
            b3:
                scope_exit s0
                return %1
            }

            fn Node.drop(%0 self: Node)  drop of Node {
                %0 self: Node  param
                %1: string     temp
                %2: string     temp
                %3: string     temp
            b0:
                %1 = const "drop "
                %2 = load_field %0.value
                %3 = concat %1, %2
                print %3
                return
            }

            @arena fn sum(borrow %0 xs: [int]) -> int {
                %0 xs: [int]  param borrow
                %1: int       temp
                %2: int       temp
                %3: int       temp
                %4: int       temp
            b0:
                scope_enter s0 arena []
                %1 = const 0
                %2 = load_elem %0[%1]
                %3 = len %0
                %4 = add %2, %3
                scope_exit s0
                return %4
            }

            @manual fn scratch() {
                %0 n: Node  let
                %1: string  temp
                %2: Node?   temp
            b0:
                scope_enter s0 [%0]
                %1 = const "tmp"
                %2 = const null
                %0 = new_object Node { value: %1, next: %2 }
                free %0
                scope_exit s0
                return
            }

            fn main()  @200..420 {
                %0 head: Node?        let
                %1 i: int             let
                %2 prefix: string     let
                %3 greet: fn(string)  let
                %4: int               temp
                %5: int               temp
                %6: bool              temp
                %7: string            temp
                %8: Node              temp
                %9: int               temp
            b0:
                scope_enter s0 [%0, %1, %2, %3]     @210..240
                %0 = const null                     @210..240
                %1 = const 0                        @210..240
                %4 = const 3                        @210..240
                jump b1
            b1:
                %6 = lt %1, %4
                branch %6, b2, b3
            b2:
                %7 = to_string %1                   @260..300
                %8 = new_object Node { value: %7, next: %0 }  @260..300
                %0 = copy %8                        @260..300
                %5 = const 1                        @260..300
                %1 = add %1, %5                     @260..300
                jump b1
            b3:
                %9 = call Node.len(%0)
                print %9
                %2 = const "hello "
                %3 = new_closure main#closure0 [%2]
                call %3(%2)
                spawn extern write_log(%2)
                scope_exit s0
                return
            }

            fn main#closure0(%1 name: string)  closure in main  captures [%0 prefix] {
                %0 prefix: string  capture
                %1 name: string    param
                %2: string         temp
            b0:
                %2 = concat %0, %1
                print %2
                return
            }
        "#]],
    );
}

#[test]
fn builder_keeps_the_bookkeeping() {
    let program = linked_list();
    let node = &program.classes[0];
    assert_eq!(node.methods.len(), 1);
    assert_eq!(program.functions[node.methods[0].index()].name, "Node.len");
    assert_eq!(node.drop.map(|d| program.functions[d.index()].name.as_str()), Some("Node.drop"));
    assert_eq!(node.field_index("next"), Some(1));
    assert_eq!(node.field_index("prev"), None);
    let init = program.global_init.unwrap();
    assert_eq!(program.functions[init.index()].kind, FunctionKind::GlobalInit);
    let main = &program.functions[program.main.unwrap().index()];
    assert_eq!(main.name, "main");
    let greet = program.functions.iter().find(|f| f.name == "main#closure0").unwrap();
    assert_eq!(greet.captures.len(), 1);
    assert_eq!(greet.params.len(), 1);
    assert_ne!(greet.captures[0], greet.params[0]);
}

#[test]
fn scopes_closures_and_spans_are_numbered_in_order() {
    let mut b = ProgramBuilder::new();
    b.set_span(Span::new(1, 9));
    let point = b.add_struct("Point", &[("x", Type::Int)]);
    assert_eq!(b.program().structs[point.index()].fields[0].span, Span::new(1, 9));
    let main = b.declare_function("main", FunctionKind::Plain);
    let c0 = b.declare_closure(main);
    let c1 = b.declare_closure(main);
    let c00 = b.declare_closure(c0);
    let names: Vec<&str> =
        [c0, c1, c00].iter().map(|id| b.program().functions[id.index()].name.as_str()).collect();
    assert_eq!(names, ["main#closure0", "main#closure1", "main#closure0#closure0"]);

    let mut f = b.function(main);
    let outer = f.scope_enter(&[]);
    let inner = f.arena_scope_enter(&[]);
    f.scope_exit(inner);
    assert_eq!((outer, inner), (ScopeId(0), ScopeId(1)));
    let next = f.new_block();
    assert!(!f.is_terminated());
    f.jump(next);
    assert!(f.is_terminated());
    assert_eq!(f.current_block(), BlockId(0));
    // A second builder for the same function continues where the first stopped.
    let mut f = b.function(main);
    assert_eq!(f.current_block(), BlockId(0));
    f.switch_to(next);
    assert_eq!(f.scope_enter(&[]), ScopeId(2));
    assert_eq!(f.function().blocks.len(), 2);
}

#[test]
#[should_panic(expected = "cannot append `print` to b0, which already ends with `return`")]
fn appending_after_a_terminator_panics() {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    let mut f = b.function(main);
    let x = f.temp(Type::Int);
    f.const_int(x, 1).ret(None).print(x);
}

#[test]
#[should_panic(expected = "has no block b3")]
fn switching_to_an_unknown_block_panics() {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.function(main).switch_to(BlockId(3));
}

#[test]
#[should_panic(expected = "not a method or drop block")]
fn self_of_a_plain_function_panics() {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.function(main).self_param(None);
}

/// The builder does not type-check; the validator reports what went wrong, each error
/// with its function, block and instruction.
#[test]
fn builder_mistakes_are_reported_by_the_validator() {
    let mut b = ProgramBuilder::new();
    let node = b.add_class("Node", &[("value", Type::Int)]);
    let get = b.declare_method(node, "get");
    let main = b.declare_function("main", FunctionKind::Plain);
    let forgotten = b.declare_function("forgotten", FunctionKind::Plain);
    b.set_main(main);

    let mut f = b.function(get);
    f.returns(Type::Int);
    let this = f.self_param(None);
    let idx = f.param("i", Type::Int, None);
    let out = f.temp(Type::Int);
    f.binary(out, BinaryOp::Add, this, idx).ret(out);

    let mut f = b.function(main);
    let n = f.local("n", Type::Class(node));
    let s = f.temp(Type::String);
    let r = f.temp(Type::Int);
    f.set_span(Span::new(10, 20));
    f.const_str(s, "seven").new_object(n, node, &[s]).call(r, get, &[n]).load_field(r, n, 3).ret(r);
    let _ = forgotten;

    let errors = b.finish_validated().unwrap_err();
    let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
    expect![[r#"
        function `Node.get`, b0.0: `add` needs two `int`s or two `float`s, got `Node` (%0) and `int` (%1)
        function `main`, b0.1: `new_object Node`: field `value` is `int`, but the value given, %1, is `string`
        function `main`, b0.2: `call` passes 1 argument to `Node.get`, which takes 2
        function `main`, b0.3: `load_field` of field #3 of `Node`, which has 1 field
        function `main`, b0.4: `return` of a value (%2), but `main` returns no value
        function `forgotten`, b0: is empty; every block must end with a terminator (`jump`, `branch`, `return` or `unreachable`)
    "#]]
    .assert_eq(&text);

    let call = &errors[2];
    assert_eq!(call.location.function(), Some(main));
    assert_eq!(call.location.addr(), Some(InstAddr { block: BlockId(0), index: 2 }));
    assert_eq!(call.span, Span::new(10, 20));
    assert!(matches!(call.location, Location::Inst { ref name, .. } if name == "main"));
}

/// Nullable values fit where plain ones are expected (the language checks them at run
/// time), and plain ones where nullable ones are expected; nothing else converts.
#[test]
fn nullable_values_fit_both_ways() {
    let mut b = ProgramBuilder::new();
    let node = b.add_class("Node", &[("value", Type::Int)]);
    let main = b.declare_function("main", FunctionKind::Plain);
    let mut f = b.function(main);
    let maybe = f.local("maybe", Type::Class(node).nullable());
    let plain = f.local("plain", Type::Class(node));
    let v = f.temp(Type::Int.nullable());
    let w = f.temp(Type::Int);
    let xs = f.temp(Type::array(Type::Int));
    let ys = f.temp(Type::array(Type::Int.nullable()));
    f.const_null(maybe)
        .copy(plain, maybe)
        .copy(maybe, plain)
        .load_field(v, maybe, 0)
        .binary(w, BinaryOp::Add, v, v)
        .new_array(xs, Type::Int, &[v])
        .copy(ys, xs)
        .ret(None);
    let errors = validate(&b.finish()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "function `main`, b0.6: `copy` gives `[int]`, which does not fit %5 of type `[int?]`"
    );
}

#[test]
fn every_instruction_kind_has_a_builder_method() {
    // The builder's generic `inst` takes any instruction, for frontends that build
    // `InstKind` values themselves.
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    let mut f = b.function(main);
    f.inst(InstKind::Unreachable);
    assert!(f.is_terminated());
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
}
