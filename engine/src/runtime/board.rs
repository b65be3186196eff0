//! What the shards publish for the control socket: each shard's quality
//! routing scores ([`crate::lcr::quality`]), written by the shard at its
//! housekeeping (every 10 s), and its view of the dispatcher
//! destinations' health ([`crate::dispatch`]), written when it changes,
//! each into the shard's own slot, read by the control thread on demand. A shard's slot is its own mutex, taken for a copy
//! once per housekeeping: never on a message's path.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::lcr::quality::Score;

/// The shards' published scores, one slot per shard.
#[derive(Debug)]
pub struct Board {
    quality: Vec<Mutex<Vec<(SocketAddr, Score)>>>,
    /// Per shard: (set, destination, up by its probes).
    pools: Vec<Mutex<Vec<(String, SocketAddr, bool)>>>,
}

impl Board {
    /// A board for `shards` shards.
    pub fn new(shards: u16) -> Board {
        Board {
            quality: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
            pools: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Shard `shard`'s scores now.
    pub fn publish(&self, shard: u16, scores: Vec<(SocketAddr, Score)>) {
        if let Some(slot) = self.quality.get(usize::from(shard)) {
            if let Ok(mut s) = slot.lock() {
                *s = scores;
            }
        }
    }

    /// Shard `shard`'s view of the dispatcher destinations now.
    pub fn publish_pools(&self, shard: u16, states: Vec<(String, SocketAddr, bool)>) {
        if let Some(slot) = self.pools.get(usize::from(shard)) {
            if let Ok(mut s) = slot.lock() {
                *s = states;
            }
        }
    }

    /// The `dispatcher` command's answer (one line; a destination per
    /// ` | `-separated part): each set's destinations and on how many
    /// shards their probes find them up (each shard probes on its own).
    pub fn pools_report(&self) -> String {
        let mut merged: Vec<(String, SocketAddr, u32, u32)> = Vec::new();
        for slot in &self.pools {
            let Ok(states) = slot.lock() else { continue };
            for (set, addr, up) in states.iter() {
                let i = match merged.iter().position(|(s, a, _, _)| s == set && a == addr) {
                    Some(i) => i,
                    None => {
                        merged.push((set.clone(), *addr, 0, 0));
                        merged.len() - 1
                    }
                };
                merged[i].2 += u32::from(*up);
                merged[i].3 += 1;
            }
        }
        if merged.is_empty() {
            return "no dispatcher destinations published yet".into();
        }
        merged
            .iter()
            .map(|(set, a, up, seen)| format!("{set} {a} up_on={up}/{seen}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The `quality` command's answer (one line, the control socket's
    /// protocol; a gateway per ` | `-separated part): per gateway address,
    /// the shards' scores merged (ratios weighted by each shard's
    /// attempts) and on how many shards it is demoted.
    pub fn quality_report(&self) -> String {
        let mut merged: Vec<(SocketAddr, Score, u32)> = Vec::new();
        for slot in &self.quality {
            let Ok(scores) = slot.lock() else { continue };
            for (addr, s) in scores.iter() {
                let i = match merged.iter().position(|(a, _, _)| a == addr) {
                    Some(i) => i,
                    None => {
                        merged.push((*addr, Score::default(), 0));
                        merged.len() - 1
                    }
                };
                let (_, m, demoted) = &mut merged[i];
                let (n, w) = (f64::from(m.attempts), f64::from(s.attempts));
                let mix = |a: f64, b: f64| {
                    if n + w == 0.0 {
                        0.0
                    } else {
                        (a * n + b * w) / (n + w)
                    }
                };
                m.asr = mix(m.asr, s.asr);
                m.ner = mix(m.ner, s.ner);
                m.pdd_ms = mix(m.pdd_ms, s.pdd_ms);
                m.acd_s = if m.acd_s == 0.0 {
                    s.acd_s
                } else {
                    mix(m.acd_s, s.acd_s)
                };
                m.attempts += s.attempts;
                *demoted += u32::from(s.demoted);
            }
        }
        if merged.is_empty() {
            return "no gateway scores yet (published every 10 s; [routing.quality] on?)".into();
        }
        merged.sort_by_key(|(a, _, _)| *a);
        let shards = self.quality.len();
        merged
            .iter()
            .map(|(a, s, d)| {
                format!(
                    "{a} attempts={} asr={:.3} ner={:.3} acd_s={:.1} pdd_ms={:.0} demoted_on={d}/{shards}",
                    s.attempts, s.asr, s.ner, s.acd_s, s.pdd_ms
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_scores_merge_by_attempts() {
        let b = Board::new(2);
        let a: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let s = |attempts, asr, demoted| Score {
            attempts,
            asr,
            ner: asr,
            acd_s: 60.0,
            pdd_ms: 1000.0,
            demoted,
        };
        b.publish(0, vec![(a, s(10, 0.5, false))]);
        b.publish(1, vec![(a, s(30, 0.1, true))]);
        let r = b.quality_report();
        assert_eq!(
            r,
            "192.0.2.1:5060 attempts=40 asr=0.200 ner=0.200 acd_s=60.0 pdd_ms=1000 demoted_on=1/2"
        );
    }

    #[test]
    fn each_destination_says_on_how_many_shards_it_is_up() {
        let b = Board::new(2);
        let (x, y): (SocketAddr, SocketAddr) = (
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
        );
        assert!(b.pools_report().starts_with("no dispatcher destinations"));
        b.publish_pools(0, vec![("pbx".into(), x, true), ("pbx".into(), y, false)]);
        b.publish_pools(1, vec![("pbx".into(), x, true), ("pbx".into(), y, true)]);
        assert_eq!(
            b.pools_report(),
            "pbx 10.0.0.1:5060 up_on=2/2 | pbx 10.0.0.2:5060 up_on=1/2"
        );
    }
}
