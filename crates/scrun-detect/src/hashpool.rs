//! A bounded pool for decisions that must read a whole file (a hash-cache miss), so that the
//! thread answering a container's exec notifications never reads a big file itself: while a
//! 1 GB file is hashed, the container's other execs keep their latency.
//!
//! Bounds: `threads` workers (each hashes with one fixed-size buffer, so memory does not grow
//! with file size) and `queue` waiting jobs; a job that does not fit is handed back to the
//! caller ([`HashPool::submit`] returns it), which then runs it itself — slower for that
//! container, never unbounded. Two jobs for the same file share one hash ([`crate::HashCache`]
//! keeps at most one hash per file identity in flight). Workers start on first use.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

/// One deferred decision.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct HashPool {
    threads: usize,
    queue: usize,
    tx: OnceLock<SyncSender<Job>>,
    /// Run first on each worker thread (e.g. to lower its CPU priority).
    on_start: Option<fn()>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .finish()
    }
}

impl HashPool {
    pub fn new(threads: usize, queue: usize) -> Self {
        HashPool {
            threads: threads.max(1),
            queue: queue.max(1),
            tx: OnceLock::new(),
            on_start: None,
        }
    }

    /// `f` runs first on each worker thread.
    pub fn on_start(mut self, f: fn()) -> Self {
        self.on_start = Some(f);
        self
    }

    fn sender(&self) -> &SyncSender<Job> {
        self.tx.get_or_init(|| {
            let (tx, rx) = sync_channel::<Job>(self.queue);
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..self.threads {
                let rx = Arc::clone(&rx);
                let start = self.on_start;
                let spawned = std::thread::Builder::new()
                    .name(format!("scrun-hash-{i}"))
                    .spawn(move || {
                        if let Some(f) = start {
                            f();
                        }
                        work(&rx)
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start a hash worker");
                }
            }
            tx
        })
    }

    /// Queues `job`; gives it back when the queue is full (the caller runs it).
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        match self.sender().try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => Err(j),
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let g = rx.lock().unwrap_or_else(|e| e.into_inner());
            match g.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        // A job answers its own notification even when it fails (the caller wraps it); a panic
        // that escapes anyway must not take the worker with it.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a deferred exec decision panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_slow_job_does_not_hold_up_another() {
        let pool = HashPool::new(2, 8);
        let (gate_tx, gate_rx) = channel::<()>();
        let (done_tx, done_rx) = channel::<&'static str>();
        let d1 = done_tx.clone();
        pool.submit(Box::new(move || {
            let _ = gate_rx.recv();
            let _ = d1.send("slow");
        }))
        .unwrap_or_else(|_| panic!("queued"));
        pool.submit(Box::new(move || {
            let _ = done_tx.send("fast");
        }))
        .unwrap_or_else(|_| panic!("queued"));
        assert_eq!(done_rx.recv().unwrap(), "fast");
        drop(gate_tx);
        assert_eq!(done_rx.recv().unwrap(), "slow");
    }

    #[test]
    fn a_full_queue_hands_the_job_back_and_a_panic_spares_the_worker() {
        let pool = HashPool::new(1, 1);
        let (block_tx, block_rx) = channel::<()>();
        let (started_tx, started_rx) = channel::<()>();
        pool.submit(Box::new(move || {
            let _ = started_tx.send(());
            let _ = block_rx.recv();
            panic!("job panics");
        }))
        .unwrap_or_else(|_| panic!("queued"));
        started_rx.recv().unwrap();
        pool.submit(Box::new(|| {}))
            .unwrap_or_else(|_| panic!("one slot"));
        assert!(pool.submit(Box::new(|| {})).is_err(), "queue full");
        drop(block_tx);
        let (tx, rx) = channel::<()>();
        // The worker survives the panic and runs later jobs.
        loop {
            let t = tx.clone();
            if pool
                .submit(Box::new(move || {
                    let _ = t.send(());
                }))
                .is_ok()
            {
                break;
            }
            std::thread::yield_now();
        }
        rx.recv().unwrap();
    }
}
