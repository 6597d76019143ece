//! The types of IR values, and what kind of value each is.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// The index into the owning list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl From<usize> for $name {
            fn from(index: usize) -> Self {
                $name(index as u32)
            }
        }
    };
}

id!(
    /// A class: an index into [`crate::Program::classes`].
    ClassId
);
id!(
    /// A struct: an index into [`crate::Program::structs`].
    StructId
);
id!(
    /// A global: an index into [`crate::Program::globals`].
    GlobalId
);
id!(
    /// A function (plain, method, `drop` block, closure body or global initialiser): an
    /// index into [`crate::Program::functions`].
    FunctionId
);
id!(
    /// An external function: an index into [`crate::Program::externs`].
    ExternId
);
id!(
    /// A local or temporary of a function: an index into [`crate::Function::locals`].
    LocalId
);
id!(
    /// A basic block of a function: an index into [`crate::Function::blocks`].
    BlockId
);
id!(
    /// A lexical scope of a function (a block, a loop body, an arena), numbered in the
    /// order the scopes open in the source.
    ScopeId
);

/// The type of a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// 64-bit signed integer (wrapping).
    Int,
    /// IEEE 754 binary64.
    Float,
    /// `true` or `false`.
    Bool,
    /// Immutable text: a reference to constant data or to an allocated string.
    String,
    /// `[T]`: a growable array with value semantics (shared buffer, copy on write).
    Array(Box<Type>),
    /// `T?`: `null` or a `T`.
    Nullable(Box<Type>),
    /// A struct: a value stored inline, never allocated by itself.
    Struct(StructId),
    /// A class: a reference to an allocated object.
    Class(ClassId),
    /// `fn(T, ...) -> R`: a reference to a closure (code and captured environment).
    Closure(Box<FnType>),
}

/// The signature of a closure type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FnType {
    /// Parameter types.
    pub params: Vec<Type>,
    /// Result type; `None` when the closure returns no value.
    pub ret: Option<Type>,
}

/// How a value is represented, which decides what memory operations apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// `int`, `float`, `bool`: copied, never counted.
    Immediate,
    /// A struct: copied inline; its reference-typed fields are shared by the copy.
    Struct,
    /// A string, array, object or closure: a pointer to memory that someone must free.
    Reference,
}

impl Type {
    /// The representation of values of this type. A nullable value has the kind of the
    /// value it may hold.
    pub fn value_kind(&self) -> ValueKind {
        match self {
            Type::Int | Type::Float | Type::Bool => ValueKind::Immediate,
            Type::Struct(_) => ValueKind::Struct,
            Type::String | Type::Array(_) | Type::Class(_) | Type::Closure(_) => ValueKind::Reference,
            Type::Nullable(inner) => inner.value_kind(),
        }
    }

    /// Whether values of this type are references.
    pub fn is_reference(&self) -> bool {
        self.value_kind() == ValueKind::Reference
    }

    /// `T` for `T?`, the type itself otherwise.
    pub fn non_null(&self) -> &Type {
        match self {
            Type::Nullable(inner) => inner,
            other => other,
        }
    }

    /// Whether this is `T?`.
    pub fn is_nullable(&self) -> bool {
        matches!(self, Type::Nullable(_))
    }

    /// The element type of an array (or of a nullable array).
    pub fn array_elem(&self) -> Option<&Type> {
        match self.non_null() {
            Type::Array(elem) => Some(elem),
            _ => None,
        }
    }
}
