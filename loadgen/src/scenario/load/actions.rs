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

    fn action(&mut self, a: &Node, out: &mut Vec<Action>) -> Result<(), ScenarioError> {
        let name = a.name.as_str();
        match name {
            "ereg" => {
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
                if matches!(search_in, SearchIn::Var(_)) {
                    // `variable` is only read for search_in="var".
                } else if self.attr(a, "variable").is_some() {
                    return Err(self.err(
                        self.at_of(a, "variable"),
                        ErrorKind::UnknownAttribute {
                            element: "ereg".into(),
                            attr: "variable".into(),
                        },
                    ));
                }
                let check_it_attr = self.boolean(a, "check_it", "ereg")?;
                let (check_it, check_it_inverse) = match check_it_attr {
                    Some(v) => {
                        if self.attr(a, "check_it_inverse").is_some() {
                            return Err(self.invalid(
                                self.at_of(a, "check_it_inverse"),
                                "Can not have both check_it and check_it_inverse for ereg!",
                            ));
                        }
                        (v, false)
                    }
                    None => (
                        false,
                        self.boolean(a, "check_it_inverse", "ereg")?
                            .unwrap_or(false),
                    ),
                };
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
                out.push(Action::Ereg {
                    regex,
                    search_in,
                    check_it,
                    check_it_inverse,
                    assign_to,
                });
            }
            "log" | "warning" | "error" => {
                self.only(a, &[&["message"]])?;
                let t = self.attr_template(a, "message", name)?;
                out.push(match name {
                    "log" => Action::Log(t),
                    "warning" => Action::Warning(t),
                    _ => Action::Error(t),
                });
            }
            "assign" => {
                self.only(a, &[&["assign_to", "value", "variable"]])?;
                let var = self.attr_var(a, "assign_to", name)?;
                match self.rhs(a, name)? {
                    Operand::Value(value) => out.push(Action::Assign { var, value }),
                    // var = 0 + $src: SIPp's `setDouble(getDouble(src))`.
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
            }
            "add" | "subtract" | "multiply" | "divide" => {
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
                out.push(Action::Arith { var, op, operand });
            }
            "assignstr" => {
                self.only(a, &[&["assign_to", "value"]])?;
                let var = self.attr_var(a, "assign_to", name)?;
                let value = self.attr_template(a, "value", name)?;
                out.push(Action::AssignStr { var, value });
            }
            "gettimeofday" => {
                self.only(a, &[&["assign_to"]])?;
                let Some(names) = self.raw(a, "assign_to") else {
                    return Err(self.invalid(a.at, "assign_to value is missing"));
                };
                let at = self.at_of(a, "assign_to");
                let names = split_names(&names);
                if names.len() != 2 {
                    return Err(
                        self.invalid(at, "The gettimeofday action requires two output variables!")
                    );
                }
                let sec = self.get_var(&names[0], "gettimeofday seconds assign_to", at)?;
                let usec = self.get_var(&names[1], "gettimeofday useconds assign_to", at)?;
                out.push(Action::GetTimeOfDay { sec, usec });
            }
            "jump" => {
                self.only(a, &[&["value", "variable"]])?;
                let op = self.rhs(a, name)?;
                out.push(Action::Jump(op));
            }
            "todouble" => {
                self.only(a, &[&["assign_to", "variable"]])?;
                let var = self.attr_var(a, "assign_to", name)?;
                let source = self.attr_var(a, "variable", name)?;
                out.push(Action::ToDouble { var, source });
            }
            "test" | "strcmp" => {
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
                    let cmp = self.string(a, "compare", name)?;
                    let compare = match cmp.as_str() {
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
                    };
                    out.push(Action::Test {
                        var,
                        left,
                        compare,
                        right,
                    });
                } else {
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
                    out.push(Action::Strcmp { var, left, right });
                }
            }
            "setdest" => {
                self.only(a, &[&["host", "port", "protocol"]])?;
                let host = self.attr_template(a, "host", name)?;
                let port = self.attr_template(a, "port", name)?;
                let proto = self.string(a, "protocol", name)?;
                let at = self.at_of(a, "protocol");
                match proto.as_str() {
                    "udp" | "UDP" => {}
                    "tcp" | "TCP" | "tls" | "TLS" | "sctp" | "SCTP" => {
                        return Err(self.unsupported(at, format!("setdest protocol {proto}")));
                    }
                    p if p.contains('[') => {
                        return Err(self.unsupported(at, "keywords in the setdest protocol"));
                    }
                    _ => {
                        return Err(
                            self.invalid(at, format!("Unknown transport for setdest: '{proto}'"))
                        );
                    }
                }
                out.push(Action::SetDest { host, port });
            }
            "exec" => {
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
                    let t = self.template(cmd.as_bytes(), at)?;
                    out.push(Action::ExecCommand(t));
                } else if let Some(cmd) = self.raw(a, "int_cmd") {
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
                    out.push(Action::ExecInt(c));
                } else if let Some(m) = a.attrs.first() {
                    return Err(self.unsupported(m.at, format!("<exec {}> (media)", m.name)));
                } else {
                    return Err(self.invalid(a.at, "illegal <exec> in the scenario"));
                }
            }
            "verifyauth" => {
                self.only(a, &[&["assign_to", "username", "password"]])?;
                let var = self.attr_var(a, "assign_to", "verifyauth")?;
                let username = self.attr_template(a, "username", "verifyauth")?;
                let password = self.attr_template(a, "password", "verifyauth")?;
                out.push(Action::VerifyAuth {
                    var,
                    username,
                    password,
                });
            }
            "lookup" => {
                self.only(a, &[&["assign_to", "file", "key"]])?;
                let var = self.attr_var(a, "assign_to", "lookup")?;
                let file = self.attr_template(a, "file", "lookup")?;
                let key = self.attr_template(a, "key", "lookup")?;
                out.push(Action::Lookup { var, file, key });
            }
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
}
