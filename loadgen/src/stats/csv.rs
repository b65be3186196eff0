//! The `-trace_stat` CSV (`stat.cpp::dumpData`) and the `-trace_counts`
//! CSV (`logger.cpp::print_count_file`).

use std::fmt::Write as _;
use std::time::SystemTime;

use super::format::{diff_ms, format_g, format_time, ms_to_hhmmss, ms_to_hhmmssus};
use super::{Counters, FailReason, MsgCounts};
use crate::scenario::{ElementKind, RecvMatch, Scenario, SendWhat};

/// SIPp's generic counter column name: numeric names become
/// `GenericCounter<n>`.
pub(crate) fn generic_column(name: &str) -> String {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        format!("GenericCounter{name}")
    } else {
        name.to_string()
    }
}

fn repartition_header(out: &mut String, name: &str, borders: &[u64], d: &str) {
    if borders.is_empty() {
        return;
    }
    let _ = write!(out, "{name}{d}");
    for b in borders {
        let _ = write!(out, "{name}_<{b}{d}");
    }
    let _ = write!(out, "{name}_>={}{d}", borders[borders.len() - 1]);
}

fn sorted(v: &[u64]) -> Vec<u64> {
    let mut b = v.to_vec();
    b.sort_unstable();
    b
}

/// The stat file's header line for `scenario` (without the newline), byte
/// for byte as SIPp 3.6.1 writes it with delimiter `d`.
pub fn stat_header(scenario: &Scenario, d: &str) -> String {
    let mut s = String::with_capacity(4096);
    for name in [
        "StartTime",
        "LastResetTime",
        "CurrentTime",
        "ElapsedTime(P)",
        "ElapsedTime(C)",
        "TargetRate",
        "CallRate(P)",
        "CallRate(C)",
        "IncomingCall(P)",
        "IncomingCall(C)",
        "OutgoingCall(P)",
        "OutgoingCall(C)",
        "TotalCallCreated",
        "CurrentCall",
        "SuccessfulCall(P)",
        "SuccessfulCall(C)",
        "FailedCall(P)",
        "FailedCall(C)",
    ] {
        let _ = write!(s, "{name}{d}");
    }
    for r in FailReason::ALL {
        let _ = write!(s, "{0}(P){d}{0}(C){d}", r.column());
    }
    for name in [
        "OutOfCallMsgs",
        "DeadCallMsgs",
        "Retransmissions",
        "AutoAnswered",
        "Warnings",
        "FatalErrors",
        "WatchdogMajor",
        "WatchdogMinor",
    ] {
        let _ = write!(s, "{name}(P){d}{name}(C){d}");
    }
    for r in &scenario.rtds {
        let _ = write!(
            s,
            "ResponseTime{r}(P){d}ResponseTime{r}(C){d}ResponseTime{r}StDev(P){d}ResponseTime{r}StDev(C){d}"
        );
    }
    let _ = write!(
        s,
        "CallLength(P){d}CallLength(C){d}CallLengthStDev(P){d}CallLengthStDev(C){d}"
    );
    for g in &scenario.counters {
        let g = generic_column(g);
        let _ = write!(s, "{g}(P){d}{g}(C){d}");
    }
    let rt = sorted(&scenario.response_time_repartition);
    for r in &scenario.rtds {
        repartition_header(&mut s, &format!("ResponseTimeRepartition{r}"), &rt, d);
    }
    repartition_header(
        &mut s,
        "CallLengthRepartition",
        &sorted(&scenario.call_length_repartition),
        d,
    );
    s
}

/// What one stat row needs.
pub(crate) struct StatRow<'a> {
    pub start: SystemTime,
    pub last_reset: SystemTime,
    pub now: SystemTime,
    /// `-r` (or `-users`), already formatted.
    pub target_rate: String,
    pub cumul: &'a Counters,
    pub periodic: &'a Counters,
    pub rtd_repartition: &'a [Vec<u64>],
    pub call_length_repartition: &'a [u64],
    pub delimiter: &'a str,
}

/// SIPp's call rate: `1000 * (float)calls / (float)ms`, a C `float`.
pub(crate) fn call_rate(calls: u64, ms: u64) -> f64 {
    if ms > 0 {
        (1000.0f32 * calls as f32 / ms as f32) as f64
    } else {
        0.0
    }
}

fn repartition_info(out: &mut String, bins: &[u64], d: &str) {
    if bins.is_empty() {
        return;
    }
    out.push_str(d);
    for b in bins {
        let _ = write!(out, "{b}{d}");
    }
}

/// One stat row (without the newline).
pub(crate) fn stat_row(r: &StatRow<'_>) -> String {
    let d = r.delimiter;
    let c = r.cumul;
    let p = r.periodic;
    let global = diff_ms(r.now, r.start);
    let local = diff_ms(r.now, r.last_reset);
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "{}{d}{}{d}{}{d}{}{d}{}{d}{}{d}{}{d}{}{d}",
        format_time(r.start),
        format_time(r.last_reset),
        format_time(r.now),
        ms_to_hhmmss(local),
        ms_to_hhmmss(global),
        r.target_rate,
        format_g(call_rate(p.total_created(), local)),
        format_g(call_rate(c.total_created(), global)),
    );
    for v in [
        p.incoming_created,
        c.incoming_created,
        p.outgoing_created,
        c.outgoing_created,
        c.total_created(),
        c.current(),
        p.successful,
        c.successful,
        p.failed,
        c.failed,
    ] {
        let _ = write!(s, "{v}{d}");
    }
    for reason in FailReason::ALL {
        let _ = write!(s, "{}{d}{}{d}", p.fail(reason), c.fail(reason));
    }
    for (pv, cv) in [
        (p.out_of_call, c.out_of_call),
        (p.dead_call, c.dead_call),
        (p.retransmissions, c.retransmissions),
        (p.auto_answered, c.auto_answered),
        (p.warnings, c.warnings),
        (p.fatal_errors, c.fatal_errors),
        (p.watchdog_major, c.watchdog_major),
        (p.watchdog_minor, c.watchdog_minor),
    ] {
        let _ = write!(s, "{pv}{d}{cv}{d}");
    }
    for (i, cm) in c.rtds.iter().enumerate() {
        let pm = p.rtds.get(i).copied().unwrap_or_default();
        let _ = write!(
            s,
            "{}{d}{}{d}{}{d}{}{d}",
            ms_to_hhmmssus(pm.mean() as u64),
            ms_to_hhmmssus(cm.mean() as u64),
            ms_to_hhmmssus(pm.stdev() as u64),
            ms_to_hhmmssus(cm.stdev() as u64),
        );
    }
    let _ = write!(
        s,
        "{}{d}{}{d}{}{d}{}{d}",
        ms_to_hhmmssus(p.call_length.mean() as u64),
        ms_to_hhmmssus(c.call_length.mean() as u64),
        ms_to_hhmmssus(p.call_length.stdev() as u64),
        ms_to_hhmmssus(c.call_length.stdev() as u64),
    );
    for (i, cv) in c.generic.iter().enumerate() {
        let pv = p.generic.get(i).copied().unwrap_or(0);
        let _ = write!(s, "{pv}{d}{cv}{d}");
    }
    for bins in r.rtd_repartition {
        repartition_info(&mut s, bins, d);
    }
    repartition_info(&mut s, r.call_length_repartition, d);
    s
}

/// What the counts file and the screen show for an element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ElemView {
    /// A `<send>`: its label (method or code) and whether it retransmits.
    Send {
        label: String,
        is_response: bool,
        retrans: bool,
    },
    /// A `<recv>`: its label (code or method).
    Recv { label: String, is_response: bool },
    /// A `<pause>`/`<timewait>` with SIPp's time description.
    Pause { desc: String },
    /// A `<nop>` with its `display` text.
    Nop { display: Option<String> },
}

/// The view of each element, in scenario order (`duration_ms`: `-d`, for
/// `<pause/>` without a duration).
pub(crate) fn element_views(scenario: &Scenario, duration_ms: u64) -> Vec<ElemView> {
    use super::format::time_string;
    use crate::scenario::Pause;
    let var_name = |v: usize| scenario.variables.get(v).cloned().unwrap_or_default();
    scenario
        .elements
        .iter()
        .map(|e| match &e.kind {
            ElementKind::Send(s) => match &s.what {
                SendWhat::Request(m) => ElemView::Send {
                    label: m.clone(),
                    is_response: false,
                    retrans: s.retrans.is_some(),
                },
                SendWhat::Response(c) => ElemView::Send {
                    label: c.to_string(),
                    is_response: true,
                    retrans: s.retrans.is_some(),
                },
            },
            ElementKind::Recv(r) => match &r.matcher {
                RecvMatch::Response(c) => ElemView::Recv {
                    label: c.to_string(),
                    is_response: true,
                },
                RecvMatch::Request(m) => ElemView::Recv {
                    label: m.clone(),
                    is_response: false,
                },
                RecvMatch::RequestRegex(re) => ElemView::Recv {
                    label: re.source.clone(),
                    is_response: false,
                },
            },
            ElementKind::Pause(p) | ElementKind::Timewait(p) => {
                let desc = match p {
                    Pause::Default => time_string(duration_ms as f64),
                    Pause::Fixed(ms) => time_string(*ms as f64),
                    Pause::Variable(v) => format!("${}", var_name(*v)),
                    Pause::Uniform { min, max } => {
                        format!("{}/{}", time_string(*min as f64), time_string(*max as f64))
                    }
                    Pause::Normal { mean, stdev } => {
                        format!("N({},{})", time_string(*mean), time_string(*stdev))
                    }
                    Pause::Exponential { mean } => format!("Exp({})", time_string(*mean)),
                };
                ElemView::Pause { desc }
            }
            ElementKind::Nop => ElemView::Nop {
                display: e.common.display.clone(),
            },
        })
        .collect()
}

/// The counts file's header line (without the newline).
pub fn counts_header(scenario: &Scenario, d: &str) -> String {
    let views = element_views(scenario, 0);
    let mut s = format!("CurrentTime{d}ElapsedTime{d}");
    for (i, (v, e)) in views.iter().zip(scenario.elements.iter()).enumerate() {
        if e.common.hide {
            continue;
        }
        match v {
            ElemView::Send { label, retrans, .. } => {
                let _ = write!(s, "{i}_{label}_Sent{d}{i}_{label}_Retrans{d}");
                if *retrans {
                    let _ = write!(s, "{i}_{label}_Timeout{d}");
                }
                if scenario.lose_packets {
                    let _ = write!(s, "{i}_{label}_Lost{d}");
                }
            }
            ElemView::Recv { label, .. } => {
                let _ = write!(
                    s,
                    "{i}_{label}_Recv{d}{i}_{label}_Retrans{d}{i}_{label}_Timeout{d}{i}_{label}_Unexp{d}"
                );
                if scenario.lose_packets {
                    let _ = write!(s, "{i}_{label}_Lost{d}");
                }
            }
            // SIPp 3.6.1 tests `pause_distribution || pause_variable` and
            // `pause_variable` is -1 when unset: a `<nop>` gets the pause
            // columns too [observed].
            ElemView::Pause { .. } | ElemView::Nop { .. } => {
                let _ = write!(s, "{i}_Pause_Sessions{d}{i}_Pause_Unexp{d}");
            }
        }
    }
    s
}

/// One counts row (without the newline).
pub(crate) fn counts_row(
    scenario: &Scenario,
    views: &[ElemView],
    msgs: &[MsgCounts],
    start: SystemTime,
    now: SystemTime,
    d: &str,
) -> String {
    let mut s = format!(
        "{}{d}{}{d}",
        format_time(now),
        ms_to_hhmmssus(diff_ms(now, start))
    );
    for (i, (v, e)) in views.iter().zip(scenario.elements.iter()).enumerate() {
        if e.common.hide {
            continue;
        }
        let m = msgs.get(i).copied().unwrap_or_default();
        match v {
            ElemView::Send { retrans, .. } => {
                let _ = write!(s, "{}{d}{}{d}", m.sent, m.sent_retrans);
                if *retrans {
                    let _ = write!(s, "{}{d}", m.timeout);
                }
                if scenario.lose_packets {
                    let _ = write!(s, "{}{d}", m.lost);
                }
            }
            ElemView::Recv { .. } => {
                let _ = write!(
                    s,
                    "{}{d}{}{d}{}{d}{}{d}",
                    m.recv, m.recv_retrans, m.timeout, m.unexpected
                );
                if scenario.lose_packets {
                    let _ = write!(s, "{}{d}", m.lost);
                }
            }
            ElemView::Pause { .. } | ElemView::Nop { .. } => {
                let _ = write!(s, "{}{d}{}{d}", m.sessions, m.unexpected);
            }
        }
    }
    s
}
