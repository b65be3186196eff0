//! The threads that look up next hops given by host name, off the shards
//! (feature `runtime`): the shards queue [`NameQuery`]s (never blocking:
//! a full queue fails the lookup at once), each answer goes back to the
//! shard that asked, which is woken to take it.

use crossbeam_channel::{Receiver, Sender};

use super::{NameQuery, Resolved, Resolver};

/// Threads that look up next hops given by host name (each blocks on one
/// lookup at a time; two keep a slow name from holding up the others).
const LOOKUP_THREADS: usize = 2;

/// Lookups queued for those threads, from every shard.
const QUEUE: usize = 1024;

/// A looked-up name on its way back to the shard that asked.
pub(crate) type NameAnswer = (NameQuery, Result<Resolved, String>);

/// The lookup threads' two ends.
#[derive(Debug)]
pub(crate) struct NameLookups {
    /// Lookups, tagged with the asking shard.
    pub queries: Sender<(u16, NameQuery)>,
    /// Each shard's answers, by shard id.
    pub answers: Vec<Receiver<NameAnswer>>,
}

impl NameLookups {
    /// Starts the lookup threads for `shards` shards, each looking names
    /// up with a resolver `resolver` makes (RFC 3263 §4.2; one each, so a
    /// resolver that serialises its lookups does not serialise the
    /// threads), calling `wake(shard)` when an answer for `shard` is
    /// queued. The threads end when the shards are gone (the query
    /// channel closes).
    pub fn spawn(
        shards: u16,
        resolver: impl Fn() -> Resolver,
        wake: impl Fn(u16) + Clone + Send + 'static,
    ) -> std::io::Result<NameLookups> {
        let (queries, query_rx) = crossbeam_channel::bounded::<(u16, NameQuery)>(QUEUE);
        let (answer_txs, answers): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| crossbeam_channel::unbounded::<NameAnswer>())
            .unzip();
        for i in 0..LOOKUP_THREADS {
            let queries = query_rx.clone();
            let answers = answer_txs.clone();
            let resolve = resolver();
            let wake = wake.clone();
            std::thread::Builder::new()
                .name(format!("trunkline-dns-{i}"))
                .spawn(move || {
                    for (shard, q) in queries.iter() {
                        let found = resolve(&q.name, q.port);
                        if let Err(e) = &found {
                            tracing::debug!(name = %q.name, "next hop lookup failed: {e}");
                        }
                        if let Some(a) = answers.get(usize::from(shard)) {
                            let _ = a.send((q, found));
                            wake(shard);
                        }
                    }
                })?;
        }
        Ok(NameLookups { queries, answers })
    }
}
