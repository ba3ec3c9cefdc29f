//! `checkpoint` and `restore`: refused. A restored container would need its seccomp listener fds
//! and its supervisor's processes back, which CRIU cannot give scrun's keeper; so scrun says so,
//! naming the options it was given, with runc's exit status for a checkpoint it cannot make (1).

use std::path::Path;

use anyhow::{Result, bail};

use crate::cli::{Checkpoint, Restore};

/// `--name` and `--name=value` for every option that was given.
fn given(flags: &[(&str, Option<String>)]) -> String {
    let list: Vec<String> = flags
        .iter()
        .filter_map(|(name, v)| {
            v.as_ref().map(|v| {
                if v.is_empty() {
                    format!("--{name}")
                } else {
                    format!("--{name}={v}")
                }
            })
        })
        .collect();
    if list.is_empty() {
        "no options".to_string()
    } else {
        format!("options {}", list.join(" "))
    }
}

fn flag(b: bool) -> Option<String> {
    b.then(String::new)
}

fn many(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(","))
}

pub fn checkpoint(a: Checkpoint, root: &Path) -> Result<()> {
    // runc's order: an unknown container is reported as such first.
    super::load_container(root, &a.container_id)?;
    let opts = given(&[
        ("image-path", a.image_path),
        ("work-path", a.work_path),
        ("parent-path", a.parent_path),
        ("leave-running", flag(a.leave_running)),
        ("tcp-established", flag(a.tcp_established)),
        ("ext-unix-sk", flag(a.ext_unix_sk)),
        ("shell-job", flag(a.shell_job)),
        ("lazy-pages", flag(a.lazy_pages)),
        ("status-fd", a.status_fd),
        ("page-server", a.page_server),
        ("file-locks", flag(a.file_locks)),
        ("pre-dump", flag(a.pre_dump)),
        ("manage-cgroups-mode", a.manage_cgroups_mode),
        ("empty-ns", many(&a.empty_ns)),
        ("auto-dedup", flag(a.auto_dedup)),
    ]);
    bail!(
        "checkpoint is not supported by scrun: container {} ({opts}); the exec supervisor's seccomp listeners cannot be checkpointed and restored with the container",
        a.container_id
    )
}

pub fn restore(a: Restore) -> Result<()> {
    let opts = given(&[
        ("console-socket", a.console_socket),
        ("image-path", a.image_path),
        ("work-path", a.work_path),
        ("tcp-established", flag(a.tcp_established)),
        ("ext-unix-sk", flag(a.ext_unix_sk)),
        ("shell-job", flag(a.shell_job)),
        ("file-locks", flag(a.file_locks)),
        ("manage-cgroups-mode", a.manage_cgroups_mode),
        ("bundle", a.bundle),
        ("detach", flag(a.detach)),
        ("pid-file", a.pid_file),
        ("no-subreaper", flag(a.no_subreaper)),
        ("no-pivot", flag(a.no_pivot)),
        ("empty-ns", many(&a.empty_ns)),
        ("auto-dedup", flag(a.auto_dedup)),
        ("lazy-pages", flag(a.lazy_pages)),
        ("lsm-profile", a.lsm_profile),
        ("lsm-mount-context", a.lsm_mount_context),
    ]);
    bail!(
        "checkpoint is not supported by scrun: cannot restore container {} ({opts}); the exec supervisor's seccomp listeners cannot be checkpointed and restored with the container",
        a.container_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_given_are_named() {
        assert_eq!(
            given(&[
                ("image-path", Some("/img".into())),
                ("leave-running", flag(true)),
                ("shell-job", flag(false)),
                ("empty-ns", many(&["network".into(), "ipc".into()])),
            ]),
            "options --image-path=/img --leave-running --empty-ns=network,ipc"
        );
        assert_eq!(given(&[("pre-dump", flag(false))]), "no options");
    }
}
