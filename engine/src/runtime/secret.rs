//! The process's secret: what keys our Via branches (so that a response
//! with a forged branch is not relayed) and the digest nonces. Random per
//! process by default; with `[security] secret_file` it is read from that
//! file (created, mode 0600, on first start), so that after a restart the
//! router still recognises its branches (a 200 retransmitted to an INVITE
//! the previous process forwarded is relayed, not dropped as forged) and
//! its outstanding nonces.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Bytes of secret.
pub const LEN: usize = 32;

/// The secret and what is derived from it (each with its own label, so
/// no use's key tells another's).
#[derive(Clone)]
pub struct Secret([u8; LEN]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn random() -> Result<Secret, String> {
        let mut s = [0u8; LEN];
        getrandom::fill(&mut s).map_err(|e| format!("no randomness: {e}"))?;
        Ok(Secret(s))
    }

    /// The secret in `path`, created with a random one (mode 0600) when
    /// the file does not exist; errors name the file.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", path.display());
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == LEN => {
                let mut s = [0u8; LEN];
                s.copy_from_slice(&bytes);
                Ok(Secret(s))
            }
            Ok(bytes) => Err(err(
                "not a secret",
                &format!("{} bytes, expected {LEN}", bytes.len()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = Secret::random()?;
                let mut f = std::fs::OpenOptions::new();
                f.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut f, 0o600);
                let mut file = f.open(path).map_err(|e| err("cannot create", &e))?;
                file.write_all(&fresh.0)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err("cannot write", &e))?;
                Ok(fresh)
            }
            Err(e) => Err(err("cannot read", &e)),
        }
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(label);
        h.update(self.0);
        h.finalize().into()
    }

    /// The key of our branches' hash.
    pub fn branch_key(&self) -> [u64; 2] {
        let d = self.derive(b"trunkline branch key");
        let word = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().unwrap_or_default());
        [word(0), word(8)]
    }

    /// The digest nonces' HMAC secret.
    pub fn nonce_secret(&self) -> [u8; 32] {
        self.derive(b"trunkline nonce key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let a = Secret::from_file(&path).unwrap();
        let b = Secret::from_file(&path).unwrap();
        assert_eq!(a.branch_key(), b.branch_key());
        assert_eq!(a.nonce_secret(), b.nonce_secret());
        assert_ne!(a.branch_key()[0].to_le_bytes(), a.nonce_secret()[..8]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(Secret::random().unwrap().branch_key(), a.branch_key());
        std::fs::write(&path, b"short").unwrap();
        let e = Secret::from_file(&path).unwrap_err();
        assert!(
            e.contains("secret: not a secret: 5 bytes, expected 32"),
            "{e}"
        );
    }
}
