//! Answering a notification: handing it to its job (an exec to [`super::exec`], a mapping call to
//! [`super::mapping`]), sending the answer, deciding a big file on the hash pool instead of the
//! listener's thread, and containing a panic while deciding (never a hang).

use std::sync::Arc;

use scrun_detect::policy::Mode;
use scrun_kernel::notify::{Listener, Notification, NotifyError, ViewChange};
use scrun_kernel::view::{Taint, Views};

use super::Shared;
use super::exec::{self, Answer};
use super::loaded::ThreadCache;
use super::mapping;

/// The job of one notification: a mapping call, an exec, or else a view change.
fn handle(
    shared: &Shared,
    listener: &Listener,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: &Notification,
    may_defer: bool,
) -> Answer {
    if let Some(call) = notif.map_call() {
        return mapping::handle(shared, listener, views, cache, notif, &call, may_defer);
    }
    if let Some(call) = notif.exec_call() {
        return exec::handle(shared, listener, views, cache, notif, &call, may_defer);
    }
    // A view change (not counted as an exec): from now on this container's execs are checked as
    // it requires (scrun-kernel `view::Taint`). Set before the call may run. Any other trapped
    // syscall (none is expected) is taken as the strongest change.
    let taint = match notif.view_change() {
        Some(ViewChange::Namespace) => Taint::Namespaces,
        Some(ViewChange::Root) | None => Taint::Root,
    };
    shared
        .views_tainted
        .fetch_or(taint.bits(), std::sync::atomic::Ordering::Release);
    Answer::Continue
}

/// Decides one notification on the listener's thread and answers it (or hands it to the hash
/// pool). A panic is contained: `views` and `cache` start over (the same container root), since
/// they may be what panicked.
pub fn decide_and_answer(
    shared: &Arc<Shared>,
    listener: &Arc<Listener>,
    views: &mut Views,
    cache: &mut ThreadCache,
    notif: Notification,
) {
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handle(shared, listener, views, cache, &notif, true)
    }))
    .unwrap_or_else(|panic| {
        *views = views.fork();
        *cache = ThreadCache::default();
        contained_panic(shared, &notif, panic.as_ref())
    });
    if let Answer::Defer = answer {
        defer(shared, listener, views, notif);
        return;
    }
    respond(shared, listener, &notif, answer);
}

fn respond(shared: &Shared, listener: &Listener, notif: &Notification, answer: Answer) {
    let sent = match answer {
        Answer::Continue => listener.respond_continue(notif.id),
        Answer::Errno(e) => listener.respond_errno(notif.id, e),
        Answer::None | Answer::Defer => Ok(()),
    };
    if let Err(e) = sent {
        if !matches!(e, NotifyError::Gone) {
            shared
                .log
                .error(format_args!("seccomp answer for pid {}: {e}", notif.pid));
        }
    }
}

/// An exec whose file must be hashed (a big file the caches do not know) is decided on the
/// hash pool, so that the listener's thread goes on answering the container's other execs; the
/// job decides it from the start again (its own caches, the same container root) and answers.
fn defer(shared: &Arc<Shared>, listener: &Arc<Listener>, views: &Views, notif: Notification) {
    let (sh, l, mut v) = (Arc::clone(shared), Arc::clone(listener), views.fork());
    let job: scrun_detect::hashpool::Job = Box::new(move || {
        let mut cache = ThreadCache::default();
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&sh, &l, &mut v, &mut cache, &notif, false)
        }))
        .unwrap_or_else(|panic| contained_panic(&sh, &notif, panic.as_ref()));
        respond(&sh, &l, &notif, answer);
    });
    if let Err(job) = shared.pool.submit(job) {
        job(); // the pool is full: decide here (slower, but bounded)
    }
}

/// A panic while deciding one exec (or mapping call): logged and counted for `scrun state`; the
/// call fails closed in enforce mode (the mappings' mode for a mapping call) and is let through
/// in audit mode.
fn contained_panic(
    shared: &Shared,
    notif: &Notification,
    panic: &(dyn std::any::Any + Send),
) -> Answer {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let mapping = notif.map_call().is_some();
    let (kind, mode) = if mapping {
        let library = scrun_detect::engine::LoadedAs::Library;
        ("mapping", shared.engine.engine.mode_for(library))
    } else {
        ("exec", shared.engine.mode)
    };
    let enforce = mode == Mode::Enforce;
    let msg = format!(
        "{kind} decision for pid {} panicked ({what}); the {kind} was {}",
        notif.pid,
        if enforce { "denied" } else { "allowed" }
    );
    shared.log.error(format_args!("{msg}"));
    super::health::note_failure(&shared.sdir, &msg);
    if mapping {
        crate::metrics::COUNTERS
            .mapping(crate::metrics::MapOutcome::Error, std::time::Duration::ZERO);
    } else {
        crate::metrics::COUNTERS.exec(crate::metrics::Outcome::Error, std::time::Duration::ZERO);
    }
    if enforce {
        Answer::Errno(libc::EPERM)
    } else {
        Answer::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::Fixture;

    fn notification() -> Notification {
        Notification {
            id: 1,
            pid: 42,
            nr: libc::SYS_execve as i32,
            arch: 0,
            ip: 0,
            args: [0; 6],
        }
    }

    #[test]
    fn a_panic_fails_closed_in_enforce_and_open_in_audit_and_is_counted_for_state() {
        for (mode, want) in [(Mode::Enforce, Some(libc::EPERM)), (Mode::Audit, None)] {
            let fx = Fixture::new(mode);
            let shared = Shared::new(&fx.sdir).unwrap();
            for n in 1..=2 {
                let panic: Box<dyn std::any::Any + Send> = Box::new(format!("boom {n}"));
                let answer = contained_panic(&shared, &notification(), panic.as_ref());
                match (answer, want) {
                    (Answer::Errno(e), Some(w)) => assert_eq!(e, w),
                    (Answer::Continue, None) => {}
                    _ => panic!("wrong answer for {mode:?}"),
                }
            }
            let state = std::fs::read_to_string(fx.sdir.failures_file()).unwrap();
            assert!(
                state.starts_with("2 ") && state.contains("pid 42 panicked (boom 2)"),
                "{state}"
            );
            assert!(fx.log().contains("boom 1"), "{}", fx.log());
        }
    }
}
