//! Command-line parsing: defaults, positional forms, errors.

use trunkline_loadgen::options::{
    Command, Options, OptionsError, RtCheck, ScenarioSource, Transport, exit, help_text,
    parse_args, parse_time, split_host_port, unsupported_options,
};

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn run(s: &str) -> Options {
    match parse_args(args(s)) {
        Ok(Command::Run(o)) => *o,
        other => panic!("{s}: expected Run, got {other:?}"),
    }
}

fn err(s: &str) -> OptionsError {
    match parse_args(args(s)) {
        Err(e) => e,
        Ok(c) => panic!("{s}: expected an error, got {c:?}"),
    }
}

#[test]
fn defaults_are_sipps() {
    let o = run("127.0.0.1");
    assert_eq!(o.scenario, ScenarioSource::Builtin("uac".into()));
    assert_eq!(o.remote_host.as_deref(), Some("127.0.0.1"));
    assert_eq!(o.remote_port, 5060);
    assert_eq!(o.rate, 10.0);
    assert_eq!(o.rate_period_ms, 1000);
    assert_eq!(o.duration_ms, 0);
    assert_eq!(o.dump_freq_ms, 60_000);
    assert_eq!(o.report_freq_ms, 1000);
    assert_eq!(o.rtt_freq, 200);
    assert_eq!(o.max_retrans, 9);
    assert_eq!(o.max_invite_retrans, 5);
    assert_eq!(o.max_non_invite_retrans, 9);
    assert_eq!(o.t2_ms, 4000);
    assert_eq!(o.deadcall_wait_ms, 33000);
    assert_eq!(o.service, "service");
    assert_eq!(o.auth_password, "password");
    assert_eq!(o.cid_str, "%u-%p@%s");
    assert_eq!(o.base_cseq, 1);
    assert_eq!(o.stat_delimiter, ";");
    assert_eq!(o.transport, Transport::UdpMono);
    assert_eq!(o.rtcheck, RtCheck::Full);
    assert!(o.retrans_enabled);
    assert!(
        o.default_behaviors.bye
            && o.default_behaviors.abort_unexp
            && o.default_behaviors.ping_reply
    );
    assert_eq!(o.limit, None);
    assert_eq!(o.max_calls, None);
    assert_eq!(o.users, None);
    assert_eq!(o.local_port, None);
    assert_eq!(o.rate_interval(), 60_000);
    assert_eq!(o.auth_user(), "service");
    assert!(!o.json);
}

#[test]
fn no_args_help_version_dump() {
    assert_eq!(parse_args(Vec::<String>::new()).unwrap(), Command::Help);
    assert_eq!(parse_args(args("-h")).unwrap(), Command::Help);
    assert_eq!(parse_args(args("--help")).unwrap(), Command::Help);
    assert_eq!(parse_args(args("-v")).unwrap(), Command::Version);
    assert_eq!(
        parse_args(args("-sd uas")).unwrap(),
        Command::DumpScenario("uas".into())
    );
    assert!(matches!(err("-sd"), OptionsError::MissingArgument(f) if f == "-sd"));
    let h = help_text();
    assert!(h.contains("-trace_stat"));
    assert!(h.contains("--shards"));
    assert!(h.contains("not supported"));
}

#[test]
fn positional_forms() {
    let o = run("10.0.0.1:5070");
    assert_eq!(
        (o.remote_host.as_deref(), o.remote_port),
        (Some("10.0.0.1"), 5070)
    );
    let o = run("[::1]:5080 -sn uac");
    assert_eq!(
        (o.remote_host.as_deref(), o.remote_port),
        (Some("::1"), 5080)
    );
    let o = run("-sn uac [2001:db8::1]");
    assert_eq!(
        (o.remote_host.as_deref(), o.remote_port),
        (Some("2001:db8::1"), 5060)
    );
    let o = run("::1");
    assert_eq!(
        (o.remote_host.as_deref(), o.remote_port),
        (Some("::1"), 5060)
    );
    let o = run("example.com");
    assert_eq!(o.remote_host.as_deref(), Some("example.com"));
    assert_eq!(split_host_port("h:1"), Ok(("h".into(), Some(1))));
    assert!(split_host_port("[::1").is_err());
    assert!(parse_args(args("host:notaport")).is_err());
    let o = run("-sn uas");
    assert_eq!(o.remote_host, None);
}

#[test]
fn values_and_units() {
    let o = run(
        "-sf dir/my_scen.xml -r 7.5 -rp 2s -d 1m -l 30 -m 100 -fd 5 -f 2 -timeout 10 \
         -recv_timeout 2s -T2 3000 -p 5070 -i 127.0.0.2 -mp 6002 -s bob -au alice -ap pw \
         -base_cseq 10 -trace_stat -trace_rtt -rtt_freq 10 -stf out.csv -nr -aa \
         -key foo bar -set v1 x -inf a/users.csv -infindex users.csv 0 -rtcheck loose \
         -t un -shards 2 --cpus 0,2-3 --json 127.0.0.1",
    );
    assert_eq!(o.scenario, ScenarioSource::File("dir/my_scen.xml".into()));
    assert_eq!(o.scenario.file_stem(), "my_scen");
    assert_eq!(o.rate, 7.5);
    assert_eq!(o.rate_period_ms, 2000);
    assert_eq!(o.duration_ms, 60_000);
    assert_eq!(o.limit, Some(30));
    assert_eq!(o.max_calls, Some(100));
    assert_eq!(o.dump_freq_ms, 5000);
    assert_eq!(o.report_freq_ms, 2000);
    assert_eq!(o.global_timeout_ms, 10_000);
    assert_eq!(o.recv_timeout_ms, 2000);
    assert_eq!(o.t2_ms, 3000);
    assert_eq!(o.local_port, Some(5070));
    assert_eq!(o.local_ip.as_deref(), Some("127.0.0.2"));
    assert_eq!(o.media_port, Some(6002));
    assert_eq!(o.service, "bob");
    assert_eq!(o.auth_user(), "alice");
    assert_eq!(o.auth_password, "pw");
    assert_eq!(o.base_cseq, 10);
    assert!(o.trace_stat && o.trace_rtt);
    assert_eq!(o.rtt_freq, 10);
    assert_eq!(o.stat_file.as_deref(), Some("out.csv"));
    assert!(!o.retrans_enabled);
    assert!(o.auto_answer);
    assert_eq!(o.keys, vec![("foo".into(), "bar".into())]);
    assert_eq!(o.set_vars, vec![("v1".into(), "x".into())]);
    assert_eq!(o.infindex, vec![("users.csv".into(), 0)]);
    assert_eq!(o.rtcheck, RtCheck::Loose);
    assert_eq!(o.transport, Transport::UdpMulti);
    assert_eq!(o.shards, Some(2));
    assert_eq!(o.cpus, Some(vec![0, 2, 3]));
    assert!(o.json);
    assert_eq!(o.rate_interval(), 5000);
}

#[test]
fn users_and_limit() {
    let o = run("-users 50 h");
    assert_eq!(o.users, Some(50));
    assert_eq!(o.limit, Some(50));
    assert!(matches!(err("-users 5 -l 3 h"), OptionsError::Conflict(_)));
}

#[test]
fn default_behaviors() {
    let o = run("-nd h");
    assert!(
        !o.default_behaviors.bye
            && !o.default_behaviors.abort_unexp
            && !o.default_behaviors.ping_reply
    );
    let o = run("-default_behaviors all,-bye h");
    assert!(
        !o.default_behaviors.bye
            && o.default_behaviors.abort_unexp
            && o.default_behaviors.ping_reply
    );
    let o = run("-default_behaviors pingreply h");
    assert!(
        !o.default_behaviors.bye
            && !o.default_behaviors.abort_unexp
            && o.default_behaviors.ping_reply
    );
    let e = err("-default_behaviors foo h");
    assert!(e.to_string().contains("-default_behaviors"), "{e}");
    assert!(e.to_string().contains("foo"), "{e}");
}

#[test]
fn errors_name_the_flag() {
    let e = err("-r x h");
    assert_eq!(e.to_string(), "-r: expected a number, got 'x'");
    assert_eq!(e.exit_code(), exit::BAD_ARGS);
    assert_eq!(
        err("-m 1.5 h").to_string(),
        "-m: expected an integer, got '1.5'"
    );
    assert!(
        err("-d 5x h")
            .to_string()
            .starts_with("-d: expected a time")
    );
    assert!(
        err("-d 1:30 h")
            .to_string()
            .starts_with("-d: expected a time")
    );
    assert!(matches!(err("-foo h"), OptionsError::Unknown(a) if a == "-foo"));
    assert!(matches!(err("h -p"), OptionsError::MissingArgument(a) if a == "-p"));
    assert!(matches!(err("-key onlyone"), OptionsError::MissingArgument(a) if a == "-key"));
    assert!(err("-p 70000 h").to_string().starts_with("-p: expected"));
    assert!(err("-t xyz h").to_string().starts_with("-t: expected"));
    assert!(
        err("-message_overwrite maybe h")
            .to_string()
            .starts_with("-message_overwrite: expected a boolean")
    );
    assert!(
        err("-cpus 3-1 h")
            .to_string()
            .starts_with("-cpus: expected")
    );
    assert!(
        err("-shards 0 h")
            .to_string()
            .starts_with("-shards: expected")
    );
    assert!(matches!(
        err("-shards 3 -cpus 0,1 h"),
        OptionsError::Conflict(_)
    ));
    assert!(matches!(err("-t ui h"), OptionsError::Conflict(_)));
    assert!(matches!(
        err("-sn uac -sf x.xml h"),
        OptionsError::Conflict(_)
    ));
    assert!(matches!(
        err("-infindex x.csv 0 h"),
        OptionsError::Conflict(_)
    ));
    assert!(matches!(err("-timeout_error h"), OptionsError::Conflict(_)));
}

#[test]
fn unsupported_are_rejected_clearly() {
    for (cmd, flag) in [
        ("-t t1 h", "-t t1"),
        ("-t tn h", "-t tn"),
        ("-t l1 h", "-t l1"),
        ("-rtp_echo h", "-rtp_echo"),
        ("-3pcc 1.2.3.4:5 h", "-3pcc"),
        ("-tls_cert x h", "-tls_cert"),
        ("-trace_calldebug h", "-trace_calldebug"),
    ] {
        match err(cmd) {
            OptionsError::Unsupported { flag: f, .. } => assert_eq!(f, flag),
            other => panic!("{cmd}: {other:?}"),
        }
        assert!(err(cmd).to_string().contains("not supported by trunkload"));
    }
    let list = unsupported_options();
    assert!(list.contains(&"rtp_echo"));
    assert!(!list.contains(&"trace_stat"));
}

#[test]
fn time_parser() {
    assert_eq!(parse_time("-x", "5", 1000), Ok(5000));
    assert_eq!(parse_time("-x", "5", 1), Ok(5));
    assert_eq!(parse_time("-x", "1.5s", 1), Ok(1500));
    assert_eq!(parse_time("-x", "250ms", 1000), Ok(250));
    assert_eq!(parse_time("-x", "2h", 1), Ok(7_200_000));
    assert!(parse_time("-x", "s", 1).is_err());
    assert!(parse_time("-x", "-1", 1).is_err());
}

#[test]
fn double_dash_and_hex_like_sipp() {
    let o = run("--r 3 -m 0x10 h");
    assert_eq!(o.rate, 3.0);
    assert_eq!(o.max_calls, Some(16));
}

#[test]
fn open_call_limit_default_like_sipp() {
    use trunkline_loadgen::scenario::{Common, Element, ElementKind, Pause, Scenario};
    let pause = |p: Pause| Element {
        kind: ElementKind::Pause(p),
        common: Common::default(),
        line: 0,
    };
    let uac_like = Scenario {
        elements: vec![pause(Pause::Default)],
        ..Scenario::default()
    };
    // uac sample: -r 5 -d 200 -> limit 15; compat: -r 10 -> 30.
    assert_eq!(run("-r 5 -d 200 h").open_calls_allowed(&uac_like), 15);
    assert_eq!(run("h").open_calls_allowed(&uac_like), 30);
    assert_eq!(run("-d 5000 h").open_calls_allowed(&uac_like), 150);
    assert_eq!(run("-r 0.1 h").open_calls_allowed(&uac_like), 1);
    assert_eq!(
        run("-r 7 -rp 2000 -d 4s h").open_calls_allowed(&uac_like),
        42
    );
    let uas_like = Scenario {
        elements: vec![pause(Pause::Fixed(4000))],
        ..Scenario::default()
    };
    assert_eq!(run("h").open_calls_allowed(&uas_like), 120);
    assert_eq!(run("-l 7 h").open_calls_allowed(&uas_like), 7);
    assert_eq!(run("-users 9 h").open_calls_allowed(&uas_like), 9);
    let uniform = Scenario {
        elements: vec![pause(Pause::Uniform {
            min: 1000,
            max: 2000,
        })],
        ..Scenario::default()
    };
    assert_eq!(run("h").scenario_duration_ms(&uniform), 1990.0);
}
