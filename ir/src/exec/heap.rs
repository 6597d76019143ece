//! The checked heap: objects that are never moved, addresses that are never reused, and a
//! tombstone for everything freed.
//!
//! Every object (heap, stack, arena or static: the interpreter keeps them all here) records
//! where it was allocated ([`Site`]), its placement, its reference count, its life state
//! ([`State`]) and how many references to it other memory holds ([`Obj::holders`]: fields,
//! elements and captures of objects that still hold their contents, globals, and the
//! arguments of spawned calls that have not started). Locals are not counted there; the
//! checks that need them look at the frames.

use super::value::{ObjId, Value, refs_of};
use crate::plan::{AllocKind, Placement};
use crate::{FunctionId, Span};

/// What an object contains.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Body {
    /// A class instance: one value per field.
    Object {
        /// The class.
        class: crate::ClassId,
        /// The fields, in declaration order.
        fields: Vec<Value>,
    },
    /// An array's elements.
    Array(Vec<Value>),
    /// A string's text.
    Str(String),
    /// A closure: its body and its captured values.
    Closure {
        /// The closure body.
        function: FunctionId,
        /// The environment, in the order of the body's `captures`.
        captures: Vec<Value>,
    },
    /// Freed: only the tombstone is left.
    Gone,
}

impl Body {
    /// The values this body holds (fields, elements, captures).
    pub(super) fn values(&self) -> &[Value] {
        match self {
            Body::Object { fields, .. } => fields,
            Body::Array(elems) => elems,
            Body::Closure { captures, .. } => captures,
            Body::Str(_) | Body::Gone => &[],
        }
    }

    /// The size model: a 16-byte header, 8 bytes per field, element or capture, and one
    /// byte per byte of text.
    pub(super) fn bytes(&self) -> u64 {
        let payload = match self {
            Body::Str(text) => text.len() as u64,
            other => 8 * other.values().len() as u64,
        };
        HEADER_BYTES + payload
    }
}

/// Every object's header, in the size model.
pub(super) const HEADER_BYTES: u64 = 16;

/// Where an object is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// In use.
    Live,
    /// Its `drop` block is running or its fields are being released: still intact.
    Destroying,
    /// Destroyed (drop block run, fields released), memory not yet reclaimed (stack and
    /// arena objects, until their frame or arena ends).
    Destroyed,
    /// Freed: a tombstone. Any access is a use after free.
    Freed,
}

/// An allocation site as the run met it.
#[derive(Debug, Clone)]
pub(super) struct Site {
    /// The allocating function.
    pub(super) function: FunctionId,
    /// Its source.
    pub(super) span: Span,
    /// The plan's id (`make#0`), or `make@b0.3` when the plan has no entry.
    pub(super) id: String,
    /// What it allocates, for people: `Node`, `[int]`, `string`, `closure main#closure0`.
    pub(super) label: String,
    /// Whether what it allocates may be on a reference cycle (spec/plan-format.md 4.2): a
    /// counted one that survives a release is then collected if it is garbage.
    pub(super) may_cycle: bool,
}

/// One object, live or dead.
#[derive(Debug, Clone)]
pub(super) struct Obj {
    /// Its contents (`Gone` once freed).
    pub(super) body: Body,
    /// Object, array, string or closure (kept after the body is gone).
    pub(super) kind: AllocKind,
    /// Its allocation site (index into [`Heap::sites`]).
    pub(super) site: usize,
    /// Where it lives.
    pub(super) placement: Placement,
    /// The reference count (meaningful for counted placements).
    pub(super) rc: i64,
    /// Its life state.
    pub(super) state: State,
    /// Whether its fields still count as references (false once released or freed).
    pub(super) holds: bool,
    /// References to it held by other memory (see the module documentation).
    pub(super) holders: u64,
    /// The arena it was allocated in.
    pub(super) arena: Option<usize>,
    /// The first thread that touched its counter (0: none yet).
    pub(super) thread: u32,
    /// Its current size, in the size model.
    pub(super) bytes: u64,
    /// Where it was destroyed or freed.
    pub(super) ended_at: Option<Span>,
}

/// All objects ever allocated.
#[derive(Debug, Default)]
pub(super) struct Heap {
    /// Indexed by [`ObjId`].
    pub(super) objs: Vec<Obj>,
    /// Indexed by [`Obj::site`].
    pub(super) sites: Vec<Site>,
    /// Bytes of objects not freed.
    pub(super) live_bytes: u64,
    /// The most `live_bytes` ever was.
    pub(super) peak_bytes: u64,
}

impl Heap {
    /// The object at `id` (the heap never hands out ids it does not have).
    pub(super) fn get(&self, id: ObjId) -> Option<&Obj> {
        self.objs.get(id)
    }

    /// The object at `id`, mutably.
    pub(super) fn get_mut(&mut self, id: ObjId) -> Option<&mut Obj> {
        self.objs.get_mut(id)
    }

    /// The site of an object.
    pub(super) fn site_of(&self, id: ObjId) -> Option<&Site> {
        self.objs.get(id).and_then(|o| self.sites.get(o.site))
    }

    /// `Node #12`.
    pub(super) fn name(&self, id: ObjId) -> String {
        match self.site_of(id) {
            Some(site) => format!("{} #{id}", site.label),
            None => format!("#{id}"),
        }
    }

    /// Adds an object (already checked against the heap limit); every reference in its
    /// body gains a holder.
    pub(super) fn insert(&mut self, obj: Obj) -> ObjId {
        let id = self.objs.len();
        for r in refs_of(obj.body.values()) {
            self.add_holders(r, 1);
        }
        self.live_bytes += obj.bytes;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
        self.objs.push(obj);
        id
    }

    /// `n` more references to `id` are held by memory.
    pub(super) fn add_holders(&mut self, id: ObjId, n: u64) {
        if let Some(o) = self.objs.get_mut(id) {
            o.holders = o.holders.saturating_add(n);
        }
    }

    /// Every reference in `value` gains (`up`) or loses a holder.
    pub(super) fn hold(&mut self, value: &Value, up: bool) {
        match value {
            Value::Ref(id) => {
                if let Some(o) = self.objs.get_mut(*id) {
                    o.holders = if up { o.holders.saturating_add(1) } else { o.holders.saturating_sub(1) };
                }
            }
            Value::Struct(fields) => {
                for field in fields.iter() {
                    self.hold(field, up);
                }
            }
            _ => {}
        }
    }

    /// The object stops holding its contents (its fields are being released, or it is
    /// freed); returns the references it held, in order.
    pub(super) fn let_go(&mut self, id: ObjId) -> Vec<ObjId> {
        let Some(o) = self.objs.get_mut(id) else { return Vec::new() };
        if !o.holds {
            return Vec::new();
        }
        o.holds = false;
        let refs = refs_of(o.body.values());
        for &r in &refs {
            if let Some(target) = self.objs.get_mut(r) {
                target.holders = target.holders.saturating_sub(1);
            }
        }
        refs
    }

    /// Changes an object's size by `new - old` bytes (an array grew or shrank).
    pub(super) fn resize(&mut self, id: ObjId, bytes: u64) {
        if let Some(o) = self.objs.get_mut(id) {
            if o.state != State::Freed {
                self.live_bytes = self.live_bytes.saturating_sub(o.bytes).saturating_add(bytes);
                self.peak_bytes = self.peak_bytes.max(self.live_bytes);
            }
            o.bytes = bytes;
        }
    }

    /// Frees an object's memory: it becomes a tombstone. Returns false if it was already
    /// freed.
    pub(super) fn tombstone(&mut self, id: ObjId, at: Span) -> bool {
        self.let_go(id);
        let Some(o) = self.objs.get_mut(id) else { return false };
        if o.state == State::Freed {
            return false;
        }
        o.state = State::Freed;
        o.body = Body::Gone;
        if o.ended_at.is_none() {
            o.ended_at = Some(at);
        }
        self.live_bytes = self.live_bytes.saturating_sub(o.bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(body: Body) -> Obj {
        Obj {
            bytes: body.bytes(),
            body,
            kind: AllocKind::Array,
            site: 0,
            placement: Placement::HeapRc,
            rc: 1,
            state: State::Live,
            holds: true,
            holders: 0,
            arena: None,
            thread: 0,
            ended_at: None,
        }
    }

    #[test]
    fn sizes_follow_the_model() {
        assert_eq!(Body::Str("héllo".into()).bytes(), 16 + 6);
        assert_eq!(Body::Array(vec![Value::Int(1); 3]).bytes(), 16 + 24);
        assert_eq!(Body::Object { class: crate::ClassId(0), fields: vec![Value::Null; 2] }.bytes(), 32);
        assert_eq!(Body::Closure { function: FunctionId(0), captures: vec![] }.bytes(), 16);
    }

    #[test]
    fn holders_follow_contents_and_tombstones_release_bytes() {
        let mut heap = Heap::default();
        let a = heap.insert(obj(Body::Str("abc".into())));
        let b = heap.insert(obj(Body::Array(vec![Value::Ref(a), Value::Ref(a)])));
        assert_eq!(heap.objs[a].holders, 2);
        assert_eq!(heap.live_bytes, 19 + 32);
        assert!(heap.tombstone(b, Span::new(1, 2)));
        assert!(!heap.tombstone(b, Span::new(3, 4)));
        assert_eq!(heap.objs[a].holders, 0);
        assert_eq!(heap.objs[b].ended_at, Some(Span::new(1, 2)));
        assert_eq!(heap.live_bytes, 19);
        assert_eq!(heap.peak_bytes, 51);
    }
}
