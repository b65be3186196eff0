//! `<action>`s (compat §3.4): SIPp's `call::executeAction`.

use super::*;

impl Call {
    /// Executes `<action>`s; `Some` when the call ended.
    pub(super) fn run_actions(
        &mut self,
        actions: &[Action],
        msg: Option<&[u8]>,
        env: &mut Env<'_>,
    ) -> Option<Step> {
        for a in actions {
            match a {
                Action::Ereg {
                    regex,
                    search_in,
                    check_it,
                    check_it_inverse,
                    assign_to,
                } => {
                    let m = msg.unwrap_or(b"");
                    let hay: Vec<u8> = match search_in {
                        SearchIn::Msg => m.to_vec(),
                        SearchIn::Body => match sipmsg::body(m) {
                            Some(b) => b.to_vec(),
                            None => {
                                if *check_it {
                                    self.warn(
                                        env,
                                        "Failed regexp match: body not found in message".into(),
                                    );
                                    self.action_failure = Some(FailReason::RegexpHdrNotFound);
                                    return None;
                                }
                                Vec::new()
                            }
                        },
                        SearchIn::Hdr {
                            header,
                            case_indep,
                            occurrence,
                            start_line,
                        } => {
                            let part = sipmsg::sub_message(
                                m,
                                header.as_bytes(),
                                *case_indep,
                                *occurrence,
                                *start_line,
                            );
                            if *check_it && part.is_empty() {
                                self.warn(
                                    env,
                                    format!(
                                        "Failed regexp match: header {header} not found in message"
                                    ),
                                );
                                self.action_failure = Some(FailReason::RegexpHdrNotFound);
                                return None;
                            }
                            part.to_vec()
                        }
                        SearchIn::Var(v) => self.var(*v, env).as_bytes().to_vec(),
                    };
                    let caps = regex.regex.captures(&hay);
                    let did_match = caps.is_some();
                    if let Some(caps) = caps {
                        for (i, &var) in assign_to.iter().enumerate() {
                            if let Some(g) = caps.get(i) {
                                self.set_var(var, Value::Str(g.as_bytes().to_vec()), env);
                            }
                        }
                    }
                    if !did_match && *check_it {
                        self.warn(
                            env,
                            format!(
                                "Failed regexp match: looking in '...', with regexp '{}'",
                                regex.source
                            ),
                        );
                        self.action_failure = Some(FailReason::RegexpDoesntMatch);
                        return None;
                    }
                    if did_match && *check_it_inverse {
                        self.warn(
                            env,
                            format!(
                                "Regexp matched but should not: with regexp '{}'",
                                regex.source
                            ),
                        );
                        self.action_failure = Some(FailReason::RegexpShouldntMatch);
                        return None;
                    }
                }
                Action::Log(t) => {
                    let mut b = Vec::new();
                    self.render(t, Index::Previous, env, &mut b);
                    env.events.push(Event::Log(b));
                }
                Action::Warning(t) => {
                    let mut b = Vec::new();
                    self.render(t, Index::Previous, env, &mut b);
                    self.warn(env, String::from_utf8_lossy(&b).into_owned());
                }
                Action::Error(t) => {
                    let mut b = Vec::new();
                    self.render(t, Index::Previous, env, &mut b);
                    env.stats.fatal_error();
                    env.events
                        .push(Event::Fatal(String::from_utf8_lossy(&b).into_owned()));
                }
                Action::ExecCommand(t) => {
                    let mut b = Vec::new();
                    self.render(t, Index::Previous, env, &mut b);
                    env.events
                        .push(Event::Exec(String::from_utf8_lossy(&b).into_owned()));
                }
                Action::ExecInt(cmd) => match cmd {
                    IntCmd::StopCall => {
                        // SIPp's rejectCall: FailedCallRejected.
                        self.fail(FailReason::CallRejected, env);
                        return Some(Step::Ended);
                    }
                    IntCmd::StopGracefully => env.events.push(Event::StopGracefully),
                    IntCmd::StopNow => env.events.push(Event::StopNow),
                },
                Action::Assign { var, value } => self.set_var(*var, Value::Double(*value), env),
                Action::Arith { var, op, operand } => {
                    let rhs = self.operand(operand, env);
                    let lhs = self.var(*var, env).as_double();
                    let v = match op {
                        ArithOp::Add => lhs + rhs,
                        ArithOp::Subtract => lhs - rhs,
                        ArithOp::Multiply => lhs * rhs,
                        ArithOp::Divide => {
                            if rhs == 0.0 {
                                self.warn(env, "divide by zero".into());
                                lhs
                            } else {
                                lhs / rhs
                            }
                        }
                    };
                    self.set_var(*var, Value::Double(v), env);
                }
                Action::AssignStr { var, value } => {
                    let mut b = Vec::new();
                    self.render(value, Index::Previous, env, &mut b);
                    self.set_var(*var, Value::Str(b), env);
                }
                Action::ToDouble { var, source } => {
                    let s = self.var(*source, env).clone();
                    let d = match &s {
                        Value::Str(b) => std::str::from_utf8(b)
                            .ok()
                            .and_then(|t| t.parse::<f64>().ok()),
                        Value::Double(d) => Some(*d),
                        _ => None,
                    };
                    match d {
                        Some(d) => self.set_var(*var, Value::Double(d), env),
                        None => {
                            env.stats.fatal_error();
                            env.events.push(Event::Fatal(format!(
                                "Invalid double conversion from variable ${source}"
                            )));
                        }
                    }
                }
                Action::Lookup { var, file, key } => {
                    let mut f = Vec::new();
                    self.render(file, Index::Previous, env, &mut f);
                    let mut k = Vec::new();
                    self.render(key, Index::Previous, env, &mut k);
                    let f = String::from_utf8_lossy(&f).into_owned();
                    let found = self.cfg.injection.iter().find(|(n, _)| *n == f);
                    let line = match found {
                        // SIPp's wording (it says "insert" for lookup too).
                        None => Err(format!("Invalid injection file for insert: {f}")),
                        Some((_, inj)) => inj
                            .lookup(&String::from_utf8_lossy(&k))
                            .ok_or_else(|| format!("Invalid Index File: {f}")),
                    };
                    match line {
                        Ok(l) => self.set_var(*var, Value::Double(l as f64), env),
                        Err(e) => {
                            env.stats.fatal_error();
                            env.events.push(Event::Fatal(e));
                        }
                    }
                }
                Action::VerifyAuth {
                    var,
                    username,
                    password,
                } => {
                    let mut ok = false;
                    if let Some(m) = msg {
                        let mut user = Vec::new();
                        self.render(username, Index::Previous, env, &mut user);
                        let mut pass = Vec::new();
                        self.render(password, Index::Previous, env, &mut pass);
                        match super::auth::verify(m, &user, &pass, self.cfg.auth_uri.as_deref()) {
                            Ok(v) => ok = v,
                            Err(w) => self.warn(env, w),
                        }
                    }
                    self.set_var(*var, Value::Bool(ok), env);
                }
                Action::Strcmp { var, left, right } => {
                    let l = self.var(*left, env).as_bytes().to_vec();
                    let r: Vec<u8> = match right {
                        StrOperand::Value(s) => s.as_bytes().to_vec(),
                        StrOperand::Variable(v) => self.var(*v, env).as_bytes().to_vec(),
                    };
                    let c = match l.cmp(&r) {
                        std::cmp::Ordering::Less => -1.0,
                        std::cmp::Ordering::Equal => 0.0,
                        std::cmp::Ordering::Greater => 1.0,
                    };
                    self.set_var(*var, Value::Double(c), env);
                }
                Action::Test {
                    var,
                    left,
                    compare,
                    right,
                } => {
                    let l = self.var(*left, env).as_double();
                    let r = self.operand(right, env);
                    let b = match compare {
                        Compare::Equal => l == r,
                        Compare::NotEqual => l != r,
                        Compare::GreaterThan => l > r,
                        Compare::LessThan => l < r,
                        Compare::GreaterThanEqual => l >= r,
                        Compare::LessThanEqual => l <= r,
                    };
                    self.set_var(*var, Value::Bool(b), env);
                }
                Action::Jump(op) => {
                    let target = self.operand(op, env);
                    let n = self.cfg.scenario.elements.len();
                    if target < 0.0 || target as usize > n {
                        env.stats.fatal_error();
                        env.events.push(Event::Fatal(format!(
                            "Jump statement out of range (not 0 <= {target} <= {n})"
                        )));
                        self.fail(FailReason::CallRejected, env);
                        return Some(Step::Ended);
                    }
                    // SIPp sets the index to target - 1 and then steps.
                    self.jump = Some(target as usize);
                }
                Action::GetTimeOfDay { sec, usec } => {
                    let d = env
                        .wall
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default();
                    self.set_var(*sec, Value::Double(d.as_secs() as f64), env);
                    self.set_var(*usec, Value::Double(d.subsec_micros() as f64), env);
                }
                Action::SetDest { host, port } => {
                    let (mut h, mut p) = (Vec::new(), Vec::new());
                    self.render(host, Index::Previous, env, &mut h);
                    self.render(port, Index::Previous, env, &mut p);
                    let h = String::from_utf8_lossy(&h).trim().to_string();
                    let p = String::from_utf8_lossy(&p).trim().to_string();
                    let h = h.trim_start_matches('[').trim_end_matches(']');
                    match (h.parse::<std::net::IpAddr>(), p.parse::<u16>()) {
                        (Ok(ip), Ok(port)) => self.peer = Some(SocketAddr::new(ip, port)),
                        _ => {
                            env.stats.fatal_error();
                            env.events
                                .push(Event::Fatal(format!("Invalid setdest destination {h}:{p}")));
                        }
                    }
                }
            }
        }
        None
    }

    fn operand(&self, op: &Operand, env: &Env<'_>) -> f64 {
        match op {
            Operand::Value(v) => *v,
            Operand::Variable(v) => self.var(*v, env).as_double(),
        }
    }
}
