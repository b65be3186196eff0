//! The local control socket: how `trunkline snap push` reaches a running
//! router (the seed of the management API).
//!
//! A Unix stream socket (mode 0600: only the router's user may connect)
//! takes one command line per connection and answers one line, `ok: ...`
//! or `error: ...`. Commands are rare (an operator, a deploy script), so
//! one plain thread serves them, away from the shards.
//!
//! Commands:
//! - `push PATH`: verify the snapshot at PATH and make it the routing
//!   table (PATH must be absolute);
//! - `reload`: the same with the current table's path (what SIGHUP does);
//! - `status`: the current table.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest command line accepted.
const MAX_LINE: u64 = 4096;

/// Serves commands: a command line in, `Ok(answer)` or `Err(why)` out.
pub type Handler = Box<dyn Fn(&str) -> Result<String, String> + Send>;

/// A running control socket; dropping it stops the thread and removes
/// the socket file.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` (a stale socket file left by a dead router is
    /// replaced; a live one is refused) and serves `handler` on it.
    pub fn start(path: &Path, handler: Handler) -> std::io::Result<ControlServer> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{}: another router is listening there", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("trunkline-control".into())
            .spawn(move || serve(listener, handler, &flag))?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, handler: Handler, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, &handler) {
                    tracing::warn!("control socket: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!("control socket: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn answer(stream: UnixStream, handler: &Handler) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_LINE)).read_line(&mut line)?;
    let reply = if !line.ends_with('\n') {
        Err(format!(
            "command line missing or longer than {MAX_LINE} bytes"
        ))
    } else {
        handler(line.trim_end())
    };
    let mut out = &stream;
    match reply {
        Ok(s) => writeln!(out, "ok: {s}"),
        Err(s) => writeln!(out, "error: {s}"),
    }
}

/// Sends one command to the router at `path`; its `ok:` answer, or the
/// error (the router's `error:` answer, or why it could not be reached).
pub fn request(path: &Path, command: &str) -> Result<String, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach the router's control socket {}: {e}",
            path.display()
        )
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    writeln!(stream, "{command}").map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reply = String::new();
    BufReader::new(stream.take(64 * 1024))
        .read_line(&mut reply)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let reply = reply.trim_end();
    if let Some(ok) = reply.strip_prefix("ok: ") {
        Ok(ok.to_string())
    } else if let Some(err) = reply.strip_prefix("error: ") {
        Err(err.to_string())
    } else {
        Err(format!("unexpected answer from the router: {reply:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_answers_round_trip() {
        let dir = std::env::temp_dir().join(format!("tl-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.sock");
        let server = ControlServer::start(
            &path,
            Box::new(|line| match line.split_once(' ') {
                Some(("echo", rest)) => Ok(rest.to_string()),
                _ => Err(format!("unknown command `{line}`")),
            }),
        )
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(request(&path, "echo hello").unwrap(), "hello");
        assert_eq!(
            request(&path, "frobnicate").unwrap_err(),
            "unknown command `frobnicate`"
        );
        // A second router cannot take the socket of a live one.
        let e = ControlServer::start(&path, Box::new(|_| Ok(String::new()))).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
        drop(server);
        assert!(!path.exists(), "socket removed on shutdown");
        let e = request(&path, "echo x").unwrap_err();
        assert!(e.contains("cannot reach"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
