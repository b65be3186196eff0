//! The scenario loader on hand-written scenarios: every element, common
//! attribute and action of compat §3 that the model expresses, and the
//! errors (with their line:column) for what it refuses.

use trunkline_loadgen::scenario::*;

/// Wraps `body` in a document: body line 1 is file line 3.
fn doc(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"t\">\n{body}\n</scenario>\n"
    )
}

fn load(body: &str) -> Result<Scenario, ScenarioError> {
    load_str(&doc(body), "t.xml", "t", &LoadOptions::default())
}

fn ok(body: &str) -> Scenario {
    load(body).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts a load error at `line:col` whose text contains `msg`.
fn fails(body: &str, line: u32, col: u32, msg: &str) {
    let e = load(body).expect_err(body);
    let s = e.to_string();
    assert!(
        s.starts_with(&format!("t.xml:{line}:{col}: ")),
        "want t.xml:{line}:{col}, got: {s}\n{body}"
    );
    assert!(s.contains(msg), "want '{msg}' in: {s}");
}

/// A one-line client send (keeps error line numbers simple).
const INVITE: &str = "<send><![CDATA[INVITE sip:x SIP/2.0]]></send>";
const INVITE_ML: &str = "<send><![CDATA[\n  INVITE sip:x SIP/2.0\n  Content-Length: 0\n]]></send>";

fn lit(s: &str) -> Segment {
    Segment::Literal(s.as_bytes().to_vec())
}

fn kw(kind: KeywordKind) -> Segment {
    Segment::Keyword(Keyword { kind, offset: 0 })
}

fn send(sc: &Scenario, i: usize) -> &Send {
    match &sc.elements[i].kind {
        ElementKind::Send(s) => s,
        k => panic!("{k:?}"),
    }
}

fn recv(sc: &Scenario, i: usize) -> &Recv {
    match &sc.elements[i].kind {
        ElementKind::Recv(r) => r,
        k => panic!("{k:?}"),
    }
}

fn var(sc: &Scenario, name: &str) -> VarId {
    sc.variables
        .iter()
        .position(|v| v == name)
        .unwrap_or_else(|| panic!("no variable {name}: {:?}", sc.variables))
}

#[test]
fn send_text_is_cleaned_and_crlf() {
    let sc = ok(INVITE_ML);
    let s = send(&sc, 0);
    assert_eq!(
        s.template.segments,
        vec![lit("INVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")]
    );
    assert_eq!(s.what, SendWhat::Request("INVITE".into()));
    assert_eq!(sc.elements[0].line, 3);
    assert_eq!(sc.mode, Mode::Client);
    assert_eq!(sc.file_stem, "t");
    assert_eq!(sc.name, "t");
}

#[test]
fn body_gets_exactly_one_final_crlf() {
    let sc = ok(
        "<send><![CDATA[\n  INVITE sip:x SIP/2.0\n  Content-Length: [len]\n\n  v=0\n  a=b\n\n  ]]></send>",
    );
    assert_eq!(
        send(&sc, 0).template.segments,
        vec![
            lit("INVITE sip:x SIP/2.0\r\nContent-Length: "),
            kw(KeywordKind::Len),
            lit("\r\n\r\nv=0\r\na=b\r\n"),
        ]
    );
    // No newline before ]]>: no CRLF appended after the body.
    let sc = ok("<send><![CDATA[INVITE sip:x SIP/2.0\n\nv=0]]></send>");
    assert_eq!(
        send(&sc, 0).template.segments,
        vec![lit("INVITE sip:x SIP/2.0\r\n\r\nv=0")]
    );
}

#[test]
fn crlf_in_the_file_is_ignored() {
    let d = doc(INVITE_ML).replace('\n', "\r\n");
    let sc = load_str(&d, "t.xml", "t", &LoadOptions::default()).unwrap();
    assert_eq!(
        send(&sc, 0).template.segments,
        vec![lit("INVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")]
    );
}

#[test]
fn responses_and_send_attributes() {
    let sc = ok(r#"<recv request="INVITE"/>
<send retrans="500" timeout="0x10"><![CDATA[SIP/2.0 180 Ringing
[last_Via:]
Content-Length: 0
]]></send>
<send retrans="0"><![CDATA[SIP/2.0 200 OK]]></send>"#);
    assert_eq!(sc.mode, Mode::Server);
    let s = send(&sc, 1);
    assert_eq!(s.what, SendWhat::Response(180));
    assert_eq!(s.retrans, Some(500));
    assert_eq!(s.timeout, Some(16));
    assert_eq!(send(&sc, 2).retrans, None);
    assert_eq!(
        s.template.segments,
        vec![
            lit("SIP/2.0 180 Ringing\r\n"),
            kw(KeywordKind::LastHeader {
                name: "Via".into(),
                colon: true
            }),
            lit("\r\nContent-Length: 0\r\n\r\n"),
        ]
    );
}

#[test]
fn recv_attributes() {
    let sc = ok(r#"<send><![CDATA[REGISTER x SIP/2.0]]></send>
<recv response="100" optional="true" advance_state="false"/>
<recv response="180" optional="global" timeout="2000" ontimeout="end" rrs="true" auth="true" ignoresdp="true"/>
<recv request="INVITE|BYE" regexp_match="true"/>
<recv request="ACK" regexp_match="yes"/>
<label id="end"/>"#);
    let r = recv(&sc, 1);
    assert!(matches!(r.matcher, RecvMatch::Response(100)));
    assert_eq!(r.optional, Optional::Yes);
    assert!(!r.advance_state);
    let r = recv(&sc, 2);
    assert_eq!(r.optional, Optional::Global);
    assert_eq!(r.timeout, Some(2000));
    assert!(r.rrs && r.auth && r.ignoresdp);
    assert_eq!(sc.elements[2].common.ontimeout, Some(5));
    match &recv(&sc, 3).matcher {
        RecvMatch::RequestRegex(re) => {
            assert!(re.regex.is_match(b"BYE"));
            assert!(!re.regex.is_match(b"CANCEL"));
        }
        m => panic!("{m:?}"),
    }
    // Only regexp_match="true" turns the regex on (SIPp compares to "true").
    assert!(matches!(&recv(&sc, 4).matcher, RecvMatch::Request(m) if m == "ACK"));
    assert_eq!(sc.labels.get("end"), Some(&5));
}

#[test]
fn pauses() {
    let sc = ok(r#"<send><![CDATA[OPTIONS x SIP/2.0]]></send>
<pause/>
<pause milliseconds="1500"/>
<pause milliseconds="0.5"/>
<pause distribution="fixed" value="20"/>
<pause distribution="uniform" min="10" max="30"/>
<pause min="1" max="2"/>
<pause distribution="normal" mean="100" stdev="10"/>
<pause distribution="exponential" mean="50"/>
<nop><action><assign assign_to="d" value="3"/></action></nop>
<pause variable="d"/>
<timewait milliseconds="4000"/>"#);
    let p = |i: usize| match &sc.elements[i].kind {
        ElementKind::Pause(p) | ElementKind::Timewait(p) => p.clone(),
        k => panic!("{k:?}"),
    };
    assert_eq!(p(1), Pause::Default);
    assert_eq!(p(2), Pause::Fixed(1500));
    assert_eq!(p(3), Pause::Fixed(0));
    assert_eq!(p(4), Pause::Fixed(20));
    assert_eq!(p(5), Pause::Uniform { min: 10, max: 30 });
    assert_eq!(p(6), Pause::Uniform { min: 1, max: 2 });
    assert_eq!(
        p(7),
        Pause::Normal {
            mean: 100.0,
            stdev: 10.0
        }
    );
    assert_eq!(p(8), Pause::Exponential { mean: 50.0 });
    assert_eq!(p(10), Pause::Variable(var(&sc, "d")));
    assert!(matches!(
        sc.elements[11].kind,
        ElementKind::Timewait(Pause::Fixed(4000))
    ));
}

#[test]
fn common_attributes() {
    let sc = ok(
        r#"<send start_rtd="a" counter="c1" crlf="false" display="hello" lost="2.5"><![CDATA[INVITE x SIP/2.0]]></send>
<recv response="200" rtd="a" repeat_rtd="true" counter="c1" hiderest="true">
  <action><ereg regexp="x" assign_to="v"/></action>
</recv>
<nop condexec="v" condexec_inverse="true" hide="false" next="l" test="v" chance="0.25"/>
<nop counter="c2" rtd="true" start_rtd="true"/>
<label id="l"/>"#,
    );
    let c0 = &sc.elements[0].common;
    assert_eq!(c0.start_rtd, Some(0));
    assert_eq!(c0.counter, Some(0));
    // SIPp: crlf="anything" is on.
    assert!(c0.crlf);
    assert_eq!(c0.display.as_deref(), Some("hello"));
    assert_eq!(c0.lost, Some(2.5));
    assert!(!c0.hide);
    let c1 = &sc.elements[1].common;
    assert_eq!(c1.rtd, Some(0));
    assert!(c1.repeat_rtd);
    assert_eq!(c1.counter, Some(0));
    assert!(c1.hide, "hiderest applies to its own element");
    let c2 = &sc.elements[2].common;
    let v = var(&sc, "v");
    assert_eq!(c2.condexec, Some(v));
    assert!(c2.condexec_inverse);
    assert!(!c2.hide);
    assert_eq!(c2.next, Some(4));
    assert_eq!(c2.test, Some(v));
    assert_eq!(c2.chance, Some(0.25));
    let c3 = &sc.elements[3].common;
    assert!(c3.hide, "hiderest carries on");
    assert_eq!(c3.counter, Some(1));
    assert_eq!(c3.rtd, Some(1));
    assert_eq!(c3.start_rtd, Some(1));
    assert_eq!(sc.rtds, vec!["a".to_string(), "1".to_string()]);
    assert_eq!(sc.counters, vec!["c1".to_string(), "c2".to_string()]);
}

#[test]
fn actions() {
    let sc = ok(r#"<recv request="INVITE">
  <action>
    <ereg regexp="a(b)(c)" search_in="hdr" header="From:" case_indep="true" occurence="2" start_line="true" check_it="true" assign_to="w,s1,s2"/>
    <ereg regexp="." search_in="body" check_it_inverse="true" assign_to="_"/>
    <ereg regexp="." search_in="var" variable="w" assign_to="_"/>
    <ereg regexp="x&amp;y" assign_to="_"/>
    <log message="got [$s1] &lt;"/>
    <warning message="w"/>
    <error message="e"/>
    <exec command="echo [call_id]"/>
    <exec int_cmd="stop_now"/>
    <exec int_cmd="stop_gracefully"/>
    <exec int_cmd="stop_call"/>
    <assign assign_to="d" value="1.5"/>
    <assign assign_to="e" variable="d"/>
    <assign assign_to="e" variable="e"/>
    <add assign_to="d" value="2"/>
    <subtract assign_to="d" variable="e"/>
    <multiply assign_to="d" value="3"/>
    <divide assign_to="d" value="4"/>
    <assignstr assign_to="s" value="[$s2]-[call_number]"/>
    <todouble assign_to="n" variable="s"/>
    <strcmp assign_to="r" variable="s" value="abc"/>
    <strcmp assign_to="r" variable="s" variable2="s2"/>
    <test assign_to="b" variable="n" compare="greater_than_equal" value="2"/>
    <test assign_to="b" variable="n" compare="not_equal" variable2="d"/>
    <gettimeofday assign_to="sec,usec"/>
    <jump value="0"/>
    <jump variable="n"/>
    <setdest host="[remote_ip]" port="5060" protocol="udp"/>
  </action>
</recv>
<send><![CDATA[SIP/2.0 200 OK
X: [$r][$b][$sec][$usec][$w]
]]></send>"#);
    let v = |n| var(&sc, n);
    let a = &sc.elements[0].common.actions;
    let mut i = a.iter();
    match i.next().unwrap() {
        Action::Ereg {
            regex,
            search_in,
            check_it,
            check_it_inverse,
            assign_to,
        } => {
            assert_eq!(regex.source, "a(b)(c)");
            assert_eq!(
                *search_in,
                SearchIn::Hdr {
                    header: "From:".into(),
                    case_indep: true,
                    occurrence: 2,
                    start_line: true
                }
            );
            assert!(*check_it && !*check_it_inverse);
            assert_eq!(*assign_to, vec![v("w"), v("s1"), v("s2")]);
        }
        x => panic!("{x:?}"),
    }
    assert!(matches!(
        i.next().unwrap(),
        Action::Ereg {
            search_in: SearchIn::Body,
            check_it: false,
            check_it_inverse: true,
            ..
        }
    ));
    assert!(
        matches!(i.next().unwrap(), Action::Ereg { search_in: SearchIn::Var(w), .. } if *w == v("w"))
    );
    assert!(matches!(i.next().unwrap(), Action::Ereg { regex, .. } if regex.source == "x&y"));
    assert_eq!(
        *i.next().unwrap(),
        Action::Log(Template {
            segments: vec![lit("got "), kw(KeywordKind::Var(v("s1"))), lit(" <")]
        })
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Warning(Template {
            segments: vec![lit("w")]
        })
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Error(Template {
            segments: vec![lit("e")]
        })
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::ExecCommand(Template {
            segments: vec![lit("echo "), kw(KeywordKind::CallId)]
        })
    );
    assert_eq!(*i.next().unwrap(), Action::ExecInt(IntCmd::StopNow));
    assert_eq!(*i.next().unwrap(), Action::ExecInt(IntCmd::StopGracefully));
    assert_eq!(*i.next().unwrap(), Action::ExecInt(IntCmd::StopCall));
    assert_eq!(
        *i.next().unwrap(),
        Action::Assign {
            var: v("d"),
            value: 1.5
        }
    );
    // assign from a variable: e = 0; e += d.
    assert_eq!(
        *i.next().unwrap(),
        Action::Assign {
            var: v("e"),
            value: 0.0
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("e"),
            op: ArithOp::Add,
            operand: Operand::Variable(v("d"))
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("e"),
            op: ArithOp::Add,
            operand: Operand::Value(0.0)
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("d"),
            op: ArithOp::Add,
            operand: Operand::Value(2.0)
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("d"),
            op: ArithOp::Subtract,
            operand: Operand::Variable(v("e"))
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("d"),
            op: ArithOp::Multiply,
            operand: Operand::Value(3.0)
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Arith {
            var: v("d"),
            op: ArithOp::Divide,
            operand: Operand::Value(4.0)
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::AssignStr {
            var: v("s"),
            value: Template {
                segments: vec![
                    kw(KeywordKind::Var(v("s2"))),
                    lit("-"),
                    kw(KeywordKind::CallNumber)
                ]
            }
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::ToDouble {
            var: v("n"),
            source: v("s")
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Strcmp {
            var: v("r"),
            left: v("s"),
            right: StrOperand::Value("abc".into())
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Strcmp {
            var: v("r"),
            left: v("s"),
            right: StrOperand::Variable(v("s2"))
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Test {
            var: v("b"),
            left: v("n"),
            compare: Compare::GreaterThanEqual,
            right: Operand::Value(2.0)
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::Test {
            var: v("b"),
            left: v("n"),
            compare: Compare::NotEqual,
            right: Operand::Variable(v("d"))
        }
    );
    assert_eq!(
        *i.next().unwrap(),
        Action::GetTimeOfDay {
            sec: v("sec"),
            usec: v("usec")
        }
    );
    assert_eq!(*i.next().unwrap(), Action::Jump(Operand::Value(0.0)));
    assert_eq!(*i.next().unwrap(), Action::Jump(Operand::Variable(v("n"))));
    assert_eq!(
        *i.next().unwrap(),
        Action::SetDest {
            host: Template {
                segments: vec![kw(KeywordKind::RemoteIp)]
            },
            port: Template {
                segments: vec![lit("5060")]
            }
        }
    );
    assert!(i.next().is_none());
}

#[test]
fn labels_init_defaults_scopes() {
    let sc = ok(r#"<Global variables="g"/>
<User variables="u"/>
<init>
  <label id="top"/>
  <nop><action><assign assign_to="g" value="1"/></action></nop>
  <nop next="top"/>
</init>
<DefaultMessage id="bye"><![CDATA[
  BYE [next_url] SIP/2.0
  X: [$u]
]]></DefaultMessage>
<label id="start"/>
<send><![CDATA[INVITE [$g] SIP/2.0]]></send>
<recv response="200"><action><assign assign_to="u" value="2"/></action></recv>
<label id="end"/>"#);
    assert_eq!(sc.labels.get("start"), Some(&0));
    assert_eq!(sc.labels.get("end"), Some(&2));
    assert_eq!(sc.init.len(), 2);
    assert_eq!(sc.init[1].common.next, Some(0));
    let g = var(&sc, "g");
    let u = var(&sc, "u");
    assert_eq!(sc.global_vars, vec![g]);
    assert_eq!(sc.user_vars, vec![u]);
    assert_eq!(find_global(&sc, "g"), Some(g));
    assert_eq!(find_global(&sc, "u"), None);
    assert_eq!(
        sc.default_messages["bye"].segments,
        vec![
            lit("BYE "),
            kw(KeywordKind::NextUrl),
            lit(" SIP/2.0\r\nX: "),
            kw(KeywordKind::Var(u)),
            lit("\r\n\r\n"),
        ]
    );
}

#[test]
fn keys_files_and_injection_checks() {
    let dir = std::env::temp_dir().join(format!("trunkload-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("body.sdp"), b"v=0\nx").unwrap();
    let opts = LoadOptions {
        keys: vec![("who".into(), "alice".into()), ("who".into(), "bob".into())],
        base_dir: Some(dir.clone()),
    };
    let x = doc(r#"<send><![CDATA[INVITE sip:[who]@x SIP/2.0
X: [field1 file="users.csv" line="[$n]"]
Y: [field0]

[file name="body.sdp"]]]></send>
<nop><action><assign assign_to="n" value="0"/></action></nop>"#);
    let sc = load_str(&x, "t.xml", "t", &opts).unwrap();
    let s = send(&sc, 0);
    assert_eq!(s.template.segments[0], lit("INVITE sip:"));
    assert_eq!(s.template.segments[1], lit("alice"), "first -key wins");
    assert_eq!(
        *s.template.segments.last().unwrap(),
        kw(KeywordKind::File(b"v=0\nx".to_vec()))
    );
    assert!(check_injection_files(&sc, "t.xml", &["users.csv".into()]).is_ok());
    let e = check_injection_files(&sc, "t.xml", &[]).unwrap_err();
    assert!(
        e.to_string().contains("Invalid injection file: users.csv"),
        "{e}"
    );
    let only_default = ok("<send><![CDATA[INVITE x SIP/2.0\nX: [field2]]]></send>");
    let e = check_injection_files(&only_default, "t.xml", &[]).unwrap_err();
    assert_eq!(e.to_string(), "t.xml:3:1: No injection file was specified!");
    assert!(check_injection_files(&only_default, "t.xml", &["a.csv".into()]).is_ok());
    let e = check_injection_files(&sc, "t.xml", &["other.csv".into()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.xml:3:1: Invalid injection file: users.csv"
    );
    // Without base_dir the path is relative to the working directory.
    let e = load_str(
        &x,
        "t.xml",
        "t",
        &LoadOptions {
            keys: opts.keys.clone(),
            base_dir: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("Could not open 'body.sdp'"), "{e}");
    let e = load_str(&x, "t.xml", "t", &LoadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.xml:3:27: Unsupported keyword 'who' in xml scenario file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_file_stem_and_io_error() {
    let dir = std::env::temp_dir().join(format!("trunkload-scf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("my_scen.xml");
    std::fs::write(&p, doc(INVITE)).unwrap();
    let sc = load_file(&p, &LoadOptions::default()).unwrap();
    assert_eq!(sc.file_stem, "my_scen");
    let e = load_file(&dir.join("missing.xml"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)), "{e}");
    assert!(
        e.to_string().contains("missing.xml:0:0: cannot read"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn structural_errors() {
    fails("<foo/>", 3, 1, "Unknown element 'foo'");
    fails(
        "<send retrans=\"5\" retrnas=\"5\"><![CDATA[INVITE x SIP/2.0]]></send>",
        3,
        19,
        "unknown attribute 'retrnas' on <send>",
    );
    fails(
        "<sendCmd><![CDATA[x y]]></sendCmd>",
        3,
        1,
        "<sendCmd> (3PCC) is not supported",
    );
    fails("<recvCmd/>", 3, 1, "not supported");
    fails(
        &format!("{INVITE}\n<timewait/>\n{INVITE}"),
        5,
        1,
        "<timewait> can only be the last message",
    );
    fails(
        &format!("<label id=\"a\"/>\n{INVITE}\n<label id=\"a\"/>"),
        5,
        8,
        "The label name 'a' is used twice.",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"200\" next=\"nowhere\"/>"),
        4,
        22,
        "The label 'nowhere' was not defined (index 1, next attribute)",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"200\" ontimeout=\"x\"/>"),
        4,
        22,
        "ontimeout attribute",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"100\" optional=\"true\"/>\n{INVITE}"),
        5,
        1,
        "<recv> before <send> sequence without a mandatory message",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"100\" advance_state=\"false\"/>"),
        4,
        22,
        "advance_state is allowed only for optional messages",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"100\" optional=\"maybe\"/>"),
        4,
        22,
        "Could not understand optional value",
    );
    fails("<send><![CDATA[ x ]]></send>", 3, 1, "Empty cdata");
    fails("<send></send>", 3, 1, "No CDATA in 'send' section");
    fails(
        "<send><![CDATA[[service] x]]></send>",
        3,
        16,
        "You can not use a keyword for the METHOD",
    );
    fails(
        "<send><![CDATA[SIP/2.0 99 x]]></send>",
        3,
        16,
        "Response codes must be in the range of 100-700",
    );
    fails("<pause/>", 2, 1, "Unable to determine creation mode");
    fails("", 2, 1, "Did not find any messages inside of scenario!");
    fails(
        &format!("{INVITE}\n<recv/>"),
        4,
        1,
        "without 'response' or 'request'",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"2x\"/>"),
        4,
        7,
        "\"2x\" is not a valid integer!",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"200\"><foo/></recv>"),
        4,
        22,
        "takes no child element <foo>",
    );
    fails(
        &format!("{INVITE}\n<recv response=\"200\"><action/><action/></recv>"),
        4,
        31,
        "Duplicate action",
    );
    fails(
        &format!("{INVITE}\n<pause milliseconds=\"abc\"/>"),
        4,
        8,
        "not a valid floating point number",
    );
    fails(
        &format!("{INVITE}\n<pause distribution=\"lognormal\" mean=\"1\" stdev=\"1\"/>"),
        4,
        8,
        "'lognormal' pause distribution is not supported",
    );
    fails(
        &format!("{INVITE}\n<pause distribution=\"zipf\"/>"),
        4,
        8,
        "Unknown distribution: zipf",
    );
    fails(
        &format!("{INVITE}\n<pause distribution=\"uniform\" min=\"1\"/>"),
        4,
        1,
        "Uniform distribution is missing the required 'max' parameter",
    );
    fails(
        &format!("{INVITE}\n<pause milliseconds=\"3000000000\"/>"),
        4,
        8,
        "larger than INT_MAX",
    );
    fails(
        &format!("{INVITE}\n<pause mean=\"100\"/>"),
        4,
        8,
        "attribute 'mean' is not used by this <pause>",
    );
    fails(
        &format!("{INVITE}\n<pause variable=\"v\" milliseconds=\"5\"/>"),
        4,
        21,
        "attribute 'milliseconds' is not used",
    );
    fails(
        &format!("{INVITE}\n<pause distribution=\"fixed\" value=\"5\" min=\"1\"/>"),
        4,
        39,
        "attribute 'min' is not used",
    );
    fails(
        &format!("{INVITE}\n<timewait milliseconds=\"5\" mean=\"1\"/>"),
        4,
        28,
        "not used by this <timewait>",
    );
    fails(
        &format!("{INVITE}\n<nop next=\"a\" chance=\"2\"/><label id=\"a\"/>"),
        4,
        15,
        "Chance 2 not in range [0..1]",
    );
    fails(
        &format!("{INVITE}\n<nop repeat_rtd=\"true\"/>"),
        4,
        6,
        "repeat_rtd element without an rtd",
    );
    fails(
        &format!("{INVITE}\n<nop start_rtd=\"x\"/>"),
        4,
        6,
        "started Response Time Duration x, but have never stopped it",
    );
    fails(
        &format!("{INVITE}\n<timewait milliseconds=\"1\" next=\"a\"/><label id=\"a\"/>"),
        4,
        28,
        "next labels are not allowed in <timewait>",
    );
    fails(
        "<init><send/></init>",
        3,
        7,
        "Invalid element in an init stanza: 'send'",
    );
    fails(
        &format!("{INVITE}\n<DefaultMessage id=\"foo\"><![CDATA[x y]]></DefaultMessage>"),
        4,
        17,
        "Unknown default message: foo",
    );
    fails(
        &format!("{INVITE}\n<ResponseTimeRepartition value=\"10,,20\"/>"),
        4,
        26,
        "Could not create table for response time repartition",
    );
}

#[test]
fn keyword_errors_point_into_the_cdata() {
    fails(
        "<send><![CDATA[\n   INVITE x SIP/2.0\n   X: [nope]\n]]></send>",
        5,
        7,
        "Unsupported keyword 'nope'",
    );
    fails(
        "<send><![CDATA[INVITE x SIP/2.0\nX: [tdmmap]]]></send>",
        4,
        4,
        "the [tdmmap] keyword is not supported",
    );
    fails(
        "<send><![CDATA[INVITE x SIP/2.0\nX: [authentication username=a aka_OP=b]]]></send>",
        4,
        4,
        "AKAv1-MD5 authentication",
    );
    fails(
        "<send><![CDATA[INVITE x SIP/2.0\nX: [len\n]]></send>",
        4,
        4,
        "Syntax error or invalid [keyword] in scenario while parsing '[len'",
    );
    fails(
        &format!("{INVITE}\n<nop><action><log message=\"a [oops]\"/></action></nop>"),
        4,
        28,
        "Unsupported keyword 'oops'",
    );
}

#[test]
fn attributes_without_effect_are_refused() {
    let r = "<recv response=\"200\"";
    fails(
        &format!("{INVITE}\n{r} test=\"v\"/>"),
        4,
        22,
        "'test' has no effect without 'next'",
    );
    fails(
        &format!("{INVITE}\n{r} chance=\"0.5\"/>"),
        4,
        22,
        "'chance' has no effect without 'next'",
    );
    fails(
        &format!("{INVITE}\n{r} condexec_inverse=\"true\"/>"),
        4,
        22,
        "without 'condexec'",
    );
    fails(
        &format!("{INVITE}\n<pause ignoresdp=\"true\"/>"),
        4,
        8,
        "'ignoresdp' has no effect outside <recv>",
    );
    fails(
        &format!("{INVITE}\n<nop lost=\"5\"/>"),
        4,
        6,
        "'lost' has no effect outside <send> and <recv>",
    );
    fails(
        &format!("{INVITE}\n<pause ontimeout=\"x\"/>"),
        4,
        8,
        "'ontimeout' has no effect",
    );
    fails(
        &format!("{INVITE}\n{r} regexp_match=\"true\"/>"),
        4,
        22,
        "'regexp_match' has no effect with 'response'",
    );
    fails(
        "<send start_txn=\"a\" ack_txn=\"a\"><![CDATA[INVITE x SIP/2.0]]></send>",
        3,
        21,
        "'ack_txn' has no effect next to 'start_txn'",
    );
    fails(
        &format!(
            "{INVITE}\n{r}><action><ereg regexp=\"x\" header=\"To:\" assign_to=\"_\"/></action></recv>"
        ),
        4,
        47,
        "'header' has no effect without search_in",
    );
    // The same attributes where they do something load.
    ok(&format!(
        "{INVITE}\n{r} next=\"a\" test=\"v\" chance=\"0.5\" lost=\"1\" ignoresdp=\"true\" ontimeout=\"a\"><action><ereg regexp=\"x\" assign_to=\"v\"/></action></recv>\n<label id=\"a\"/>"
    ));
}

#[test]
fn variable_checks() {
    // Assigned, never used.
    fails(
        &format!("{INVITE}\n<nop><action><assign assign_to=\"x\" value=\"1\"/></action></nop>"),
        4,
        22,
        "Variable $x is referenced 1 times!",
    );
    // Used, never assigned.
    fails(
        "<send><![CDATA[INVITE [$y] SIP/2.0]]></send>",
        3,
        23,
        "Variable $y is referenced 1 times!",
    );
    // "_" is exempt; _unexp.retaddr counts SIPp's own lookup.
    ok(&format!(
        "{INVITE}\n<nop><action><ereg regexp=\"x\" assign_to=\"_\"/><assign assign_to=\"_unexp.retaddr\" value=\"1\"/></action></nop>"
    ));
    // Global declared but unused.
    fails(
        &format!("<Global variables=\"g\"/>\n{INVITE}"),
        3,
        9,
        "Variable $g is referenced 1 times!",
    );
    // SIPp does not trim: "a, b" declares " b".
    fails(
        &format!(
            "<Global variables=\"a, b\"/>\n{INVITE}\n<nop><action><assign assign_to=\"a\" value=\"1\"/></action></nop>"
        ),
        3,
        9,
        "Variable $ b is referenced 1 times!",
    );
    fails(
        &format!("<Reference variables=\"r\"/>\n{INVITE}"),
        3,
        12,
        "Could not reference non-existant variable 'r'",
    );
    ok(&format!(
        "{INVITE}\n<nop><action><assign assign_to=\"r\" value=\"1\"/></action></nop>\n<Reference variables=\"r\"/>"
    ));
    fails(
        &format!("{INVITE}\n<nop><action><assign assign_to=\"a$b\" value=\"1\"/></action></nop>"),
        4,
        22,
        "may not contain",
    );
}

#[test]
fn action_errors() {
    let a = |x: &str| format!("{INVITE}\n<nop><action>{x}</action></nop>");
    fails(
        &a("<sample assign_to=\"x\" distribution=\"fixed\" value=\"1\"/>"),
        4,
        14,
        "the <sample> action is not supported",
    );
    fails(
        &a("<verifyauth assign_to=\"x\"/>"),
        4,
        14,
        "missing the required 'username' parameter",
    );
    fails(
        &a("<lookup assign_to=\"x\"/>"),
        4,
        14,
        "missing the required 'file' parameter",
    );
    fails(
        &a("<insert file=\"f\" value=\"v\"/>"),
        4,
        14,
        "not supported",
    );
    fails(&a("<frobnicate/>"), 4, 14, "Unknown action: frobnicate");
    fails(
        &a("<exec play_pcap_audio=\"x.pcap\"/>"),
        4,
        20,
        "<exec play_pcap_audio> (media) is not supported",
    );
    fails(&a("<exec rtp_stream=\"x\"/>"), 4, 20, "not supported");
    fails(&a("<exec/>"), 4, 14, "illegal <exec>");
    fails(
        &a("<exec int_cmd=\"stop\"/>"),
        4,
        20,
        "unknown int_cmd \"stop\"",
    );
    fails(
        &a("<ereg regexp=\"(\" assign_to=\"_\"/>"),
        4,
        20,
        "invalid regular expression '('",
    );
    fails(
        &a("<ereg regexp=\"x\"/>"),
        4,
        14,
        "assign_to value is missing",
    );
    fails(
        &a("<ereg regexp=\"x\" search_in=\"hdr\" assign_to=\"_\"/>"),
        4,
        31,
        "search_in=\"hdr\" requires header field",
    );
    fails(
        &a("<ereg regexp=\"x\" search_in=\"nowhere\" assign_to=\"_\"/>"),
        4,
        31,
        "Unknown search_in value nowhere",
    );
    fails(
        &a("<ereg regexp=\"x\" check_it=\"true\" check_it_inverse=\"true\" assign_to=\"_\"/>"),
        4,
        47,
        "Can not have both check_it and check_it_inverse for ereg!",
    );
    fails(
        &a("<ereg regexp=\"x\" assign_to=\"_,_,_,_,_,_,_,_,_,_,_\"/>"),
        4,
        31,
        "nine sub expressions",
    );
    fails(
        &a("<assign assign_to=\"_\"/>"),
        4,
        14,
        "No value or variable defined for assign action!",
    );
    fails(
        &a("<assign assign_to=\"_\" value=\"1\" variable=\"_\"/>"),
        4,
        46,
        "mutually exclusive",
    );
    fails(
        &a("<divide assign_to=\"_\" value=\"0\"/>"),
        4,
        36,
        "divide actions can not have a value of zero!",
    );
    fails(
        &a("<test assign_to=\"_\" variable=\"_\" compare=\"eq\" value=\"1\"/>"),
        4,
        47,
        "Invalid 'compare' parameter: eq",
    );
    fails(
        &a(
            "<test assign_to=\"_\" variable=\"_\" compare=\"equal\" value=\"1\" check_it=\"true\"/>",
        ),
        4,
        73,
        "check_it on <test> is not supported",
    );
    fails(
        &a("<strcmp assign_to=\"_\" variable=\"_\" value=\"1\" variable2=\"_\"/>"),
        4,
        59,
        "Can not have both a value and a variable2 for strcmp!",
    );
    fails(
        &a("<gettimeofday assign_to=\"a\"/>"),
        4,
        28,
        "requires two output variables",
    );
    fails(
        &a("<setdest host=\"h\" port=\"1\" protocol=\"tcp\"/>"),
        4,
        41,
        "setdest protocol tcp is not supported",
    );
    fails(
        &a("<setdest host=\"h\" port=\"1\" protocol=\"xyz\"/>"),
        4,
        41,
        "Unknown transport for setdest: 'xyz'",
    );
    fails(
        &a("<log/>"),
        4,
        14,
        "log is missing the required 'message' parameter",
    );
    fails(
        &a("<log message=\"x\" level=\"1\"/>"),
        4,
        31,
        "unknown attribute 'level' on <log>",
    );
}

#[test]
fn txn_checks() {
    let inv = "<send start_txn=\"t\"><![CDATA[INVITE x SIP/2.0]]></send>";
    ok(&format!(
        "{inv}\n<recv response=\"200\" response_txn=\"t\"/>\n<send ack_txn=\"t\"><![CDATA[ACK x SIP/2.0]]></send>"
    ));
    let s = ok(&format!(
        "{inv}\n<recv response=\"200\" response_txn=\"t\"/>\n<send ack_txn=\"t\"><![CDATA[ACK x SIP/2.0]]></send>"
    ));
    assert_eq!(send(&s, 0).start_txn.as_deref(), Some("t"));
    assert_eq!(recv(&s, 1).response_txn.as_deref(), Some("t"));
    assert_eq!(send(&s, 2).ack_txn.as_deref(), Some("t"));
    fails(
        &format!("{inv}\n<recv response=\"200\" response_txn=\"t\"/>"),
        2,
        1,
        "Transaction t is an INVITE transaction without an ACK!",
    );
    fails(
        &format!("{inv}\n<recv response=\"200\"/>"),
        2,
        1,
        "Transaction t has no responses defined!",
    );
    fails(
        "<send ack_txn=\"t\"><![CDATA[INVITE x SIP/2.0]]></send>",
        3,
        7,
        "ack_txn attribute is valid only for ACK",
    );
    fails(
        "<send start_txn=\"t\"><![CDATA[ACK x SIP/2.0]]></send>",
        3,
        7,
        "An ACK message can not start a transaction!",
    );
    fails(
        "<send start_txn=\"t\"><![CDATA[SIP/2.0 200 OK]]></send>",
        3,
        7,
        "Responses can not start a transaction",
    );
    fails(
        "<send response_txn=\"t\"><![CDATA[INVITE x SIP/2.0]]></send>",
        3,
        7,
        "response_txn can only be used for received messages.",
    );
}

#[test]
fn xml_errors_have_positions() {
    let e = load_str("<scenario/>", "x.xml", "x", &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("x.xml:1:1: Unable to load or parse"),
        "{e}"
    );
    fails(
        "<send retrans='5'><![CDATA[INVITE x SIP/2.0]]></send>",
        3,
        15,
        "single-quoted",
    );
    fails("<send>INVITE x</send>", 3, 7, "text outside of CDATA");
    fails(
        "<send><![CDATA[INVITE x SIP/2.0]]></recv>",
        3,
        35,
        "Unexpected </recv> (expected </send>)",
    );
    let e = load_str("<?xml?><other/>", "x.xml", "x", &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("No 'scenario' section"), "{e}");
}

/// No input makes the loader panic: truncations of a real scenario.
#[test]
fn truncated_inputs_never_panic() {
    let full = builtin("regexp").unwrap();
    let opts = LoadOptions::default();
    for cut in (0..full.len()).step_by(7) {
        if full.is_char_boundary(cut) {
            let _ = load_str(&full[..cut], "r", "r", &opts);
        }
    }
}

proptest::proptest! {
    /// Arbitrary sequences of scenario-ish fragments never panic the loader.
    #[test]
    fn fragment_soup_never_panics(parts in proptest::collection::vec(0usize..40, 0..40)) {
        const F: &[&str] = &[
            "<send>", "</send>", "<recv response=\"200\"", "<recv request=\"INVITE\"", "/>", ">",
            "</recv>", "<![CDATA[", "]]>", "INVITE x SIP/2.0\n", "SIP/2.0 200 OK\n", "[len]",
            "[last_Via:]", "[$v]", "[field1 line=\"[$v]\"]", "[", "]", "\"", "\\x5", "\\x",
            "<action>", "</action>", "<ereg regexp=\"(.*)\" assign_to=\"v\"/>", "<label id=\"a\"/>",
            " next=\"a\"", " optional=\"true\"", "<pause/>", "<timewait/>", "<nop>", "</nop>",
            "<init>", "</init>", "<!--", "-->", "&amp;", "\n", "  ", "<Global variables=\"v\"/>",
            "<DefaultMessage id=\"bye\">", "</DefaultMessage>",
        ];
        let mut s = String::from("<?xml version=\"1.0\"?>\n<scenario name=\"f\">\n");
        for p in parts {
            s.push_str(F[p % F.len()]);
        }
        s.push_str("\n</scenario>\n");
        let _ = load_str(&s, "f.xml", "f", &LoadOptions::default());
    }

    /// Arbitrary bytes never panic the loader either.
    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut x = b"<?xml?><scenario>".to_vec();
        x.extend_from_slice(&b);
        let _ = load_bytes(&x, "f.xml", "f", &LoadOptions::default());
    }
}
