//! The one bounded cache type of the project: a map of at most `capacity` entries, the oldest
//! evicted first. The path cache of [`crate::resolve`], scrun-detect's verdict cache and hash
//! cache, the supervisor's per-thread `#!` cache and its per-pid decisions all use it.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map bounded to `capacity` entries, oldest (first inserted) evicted first; replacing the
/// value of a key keeps its place. [`Bounded::remove`] is O(1): the insertion order keeps a
/// generation per entry, so a removed entry's old place is skipped instead of searched for.
#[derive(Debug)]
pub struct Bounded<K, V> {
    capacity: usize,
    map: HashMap<K, (V, u64)>,
    order: VecDeque<(K, u64)>,
    generation: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    /// Holds at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// A copy of `k`'s value.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        V: Clone,
    {
        self.peek(k).cloned()
    }

    /// `k`'s value, to change in place (its place in the eviction order stays).
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(k).map(|(v, _)| v)
    }

    /// `k`'s value.
    pub fn peek<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(k).map(|(v, _)| v)
    }

    /// Inserts or replaces `k`'s value, evicting the oldest entries past the bound.
    pub fn insert(&mut self, k: K, v: V) {
        if let Some(entry) = self.map.get_mut(&k) {
            entry.0 = v;
            return;
        }
        self.generation += 1;
        self.order.push_back((k.clone(), self.generation));
        self.map.insert(k, (v, self.generation));
        while self.map.len() > self.capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.1 == generation) {
                self.map.remove(&old);
            }
        }
        // Places of removed entries: dropped once they are as many as the live ones.
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|e| e.1 == *g));
        }
    }

    /// Takes `k`'s value out.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.map.remove(k).map(|(v, _)| v)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_and_bounded() {
        let mut b: Bounded<u32, u32> = Bounded::new(2);
        for i in 0..5 {
            b.insert(i, i);
        }
        assert_eq!(b.len(), 2);
        assert_eq!((b.get(&4), b.get(&0)), (Some(4), None));
        // Replacing a value keeps its place: 3 is still the oldest.
        b.insert(3, 30);
        b.insert(5, 5);
        assert_eq!((b.get(&3), b.get(&4), b.get(&5)), (None, Some(4), Some(5)));
    }

    #[test]
    fn a_removed_and_reinserted_key_is_not_evicted_by_its_old_place() {
        let mut b: Bounded<u32, u32> = Bounded::new(2);
        b.insert(1, 1);
        b.insert(2, 2);
        assert_eq!(b.remove(&1), Some(1));
        assert_eq!(b.remove(&1), None);
        b.insert(1, 10); // now the newest
        b.insert(3, 3); // evicts 2, not the new 1
        assert_eq!((b.get(&1), b.get(&2), b.get(&3)), (Some(10), None, Some(3)));
    }

    #[test]
    fn removals_do_not_grow_it() {
        let mut b: Bounded<u32, u32> = Bounded::new(4);
        for i in 0..10_000 {
            b.insert(i % 3, i);
            b.remove(&(i % 3));
        }
        assert!(b.order.len() <= 2 * 4 + 1, "{}", b.order.len());
        assert!(b.is_empty());
    }
}
