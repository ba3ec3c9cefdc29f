//! The smallest runc-style CLI over libcontainer 0.7: `--root R run|create --bundle B ID`,
//! `start ID`, `state ID`, `delete [--force] ID`. No sealed re-exec, no supervisor, no seccomp
//! rewrite, no logging: what libcontainer alone costs on the bench's bundle.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use nix::sys::wait::{WaitStatus, waitpid};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, rest) = match args.as_slice() {
        [flag, root, rest @ ..] if flag == "--root" => (PathBuf::from(root), rest),
        _ => bail!("usage: libcontainer-floor --root DIR VERB ..."),
    };
    match rest {
        [verb, flag, bundle, id] if flag == "--bundle" && (verb == "run" || verb == "create") => {
            create_or_run(&root, Path::new(bundle), id, verb == "run")
        }
        [verb, id] if verb == "start" => load(&root, id)?.start().context("start"),
        [verb, id] if verb == "state" => {
            let mut c = load(&root, id)?;
            c.refresh_status().context("state")?;
            let status = format!("{:?}", c.status()).to_lowercase();
            println!("{{\"id\":\"{id}\",\"status\":\"{status}\"}}");
            Ok(())
        }
        [verb, id] if verb == "delete" => load(&root, id)?.delete(true).context("delete"),
        [verb, force, id] if verb == "delete" && (force == "--force" || force == "-f") => {
            load(&root, id)?.delete(true).context("delete")
        }
        _ => bail!("unsupported command line: {rest:?}"),
    }
}

fn load(root: &Path, id: &str) -> Result<Container> {
    Container::load(root.join(id)).with_context(|| format!("container {id}"))
}

fn create_or_run(root: &Path, bundle: &Path, id: &str, run: bool) -> Result<()> {
    if run {
        // The init is reparented to us when libcontainer's intermediate process exits.
        nix::sys::prctl::set_child_subreaper(true).context("subreaper")?;
    }
    let mut c = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(DefaultExecutor {})
        .with_root_path(root.to_path_buf())?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .context("create")?;
    if !run {
        return Ok(());
    }
    c.start().context("start")?;
    let init = c.pid().context("no init pid")?;
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, _) | WaitStatus::Signaled(p, _, _)) if p == init => break,
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => break,
            Err(e) => return Err(e).context("waitpid"),
        }
    }
    c.delete(true).context("delete")
}
