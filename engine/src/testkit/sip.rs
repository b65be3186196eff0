//! SIP messages for tests: a UAC's requests of one call ([`UacCall`]), a
//! UAS's responses ([`respond`], on the parser's writer), and lookups of
//! header values in what the proxy sent.

use std::net::SocketAddr;

use trunkline_parser::{Edits, HeaderName, Parser, ResponseSpec, write_response};

/// The requests of one call, as a UAC sends them.
#[derive(Clone, Debug)]
pub struct UacCall {
    /// The UAC's address: Via sent-by, Contact, From host.
    pub uac: SocketAddr,
    /// The Request-URI of the INVITE (`sip:bob@192.0.2.20:5070`).
    pub target: String,
    /// The Call-ID.
    pub call_id: String,
    /// The From tag.
    pub from_tag: String,
    /// The From URI's user part.
    pub from_user: String,
    /// The From URI's host part (default: the UAC's address).
    pub from_host: String,
    /// Whether the Via asks for `rport` (RFC 3581).
    pub rport: bool,
    /// The INVITE's body (`application/sdp`); empty: none.
    pub body: String,
}

impl UacCall {
    /// A call from `uac` to `target` (a Request-URI), Call-ID `call_id`,
    /// From tag `a-<call_id>`, `rport`, a 4-byte SDP body.
    pub fn new(uac: SocketAddr, target: &str, call_id: &str) -> UacCall {
        UacCall {
            uac,
            target: target.to_string(),
            call_id: call_id.to_string(),
            from_tag: format!("a-{call_id}"),
            from_user: "alice".to_string(),
            from_host: uac.to_string(),
            rport: true,
            body: "v=0\n".to_string(),
        }
    }

    /// The same call with `host` as its From URI's host.
    pub fn with_from_host(mut self, host: &str) -> UacCall {
        self.from_host = host.to_string();
        self
    }

    fn via(&self, branch: &str) -> String {
        let rport = if self.rport { ";rport" } else { "" };
        format!("Via: SIP/2.0/UDP {};branch={branch}{rport}\r\n", self.uac)
    }

    /// The INVITE, with top Via branch `branch`.
    pub fn invite(&self, branch: &str) -> String {
        let (ctype, body) = match self.body.is_empty() {
            true => ("", ""),
            false => ("Content-Type: application/sdp\r\n", self.body.as_str()),
        };
        format!(
            "INVITE {target} SIP/2.0\r\n\
{via}Max-Forwards: 70\r\n\
From: Alice <sip:{fuser}@{fhost}>;tag={tag}\r\n\
To: Bob <{target}>\r\n\
Call-ID: {cid}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@{uac}>\r\n\
{ctype}Content-Length: {len}\r\n\r\n{body}",
            target = self.target,
            via = self.via(branch),
            uac = self.uac,
            fuser = self.from_user,
            fhost = self.from_host,
            tag = self.from_tag,
            cid = self.call_id,
            len = body.len(),
        )
    }

    /// The CANCEL of the INVITE sent with `branch` (§9.1: same branch,
    /// Request-URI, Call-ID, From, To, CSeq number).
    pub fn cancel(&self, branch: &str) -> String {
        self.request("CANCEL", 1, branch, None, None)
    }

    /// A request `method` with CSeq `cseq`: in the dialog when `to_tag`
    /// is given, through `route` (a Route header value) when given.
    pub fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        to_tag: Option<&str>,
        route: Option<&str>,
    ) -> String {
        let route = route.map(|r| format!("Route: {r}\r\n")).unwrap_or_default();
        let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "{method} {target} SIP/2.0\r\n\
{via}{route}Max-Forwards: 70\r\n\
From: Alice <sip:{fuser}@{fhost}>;tag={ftag}\r\n\
To: Bob <{target}>{tag}\r\n\
Call-ID: {cid}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n",
            target = self.target,
            via = self.via(branch),
            fuser = self.from_user,
            fhost = self.from_host,
            ftag = self.from_tag,
            cid = self.call_id,
        )
    }
}

/// A UAS's response to `req`, written by the parser's response writer:
/// Via, From, To, Call-ID and CSeq copied; To tag `to_tag` added unless
/// the To has one (never on a 100); the request's Record-Route echoed
/// (§12.1.1); `Contact: <sip:uas@CONTACT>` when given.
pub fn respond(
    req: &str,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<SocketAddr>,
) -> String {
    let out = respond_bytes(req.as_bytes(), code, reason, to_tag, contact)
        .unwrap_or_else(|| panic!("cannot respond to:\n{req}"));
    String::from_utf8(out).expect("UTF-8")
}

/// [`respond`] to any bytes: `None` when they do not frame or the
/// response cannot be written.
pub fn respond_bytes(
    req: &[u8],
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<SocketAddr>,
) -> Option<Vec<u8>> {
    let mut p = Parser::default();
    let m = p.parse(req).ok()?;
    let mut lines: Vec<Vec<u8>> = m
        .headers()
        .iter()
        .filter(|h| h.kind == HeaderName::RecordRoute)
        .map(|h| m.slice(h.line()).trim_ascii_end().to_vec())
        .collect();
    if let Some(c) = contact {
        lines.push(format!("Contact: <sip:uas@{c}>").into_bytes());
    }
    let extra: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let spec = ResponseSpec {
        code,
        reason: reason.as_bytes(),
        to_tag: to_tag.map(str::as_bytes),
        extra_headers: &extra,
        via_source: None,
        top_via: None,
    };
    let mut out = Vec::new();
    write_response(&m, &spec, &mut Edits::new(), &mut out).ok()?;
    Some(out)
}

/// The values of header `name` (full name, any case) in `msg`, in order.
pub fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .collect()
}

/// The first line of `msg`.
pub fn first_line(msg: &str) -> &str {
    msg.split("\r\n").next().unwrap_or_default()
}

/// A UA's answer to a digest challenge (RFC 7616 §3.4, qop=auth): from
/// `response` (a 401 or 407 generated by the proxy), the challenge of
/// algorithm `algorithm` (`SHA-256`, `MD5`, ...) answered for `user` and
/// `password`, for a request `method` to `uri`, nonce count `nc`. Returns
/// the header line to add (`Proxy-Authorization: Digest ...` or
/// `Authorization: ...`), in SIPp's parameter order.
pub fn digest_answer(
    response: &str,
    algorithm: &str,
    (user, password): (&str, &str),
    method: &str,
    uri: &str,
    nc: u32,
) -> String {
    use crate::auth::digest::{self, Algorithm, Qop};
    let (challenge, answer) = if first_line(response).starts_with("SIP/2.0 401") {
        ("WWW-Authenticate", "Authorization")
    } else {
        ("Proxy-Authenticate", "Proxy-Authorization")
    };
    let offered = header(response, challenge);
    let value = offered
        .iter()
        .find(|v| {
            v.split(',')
                .any(|p| p.trim() == format!("algorithm={algorithm}"))
        })
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {response}"));
    let param = |name: &str| -> String {
        value
            .split(',')
            .filter_map(|p| p.trim().trim_start_matches("Digest ").split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let alg = Algorithm::from_name(algorithm.as_bytes()).expect("an algorithm");
    let ha1 = digest::ha1(
        alg.hash(),
        user.as_bytes(),
        realm.as_bytes(),
        password.as_bytes(),
    );
    let nc = format!("{nc:08x}");
    let cnonce = format!("c{nc}");
    let qop = Qop {
        qop: b"auth",
        nc: nc.as_bytes(),
        cnonce: cnonce.as_bytes(),
    };
    let response = digest::request_digest(
        alg,
        ha1.as_bytes(),
        nonce.as_bytes(),
        Some(&qop),
        method.as_bytes(),
        uri.as_bytes(),
    )
    .expect("a digest");
    format!(
        "{answer}: Digest username=\"{user}\",realm=\"{realm}\",cnonce=\"{cnonce}\",nc={nc},\
qop=auth,uri=\"{uri}\",nonce=\"{nonce}\",response=\"{}\",algorithm={algorithm}",
        response.as_str()
    )
}
