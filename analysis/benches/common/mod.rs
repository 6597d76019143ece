//! The program generator the benchmarks share.

use std::fmt::Write;

/// A program of `functions` functions of about 15 lines each (locals, a loop, a closure,
/// objects, method calls, a call of the previous function), one class per 20 functions,
/// and a `main`.
pub(crate) fn program(functions: usize) -> String {
    let mut out = String::new();
    for c in 0..functions / 20 {
        writeln!(
            out,
            "class Box{c} {{\n    value: int,\n    label: string,\n    next: Box{c}?,\n    fn get(self) -> int {{ return self.value; }}\n}}\n"
        )
        .unwrap();
    }
    for f in 0..functions {
        let c = f / 20;
        let prev = if f == 0 { "0".to_string() } else { format!("f{}(n - 1)", f - 1) };
        writeln!(
            out,
            "fn f{f}(n: int) -> int {{
    let total = 0;
    let b = Box{c} {{ value: n, label: \"x\" + str(n), next: null }};
    let xs: [int] = [];
    for i in 0..n {{
        push(xs, i * 2);
        total = total + xs[i] + b.get();
    }}
    let add = fn(k: int) -> int {{ return k + total; }};
    if n > 0 && total >= 0 {{
        return add({prev});
    }}
    return total;
}}
"
        )
        .unwrap();
    }
    out.push_str("fn main() { print(f3(3)); }\n");
    out
}
