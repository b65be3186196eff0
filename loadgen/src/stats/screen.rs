//! SIPp's screens (`screen.cpp`): scenario (key 1), statistics (key 2),
//! repartition (key 3 and per-RTD), with SIPp's `snprintf` widths and
//! truncation (80-byte buffers: at most 79 characters per line).
//!
//! Deliberate differences from SIPp 3.6.1:
//! - statistics screen, rows `Elapsed Time`, `Response Time <r>` and
//!   `Call Length`: SIPp passes two results of `msToHHMMSSus` (one static
//!   buffer) to one `snprintf`, so both columns show the periodic value
//!   [observed]; trunkload shows the cumulative value in the cumulative
//!   column.
//! - the RTP line of the Debian (PCAP) build is reproduced, including the
//!   repeated sockets line SIPp prints when no time passed since the last
//!   refresh; RTP counters are always 0 (no media).
//! - `Running/Paused/Woken up`, open sockets and the scheduler resolution
//!   come from the runtime ([`super::ScreenInfo`]).

use std::time::SystemTime;

use super::csv::{ElemView, call_rate};
use super::format::{diff_ms, format_time, ms_to_hhmmssus};
use super::{Counters, Stats};
use crate::scenario::{Mode, Scenario};

/// `snprintf(buf, n, ...)`: at most `n - 1` bytes.
fn trunc(mut s: String, n: usize) -> String {
    if s.len() >= n {
        let mut cut = n - 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `%-W.Ps`.
fn lp(s: &str, w: usize, p: usize) -> String {
    let s: String = s.chars().take(p).collect();
    format!("{s:<w$}")
}

/// The footer under a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Footer {
    /// `Test Terminated` (the final screens on stdout).
    Terminated,
    /// `Waiting for active calls to end` (quitting).
    Quitting,
    /// `Traffic Paused`.
    Paused,
    /// The normal running footer (client or server).
    Running,
}

/// Everything a screen needs besides the statistics.
pub(crate) struct ScreenCtx<'a> {
    pub scenario: &'a Scenario,
    pub views: &'a [ElemView],
    pub info: &'a super::ScreenInfo,
    /// `-d`, ms.
    pub duration_ms: u64,
    /// `-rp`, ms.
    pub rate_period_ms: u64,
    /// `-m`.
    pub max_calls: Option<u64>,
    pub start: SystemTime,
    /// Last screen refresh (PD reset).
    pub last_refresh: SystemTime,
    pub now: SystemTime,
    /// Peak of current calls and when (s since start).
    pub peak: (u64, u64),
    /// The last error text (without its time).
    pub last_error: Option<&'a str>,
}

fn footer_line(ctx: &ScreenCtx<'_>, footer: Footer, lines: &mut Vec<String>) {
    if footer != Footer::Terminated {
        if let Some(e) = ctx.last_error {
            let e = e.trim_start();
            let l = if e.len() > 60 {
                let mut cut = 60;
                while !e.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("Last Error: {}...", &e[..cut])
            } else {
                format!("Last Error: {e}")
            };
            lines.push(trunc(l, 80));
        }
    }
    lines.push(
        match footer {
            Footer::Terminated => {
                "------------------------------ Test Terminated --------------------------------"
            }
            Footer::Quitting => {
                "------- Waiting for active calls to end. Press [q] again to force exit. -------"
            }
            Footer::Paused => {
                "----------------- Traffic Paused - Press [p] again to resume ------------------"
            }
            Footer::Running => match ctx.scenario.mode {
                Mode::Client => {
                    "------ [+|-|*|/]: Adjust rate ---- [q]: Soft exit ---- [p]: Pause traffic -----"
                }
                Mode::Server => {
                    "------------------------------ SIPp Server Mode -------------------------------"
                }
            },
        }
        .to_string(),
    );
}

/// Scenario screen (key 1), with its footer.
pub(crate) fn scenario_screen(
    ctx: &ScreenCtx<'_>,
    stats: &Stats,
    pd: &Counters,
    footer: Footer,
) -> Vec<String> {
    let info = ctx.info;
    let c = &stats.counters;
    let mut lines = vec![
        "------------------------------ Scenario Screen -------- [1-9]: Change Screen --"
            .to_string(),
    ];
    let total = c.total_created();
    let clock = diff_ms(ctx.now, ctx.start);
    let (secs, centis) = (clock / 1000, (clock % 1000) / 10);
    let server = ctx.scenario.mode == Mode::Server;
    if server {
        lines.push("  Port   Total-time  Total-calls  Transport".to_string());
        lines.push(trunc(
            format!(
                "  {:<5} {:>6}.{:02} s     {:>8}  {}",
                info.local_port, secs, centis, total, info.transport
            ),
            80,
        ));
    } else if let Some(users) = info.users {
        lines.push("  Users (length)   Port   Total-time  Total-calls  Remote-host".to_string());
        lines.push(trunc(
            format!(
                "  {} ({} ms)   {:<5} {:>6}.{:02} s     {:>8}  {}({})",
                users,
                ctx.duration_ms,
                info.local_port,
                secs,
                centis,
                total,
                info.remote,
                info.transport
            ),
            80,
        ));
    } else {
        lines
            .push("  Call rate (length)   Port   Total-time  Total-calls  Remote-host".to_string());
        lines.push(trunc(
            format!(
                "  {:3.1}({} ms)/{:5.3}s   {:<5} {:>6}.{:02} s     {:>8}  {}({})",
                info.rate,
                ctx.duration_ms,
                ctx.rate_period_ms as f64 / 1000.0,
                info.local_port,
                secs,
                centis,
                total,
                info.remote,
                info.transport
            ),
            80,
        ));
    }
    lines.push(String::new());
    let since = diff_ms(ctx.now, ctx.last_refresh);
    let stop_after = ctx.max_calls.unwrap_or(0xffff_ffff);
    let left = if total < stop_after {
        format!(
            "{} new calls during {}.{:03} s period",
            pd.total_created(),
            since / 1000,
            since % 1000
        )
    } else {
        format!(
            "Call limit {} hit, {:.1} s period ",
            stop_after,
            since as f64 / 100.0
        )
    };
    let right = format!("{} ms scheduler resolution", info.scheduler_resolution_ms);
    lines.push(trunc(
        format!("  {:<38}  {:<37}", trunc(left, 40), trunc(right, 40)),
        80,
    ));
    let left = if server {
        format!("{} calls", c.current())
    } else {
        format!("{} calls (limit {})", c.current(), info.call_limit)
    };
    lines.push(trunc(
        format!(
            "  {:<38}  Peak was {} calls, after {} s",
            trunc(left, 40),
            ctx.peak.0,
            ctx.peak.1
        ),
        80,
    ));
    lines.push(trunc(
        format!(
            "  {} Running, {} Paused, {} Woken up",
            info.running, info.paused, info.woken
        ),
        80,
    ));
    let left = trunc(format!("{} dead call msg (discarded)", c.dead_call), 40);
    if server {
        lines.push(trunc(format!("  {left:<38}"), 80));
    } else {
        lines.push(trunc(
            format!(
                "  {left:<38}  {} out-of-call msg (discarded)",
                c.out_of_call
            ),
            80,
        ));
    }
    let left = trunc(format!("{} open sockets", info.open_sockets), 40);
    lines.push(trunc(
        format!(
            "  {left:<38}  {}/{}/{} {} errors (send/recv/cong)",
            c.udp_send_errors, c.udp_recv_errors, 0, info.transport
        ),
        80,
    ));
    // SIPp 3.6.1 built with PCAP play (the Debian binary) prints an RTP
    // line here; with no time since the last refresh it reuses the
    // previous buffer, which duplicates the sockets line.
    if since > 0 {
        let left = "0 Total RTP pckts sent ";
        lines.push(trunc(
            format!("  {left:<38}  0.000 last period RTP rate (kB/s)"),
            80,
        ));
    } else {
        let dup = lines.last().cloned().unwrap_or_default();
        lines.push(dup);
    }
    lines.push(String::new());
    let lose = ctx.scenario.lose_packets;
    lines.push(if lose {
        "                                 Messages  Retrans   Timeout   Unexp.    Lost".to_string()
    } else {
        "                                 Messages  Retrans   Timeout   Unexpected-Msg".to_string()
    });
    // The Lost column: the count once there is one (SIPp leaves it blank
    // at zero).
    let lost = |m: &crate::stats::MsgCounts| {
        if lose && m.lost > 0 {
            m.lost.to_string()
        } else {
            String::new()
        }
    };
    for (i, (view, e)) in ctx
        .views
        .iter()
        .zip(ctx.scenario.elements.iter())
        .enumerate()
    {
        if e.common.hide {
            continue;
        }
        let m = stats.msgs.get(i).copied().unwrap_or_default();
        let rtd = if let Some(r) = e.common.start_rtd {
            format!(" B-RTD{} ", r + 1)
        } else if let Some(r) = e.common.rtd {
            format!(" E-RTD{} ", r + 1)
        } else {
            "        ".to_string()
        };
        let line = match view {
            ElemView::Send {
                label,
                is_response: _,
                retrans,
            } => {
                let head = if server {
                    format!("  <---------- {label:<10} ")
                } else {
                    format!("  {label:>10} ----------> ")
                };
                let tail = if *retrans {
                    format!(
                        "{:<9} {:<9} {:<9} {:<9} {:<9}",
                        m.sent,
                        m.sent_retrans,
                        m.timeout,
                        "",
                        lost(&m)
                    )
                } else {
                    format!(
                        "{:<9} {:<9} {:<9} {:<9} {:<9}",
                        m.sent,
                        m.sent_retrans,
                        "",
                        "",
                        lost(&m)
                    )
                };
                format!("{head}{rtd}{tail}")
            }
            ElemView::Recv { label, .. } => {
                let head = if server {
                    format!("  ----------> {label:<10} ")
                } else {
                    format!("  {label:>10} <---------- ")
                };
                format!(
                    "{head}{rtd}{:<9} {:<9} {:<9} {:<9} {:<9}",
                    m.recv,
                    m.recv_retrans,
                    m.timeout,
                    m.unexpected,
                    lost(&m)
                )
            }
            ElemView::Pause { desc } => {
                let len = desc.len().max(9);
                let left = if server {
                    format!(
                        "  [{desc:>9}] Pause{}",
                        " ".repeat(23usize.saturating_sub(len))
                    )
                } else {
                    format!(
                        "       Pause [{desc:>9}]{}",
                        " ".repeat(18usize.saturating_sub(len))
                    )
                };
                format!(
                    "{}{:<9}                     {:<9}",
                    trunc(left, 40),
                    m.sessions,
                    m.unexpected
                )
            }
            ElemView::Nop { display } => match display {
                Some(d) => format!(" {d}"),
                None => "              [ NOP ]              ".to_string(),
            },
        };
        lines.push(trunc(line, 80));
        if e.common.crlf {
            lines.push(String::new());
        }
    }
    footer_line(ctx, footer, &mut lines);
    lines
}

fn cross(lines: &mut Vec<String>) {
    lines.push(
        "-------------------------+---------------------------+--------------------------"
            .to_string(),
    );
}

fn txt(lines: &mut Vec<String>, t: &str, v: &str) {
    lines.push(format!("  {} | {} ", lp(t, 22, 22), lp(v, 52, 52)));
}

fn txt_col(lines: &mut Vec<String>, t: &str, v1: &str, v2: &str) {
    lines.push(format!(
        "  {} | {} | {} ",
        lp(t, 22, 22),
        lp(v1, 25, 25),
        lp(v2, 24, 24)
    ));
}

fn two(lines: &mut Vec<String>, t: &str, v1: u64, v2: u64) {
    lines.push(format!(
        "  {} | {:>8}                  | {:>8}                 ",
        lp(t, 22, 22),
        v1,
        v2
    ));
}

/// Statistics screen (key 2), with its footer.
pub(crate) fn stats_screen(
    ctx: &ScreenCtx<'_>,
    stats: &Stats,
    pd: &Counters,
    footer: Footer,
) -> Vec<String> {
    let c = &stats.counters;
    let mut lines = vec![
        "----------------------------- Statistics Screen ------- [1-9]: Change Screen --"
            .to_string(),
    ];
    let global = diff_ms(ctx.now, ctx.start);
    let local = diff_ms(ctx.now, ctx.last_refresh);
    txt(&mut lines, "Start Time  ", &format_time(ctx.start));
    txt(
        &mut lines,
        "Last Reset Time",
        &format_time(ctx.last_refresh),
    );
    txt(&mut lines, "Current Time", &format_time(ctx.now));
    cross(&mut lines);
    lines.push(
        "  Counter Name           | Periodic value            | Cumulative value".to_string(),
    );
    cross(&mut lines);
    txt_col(
        &mut lines,
        "Elapsed Time",
        &ms_to_hhmmssus(local),
        &ms_to_hhmmssus(global),
    );
    lines.push(format!(
        "  {} | {:8.3} cps              | {:8.3} cps             ",
        lp("Call Rate", 22, 22),
        call_rate(pd.total_created(), local),
        call_rate(c.total_created(), global)
    ));
    cross(&mut lines);
    two(
        &mut lines,
        "Incoming calls created",
        pd.incoming_created,
        c.incoming_created,
    );
    two(
        &mut lines,
        "Outgoing calls created",
        pd.outgoing_created,
        c.outgoing_created,
    );
    lines.push(format!(
        "  {} |                           | {:>8}                 ",
        lp("Total Calls created", 22, 22),
        c.total_created()
    ));
    lines.push(format!(
        "  {} | {:>8}                  |                          ",
        lp("Current Calls", 22, 22),
        c.current()
    ));
    if !ctx.scenario.counters.is_empty() {
        cross(&mut lines);
    }
    for (i, name) in ctx.scenario.counters.iter().enumerate() {
        two(
            &mut lines,
            &format!("Counter {name}"),
            pd.generic.get(i).copied().unwrap_or(0),
            c.generic.get(i).copied().unwrap_or(0),
        );
    }
    cross(&mut lines);
    two(&mut lines, "Successful call", pd.successful, c.successful);
    two(&mut lines, "Failed call", pd.failed, c.failed);
    cross(&mut lines);
    for (i, name) in ctx.scenario.rtds.iter().enumerate() {
        let p = pd.rtds.get(i).copied().unwrap_or_default();
        let cm = c.rtds.get(i).copied().unwrap_or_default();
        txt_col(
            &mut lines,
            &format!("Response Time {name}"),
            &ms_to_hhmmssus(p.mean() as u64),
            &ms_to_hhmmssus(cm.mean() as u64),
        );
    }
    txt_col(
        &mut lines,
        "Call Length",
        &ms_to_hhmmssus(pd.call_length.mean() as u64),
        &ms_to_hhmmssus(c.call_length.mean() as u64),
    );
    footer_line(ctx, footer, &mut lines);
    lines
}

fn info_line(lines: &mut Vec<String>, t: &str) {
    lines.push(trunc(format!("  {}", lp(t, 77, 77)), 80));
}

fn repartition_detail(lines: &mut Vec<String>, borders: &[u64], bins: &[u64]) {
    if borders.is_empty() || bins.len() != borders.len() + 1 {
        info_line(lines, "  <No repartion defined>");
        return;
    }
    for i in 0..borders.len() {
        let lo = if i == 0 { 0 } else { borders[i - 1] };
        lines.push(trunc(
            format!(
                "    {:>10} ms <= n < {:>10} ms : {:>10}",
                lo, borders[i], bins[i]
            ),
            80,
        ));
    }
    lines.push(trunc(
        format!(
            "    {:>14} n >= {:>10} ms : {:>10}",
            "",
            borders[borders.len() - 1],
            bins[borders.len()]
        ),
        80,
    ));
}

/// Repartition screen for RTD `which` (1-based; key 3 is `which == 1`,
/// which also shows the call-length repartition).
pub(crate) fn repartition_screen(
    ctx: &ScreenCtx<'_>,
    stats: &Stats,
    rtd_bins: &[Vec<u64>],
    cl_bins: &[u64],
    which: usize,
    footer: Footer,
) -> Vec<String> {
    let mut lines = vec![if which == 1 {
        "---------------------------- Repartition Screen ------- [1-9]: Change Screen --"
            .to_string()
    } else {
        format!(
            "--------------------------- Repartition {which} Screen ------ [1-9]: Change Screen --"
        )
    }];
    if which > ctx.scenario.rtds.len() {
        info_line(&mut lines, "  <No repartion defined>");
    } else {
        info_line(
            &mut lines,
            &format!(
                "Average Response Time Repartition {}",
                ctx.scenario.rtds[which - 1]
            ),
        );
        repartition_detail(
            &mut lines,
            stats.response_time_borders(),
            rtd_bins.get(which - 1).map(|v| v.as_slice()).unwrap_or(&[]),
        );
        if which == 1 {
            info_line(&mut lines, "Average Call Length Repartition");
            repartition_detail(&mut lines, stats.call_length_borders(), cl_bins);
        }
    }
    footer_line(ctx, footer, &mut lines);
    lines
}
