//! `scrun run`: create + start; in the foreground it waits for the init, forwards signals, returns
//! its exit status (128+signal when killed, like runc) and deletes the container.

use anyhow::{Context, Result};
use nix::sys::signal::{self, SigSet};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use super::create::{CreateArgs, create_container};
use crate::cli::GlobalOpts;

pub fn run(a: liboci_cli::Run, global: &GlobalOpts) -> Result<u8> {
    // Become the subreaper so the container init is ours to wait for.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut container = create_container(
        &CreateArgs {
            id: &a.container_id,
            bundle: &a.bundle,
            pid_file: a.pid_file.as_ref(),
            console_socket: a.console_socket.as_ref(),
            preserve_fds: a.preserve_fds,
            no_pivot: a.no_pivot,
            detach: a.detach,
        },
        global,
    )?;
    let signals = SigSet::all();
    signals.thread_block().context("cannot block signals")?;
    container
        .start()
        .with_context(|| format!("cannot start container {}", a.container_id))?;
    if a.detach {
        return Ok(0);
    }
    let init = container.pid().context("container has no init pid")?;
    let code = loop {
        match signals.wait().context("sigwait")? {
            signal::SIGCHLD => {
                let mut done = None;
                loop {
                    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(pid, c)) if pid == init => done = Some(c as u8),
                        Ok(WaitStatus::Signaled(pid, s, _)) if pid == init => {
                            done = Some(128 + s as u8)
                        }
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                if let Some(c) = done {
                    break c;
                }
            }
            signal::SIGWINCH | signal::SIGURG => {}
            s => {
                let _ = signal::kill(init, s);
            }
        }
    };
    if !a.keep {
        let root = global.root();
        super::delete::delete(
            liboci_cli::Delete {
                container_id: a.container_id.clone(),
                force: true,
            },
            &root,
        )?;
    }
    Ok(code)
}
