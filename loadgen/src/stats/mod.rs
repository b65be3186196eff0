//! Statistics (compat §5): SIPp's counters per shard, mergeable, and the
//! output files and screens built from them.
//!
//! # Design: cumulative stats, periodic values by difference
//!
//! A [`Stats`] only ever holds **cumulative** values (SIPp's `(C)`
//! counters, the sums behind means and standard deviations, the
//! repartition bins, HdrHistograms, per-message counts). Nothing is reset.
//! SIPp's two periodic families — `PD` (reset at every screen refresh,
//! `-f`) and `PL` (reset at every stat dump, `-fd`) — are computed by the
//! [`Reporter`] as differences against snapshots of the merged totals it
//! took at the last refresh / dump. So merging is plain addition and
//! shards never need to be told about periods.
//!
//! Flow, about once a second:
//! 1. each shard calls [`Stats::snapshot`] (a clone that also *moves out*
//!    the response-time samples buffered for `-trace_rtt` since the last
//!    snapshot, so each sample is reported once; the runtime hands them on
//!    in time order across shards, as SIPp writes them);
//! 2. the runtime merges them into a fresh `Stats::new(&scenario)` with
//!    [`Stats::merge`];
//! 3. and calls [`Reporter::tick`] with the total (and at the end
//!    [`Reporter::finish`]).
//!
//! With `-periodic_rtd` SIPp resets the repartition bins at every dump;
//! the reporter does that by difference as well.
//!
//! Response times and call lengths are kept twice: in whole milliseconds
//! (count, sum, sum of squares — exactly SIPp's `(unsigned long)` means
//! and `computeStdev`), and in microseconds in an auto-resizing
//! HdrHistogram (3 significant digits) for trunkload's percentiles.

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::scenario::Scenario;

mod csv;
pub mod format;
mod report;
mod screen;

pub use csv::{counts_header, stat_header};
pub use report::{Reporter, ScreenInfo, format_msg_log, format_short_msg_log};

/// Why a call failed (SIPp's `E_FAILED_*`, one `Failed…` column each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// `FailedCannotSendMessage`.
    CannotSendMessage,
    /// `FailedMaxUDPRetrans`.
    MaxUdpRetrans,
    /// `FailedTcpConnect`.
    TcpConnect,
    /// `FailedTcpClosed`.
    TcpClosed,
    /// `FailedUnexpectedMessage`.
    UnexpectedMessage,
    /// `FailedCallRejected`.
    CallRejected,
    /// `FailedCmdNotSent`.
    CmdNotSent,
    /// `FailedRegexpDoesntMatch`.
    RegexpDoesntMatch,
    /// `FailedRegexpShouldntMatch`.
    RegexpShouldntMatch,
    /// `FailedRegexpHdrNotFound`.
    RegexpHdrNotFound,
    /// `FailedOutboundCongestion`.
    OutboundCongestion,
    /// `FailedTimeoutOnRecv`.
    TimeoutOnRecv,
    /// `FailedTimeoutOnSend`.
    TimeoutOnSend,
    /// `FailedTestDoesntMatch`.
    TestDoesntMatch,
    /// `FailedTestShouldntMatch`.
    TestShouldntMatch,
    /// `FailedStrcmpDoesntMatch`.
    StrcmpDoesntMatch,
    /// `FailedStrcmpShouldntMatch`.
    StrcmpShouldntMatch,
}

impl FailReason {
    /// Every reason, in the stat file's column order.
    pub const ALL: [FailReason; 17] = [
        FailReason::CannotSendMessage,
        FailReason::MaxUdpRetrans,
        FailReason::TcpConnect,
        FailReason::TcpClosed,
        FailReason::UnexpectedMessage,
        FailReason::CallRejected,
        FailReason::CmdNotSent,
        FailReason::RegexpDoesntMatch,
        FailReason::RegexpShouldntMatch,
        FailReason::RegexpHdrNotFound,
        FailReason::OutboundCongestion,
        FailReason::TimeoutOnRecv,
        FailReason::TimeoutOnSend,
        FailReason::TestDoesntMatch,
        FailReason::TestShouldntMatch,
        FailReason::StrcmpDoesntMatch,
        FailReason::StrcmpShouldntMatch,
    ];

    /// The stat file's column name without `(P)`/`(C)`.
    pub fn column(self) -> &'static str {
        match self {
            FailReason::CannotSendMessage => "FailedCannotSendMessage",
            FailReason::MaxUdpRetrans => "FailedMaxUDPRetrans",
            FailReason::TcpConnect => "FailedTcpConnect",
            FailReason::TcpClosed => "FailedTcpClosed",
            FailReason::UnexpectedMessage => "FailedUnexpectedMessage",
            FailReason::CallRejected => "FailedCallRejected",
            FailReason::CmdNotSent => "FailedCmdNotSent",
            FailReason::RegexpDoesntMatch => "FailedRegexpDoesntMatch",
            FailReason::RegexpShouldntMatch => "FailedRegexpShouldntMatch",
            FailReason::RegexpHdrNotFound => "FailedRegexpHdrNotFound",
            FailReason::OutboundCongestion => "FailedOutboundCongestion",
            FailReason::TimeoutOnRecv => "FailedTimeoutOnRecv",
            FailReason::TimeoutOnSend => "FailedTimeoutOnSend",
            FailReason::TestDoesntMatch => "FailedTestDoesntMatch",
            FailReason::TestShouldntMatch => "FailedTestShouldntMatch",
            FailReason::StrcmpDoesntMatch => "FailedStrcmpDoesntMatch",
            FailReason::StrcmpShouldntMatch => "FailedStrcmpShouldntMatch",
        }
    }

    /// Index into [`Counters::fail_reasons`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Count, sum and sum of squares of whole-millisecond samples (SIPp's
/// `RTD_COUNT/SUM/SUMSQ` and `AverageCallLength_Sum/Squares`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    /// Samples.
    pub count: u64,
    /// Sum, ms.
    pub sum: u64,
    /// Sum of squares, ms².
    pub sumsq: u64,
}

impl Moments {
    fn add(&mut self, ms: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(ms);
        self.sumsq = self.sumsq.wrapping_add(ms.wrapping_mul(ms));
    }

    fn merge(&mut self, o: &Moments) {
        self.count += o.count;
        self.sum = self.sum.wrapping_add(o.sum);
        self.sumsq = self.sumsq.wrapping_add(o.sumsq);
    }

    /// `self - earlier` (the periodic part since a snapshot).
    pub fn since(&self, earlier: &Moments) -> Moments {
        Moments {
            count: self.count.saturating_sub(earlier.count),
            sum: self.sum.wrapping_sub(earlier.sum),
            sumsq: self.sumsq.wrapping_sub(earlier.sumsq),
        }
    }

    /// SIPp's mean, ms (0 without samples).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// SIPp's standard deviation (`computeRtdStdev`: 0 with fewer than two
    /// samples), ms.
    pub fn stdev(&self) -> f64 {
        if self.count <= 1 {
            return 0.0;
        }
        let n = self.count as f64;
        let num = n * self.sumsq as f64 - (self.sum.wrapping_mul(self.sum)) as f64;
        let den = n * (n - 1.0);
        let v = (num / den).sqrt();
        if v.is_finite() { v } else { 0.0 }
    }
}

/// The most calls in progress at once (SIPp's `CurrentCallPeak`) and
/// when, in whole seconds since the start (`CurrentCallPeakTime`). The
/// runtime tracks it for every shard together as calls start; it cannot
/// be derived from the shards' counts, which are taken at different
/// times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    /// Calls in progress at the peak.
    pub calls: u64,
    /// When it was first reached, seconds since the start.
    pub after_s: u64,
}

/// The scalar counters (everything but histograms and per-message
/// counts): cheap to clone, so the reporter keeps copies as its periodic
/// baselines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `IncomingCallCreated`.
    pub incoming_created: u64,
    /// `OutgoingCallCreated`.
    pub outgoing_created: u64,
    /// `SuccessfulCall`.
    pub successful: u64,
    /// `FailedCall`.
    pub failed: u64,
    /// Calls that ended neither successful nor failed (answered PING,
    /// killed at shutdown).
    pub uncounted: u64,
    /// One per [`FailReason`], in [`FailReason::ALL`] order.
    pub fail_reasons: [u64; 17],
    /// `OutOfCallMsgs`.
    pub out_of_call: u64,
    /// `DeadCallMsgs`.
    pub dead_call: u64,
    /// `Retransmissions` (retransmitted sends).
    pub retransmissions: u64,
    /// `AutoAnswered`.
    pub auto_answered: u64,
    /// `Warnings`.
    pub warnings: u64,
    /// `FatalErrors`.
    pub fatal_errors: u64,
    /// `WatchdogMajor`.
    pub watchdog_major: u64,
    /// `WatchdogMinor`.
    pub watchdog_minor: u64,
    /// UDP send errors (screen).
    pub udp_send_errors: u64,
    /// UDP receive errors (screen).
    pub udp_recv_errors: u64,
    /// Per RTD (scenario order): ms moments.
    pub rtds: Vec<Moments>,
    /// Call length: ms moments.
    pub call_length: Moments,
    /// Generic counters (scenario order).
    pub generic: Vec<u64>,
    /// The peak of calls in progress (cumulative only).
    pub peak: Peak,
}

impl Counters {
    /// Calls created, incoming and outgoing.
    pub fn total_created(&self) -> u64 {
        self.incoming_created + self.outgoing_created
    }

    /// `CurrentCall`: created and not ended.
    pub fn current(&self) -> u64 {
        self.total_created()
            .saturating_sub(self.successful + self.failed + self.uncounted)
    }

    /// The count of one failure reason.
    pub fn fail(&self, r: FailReason) -> u64 {
        self.fail_reasons[r.index()]
    }

    /// `self - earlier`: the periodic counters since a snapshot.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let mut fail_reasons = [0; 17];
        for (i, f) in fail_reasons.iter_mut().enumerate() {
            *f = d(self.fail_reasons[i], earlier.fail_reasons[i]);
        }
        Counters {
            incoming_created: d(self.incoming_created, earlier.incoming_created),
            outgoing_created: d(self.outgoing_created, earlier.outgoing_created),
            successful: d(self.successful, earlier.successful),
            failed: d(self.failed, earlier.failed),
            uncounted: d(self.uncounted, earlier.uncounted),
            fail_reasons,
            out_of_call: d(self.out_of_call, earlier.out_of_call),
            dead_call: d(self.dead_call, earlier.dead_call),
            retransmissions: d(self.retransmissions, earlier.retransmissions),
            auto_answered: d(self.auto_answered, earlier.auto_answered),
            warnings: d(self.warnings, earlier.warnings),
            fatal_errors: d(self.fatal_errors, earlier.fatal_errors),
            watchdog_major: d(self.watchdog_major, earlier.watchdog_major),
            watchdog_minor: d(self.watchdog_minor, earlier.watchdog_minor),
            udp_send_errors: d(self.udp_send_errors, earlier.udp_send_errors),
            udp_recv_errors: d(self.udp_recv_errors, earlier.udp_recv_errors),
            rtds: self
                .rtds
                .iter()
                .enumerate()
                .map(|(i, m)| m.since(&earlier.rtds.get(i).copied().unwrap_or_default()))
                .collect(),
            call_length: self.call_length.since(&earlier.call_length),
            generic: self
                .generic
                .iter()
                .enumerate()
                .map(|(i, v)| d(*v, earlier.generic.get(i).copied().unwrap_or(0)))
                .collect(),
            peak: self.peak,
        }
    }

    fn merge(&mut self, o: &Counters) {
        self.incoming_created += o.incoming_created;
        self.outgoing_created += o.outgoing_created;
        self.successful += o.successful;
        self.failed += o.failed;
        self.uncounted += o.uncounted;
        for (a, b) in self.fail_reasons.iter_mut().zip(o.fail_reasons.iter()) {
            *a += b;
        }
        self.out_of_call += o.out_of_call;
        self.dead_call += o.dead_call;
        self.retransmissions += o.retransmissions;
        self.auto_answered += o.auto_answered;
        self.warnings += o.warnings;
        self.fatal_errors += o.fatal_errors;
        self.watchdog_major += o.watchdog_major;
        self.watchdog_minor += o.watchdog_minor;
        self.udp_send_errors += o.udp_send_errors;
        self.udp_recv_errors += o.udp_recv_errors;
        // Every shard reports the same run-wide peak, some later than
        // others: the highest is the latest.
        if o.peak.calls > self.peak.calls {
            self.peak = o.peak;
        }
        if self.rtds.len() < o.rtds.len() {
            self.rtds.resize(o.rtds.len(), Moments::default());
        }
        for (a, b) in self.rtds.iter_mut().zip(o.rtds.iter()) {
            a.merge(b);
        }
        self.call_length.merge(&o.call_length);
        if self.generic.len() < o.generic.len() {
            self.generic.resize(o.generic.len(), 0);
        }
        for (a, b) in self.generic.iter_mut().zip(o.generic.iter()) {
            *a += b;
        }
    }
}

/// Per scenario element counts (the screen's table, `-trace_counts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgCounts {
    /// `nb_sent`.
    pub sent: u64,
    /// `nb_sent_retrans`.
    pub sent_retrans: u64,
    /// `nb_recv`.
    pub recv: u64,
    /// `nb_recv_retrans`.
    pub recv_retrans: u64,
    /// `nb_timeout`.
    pub timeout: u64,
    /// `nb_unexp`.
    pub unexpected: u64,
    /// `sessions` (pauses entered, cumulative as in SIPp).
    pub sessions: u64,
    /// `nb_lost`: messages this element lost on purpose (`lost`, `-lost`).
    pub lost: u64,
}

impl MsgCounts {
    fn merge(&mut self, o: &MsgCounts) {
        self.sent += o.sent;
        self.sent_retrans += o.sent_retrans;
        self.recv += o.recv;
        self.recv_retrans += o.recv_retrans;
        self.timeout += o.timeout;
        self.unexpected += o.unexpected;
        self.sessions += o.sessions;
        self.lost += o.lost;
    }
}

/// One response-time sample for `-trace_rtt`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttSample {
    /// When it was taken (wall clock).
    pub at: SystemTime,
    /// The response time.
    pub rtt: Duration,
    /// RTD index (into [`Scenario::rtds`]).
    pub rtd: usize,
}

/// Percentiles of an HdrHistogram, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// p50.
    pub p50: u64,
    /// p90.
    pub p90: u64,
    /// p99.
    pub p99: u64,
    /// p99.9.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Largest value recorded in the histograms: one day, µs.
const MAX_US: u64 = 86_400_000_000;

fn new_histogram() -> Histogram<u64> {
    // From 1 µs, 3 significant digits, auto-resizing: it only grows as
    // far as the largest value recorded (a fixed 1 µs..1 h histogram
    // would be ~350 KB per RTD per shard snapshot).
    Histogram::new(3).expect("3 significant digits is valid")
}

/// Percentiles of a histogram (zeros when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        min: h.min(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

/// Sorted repartition borders with SIPp's rules (empty: none).
fn borders(v: &[u64]) -> Vec<u64> {
    let mut b = v.to_vec();
    b.sort_unstable();
    b
}

/// SIPp's `updateRepartition`: bin `i` counts values `< borders[i]`
/// (and `>=` the previous border); the last bin everything `>=` the last
/// border.
fn bin_of(borders: &[u64], ms: u64) -> usize {
    borders
        .iter()
        .position(|&b| ms < b)
        .unwrap_or(borders.len())
}

/// One shard's (or the merged) statistics. See the module docs.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Scalar counters.
    pub counters: Counters,
    /// Per message index.
    pub msgs: Vec<MsgCounts>,
    /// Per RTD: repartition bins (`borders.len() + 1`, or empty when the
    /// scenario has no `ResponseTimeRepartition`).
    pub rtd_repartition: Vec<Vec<u64>>,
    /// Call-length repartition bins.
    pub call_length_repartition: Vec<u64>,
    /// Per RTD: µs histogram.
    pub rtd_hist: Vec<Histogram<u64>>,
    /// Call lengths, µs.
    pub call_length_hist: Histogram<u64>,
    /// Response-time samples not yet taken by [`Stats::snapshot`]
    /// (only with [`Stats::set_rtt_trace`]).
    pub rtt_samples: Vec<RttSample>,
    rtt_trace: bool,
    rt_borders: Vec<u64>,
    cl_borders: Vec<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new(&Scenario::default())
    }
}

impl Stats {
    /// Empty statistics shaped for `scenario` (its elements, RTDs,
    /// counters and repartitions).
    pub fn new(scenario: &Scenario) -> Stats {
        let nrtd = scenario.rtds.len();
        let rt_borders = borders(&scenario.response_time_repartition);
        let cl_borders = borders(&scenario.call_length_repartition);
        let rt_bins = if rt_borders.is_empty() {
            0
        } else {
            rt_borders.len() + 1
        };
        Stats {
            counters: Counters {
                rtds: vec![Moments::default(); nrtd],
                generic: vec![0; scenario.counters.len()],
                ..Counters::default()
            },
            msgs: vec![MsgCounts::default(); scenario.elements.len()],
            rtd_repartition: vec![vec![0; rt_bins]; nrtd],
            call_length_repartition: if cl_borders.is_empty() {
                Vec::new()
            } else {
                vec![0; cl_borders.len() + 1]
            },
            rtd_hist: (0..nrtd).map(|_| new_histogram()).collect(),
            call_length_hist: new_histogram(),
            rtt_samples: Vec::new(),
            rtt_trace: false,
            rt_borders,
            cl_borders,
        }
    }

    /// Keep response-time samples for `-trace_rtt` (off by default).
    pub fn set_rtt_trace(&mut self, on: bool) {
        self.rtt_trace = on;
    }

    /// A copy for the reporter that moves the buffered `-trace_rtt`
    /// samples out of `self` (so each is written once).
    pub fn snapshot(&mut self) -> Stats {
        let mut s = self.clone();
        s.rtt_samples = std::mem::take(&mut self.rtt_samples);
        s
    }

    /// A call was created (`incoming`: server side, a new Call-ID).
    pub fn call_created(&mut self, incoming: bool) {
        if incoming {
            self.counters.incoming_created += 1;
        } else {
            self.counters.outgoing_created += 1;
        }
    }

    fn call_length(&mut self, length: Duration) {
        let ms = format::millis(length);
        self.counters.call_length.add(ms);
        if !self.call_length_repartition.is_empty() {
            let i = bin_of(&self.cl_borders, ms);
            self.call_length_repartition[i] += 1;
        }
        // Auto-resizing and capped: cannot fail.
        let _ = self
            .call_length_hist
            .record(format::micros(length).clamp(1, MAX_US));
    }

    /// A call ran off the end of its scenario (or died in `<timewait>`).
    pub fn call_succeeded(&mut self, length: Duration) {
        self.counters.successful += 1;
        self.call_length(length);
    }

    /// A call failed: `FailedCall` and the reason's counter.
    pub fn call_failed(&mut self, reason: FailReason, length: Duration) {
        self.counters.failed += 1;
        self.counters.fail_reasons[reason.index()] += 1;
        self.call_length(length);
    }

    /// A call ended neither successful nor failed; its length still counts
    /// (SIPp adds the call length in the call's destructor).
    pub fn call_ended_uncounted(&mut self, length: Duration) {
        self.counters.uncounted += 1;
        self.call_length(length);
    }

    fn msg(&mut self, idx: usize) -> &mut MsgCounts {
        if idx >= self.msgs.len() {
            self.msgs.resize(idx + 1, MsgCounts::default());
        }
        &mut self.msgs[idx]
    }

    /// Element `idx` was sent.
    pub fn msg_sent(&mut self, idx: usize) {
        self.msg(idx).sent += 1;
    }

    /// Element `idx` was retransmitted (`nb_sent_retrans`,
    /// `Retransmissions`).
    pub fn msg_retrans(&mut self, idx: usize) {
        self.msg(idx).sent_retrans += 1;
        self.counters.retransmissions += 1;
    }

    /// A retransmission of the message received at `idx` came in
    /// (`nb_recv_retrans`).
    pub fn msg_recv_retrans(&mut self, idx: usize) {
        self.msg(idx).recv_retrans += 1;
    }

    /// Element `idx` lost a message on purpose (`nb_lost`).
    pub fn msg_lost(&mut self, idx: usize) {
        self.msg(idx).lost += 1;
    }

    /// Element `idx` timed out (`nb_timeout`).
    pub fn msg_timeout(&mut self, idx: usize) {
        self.msg(idx).timeout += 1;
    }

    /// Element `idx` was received.
    pub fn msg_recv(&mut self, idx: usize) {
        self.msg(idx).recv += 1;
    }

    /// An unexpected message arrived while the call was at `idx`.
    pub fn msg_unexpected(&mut self, idx: usize) {
        self.msg(idx).unexpected += 1;
    }

    /// A call entered the pause at `idx` (`sessions`).
    pub fn pause_started(&mut self, idx: usize) {
        self.msg(idx).sessions += 1;
    }

    /// A response-time sample for RTD `rtd`.
    pub fn rtd(&mut self, rtd: usize, sample: Duration) {
        if rtd >= self.counters.rtds.len() {
            self.counters.rtds.resize(rtd + 1, Moments::default());
            self.rtd_repartition.resize(rtd + 1, Vec::new());
            while self.rtd_hist.len() <= rtd {
                self.rtd_hist.push(new_histogram());
            }
        }
        let ms = format::millis(sample);
        self.counters.rtds[rtd].add(ms);
        let bins = &mut self.rtd_repartition[rtd];
        if !bins.is_empty() {
            bins[bin_of(&self.rt_borders, ms)] += 1;
        }
        let _ = self.rtd_hist[rtd].record(format::micros(sample).clamp(1, MAX_US));
        if self.rtt_trace {
            self.rtt_samples.push(RttSample {
                at: SystemTime::now(),
                rtt: sample,
                rtd,
            });
        }
    }

    /// Generic counter `counter` += 1.
    pub fn counter(&mut self, counter: usize) {
        if counter >= self.counters.generic.len() {
            self.counters.generic.resize(counter + 1, 0);
        }
        self.counters.generic[counter] += 1;
    }

    /// A message with an unknown Call-ID (`OutOfCallMsgs`).
    pub fn out_of_call(&mut self) {
        self.counters.out_of_call += 1;
    }

    /// A message for a finished call (`DeadCallMsgs`).
    pub fn dead_call(&mut self) {
        self.counters.dead_call += 1;
    }

    /// `AutoAnswered`.
    pub fn auto_answered(&mut self) {
        self.counters.auto_answered += 1;
    }

    /// `Warnings`.
    pub fn warning(&mut self) {
        self.counters.warnings += 1;
    }

    /// `FatalErrors`.
    pub fn fatal_error(&mut self) {
        self.counters.fatal_errors += 1;
    }

    /// `WatchdogMajor`.
    pub fn watchdog_major(&mut self) {
        self.counters.watchdog_major += 1;
    }

    /// `WatchdogMinor`.
    pub fn watchdog_minor(&mut self) {
        self.counters.watchdog_minor += 1;
    }

    /// A UDP send failed.
    pub fn udp_send_error(&mut self) {
        self.counters.udp_send_errors += 1;
    }

    /// A UDP receive failed.
    pub fn udp_recv_error(&mut self) {
        self.counters.udp_recv_errors += 1;
    }

    /// Moves `other`'s global counters into these: SIPp keeps
    /// `OutOfCallMsgs`, `DeadCallMsgs`, `AutoAnswered`, `Warnings`,
    /// `FatalErrors` and the watchdog counts once for the process
    /// (`CPT_G_*`), whichever scenario's call counted them, so those of
    /// the out-of-call calls show in the main scenario's.
    pub fn take_global_counters(&mut self, other: &mut Stats) {
        let (c, o) = (&mut self.counters, &mut other.counters);
        for (to, from) in [
            (&mut c.out_of_call, &mut o.out_of_call),
            (&mut c.dead_call, &mut o.dead_call),
            (&mut c.auto_answered, &mut o.auto_answered),
            (&mut c.warnings, &mut o.warnings),
            (&mut c.fatal_errors, &mut o.fatal_errors),
            (&mut c.watchdog_major, &mut o.watchdog_major),
            (&mut c.watchdog_minor, &mut o.watchdog_minor),
        ] {
            *to += std::mem::take(from);
        }
    }

    /// Adds another shard's statistics (and its buffered RTT samples).
    pub fn merge(&mut self, other: &Stats) {
        self.counters.merge(&other.counters);
        if self.msgs.len() < other.msgs.len() {
            self.msgs.resize(other.msgs.len(), MsgCounts::default());
        }
        for (a, b) in self.msgs.iter_mut().zip(other.msgs.iter()) {
            a.merge(b);
        }
        if self.rtd_repartition.len() < other.rtd_repartition.len() {
            self.rtd_repartition
                .resize(other.rtd_repartition.len(), Vec::new());
        }
        for (a, b) in self
            .rtd_repartition
            .iter_mut()
            .zip(other.rtd_repartition.iter())
        {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += y;
            }
        }
        if self.call_length_repartition.len() < other.call_length_repartition.len() {
            self.call_length_repartition
                .resize(other.call_length_repartition.len(), 0);
        }
        for (x, y) in self
            .call_length_repartition
            .iter_mut()
            .zip(other.call_length_repartition.iter())
        {
            *x += y;
        }
        while self.rtd_hist.len() < other.rtd_hist.len() {
            self.rtd_hist.push(new_histogram());
        }
        for (a, b) in self.rtd_hist.iter_mut().zip(other.rtd_hist.iter()) {
            // Same bounds on both sides: cannot fail.
            let _ = a.add(b);
        }
        let _ = self.call_length_hist.add(&other.call_length_hist);
        self.rtt_samples.extend_from_slice(&other.rtt_samples);
        if self.rt_borders.is_empty() {
            self.rt_borders = other.rt_borders.clone();
        }
        if self.cl_borders.is_empty() {
            self.cl_borders = other.cl_borders.clone();
        }
    }

    /// `CurrentCall`.
    pub fn current_calls(&self) -> u64 {
        self.counters.current()
    }

    /// `SuccessfulCall(C)`.
    pub fn successful(&self) -> u64 {
        self.counters.successful
    }

    /// `FailedCall(C)`.
    pub fn failed(&self) -> u64 {
        self.counters.failed
    }

    /// `TotalCallCreated`.
    pub fn created(&self) -> u64 {
        self.counters.total_created()
    }

    /// Percentiles of RTD `rtd`, µs.
    pub fn rtd_percentiles(&self, rtd: usize) -> Percentiles {
        self.rtd_hist.get(rtd).map(percentiles).unwrap_or_default()
    }

    /// Percentiles of the call length, µs.
    pub fn call_length_percentiles(&self) -> Percentiles {
        percentiles(&self.call_length_hist)
    }

    /// The exit code of a normal end (SIPp's `sipp_exit`): 0 without failed
    /// calls, 1 with, 97 when the `-timeout` ended a run without any
    /// successful call (`timeout_reached`).
    pub fn exit_code(&self, timeout_reached: bool) -> i32 {
        use crate::options::exit;
        if self.failed() == 0 {
            if timeout_reached && self.successful() < 1 {
                exit::INTERNAL
            } else {
                exit::OK
            }
        } else {
            exit::CALLS_FAILED
        }
    }

    /// The response-time repartition borders in use (sorted).
    pub fn response_time_borders(&self) -> &[u64] {
        &self.rt_borders
    }

    /// The call-length repartition borders in use (sorted).
    pub fn call_length_borders(&self) -> &[u64] {
        &self.cl_borders
    }
}
