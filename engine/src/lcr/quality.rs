//! Quality routing: ASR, NER, ACD and PDD per gateway over a sliding
//! window, from the calls' outcomes, and the demotion of a gateway whose
//! numbers fall under the thresholds (`[routing.quality]`): a demoted
//! gateway goes to the end of every target list for `demote_s`, then is
//! tried in its place again (recovering, or demoted again once the
//! window has enough new attempts to judge it).
//!
//! - ASR (answer-seizure ratio): answered attempts / attempts.
//! - NER (network effectiveness ratio, ITU-T E.411): attempts that the
//!   network completed (answered, or a user's busy/no-answer/rejection:
//!   486, 600, 603, 480, 487) / attempts: a gateway failing with 5xx or
//!   timeouts has a low NER whatever the callees do.
//! - ACD (average call duration) of answered calls, as they end.
//! - PDD (post-dial delay): the attempt's start to its first ringing (or
//!   final) response, on average.
//!
//! Sans-IO and per shard: each shard judges from its own calls. Calls
//! spread over the shards by Call-ID hash, so each shard sees a uniform
//! sample of every gateway's traffic: its ratios estimate the gateway's
//! (with `shards` times fewer attempts; `min_attempts` is per shard), and
//! no counter is shared between cores. Memory: one entry per gateway
//! seen ([`BUCKETS`] buckets of 40 bytes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Buckets of the sliding window (the window moves a bucket at a time).
pub const BUCKETS: usize = 10;

/// The thresholds of `[routing.quality]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityConfig {
    /// The window the ratios are taken over (default 15 min).
    pub window: Duration,
    /// Attempts (on one shard, within the window) before a gateway is
    /// judged (default 20).
    pub min_attempts: u32,
    /// Demote under this ASR (0.0-1.0; default none).
    pub min_asr: Option<f64>,
    /// Demote under this NER (default none).
    pub min_ner: Option<f64>,
    /// Demote above this average PDD (default none).
    pub max_pdd: Option<Duration>,
    /// How long a demotion lasts (default 5 min).
    pub demote_for: Duration,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            window: Duration::from_secs(900),
            min_attempts: 20,
            min_asr: None,
            min_ner: None,
            max_pdd: None,
            demote_for: Duration::from_secs(300),
        }
    }
}

/// One finished attempt, as call control reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The gateway ([`super::Target::cap_key`]).
    pub gateway: u64,
    /// Its final code (408 for a timeout, 487 cancelled).
    pub code: u16,
    /// Its post-dial delay, when a response came.
    pub pdd: Option<Duration>,
    /// Where the attempt went (for reports).
    pub dest: std::net::SocketAddr,
}

/// A gateway's numbers over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    /// Attempts in the window.
    pub attempts: u32,
    /// Answer-seizure ratio (0 without attempts).
    pub asr: f64,
    /// Network effectiveness ratio.
    pub ner: f64,
    /// Average duration of the answered calls that ended, seconds.
    pub acd_s: f64,
    /// Average post-dial delay, milliseconds.
    pub pdd_ms: f64,
    /// Demoted now.
    pub demoted: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// The window slot this bucket counts (start / bucket length).
    slot: u64,
    attempts: u32,
    answered: u32,
    effective: u32,
    pdd_n: u32,
    pdd_ms: u64,
    ended: u32,
    duration_ms: u64,
}

#[derive(Debug)]
struct Gateway {
    buckets: [Bucket; BUCKETS],
    demoted_until: Option<Instant>,
    /// The address last tried (for reports).
    dest: std::net::SocketAddr,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            buckets: Default::default(),
            demoted_until: None,
            dest: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

/// One shard's quality statistics (see the module docs).
#[derive(Debug)]
pub struct Quality {
    config: QualityConfig,
    epoch: Instant,
    gateways: HashMap<u64, Gateway, foldhash::fast::FixedState>,
}

/// Whether a final code counts as the network's success (E.411): the
/// call reached the callee, who answered or declined.
fn effective(code: u16) -> bool {
    matches!(code, 200..=299 | 480 | 486 | 487 | 600 | 603)
}

impl Quality {
    /// Statistics under `config`, time counted from `epoch`.
    pub fn new(config: QualityConfig, epoch: Instant) -> Quality {
        Quality {
            config,
            epoch,
            gateways: HashMap::default(),
        }
    }

    fn bucket_len(&self) -> Duration {
        (self.config.window / BUCKETS as u32).max(Duration::from_millis(1))
    }

    fn slot(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() / self.bucket_len().as_millis())
            as u64
    }

    fn bucket(&mut self, now: Instant, gateway: u64) -> &mut Bucket {
        let slot = self.slot(now);
        let g = self.gateways.entry(gateway).or_default();
        let b = &mut g.buckets[(slot % BUCKETS as u64) as usize];
        if b.slot != slot {
            *b = Bucket {
                slot,
                ..Bucket::default()
            };
        }
        b
    }

    /// A finished attempt; the gateway is judged again.
    pub fn on_attempt(&mut self, now: Instant, o: Outcome) {
        self.gateways.entry(o.gateway).or_default().dest = o.dest;
        let b = self.bucket(now, o.gateway);
        b.attempts += 1;
        b.answered += u32::from((200..300).contains(&o.code));
        b.effective += u32::from(effective(o.code));
        if let Some(p) = o.pdd {
            b.pdd_n += 1;
            b.pdd_ms += p.as_millis() as u64;
        }
        self.judge(now, o.gateway);
    }

    /// An answered call through `gateway` ended after `duration`.
    pub fn on_call_end(&mut self, now: Instant, gateway: u64, duration: Duration) {
        let b = self.bucket(now, gateway);
        b.ended += 1;
        b.duration_ms += duration.as_millis() as u64;
    }

    /// The gateway's numbers now.
    pub fn score(&self, now: Instant, gateway: u64) -> Option<Score> {
        let g = self.gateways.get(&gateway)?;
        let current = self.slot(now);
        let mut t = Bucket::default();
        for b in g
            .buckets
            .iter()
            .filter(|b| b.slot + BUCKETS as u64 > current && b.slot <= current)
        {
            t.attempts += b.attempts;
            t.answered += b.answered;
            t.effective += b.effective;
            t.pdd_n += b.pdd_n;
            t.pdd_ms += b.pdd_ms;
            t.ended += b.ended;
            t.duration_ms += b.duration_ms;
        }
        let ratio = |n: u32, d: u32| {
            if d == 0 {
                0.0
            } else {
                f64::from(n) / f64::from(d)
            }
        };
        Some(Score {
            attempts: t.attempts,
            asr: ratio(t.answered, t.attempts),
            ner: ratio(t.effective, t.attempts),
            acd_s: if t.ended == 0 {
                0.0
            } else {
                t.duration_ms as f64 / 1000.0 / f64::from(t.ended)
            },
            pdd_ms: if t.pdd_n == 0 {
                0.0
            } else {
                t.pdd_ms as f64 / f64::from(t.pdd_n)
            },
            demoted: g.demoted_until.is_some_and(|u| now < u),
        })
    }

    /// Demotes the gateway when its numbers are under the thresholds.
    fn judge(&mut self, now: Instant, gateway: u64) {
        let Some(s) = self.score(now, gateway) else {
            return;
        };
        let c = &self.config;
        if s.demoted || s.attempts < c.min_attempts {
            return;
        }
        let bad = c.min_asr.is_some_and(|m| s.asr < m)
            || c.min_ner.is_some_and(|m| s.ner < m)
            || c.max_pdd.is_some_and(|m| s.pdd_ms > m.as_millis() as f64);
        if bad {
            let until = now + c.demote_for;
            if let Some(g) = self.gateways.get_mut(&gateway) {
                g.demoted_until = Some(until);
                // Judged afresh after the demotion: the attempts that
                // demoted it do not demote it again at once.
                g.buckets = Default::default();
            }
        }
    }

    /// Whether `gateway` is demoted now.
    pub fn is_demoted(&self, now: Instant, gateway: u64) -> bool {
        self.gateways
            .get(&gateway)
            .and_then(|g| g.demoted_until)
            .is_some_and(|u| now < u)
    }

    /// Moves the demoted targets of `targets` (by `key`) to the end, in
    /// their order (a stable partition): they are still tried, last.
    /// Returns how many were moved.
    pub fn reorder<T: Copy>(
        &self,
        now: Instant,
        targets: &mut [T],
        key: impl Fn(&T) -> u64,
    ) -> usize {
        let n = targets.len();
        let demoted = |t: &T| self.is_demoted(now, key(t));
        let moved = targets.iter().filter(|t| demoted(t)).count();
        if moved == 0 || moved == n {
            return 0;
        }
        // Stable partition without allocating: rotate each demoted target
        // to the end, scanning from the back (targets are few: at most
        // MAX_TARGETS).
        let mut end = n;
        let mut i = n;
        while i > 0 {
            i -= 1;
            if demoted(&targets[i]) {
                targets[i..end].rotate_left(1);
                end -= 1;
            }
        }
        moved
    }

    /// Every gateway's numbers now, with the address it was last tried
    /// at (for reports).
    pub fn scores(&self, now: Instant) -> Vec<(std::net::SocketAddr, Score)> {
        let mut v: Vec<_> = self
            .gateways
            .iter()
            .filter_map(|(k, g)| Some((g.dest, self.score(now, *k)?)))
            .collect();
        v.sort_by_key(|(d, _)| *d);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> QualityConfig {
        QualityConfig {
            window: Duration::from_secs(100),
            min_attempts: 10,
            min_asr: Some(0.3),
            min_ner: Some(0.8),
            max_pdd: Some(Duration::from_secs(5)),
            demote_for: Duration::from_secs(60),
        }
    }

    fn attempt(q: &mut Quality, now: Instant, gw: u64, code: u16, pdd_ms: u64) {
        let pdd = Some(Duration::from_millis(pdd_ms));
        let dest = "192.0.2.1:5060".parse().unwrap();
        q.on_attempt(
            now,
            Outcome {
                gateway: gw,
                code,
                pdd,
                dest,
            },
        );
    }

    #[test]
    fn ratios_over_the_window() {
        let t0 = Instant::now();
        let mut q = Quality::new(QualityConfig::default(), t0);
        for i in 0..10 {
            let code = match i % 5 {
                0 | 1 => 200,
                2 => 486,
                3 => 503,
                _ => 408,
            };
            attempt(&mut q, t0, 1, code, 1000 + 100 * i);
        }
        q.on_call_end(t0, 1, Duration::from_secs(30));
        q.on_call_end(t0, 1, Duration::from_secs(90));
        let s = q.score(t0, 1).unwrap();
        assert_eq!(s.attempts, 10);
        assert!((s.asr - 0.4).abs() < 1e-9);
        assert!((s.ner - 0.6).abs() < 1e-9, "200, 200, 486 per five");
        assert!((s.acd_s - 60.0).abs() < 1e-9);
        assert!((s.pdd_ms - 1450.0).abs() < 1e-9);
        // Past the window, forgotten.
        assert_eq!(
            q.score(t0 + Duration::from_secs(901), 1).unwrap().attempts,
            0
        );
        // Within it, a bucket at a time.
        assert_eq!(
            q.score(t0 + Duration::from_secs(850), 1).unwrap().attempts,
            10
        );
    }

    #[test]
    fn a_failing_gateway_is_demoted_then_recovers() {
        let t0 = Instant::now();
        let mut q = Quality::new(cfg(), t0);
        for _ in 0..9 {
            attempt(&mut q, t0, 7, 503, 200);
            attempt(&mut q, t0, 8, 200, 200);
        }
        assert!(!q.is_demoted(t0, 7), "not judged under min_attempts");
        attempt(&mut q, t0, 7, 503, 200);
        attempt(&mut q, t0, 8, 200, 200);
        assert!(q.is_demoted(t0, 7));
        assert!(!q.is_demoted(t0, 8));
        let mut targets = [7u64, 8, 9];
        assert_eq!(q.reorder(t0, &mut targets, |t| *t), 1);
        assert_eq!(targets, [8, 9, 7], "tried last, not dropped");
        // The demotion lasts demote_for, then the gateway is back in place.
        let later = t0 + Duration::from_secs(61);
        assert!(!q.is_demoted(later, 7));
        let mut targets = [7u64, 8];
        assert_eq!(q.reorder(later, &mut targets, |t| *t), 0);
        assert_eq!(targets, [7, 8]);
    }

    #[test]
    fn slow_ringing_demotes_too() {
        let t0 = Instant::now();
        let mut q = Quality::new(cfg(), t0);
        for _ in 0..10 {
            attempt(&mut q, t0, 3, 200, 9000);
        }
        assert!(q.is_demoted(t0, 3), "PDD 9 s > 5 s");
        // All demoted: the order stays.
        let mut targets = [3u64];
        assert_eq!(q.reorder(t0, &mut targets, |t| *t), 0);
    }
}
