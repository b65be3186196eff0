//! The registrar's location table shared through Redis (`[registrar]
//! redis = "redis://HOST:PORT/"`): every router keeps the whole table in
//! memory (lookups stay local and synchronous on the shards), and Redis
//! carries the changes between them.
//!
//! - After a REGISTER changes an AOR's bindings, the shard hands the AOR
//!   to the writer thread (a bounded queue: a shard never waits; when it
//!   is full the change is dropped and counted, and the next REGISTER of
//!   the AOR publishes it again). The writer stores the AOR's bindings as
//!   one key, `tl:loc:<aor>` = a JSON array of [`BindingRecord`]s,
//!   expiring with its last binding (`DEL` when none is left), then
//!   publishes `<router id> <aor>` on channel `tl:loc`.
//! - The subscriber thread reads `tl:loc`; for another router's change it
//!   reads the key and puts its bindings in place of the AOR's
//!   ([`Location::replace_aor`]).
//! - At start, every `tl:loc:*` key is read into the table (SCAN).
//!
//! Consistency: last writer wins per AOR; a change reaches the other
//! routers within one round trip to Redis. A router does not start
//! without its Redis (it could not read the shared table); once running,
//! while Redis is down each router serves its own table, the writer retries every second and
//! changes queued meanwhile are written when it is back; a change
//! published while a subscriber was disconnected is seen by it at its next
//! REGISTER (or after a restart, which reads every key).
//!
//! [`BindingRecord`]: crate::registrar::BindingRecord

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Commands;

use crate::registrar::{Aor, BindingRecord, Location};

/// The channel changes are published on.
const CHANNEL: &str = "tl:loc";
/// The prefix of the AOR keys.
const PREFIX: &str = "tl:loc:";
/// How long a thread waits before trying Redis again.
const RETRY: Duration = Duration::from_secs(1);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What the Redis threads did, for logs and tests.
#[derive(Debug, Default)]
pub struct RedisCounts {
    /// AOR changes written and published.
    pub published: AtomicU64,
    /// Changes of other routers taken into the table.
    pub applied: AtomicU64,
    /// Bindings read at start.
    pub loaded: AtomicU64,
    /// Redis errors (each followed by a retry).
    pub errors: AtomicU64,
}

/// The writer and subscriber threads; stopped when dropped.
#[derive(Debug)]
pub struct RedisLocation {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Their counts.
    pub counts: Arc<RedisCounts>,
}

impl RedisLocation {
    /// Reads every AOR from the Redis at `url` into `location`, then
    /// starts the threads: changes from `changes` are written and
    /// published, other routers' changes applied.
    pub fn start(
        url: &str,
        location: Arc<Location>,
        changes: Receiver<Aor>,
    ) -> Result<RedisLocation, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis `{url}`: {e}"))?;
        let counts = Arc::new(RedisCounts::default());
        let id = format!("{:016x}", fastrand::u64(..));
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .map_err(|e| format!("redis `{url}`: {e}"))?;
        let loaded = load_all(&mut conn, &location).map_err(|e| format!("redis `{url}`: {e}"))?;
        counts.loaded.store(loaded as u64, Ordering::Relaxed);
        tracing::info!("bindings read from redis {url}: {loaded}");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (client, location, counts, stop, id) = (
                client.clone(),
                Arc::clone(&location),
                Arc::clone(&counts),
                Arc::clone(&stop),
                id.clone(),
            );
            std::thread::Builder::new()
                .name("tl-redis-pub".into())
                .spawn(move || write_changes(&client, &location, &changes, &counts, &stop, &id))
                .map_err(|e| e.to_string())?
        };
        let reader = {
            let (location, counts, stop) = (
                Arc::clone(&location),
                Arc::clone(&counts),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name("tl-redis-sub".into())
                .spawn(move || apply_changes(&client, &location, &counts, &stop, &id))
                .map_err(|e| e.to_string())?
        };
        Ok(RedisLocation {
            stop,
            threads: vec![writer, reader],
            counts,
        })
    }
}

impl Drop for RedisLocation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads every `tl:loc:*` key into `location`; returns the bindings taken.
fn load_all(conn: &mut redis::Connection, location: &Location) -> redis::RedisResult<usize> {
    let keys = conn
        .scan_match::<_, String>(format!("{PREFIX}*"))?
        .collect::<redis::RedisResult<Vec<String>>>()?;
    let mut taken = 0;
    for key in keys {
        taken += read_aor(conn, location, &key[PREFIX.len()..])?;
    }
    Ok(taken)
}

/// Puts the bindings Redis holds for `aor` in place of ours.
fn read_aor(
    conn: &mut redis::Connection,
    location: &Location,
    aor: &str,
) -> redis::RedisResult<usize> {
    let Some(aor) = Aor::from_key(aor) else {
        return Ok(0);
    };
    let value: Option<String> = conn.get(format!("{PREFIX}{aor}"))?;
    let records: Vec<BindingRecord> = value
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    Ok(location.replace_aor(Instant::now(), unix_now(), &aor, records))
}

/// The writer: each changed AOR stored and published.
fn write_changes(
    client: &redis::Client,
    location: &Location,
    changes: &Receiver<Aor>,
    counts: &RedisCounts,
    stop: &AtomicBool,
    id: &str,
) {
    let mut conn: Option<redis::Connection> = None;
    let mut pending: Option<Aor> = None;
    while !stop.load(Ordering::Relaxed) {
        let aor = match pending.take() {
            Some(a) => a,
            None => match changes.recv_timeout(Duration::from_millis(200)) {
                Ok(a) => a,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match client.get_connection_with_timeout(Duration::from_secs(2)) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("redis: {e}; retrying");
                    pending = Some(aor);
                    std::thread::sleep(RETRY);
                    continue;
                }
            },
        };
        if let Err(e) = publish(c, location, &aor, id) {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("redis: {e}; retrying");
            conn = None;
            pending = Some(aor);
            std::thread::sleep(RETRY);
            continue;
        }
        counts.published.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stores `aor`'s bindings and tells the other routers.
fn publish(
    conn: &mut redis::Connection,
    location: &Location,
    aor: &Aor,
    id: &str,
) -> redis::RedisResult<()> {
    let unix = unix_now();
    let records = location.export_aor(aor, Instant::now(), unix);
    let key = format!("{PREFIX}{aor}");
    match records.iter().map(|r| r.expires_unix).max() {
        Some(last) => {
            let json = serde_json::to_string(&records).unwrap_or_else(|_| "[]".into());
            let ttl = u64::try_from(last.saturating_sub(unix)).unwrap_or(1).max(1);
            let () = conn.set_ex(&key, json, ttl)?;
        }
        None => {
            let () = conn.del(&key)?;
        }
    }
    let () = conn.publish(CHANNEL, format!("{id} {aor}"))?;
    Ok(())
}

/// The subscriber: other routers' changes applied.
fn apply_changes(
    client: &redis::Client,
    location: &Location,
    counts: &RedisCounts,
    stop: &AtomicBool,
    id: &str,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = subscribe(client, location, counts, stop, id) {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("redis subscription: {e}; retrying");
            std::thread::sleep(RETRY);
        }
    }
}

fn subscribe(
    client: &redis::Client,
    location: &Location,
    counts: &RedisCounts,
    stop: &AtomicBool,
    id: &str,
) -> redis::RedisResult<()> {
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let mut reader = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let mut sub = conn.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_millis(200)))?;
    sub.subscribe(CHANNEL)?;
    while !stop.load(Ordering::Relaxed) {
        let msg = match sub.get_message() {
            Ok(m) => m,
            Err(e) if e.is_timeout() => continue,
            Err(e) => return Err(e),
        };
        let payload: String = msg.get_payload()?;
        let Some((from, aor)) = payload.split_once(' ') else {
            continue;
        };
        if from == id {
            continue; // our own change
        }
        read_aor(&mut reader, location, aor)?;
        counts.applied.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
