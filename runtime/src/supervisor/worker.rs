//! The worker: sets itself up (engine, sinks, confinement), accepts the listeners the keeper hands
//! over, and serves each on its own thread — the thread that received a notification answers it
//! ([`super::exec`] turns it into one decision, [`super::answer`] answers it, hands a big file to
//! the hash pool and contains a panic). The exec gate's group is served by [`super::gate`].

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use scrun_kernel::notify::{Listener, NotifyError, Readiness};
use scrun_kernel::view::Views;

use super::intake::{self, Message};
use super::loaded::ThreadCache;
use super::{Shared, answer, gate};
use crate::scrun_dir::ScrunDir;

/// The worker's life, in the forked child: set up, say ready (or why not), serve. Returns the
/// exit code.
pub fn main(sdir: &ScrunDir, mut ready: fs::File) -> i32 {
    match worker_setup(sdir) {
        Ok((shared, socket)) => {
            let _ = ready.write_all(b"ok\n");
            drop(ready);
            match worker_loop(Arc::new(shared), socket) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(e) => {
            let _ = writeln!(ready, "{e:#}");
            1
        }
    }
}

fn worker_setup(sdir: &ScrunDir) -> Result<(Shared, scrun_kernel::listener::ListenerSocket)> {
    let shared = Shared::new(sdir)?;
    let socket = scrun_kernel::listener::ListenerSocket::bind(&sdir.worker_socket())
        .with_context(|| format!("cannot listen on {}", sdir.worker_socket().display()))?;
    fs::write(sdir.worker_pid(), std::process::id().to_string())?;
    super::spawn::confine_worker().context("cannot confine the exec supervision worker")?;
    Ok((shared, socket))
}

fn worker_loop(shared: Arc<Shared>, socket: scrun_kernel::listener::ListenerSocket) -> Result<()> {
    let metrics = super::metrics_file(&shared.sdir);
    if let Some((path, every)) = &metrics {
        let _ = crate::metrics::write_snapshot(path);
        crate::metrics::spawn_writer(path.clone(), *every);
    }
    if shared.lease_breaks.is_some() {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            if let Some(b) = &shared.lease_breaks {
                gate::serve_lease_breaks(&shared, b);
            }
        });
    }
    loop {
        let stream = match socket.accept() {
            Ok(s) => s,
            Err(e) => {
                shared
                    .log
                    .warn(format_args!("accept on {}: {e}", socket.path().display()));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let metrics = metrics.clone();
        shared.active.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            serve_connection(&shared, stream);
            let left = shared.active.fetch_sub(1, Ordering::SeqCst) - 1;
            if left == 0 && shared.init_seen.load(Ordering::SeqCst) {
                if let Some((path, _)) = &metrics {
                    let _ = crate::metrics::write_snapshot(path);
                }
                let _ = fs::remove_file(shared.sdir.worker_socket());
                #[allow(clippy::exit)]
                // the accept loop blocks the main thread; this is the end of the process
                std::process::exit(0);
            }
        });
    }
}

/// One connection on the worker's socket: a listener, or the exec gate, from the keeper.
pub fn serve_connection(shared: &Arc<Shared>, stream: UnixStream) {
    let message = intake::receive(&stream, &shared.log);
    drop(stream);
    match message {
        Some(Message::Gate { fd, watcher }) => {
            shared.allowed.activate();
            let gate = Arc::new(if watcher {
                scrun_kernel::gate::ExecGate::watcher_from(fd)
            } else {
                scrun_kernel::gate::ExecGate::from(fd)
            });
            shared.vetted.set_gate(Arc::clone(&gate));
            gate::serve_gate(shared, &gate);
        }
        Some(Message::Listener { fd, init, .. }) => {
            if init {
                shared.init_seen.store(true, Ordering::SeqCst);
            }
            serve_listener(shared, Listener::new(fd));
        }
        None => {}
    }
}

fn serve_listener(shared: &Arc<Shared>, listener: Listener) {
    let listener = Arc::new(listener);
    let mut views = Views::default();
    let mut cache = ThreadCache::default();
    listener.set_sync_wakeup();
    loop {
        // RECV blocks by itself (no poll first: one syscall less per exec). It fails with
        // ENOENT for a notification whose task was interrupted, and once no task uses the
        // filter any more: only then does poll report the hang-up.
        let notif = match listener.recv() {
            Ok(n) => n,
            Err(NotifyError::Gone) => match listener.wait(0) {
                Ok(Readiness::Hangup) => return,
                Ok(_) => continue,
                Err(e) => {
                    shared
                        .log
                        .error(format_args!("poll on a seccomp listener: {e}"));
                    return;
                }
            },
            Err(e) => {
                shared
                    .log
                    .error(format_args!("seccomp notification receive: {e}"));
                if matches!(e, NotifyError::BadListener { .. }) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        answer::decide_and_answer(shared, &listener, &mut views, &mut cache, notif);
    }
}
