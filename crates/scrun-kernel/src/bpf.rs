//! Whether this kernel loads BPF LSM programs (`scrun features`). scrun does not use the BPF
//! LSM; this says whether a kernel could carry an in-kernel exec verdict (README, "Threat
//! model"). `bpf` in `/sys/kernel/security/lsm` is not enough: a kernel can list it and still
//! refuse every LSM program (a locked-down one, measured in bench/results/2026-12-06-floor.md).
//!
//! The probe is one `BPF_PROG_LOAD` of a two-instruction program that names no hook. A kernel
//! that takes the program type runs the verifier, which rejects it with `EINVAL` and says why in
//! the log; one that refuses it answers before the verifier, without a log.

use std::io;

/// `BPF_PROG_TYPE_LSM` (include/uapi/linux/bpf.h).
const PROG_TYPE_LSM: u32 = 29;
/// `BPF_LSM_MAC`.
const LSM_MAC: u32 = 27;
/// `BPF_PROG_LOAD`.
const PROG_LOAD: libc::c_long = 5;

/// What the kernel answered to one program load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The kernel verifies programs of this type (the probe itself is rejected, as intended).
    Loadable,
    /// Refused before the verifier, with this errno (EPERM: a locked-down or restricted kernel).
    Refused(i32),
    /// The kernel does not know the program type (EINVAL without a verifier log).
    Unknown,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Loadable => f.write_str("loadable"),
            Probe::Refused(e) => write!(
                f,
                "refused by this kernel ({:?})",
                nix::errno::Errno::from_raw(*e)
            ),
            Probe::Unknown => f.write_str("unknown to this kernel"),
        }
    }
}

/// Whether BPF LSM programs (`lsm/<hook>`) can be loaded here.
pub fn lsm() -> Probe {
    probe(PROG_TYPE_LSM, LSM_MAC)
}

/// The `BPF_PROG_LOAD` attributes up to `attach_btf_id` (the kernel takes a shorter
/// `union bpf_attr` and zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
}

fn probe(prog_type: u32, attach_type: u32) -> Probe {
    // `r0 = 0; exit`: BPF_ALU64|BPF_MOV|BPF_K (0xb7) with dst r0, then BPF_JMP|BPF_EXIT (0x95).
    let insns: [u64; 2] = [0xb7, 0x95];
    let license = c"GPL";
    let mut log = [0u8; 512];
    let attr = ProgLoad {
        prog_type,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: attach_type,
        ..ProgLoad::default()
    };
    // SAFETY: `attr` is a valid prefix of `union bpf_attr` for BPF_PROG_LOAD, its size is passed;
    // the instructions, the license and the log buffer it points to live on this frame until
    // the call returns, and the kernel writes at most `log_size` bytes to the log.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd >= 0 {
        // Not expected (no hook is named); a loaded program is closed and counts as loadable.
        // SAFETY: `fd` was just returned to us and is closed once.
        unsafe { libc::close(fd as i32) };
        return Probe::Loadable;
    }
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    match errno {
        libc::EINVAL if log[0] != 0 => Probe::Loadable,
        libc::EINVAL => Probe::Unknown,
        e => Probe::Refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `BPF_PROG_TYPE_TRACING`.
    const PROG_TYPE_TRACING: u32 = 26;
    /// `BPF_TRACE_RAW_TP` (`tp_btf/...` programs).
    const TRACE_RAW_TP: u32 = 23;

    #[test]
    fn the_probe_tells_a_verified_type_from_an_unknown_one() {
        // `tp_btf` programs are verified on every kernel scrun runs on (5.5+): the probe, which
        // names no tracepoint, reaches the verifier. (Loading needs CAP_BPF: the suite runs as
        // root.)
        assert_eq!(probe(PROG_TYPE_TRACING, TRACE_RAW_TP), Probe::Loadable);
        // No such program type.
        assert_eq!(probe(999, 0), Probe::Unknown);
    }

    #[test]
    fn each_answer_reads_as_scrun_features_prints_it() {
        assert_eq!(Probe::Loadable.to_string(), "loadable");
        assert_eq!(
            Probe::Refused(libc::EPERM).to_string(),
            "refused by this kernel (EPERM)"
        );
        assert_eq!(Probe::Unknown.to_string(), "unknown to this kernel");
    }
}
