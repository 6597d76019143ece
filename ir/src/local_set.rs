//! A set of a function's locals (a sorted list while small, a bit set beyond): what
//! liveness analyses (the interpreter's, the lifetime analysis's) compute with.

use crate::LocalId;

/// A set of locals: a sorted list while it is small, a bit set once the list would take
/// more memory than the bits. Liveness keeps a set per block (and per stretch of a long
/// block); with bits only, one long function would cost blocks × locals, though few locals
/// are live at any point.
#[derive(Debug, Clone, Default)]
pub struct LocalSet {
    /// How many locals the function has: members are below it.
    locals: u32,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// The members, ascending.
    Sparse(Vec<u32>),
    /// One bit per local.
    Dense(Vec<u64>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Sparse(Vec::new())
    }
}

impl LocalSet {
    /// The empty set, for a function of `locals` locals.
    pub fn new(locals: usize) -> LocalSet {
        LocalSet { locals: locals as u32, repr: Repr::Sparse(Vec::new()) }
    }

    /// The most members kept as a list: beyond it the bits take less memory, or (past 64)
    /// a list's insertions, which shift its tail, would cost more than the bits' copies.
    fn sparse_limit(&self) -> usize {
        (self.locals as usize).div_ceil(64).saturating_mul(2).clamp(4, 64)
    }

    fn densify(&mut self) {
        if let Repr::Sparse(members) = &self.repr {
            let mut words = vec![0u64; (self.locals as usize).div_ceil(64)];
            for &m in members {
                words[m as usize / 64] |= 1 << (m % 64);
            }
            self.repr = Repr::Dense(words);
        }
    }

    /// Adds `local`; whether it was new (a local outside the function is ignored).
    pub fn insert(&mut self, local: LocalId) -> bool {
        if local.0 >= self.locals {
            return false;
        }
        let limit = self.sparse_limit();
        match &mut self.repr {
            Repr::Sparse(members) => match members.binary_search(&local.0) {
                Ok(_) => false,
                Err(at) => {
                    members.insert(at, local.0);
                    if members.len() > limit {
                        self.densify();
                    }
                    true
                }
            },
            Repr::Dense(words) => {
                let (w, b) = (local.index() / 64, local.index() % 64);
                let new = words[w] & (1 << b) == 0;
                words[w] |= 1 << b;
                new
            }
        }
    }

    /// Removes `local`.
    pub fn remove(&mut self, local: LocalId) {
        match &mut self.repr {
            Repr::Sparse(members) => {
                if let Ok(at) = members.binary_search(&local.0) {
                    members.remove(at);
                }
            }
            Repr::Dense(words) => {
                if let Some(word) = words.get_mut(local.index() / 64) {
                    *word &= !(1 << (local.index() % 64));
                }
            }
        }
    }

    /// Whether `local` is in the set.
    pub fn contains(&self, local: LocalId) -> bool {
        match &self.repr {
            Repr::Sparse(members) => members.binary_search(&local.0).is_ok(),
            Repr::Dense(words) => {
                words.get(local.index() / 64).is_some_and(|w| w & (1 << (local.index() % 64)) != 0)
            }
        }
    }

    /// Adds every local of `other` (those outside this set's function are ignored).
    pub fn union(&mut self, other: &LocalSet) {
        let limit = self.sparse_limit();
        match (&mut self.repr, &other.repr) {
            (_, Repr::Sparse(theirs)) if theirs.is_empty() => {}
            (Repr::Sparse(mine), Repr::Sparse(theirs)) => {
                let mut merged = Vec::with_capacity(mine.len() + theirs.len());
                let (mut i, mut j) = (0, 0);
                while i < mine.len() || j < theirs.len() {
                    let next = match (mine.get(i), theirs.get(j)) {
                        (Some(&a), Some(&b)) if a == b => {
                            i += 1;
                            j += 1;
                            a
                        }
                        (Some(&a), Some(&b)) if a < b => {
                            i += 1;
                            a
                        }
                        (Some(&a), None) => {
                            i += 1;
                            a
                        }
                        (_, Some(&b)) => {
                            j += 1;
                            b
                        }
                        (None, None) => break,
                    };
                    if next < self.locals {
                        merged.push(next);
                    }
                }
                *mine = merged;
                if mine.len() > limit {
                    self.densify();
                }
            }
            (Repr::Dense(mine), Repr::Dense(theirs)) => {
                for (a, b) in mine.iter_mut().zip(theirs) {
                    *a |= b;
                }
            }
            (Repr::Dense(_), Repr::Sparse(theirs)) => {
                for &l in theirs {
                    self.insert(LocalId(l));
                }
            }
            (Repr::Sparse(_), Repr::Dense(theirs)) => {
                self.densify();
                if let Repr::Dense(mine) = &mut self.repr {
                    for (a, b) in mine.iter_mut().zip(theirs) {
                        *a |= b;
                    }
                }
            }
        }
    }

    /// The locals, in id order. Costs one step per member (and, for bits, per word).
    pub fn iter(&self) -> impl Iterator<Item = LocalId> + '_ {
        let (list, bits) = match &self.repr {
            Repr::Sparse(members) => (Some(members.iter().map(|&m| LocalId(m))), None),
            Repr::Dense(words) => (None, Some(words)),
        };
        let bits = bits.into_iter().flat_map(|words| {
            words.iter().enumerate().flat_map(|(w, &word)| {
                let mut rest = word;
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let b = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        LocalId((w * 64 + b) as u32)
                    })
                })
            })
        });
        list.into_iter().flatten().chain(bits)
    }
}

impl PartialEq for LocalSet {
    fn eq(&self, other: &LocalSet) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Sparse(a), Repr::Sparse(b)) => a == b,
            (Repr::Dense(a), Repr::Dense(b)) => a == b,
            _ => self.iter().eq(other.iter()),
        }
    }
}

impl Eq for LocalSet {}

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

    /// Random inserts, removes and unions across the switch from list to bits (and sets of
    /// both kinds united), against a `BTreeSet`.
    #[test]
    fn agrees_with_a_btree_set() {
        use std::collections::BTreeSet;
        let mut seed: u64 = 0x5eed;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for locals in [1usize, 5, 64, 130, 1000] {
            let mut sets: Vec<(LocalSet, BTreeSet<u32>)> = vec![(LocalSet::new(locals), BTreeSet::new()); 4];
            for _ in 0..4000 {
                let i = next(4) as usize;
                let l = next(locals as u64 + 3) as u32;
                match next(5) {
                    0 | 1 => {
                        let fresh = sets[i].0.insert(LocalId(l));
                        let expected = (l as usize) < locals && sets[i].1.insert(l);
                        assert_eq!(fresh, expected);
                    }
                    2 => {
                        sets[i].0.remove(LocalId(l));
                        sets[i].1.remove(&l);
                    }
                    3 => {
                        let j = next(4) as usize;
                        let other = sets[j].clone();
                        sets[i].0.union(&other.0);
                        sets[i].1.extend(other.1);
                    }
                    _ => {
                        let j = next(4) as usize;
                        let same = sets[i].1 == sets[j].1;
                        assert_eq!(sets[i].0 == sets[j].0, same);
                    }
                }
                let (set, model) = &sets[i];
                assert_eq!(
                    set.iter().map(|l| l.0).collect::<Vec<_>>(),
                    model.iter().copied().collect::<Vec<_>>()
                );
                assert_eq!(set.contains(LocalId(l)), model.contains(&l));
            }
        }
    }
}
