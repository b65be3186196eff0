//! Timer lists with one FIFO per distinct duration (OpenSIPS' `tm/timer.h`
//! idea, without the locks).
//!
//! Every RFC 3261 §17 timer has one of a handful of durations (T1·2ᵏ, T2,
//! T4, 64·T1, Timer C, Timer D), and a timer is always armed at "now + its
//! duration". Since `now` never goes backwards, each list is sorted by
//! construction: arming is a push at the tail, expiry pops from the heads,
//! and the next deadline is the minimum of a few heads. Cancelling is
//! lazy: the owner keeps a generation per timer and ignores stale pops.
//! So 100k+ live transactions cost O(1) per operation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Timer lists holding items of type `T`, keyed by duration.
#[derive(Debug)]
pub struct TimerLists<T> {
    lists: Vec<(Duration, VecDeque<(Instant, T)>)>,
    len: usize,
}

impl<T> Default for TimerLists<T> {
    fn default() -> Self {
        TimerLists {
            lists: Vec::new(),
            len: 0,
        }
    }
}

impl<T> TimerLists<T> {
    /// Empty lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `item` to fire at `now + after`; returns the deadline. `now`
    /// must not be earlier than the `now` of any earlier call.
    pub fn insert(&mut self, now: Instant, after: Duration, item: T) -> Instant {
        let deadline = now + after;
        let list = match self.lists.iter().position(|(d, _)| *d == after) {
            Some(i) => i,
            None => {
                self.lists.push((after, VecDeque::new()));
                self.lists.len() - 1
            }
        };
        let q = &mut self.lists[list].1;
        debug_assert!(
            q.back().is_none_or(|(d, _)| *d <= deadline),
            "time went backwards"
        );
        q.push_back((deadline, item));
        self.len += 1;
        deadline
    }

    /// The earliest deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lists
            .iter()
            .filter_map(|(_, q)| q.front().map(|(d, _)| *d))
            .min()
    }

    /// Pops the earliest timer whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, T)> {
        let (i, _) = self
            .lists
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q))| q.front().map(|(d, _)| (i, *d)))
            .filter(|(_, d)| *d <= now)
            .min_by_key(|(_, d)| *d)?;
        self.len -= 1;
        self.lists[i].1.pop_front()
    }

    /// Number of armed timers (stale ones included until they pop).
    /// Gives back the lists' memory beyond what their entries need.
    pub fn shrink(&mut self) {
        for (_, l) in &mut self.lists {
            l.shrink_to(l.len() + l.len() / 4);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_across_lists() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = TimerLists::new();
        t.insert(t0, ms(500), "a500");
        t.insert(t0, ms(100), "b100");
        t.insert(t0 + ms(50), ms(500), "c550");
        t.insert(t0 + ms(60), ms(100), "d160");
        assert_eq!(t.len(), 4);
        assert_eq!(t.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(t.pop_expired(t0 + ms(99)), None);
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_expired(t0 + ms(600)))
            .map(|(_, x)| x)
            .collect();
        assert_eq!(fired, ["b100", "d160", "a500", "c550"]);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
    }
}
