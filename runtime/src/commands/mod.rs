//! One file per verb, each a thin adapter over libcontainer (youki's layout).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libcontainer::container::Container;

use crate::cli::{Command, GlobalOpts};

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod findings;
mod init_error;
mod intel;
mod kill;
mod list;
mod liveness;
mod logs;
mod metrics;
mod pause;
mod poststop;
mod ps;
mod rules;
mod run;
mod spec;
mod start;
mod state;
mod update;

pub use rules::validate_for_create;
pub use state::container_state;

/// Exit code of `exec` when scrun itself fails (runc's `fatalWithCode(…, 255)`).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct ExecSetupFailed(pub anyhow::Error);

pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<ExecSetupFailed>().is_some() {
        255
    } else {
        1
    }
}

pub fn version_text() -> String {
    format!(
        "scrun version {}\ncommit: {}\nspec: {}\n",
        crate::VERSION,
        crate::COMMIT,
        crate::SPEC_VERSION
    )
}

pub fn dispatch(command: Command, global: &GlobalOpts) -> Result<u8> {
    let root = global.root();
    match command {
        Command::Create(a) => create::create(a, global).map(|_| 0),
        Command::Start(a) => start::start(a, &root).map(|_| 0),
        Command::Run(a) => run::run(a, global),
        Command::Exec(a) => exec::exec(a, &root).map_err(|e| ExecSetupFailed(e).into()),
        Command::Kill(a) => kill::kill(a, &root).map(|_| 0),
        Command::Delete(a) => delete::delete(a, &root).map(|_| 0),
        Command::State(a) => state::state(a, &root).map(|_| 0),
        Command::Ps(a) => ps::ps(a, &root).map(|_| 0),
        Command::Pause(a) => pause::pause(a, &root).map(|_| 0),
        Command::Resume(a) => pause::resume(a, &root).map(|_| 0),
        Command::Update(a) => update::update(a, &root).map(|_| 0),
        Command::Features(_) => features::features().map(|_| 0),
        Command::List(a) => list::list(a, &root).map(|_| 0),
        Command::Events(a) => events::events(a, &root).map(|_| 0),
        Command::Spec(a) => spec::spec(a.bundle, a.rootless).map(|_| 0),
        Command::Checkpoint(a) => checkpoint::checkpoint(a, &root).map(|_| 0),
        Command::Restore(a) => checkpoint::restore(a).map(|_| 0),
        Command::Findings(a) => findings::findings(a).map(|_| 0),
        Command::Logs(a) => logs::logs(&a, &root).map(|_| 0),
        Command::Intel(a) => intel::intel(a),
        Command::Rules(a) => rules::rules(a),
        Command::Metrics(a) => metrics::metrics(a).map(|_| 0),
        Command::Supervise(a) => crate::supervisor::run(a).map(|_| 0),
    }
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Load a container, with runc's wording when it is missing (callers match "does not exist").
pub fn load_container(root: &Path, id: &str) -> Result<Container> {
    let dir = container_dir(root, id);
    if !dir.join("state.json").exists() {
        bail!("container {id} does not exist");
    }
    let mut c =
        Container::load(dir).with_context(|| format!("cannot load the state of container {id}"))?;
    liveness::correct(&mut c, root);
    Ok(c)
}

pub fn ensure_root(root: &Path) -> Result<()> {
    fs::create_dir_all(root)
        .with_context(|| format!("cannot create state directory {}", root.display()))
}
