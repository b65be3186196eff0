//! The one reload path: everything the router can reload without a
//! restart (the routing table now; the request policy, subscribers and
//! dispatcher sets later) is re-read and checked first, all of it, then
//! put in service together; if any part fails its check, nothing changes
//! and the answer says which part and why. SIGHUP and the control
//! socket's `reload` both call [`Reloader::reload`].

use std::path::Path;
use std::sync::Arc;

use crate::lcr::LcrTable;
use crate::lcr::table::StagedTable;

/// A part of the router that can be reloaded: re-read and checked
/// ([`Reloadable::stage`]), then put in service ([`Staged::commit`]).
pub trait Reloadable: Send + Sync {
    /// What it is, for messages (`table`, `policy`, ...).
    fn name(&self) -> &'static str;

    /// Re-reads its source and checks it, changing nothing in service;
    /// `Err` says what is wrong (file, line, key where it can).
    fn stage(&self) -> Result<Box<dyn Staged + '_>, String>;

    /// A one-line description of what is in service.
    fn status(&self) -> String;
}

/// A checked new version of a [`Reloadable`], not in service yet.
/// Dropping it keeps what is in service.
pub trait Staged {
    /// Puts it in service, atomically; returns a one-line summary.
    fn commit(self: Box<Self>) -> String;
}

/// Reloads the router's reloadable parts, together.
pub struct Reloader {
    parts: Vec<Box<dyn Reloadable>>,
    /// The routing table in service, for `push PATH`.
    table: Option<Arc<LcrTable>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field(
                "parts",
                &self.parts.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Reloader {
    /// A reloader of the routing table in service, if there is one.
    pub fn new(table: Option<Arc<LcrTable>>) -> Reloader {
        let mut parts: Vec<Box<dyn Reloadable>> = Vec::new();
        if let Some(t) = &table {
            parts.push(Box::new(TableFile(Arc::clone(t))));
        }
        Reloader { parts, table }
    }

    /// Re-reads every reloadable part from its source and checks each;
    /// when all pass, puts them all in service and says what is now in
    /// service; when one fails, keeps everything in service and says why.
    pub fn reload(&self) -> Result<String, String> {
        if self.parts.is_empty() {
            return Err(
                "nothing to reload: no routing table is configured ([routing] table)".into(),
            );
        }
        let mut staged = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            match p.stage() {
                Ok(s) => staged.push(s),
                Err(e) => return Err(format!("{} refused, nothing changed: {e}", p.name())),
            }
        }
        let summaries: Vec<String> = staged.into_iter().map(|s| s.commit()).collect();
        Ok(summaries.join("; "))
    }

    /// Puts the table at `path` in service (checked first; on any damage
    /// the table in service stays).
    pub fn push_table(&self, path: &Path) -> Result<String, String> {
        match &self.table {
            Some(t) => t.load(path),
            None => Err("no routing table is configured ([routing] table)".into()),
        }
    }

    /// What is in service, one line per part.
    pub fn status(&self) -> String {
        match self.parts.as_slice() {
            [] => "no routing table is configured".into(),
            parts => parts
                .iter()
                .map(|p| p.status())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// Answers a control-socket command (see [`super::control`]): `push
    /// PATH`, `reload`, `status`.
    pub fn command(&self, line: &str) -> Result<String, String> {
        match line.split_once(' ').unwrap_or((line, "")) {
            ("push", path) if !path.trim().is_empty() => {
                let path = Path::new(path.trim());
                if !path.is_absolute() {
                    return Err(format!(
                        "`{}`: give an absolute path (the router's working directory is not yours)",
                        path.display()
                    ));
                }
                self.push_table(path)
            }
            ("reload", "") => self.reload(),
            ("status", "") => Ok(self.status()),
            _ => Err(format!(
                "unknown command `{line}`: use `push PATH`, `reload` or `status`"
            )),
        }
    }
}

/// The routing table, reloaded from the file in service.
struct TableFile(Arc<LcrTable>);

impl Reloadable for TableFile {
    fn name(&self) -> &'static str {
        "routing table"
    }

    fn stage(&self) -> Result<Box<dyn Staged + '_>, String> {
        Ok(Box::new(self.0.stage(&self.0.path())?))
    }

    fn status(&self) -> String {
        self.0.status()
    }
}

impl Staged for StagedTable<'_> {
    fn commit(self: Box<Self>) -> String {
        StagedTable::commit(*self)
    }
}
