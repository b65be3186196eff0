//! Placeholder with the statistics API the executor uses (being written
//! on a branch; replaced at merge).
#![allow(missing_docs, dead_code, unused_variables)]

use std::time::Duration;

use crate::scenario::Scenario;

#[derive(Clone, Debug, Default)]
pub struct Stats {
    created: u64,
    ok: u64,
    failed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    CannotSendMessage,
    MaxUdpRetrans,
    TcpConnect,
    TcpClosed,
    UnexpectedMessage,
    CallRejected,
    CmdNotSent,
    RegexpDoesntMatch,
    RegexpShouldntMatch,
    RegexpHdrNotFound,
    OutboundCongestion,
    TimeoutOnRecv,
    TimeoutOnSend,
    TestDoesntMatch,
    TestShouldntMatch,
    StrcmpDoesntMatch,
    StrcmpShouldntMatch,
}

impl Stats {
    pub fn new(scenario: &Scenario) -> Stats {
        Stats::default()
    }
    pub fn call_created(&mut self, incoming: bool) {
        self.created += 1;
    }
    pub fn call_succeeded(&mut self, length: Duration) {
        self.ok += 1;
    }
    pub fn call_failed(&mut self, reason: FailReason, length: Duration) {
        self.failed += 1;
    }
    pub fn msg_sent(&mut self, idx: usize) {}
    pub fn msg_retrans(&mut self, idx: usize) {}
    pub fn msg_timeout(&mut self, idx: usize) {}
    pub fn msg_recv(&mut self, idx: usize) {}
    pub fn msg_unexpected(&mut self, idx: usize) {}
    pub fn pause_started(&mut self, idx: usize) {}
    pub fn rtd(&mut self, rtd: usize, sample: Duration) {}
    pub fn counter(&mut self, counter: usize) {}
    pub fn out_of_call(&mut self) {}
    pub fn dead_call(&mut self) {}
    pub fn auto_answered(&mut self) {}
    pub fn warning(&mut self) {}
    pub fn fatal_error(&mut self) {}
    pub fn udp_send_error(&mut self) {}
    pub fn udp_recv_error(&mut self) {}
    pub fn merge(&mut self, other: &Stats) {}
    pub fn current_calls(&self) -> u64 {
        self.created - self.ok - self.failed
    }
    pub fn successful(&self) -> u64 {
        self.ok
    }
    pub fn failed(&self) -> u64 {
        self.failed
    }
    pub fn created(&self) -> u64 {
        self.created
    }
}
impl Stats {
    pub fn msg_recv_retrans(&mut self, idx: usize) {}
    pub fn call_ended_uncounted(&mut self, length: Duration) {}
}
