//! `trunkline parse FILE...`: check captured messages the way the proxy
//! would, and print what it sees as JSON lines.
//!
//! Each file holds one message, as one UDP datagram would (RFC 3261 §18.3):
//! octets after the Content-Length body are ignored and reported as
//! `trailing`. The message is framed, then validated (see
//! [`trunkline_parser::validate`]).

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};
use trunkline_parser::{Limits, Message, ParseError, Parser, validate};

/// Arguments of `trunkline parse`.
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Files holding one raw SIP message each; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_message)]
    pub max_message: usize,
}

/// Runs `trunkline parse`; exit 0 when every message is valid, 1 otherwise.
pub fn run(args: &ParseArgs) -> ExitCode {
    let mut parser = Parser::new(Limits {
        max_message: args.max_message,
        ..Limits::default()
    });
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut all_valid = true;
    for path in &args.files {
        let name = path.display().to_string();
        let bytes = if name == "-" {
            let mut v = Vec::new();
            io::stdin().read_to_end(&mut v).map(|_| v)
        } else {
            std::fs::read(path)
        };
        let line = match bytes {
            Ok(bytes) => {
                let report = report(&mut parser, &name, &bytes);
                all_valid &= report.get("valid") == Some(&Value::Bool(true));
                report
            }
            Err(e) => {
                all_valid = false;
                json!({ "file": name, "valid": false, "io_error": e.to_string() })
            }
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(1);
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON report for one message.
pub fn report(parser: &mut Parser, file: &str, bytes: &[u8]) -> Value {
    match parser.parse(bytes) {
        Err(e) => error_report(file, bytes, e),
        Ok(msg) => match validate(&msg) {
            Err(e) => error_report(file, bytes, e),
            Ok(_) => summary(file, &msg),
        },
    }
}

#[derive(Serialize)]
struct ErrorJson {
    kind: &'static str,
    offset: u32,
    header: Option<String>,
    reason: &'static str,
    message: String,
}

fn error_report(file: &str, bytes: &[u8], e: ParseError) -> Value {
    let header = e.header.map(|h| h.to_string());
    // A request gets a response; a broken response is dropped (§16.7).
    let is_response = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .is_some_and(|i| bytes[i..].len() >= 4 && bytes[i..i + 4].eq_ignore_ascii_case(b"SIP/"));
    let response = if is_response || e.kind == trunkline_parser::ErrorKind::Empty {
        Value::Null
    } else {
        json!({ "status": e.status(), "reason": e.reason() })
    };
    json!({
        "file": file,
        "valid": false,
        "error": ErrorJson {
            kind: e.kind.name(),
            offset: e.offset,
            header,
            reason: e.reason(),
            message: e.to_string(),
        },
        "response": response,
    })
}

fn summary(file: &str, msg: &Message<'_>) -> Value {
    let mut v = json!({ "file": file, "valid": true });
    let o = v.as_object_mut().expect("object");
    if msg.is_request() {
        o.insert("kind".into(), json!("request"));
        o.insert("method".into(), json!(msg.method_bytes().map(text)));
        o.insert(
            "request_uri".into(),
            json!(msg.request_uri_bytes().map(text)),
        );
    } else {
        o.insert("kind".into(), json!("response"));
        o.insert("status".into(), json!(msg.status_code()));
        o.insert("reason".into(), json!(msg.reason_phrase().map(text)));
    }
    o.insert("call_id".into(), json!(msg.call_id().map(text)));
    if let Ok(c) = msg.cseq() {
        o.insert(
            "cseq".into(),
            json!({ "seq": c.seq, "method": text(c.method_bytes) }),
        );
    }
    if let Ok(via) = msg.top_via() {
        o.insert(
            "via".into(),
            json!({
                "transport": text(via.transport),
                "sent_by": text(via.sent_by),
                "branch": via.branch.map(text),
                "count": msg.vias().count(),
            }),
        );
    }
    for (key, na) in [("from", msg.from()), ("to", msg.to())] {
        if let Ok(na) = na {
            o.insert(
                key.into(),
                json!({ "uri": text(na.uri), "tag": na.tag().map(text) }),
            );
        }
    }
    o.insert(
        "max_forwards".into(),
        json!(msg.max_forwards().ok().flatten()),
    );
    o.insert("headers".into(), json!(msg.headers().len()));
    o.insert("body_len".into(), json!(msg.body().len()));
    o.insert("trailing".into(), json!(msg.trailing().len()));
    v
}
