//! Run-time values: what a local, a field, an element, a capture or a global holds.
//!
//! Immediates and `null` are held inline, a struct is an inline list of values, a string
//! literal is a reference to constant data (shared text that is never counted or freed),
//! and everything the program allocates is a reference to a heap object ([`ObjId`]).
//! Copying a value copies these bits and nothing else: counting is the plan's business.

use std::rc::Rc;

/// The address of a heap object: its index in the heap, never reused.
pub(super) type ObjId = usize;

/// A value.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Value {
    /// `null`, and the content of a local that has not been written or has ended.
    #[default]
    Null,
    /// An `int`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `bool`.
    Bool(bool),
    /// A string literal: constant data, never counted or freed.
    Const(Rc<String>),
    /// A reference to a heap object (object, array, string or closure).
    Ref(ObjId),
    /// A struct value, its fields in declaration order. The `Box` is a thin pointer that
    /// keeps every value at 16 bytes (a `Vec` or a boxed slice would make it 24 or 32, and
    /// arrays of a hundred million elements fit the default heap limit).
    #[allow(clippy::box_collection)]
    Struct(Box<Vec<Value>>),
}

impl Value {
    /// Appends the heap references inside this value to `out`, in field order (a struct's
    /// references in declaration order, nested structs depth first).
    pub(super) fn refs_into(&self, out: &mut Vec<ObjId>) {
        match self {
            Value::Ref(id) => out.push(*id),
            Value::Struct(fields) => {
                for field in fields.iter() {
                    field.refs_into(out);
                }
            }
            _ => {}
        }
    }

    /// The heap references inside this value, in order.
    pub(super) fn refs(&self) -> Vec<ObjId> {
        let mut out = Vec::new();
        self.refs_into(&mut out);
        out
    }
}

/// The references held by a list of values (an object's fields, an array's elements, a
/// closure's captures), in order.
pub(super) fn refs_of(values: &[Value]) -> Vec<ObjId> {
    let mut out = Vec::new();
    for value in values {
        value.refs_into(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_small() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn struct_references_are_listed_in_field_order() {
        let inner = Value::Struct(Box::new(vec![Value::Ref(3), Value::Int(1), Value::Ref(4)]));
        let value = Value::Struct(Box::new(vec![
            Value::Ref(1),
            inner,
            Value::Const(Rc::new("x".into())),
            Value::Ref(2),
        ]));
        assert_eq!(value.refs(), vec![1, 3, 4, 2]);
        assert_eq!(refs_of(&[Value::Ref(7), Value::Null, Value::Ref(8)]), vec![7, 8]);
    }
}
