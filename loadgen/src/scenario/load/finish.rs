//! After the last element: label resolution and SIPp's load-time checks
//! (variables, response times, transactions, mode).

use super::*;

impl Builder<'_> {
    // ---- after the last element ----

    pub(super) fn finish(&mut self, root: &Node) -> Result<(), ScenarioError> {
        // `_unexp.*` lookups count as references (SIPp's find_var).
        self.vars.find("_unexp.retaddr", false, 0);
        self.vars.find("_unexp.pausedaddr", false, 0);
        let pending = std::mem::take(&mut self.pending);
        for (idx, label, which, at) in pending {
            let Some(&target) = self.sc.labels.get(&label) else {
                return Err(self.undefined(at, label, idx, &which));
            };
            let c = &mut self.sc.elements[idx].common;
            match which {
                LabelUse::Next => c.next = Some(target),
                LabelUse::OnTimeout => c.ontimeout = Some(target),
            }
        }
        let pending = std::mem::take(&mut self.init_pending);
        for (idx, label, which, at) in pending {
            let Some(&target) = self.init_labels.get(&label) else {
                return Err(self.undefined(at, label, idx, &which));
            };
            let c = &mut self.sc.init[idx].common;
            match which {
                LabelUse::Next => c.next = Some(target),
                LabelUse::OnTimeout => c.ontimeout = Some(target),
            }
        }
        for (name, &at) in &self.rtd_started {
            if !self.rtd_stopped.contains_key(name) {
                return Err(self.invalid(
                    at,
                    format!(
                        "You have started Response Time Duration {name}, but have never stopped it!"
                    ),
                ));
            }
        }
        for table in [&self.vars.local, &self.vars.user, &self.vars.global] {
            for (name, &id) in table {
                let count = self.vars.refs[id];
                if count < 2 && name != "_" {
                    return Err(self.err(
                        self.vars.first_at[id],
                        ErrorKind::VariableUse {
                            name: name.clone(),
                            count,
                        },
                    ));
                }
            }
        }
        for t in &self.txns {
            let msg = if t.started == 0 {
                Some(format!("Transaction {} is never started!", t.name))
            } else if t.responses == 0 {
                Some(format!("Transaction {} has no responses defined!", t.name))
            } else if t.is_invite && t.acks == 0 {
                Some(format!(
                    "Transaction {} is an INVITE transaction without an ACK!",
                    t.name
                ))
            } else if !t.is_invite && t.acks > 0 {
                Some(format!(
                    "Transaction {} is a non-INVITE transaction with an ACK!",
                    t.name
                ))
            } else {
                None
            };
            if let Some(m) = msg {
                return Err(self.invalid(root.at, m));
            }
        }
        if self.sc.elements.is_empty() {
            return Err(self.invalid(root.at, "Did not find any messages inside of scenario!"));
        }
        self.sc.mode = match self.sc.elements.iter().find_map(|e| match e.kind {
            ElementKind::Send(_) => Some(Mode::Client),
            ElementKind::Recv(_) => Some(Mode::Server),
            _ => None,
        }) {
            Some(m) => m,
            None => {
                return Err(self.invalid(
                    root.at,
                    "Unable to determine creation mode of the tool (server, client)",
                ));
            }
        };
        for (id, text, at) in std::mem::take(&mut self.defaults) {
            let t = keywords::compile(self, &text.bytes, &text.offs)?;
            keywords::message_kind(&t).map_err(|m| self.invalid(at, m))?;
            self.sc.default_messages.insert(id, t);
        }
        self.sc.variables = std::mem::take(&mut self.vars.names);
        Ok(())
    }

    fn undefined(&self, at: usize, label: String, index: usize, which: &LabelUse) -> ScenarioError {
        self.err(
            at,
            ErrorKind::UndefinedLabel {
                label,
                index,
                attr: match which {
                    LabelUse::Next => "next",
                    LabelUse::OnTimeout => "ontimeout",
                },
            },
        )
    }
}
