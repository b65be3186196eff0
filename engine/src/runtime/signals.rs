//! Signals, as operators of OpenSIPS and Kamailio expect them: SIGINT or
//! SIGTERM stops gracefully (a second one exits at once, status 130),
//! SIGUSR1 prints every shard's counters, SIGHUP reloads ([`Reloader`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::{Handle, Signals};

use super::Reloader;
use super::shards::Stopper;

/// The signal thread; stopped by [`SignalThread::close`].
#[derive(Debug)]
pub(super) struct SignalThread {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalThread {
    /// Installs the handlers and starts the thread that acts on them.
    pub fn start(stopper: Stopper, reloader: Arc<Reloader>) -> std::io::Result<SignalThread> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGHUP])?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("trunkline-signals".into())
            .spawn(move || {
                let stops = AtomicU32::new(0);
                for sig in signals.forever() {
                    match sig {
                        SIGUSR1 => stopper.dump_counters(),
                        SIGHUP => match reloader.reload() {
                            Ok(s) => tracing::info!("SIGHUP: reloaded: {s}"),
                            Err(e) => tracing::error!("SIGHUP: {e}"),
                        },
                        _ => {
                            if stops.fetch_add(1, Ordering::Relaxed) > 0 {
                                eprintln!("trunkline: second signal, exiting now");
                                std::process::exit(130);
                            }
                            tracing::info!("stopping: finishing live transactions");
                            stopper.stop();
                        }
                    }
                }
            })?;
        Ok(SignalThread {
            handle,
            thread: Some(thread),
        })
    }

    /// Stops the thread (the handlers stay installed, doing nothing).
    pub fn close(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        self.close();
    }
}
