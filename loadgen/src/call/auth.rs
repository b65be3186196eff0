//! `[authentication]`: digest credentials for the last challenge, as SIPp
//! 3.6.1 builds them (`src/auth.cpp`: `createAuthHeader`,
//! `createAuthHeaderMD5`, `getAuthParameter`), RFC 2617 §3.2.2 with the
//! RFC 3261 §22.4 quoting (`nc` and `qop` unquoted).
//!
//! As SIPp: the digest URI is `sip:` + `-auth_uri`, else
//! `sip:REMOTE_IP:REMOTE_PORT` (not the Request-URI); with a `qop` in the
//! challenge the response uses `auth-int` if offered (hashing the body),
//! else `auth`, a random `cnonce` in hex and `nc` counting from 1 per
//! challenge; `algorithm` is echoed as the challenge wrote it. MD5 and
//! SHA-256 are computed; AKAv1-MD5 is refused by name. [`verify`] is the
//! other side, SIPp's `verifyauth` action (`verifyAuthHeader`).

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// What the digest needs besides the challenge.
#[derive(Debug)]
pub(crate) struct Credentials<'a> {
    /// The user name.
    pub user: &'a [u8],
    /// The password.
    pub password: &'a [u8],
    /// The method of the request being sent.
    pub method: &'a [u8],
    /// The digest URI without `sip:` (`-auth_uri`, or `ip:port`).
    pub uri: &'a [u8],
    /// The request's body (for `auth-int`).
    pub body: &'a [u8],
    /// The nonce count for this use of the challenge.
    pub nonce_count: u32,
    /// The client nonce (SIPp: `rand()` in hex).
    pub cnonce: u32,
}

/// SIPp's `stristr`: the first case-insensitive occurrence of `needle`.
fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (from..=hay.len() - needle.len())
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// SIPp's `getAuthParameter`: the value of `name=` in a challenge, where
/// the name follows `,` or white space (so `nonce` is not found inside
/// `cnonce`); quoted values end at the next `"`, others at SP, `,`, `"`,
/// CR or LF.
pub(crate) fn auth_param<'c>(challenge: &'c [u8], name: &[u8]) -> Option<&'c [u8]> {
    let mut from = 0;
    let start = loop {
        let at = find_ci(challenge, name, from)?;
        if at > 0 && (challenge[at - 1] == b',' || challenge[at - 1].is_ascii_whitespace()) {
            break at;
        }
        from = at + 1;
    };
    let mut v = start + name.len();
    if challenge.get(v) != Some(&b'=') {
        // SIPp searches again after the name.
        return auth_param(&challenge[v..], name);
    }
    v += 1;
    let rest = &challenge[v..];
    if let Some(quoted) = rest.strip_prefix(b"\"") {
        let end = memchr::memchr(b'"', quoted).unwrap_or(quoted.len());
        Some(&quoted[..end])
    } else {
        let end = rest
            .iter()
            .position(|b| matches!(b, b' ' | b',' | b'"' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

/// The hash functions a challenge may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algo {
    Md5,
    Sha256,
}

impl Algo {
    fn hex(self, parts: &[&[u8]]) -> String {
        fn hex<D: md5::Digest>(mut d: D, parts: &[&[u8]]) -> String {
            for p in parts {
                d.update(p);
            }
            d.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        }
        match self {
            Algo::Md5 => hex(Md5::new(), parts),
            Algo::Sha256 => hex(Sha256::new(), parts),
        }
    }
}

/// The digest `response` (RFC 2617 §3.2.2.1), as SIPp's
/// `createAuthResponseMD5`/`SHA256` compute it:
/// `H(H(A1):nonce[:nc:cnonce:qop]:H(A2))` with `A1 = user:realm:password`
/// and `A2 = method:uri[:H(body)]` (the body part when `qop` names
/// `auth-int`); the `nc:cnonce:qop` part when there is a cnonce.
#[allow(clippy::too_many_arguments)]
fn response(
    algo: Algo,
    user: &[u8],
    password: &[u8],
    method: &[u8],
    digest_uri: &[u8],
    body: &[u8],
    realm: &[u8],
    nonce: &[u8],
    cnonce: &[u8],
    nc: &[u8],
    qop: &[u8],
) -> String {
    let ha1 = algo.hex(&[user, b":", realm, b":", password]);
    let ha2 = if find_ci(qop, b"auth-int", 0).is_some() {
        let body = algo.hex(&[body]);
        algo.hex(&[method, b":", digest_uri, b":", body.as_bytes()])
    } else {
        algo.hex(&[method, b":", digest_uri])
    };
    if cnonce.is_empty() {
        algo.hex(&[ha1.as_bytes(), b":", nonce, b":", ha2.as_bytes()])
    } else {
        algo.hex(&[
            ha1.as_bytes(),
            b":",
            nonce,
            b":",
            nc,
            b":",
            cnonce,
            b":",
            qop,
            b":",
            ha2.as_bytes(),
        ])
    }
}

/// The algorithm a challenge or credentials name (SIPp tests the prefix:
/// MD5, then AKAv1-MD5, then SHA-256); `Err` names what is refused.
fn algo_of(text: &[u8]) -> Result<Algo, &'static str> {
    let starts = |p: &[u8]| text.len() >= p.len() && text[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"MD5") {
        Ok(Algo::Md5)
    } else if starts(b"AKAv1-MD5") {
        Err("AKAv1-MD5 authentication is not supported by trunkload")
    } else if starts(b"SHA-256") {
        Ok(Algo::Sha256)
    } else {
        Err("authentication must use MD5, AKAv1-MD5 or SHA-256")
    }
}

/// SIPp's `verifyauth` action on the received request `msg`: whether its
/// `Authorization` digest is the one `user` and `password` give (the
/// header's own user name is not compared, as in SIPp). `Err` is SIPp's
/// warning for a header it cannot check (the result is then false).
pub(crate) fn verify(
    msg: &[u8],
    user: &[u8],
    password: &[u8],
    auth_uri: Option<&str>,
) -> Result<bool, String> {
    let (Some(lf), Some(sp)) = (memchr::memchr(b'\n', msg), memchr::memchr(b' ', msg)) else {
        return Ok(false);
    };
    if lf < sp {
        return Ok(false);
    }
    let method = &msg[..sp];
    let auth = super::sipmsg::header_content(msg, b"Authorization:");
    if find_ci(&auth, b"Digest", 0).is_none() {
        return Err(format!(
            "verifyAuthHeader: authentication must be digest is {}",
            String::from_utf8_lossy(&auth)
        ));
    }
    let p = |name: &[u8]| auth_param(&auth, name).unwrap_or_default();
    let algo_text = auth_param(&auth, b"algorithm").unwrap_or(b"MD5");
    let algo = match algo_of(algo_text) {
        Ok(a) => a,
        Err(_) => {
            return Err(format!(
                "verifyAuthHeader: authentication must use MD5 or SHA-256, value is '{}'",
                String::from_utf8_lossy(algo_text)
            ));
        }
    };
    let uri = match auth_uri {
        Some(u) => [&b"sip:"[..], u.as_bytes()].concat(),
        None => p(b"uri").to_vec(),
    };
    let body = super::sipmsg::body(msg).unwrap_or_default();
    let body = &body[..memchr::memchr(0, body).unwrap_or(body.len())];
    let expected = response(
        algo,
        user,
        password,
        method,
        &uri,
        body,
        p(b"realm"),
        p(b"nonce"),
        p(b"cnonce"),
        p(b"nc"),
        p(b"qop"),
    );
    Ok(expected.as_bytes() == p(b"response"))
}

/// The credentials value (after `Authorization: ` or
/// `Proxy-Authorization: `) answering `challenge` (the
/// `WWW-Authenticate`/`Proxy-Authenticate` content), or SIPp's error text.
pub(crate) fn authorization(challenge: &[u8], cred: &Credentials<'_>) -> Result<String, String> {
    if find_ci(challenge, b"Digest", 0).is_none() {
        return Err("createAuthHeader: authentication must be digest".into());
    }
    let algo_text = match find_ci(challenge, b"algorithm=", 0) {
        Some(at) => {
            let mut v = &challenge[at + b"algorithm=".len()..];
            if let Some(q) = v.strip_prefix(b"\"") {
                v = q;
            }
            let end = v
                .iter()
                .position(|b| matches!(b, b' ' | b',' | b'"' | b'\r' | b'\n'))
                .unwrap_or(v.len());
            String::from_utf8_lossy(&v[..end]).into_owned()
        }
        None => "MD5".to_string(),
    };
    let algo = algo_of(algo_text.as_bytes()).map_err(|e| format!("createAuthHeader: {e}"))?;
    let qop = auth_param(challenge, b"qop").map(|q| {
        if find_ci(q, b"auth-int", 0).is_some() {
            &b"auth-int"[..]
        } else if find_ci(q, b"auth", 0).is_some() {
            &b"auth"[..]
        } else {
            q
        }
    });
    let Some(realm) = auth_param(challenge, b"realm") else {
        return Err(format!(
            "createAuthHeaderMD5: couldn't parse realm in '{}'",
            String::from_utf8_lossy(challenge)
        ));
    };
    let Some(nonce) = auth_param(challenge, b"nonce") else {
        return Err("createAuthHeaderMD5: couldn't parse nonce".into());
    };
    let opaque = auth_param(challenge, b"opaque");
    let mut digest_uri = b"sip:".to_vec();
    digest_uri.extend_from_slice(cred.uri);
    let nc = format!("{:08x}", cred.nonce_count);
    let cnonce = format!("{:x}", cred.cnonce);
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = format!(
        "Digest username=\"{}\",realm=\"{}\"",
        lossy(cred.user),
        lossy(realm)
    );
    if let Some(q) = qop {
        out.push_str(&format!(",cnonce=\"{cnonce}\",nc={nc},qop={}", lossy(q)));
    }
    out.push_str(&format!(",uri=\"{}\"", lossy(&digest_uri)));
    let (cn, ncv, q) = match qop {
        Some(q) => (cnonce.as_bytes(), nc.as_bytes(), q),
        None => (&b""[..], &b""[..], &b""[..]),
    };
    let resp = response(
        algo,
        cred.user,
        cred.password,
        cred.method,
        &digest_uri,
        cred.body,
        realm,
        nonce,
        cn,
        ncv,
        q,
    );
    out.push_str(&format!(
        ",nonce=\"{}\",response=\"{resp}\",algorithm={algo_text}",
        lossy(nonce)
    ));
    if let Some(o) = opaque {
        out.push_str(&format!(",opaque=\"{}\"", lossy(o)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example (qop=auth), through the response function.
    #[test]
    fn rfc_2617_example() {
        let cred = Credentials {
            user: b"Mufasa",
            password: b"Circle Of Life",
            method: b"GET",
            uri: b"",
            body: b"",
            nonce_count: 1,
            cnonce: 0,
        };
        let r = response(
            Algo::Md5,
            cred.user,
            cred.password,
            cred.method,
            b"/dir/index.html",
            b"",
            b"testrealm@host.com",
            b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            b"0a4f113b",
            b"00000001",
            b"auth",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    /// A REGISTER whose digest SIPp 3.6.1's own `verifyauth` accepted
    /// (captured from the golden test's run).
    #[test]
    fn verify_accepts_what_sipp_accepts() {
        let msg = b"REGISTER sip:127.0.0.1 SIP/2.0\r\nCall-ID: 1-3460@127.0.0.1\r\nCSeq: 2 REGISTER\r\n\
Authorization: Digest username=\"alice\",realm=\"test.example\",cnonce=\"18c3ed58\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:16700\",nonce=\"47ebe028cda119c35d4877b383027d28\",response=\"baa74118c023c3fa914bd97d31c5c08e\",algorithm=MD5,opaque=\"0pq\"\r\n\
Content-Length: 0\r\n\r\n";
        assert_eq!(verify(msg, b"alice", b"s3cret", None), Ok(true));
        assert_eq!(verify(msg, b"alice", b"wrong", None), Ok(false));
        // -auth_uri replaces the header's uri in the check, as in SIPp.
        assert_eq!(verify(msg, b"alice", b"s3cret", Some("other:1")), Ok(false));
        // No Authorization: a warning, and false.
        assert!(verify(b"REGISTER sip:x SIP/2.0\r\n\r\n", b"a", b"b", None).is_err());
        // Not a request line: false.
        assert_eq!(verify(b"x\nREGISTER y", b"a", b"b", None), Ok(false));
        // What authorization() writes, verify() accepts (SHA-256 and auth-int too).
        for challenge in [
            &br#"Digest realm="r", nonce="n1", qop="auth""#[..],
            br#"Digest realm="r", nonce="n2", qop="auth-int", algorithm=SHA-256"#,
            br#"Digest realm="r", nonce="n3""#,
        ] {
            let cred = Credentials {
                user: b"bob",
                password: b"pw",
                method: b"INVITE",
                uri: b"192.0.2.9:5060",
                body: b"v=0\r\n",
                nonce_count: 3,
                cnonce: 77,
            };
            let h = authorization(challenge, &cred).unwrap();
            let msg = format!(
                "INVITE sip:x SIP/2.0\r\nAuthorization: {h}\r\nContent-Length: 5\r\n\r\nv=0\r\n"
            );
            assert_eq!(verify(msg.as_bytes(), b"bob", b"pw", None), Ok(true), "{h}");
            assert_eq!(
                verify(msg.as_bytes(), b"bob", b"px", None),
                Ok(false),
                "{h}"
            );
        }
    }

    #[test]
    fn header_as_sipp_writes_it() {
        let challenge = br#"Digest realm="sip.example", nonce="abc123", qop="auth,auth-int", opaque="xyz", algorithm=MD5"#;
        let cred = Credentials {
            user: b"alice",
            password: b"secret",
            method: b"REGISTER",
            uri: b"192.0.2.1:5060",
            body: b"",
            nonce_count: 1,
            cnonce: 0x1f2e,
        };
        let h = authorization(challenge, &cred).unwrap();
        let want_resp = response(
            Algo::Md5,
            cred.user,
            cred.password,
            cred.method,
            b"sip:192.0.2.1:5060",
            b"",
            b"sip.example",
            b"abc123",
            b"1f2e",
            b"00000001",
            b"auth-int",
        );
        assert_eq!(
            h,
            format!(
                "Digest username=\"alice\",realm=\"sip.example\",cnonce=\"1f2e\",nc=00000001,qop=auth-int,uri=\"sip:192.0.2.1:5060\",nonce=\"abc123\",response=\"{want_resp}\",algorithm=MD5,opaque=\"xyz\""
            )
        );
        // No qop: no cnonce/nc/qop, RFC 2069 response.
        let h = authorization(br#"Digest realm="r", nonce="n""#, &cred).unwrap();
        assert!(
            h.starts_with("Digest username=\"alice\",realm=\"r\",uri="),
            "{h}"
        );
        assert!(h.ends_with(",algorithm=MD5"), "{h}");
        // `nonce` is not read out of `cnonce`.
        assert_eq!(
            auth_param(br#"Digest cnonce="no", nonce="yes""#, b"nonce"),
            Some(&b"yes"[..])
        );
        assert!(authorization(b"Basic realm=\"r\"", &cred).is_err());
        assert!(
            authorization(
                br#"Digest realm="r", nonce="n", algorithm=AKAv1-MD5"#,
                &cred
            )
            .is_err()
        );
        let sha =
            authorization(br#"Digest realm="r", nonce="n", algorithm=SHA-256"#, &cred).unwrap();
        assert!(
            sha.contains("algorithm=SHA-256") && sha.len() > h.len() + 30,
            "{sha}"
        );
    }
}
