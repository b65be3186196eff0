//! The main thread's side of a run: signals, `-timeout`, `-m` for
//! servers, `-rate_increase`, the remote control, `exec`, and the
//! statistics merged from the shards for a [`Sink`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::{RemoteControl, Report, Running, quit};
use crate::stats::{RttSample, Stats};

/// Where the main thread sends what the shards report (the files and
/// screens of [`crate::stats`], or a test's collector).
pub trait Sink {
    /// The merged statistics, about once per second.
    fn tick(&mut self, merged: &Stats, now: SystemTime);
    /// A message, an error line or a log line.
    fn report(&mut self, report: Report);
}

/// Main-thread steering of a run.
#[derive(Debug, Clone, Default)]
pub struct DriveParams {
    /// `-timeout`: the whole run's limit.
    pub timeout: Option<Duration>,
    /// `-m` for server scenarios: quit once this many calls were created
    /// (the shards refuse more themselves; this stops the run once they
    /// ended).
    pub server_max_calls: Option<u64>,
    /// `-rate_increase` every `-fd`, up to `-rate_max` (calls per second),
    /// and whether reaching it quits (`-no_rate_quit` off).
    pub rate_increase: Option<RateIncrease>,
    /// `-timeout_error`: reaching `-timeout` is fatal.
    pub timeout_is_error: bool,
    /// Handle SIGINT/SIGTERM as SIPp's `q` (first: no new calls; second:
    /// abort the open ones).
    pub signals: bool,
    /// SIPp's remote-control socket (`-ci`/`-cp`), read by the main loop.
    pub remote: Option<Arc<RemoteControl>>,
}

/// `-rate_increase`.
#[derive(Debug, Clone, Copy)]
pub struct RateIncrease {
    /// Calls per second added each period.
    pub step: f64,
    /// The period (`-fd`).
    pub every: Duration,
    /// `-rate_max`, calls per second.
    pub max: Option<f64>,
    /// Quit when the maximum is reached.
    pub quit_at_max: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The calls ran out, or a graceful stop.
    Normal,
    /// `-timeout` expired (exit 1 with failed calls, else 97 when no call
    /// succeeded).
    Timeout,
    /// `stop_now` (SIPp exits 97).
    StoppedNow,
    /// An `<error>` action (SIPp exits 255).
    Fatal(String),
}

/// Runs the main thread's side until every shard has finished: signals,
/// `-timeout`, `-m` for servers, `-rate_increase`, `exec`, and the
/// statistics merged from the shards' snapshots for `sink`. Returns the
/// final merged statistics.
pub fn drive(
    running: Running,
    scenario: &crate::scenario::Scenario,
    dp: &DriveParams,
    sink: &mut dyn Sink,
) -> (Stats, Outcome) {
    let control = running.control.clone();
    let start = Instant::now();
    let mut signals = if dp.signals {
        signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGUSR1,
        ])
        .ok()
    } else {
        None
    };
    let mut latest: Vec<Option<Stats>> = Vec::new();
    // Response-time samples, given to the sink once each, in time order.
    let mut samples = RttOrder::new(running.shards);
    let mut outcome = Outcome::Normal;
    let mut last_tick = Instant::now();
    let mut last_increase = Instant::now();
    let mut children: Vec<std::process::Child> = Vec::new();
    let merge = |latest: &[Option<Stats>]| {
        let mut m = Stats::new(scenario);
        for s in latest.iter().flatten() {
            m.merge(s);
        }
        m
    };
    loop {
        let finished = running.finished();
        while let Ok(r) = running.reports.try_recv() {
            match r {
                Report::Stats {
                    shard,
                    stats,
                    taken,
                    last,
                } => {
                    let id = shard as usize;
                    if latest.len() <= id {
                        latest.resize_with(id + 1, || None);
                    }
                    let mut s = *stats;
                    samples.add(id, std::mem::take(&mut s.rtt_samples), taken, last);
                    latest[id] = Some(s);
                }
                Report::Exec(cmd) => {
                    match std::process::Command::new("sh").arg("-c").arg(&cmd).spawn() {
                        Ok(c) => children.push(c),
                        Err(e) => sink.report(Report::Error(format!("exec '{cmd}' failed: {e}"))),
                    }
                }
                Report::StopGracefully => control.quit(quit::GRACEFUL),
                Report::StopNow => {
                    control.quit(quit::ABORT);
                    outcome = Outcome::StoppedNow;
                }
                Report::Fatal(f) => {
                    control.quit(quit::ABORT);
                    sink.report(Report::Error(f.clone()));
                    outcome = Outcome::Fatal(f);
                }
                other => sink.report(other),
            }
        }
        children.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        if finished {
            break;
        }
        if let Some(sig) = signals.as_mut() {
            for _ in sig.pending() {
                let level = control.quit.load(Ordering::Relaxed);
                control.quit(if level == quit::RUN {
                    quit::GRACEFUL
                } else {
                    quit::ABORT
                });
            }
        }
        if let Some(rc) = &dp.remote {
            for w in rc.poll(&control) {
                sink.report(Report::Error(w));
            }
        }
        if let Some(t) = dp.timeout
            && start.elapsed() >= t
            && outcome == Outcome::Normal
        {
            // SIPp: like `q` (no new calls, let the open ones end), or a
            // fatal error with `-timeout_error`.
            if dp.timeout_is_error {
                control.quit(quit::ABORT);
                outcome = Outcome::Fatal("Global timeout reached".into());
            } else {
                control.quit(quit::GRACEFUL);
                outcome = Outcome::Timeout;
            }
        }
        if let Some(m) = dp.server_max_calls
            && control.created.load(Ordering::Relaxed) >= m
        {
            control.quit(quit::GRACEFUL);
        }
        if let Some(ri) = dp.rate_increase
            && last_increase.elapsed() >= ri.every
            && control.quit.load(Ordering::Relaxed) == quit::RUN
        {
            last_increase = Instant::now();
            let mut r = control.rate() + ri.step;
            if let Some(max) = ri.max
                && r >= max
            {
                r = max;
                if ri.quit_at_max {
                    control.quit(quit::GRACEFUL);
                }
            }
            control.set_rate(r);
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            let mut m = merge(&latest);
            m.rtt_samples = samples.release();
            sink.tick(&m, SystemTime::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let finals = running.join();
    let mut merged = Stats::new(scenario);
    for s in &finals {
        merged.merge(s);
    }
    merged.rtt_samples = samples.finish();
    (merged, outcome)
}

/// The `-trace_rtt` samples of every shard, given out in time order, as
/// SIPp (one thread) writes them. Shards report their samples in
/// batches; a sample is released once every shard has reported a
/// snapshot taken after it, so no sample can come later with an earlier
/// time.
#[derive(Debug)]
struct RttOrder {
    /// Received, not released yet.
    pending: Vec<RttSample>,
    /// Per shard: how far its samples have been reported.
    reported: Vec<Reported>,
}

/// How far a shard's samples have been reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reported {
    /// Nothing yet.
    Nothing,
    /// Every sample taken before this instant.
    Until(SystemTime),
    /// All of them: the shard has ended.
    Done,
}

impl RttOrder {
    fn new(shards: usize) -> RttOrder {
        RttOrder {
            pending: Vec::new(),
            reported: vec![Reported::Nothing; shards],
        }
    }

    /// Shard `shard`'s samples of a snapshot taken at `taken` (`last`: its
    /// final one).
    fn add(&mut self, shard: usize, mut samples: Vec<RttSample>, taken: SystemTime, last: bool) {
        self.pending.append(&mut samples);
        if self.reported.len() <= shard {
            self.reported.resize(shard + 1, Reported::Nothing);
        }
        self.reported[shard] = if last {
            Reported::Done
        } else {
            Reported::Until(taken)
        };
    }

    /// The samples no shard can precede any more, in time order.
    fn release(&mut self) -> Vec<RttSample> {
        let mut until = None;
        for r in &self.reported {
            match r {
                Reported::Nothing => return Vec::new(),
                Reported::Until(t) => until = Some(until.map_or(*t, |u: SystemTime| u.min(*t))),
                Reported::Done => {}
            }
        }
        // Stable: samples of one instant keep their arrival order.
        self.pending.sort_by_key(|s| s.at);
        let n = match until {
            Some(t) => self.pending.partition_point(|s| s.at <= t),
            None => self.pending.len(),
        };
        self.pending.drain(..n).collect()
    }

    /// Every sample left, in time order (the run is over).
    fn finish(mut self) -> Vec<RttSample> {
        self.pending.sort_by_key(|s| s.at);
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64) -> RttSample {
        RttSample {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            rtt: Duration::from_millis(1),
            rtd: 0,
        }
    }

    fn times(v: &[RttSample]) -> Vec<u64> {
        v.iter()
            .map(|s| {
                s.at.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64
            })
            .collect()
    }

    /// Batches of two shards, each in its own order, come out merged in
    /// time order, a sample only once no shard can still report an
    /// earlier one.
    #[test]
    fn samples_are_released_in_time_order() {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let mut o = RttOrder::new(2);
        o.add(0, vec![sample(10), sample(30)], at(40), false);
        assert!(o.release().is_empty(), "shard 1 has not reported yet");
        o.add(1, vec![sample(20)], at(25), false);
        assert_eq!(times(&o.release()), [10, 20]);
        o.add(1, vec![sample(35), sample(50)], at(60), false);
        assert_eq!(times(&o.release()), [30, 35]);
        o.add(0, vec![sample(45)], at(70), true);
        assert_eq!(times(&o.release()), [45, 50]);
        o.add(1, vec![sample(65)], at(80), false);
        assert_eq!(times(&o.release()), [65]);
        o.add(1, vec![sample(75)], at(90), true);
        assert_eq!(times(&o.finish()), [75]);
    }
}
