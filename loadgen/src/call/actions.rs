//! `<action>`s (compat §3.4): SIPp's `call::executeAction`, one helper
//! per family of actions.

use std::ops::ControlFlow;

use crate::scenario::RegexSpec;

use super::*;

/// What one action leaves to do: `Continue` with the next action, or
/// `Break` out of the element's actions, with `Some` step when the call
/// ended and `None` when it goes on (a failed `check_it`: SIPp stops the
/// actions there and fails the call when it ends).
type Flow = ControlFlow<Option<Step>>;

impl Call {
    /// Executes `<action>`s; `Some` when the call ended.
    pub(super) fn run_actions(
        &mut self,
        actions: &[Action],
        msg: Option<&[u8]>,
        env: &mut Env<'_>,
    ) -> Option<Step> {
        for a in actions {
            if let ControlFlow::Break(end) = self.run_action(a, msg, env) {
                return end;
            }
        }
        None
    }

    /// One action, by family.
    fn run_action(&mut self, a: &Action, msg: Option<&[u8]>, env: &mut Env<'_>) -> Flow {
        match a {
            Action::Ereg {
                regex,
                search_in,
                check_it,
                check_it_inverse,
                assign_to,
            } => {
                let check = (*check_it, *check_it_inverse);
                return self.ereg(regex, search_in, check, assign_to, msg, env);
            }
            Action::Log(t) | Action::Warning(t) | Action::Error(t) | Action::ExecCommand(t) => {
                self.output(a, t, env)
            }
            Action::ExecInt(cmd) => return self.internal_command(*cmd, env),
            Action::Assign { .. }
            | Action::Arith { .. }
            | Action::AssignStr { .. }
            | Action::ToDouble { .. }
            | Action::GetTimeOfDay { .. } => self.assignment(a, env),
            Action::Strcmp { .. } | Action::Test { .. } => self.comparison(a, env),
            Action::Jump(op) => return self.jump_to(op, env),
            Action::Lookup { var, file, key } => self.lookup(*var, file, key, env),
            Action::VerifyAuth {
                var,
                username,
                password,
            } => self.verify_auth(*var, username, password, msg, env),
            Action::SetDest { host, port } => self.set_dest(host, port, env),
        }
        ControlFlow::Continue(())
    }

    /// `<ereg>`: matches `regex` in the part of `msg` (or the variable)
    /// `search_in` names and assigns the captures; a failed `check_it`
    /// (or a match with `check_it_inverse`) marks the call failed and
    /// stops the element's actions.
    fn ereg(
        &mut self,
        regex: &RegexSpec,
        search_in: &SearchIn,
        (check_it, check_it_inverse): (bool, bool),
        assign_to: &[VarId],
        msg: Option<&[u8]>,
        env: &mut Env<'_>,
    ) -> Flow {
        let m = msg.unwrap_or(b"");
        let hay: Vec<u8> = match search_in {
            SearchIn::Msg => m.to_vec(),
            SearchIn::Body => match sipmsg::body(m) {
                Some(b) => b.to_vec(),
                None if check_it => {
                    self.warn(env, "Failed regexp match: body not found in message".into());
                    return self.action_failed(FailReason::RegexpHdrNotFound);
                }
                None => Vec::new(),
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
                if check_it && part.is_empty() {
                    self.warn(
                        env,
                        format!("Failed regexp match: header {header} not found in message"),
                    );
                    return self.action_failed(FailReason::RegexpHdrNotFound);
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
        if !did_match && check_it {
            self.warn(
                env,
                format!(
                    "Failed regexp match: looking in '...', with regexp '{}'",
                    regex.source
                ),
            );
            return self.action_failed(FailReason::RegexpDoesntMatch);
        }
        if did_match && check_it_inverse {
            self.warn(
                env,
                format!(
                    "Regexp matched but should not: with regexp '{}'",
                    regex.source
                ),
            );
            return self.action_failed(FailReason::RegexpShouldntMatch);
        }
        ControlFlow::Continue(())
    }

    /// Records why the call will fail when it ends, and stops the
    /// element's actions.
    fn action_failed(&mut self, reason: FailReason) -> Flow {
        self.action_failure = Some(reason);
        ControlFlow::Break(None)
    }

    /// `<log>`, `<warning>`, `<error>` and `<exec command>`: the text
    /// `t` rendered, for the log, the error log (`<error>` is fatal) or
    /// the shell.
    fn output(&mut self, a: &Action, t: &Template, env: &mut Env<'_>) {
        let mut b = Vec::new();
        self.render(t, Index::Previous, env, &mut b);
        let text = || String::from_utf8_lossy(&b).into_owned();
        match a {
            Action::Warning(_) => self.warn(env, text()),
            Action::Error(_) => {
                env.stats.fatal_error();
                env.events.push(Event::Fatal(text()));
            }
            Action::ExecCommand(_) => env.events.push(Event::Exec(text())),
            _ => env.events.push(Event::Log(b)),
        }
    }

    /// `<exec int_cmd>`: `stop_call` ends this call (SIPp's `rejectCall`:
    /// `FailedCallRejected`); the others steer the run.
    fn internal_command(&mut self, cmd: IntCmd, env: &mut Env<'_>) -> Flow {
        match cmd {
            IntCmd::StopCall => {
                self.fail(FailReason::CallRejected, env);
                return ControlFlow::Break(Some(Step::Ended));
            }
            IntCmd::StopGracefully => env.events.push(Event::StopGracefully),
            IntCmd::StopNow => env.events.push(Event::StopNow),
        }
        ControlFlow::Continue(())
    }

    /// The actions that set a variable from a value: `<assign>`, the
    /// arithmetic ones, `<assignstr>`, `<todouble>`, `<gettimeofday>`.
    fn assignment(&mut self, a: &Action, env: &mut Env<'_>) {
        match a {
            Action::Assign { var, value } => self.set_var(*var, Value::Double(*value), env),
            Action::Arith { var, op, operand } => {
                let rhs = self.operand(operand, env);
                let lhs = self.var(*var, env).as_double();
                let v = match op {
                    ArithOp::Add => lhs + rhs,
                    ArithOp::Subtract => lhs - rhs,
                    ArithOp::Multiply => lhs * rhs,
                    ArithOp::Divide if rhs == 0.0 => {
                        self.warn(env, "divide by zero".into());
                        lhs
                    }
                    ArithOp::Divide => lhs / rhs,
                };
                self.set_var(*var, Value::Double(v), env);
            }
            Action::AssignStr { var, value } => {
                let mut b = Vec::new();
                self.render(value, Index::Previous, env, &mut b);
                self.set_var(*var, Value::Str(b), env);
            }
            Action::ToDouble { var, source } => {
                let d = match self.var(*source, env) {
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
            Action::GetTimeOfDay { sec, usec } => {
                let d = env
                    .wall
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                self.set_var(*sec, Value::Double(d.as_secs() as f64), env);
                self.set_var(*usec, Value::Double(d.subsec_micros() as f64), env);
            }
            _ => {}
        }
    }

    /// `<strcmp>` (-1, 0 or 1 as a double) and `<test>` (a boolean).
    fn comparison(&mut self, a: &Action, env: &mut Env<'_>) {
        match a {
            Action::Strcmp { var, left, right } => {
                let l = self.var(*left, env).as_bytes();
                let r: &[u8] = match right {
                    StrOperand::Value(s) => s.as_bytes(),
                    StrOperand::Variable(v) => self.var(*v, env).as_bytes(),
                };
                let c = match l.cmp(r) {
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
            _ => {}
        }
    }

    /// `<jump>`: the next step goes to the index `op` gives (SIPp sets
    /// the index to target - 1 and then steps); out of range is fatal.
    fn jump_to(&mut self, op: &Operand, env: &mut Env<'_>) -> Flow {
        let target = self.operand(op, env);
        let n = self.cfg.scenario.elements.len();
        if target < 0.0 || target as usize > n {
            env.stats.fatal_error();
            env.events.push(Event::Fatal(format!(
                "Jump statement out of range (not 0 <= {target} <= {n})"
            )));
            self.fail(FailReason::CallRejected, env);
            return ControlFlow::Break(Some(Step::Ended));
        }
        self.jump = Some(target as usize);
        ControlFlow::Continue(())
    }

    /// `<lookup>`: the line of `key` in the indexed injection file
    /// `file`; an unknown file or key is fatal.
    fn lookup(&mut self, var: VarId, file: &Template, key: &Template, env: &mut Env<'_>) {
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
            Ok(l) => self.set_var(var, Value::Double(l as f64), env),
            Err(e) => {
                env.stats.fatal_error();
                env.events.push(Event::Fatal(e));
            }
        }
    }

    /// `<verifyauth>`: whether the received message's Authorization is
    /// right for `username` and `password`.
    fn verify_auth(
        &mut self,
        var: VarId,
        username: &Template,
        password: &Template,
        msg: Option<&[u8]>,
        env: &mut Env<'_>,
    ) {
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
        self.set_var(var, Value::Bool(ok), env);
    }

    /// `<setdest>`: the call sends to `host:port` from now on; an
    /// address that does not parse is fatal.
    fn set_dest(&mut self, host: &Template, port: &Template, env: &mut Env<'_>) {
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

    fn operand(&self, op: &Operand, env: &Env<'_>) -> f64 {
        match op {
            Operand::Value(v) => *v,
            Operand::Variable(v) => self.var(*v, env).as_double(),
        }
    }
}
