//! The in-memory index of customer keys by the SHA-256 of their secret.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

use crate::ledger::KeyStatus;
use crate::policy::PermissionSet;
use crate::store::gate::GateRow;

pub type Digest = [u8; 32];

/// Fx-style hashing for small integer keys (key ids, days): one multiply per word,
/// instead of SipHash's flood resistance, which ids chosen by keybill do not need.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_i64(&mut self, v: i64) {
        self.add(v as u64);
    }

    fn write_i32(&mut self, v: i32) {
        self.add(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }
}

impl IdHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// SHA-256 digests are uniformly random: their first eight bytes are a perfect hash.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Digests are hashed as arrays: a length prefix, then the 32 bytes.
        if bytes.len() >= 8 {
            self.0 = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

type DigestMap<V> = HashMap<Digest, V, BuildHasherDefault<DigestHasher>>;

/// What the gate knows of a key. Small and `Copy`: lookups copy it out of the map
/// instead of chasing a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateKey {
    pub id: i64,
    pub account_id: i64,
    pub location_id: Option<i64>,
    pub permissions: PermissionSet,
    pub status: KeyStatus,
    /// The key row's version: a newer one always wins, so a slow reload can never put
    /// back a state that a later change replaced.
    pub version: i64,
    pub developer: Digest,
}

fn decode_hex(s: &str) -> Option<Digest> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

impl GateKey {
    pub fn from_row(row: &GateRow) -> Option<(Digest, GateKey)> {
        let key = GateKey {
            id: row.key_id,
            account_id: row.account_id,
            location_id: row.location_id,
            permissions: row.permissions.parse().ok()?,
            status: row.status.parse().ok()?,
            version: row.version,
            developer: decode_hex(&row.developer_key_hash)?,
        };
        Some((decode_hex(&row.key_hash)?, key))
    }
}

#[derive(Default)]
pub struct KeyIndex {
    keys: RwLock<DigestMap<GateKey>>,
    developers: RwLock<HashSet<Digest, BuildHasherDefault<DigestHasher>>>,
}

impl KeyIndex {
    pub fn get(&self, digest: &Digest) -> Option<GateKey> {
        self.keys.read().expect("index lock").get(digest).copied()
    }

    pub fn is_developer(&self, digest: &Digest) -> bool {
        self.developers.read().expect("index lock").contains(digest)
    }

    /// Applies rows from the database; an older version never replaces a newer one.
    pub fn apply(&self, rows: &[GateRow]) {
        let parsed: Vec<(Digest, GateKey)> = rows.iter().filter_map(GateKey::from_row).collect();
        let mut keys = self.keys.write().expect("index lock");
        let mut developers = self.developers.write().expect("index lock");
        for (digest, key) in parsed {
            developers.insert(key.developer);
            match keys.get(&digest) {
                Some(current) if current.version > key.version => {}
                _ => {
                    keys.insert(digest, key);
                }
            }
        }
    }

    pub fn add_developers(&self, hashes: &[String]) {
        let mut developers = self.developers.write().expect("index lock");
        developers.extend(hashes.iter().filter_map(|h| decode_hex(h)));
    }

    pub fn len(&self) -> usize {
        self.keys.read().expect("index lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i64, status: &str) -> GateRow {
        GateRow {
            key_id: 1,
            key_hash: crate::secrets::hash("customer"),
            account_id: 2,
            location_id: Some(3),
            permissions: "ReadAll".into(),
            status: status.into(),
            version,
            developer_key_hash: crate::secrets::hash("developer"),
        }
    }

    #[test]
    fn a_stale_row_never_replaces_a_newer_one() {
        let index = KeyIndex::default();
        let digest = crate::secrets::digest("customer");
        index.apply(&[row(3, "disabled_by_staff")]);
        index.apply(&[row(2, "enabled")]);
        assert_eq!(
            index.get(&digest).unwrap().status.as_str(),
            "disabled_by_staff"
        );
        index.apply(&[row(4, "enabled")]);
        assert_eq!(index.get(&digest).unwrap().status.as_str(), "enabled");
        assert!(index.is_developer(&crate::secrets::digest("developer")));
        assert!(!index.is_developer(&crate::secrets::digest("someone else")));
    }
}
