//! SIPp's outputs against real SIPp 3.6.1 files (`docs/sipp/samples/`,
//! embedded below): CSV headers and rows, counts, screens, message logs,
//! error log, RTT file; and merging and percentiles.
//!
//! Times are local: expected texts substitute the sample's time stamps by
//! `format_time` of the same instant, so the tests hold in any timezone.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trunkline_loadgen::options::{Command, Options, parse_args};
use trunkline_loadgen::scenario::{
    Common, Element, ElementKind, Mode, Optional, Pause, Recv, RecvMatch, Scenario, Send, SendWhat,
    Template,
};
use trunkline_loadgen::stats::format::{format_time, format_time_short};
use trunkline_loadgen::stats::{
    FailReason, Peak, Reporter, ScreenInfo, Stats, counts_header, format_msg_log,
    format_short_msg_log, stat_header,
};

fn send(what: SendWhat, retrans: Option<u32>) -> ElementKind {
    ElementKind::Send(Send {
        template: Template::default(),
        what,
        retrans,
        timeout: None,
        start_txn: None,
        ack_txn: None,
    })
}

fn recv(matcher: RecvMatch, optional: bool) -> ElementKind {
    ElementKind::Recv(Recv {
        matcher,
        optional: if optional {
            Optional::Yes
        } else {
            Optional::No
        },
        rrs: false,
        auth: false,
        timeout: None,
        ignoresdp: false,
        response_txn: None,
        advance_state: true,
    })
}

fn el(kind: ElementKind, f: impl FnOnce(&mut Common)) -> Element {
    let mut common = Common::default();
    f(&mut common);
    Element {
        kind,
        common,
        line: 0,
    }
}

fn repartitions(s: &mut Scenario) {
    s.response_time_repartition = vec![10, 20, 30, 40, 50, 100, 150, 200];
    s.call_length_repartition = vec![10, 50, 100, 500, 1000, 5000, 10000];
}

/// The built-in `uac` (`sipp -sd uac`), as the loader would build it.
fn uac() -> Scenario {
    let req = |m: &str| SendWhat::Request(m.to_string());
    let mut s = Scenario {
        name: "Basic Sipstone UAC".into(),
        file_stem: "uac".into(),
        rtds: vec!["1".into()],
        mode: Mode::Client,
        elements: vec![
            el(send(req("INVITE"), Some(500)), |_| {}),
            el(recv(RecvMatch::Response(100), true), |_| {}),
            el(recv(RecvMatch::Response(180), true), |_| {}),
            el(recv(RecvMatch::Response(183), true), |_| {}),
            el(recv(RecvMatch::Response(200), false), |c| c.rtd = Some(0)),
            el(send(req("ACK"), None), |_| {}),
            el(ElementKind::Pause(Pause::Default), |_| {}),
            el(send(req("BYE"), Some(500)), |_| {}),
            el(recv(RecvMatch::Response(200), false), |c| c.crlf = true),
        ],
        ..Scenario::default()
    };
    repartitions(&mut s);
    s
}

/// The built-in `uas`.
fn uas() -> Scenario {
    let req = |m: &str| RecvMatch::Request(m.to_string());
    let mut s = Scenario {
        name: "Basic UAS responder".into(),
        file_stem: "uas".into(),
        rtds: vec!["1".into()],
        mode: Mode::Server,
        elements: vec![
            el(recv(req("INVITE"), false), |c| c.crlf = true),
            el(send(SendWhat::Response(180), None), |_| {}),
            el(send(SendWhat::Response(200), Some(500)), |_| {}),
            el(recv(req("ACK"), true), |c| {
                c.rtd = Some(0);
                c.crlf = true;
            }),
            el(recv(req("BYE"), false), |_| {}),
            el(send(SendWhat::Response(200), None), |_| {}),
            el(ElementKind::Timewait(Pause::Fixed(4000)), |_| {}),
        ],
        ..Scenario::default()
    };
    repartitions(&mut s);
    s
}

fn at(epoch: &str) -> SystemTime {
    let (s, us) = epoch.split_once('.').unwrap();
    UNIX_EPOCH + Duration::new(s.parse().unwrap(), us.parse::<u32>().unwrap() * 1000)
}

/// Replaces `from` (which must occur) by `to`.
fn patch(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "sample lacks {from:?}");
    text.replace(from, to)
}

/// Replaces every SIPp time stamp `YYYY-MM-DD\tHH:MM:SS.uuuuuu\tEPOCH` of
/// the sample by our rendering of the same instant.
fn localize(text: &str) -> String {
    let re =
        regex::Regex::new(r"\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d{6}\t(\d{10}\.\d{6})").unwrap();
    re.replace_all(text, |c: &regex::Captures<'_>| format_time(at(&c[1])))
        .into_owned()
}

static DIRS: AtomicU32 = AtomicU32::new(0);

fn tmpdir() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("trunkload-stats-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(s: &str) -> Options {
    match parse_args(s.split_whitespace().map(str::to_string)).unwrap() {
        Command::Run(o) => *o,
        c => panic!("{c:?}"),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The uac run of the samples: 10 calls, RTDs 16/8/4/8/8/0/0/4/0/0 ms
/// (the sample's `_rtt.csv`), calls of about 210 ms.
fn uac_calls(st: &mut Stats, rtts: &[u64], lengths: &[u64]) {
    for (rt, len) in rtts.iter().zip(lengths) {
        st.call_created(false);
        st.msg_sent(0);
        st.msg_recv(2);
        st.msg_recv(4);
        st.rtd(0, ms(*rt));
        st.msg_sent(5);
        st.pause_started(6);
        st.msg_sent(7);
        st.msg_recv(8);
        st.call_succeeded(ms(*len));
    }
}

#[test]
fn stat_headers_are_sipps() {
    let uac_header = UAC_CSV.lines().next().unwrap();
    assert_eq!(stat_header(&uac(), ";"), uac_header);
    let uas_header = UAS_CSV.lines().next().unwrap();
    assert_eq!(stat_header(&uas(), ";"), uas_header);
    assert_eq!(uac_header.split(';').count(), 96);
    // Generic counters, several RTDs, no response-time repartition, an
    // unsorted call-length one: captured from SIPp 3.6.1.
    let mut s = uac();
    s.rtds = vec!["reg".into(), "1".into()];
    s.counters = vec!["7".into(), "hits".into()];
    s.response_time_repartition.clear();
    s.call_length_repartition = vec![100, 10];
    assert_eq!(stat_header(&s, ";"), GEN_HEADER);
    let h = stat_header(&s, ",");
    assert_eq!(h, GEN_HEADER.replace(';', ","));
}

#[test]
fn counts_header_is_sipps() {
    assert_eq!(
        counts_header(&uac(), ";"),
        UAC_COUNTS.lines().next().unwrap()
    );
    let mut s = uac();
    s.elements[1].common.hide = true;
    assert!(!counts_header(&s, ";").contains("1_100_"));
    // Captured from SIPp 3.6.1 with send OPTIONS, nop (display), recv 200,
    // nop, hidden pause, recv ACK, timewait: nops get pause columns.
    let opt = Scenario {
        elements: vec![
            el(send(SendWhat::Request("OPTIONS".into()), None), |_| {}),
            el(ElementKind::Nop, |c| c.display = Some("hello".into())),
            el(recv(RecvMatch::Response(200), false), |c| c.rtd = Some(0)),
            el(ElementKind::Nop, |_| {}),
            el(ElementKind::Pause(Pause::Fixed(10)), |c| c.hide = true),
            el(recv(RecvMatch::Request("ACK".into()), false), |_| {}),
            el(ElementKind::Timewait(Pause::Fixed(5)), |_| {}),
        ],
        rtds: vec!["1".into()],
        ..Scenario::default()
    };
    assert_eq!(
        counts_header(&opt, ";"),
        "CurrentTime;ElapsedTime;0_OPTIONS_Sent;0_OPTIONS_Retrans;1_Pause_Sessions;1_Pause_Unexp;2_200_Recv;2_200_Retrans;2_200_Timeout;2_200_Unexp;3_Pause_Sessions;3_Pause_Unexp;5_ACK_Recv;5_ACK_Retrans;5_ACK_Timeout;5_ACK_Unexp;6_Pause_Sessions;6_Pause_Unexp;"
    );
    // And its screen rows.
    let o = opts("-sn uac -m 1 127.0.0.1:9");
    let rep = Reporter::new(&o, &opt, 1, at("1795424527.343107")).unwrap();
    let mut st = Stats::new(&opt);
    st.call_created(false);
    st.msg_sent(0);
    let screen = rep.scenario_screen(&st, at("1795424528.343107"));
    let rows = "                                 Messages  Retrans   Timeout   Unexpected-Msg
     OPTIONS ---------->         1         0                                   
 hello
         200 <----------  E-RTD1 0         0         0         0               
              [ NOP ]              
         ACK <----------         0         0         0         0               
       Pause [      5ms]         0                             0        
";
    assert!(screen.contains(rows), "{screen}");
}

/// With loss emulation on (`-lost`, or any `lost` attribute), SIPp 3.6.1
/// adds a Lost column per send and receive to the counts file
/// (`logger.cpp`) and to the screen, where the count shows once non-zero
/// (`screen.cpp`).
#[test]
fn loss_emulation_adds_lost_columns() {
    let mut s = Scenario {
        elements: vec![
            el(send(SendWhat::Request("OPTIONS".into()), Some(500)), |c| {
                c.lost = Some(10.0)
            }),
            el(recv(RecvMatch::Response(200), false), |_| {}),
        ],
        ..Scenario::default()
    };
    let plain = "CurrentTime;ElapsedTime;0_OPTIONS_Sent;0_OPTIONS_Retrans;0_OPTIONS_Timeout;1_200_Recv;1_200_Retrans;1_200_Timeout;1_200_Unexp;";
    assert_eq!(counts_header(&s, ";"), plain);
    s.lose_packets = true;
    assert_eq!(
        counts_header(&s, ";"),
        "CurrentTime;ElapsedTime;0_OPTIONS_Sent;0_OPTIONS_Retrans;0_OPTIONS_Timeout;0_OPTIONS_Lost;1_200_Recv;1_200_Retrans;1_200_Timeout;1_200_Unexp;1_200_Lost;"
    );
    let o = opts("-sn uac -m 1 127.0.0.1:9");
    let rep = Reporter::new(&o, &s, 1, at("1795424527.343107")).unwrap();
    let mut st = Stats::new(&s);
    st.call_created(false);
    st.msg_sent(0);
    st.msg_lost(0);
    st.msg_lost(0);
    let screen = rep.scenario_screen(&st, at("1795424528.343107"));
    let rows = "                                 Messages  Retrans   Timeout   Unexp.    Lost
     OPTIONS ---------->         1         0         0                   2     
         200 <----------         0         0         0         0               
";
    assert!(screen.contains(rows), "{screen}");
}

#[test]
fn stat_rows_and_counts_rows() {
    let dir = tmpdir();
    let stf = dir.join("u.csv");
    let o = opts(&format!(
        "-sn uac -r 5 -m 10 -trace_stat -trace_counts -fd 1 -stf {} 127.0.0.1",
        stf.display()
    ));
    let cwd_counts = format!("uac_{}_counts.csv", 900_001);
    let start = at("1795346716.143164");
    let sc = uac();
    // The counts file name is fixed (<stem>_<pid>_counts.csv in the cwd):
    // use a pid no one else uses and remove it afterwards.
    let mut rep = Reporter::new(&o, &sc, 900_001, start).unwrap();
    let mut st = Stats::new(&sc);
    uac_calls(&mut st, &[16, 8, 4], &[218, 214, 210]);
    // A fourth call in progress with its RTD taken.
    st.call_created(false);
    st.msg_sent(0);
    st.msg_recv(2);
    st.msg_recv(4);
    st.rtd(0, ms(8));
    st.msg_sent(5);
    st.pause_started(6);
    let t1 = start + Duration::from_micros(1_009_093);
    assert!(rep.tick(&st, t1).unwrap().is_some());
    let out = rep.finish(&st, t1 + ms(1)).unwrap();
    assert!(out.contains("Test Terminated"));
    let csv = std::fs::read_to_string(&stf).unwrap();
    let counts = std::fs::read_to_string(&cwd_counts).unwrap();
    let _ = std::fs::remove_file(&cwd_counts);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(lines[0], UAC_CSV.lines().next().unwrap());
    // Start-up row: the sample's first row, with its times.
    let sample_row1 = UAC_CSV.lines().nth(1).unwrap();
    let f: Vec<&str> = sample_row1.split(';').collect();
    let ours = format!("{0};{0};{0};{1}", format_time(start), f[3..].join(";"));
    assert_eq!(lines[1], ours);
    // Row at 1 s: the sample's second row (same counters, RTD and call
    // length means/stdevs, repartitions); times and rates are ours.
    let sample_row2: Vec<&str> = UAC_CSV.lines().nth(2).unwrap().split(';').collect();
    let row2: Vec<&str> = lines[2].split(';').collect();
    assert_eq!(row2.len(), sample_row2.len());
    assert_eq!(row2[0], format_time(start));
    assert_eq!(row2[1], format_time(start));
    assert_eq!(row2[2], format_time(t1));
    assert_eq!(row2[3], "00:00:01");
    assert_eq!(row2[4], "00:00:01");
    assert_eq!(row2[5], "5");
    assert_eq!(row2[6], "3.96432");
    assert_eq!(row2[7], "3.96432");
    assert_eq!(row2[8..], sample_row2[8..]);
    // The counts rows: header, start-up, tick, two final rows.
    let c: Vec<&str> = counts.lines().collect();
    assert_eq!(c.len(), 5, "{counts}");
    assert_eq!(c[0], UAC_COUNTS.lines().next().unwrap());
    assert_eq!(
        c[1],
        format!(
            "{};00:00:00:000000;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;",
            format_time(start)
        )
    );
    assert!(
        c[2].ends_with(
            ";00:00:01:009000;4;0;0;0;0;0;0;4;0;0;0;0;0;0;0;4;0;0;0;4;0;4;0;3;0;0;3;0;0;0;"
        ),
        "{}",
        c[2]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn uac_screen_log_matches_sipp() {
    let dir = tmpdir();
    let log = dir.join("screen.log");
    let o = opts(&format!(
        "-sn uac -r 5 -d 200 -m 10 -l 15 -p 15171 -trace_screen -screen_file {} 127.0.0.1:15170",
        log.display()
    ));
    let sc = uac();
    let start = at("1795346716.143164");
    let end = at("1795346718.362331");
    let mut rep = Reporter::new(&o, &sc, 23196, start).unwrap();
    let mut info = ScreenInfo::from_options(&o);
    info.paused = 12;
    info.woken = 30;
    rep.set_screen_info(info);
    let mut early = Stats::new(&sc);
    early.call_created(false);
    early.call_created(false);
    assert!(rep.tick(&early, start + ms(500)).unwrap().is_none());
    let mut st = Stats::new(&sc);
    uac_calls(&mut st, &[16, 8, 4, 8, 8, 0, 0, 4, 0, 0], &[210; 10]);
    // The runtime's peak: two calls up in the first second.
    st.counters.peak = Peak {
        calls: 2,
        after_s: 0,
    };
    let out = rep.finish(&st, end).unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    // The sample's times are SIPp's; ours reset and read the clock once.
    let mut expected = patch(
        UAC_SCREEN,
        "2026-11-22\t11:25:18.362203\t1795346718.362203",
        "2026-11-22\t11:25:18.362331\t1795346718.362331",
    );
    // SIPp 3.6.1 prints the periodic value in both columns of these rows
    // (msToHHMMSSus' static buffer); trunkload prints the cumulative one.
    expected = patch(
        &expected,
        "  Elapsed Time           | 00:00:00:000000           | 00:00:00:000000          ",
        "  Elapsed Time           | 00:00:00:000000           | 00:00:02:219000          ",
    );
    expected = patch(
        &expected,
        "  Response Time 1        | 00:00:00:000000           | 00:00:00:000000          ",
        "  Response Time 1        | 00:00:00:000000           | 00:00:00:004000          ",
    );
    expected = patch(
        &expected,
        "  Call Length            | 00:00:00:000000           | 00:00:00:000000          ",
        "  Call Length            | 00:00:00:000000           | 00:00:00:210000          ",
    );
    assert_eq!(written, localize(&expected));
    // stdout: the scenario screen then the statistics screen, "Test
    // Terminated", then trunkload's latency block.
    let scen_len = expected
        .find("----------------------------- Statistics Screen")
        .unwrap();
    let scen = localize(&expected[..scen_len]).replace(
        "------- Waiting for active calls to end. Press [q] again to force exit. -------",
        "------------------------------ Test Terminated --------------------------------",
    );
    assert!(out.starts_with(&scen), "{out}");
    assert!(out.contains("trunkload latency"));
    assert!(out.contains("Response Time 1"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn uas_scenario_screen_matches_sipp() {
    let dir = tmpdir();
    let log = dir.join("screen.log");
    let o = opts(&format!(
        "-sn uas -m 10 -p 15170 -trace_screen -screen_file {}",
        log.display()
    ));
    let sc = uas();
    let start = at("1795346715.128746");
    let end = start + ms(7235);
    let mut rep = Reporter::new(&o, &sc, 23194, start).unwrap();
    let mut info = ScreenInfo::from_options(&o);
    info.paused = 12;
    info.woken = 41;
    rep.set_screen_info(info);
    let mut early = Stats::new(&sc);
    for _ in 0..10 {
        early.call_created(true);
    }
    assert!(rep.tick(&early, start + ms(3500)).unwrap().is_some());
    let mut st = Stats::new(&sc);
    // The runtime's peak: the ten calls up at 3.5 s.
    st.counters.peak = Peak {
        calls: 10,
        after_s: 3,
    };
    for _ in 0..10 {
        st.call_created(true);
        st.msg_recv(0);
        st.msg_sent(1);
        st.msg_sent(2);
        st.msg_recv(3);
        st.rtd(0, ms(2));
        st.msg_recv(4);
        st.msg_sent(5);
        st.pause_started(6);
        st.call_succeeded(ms(4212));
    }
    rep.finish(&st, end).unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    let sample_scen = &UAS_SCREEN[..UAS_SCREEN
        .find("----------------------------- Statistics")
        .unwrap()];
    let expected = patch(sample_scen, "  15170      7.23 s", "  15170      7.23 s");
    assert!(written.starts_with(&expected), "{written}");
    // The repartition screen shows the bins.
    assert!(written.contains("            0 ms <= n <         10 ms :         10\n"));
    assert!(written.contains("          1000 ms <= n <       5000 ms :         10\n"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn message_logs_match_sipp() {
    // The first entry of the sample's message log.
    let sep = "----------------------------------------------- ";
    let entries: Vec<&str> = UAC_MESSAGES.split(sep).filter(|e| !e.is_empty()).collect();
    let first = entries[0];
    let (time, rest) = first.split_once('\n').unwrap();
    assert_eq!(time, "2026-11-22 11:25:16.361098");
    let body = rest
        .strip_prefix("UDP message sent (514 bytes):\n\n")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    assert_eq!(body.len(), 514);
    let t = at("1795346716.361098");
    let ours = format_msg_log(true, "UDP", t, body.as_bytes());
    assert_eq!(ours, format!("{sep}{}\n{rest}", format_time_short(t)));
    // A received one.
    let (_, rest2) = entries[1].split_once('\n').unwrap();
    let body2 = rest2
        .strip_prefix("UDP message received [313] bytes :\n\n")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    let t2 = at("1795346716.371971");
    assert_eq!(
        format_msg_log(false, "UDP", t2, body2.as_bytes()),
        format!("{sep}{}\n{rest2}", format_time_short(t2))
    );
    // Short messages: the sample's first two lines.
    let short: Vec<&str> = UAC_SHORT.split_inclusive('\n').collect();
    assert_eq!(
        format_short_msg_log(true, t, body.as_bytes()),
        localize(short[0])
    );
    assert_eq!(
        format_short_msg_log(false, t2, body2.as_bytes()),
        localize(short[1])
    );
}

#[test]
fn error_log_matches_sipp() {
    let dir = tmpdir();
    let file = dir.join("errors.log");
    let o = opts(&format!(
        "-sn uac -trace_err -error_file {} 127.0.0.1",
        file.display()
    ));
    let sc = uac();
    let start = at("1795346721.000000");
    let mut rep = Reporter::new(&o, &sc, 23201, start).unwrap();
    // Created lazily, like SIPp.
    assert!(!file.exists());
    let text = "Call-Id: 1-23201@127.0.0.1, receive timeout on message Basic Sipstone UAC:1 without label to jump to (ontimeout attribute): aborting call";
    rep.error_log_at(text, at("1795346721.492917")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        localize(UAC_ERRORS)
    );
    // The screen shows it.
    let st = Stats::new(&sc);
    let screen = rep.scenario_screen(&st, start + ms(100));
    let want = format!("\nLast Error: {}...\n", &text[..60]);
    assert!(screen.contains(&want), "{screen}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rtt_file_matches_sipp() {
    let dir = tmpdir();
    let o = opts("-sn uac -trace_rtt 127.0.0.1");
    let sc = uac();
    let start = at("1795346716.143164");
    // The rtt file is named <stem>_<pid>_rtt.csv in the cwd.
    let pid = 900_002;
    let mut rep = Reporter::new(&o, &sc, pid, start).unwrap();
    let mut st = Stats::new(&sc);
    for line in UAC_RTT.lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        let date_us = (f[0].parse::<f64>().unwrap() * 1000.0).round() as u64;
        st.rtt_samples.push(trunkline_loadgen::stats::RttSample {
            at: start + Duration::from_micros(date_us),
            rtt: ms(f[1].parse().unwrap()),
            rtd: 0,
        });
    }
    rep.finish(&st, start + ms(2300)).unwrap();
    let name = format!("uac_{pid}_rtt.csv");
    let text = std::fs::read_to_string(&name).unwrap();
    let _ = std::fs::remove_file(&name);
    assert_eq!(text, UAC_RTT);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn merge_adds_shards() {
    let sc = uac();
    let mut a = Stats::new(&sc);
    let mut b = Stats::new(&sc);
    let mut all = Stats::new(&sc);
    uac_calls(&mut a, &[1, 2, 3], &[100, 200, 300]);
    uac_calls(&mut b, &[25, 250], &[5000, 20000]);
    uac_calls(&mut all, &[1, 2, 3, 25, 250], &[100, 200, 300, 5000, 20000]);
    b.call_created(true);
    b.call_failed(FailReason::TimeoutOnRecv, ms(32000));
    all.call_created(true);
    all.call_failed(FailReason::TimeoutOnRecv, ms(32000));
    a.msg_retrans(0);
    all.msg_retrans(0);
    a.counter(1);
    all.counter(1);
    let mut m = Stats::new(&sc);
    m.merge(&a);
    m.merge(&b);
    assert_eq!(m.counters, all.counters);
    assert_eq!(m.msgs, all.msgs);
    assert_eq!(m.rtd_repartition, all.rtd_repartition);
    assert_eq!(m.call_length_repartition, all.call_length_repartition);
    assert_eq!(m.rtd_percentiles(0), all.rtd_percentiles(0));
    assert_eq!(m.call_length_percentiles(), all.call_length_percentiles());
    assert_eq!(m.created(), 6);
    assert_eq!(m.successful(), 5);
    assert_eq!(m.failed(), 1);
    assert_eq!(m.current_calls(), 0);
    assert_eq!(m.counters.fail(FailReason::TimeoutOnRecv), 1);
    assert_eq!(m.counters.retransmissions, 1);
    assert_eq!(m.rtd_repartition[0], vec![3, 0, 1, 0, 0, 0, 0, 0, 1]);
    assert_eq!(m.call_length_repartition, vec![0, 0, 0, 3, 0, 0, 1, 2]);
    assert_eq!(m.exit_code(false), 1);
    let mut ok = Stats::new(&sc);
    assert_eq!(ok.exit_code(true), 97);
    assert_eq!(ok.exit_code(false), 0);
    ok.merge(&a);
    assert_eq!(ok.exit_code(true), 0);
    // Snapshots move RTT samples out.
    let mut s = Stats::new(&sc);
    s.set_rtt_trace(true);
    s.rtd(0, ms(5));
    let snap = s.snapshot();
    assert_eq!(snap.rtt_samples.len(), 1);
    assert!(s.rtt_samples.is_empty());
    assert_eq!(snap.counters, s.counters);
}

#[test]
fn percentiles_from_hdrhistogram() {
    let sc = uac();
    let mut s = Stats::new(&sc);
    for i in 1..=1000u64 {
        s.rtd(0, ms(i));
    }
    let p = s.rtd_percentiles(0);
    assert_eq!(p.count, 1000);
    let near = |v: u64, want_ms: u64| {
        let want = want_ms * 1000;
        assert!(v.abs_diff(want) <= want / 500, "{v} vs {want}");
    };
    near(p.p50, 500);
    near(p.p90, 900);
    near(p.p99, 990);
    near(p.p999, 999);
    near(p.max, 1000);
    near(p.min, 1);
    // SIPp's moments in whole ms.
    assert_eq!(s.counters.rtds[0].mean(), 500.5);
    assert!((s.counters.rtds[0].stdev() - 288.8194).abs() < 0.001);
}

#[test]
fn json_report_has_the_counters() {
    let o = opts("-sn uac 127.0.0.1");
    let sc = uac();
    let start = at("1795346716.143164");
    let rep = Reporter::new(&o, &sc, 1, start).unwrap();
    let mut st = Stats::new(&sc);
    uac_calls(&mut st, &[4, 8], &[210, 220]);
    st.call_created(false);
    st.call_failed(FailReason::MaxUdpRetrans, ms(30_000));
    let v = rep.json(&st, start + ms(2000));
    assert_eq!(v["calls"]["successful"], 2);
    assert_eq!(v["calls"]["failed"], 1);
    assert_eq!(v["failures"]["FailedMaxUDPRetrans"], 1);
    assert_eq!(v["response_times"][0]["name"], "1");
    assert_eq!(v["response_times"][0]["count"], 2);
    assert_eq!(v["messages"][0]["sent"], 2);
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["elapsed_ms"], 2000);
}

#[test]
fn running_scenario_screen_matches_sipp() {
    // Captured from SIPp 3.6.1 (`-sn uac -r 1 -d 3000 -m 4`, SIGUSR2 at
    // 2.6 s): the running screen with its RTP line and running footer.
    let o = opts("-sn uac -r 1 -d 3000 -m 4 -p 15371 127.0.0.1:15370");
    let sc = uac();
    let start = at("1795424442.259164");
    let mut rep = Reporter::new(&o, &sc, 2408, start).unwrap();
    let mut info = rep.screen_info().clone();
    info.scheduler_resolution_ms = 1;
    info.paused = 5;
    info.woken = 10;
    info.open_sockets = 2;
    rep.set_screen_info(info);
    assert_eq!(rep.screen_info().call_limit, 9);
    let mut st = Stats::new(&sc);
    st.call_created(false);
    let first = rep.tick(&st, start + ms(1000)).unwrap().unwrap();
    assert!(
        first.contains("  1 new calls during 1.000 s period "),
        "{first}"
    );
    st.call_created(false);
    // The runtime's peak: the second call, at 2 s.
    st.counters.peak = Peak {
        calls: 2,
        after_s: 2,
    };
    for _ in 0..2 {
        st.msg_sent(0);
        st.msg_recv(2);
        st.msg_recv(4);
        st.rtd(0, ms(1));
        st.msg_sent(5);
        st.pause_started(6);
    }
    assert!(rep.tick(&st, start + ms(2000)).unwrap().is_some());
    assert!(rep.tick(&st, start + ms(2300)).unwrap().is_none());
    let screen = rep.scenario_screen(&st, start + ms(2600));
    assert_eq!(screen, RUNNING_UAC_SCREEN);
}

/// A running uac scenario screen of SIPp 3.6.1.
const RUNNING_UAC_SCREEN: &str =
    "------------------------------ Scenario Screen -------- [1-9]: Change Screen --
  Call rate (length)   Port   Total-time  Total-calls  Remote-host
  1.0(3000 ms)/1.000s   15371      2.60 s            2  127.0.0.1:15370(UDP)

  0 new calls during 0.600 s period       1 ms scheduler resolution            
  2 calls (limit 9)                       Peak was 2 calls, after 2 s
  0 Running, 5 Paused, 10 Woken up
  0 dead call msg (discarded)             0 out-of-call msg (discarded)
  2 open sockets                          0/0/0 UDP errors (send/recv/cong)
  0 Total RTP pckts sent                  0.000 last period RTP rate (kB/s)

                                 Messages  Retrans   Timeout   Unexpected-Msg
      INVITE ---------->         2         0         0                         
         100 <----------         0         0         0         0               
         180 <----------         2         0         0         0               
         183 <----------         0         0         0         0               
         200 <----------  E-RTD1 2         0         0         0               
         ACK ---------->         2         0                                   
       Pause [   3000ms]         2                             0        
         BYE ---------->         0         0         0                         
         200 <----------         0         0         0         0               

------ [+|-|*|/]: Adjust rate ---- [q]: Soft exit ---- [p]: Pause traffic -----
";

#[test]
fn sigusr2_dumps_screens_without_trace_screen() {
    let o = opts("-sn uac -m 1 127.0.0.1");
    let sc = uac();
    let start = at("1795424442.259164");
    let pid = 900_003;
    let name = format!("uac_{pid}_screen.log");
    let _ = std::fs::remove_file(&name);
    let mut rep = Reporter::new(&o, &sc, pid, start).unwrap();
    assert!(!std::path::Path::new(&name).exists());
    let st = Stats::new(&sc);
    rep.signal_dump(&st, start + ms(1500)).unwrap();
    let text = std::fs::read_to_string(&name).unwrap();
    rep.finish(&st, start + ms(2000)).unwrap();
    let after = std::fs::read_to_string(&name).unwrap();
    let _ = std::fs::remove_file(&name);
    assert!(text.starts_with("------------------------------ Scenario Screen"));
    assert!(text.contains("----------------------------- Statistics Screen"));
    assert!(text.contains("---------------------------- Repartition Screen"));
    assert!(text.contains(
        "------ [+|-|*|/]: Adjust rate ---- [q]: Soft exit ---- [p]: Pause traffic -----"
    ));
    assert_eq!(text, after);
}

#[test]
fn message_log_files() {
    let dir = tmpdir();
    let m = dir.join("m.log");
    let sm = dir.join("s.log");
    std::fs::write(&sm, "old\n").unwrap();
    let o = opts(&format!(
        "-sn uac -trace_msg -message_file {} -trace_shortmsg -shortmessage_file {} -shortmessage_overwrite false 127.0.0.1",
        m.display(),
        sm.display()
    ));
    let sc = uac();
    let start = at("1795346716.143164");
    let mut rep = Reporter::new(&o, &sc, 1, start).unwrap();
    // Both exist from the start, like SIPp's.
    assert!(m.exists());
    let t = at("1795346716.361098");
    let msg = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x///1-2@h\r\nCSeq: 7 OPTIONS\r\n\r\n";
    let e1 = format_msg_log(true, "UDP", t, msg);
    let e2 = format_msg_log(false, "UDP", t, msg);
    rep.message_log(&e1).unwrap();
    rep.message_log(&e2).unwrap();
    let short = format_short_msg_log(true, t, msg);
    assert!(
        short.ends_with("\tS\t1-2@h\tCSeq:7 OPTIONS\tOPTIONS sip:a SIP/2.0\n"),
        "{short}"
    );
    rep.short_message_log(&short).unwrap();
    let st = Stats::new(&sc);
    rep.tick(&st, start + ms(10)).unwrap();
    assert_eq!(std::fs::read_to_string(&m).unwrap(), format!("{e1}{e2}"));
    assert_eq!(
        std::fs::read_to_string(&sm).unwrap(),
        format!("old\n{short}")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn periodic_rtd_resets_repartitions_per_dump() {
    let dir = tmpdir();
    let f = dir.join("p.csv");
    let sc = uac();
    let start = at("1795346716.143164");
    let rows = |flag: &str| {
        let o = opts(&format!(
            "-sn uac {flag} -trace_stat -fd 1 -stf {} 127.0.0.1",
            f.display()
        ));
        let mut rep = Reporter::new(&o, &sc, 1, start).unwrap();
        let mut st = Stats::new(&sc);
        uac_calls(&mut st, &[5, 15], &[60, 60]);
        rep.tick(&st, start + ms(1000)).unwrap();
        uac_calls(&mut st, &[25], &[600]);
        rep.tick(&st, start + ms(2000)).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        text.lines()
            .map(|l| {
                let v: Vec<&str> = l.split(';').collect();
                // The two repartitions: the last 20 fields.
                v[v.len() - 20..].join(";")
            })
            .collect::<Vec<_>>()
    };
    let cumulative = rows("");
    assert_eq!(cumulative[2], ";1;1;0;0;0;0;0;0;0;;0;0;2;0;0;0;0;0;");
    assert_eq!(cumulative[3], ";1;1;1;0;0;0;0;0;0;;0;0;2;0;1;0;0;0;");
    let periodic = rows("-periodic_rtd");
    assert_eq!(periodic[2], ";1;1;0;0;0;0;0;0;0;;0;0;2;0;0;0;0;0;");
    assert_eq!(periodic[3], ";0;0;1;0;0;0;0;0;0;;0;0;0;0;1;0;0;0;");
    let _ = std::fs::remove_dir_all(dir);
}

// ---- real SIPp 3.6.1 outputs, embedded ----

/// The stat header of a scenario with `start_rtd="reg"`, `rtd="reg"`,
/// `rtd="true"`, counters `7` and `hits`, `CallLengthRepartition
/// value="100, 10"` (captured from SIPp 3.6.1).
const GEN_HEADER: &str = "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);ResponseTimereg(P);ResponseTimereg(C);ResponseTimeregStDev(P);ResponseTimeregStDev(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);ResponseTime1StDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);GenericCounter7(P);GenericCounter7(C);hits(P);hits(C);CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_<100;CallLengthRepartition_>=100;";

/// `docs/sipp/samples/uac_PID_.csv` (real SIPp 3.6.1 output).
const UAC_CSV: &str = "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);ResponseTime1StDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);ResponseTimeRepartition1;ResponseTimeRepartition1_<10;ResponseTimeRepartition1_<20;ResponseTimeRepartition1_<30;ResponseTimeRepartition1_<40;ResponseTimeRepartition1_<50;ResponseTimeRepartition1_<100;ResponseTimeRepartition1_<150;ResponseTimeRepartition1_<200;ResponseTimeRepartition1_>=200;CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_<50;CallLengthRepartition_<100;CallLengthRepartition_<500;CallLengthRepartition_<1000;CallLengthRepartition_<5000;CallLengthRepartition_<10000;CallLengthRepartition_>=10000;
2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:16.153868\t1795346716.153868;00:00:00;00:00:00;5;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;0;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:16.154156\t1795346716.154156;2026-11-22\t11:25:17.152257\t1795346717.152257;00:00:00;00:00:01;5;4.00802;3.96432;0;0;4;4;4;1;3;3;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:009000;00:00:00:009000;00:00:00:005000;00:00:00:005000;00:00:00:214000;00:00:00:214000;00:00:00:004000;00:00:00:004000;;3;1;0;0;0;0;0;0;0;;0;0;0;3;0;0;0;0;
2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:17.152390\t1795346717.152390;2026-11-22\t11:25:18.156174\t1795346718.156174;00:00:01;00:00:02;5;5.98205;4.96771;0;0;6;10;10;2;5;8;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:002000;00:00:00:004000;00:00:00:003000;00:00:00:005000;00:00:00:208000;00:00:00:211000;00:00:00:003000;00:00:00:004000;;9;1;0;0;0;0;0;0;0;;0;0;0;8;0;0;0;0;
2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:18.156280\t1795346718.156280;2026-11-22\t11:25:18.362203\t1795346718.362203;00:00:00;00:00:02;5;0;4.50653;0;0;0;10;10;0;2;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:004000;00:00:00:000000;00:00:00:005000;00:00:00:206000;00:00:00:210000;00:00:00:002000;00:00:00:004000;;9;1;0;0;0;0;0;0;0;;0;0;0;10;0;0;0;0;
2026-11-22\t11:25:16.143164\t1795346716.143164;2026-11-22\t11:25:18.362281\t1795346718.362281;2026-11-22\t11:25:18.362475\t1795346718.362475;00:00:00;00:00:02;5;0;4.50653;0;0;0;10;10;0;0;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:004000;00:00:00:000000;00:00:00:005000;00:00:00:000000;00:00:00:210000;00:00:00:000000;00:00:00:004000;;9;1;0;0;0;0;0;0;0;;0;0;0;10;0;0;0;0;
";

/// `docs/sipp/samples/uac_PID_counts.csv` (real SIPp 3.6.1 output).
const UAC_COUNTS: &str = "CurrentTime;ElapsedTime;0_INVITE_Sent;0_INVITE_Retrans;0_INVITE_Timeout;1_100_Recv;1_100_Retrans;1_100_Timeout;1_100_Unexp;2_180_Recv;2_180_Retrans;2_180_Timeout;2_180_Unexp;3_183_Recv;3_183_Retrans;3_183_Timeout;3_183_Unexp;4_200_Recv;4_200_Retrans;4_200_Timeout;4_200_Unexp;5_ACK_Sent;5_ACK_Retrans;6_Pause_Sessions;6_Pause_Unexp;7_BYE_Sent;7_BYE_Retrans;7_BYE_Timeout;8_200_Recv;8_200_Retrans;8_200_Timeout;8_200_Unexp;
2026-11-22\t11:25:16.154139\t1795346716.154139;00:00:00:010000;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:17.152368\t1795346717.152368;00:00:01:009000;4;0;0;0;0;0;0;4;0;0;0;0;0;0;0;4;0;0;0;4;0;4;0;3;0;0;3;0;0;0;
2026-11-22\t11:25:18.156259\t1795346718.156259;00:00:02:013000;10;0;0;0;0;0;0;10;0;0;0;0;0;0;0;10;0;0;0;10;0;10;0;8;0;0;8;0;0;0;
2026-11-22\t11:25:18.362265\t1795346718.362265;00:00:02:219000;10;0;0;0;0;0;0;10;0;0;0;0;0;0;0;10;0;0;0;10;0;10;0;10;0;0;10;0;0;0;
2026-11-22\t11:25:18.362533\t1795346718.362533;00:00:02:219000;10;0;0;0;0;0;0;10;0;0;0;0;0;0;0;10;0;0;0;10;0;10;0;10;0;0;10;0;0;0;
";

/// `docs/sipp/samples/uac_PID_screen.log` (real SIPp 3.6.1 output).
const UAC_SCREEN: &str =
    "------------------------------ Scenario Screen -------- [1-9]: Change Screen --
  Call rate (length)   Port   Total-time  Total-calls  Remote-host
  5.0(200 ms)/1.000s   15171      2.21 s           10  127.0.0.1:15170(UDP)

  Call limit 10 hit, 0.0 s period         0 ms scheduler resolution            
  0 calls (limit 15)                      Peak was 2 calls, after 0 s
  0 Running, 12 Paused, 30 Woken up
  0 dead call msg (discarded)             0 out-of-call msg (discarded)
  0 open sockets                          0/0/0 UDP errors (send/recv/cong)
  0 open sockets                          0/0/0 UDP errors (send/recv/cong)

                                 Messages  Retrans   Timeout   Unexpected-Msg
      INVITE ---------->         10        0         0                         
         100 <----------         0         0         0         0               
         180 <----------         10        0         0         0               
         183 <----------         0         0         0         0               
         200 <----------  E-RTD1 10        0         0         0               
         ACK ---------->         10        0                                   
       Pause [    200ms]         10                            0        
         BYE ---------->         10        0         0                         
         200 <----------         10        0         0         0               

------- Waiting for active calls to end. Press [q] again to force exit. -------
----------------------------- Statistics Screen ------- [1-9]: Change Screen --
  Start Time             | 2026-11-22\t11:25:16.143164\t1795346716.143164         
  Last Reset Time        | 2026-11-22\t11:25:18.362203\t1795346718.362203         
  Current Time           | 2026-11-22\t11:25:18.362331\t1795346718.362331         
-------------------------+---------------------------+--------------------------
  Counter Name           | Periodic value            | Cumulative value
-------------------------+---------------------------+--------------------------
  Elapsed Time           | 00:00:00:000000           | 00:00:00:000000          
  Call Rate              |    0.000 cps              |    4.507 cps             
-------------------------+---------------------------+--------------------------
  Incoming calls created |        0                  |        0                 
  Outgoing calls created |        0                  |       10                 
  Total Calls created    |                           |       10                 
  Current Calls          |        0                  |                          
-------------------------+---------------------------+--------------------------
  Successful call        |        0                  |       10                 
  Failed call            |        0                  |        0                 
-------------------------+---------------------------+--------------------------
  Response Time 1        | 00:00:00:000000           | 00:00:00:000000          
  Call Length            | 00:00:00:000000           | 00:00:00:000000          
------- Waiting for active calls to end. Press [q] again to force exit. -------
---------------------------- Repartition Screen ------- [1-9]: Change Screen --
  Average Response Time Repartition 1                                          
             0 ms <= n <         10 ms :          9
            10 ms <= n <         20 ms :          1
            20 ms <= n <         30 ms :          0
            30 ms <= n <         40 ms :          0
            40 ms <= n <         50 ms :          0
            50 ms <= n <        100 ms :          0
           100 ms <= n <        150 ms :          0
           150 ms <= n <        200 ms :          0
                   n >=        200 ms :          0
  Average Call Length Repartition                                              
             0 ms <= n <         10 ms :          0
            10 ms <= n <         50 ms :          0
            50 ms <= n <        100 ms :          0
           100 ms <= n <        500 ms :         10
           500 ms <= n <       1000 ms :          0
          1000 ms <= n <       5000 ms :          0
          5000 ms <= n <      10000 ms :          0
                   n >=      10000 ms :          0
------- Waiting for active calls to end. Press [q] again to force exit. -------
";

/// `docs/sipp/samples/uas_PID_screen.log` (real SIPp 3.6.1 output).
const UAS_SCREEN: &str =
    "------------------------------ Scenario Screen -------- [1-9]: Change Screen --
  Port   Total-time  Total-calls  Transport
  15170      7.23 s           10  UDP

  Call limit 10 hit, 0.0 s period         0 ms scheduler resolution            
  0 calls                                 Peak was 10 calls, after 3 s
  0 Running, 12 Paused, 41 Woken up
  0 dead call msg (discarded)           
  0 open sockets                          0/0/0 UDP errors (send/recv/cong)
  0 open sockets                          0/0/0 UDP errors (send/recv/cong)

                                 Messages  Retrans   Timeout   Unexpected-Msg
  ----------> INVITE             10        0         0         0               

  <---------- 180                10        0                                   
  <---------- 200                10        0         0                         
  ----------> ACK         E-RTD1 10        0         0         0               

  ----------> BYE                10        0         0         0               
  <---------- 200                10        0                                   
  [   4000ms] Pause              10                            0        
------- Waiting for active calls to end. Press [q] again to force exit. -------
----------------------------- Statistics Screen ------- [1-9]: Change Screen --
  Start Time             | 2026-11-22\t11:25:15.128746\t1795346715.128746         
  Last Reset Time        | 2026-11-22\t11:25:22.369523\t1795346722.369523         
  Current Time           | 2026-11-22\t11:25:22.369692\t1795346722.369692         
-------------------------+---------------------------+--------------------------
  Counter Name           | Periodic value            | Cumulative value
-------------------------+---------------------------+--------------------------
  Elapsed Time           | 00:00:00:000000           | 00:00:00:000000          
  Call Rate              |    0.000 cps              |    1.381 cps             
-------------------------+---------------------------+--------------------------
  Incoming calls created |        0                  |       10                 
  Outgoing calls created |        0                  |        0                 
  Total Calls created    |                           |       10                 
  Current Calls          |        0                  |                          
-------------------------+---------------------------+--------------------------
  Successful call        |        0                  |       10                 
  Failed call            |        0                  |        0                 
-------------------------+---------------------------+--------------------------
  Response Time 1        | 00:00:00:000000           | 00:00:00:000000          
  Call Length            | 00:00:00:000000           | 00:00:00:000000          
------- Waiting for active calls to end. Press [q] again to force exit. -------
---------------------------- Repartition Screen ------- [1-9]: Change Screen --
  Average Response Time Repartition 1                                          
             0 ms <= n <         10 ms :         10
            10 ms <= n <         20 ms :          0
            20 ms <= n <         30 ms :          0
            30 ms <= n <         40 ms :          0
            40 ms <= n <         50 ms :          0
            50 ms <= n <        100 ms :          0
           100 ms <= n <        150 ms :          0
           150 ms <= n <        200 ms :          0
                   n >=        200 ms :          0
  Average Call Length Repartition                                              
             0 ms <= n <         10 ms :          0
            10 ms <= n <         50 ms :          0
            50 ms <= n <        100 ms :          0
           100 ms <= n <        500 ms :          0
           500 ms <= n <       1000 ms :          0
          1000 ms <= n <       5000 ms :         10
          5000 ms <= n <      10000 ms :          0
                   n >=      10000 ms :          0
------- Waiting for active calls to end. Press [q] again to force exit. -------
";

/// `docs/sipp/samples/uac_PID_messages.call1.log` (real SIPp 3.6.1 output).
const UAC_MESSAGES: &str =
    "----------------------------------------------- 2026-11-22 11:25:16.361098
UDP message sent (514 bytes):

INVITE sip:service@127.0.0.1:15170 SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 1 INVITE\r
Contact: sip:sipp@127.0.0.1:15171\r
Max-Forwards: 70\r
Subject: Performance Test\r
Content-Type: application/sdp\r
Content-Length:   129\r
\r
v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 6012 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r

----------------------------------------------- 2026-11-22 11:25:16.371971
UDP message received [313] bytes :

SIP/2.0 180 Ringing\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 1 INVITE\r
Contact: <sip:127.0.0.1:15170;transport=UDP>\r
Content-Length: 0\r
\r

----------------------------------------------- 2026-11-22 11:25:16.372085
UDP message received [472] bytes :

SIP/2.0 200 OK\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-0\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 1 INVITE\r
Contact: <sip:127.0.0.1:15170;transport=UDP>\r
Content-Type: application/sdp\r
Content-Length:   129\r
\r
v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 6008 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r

----------------------------------------------- 2026-11-22 11:25:16.372333
UDP message sent (364 bytes):

ACK sip:service@127.0.0.1:15170 SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-5\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 1 ACK\r
Contact: sip:sipp@127.0.0.1:15171\r
Max-Forwards: 70\r
Subject: Performance Test\r
Content-Length: 0\r
\r

----------------------------------------------- 2026-11-22 11:25:16.578222
UDP message sent (364 bytes):

BYE sip:service@127.0.0.1:15170 SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-7\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 2 BYE\r
Contact: sip:sipp@127.0.0.1:15171\r
Max-Forwards: 70\r
Subject: Performance Test\r
Content-Length: 0\r
\r

----------------------------------------------- 2026-11-22 11:25:16.578714
UDP message received [305] bytes :

SIP/2.0 200 OK\r
Via: SIP/2.0/UDP 127.0.0.1:15171;branch=z9hG4bK-23196-1-7\r
From: sipp <sip:sipp@127.0.0.1:15171>;tag=23196SIPpTag001\r
To: service <sip:service@127.0.0.1:15170>;tag=23194SIPpTag011\r
Call-ID: 1-23196@127.0.0.1\r
CSeq: 2 BYE\r
Contact: <sip:127.0.0.1:15170;transport=UDP>\r
Content-Length: 0\r
\r

";

/// `docs/sipp/samples/uac_PID_shortmessages.head.log` (real SIPp 3.6.1 output).
const UAC_SHORT: &str = "2026-11-22\t11:25:16.361098\t1795346716.361098\tS\t1-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.371971\t1795346716.371971\tR\t1-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:16.372085\t1795346716.372085\tR\t1-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.372333\t1795346716.372333\tS\t1-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.552385\t1795346716.552385\tS\t2-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.552798\t1795346716.552798\tR\t2-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:16.557587\t1795346716.557587\tR\t2-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.557704\t1795346716.557704\tS\t2-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.578222\t1795346716.578222\tS\t1-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.578714\t1795346716.578714\tR\t1-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.755978\t1795346716.755978\tS\t3-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.757483\t1795346716.757483\tR\t3-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:16.758195\t1795346716.758195\tR\t3-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.758292\t1795346716.758292\tS\t3-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.765178\t1795346716.765178\tS\t2-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.765628\t1795346716.765628\tR\t2-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.959985\t1795346716.959985\tS\t4-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.960175\t1795346716.960175\tR\t4-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:16.967044\t1795346716.967044\tR\t4-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:16.967222\t1795346716.967222\tS\t3-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.967266\t1795346716.967266\tS\t4-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:16.967574\t1795346716.967574\tR\t3-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.157005\t1795346717.157005\tS\t5-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.157760\t1795346717.157760\tR\t5-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:17.158865\t1795346717.158865\tR\t5-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.158981\t1795346717.158981\tS\t5-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.173275\t1795346717.173275\tS\t4-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.173614\t1795346717.173614\tR\t4-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.351349\t1795346717.351349\tS\t6-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.351645\t1795346717.351645\tR\t6-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:17.352832\t1795346717.352832\tR\t6-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.352958\t1795346717.352958\tS\t6-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.365118\t1795346717.365118\tS\t5-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.365431\t1795346717.365431\tR\t5-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.557460\t1795346717.557460\tS\t7-23196@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.557656\t1795346717.557656\tR\t7-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 180 Ringing
2026-11-22\t11:25:17.557716\t1795346717.557716\tS\t6-23196@127.0.0.1\tCSeq:2 BYE\tBYE sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.557924\t1795346717.557924\tR\t7-23196@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 200 OK
2026-11-22\t11:25:17.558055\t1795346717.558055\tS\t7-23196@127.0.0.1\tCSeq:1 ACK\tACK sip:service@127.0.0.1:15170 SIP/2.0
2026-11-22\t11:25:17.558104\t1795346717.558104\tR\t6-23196@127.0.0.1\tCSeq:2 BYE\tSIP/2.0 200 OK
";

/// `docs/sipp/samples/uac_fail_PID_errors.log` (real SIPp 3.6.1 output).
const UAC_ERRORS: &str = "The following events occurred:
2026-11-22\t11:25:21.492917\t1795346721.492917: Call-Id: 1-23201@127.0.0.1, receive timeout on message Basic Sipstone UAC:1 without label to jump to (ontimeout attribute): aborting call";

/// `docs/sipp/samples/uac_PID_rtt.csv` (real SIPp 3.6.1 output).
const UAC_RTT: &str = "Date_ms;response_time_ms;rtd_no
224.001;16;1
412.001;8;1
612.001;4;1
820.001;8;1
1012;8;1
1204;0;1
1408;0;1
1608;4;1
1812;0;1
2004;0;1
";

/// `docs/sipp/samples/uas_PID_.csv` (real SIPp 3.6.1 output).
const UAS_CSV: &str = "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);ResponseTime1StDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);ResponseTimeRepartition1;ResponseTimeRepartition1_<10;ResponseTimeRepartition1_<20;ResponseTimeRepartition1_<30;ResponseTimeRepartition1_<40;ResponseTimeRepartition1_<50;ResponseTimeRepartition1_<100;ResponseTimeRepartition1_<150;ResponseTimeRepartition1_<200;ResponseTimeRepartition1_>=200;CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_<50;CallLengthRepartition_<100;CallLengthRepartition_<500;CallLengthRepartition_<1000;CallLengthRepartition_<5000;CallLengthRepartition_<10000;CallLengthRepartition_>=10000;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:15.133473\t1795346715.133473;00:00:00;00:00:00;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;0;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:15.133716\t1795346715.133716;2026-11-22\t11:25:16.135943\t1795346716.135943;00:00:01;00:00:01;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;0;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:16.136052\t1795346716.136052;2026-11-22\t11:25:17.139997\t1795346717.139997;00:00:01;00:00:02;10;3.98804;1.98906;4;4;0;0;4;4;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:005000;00:00:00:005000;00:00:00:003000;00:00:00:003000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;4;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:17.140113\t1795346717.140113;2026-11-22\t11:25:18.143962\t1795346718.143962;00:00:01;00:00:03;10;4.98504;2.98507;5;9;0;0;9;9;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:001000;00:00:00:003000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;9;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:18.144065\t1795346718.144065;2026-11-22\t11:25:19.148828\t1795346719.148828;00:00:01;00:00:04;10;0.996016;2.48756;1;10;0;0;10;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:19.148973\t1795346719.148973;2026-11-22\t11:25:20.152104\t1795346720.152104;00:00:01;00:00:05;10;0;1.99084;0;10;0;0;10;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:20.152207\t1795346720.152207;2026-11-22\t11:25:21.156336\t1795346721.156336;00:00:01;00:00:06;10;0;1.6592;0;10;0;0;10;7;3;3;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:04:213000;00:00:04:213000;00:00:00:002000;00:00:00:002000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;3;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:21.156439\t1795346721.156439;2026-11-22\t11:25:22.160342\t1795346722.160342;00:00:01;00:00:07;10;0;1.42227;0;10;0;0;10;2;5;8;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:04:211000;00:00:04:212000;00:00:00:003000;00:00:00:003000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;8;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:22.160456\t1795346722.160456;2026-11-22\t11:25:22.369523\t1795346722.369523;00:00:00;00:00:07;10;0;1.38122;0;10;0;0;10;0;2;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:04:212000;00:00:04:212000;00:00:00:005000;00:00:00:003000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;10;0;0;
2026-11-22\t11:25:15.128746\t1795346715.128746;2026-11-22\t11:25:22.369627\t1795346722.369627;2026-11-22\t11:25:22.369827\t1795346722.369827;00:00:00;00:00:07;10;0;1.38102;0;10;0;0;10;0;0;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:002000;00:00:00:000000;00:00:00:003000;00:00:00:000000;00:00:04:212000;00:00:00:000000;00:00:00:003000;;10;0;0;0;0;0;0;0;0;;0;0;0;0;0;10;0;0;
";
