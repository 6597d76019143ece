//! A set of a function's locals, as a bit set: what liveness analyses (the interpreter's,
//! the lifetime analysis's) compute with.

use crate::LocalId;

/// A set of locals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalSet(Vec<u64>);

impl LocalSet {
    /// The empty set, for a function of `locals` locals.
    pub fn new(locals: usize) -> LocalSet {
        LocalSet(vec![0; locals.div_ceil(64)])
    }

    /// Adds `local`; whether it was new.
    pub fn insert(&mut self, local: LocalId) -> bool {
        let (w, b) = (local.index() / 64, local.index() % 64);
        match self.0.get_mut(w) {
            Some(word) => {
                let new = *word & (1 << b) == 0;
                *word |= 1 << b;
                new
            }
            None => false,
        }
    }

    /// Removes `local`.
    pub fn remove(&mut self, local: LocalId) {
        if let Some(word) = self.0.get_mut(local.index() / 64) {
            *word &= !(1 << (local.index() % 64));
        }
    }

    /// Whether `local` is in the set.
    pub fn contains(&self, local: LocalId) -> bool {
        self.0.get(local.index() / 64).is_some_and(|w| w & (1 << (local.index() % 64)) != 0)
    }

    /// Adds every local of `other`.
    pub fn union(&mut self, other: &LocalSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// The locals, in id order. Costs one step per word plus one per member (not one per
    /// bit: a large function's sets are mostly empty).
    pub fn iter(&self) -> impl Iterator<Item = LocalId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    LocalId((w * 64 + b) as u32)
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_union_and_iterate_across_words() {
        let mut a = LocalSet::new(130);
        assert!(a.insert(LocalId(3)));
        assert!(!a.insert(LocalId(3)));
        assert!(a.insert(LocalId(129)));
        let mut b = LocalSet::new(130);
        b.insert(LocalId(64));
        a.union(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![LocalId(3), LocalId(64), LocalId(129)]);
        a.remove(LocalId(64));
        assert!(!a.contains(LocalId(64)) && a.contains(LocalId(129)));
        // Outside the set's range: ignored, never a panic.
        assert!(!a.insert(LocalId(500)) && !a.contains(LocalId(500)));
    }
}
