//! Which shard owns a message: a seeded hash of its Call-ID.
//!
//! Sharding by Call-ID keeps every message of a dialog (INVITE, CANCEL,
//! ACK, BYE and their responses) on one shard, so transactions and dialogs
//! live in one thread's plain maps with no locks. Call-IDs that trunkline
//! mints itself carry their owner in a prefix, so answers hash back home
//! whatever the shard count.

use core::hash::BuildHasher;

/// A shard index, `0..n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

impl ShardId {
    /// As an index.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The prefix of Call-IDs minted by trunkline: `tl` + 4 hex digits of the
/// owner shard + `.`.
const MINT_PREFIX: &[u8] = b"tl";
const MINT_TAG_LEN: usize = MINT_PREFIX.len() + 4 + 1;

/// Maps Call-IDs to shards: a pure function of the Call-ID, the shard count
/// and a per-process seed (so peers cannot aim traffic at one shard).
#[derive(Clone, Debug)]
pub struct ShardMap {
    n: u16,
    hasher: foldhash::fast::FixedState,
}

impl ShardMap {
    /// A map over `n` shards (at least one) with hash seed `seed`.
    pub fn new(n: u16, seed: u64) -> ShardMap {
        ShardMap {
            n: n.max(1),
            hasher: foldhash::fast::FixedState::with_seed(seed),
        }
    }

    /// The number of shards.
    #[inline]
    pub fn shards(&self) -> u16 {
        self.n
    }

    /// The shard that owns the dialog or transaction with this Call-ID.
    #[inline]
    pub fn owner(&self, call_id: &[u8]) -> ShardId {
        if let Some(s) = minted_owner(call_id) {
            if s < self.n {
                return ShardId(s);
            }
        }
        let h = self.hasher.hash_one(call_id);
        // Multiply-shift: uniform over 0..n without a division.
        ShardId(((h as u128 * self.n as u128) >> 64) as u16)
    }
}

/// The owner shard encoded in a Call-ID minted by [`CallIdMinter`].
#[inline]
fn minted_owner(call_id: &[u8]) -> Option<u16> {
    if call_id.len() <= MINT_TAG_LEN
        || !call_id.starts_with(MINT_PREFIX)
        || call_id[MINT_TAG_LEN - 1] != b'.'
    {
        return None;
    }
    let mut v: u16 = 0;
    for &b in &call_id[MINT_PREFIX.len()..MINT_TAG_LEN - 1] {
        let d = (b as char).to_digit(16)? as u16;
        v = v << 4 | d;
    }
    Some(v)
}

/// Mints Call-IDs (for requests trunkline originates, such as OPTIONS
/// probes) that [`ShardMap::owner`] maps back to the minting shard.
#[derive(Clone, Debug)]
pub struct CallIdMinter {
    shard: ShardId,
    counter: u64,
    salt: u64,
}

impl CallIdMinter {
    /// A minter for `shard`; `salt` makes ids unique across restarts.
    pub fn new(shard: ShardId, salt: u64) -> CallIdMinter {
        CallIdMinter {
            shard,
            counter: 0,
            salt,
        }
    }

    /// Appends a new Call-ID `tlSSSS.<unique>@<host>` to `out`.
    pub fn mint(&mut self, host: &[u8], out: &mut Vec<u8>) {
        use std::io::Write;
        self.counter += 1;
        let _ = write!(
            out,
            "tl{:04x}.{:x}-{:x}@",
            self.shard.0, self.salt, self.counter
        );
        out.extend_from_slice(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_stable_and_spread() {
        let map = ShardMap::new(4, 42);
        let mut counts = [0u32; 4];
        for i in 0..40_000 {
            let id = format!("{i:x}-call@192.0.2.{}", i % 250);
            let s = map.owner(id.as_bytes());
            assert_eq!(s, map.owner(id.as_bytes()));
            counts[s.index()] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        // Another seed, another mapping.
        let other = ShardMap::new(4, 43);
        let moved = (0..1000)
            .filter(|i| {
                let id = format!("{i}@h");
                map.owner(id.as_bytes()) != other.owner(id.as_bytes())
            })
            .count();
        assert!(moved > 500);
    }

    #[test]
    fn minted_ids_hash_home() {
        let map = ShardMap::new(3, 7);
        for s in 0..3 {
            let mut m = CallIdMinter::new(ShardId(s), 0xabc);
            let mut id = Vec::new();
            m.mint(b"192.0.2.1", &mut id);
            assert!(id.starts_with(format!("tl{s:04x}.").as_bytes()));
            assert_eq!(map.owner(&id), ShardId(s));
            let mut id2 = Vec::new();
            m.mint(b"192.0.2.1", &mut id2);
            assert_ne!(id, id2);
        }
        // A minted tag beyond the shard count falls back to the hash.
        let id = b"tl00ff.1-1@h";
        assert!(map.owner(id).0 < 3);
        assert_eq!(ShardMap::new(1, 0).owner(b"anything"), ShardId(0));
    }
}
