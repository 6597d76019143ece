//! Semantic types, as the checker sees them.
//!
//! Besides the language's types, [`Ty`] has three that exist only during checking:
//! `Null` (the type of `null` before an expected type is known), `EmptyArray` (likewise
//! for `[]`) and `Unknown` (the type of anything whose checking already failed: it fits
//! everywhere, so one mistake is reported once and never again downstream).

use std::fmt;

/// A class or struct: an index into the item scope's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassIdx(pub u32);

/// A struct: an index into the item scope's struct list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StructIdx(pub u32);

/// A type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `string`
    String,
    /// `[T]`
    Array(Box<Ty>),
    /// `T?`
    Nullable(Box<Ty>),
    /// A struct.
    Struct(StructIdx),
    /// A class.
    Class(ClassIdx),
    /// `fn(T, ...) -> R`
    Fn(Vec<Ty>, Option<Box<Ty>>),
    /// What a call of a function without a result produces.
    Unit,
    /// `null` before it meets an expected type.
    Null,
    /// `[]` before it meets an expected type.
    EmptyArray,
    /// An error was already reported about this value.
    Unknown,
}

impl Ty {
    /// `T` for `T?`, the type itself otherwise.
    pub fn non_null(&self) -> &Ty {
        match self {
            Ty::Nullable(inner) => inner,
            other => other,
        }
    }

    /// Whether this is `T?`.
    pub fn is_nullable(&self) -> bool {
        matches!(self, Ty::Nullable(_))
    }

    /// Whether an error was already reported (directly or inside).
    pub fn is_unknown(&self) -> bool {
        match self {
            Ty::Unknown => true,
            Ty::Array(t) | Ty::Nullable(t) => t.is_unknown(),
            Ty::Fn(params, ret) => {
                params.iter().any(Ty::is_unknown) || ret.as_deref().is_some_and(Ty::is_unknown)
            }
            _ => false,
        }
    }

    /// Whether values of this type are references (strings, arrays, objects, closures),
    /// possibly nullable.
    pub fn is_reference(&self) -> bool {
        matches!(self.non_null(), Ty::String | Ty::Array(_) | Ty::Class(_) | Ty::Fn(..) | Ty::EmptyArray)
    }

    /// `T?` of this type (a nullable stays as it is).
    pub fn nullable(self) -> Ty {
        match self {
            Ty::Nullable(_) | Ty::Unknown | Ty::Null => self,
            other => Ty::Nullable(Box::new(other)),
        }
    }

    /// Whether a value of type `self` may be used where `expected` is wanted: the same
    /// type, a `T` where `T?` is wanted, a `T?` where `T` is wanted (checked for `null` at
    /// run time), `null` where any nullable is wanted, `[]` where any array is wanted.
    /// `Unknown` fits everywhere and everything fits `Unknown`.
    pub fn fits(&self, expected: &Ty) -> bool {
        if self.is_unknown() || expected.is_unknown() {
            return true;
        }
        match (self, expected) {
            (Ty::Null, Ty::Nullable(_)) => true,
            (Ty::EmptyArray, e) => matches!(e.non_null(), Ty::Array(_)),
            (Ty::Nullable(a), Ty::Nullable(b)) => a.fits_exactly(b),
            (Ty::Nullable(a), b) => a.fits_exactly(b),
            (a, Ty::Nullable(b)) => a.fits_exactly(b),
            (a, b) => a.fits_exactly(b),
        }
    }

    /// Equality up to `Unknown` inside (an array of unknown fits any array).
    fn fits_exactly(&self, other: &Ty) -> bool {
        if self.is_unknown() || other.is_unknown() {
            return true;
        }
        match (self, other) {
            (Ty::Array(a), Ty::Array(b)) => a.fits_exactly(b),
            (Ty::Nullable(a), Ty::Nullable(b)) => a.fits_exactly(b),
            (Ty::Fn(pa, ra), Ty::Fn(pb, rb)) => {
                pa.len() == pb.len()
                    && pa.iter().zip(pb).all(|(a, b)| a.fits_exactly(b))
                    && match (ra, rb) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.fits_exactly(b),
                        _ => false,
                    }
            }
            (Ty::EmptyArray, Ty::Array(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// Displays a type with the names of classes and structs, as the source writes it.
pub struct TyDisplay<'a> {
    pub(crate) ty: &'a Ty,
    pub(crate) class_names: &'a [String],
    pub(crate) struct_names: &'a [String],
}

impl fmt::Display for TyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = |ty| TyDisplay { ty, class_names: self.class_names, struct_names: self.struct_names };
        match self.ty {
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::Bool => f.write_str("bool"),
            Ty::String => f.write_str("string"),
            Ty::Array(elem) => write!(f, "[{}]", sub(elem)),
            Ty::Nullable(inner) => match **inner {
                Ty::Fn(..) => write!(f, "({})?", sub(inner)),
                _ => write!(f, "{}?", sub(inner)),
            },
            Ty::Struct(idx) => f.write_str(self.struct_names.get(idx.0 as usize).map_or("?", String::as_str)),
            Ty::Class(idx) => f.write_str(self.class_names.get(idx.0 as usize).map_or("?", String::as_str)),
            Ty::Fn(params, ret) => {
                f.write_str("fn(")?;
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", sub(p))?;
                }
                f.write_str(")")?;
                if let Some(ret) = ret {
                    write!(f, " -> {}", sub(ret))?;
                }
                Ok(())
            }
            Ty::Unit => f.write_str("no value"),
            Ty::Null => f.write_str("null"),
            Ty::EmptyArray => f.write_str("[]"),
            Ty::Unknown => f.write_str("{unknown}"),
        }
    }
}
