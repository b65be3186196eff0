//! `<action>` children (compat §3.4): parsed and checked as SIPp's
//! `scenario::parseAction` does.

use super::*;

impl Builder<'_> {
    /// `<action>`'s children (compat §3.4).
    pub(super) fn actions(&mut self, n: &Node) -> Result<Vec<Action>, ScenarioError> {
        self.only(n, &[])?;
        self.no_cdata(n)?;
        let mut out = Vec::new();
        for a in &n.children {
            self.no_children(a)?;
            self.action(a, &mut out)?;
        }
        Ok(out)
    }

    fn check_flags(&self, a: &Node, what: &str) -> Result<(), ScenarioError> {
        let ci = self.boolean(a, "check_it", what)?;
        let cii = self.boolean(a, "check_it_inverse", what)?;
        if ci.is_some() && cii.is_some() {
            return Err(self.invalid(
                self.at_of(a, "check_it_inverse"),
                format!("Can not have both check_it and check_it_inverse for {what}!"),
            ));
        }
        if ci == Some(true) || cii == Some(true) {
            let attr = if ci.is_some() {
                "check_it"
            } else {
                "check_it_inverse"
            };
            return Err(self.unsupported(self.at_of(a, attr), format!("{attr} on <{what}>")));
        }
        Ok(())
    }

    /// `value` xor `variable` (SIPp's `handle_rhs`).
    fn rhs(&mut self, a: &Node, what: &str) -> Result<Operand, ScenarioError> {
        let has_v = self.attr(a, "value").is_some();
        let has_var = self.attr(a, "variable").is_some();
        if has_v && has_var {
            return Err(self.invalid(
                self.at_of(a, "variable"),
                format!("Value and variable are mutually exclusive for {what} action!"),
            ));
        }
        if has_v {
            Ok(Operand::Value(self.req_double(a, "value", what)?))
        } else if has_var {
            Ok(Operand::Variable(self.attr_var(a, "variable", what)?))
        } else {
            Err(self.invalid(
                a.at,
                format!("No value or variable defined for {what} action!"),
            ))
        }
    }

    /// One action: checked and parsed by its family's helper.
    fn action(&mut self, a: &Node, out: &mut Vec<Action>) -> Result<(), ScenarioError> {
        let name = a.name.as_str();
        match name {
            "ereg" => out.push(self.ereg(a)?),
            "log" | "warning" | "error" => out.push(self.output(a, name)?),
            "assign" => self.assign(a, out)?,
            "add" | "subtract" | "multiply" | "divide" => out.push(self.arithmetic(a, name)?),
            "assignstr" => out.push(self.assign_string(a)?),
            "todouble" => out.push(self.todouble(a)?),
            "gettimeofday" => out.push(self.time_of_day(a)?),
            "test" | "strcmp" => out.push(self.comparison(a, name)?),
            "jump" => {
                self.only(a, &[&["value", "variable"]])?;
                out.push(Action::Jump(self.rhs(a, name)?));
            }
            "exec" => out.push(self.exec(a)?),
            "setdest" => out.push(self.set_dest(a)?),
            "verifyauth" => out.push(self.verify_auth(a)?),
            "lookup" => out.push(self.lookup(a)?),
            "sample" | "index" | "pauserestore" | "insert" | "replace" | "closecon" | "trim"
            | "rtp_echo" | "urlencode" | "urldecode" => {
                return Err(self.unsupported(a.at, format!("the <{name}> action")));
            }
            other => {
                return Err(self.invalid(a.at, format!("Unknown action: {other}")));
            }
        }
        Ok(())
    }

    /// `<ereg>`: a regular expression over the message, a header, the
    /// body or a variable, its captures assigned to variables.
    fn ereg(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(
            a,
            &[&[
                "regexp",
                "search_in",
                "variable",
                "header",
                "occurrence",
                "occurence",
                "case_indep",
                "start_line",
                "check_it",
                "check_it_inverse",
                "assign_to",
            ]],
        )?;
        let re_src = self.string(a, "regexp", "ereg")?;
        let search_in = self.ereg_search_in(a)?;
        let (check_it, check_it_inverse) = self.ereg_checks(a)?;
        let assign_to = self.ereg_assign_to(a)?;
        if !matches!(search_in, SearchIn::Hdr { .. })
            && let Some(x) = ["header", "occurrence", "occurence"]
                .into_iter()
                .find(|x| self.attr(a, x).is_some())
        {
            return Err(self.invalid(
                self.at_of(a, x),
                format!("'{x}' has no effect without search_in=\"hdr\" (SIPp ignores it)"),
            ));
        }
        let regex = self.regex(&re_src, self.at_of(a, "regexp"))?;
        Ok(Action::Ereg {
            regex,
            search_in,
            check_it,
            check_it_inverse,
            assign_to,
        })
    }

    /// `<ereg>`'s `search_in` (with `header`, `occurrence`, `case_indep`,
    /// `start_line` for `hdr`, `variable` for `var`, and nowhere else).
    fn ereg_search_in(&mut self, a: &Node) -> Result<SearchIn, ScenarioError> {
        let case_indep = self.boolean(a, "case_indep", "ereg")?.unwrap_or(false);
        let start_line = self.boolean(a, "start_line", "ereg")?.unwrap_or(false);
        let search_in = match self.raw(a, "search_in").as_deref() {
            None | Some("msg") => SearchIn::Msg,
            Some("body") => SearchIn::Body,
            Some("var") => SearchIn::Var(self.attr_var(a, "variable", "ereg")?),
            Some("hdr") => {
                let header = self.raw(a, "header").unwrap_or_default();
                if header.is_empty() {
                    return Err(self.invalid(
                        self.at_of(a, "search_in"),
                        "search_in=\"hdr\" requires header field",
                    ));
                }
                let occ = self
                    .raw(a, "occurrence")
                    .or_else(|| self.raw(a, "occurence"))
                    .map_or(1, |v| keywords::atoi(v.as_bytes()));
                let occurrence = usize::try_from(occ)
                    .map_err(|_| self.invalid(a.at, format!("invalid occurrence {occ}")))?;
                SearchIn::Hdr {
                    header,
                    case_indep,
                    occurrence,
                    start_line,
                }
            }
            Some(v) => {
                return Err(self.invalid(
                    self.at_of(a, "search_in"),
                    format!("Unknown search_in value {v}"),
                ));
            }
        };
        if !matches!(search_in, SearchIn::Var(_)) && self.attr(a, "variable").is_some() {
            // `variable` is only read for search_in="var".
            return Err(self.err(
                self.at_of(a, "variable"),
                ErrorKind::UnknownAttribute {
                    element: "ereg".into(),
                    attr: "variable".into(),
                },
            ));
        }
        Ok(search_in)
    }

    /// `<ereg>`'s `check_it` / `check_it_inverse` (at most one of them).
    fn ereg_checks(&self, a: &Node) -> Result<(bool, bool), ScenarioError> {
        match self.boolean(a, "check_it", "ereg")? {
            Some(_) if self.attr(a, "check_it_inverse").is_some() => Err(self.invalid(
                self.at_of(a, "check_it_inverse"),
                "Can not have both check_it and check_it_inverse for ereg!",
            )),
            Some(v) => Ok((v, false)),
            None => Ok((
                false,
                self.boolean(a, "check_it_inverse", "ereg")?
                    .unwrap_or(false),
            )),
        }
    }

    /// `<ereg>`'s `assign_to`: the whole match, then up to nine
    /// sub-expressions.
    fn ereg_assign_to(&mut self, a: &Node) -> Result<Vec<VarId>, ScenarioError> {
        let Some(names) = self.raw(a, "assign_to") else {
            return Err(self.invalid(a.at, "assign_to value is missing"));
        };
        let at = self.at_of(a, "assign_to");
        let names = split_names(&names);
        if names.len() > 10 {
            return Err(self.invalid(at, "You can only have nine sub expressions!"));
        }
        let mut assign_to = Vec::new();
        for (i, v) in names.iter().enumerate() {
            let what = if i == 0 {
                "assign_to"
            } else {
                "sub expression assign_to"
            };
            assign_to.push(self.get_var(v, what, at)?);
        }
        Ok(assign_to)
    }

    /// `<log>`, `<warning>`, `<error>`: a message with keywords.
    fn output(&mut self, a: &Node, name: &str) -> Result<Action, ScenarioError> {
        self.only(a, &[&["message"]])?;
        let t = self.attr_template(a, "message", name)?;
        Ok(match name {
            "log" => Action::Log(t),
            "warning" => Action::Warning(t),
            _ => Action::Error(t),
        })
    }

    /// `<assign>`: a value, or a copy of another variable as a double
    /// (SIPp's `setDouble(getDouble(src))`, here `var = 0 + $src`).
    fn assign(&mut self, a: &Node, out: &mut Vec<Action>) -> Result<(), ScenarioError> {
        self.only(a, &[&["assign_to", "value", "variable"]])?;
        let var = self.attr_var(a, "assign_to", "assign")?;
        match self.rhs(a, "assign")? {
            Operand::Value(value) => out.push(Action::Assign { var, value }),
            Operand::Variable(src) if src == var => out.push(Action::Arith {
                var,
                op: ArithOp::Add,
                operand: Operand::Value(0.0),
            }),
            Operand::Variable(src) => {
                out.push(Action::Assign { var, value: 0.0 });
                out.push(Action::Arith {
                    var,
                    op: ArithOp::Add,
                    operand: Operand::Variable(src),
                });
            }
        }
        Ok(())
    }

    /// `<add>`, `<subtract>`, `<multiply>`, `<divide>` (not by a literal
    /// zero).
    fn arithmetic(&mut self, a: &Node, name: &str) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to", "value", "variable"]])?;
        let var = self.attr_var(a, "assign_to", name)?;
        let operand = self.rhs(a, name)?;
        let op = match name {
            "add" => ArithOp::Add,
            "subtract" => ArithOp::Subtract,
            "multiply" => ArithOp::Multiply,
            _ => ArithOp::Divide,
        };
        if op == ArithOp::Divide && operand == Operand::Value(0.0) {
            return Err(self.invalid(
                self.at_of(a, "value"),
                "divide actions can not have a value of zero!",
            ));
        }
        Ok(Action::Arith { var, op, operand })
    }

    /// `<assignstr>`: a string with keywords.
    fn assign_string(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to", "value"]])?;
        let var = self.attr_var(a, "assign_to", "assignstr")?;
        let value = self.attr_template(a, "value", "assignstr")?;
        Ok(Action::AssignStr { var, value })
    }

    /// `<todouble>`: a variable's text as a double.
    fn todouble(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to", "variable"]])?;
        let var = self.attr_var(a, "assign_to", "todouble")?;
        let source = self.attr_var(a, "variable", "todouble")?;
        Ok(Action::ToDouble { var, source })
    }

    /// `<gettimeofday>`: seconds and microseconds into two variables.
    fn time_of_day(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to"]])?;
        let Some(names) = self.raw(a, "assign_to") else {
            return Err(self.invalid(a.at, "assign_to value is missing"));
        };
        let at = self.at_of(a, "assign_to");
        let names = split_names(&names);
        if names.len() != 2 {
            return Err(self.invalid(at, "The gettimeofday action requires two output variables!"));
        }
        let sec = self.get_var(&names[0], "gettimeofday seconds assign_to", at)?;
        let usec = self.get_var(&names[1], "gettimeofday useconds assign_to", at)?;
        Ok(Action::GetTimeOfDay { sec, usec })
    }

    /// `<test>` (numeric `compare`) and `<strcmp>` (string order): a
    /// variable against a value or `variable2`.
    fn comparison(&mut self, a: &Node, name: &str) -> Result<Action, ScenarioError> {
        self.only(
            a,
            &[&[
                "assign_to",
                "variable",
                "variable2",
                "value",
                "compare",
                "check_it",
                "check_it_inverse",
            ]],
        )?;
        self.check_flags(a, name)?;
        let var = self.attr_var(a, "assign_to", name)?;
        let left = self.attr_var(a, "variable", name)?;
        let has_value = self.attr(a, "value").is_some();
        if has_value && self.attr(a, "variable2").is_some() {
            return Err(self.invalid(
                self.at_of(a, "variable2"),
                format!("Can not have both a value and a variable2 for {name}!"),
            ));
        }
        if name == "test" {
            let right = if has_value {
                Operand::Value(self.req_double(a, "value", name)?)
            } else {
                Operand::Variable(self.attr_var(a, "variable2", name)?)
            };
            let compare = self.compare(a)?;
            return Ok(Action::Test {
                var,
                left,
                compare,
                right,
            });
        }
        if self.attr(a, "compare").is_some() {
            return Err(self.err(
                self.at_of(a, "compare"),
                ErrorKind::UnknownAttribute {
                    element: name.into(),
                    attr: "compare".into(),
                },
            ));
        }
        let right = if has_value {
            StrOperand::Value(self.string(a, "value", name)?)
        } else {
            StrOperand::Variable(self.attr_var(a, "variable2", name)?)
        };
        Ok(Action::Strcmp { var, left, right })
    }

    /// `<test>`'s `compare`.
    fn compare(&self, a: &Node) -> Result<Compare, ScenarioError> {
        let cmp = self.string(a, "compare", "test")?;
        Ok(match cmp.as_str() {
            "equal" => Compare::Equal,
            "not_equal" => Compare::NotEqual,
            "greater_than" => Compare::GreaterThan,
            "less_than" => Compare::LessThan,
            "greater_than_equal" => Compare::GreaterThanEqual,
            "less_than_equal" => Compare::LessThanEqual,
            _ => {
                return Err(self.invalid(
                    self.at_of(a, "compare"),
                    format!("Invalid 'compare' parameter: {cmp}"),
                ));
            }
        })
    }

    /// `<setdest>`: a new destination for the call (UDP only).
    fn set_dest(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["host", "port", "protocol"]])?;
        let host = self.attr_template(a, "host", "setdest")?;
        let port = self.attr_template(a, "port", "setdest")?;
        let proto = self.string(a, "protocol", "setdest")?;
        let at = self.at_of(a, "protocol");
        match proto.as_str() {
            "udp" | "UDP" => Ok(Action::SetDest { host, port }),
            "tcp" | "TCP" | "tls" | "TLS" | "sctp" | "SCTP" => {
                Err(self.unsupported(at, format!("setdest protocol {proto}")))
            }
            p if p.contains('[') => Err(self.unsupported(at, "keywords in the setdest protocol")),
            _ => Err(self.invalid(at, format!("Unknown transport for setdest: '{proto}'"))),
        }
    }

    /// `<exec>`: a shell `command` or an `int_cmd` (media is refused).
    fn exec(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        const MEDIA: &[&str] = &[
            "play_pcap_audio",
            "play_pcap_image",
            "play_pcap_video",
            "play_dtmf",
            "rtp_stream",
        ];
        self.only(a, &[&["command", "int_cmd"], MEDIA])?;
        if a.attrs.len() > 1 {
            return Err(self.invalid(
                a.attrs[1].at,
                "<exec> takes one of command, int_cmd, play_pcap_*, play_dtmf, rtp_stream (SIPp uses only one)",
            ));
        }
        if let Some(cmd) = self.raw(a, "command") {
            let at = self.at_of(a, "command");
            let at = self.attr(a, "command").map_or(at, |x| x.value_at);
            return Ok(Action::ExecCommand(self.template(cmd.as_bytes(), at)?));
        }
        if let Some(cmd) = self.raw(a, "int_cmd") {
            let c = match cmd.as_str() {
                "stop_now" => IntCmd::StopNow,
                "stop_gracefully" => IntCmd::StopGracefully,
                "stop_call" => IntCmd::StopCall,
                _ => {
                    return Err(self.invalid(
                        self.at_of(a, "int_cmd"),
                        format!("unknown int_cmd \"{cmd}\" (SIPp would run stop_call)"),
                    ));
                }
            };
            return Ok(Action::ExecInt(c));
        }
        match a.attrs.first() {
            Some(m) => Err(self.unsupported(m.at, format!("<exec {}> (media)", m.name))),
            None => Err(self.invalid(a.at, "illegal <exec> in the scenario")),
        }
    }

    /// `<verifyauth>`: checks the received Authorization.
    fn verify_auth(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to", "username", "password"]])?;
        let var = self.attr_var(a, "assign_to", "verifyauth")?;
        let username = self.attr_template(a, "username", "verifyauth")?;
        let password = self.attr_template(a, "password", "verifyauth")?;
        Ok(Action::VerifyAuth {
            var,
            username,
            password,
        })
    }

    /// `<lookup>`: a key's line in an `-infindex` injection file.
    fn lookup(&mut self, a: &Node) -> Result<Action, ScenarioError> {
        self.only(a, &[&["assign_to", "file", "key"]])?;
        let var = self.attr_var(a, "assign_to", "lookup")?;
        let file = self.attr_template(a, "file", "lookup")?;
        let key = self.attr_template(a, "key", "lookup")?;
        Ok(Action::Lookup { var, file, key })
    }
}
