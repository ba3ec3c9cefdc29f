//! `scrun features`: the runtime-spec `features` document, with `linux.seccomp` (youki omits it)
//! listing `SCMP_ACT_NOTIFY`.

use anyhow::Result;
use serde_json::json;

pub fn features_json() -> serde_json::Value {
    let caps: Vec<String> = caps::all()
        .iter()
        .map(|c| format!("CAP_{}", c.to_string().trim_start_matches("CAP_")))
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "exec", "iversion",
            "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion",
            "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private",
            "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec", "rnoatime", "rnodev",
            "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "rnosymfollow",
            "ro", "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime",
            "rsuid", "rsymfollow", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
            "suid", "symfollow", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runc.version": crate::VERSION,
            "io.github.scrun.supervision": "seccomp-user-notify",
            "io.github.scrun.exec-guard": exec_guard()
        }
    })
}

/// What this kernel offers to bind a verdict to the file that runs, and what scrun uses.
fn exec_guard() -> String {
    let pidfd_ns = scrun_kernel::view::mnt_ns_of(std::process::id()).is_ok();
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").ok();
    let listed = match &lsm {
        Some(l) if l.split(',').any(|m| m.trim() == "bpf") => "listed",
        Some(_) => "not listed",
        None => "list unknown (securityfs not mounted)",
    };
    // Listed is not enough: a locked-down kernel lists it and refuses every LSM program.
    let bpf_lsm = format!(
        "{listed}, programs {}; not used by scrun",
        scrun_kernel::bpf::lsm()
    );
    // PROCMAP_QUERY (6.11) tells a file-backed mprotect range from anonymous memory.
    let here = exec_guard as *const () as u64;
    let procmap = match scrun_kernel::maps::file_backed(std::process::id(), here, 1) {
        Ok(_) => "file-backed ranges found with PROCMAP_QUERY",
        Err(_) => "PROCMAP_QUERY unavailable: the text of /proc/<pid>/maps is read",
    };
    format!(
        "seccomp user-notify on execve/execveat (+chroot/pivot_root, and unshare/clone with \
         CLONE_NEWNS, clone3, setns); caller view: {}; \
         fanotify FAN_OPEN_EXEC_PERM on the rootfs overlay superblock (enforce); \
         other mounts present at start: marked (private superblocks: filesystem marks, \
         host-shared: mount marks); mounts made later: marked when an exec first reaches them; \
         executable file mappings ([supervisor] mappings, default: the container's mode): \
         seccomp user-notify on mmap of a file with PROT_EXEC, mprotect/pkey_mprotect with \
         PROT_EXEC ({procmap}), personality(READ_IMPLIES_EXEC); bpf LSM: {bpf_lsm}",
        if pidfd_ns {
            "pidfd mount-namespace check per exec once a namespace syscall ran"
        } else {
            "per-exec /proc/<pid>/root"
        }
    )
}

pub fn features() -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&features_json())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_as_runtime_spec_features_with_notify() {
        let v = super::features_json();
        let guard = v["annotations"]["io.github.scrun.exec-guard"]
            .as_str()
            .unwrap();
        assert!(
            guard.contains("executable file mappings")
                && guard.contains("found with PROCMAP_QUERY"),
            "{guard}"
        );
        let f: oci_spec::runtime::Features = serde_json::from_value(v.clone()).unwrap();
        let seccomp = f.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert!(
            seccomp
                .actions()
                .as_ref()
                .unwrap()
                .contains(&oci_spec::runtime::LinuxSeccompAction::ScmpActNotify)
        );
        assert!(
            v["linux"]["capabilities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "CAP_SYS_ADMIN")
        );
    }
}
