//! Exec'd processes get the container's seccomp profile, and so scrun's exec supervision.
//!
//! libcontainer 0.7.0 rebuilds `linux` for a tenant (`adapt_spec_for_tenant`) without `seccomp`, so
//! a `docker exec` would escape the container's profile and scrun altogether. scrun fixes that in
//! its own code, without patching libcontainer: `scrun exec` hands libcontainer a process whose
//! capability sets also hold CAP_SYS_ADMIN and CAP_SETPCAP, and this executor, which runs last in the
//! new process (inside the container, after the user switch and the capability drop), loads the
//! container's merged profile (CAP_SYS_ADMIN lets it do so without no_new_privs, as the init
//! does), passes the listener fd to the supervisor over a socket `scrun exec` connected before
//! the process was cloned, puts the capability sets back to exactly what the caller asked for
//! (CAP_SETPCAP allows the bounding-set drop), and only then execs the workload — the first
//! exec the supervisor sees.

use std::io::IoSlice;
use std::os::fd::RawFd;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Spec};

#[derive(Clone)]
pub struct TenantExecutor {
    pub seccomp: Option<LinuxSeccomp>,
    /// A connected stream to the container's supervisor, opened by `scrun exec` before the clone.
    pub supervisor_fd: Option<RawFd>,
    /// The process state sent with the listener fd (OCI `containerprocessstate` shape).
    pub state: Vec<u8>,
    /// The capability sets the caller asked for, restored after the filter is loaded.
    pub restore_caps: Option<LinuxCapabilities>,
}

fn fail(msg: String) -> ExecutorError {
    ExecutorError::Other(msg)
}

impl Executor for TenantExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(seccomp) = &self.seccomp {
            let fd = libcontainer::seccomp::initialize_seccomp(seccomp)
                .map_err(|e| fail(format!("cannot load the container's seccomp profile: {e}")))?;
            if let Some(fd) = fd {
                let sup = self.supervisor_fd.ok_or_else(|| {
                    fail("the seccomp profile notifies but no supervisor connection is open".into())
                })?;
                let fds = [fd];
                let sent = sendmsg::<()>(
                    sup,
                    &[IoSlice::new(&self.state)],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                );
                let _ = nix::unistd::close(fd);
                // `scrun exec` still holds the other end's peer open until we exec: shut the
                // socket down so the supervisor sees the end of the message now.
                let _ = nix::sys::socket::shutdown(sup, nix::sys::socket::Shutdown::Both);
                let _ = nix::unistd::close(sup);
                sent.map_err(|e| {
                    fail(format!(
                        "cannot hand the seccomp listener to the supervisor: {e}"
                    ))
                })?;
            }
        }
        if let Some(caps) = &self.restore_caps {
            let syscall = libcontainer::syscall::syscall::create_syscall();
            libcontainer::capabilities::drop_privileges(caps, &*syscall)
                .map_err(|e| fail(format!("cannot restore the exec's capabilities: {e}")))?;
        }
        exec_workload(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// Exec the process's args the way runc does: a PATH search for a bare name, then one `execv`.
/// Unlike `execvp`, a file the kernel refuses (ENOEXEC) is never handed to `/bin/sh`, and a failure
/// is reported on the process's stderr as `exec <path>: <error>` (after `start` nobody else can).
fn exec_workload(spec: &Spec) -> Result<(), ExecutorError> {
    use std::ffi::CString;
    use std::os::unix::fs::PermissionsExt;
    let args = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .filter(|a| !a.is_empty())
        .ok_or(ExecutorError::InvalidArg)?;
    let arg0 = &args[0];
    let path = if arg0.contains('/') {
        std::path::PathBuf::from(arg0)
    } else {
        let search = std::env::var("PATH").unwrap_or_default();
        search
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| std::path::Path::new(d).join(arg0))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .ok_or_else(|| {
                fail(format!(
                    "exec: {arg0:?}: executable file not found in $PATH"
                ))
            })?
    };
    let cpath =
        CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| ExecutorError::InvalidArg)?;
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
        .collect::<Result<_, _>>()?;
    let err = nix::unistd::execv(&cpath, &cargs).unwrap_err();
    let desc = err.desc();
    let msg = format!(
        "exec {}: {}{}",
        path.display(),
        desc[..1].to_lowercase(),
        &desc[1..]
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
    Err(fail(msg))
}

/// The init's executor: libcontainer's default, with runc's wording when the entrypoint cannot be
/// found (`exec: "x": executable file not found in $PATH`), which Docker maps to exit code 127.
#[derive(Clone)]
pub struct InitExecutor;

impl Executor for InitExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let err = exec_workload(spec);
        // runc's init exits 1 when the entrypoint cannot be executed (the message is already on
        // the container's stderr); libcontainer's would exit 255.
        #[allow(clippy::exit)]
        std::process::exit(if err.is_err() { 1 } else { 0 })
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec).map_err(|e| match e {
            ExecutorValidationError::ArgValidationError(msg)
                if msg.contains("not found in $PATH") =>
            {
                let arg0 = spec
                    .process()
                    .as_ref()
                    .and_then(|p| p.args().as_ref())
                    .and_then(|a| a.first().cloned())
                    .unwrap_or_default();
                ExecutorValidationError::ArgValidationError(format!(
                    "exec: {arg0:?}: executable file not found in $PATH"
                ))
            }
            other => other,
        })
    }
}
