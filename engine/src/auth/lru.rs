//! A bounded map that forgets its least recently used entry when full:
//! the one structure behind the replay window and the failure bans, so
//! that a flood of distinct keys (nonces, source addresses) costs a fixed
//! amount of memory and O(1) per operation.
//!
//! Entries live in a slab linked in recency order (`head` the most
//! recent); the hash map (foldhash, seeded per process: keys come from
//! peers) maps a key to its slot. Both grow to the capacity and no
//! further; a removed slot is reused.

use core::hash::Hash;

use hashbrown::HashMap;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot<K, V> {
    key: K,
    value: V,
    prev: u32,
    next: u32,
}

/// The map (see the module docs).
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    map: HashMap<K, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot<K, V>>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    /// Removed slots, linked through `next`.
    free: u32,
    capacity: usize,
}

impl<K: Copy + Eq + Hash, V: Copy> Lru<K, V> {
    /// A map of at most `capacity` entries (at least 1, at most 2^31).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, 1 << 31);
        Lru {
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.slots[o as usize].prev = i,
        }
        self.head = i;
    }

    /// The value of `key`, made the most recently used.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = *self.map.get(key)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Some(&mut self.slots[i as usize].value)
    }

    /// The value of `key`, its recency unchanged.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|&i| &self.slots[i as usize].value)
    }

    /// Inserts `key` (which must be absent) as the most recently used;
    /// when full, first forgets the least recently used entry and returns
    /// it.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        debug_assert!(!self.map.contains_key(&key));
        let mut evicted = None;
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            let s = &mut self.slots[i as usize];
            s.key = key;
            s.value = value;
            i
        } else if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key,
                value,
                prev: NIL,
                next: NIL,
            });
            (self.slots.len() - 1) as u32
        } else {
            let i = self.tail;
            self.unlink(i);
            let s = &mut self.slots[i as usize];
            self.map.remove(&s.key);
            evicted = Some((s.key, s.value));
            s.key = key;
            s.value = value;
            i
        };
        self.push_front(i);
        self.map.insert(key, i);
        evicted
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.map.remove(key)?;
        self.unlink(i);
        self.slots[i as usize].next = self.free;
        self.free = i;
        Some(self.slots[i as usize].value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(3);
        assert_eq!(l.insert(1, 'a'), None);
        assert_eq!(l.insert(2, 'b'), None);
        assert_eq!(l.insert(3, 'c'), None);
        assert_eq!(l.get_mut(&1).copied(), Some('a')); // 2 is now the oldest
        assert_eq!(l.insert(4, 'd'), Some((2, 'b')));
        assert_eq!(l.peek(&2), None);
        assert_eq!(l.len(), 3);
        assert_eq!(l.remove(&1), Some('a'));
        assert_eq!(l.len(), 2);
        // The freed slot is reused before anything is evicted.
        assert_eq!(l.insert(5, 'e'), None);
        assert_eq!(l.insert(6, 'f'), Some((3, 'c')));
        assert_eq!(l.remove(&6), Some('f'));
        assert_eq!(l.remove(&5), Some('e'));
        assert_eq!(l.remove(&4), Some('d'));
        assert_eq!(l.len(), 0);
        assert_eq!(l.insert(7, 'g'), None);
        assert_eq!(l.peek(&7), Some(&'g'));
    }

    #[test]
    fn bounded_under_a_flood() {
        let mut l = Lru::new(1000);
        for k in 0..100_000u32 {
            l.insert(k, k);
        }
        assert_eq!(l.len(), 1000);
        assert!(l.slots.len() <= 1000);
        assert_eq!(l.peek(&99_000), Some(&99_000));
        assert_eq!(l.peek(&98_999), None);
    }
}
