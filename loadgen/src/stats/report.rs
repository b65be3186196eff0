//! The [`Reporter`]: SIPp's output files and screens from merged
//! [`Stats`], plus the message-log formats and trunkload's JSON report.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::csv::{
    ElemView, StatRow, call_rate, counts_header, counts_row, element_views, stat_header, stat_row,
};
use super::format::{diff_ms, format_g, format_time, format_time_short};
use super::screen::{Footer, ScreenCtx, repartition_screen, scenario_screen, stats_screen};
use super::{Counters, FailReason, Moments, Percentiles, Stats};
use crate::options::{LogFile, Options};
use crate::scenario::{Mode, Scenario};

/// What the screens show that only the runtime knows. Defaults come from
/// the options; the runtime updates it with [`Reporter::set_screen_info`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScreenInfo {
    /// The local SIP port.
    pub local_port: u16,
    /// `remote_ip:remote_port` as shown (`127.0.0.1:5060`).
    pub remote: String,
    /// `UDP`.
    pub transport: String,
    /// The current rate (`-r`, changed by keys).
    pub rate: f64,
    /// `-users`, when in users mode.
    pub users: Option<u32>,
    /// The open-call limit (`-l` or SIPp's computed default; `from_options`
    /// only knows `-l`/`-users`, [`Reporter::new`] computes the default).
    pub call_limit: u64,
    /// Calls run in the last period.
    pub running: u64,
    /// Calls waiting on a timer.
    pub paused: u64,
    /// Calls woken in the last period.
    pub woken: u64,
    /// Open sockets.
    pub open_sockets: u64,
    /// The screen's "ms scheduler resolution".
    pub scheduler_resolution_ms: u64,
    /// `q` was pressed (or `-m` reached): "Waiting for active calls".
    pub quitting: bool,
    /// `p` was pressed.
    pub traffic_paused: bool,
}

impl ScreenInfo {
    /// Defaults from the options.
    pub fn from_options(opts: &Options) -> ScreenInfo {
        ScreenInfo {
            local_port: opts.local_port.unwrap_or(0),
            remote: opts.remote_display(),
            transport: opts.transport.as_str().to_string(),
            rate: opts.rate,
            users: opts.users,
            call_limit: opts.limit.map(u64::from).unwrap_or(0),
            running: 0,
            paused: 0,
            woken: 0,
            open_sockets: 0,
            scheduler_resolution_ms: 0,
            quitting: false,
            traffic_paused: false,
        }
    }
}

/// A log file opened lazily on first write (SIPp creates the error log
/// only when there is an error).
#[derive(Debug)]
struct Lazy {
    path: String,
    overwrite: bool,
    /// Flush after every write (SIPp does for every log); off for the
    /// per-message logs, which are flushed by every tick instead (one
    /// `write` per second instead of one per message).
    flush_each: bool,
    file: Option<BufWriter<File>>,
}

impl Lazy {
    fn new(path: String, overwrite: bool) -> Lazy {
        Lazy {
            path,
            overwrite,
            flush_each: true,
            file: None,
        }
    }

    fn open(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let f = if self.overwrite {
                File::create(&self.path)?
            } else {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?
            };
            self.file = Some(BufWriter::new(f));
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    fn write(&mut self, s: &str) -> io::Result<()> {
        let flush = self.flush_each;
        let f = self.open()?;
        f.write_all(s.as_bytes())?;
        if flush { f.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

fn log_name(lf: &LogFile, stem: &str, pid: u32, kind: &str) -> (String, bool) {
    match &lf.name {
        Some(n) => (n.clone(), lf.overwrite),
        None => (format!("{stem}_{pid}_{kind}.log"), lf.overwrite),
    }
}

/// Opens SIPp's output files and produces its rows and screens.
#[derive(Debug)]
pub struct Reporter {
    scenario: Scenario,
    views: Vec<ElemView>,
    info: ScreenInfo,
    delimiter: String,
    duration_ms: u64,
    rate_period_ms: u64,
    max_calls: Option<u64>,
    report_freq_ms: u64,
    dump_freq_ms: u64,
    rtt_freq: usize,
    periodic_rtd: bool,
    pid: u32,
    stem: String,
    trace_screen: bool,
    start: SystemTime,
    stat: Option<BufWriter<File>>,
    counts: Option<BufWriter<File>>,
    rtt: Option<BufWriter<File>>,
    rtt_buffer: Vec<String>,
    screen_log: Option<Lazy>,
    messages: Option<Lazy>,
    short_messages: Option<Lazy>,
    errors: Option<Lazy>,
    logs: Option<Lazy>,
    /// PD baseline (screen refresh) and when it was taken.
    pd_base: Counters,
    pd_start: SystemTime,
    /// PL baseline (stat dump) and when it was taken.
    pl_base: Counters,
    pl_start: SystemTime,
    /// Repartition bins at the last dump (`-periodic_rtd`).
    pl_rtd_bins: Vec<Vec<u64>>,
    pl_cl_bins: Vec<u64>,
    /// The peak of calls in progress and when (s), from the statistics.
    peak: (u64, u64),
    last_error: Option<String>,
    finished: bool,
}

fn sub_bins(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter()
        .enumerate()
        .map(|(i, x)| x.saturating_sub(b.get(i).copied().unwrap_or(0)))
        .collect()
}

fn create(path: &str) -> io::Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| io::Error::new(e.kind(), format!("Unable to create '{path}': {e}")))
}

impl Reporter {
    /// Opens the files the options ask for (compat §5.1):
    /// `<stem>_<pid>_.csv` (or `-stf`), `_rtt.csv`, `_counts.csv`, and the
    /// logs `_messages.log`, `_shortmessages.log`, `_screen.log`,
    /// `_logs.log` (or their `-xxx_file` names). The error log is created
    /// on the first error, as SIPp does. The stat and counts files get
    /// their header and SIPp's start-up row at `start`.
    pub fn new(
        opts: &Options,
        scenario: &Scenario,
        pid: u32,
        start: SystemTime,
    ) -> Result<Reporter, io::Error> {
        let stem = if scenario.file_stem.is_empty() {
            opts.scenario.file_stem()
        } else {
            scenario.file_stem.clone()
        };
        let d = opts.stat_delimiter.clone();
        let lazy = |on: bool, lf: &LogFile, kind: &str| {
            on.then(|| {
                let (p, o) = log_name(lf, &stem, pid, kind);
                Lazy::new(p, o)
            })
        };
        let mut r = Reporter {
            scenario: scenario.clone(),
            views: element_views(scenario, opts.duration_ms),
            info: ScreenInfo {
                call_limit: opts.open_calls_allowed(scenario),
                ..ScreenInfo::from_options(opts)
            },
            delimiter: d.clone(),
            duration_ms: opts.duration_ms,
            rate_period_ms: opts.rate_period_ms,
            max_calls: opts.max_calls,
            report_freq_ms: opts.report_freq_ms,
            dump_freq_ms: opts.dump_freq_ms,
            rtt_freq: opts.rtt_freq.max(1) as usize,
            periodic_rtd: opts.periodic_rtd,
            pid,
            stem: stem.clone(),
            trace_screen: opts.trace_screen,
            start,
            stat: None,
            counts: None,
            rtt: None,
            rtt_buffer: Vec::new(),
            screen_log: lazy(opts.trace_screen, &opts.screen_file, "screen"),
            messages: lazy(opts.trace_msg, &opts.message_file, "messages"),
            short_messages: lazy(
                opts.trace_shortmsg,
                &opts.shortmessage_file,
                "shortmessages",
            ),
            errors: lazy(opts.trace_err, &opts.error_file, "errors"),
            logs: lazy(opts.trace_logs, &opts.log_file, "logs"),
            pd_base: Counters::default(),
            pd_start: start,
            pl_base: Counters::default(),
            pl_start: start,
            pl_rtd_bins: Vec::new(),
            pl_cl_bins: Vec::new(),
            peak: (0, 0),
            last_error: None,
            finished: false,
        };
        // SIPp opens these at start-up; the `<log>` file only with `-sf`
        // (3.6.1 opens it while loading an `-sf` scenario), else on first
        // use. The error log waits for the first error.
        for l in [&mut r.messages, &mut r.short_messages]
            .into_iter()
            .flatten()
        {
            l.flush_each = false;
        }
        for l in [&mut r.messages, &mut r.short_messages, &mut r.screen_log]
            .into_iter()
            .flatten()
        {
            l.open()?;
        }
        if matches!(opts.scenario, crate::options::ScenarioSource::File(_)) {
            if let Some(l) = r.logs.as_mut() {
                l.open()?;
            }
        }
        if opts.trace_stat {
            let path = opts
                .stat_file
                .clone()
                .unwrap_or_else(|| format!("{stem}_{pid}_.csv"));
            let mut f = create(&path)?;
            writeln!(f, "{}", stat_header(scenario, &d))?;
            f.flush()?;
            r.stat = Some(f);
        }
        if opts.trace_counts {
            let mut f = create(&format!("{stem}_{pid}_counts.csv"))?;
            writeln!(f, "{}", counts_header(scenario, &d))?;
            f.flush()?;
            r.counts = Some(f);
        }
        if opts.trace_rtt {
            let mut f = create(&format!("{stem}_{pid}_rtt.csv"))?;
            writeln!(f, "Date_ms{d}response_time_ms{d}rtd_no")?;
            f.flush()?;
            r.rtt = Some(f);
        }
        let empty = Stats::new(scenario);
        r.pl_rtd_bins = empty.rtd_repartition.clone();
        r.pl_cl_bins = empty.call_length_repartition.clone();
        // SIPp's stattask reports once at start-up.
        r.dump(&empty, start)?;
        Ok(r)
    }

    /// The runtime's view for the screens (port, remote, limit, rate,
    /// running/paused counts, quitting, ...).
    pub fn set_screen_info(&mut self, info: ScreenInfo) {
        self.info = info;
    }

    /// The current screen info (to update a field).
    pub fn screen_info(&self) -> &ScreenInfo {
        &self.info
    }

    /// The output file stem's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn periodic(&self, stats: &Stats, base: &Counters) -> Counters {
        stats.counters.since(base)
    }

    /// The peak of calls in progress, as the runtime tracked it.
    fn observe_peak(&mut self, stats: &Stats) {
        let p = stats.counters.peak;
        self.peak = (p.calls, p.after_s);
    }

    /// One stat row and one counts row, then the PL reset (SIPp's
    /// `stattask::report`).
    fn dump(&mut self, stats: &Stats, now: SystemTime) -> io::Result<()> {
        let pl = self.periodic(stats, &self.pl_base);
        let (rtd_bins, cl_bins) = if self.periodic_rtd {
            (
                stats
                    .rtd_repartition
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        sub_bins(
                            b,
                            self.pl_rtd_bins.get(i).map(|v| v.as_slice()).unwrap_or(&[]),
                        )
                    })
                    .collect(),
                sub_bins(&stats.call_length_repartition, &self.pl_cl_bins),
            )
        } else {
            (
                stats.rtd_repartition.clone(),
                stats.call_length_repartition.clone(),
            )
        };
        if let Some(f) = self.stat.as_mut() {
            let target = match self.info.users {
                Some(u) => u.to_string(),
                None => format_g(self.info.rate),
            };
            let row = stat_row(&StatRow {
                start: self.start,
                last_reset: self.pl_start,
                now,
                target_rate: target,
                cumul: &stats.counters,
                periodic: &pl,
                rtd_repartition: &rtd_bins,
                call_length_repartition: &cl_bins,
                delimiter: &self.delimiter,
            });
            writeln!(f, "{row}")?;
            f.flush()?;
        }
        if let Some(f) = self.counts.as_mut() {
            let row = counts_row(
                &self.scenario,
                &self.views,
                &stats.msgs,
                self.start,
                now,
                &self.delimiter,
            );
            writeln!(f, "{row}")?;
            f.flush()?;
        }
        self.pl_base = stats.counters.clone();
        self.pl_start = now;
        if self.periodic_rtd {
            self.pl_rtd_bins = stats.rtd_repartition.clone();
            self.pl_cl_bins = stats.call_length_repartition.clone();
        }
        Ok(())
    }

    fn take_rtt(&mut self, stats: &Stats) {
        if self.rtt.is_none() {
            return;
        }
        let d = &self.delimiter;
        for s in &stats.rtt_samples {
            let date_ms =
                s.at.duration_since(self.start)
                    .map(|x| x.as_micros() as f64 / 1000.0)
                    .unwrap_or(0.0);
            let rtt_ms = s.rtt.as_micros() as f64 / 1000.0;
            let name = self
                .scenario
                .rtds
                .get(s.rtd)
                .cloned()
                .unwrap_or_else(|| (s.rtd + 1).to_string());
            self.rtt_buffer.push(format!(
                "{}{d}{}{d}{name}",
                format_g(date_ms),
                format_g(rtt_ms)
            ));
        }
    }

    fn flush_rtt(&mut self, all: bool) -> io::Result<()> {
        let Some(f) = self.rtt.as_mut() else {
            return Ok(());
        };
        while self.rtt_buffer.len() >= self.rtt_freq || (all && !self.rtt_buffer.is_empty()) {
            let n = self.rtt_freq.min(self.rtt_buffer.len());
            for line in self.rtt_buffer.drain(..n) {
                writeln!(f, "{line}")?;
            }
        }
        f.flush()
    }

    fn ctx<'a>(&'a self, now: SystemTime) -> ScreenCtx<'a> {
        ScreenCtx {
            scenario: &self.scenario,
            views: &self.views,
            info: &self.info,
            duration_ms: self.duration_ms,
            rate_period_ms: self.rate_period_ms,
            max_calls: self.max_calls,
            start: self.start,
            last_refresh: self.pd_start,
            now,
            peak: self.peak,
            last_error: self.last_error.as_deref(),
        }
    }

    fn running_footer(&self) -> Footer {
        if self.info.quitting {
            Footer::Quitting
        } else if self.info.traffic_paused {
            Footer::Paused
        } else {
            Footer::Running
        }
    }

    /// The scenario screen (key 1) as it would be shown now.
    pub fn scenario_screen(&self, stats: &Stats, now: SystemTime) -> String {
        let pd = self.periodic(stats, &self.pd_base);
        join(scenario_screen(
            &self.ctx(now),
            stats,
            &pd,
            self.running_footer(),
        ))
    }

    /// The statistics screen (key 2) as it would be shown now.
    pub fn stats_screen(&self, stats: &Stats, now: SystemTime) -> String {
        let pd = self.periodic(stats, &self.pd_base);
        join(stats_screen(
            &self.ctx(now),
            stats,
            &pd,
            self.running_footer(),
        ))
    }

    /// The repartition screen of RTD `which` (1-based; 1 is key 3).
    pub fn repartition_screen(&self, stats: &Stats, now: SystemTime, which: usize) -> String {
        join(repartition_screen(
            &self.ctx(now),
            stats,
            &stats.rtd_repartition,
            &stats.call_length_repartition,
            which,
            self.running_footer(),
        ))
    }

    /// All screens as SIPp's `print_screens` writes them to the screen
    /// log (scenario, statistics, repartition, then RTDs 2..n).
    pub fn all_screens(&self, stats: &Stats, now: SystemTime) -> String {
        let mut s = self.scenario_screen(stats, now);
        s.push_str(&self.stats_screen(stats, now));
        s.push_str(&self.repartition_screen(stats, now, 1));
        for which in 2..=self.scenario.rtds.len() {
            s.push_str(&self.repartition_screen(stats, now, which));
        }
        s
    }

    /// Called about every second with the merged totals: writes a stat
    /// and counts row every `-fd`, RTT rows by `-rtt_freq`, and returns
    /// the scenario screen when it is due (every `-f`; then the periodic
    /// screen counters restart). A period is due when at most a tenth of
    /// it (100 ms at most) remains, so ticks slightly early still count.
    ///
    /// `stats.rtt_samples` are consumed here and by [`Reporter::finish`]:
    /// give each snapshot's samples to the reporter once.
    pub fn tick(&mut self, stats: &Stats, now: SystemTime) -> io::Result<Option<String>> {
        self.flush_logs()?;
        self.observe_peak(stats);
        self.take_rtt(stats);
        self.flush_rtt(false)?;
        if due(diff_ms(now, self.pl_start), self.dump_freq_ms) {
            self.dump(stats, now)?;
        }
        if self.report_freq_ms > 0 && due(diff_ms(now, self.pd_start), self.report_freq_ms) {
            let screen = self.scenario_screen(stats, now);
            self.pd_base = stats.counters.clone();
            self.pd_start = now;
            return Ok(Some(screen));
        }
        Ok(None)
    }

    /// The end of the run, in SIPp's order: the last screen refresh, a
    /// stat/counts row, the screen log (`-trace_screen`), the closing
    /// screens, and a final stat/counts row. Buffered RTT samples are
    /// written (SIPp 3.7 behaviour). Returns the text for stdout: the
    /// scenario and statistics screens ("Test Terminated") followed by
    /// trunkload's latency percentiles.
    pub fn finish(&mut self, stats: &Stats, now: SystemTime) -> io::Result<String> {
        self.observe_peak(stats);
        self.take_rtt(stats);
        self.flush_rtt(true)?;
        // screentask::report(true): refresh, PD reset.
        self.pd_base = stats.counters.clone();
        self.pd_start = now;
        self.dump(stats, now)?;
        if self.trace_screen {
            let mut info = self.info.clone();
            info.quitting = true;
            let saved = std::mem::replace(&mut self.info, info);
            let text = self.all_screens(stats, now);
            self.info = saved;
            if let Some(l) = self.screen_log.as_mut() {
                l.write(&text)?;
            }
        }
        let pd = self.periodic(stats, &self.pd_base);
        let ctx = self.ctx(now);
        let mut out = join(scenario_screen(&ctx, stats, &pd, Footer::Terminated));
        out.push_str(&join(stats_screen(&ctx, stats, &pd, Footer::Terminated)));
        out.push_str(&self.latency_block(stats));
        self.dump(stats, now)?;
        self.flush_logs()?;
        self.finished = true;
        Ok(out)
    }

    /// Flushes the message logs (also done by every tick and at the end).
    pub fn flush_logs(&mut self) -> io::Result<()> {
        for l in [
            &mut self.messages,
            &mut self.short_messages,
            &mut self.errors,
            &mut self.logs,
            &mut self.screen_log,
        ]
        .into_iter()
        .flatten()
        {
            l.flush()?;
        }
        Ok(())
    }

    /// SIGUSR2 (SIPp's `signalDump`): appends all screens to the screen
    /// log — `<stem>_<pid>_screen.log` (or `-screen_file`), created now if
    /// `-trace_screen` is off — and writes the `-trace_rtt` samples taken
    /// by earlier ticks. (`stats`' own RTT samples are left to `tick`.)
    pub fn signal_dump(&mut self, stats: &Stats, now: SystemTime) -> io::Result<()> {
        self.flush_rtt(true)?;
        let text = self.all_screens(stats, now);
        let path = format!("{}_{}_screen.log", self.stem, self.pid);
        self.screen_log
            .get_or_insert_with(|| Lazy::new(path, true))
            .write(&text)
    }

    /// trunkload's latency block: HdrHistogram percentiles per RTD and of
    /// the call length, in ms with µs precision.
    pub fn latency_block(&self, stats: &Stats) -> String {
        let mut s = String::from(
            "------------------------ trunkload latency (HdrHistogram) -----------------------\n",
        );
        s.push_str(&format!(
            "  {:<24} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            "", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        ));
        let row = |name: &str, p: Percentiles| {
            format!(
                "  {:<24} {:>9} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}\n",
                name,
                p.count,
                p.p50 as f64 / 1000.0,
                p.p90 as f64 / 1000.0,
                p.p99 as f64 / 1000.0,
                p.p999 as f64 / 1000.0,
                p.max as f64 / 1000.0
            )
        };
        for (i, name) in self.scenario.rtds.iter().enumerate() {
            s.push_str(&row(
                &format!("Response Time {name}"),
                stats.rtd_percentiles(i),
            ));
        }
        s.push_str(&row("Call Length", stats.call_length_percentiles()));
        s
    }

    /// The `--json` final report.
    pub fn json(&self, stats: &Stats, now: SystemTime) -> Value {
        let c = &stats.counters;
        let elapsed = diff_ms(now, self.start);
        let pct = |p: Percentiles| {
            json!({
                "count": p.count,
                "min_us": p.min, "p50_us": p.p50, "p90_us": p.p90,
                "p99_us": p.p99, "p999_us": p.p999, "max_us": p.max,
            })
        };
        let moments = |m: &Moments| json!({ "mean_ms": m.mean(), "stdev_ms": m.stdev() });
        let failures: serde_json::Map<String, Value> = FailReason::ALL
            .iter()
            .map(|r| (r.column().to_string(), json!(c.fail(*r))))
            .collect();
        let rtds: Vec<Value> = self
            .scenario
            .rtds
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut v = pct(stats.rtd_percentiles(i));
                let m = c.rtds.get(i).copied().unwrap_or_default();
                v["name"] = json!(name);
                v["sipp"] = moments(&m);
                v["repartition"] = json!(stats.rtd_repartition.get(i).cloned().unwrap_or_default());
                v
            })
            .collect();
        let mut cl = pct(stats.call_length_percentiles());
        cl["sipp"] = moments(&c.call_length);
        cl["repartition"] = json!(stats.call_length_repartition);
        let generic: serde_json::Map<String, Value> = self
            .scenario
            .counters
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), json!(c.generic.get(i).copied().unwrap_or(0))))
            .collect();
        let messages: Vec<Value> = self
            .views
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let m = stats.msgs.get(i).copied().unwrap_or_default();
                let (kind, label) = match v {
                    ElemView::Send { label, .. } => ("send", label.clone()),
                    ElemView::Recv { label, .. } => ("recv", label.clone()),
                    ElemView::Pause { desc } => ("pause", desc.clone()),
                    ElemView::Nop { .. } => ("nop", String::new()),
                };
                json!({
                    "index": i, "kind": kind, "label": label,
                    "sent": m.sent, "sent_retrans": m.sent_retrans,
                    "recv": m.recv, "recv_retrans": m.recv_retrans,
                    "timeout": m.timeout, "unexpected": m.unexpected, "lost": m.lost,
                    "sessions": m.sessions,
                })
            })
            .collect();
        let epoch = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        json!({
            "tool": "trunkload",
            "scenario": self.scenario.name,
            "mode": match self.scenario.mode { Mode::Client => "client", Mode::Server => "server" },
            "pid": self.pid,
            "start_epoch": epoch(self.start),
            "end_epoch": epoch(now),
            "elapsed_ms": elapsed,
            "target_rate": self.info.rate,
            "rate_period_ms": self.rate_period_ms,
            "call_rate": call_rate(c.total_created(), elapsed),
            "calls": {
                "incoming_created": c.incoming_created,
                "outgoing_created": c.outgoing_created,
                "total_created": c.total_created(),
                "current": c.current(),
                "peak": self.peak.0,
                "successful": c.successful,
                "failed": c.failed,
                "ended_uncounted": c.uncounted,
            },
            "failures": failures,
            "messages_total": {
                "out_of_call": c.out_of_call,
                "dead_call": c.dead_call,
                "retransmissions": c.retransmissions,
                "auto_answered": c.auto_answered,
                "warnings": c.warnings,
                "fatal_errors": c.fatal_errors,
                "watchdog_major": c.watchdog_major,
                "watchdog_minor": c.watchdog_minor,
                "udp_send_errors": c.udp_send_errors,
                "udp_recv_errors": c.udp_recv_errors,
            },
            "response_times": rtds,
            "call_length": cl,
            "counters": generic,
            "messages": messages,
            "exit_code": stats.exit_code(false),
        })
    }

    /// `-trace_msg`: appends an entry (see [`format_msg_log`]). Buffered;
    /// flushed by [`Reporter::tick`], [`Reporter::flush_logs`] and
    /// [`Reporter::finish`].
    pub fn message_log(&mut self, line: &str) -> io::Result<()> {
        match self.messages.as_mut() {
            Some(l) => l.write(line),
            None => Ok(()),
        }
    }

    /// `-trace_shortmsg`: appends a line (see [`format_short_msg_log`]).
    /// Buffered like [`Reporter::message_log`].
    pub fn short_message_log(&mut self, line: &str) -> io::Result<()> {
        match self.short_messages.as_mut() {
            Some(l) => l.write(line),
            None => Ok(()),
        }
    }

    /// A warning or error: remembered for the screen's "Last Error" line
    /// and, with `-trace_err`, written to the error log as SIPp does:
    /// `The following events occurred:` once, then `<time>: <text>` per
    /// event (SIPp adds no newline after the text; neither do we, so pass
    /// one in `text` if wanted).
    pub fn error_log(&mut self, text: &str) -> io::Result<()> {
        self.error_log_at(text, SystemTime::now())
    }

    /// [`Reporter::error_log`] with an explicit time.
    pub fn error_log_at(&mut self, text: &str, now: SystemTime) -> io::Result<()> {
        self.last_error = Some(text.to_string());
        let Some(l) = self.errors.as_mut() else {
            return Ok(());
        };
        if l.file.is_none() {
            l.write("The following events occurred:\n")?;
        }
        l.write(&format!("{}: {}", format_time(now), text))
    }

    /// `-trace_logs`: a `<log>` action's text (SIPp writes it followed by
    /// a newline).
    pub fn logs_log(&mut self, text: &str) -> io::Result<()> {
        match self.logs.as_mut() {
            Some(l) => l.write(&format!("{text}\n")),
            None => Ok(()),
        }
    }

    /// Whether [`Reporter::finish`] ran.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Whether a period of `freq` ms has passed after `elapsed` ms, with a
/// tolerance of a tenth of the period (at most 100 ms) so that a runtime
/// ticking "about every second" does not skip every other 1 s period.
fn due(elapsed: u64, freq: u64) -> bool {
    elapsed + (freq / 10).min(100) >= freq
}

fn join(lines: Vec<String>) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// A `-trace_msg` entry exactly as SIPp writes it (`socket.cpp`):
/// ```text
/// ----------------------------------------------- 2026-11-22 11:25:16.361098
/// UDP message sent (514 bytes):
///
/// <message>
/// ```
/// and for received messages `UDP message received [313] bytes :`. The
/// entry ends with the message and one newline.
pub fn format_msg_log(sent: bool, transport: &str, now: SystemTime, bytes: &[u8]) -> String {
    let msg = String::from_utf8_lossy(bytes);
    if sent {
        format!(
            "----------------------------------------------- {}\n{} message sent ({} bytes):\n\n{}\n",
            format_time_short(now),
            transport,
            bytes.len(),
            msg
        )
    } else {
        format!(
            "----------------------------------------------- {}\n{} message received [{}] bytes :\n\n{}\n",
            format_time_short(now),
            transport,
            bytes.len(),
            msg
        )
    }
}

/// The value of the first `name:` header (case-insensitive, compact form
/// not considered), trimmed — SIPp's `get_header_content`.
fn header_value<'a>(msg: &'a str, name: &str) -> &'a str {
    for line in msg.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.trim_end().eq_ignore_ascii_case(name) {
                return v.trim();
            }
        }
    }
    ""
}

/// A `-trace_shortmsg` line as SIPp writes it:
/// `<date>\t<time>\t<epoch>\tS|R\t<Call-ID>\tCSeq:<cseq>\t<first line>\n`
/// (the Call-ID after any `///` prefix).
pub fn format_short_msg_log(sent: bool, now: SystemTime, bytes: &[u8]) -> String {
    let msg = String::from_utf8_lossy(bytes);
    let first = msg.split(['\r', '\n']).next().unwrap_or("");
    let mut cid = header_value(&msg, "Call-ID");
    if cid.is_empty() {
        cid = header_value(&msg, "i");
    }
    if let Some(p) = cid.find("///") {
        cid = &cid[p + 3..];
    }
    format!(
        "{}\t{}\t{}\tCSeq:{}\t{}\n",
        format_time(now),
        if sent { 'S' } else { 'R' },
        cid,
        header_value(&msg, "CSeq"),
        first
    )
}
