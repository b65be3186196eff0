//! Response contexts (RFC 3261 §16.7): one per server transaction that is
//! forwarded statefully, holding its branches (client transactions), the
//! best final response so far and, for a serial search, the targets left.
//!
//! Contexts live in a slab and are named by a [`CtxId`] (slot and
//! generation): a transaction's user data carries a [`UserRef`] (the
//! context, the branch, whether it is our CANCEL), so a late event for a
//! context that has been reused is recognised and ignored.

use std::net::SocketAddr;

use trunkline_shards::tx::TxId;

use crate::lcr::Target;

/// A response context: slot and generation (24 bits, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CtxId {
    pub slot: u32,
    pub generation: u32,
}

/// The stages that asked to see a context's responses: they flow back
/// through each of these (§16.7 "responses flow back through the stages
/// that asked for them"). Later stages (limits, dialogs, CDRs) add theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Followers(u8);

impl Followers {
    /// The serial search (least-cost routing, a name's addresses): a
    /// failed branch moves it to the next target.
    pub const SERIAL: Followers = Followers(1);

    pub fn contains(self, f: Followers) -> bool {
        self.0 & f.0 != 0
    }

    pub fn insert(&mut self, f: Followers) {
        self.0 |= f.0;
    }
}

/// A response context.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    generation: u32,
    live: bool,
    pub server: Option<TxId>,
    /// The request as received, for responses generated here and for the
    /// copies to later targets; empty once a final response went out.
    pub request: Vec<u8>,
    pub branches: Vec<Branch>,
    /// The best final response so far (our Via removed), and its code.
    pub best: Option<(u16, Vec<u8>)>,
    pub final_sent: bool,
    pub cancelled: bool,
    /// Live transactions referring to this context.
    refs: u32,
    /// Who follows the responses.
    pub followers: Followers,
    /// Serial search: the targets in order, and the next one to try.
    pub targets: Vec<Target>,
    /// The registered contacts the targets name ([`Target::contact`]).
    pub contacts: Vec<ContactHop>,
    pub next_target: usize,
    /// Serial search: a branch timed out (it counts as a 408 in §16.7).
    pub timed_out: bool,
    /// Serial search of a dispatcher set's destinations: the final codes
    /// that move it on (its `failover_codes`; a timeout counts as 408).
    pub failover: Option<crate::dispatch::CodeSet>,
    /// The call went to a dispatcher set: the destination that answers
    /// holds it (stickiness for a later Replaces).
    pub sticky: bool,
    /// The call this INVITE started, when calls are tracked.
    pub call: Option<trunkline_shards::dialog::CallRef>,
    /// The policy's header edits for each copy (a serial search's later
    /// targets too).
    pub edits: crate::proxy::stages::edits::EditSet,
    /// The From/To identities the request came with, when its copies
    /// carry others (header rules): its responses get them back.
    pub restore: Option<Box<crate::proxy::stages::edits::Identities>>,
    /// Its copies are hidden (topology hiding for this call).
    pub hide: bool,
    /// Where the request came from, and on which listener (to rebuild it
    /// for the next target).
    pub src: Option<SocketAddr>,
    pub local: u16,
}

/// Where a copy for a registered contact goes (RFC 3261 §16.5, RFC 3327):
/// its Request-URI, and the Route set of the binding's Path (empty: none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContactHop {
    pub uri: Box<[u8]>,
    /// The Path values, comma-separated: the copy's Route.
    pub route: Box<[u8]>,
}

/// One forwarded copy of a context's request.
#[derive(Debug, Default)]
pub(crate) struct Branch {
    pub tx: Option<TxId>,
    pub branch: BranchId,
    pub done: bool,
    pub cancel_pending: bool,
    pub cancel_sent: bool,
    /// The cap key of the gateway whose call slot this attempt holds.
    pub holds: Option<u64>,
    /// Where the copy went.
    pub dest: Option<SocketAddr>,
}

/// Our Via branch for one forwarded copy, kept inline (no allocation).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BranchId {
    buf: [u8; 32],
    len: u8,
}

impl BranchId {
    pub fn new(b: &[u8]) -> BranchId {
        let mut id = BranchId::default();
        let n = b.len().min(id.buf.len());
        id.buf[..n].copy_from_slice(&b[..n]);
        id.len = n as u8;
        id
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// A context reference packed into a transaction's user data:
/// slot (32 bits), generation (24), branch (7), CANCEL flag (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UserRef {
    pub ctx: CtxId,
    pub branch: u8,
    pub cancel: bool,
}

impl UserRef {
    /// The handle of branch `branch` of `ctx`.
    pub fn branch(ctx: CtxId, branch: usize) -> UserRef {
        UserRef {
            ctx,
            branch: branch as u8,
            cancel: false,
        }
    }

    pub fn pack(self) -> u64 {
        self.ctx.slot as u64
            | ((self.ctx.generation as u64 & 0xff_ffff) << 32)
            | ((self.branch as u64 & 0x7f) << 56)
            | ((self.cancel as u64) << 63)
    }

    /// `None` for user data 0 (a transaction without a context).
    pub fn unpack(v: u64) -> Option<UserRef> {
        (v != 0).then_some(UserRef {
            ctx: CtxId {
                slot: v as u32,
                generation: ((v >> 32) & 0xff_ffff) as u32,
            },
            branch: ((v >> 56) & 0x7f) as u8,
            cancel: v >> 63 != 0,
        })
    }
}

/// The slab of a shard's response contexts.
#[derive(Debug, Default)]
pub(crate) struct Contexts {
    slots: Vec<Ctx>,
    free: Vec<u32>,
}

impl Contexts {
    /// A new context for server transaction `server`, keeping `request`
    /// (a copy of the request's bytes); one reference (the server
    /// transaction).
    pub fn open(&mut self, server: TxId, request: Vec<u8>) -> CtxId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Ctx::default());
                (self.slots.len() - 1) as u32
            }
        };
        let c = &mut self.slots[slot as usize];
        c.generation = (c.generation + 1) & 0xff_ffff;
        if c.generation == 0 {
            c.generation = 1; // user data 0 means "no context"
        }
        c.live = true;
        c.server = Some(server);
        c.request = request;
        c.branches.clear();
        c.best = None;
        c.final_sent = false;
        c.cancelled = false;
        c.refs = 1;
        c.call = None;
        c.edits = Default::default();
        c.restore = None;
        c.hide = false;
        c.followers = Followers::default();
        c.targets.clear();
        c.contacts.clear();
        c.next_target = 0;
        c.timed_out = false;
        c.failover = None;
        c.sticky = false;
        c.src = None;
        c.local = 0;
        CtxId {
            slot,
            generation: c.generation,
        }
    }

    /// The live context `id` names, if it still does.
    pub fn get(&self, id: CtxId) -> Option<&Ctx> {
        self.slots
            .get(id.slot as usize)
            .filter(|c| c.live && (c.generation & 0xff_ffff) == id.generation)
    }

    /// [`Contexts::get`], mutably.
    pub fn get_mut(&mut self, id: CtxId) -> Option<&mut Ctx> {
        self.slots
            .get_mut(id.slot as usize)
            .filter(|c| c.live && (c.generation & 0xff_ffff) == id.generation)
    }

    /// A new branch of `id`, its client transaction referring to it.
    pub fn push_branch(&mut self, id: CtxId, branch: Branch) {
        if let Some(c) = self.get_mut(id) {
            c.refs += 1;
            c.branches.push(branch);
        }
    }

    /// One more transaction refers to `id`.
    pub fn add_ref(&mut self, id: CtxId) {
        if let Some(c) = self.get_mut(id) {
            c.refs += 1;
        }
    }

    /// A transaction referring to `id` ended; when it was the last, the
    /// context closes and is returned (its buffers and held call slots to
    /// give back) before its slot is reused.
    pub fn release(&mut self, id: CtxId) -> Option<&mut Ctx> {
        let c = self.get_mut(id)?;
        c.refs = c.refs.saturating_sub(1);
        if c.refs > 0 {
            return None;
        }
        c.live = false;
        self.free.push(id.slot);
        Some(&mut self.slots[id.slot as usize])
    }

    /// Contexts open now.
    pub fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Contexts still waiting for a final response. O(contexts): for a
    /// shutdown, not the hot path.
    pub fn pending(&self) -> usize {
        self.slots
            .iter()
            .filter(|c| c.live && !c.final_sent)
            .count()
    }
}
