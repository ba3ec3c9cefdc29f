//! Process resource limits the supervisor needs.

use std::io;

use crate::sys::cvt;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (at most `cap`) and returns the new soft
/// limit. The supervisor's worker keeps one descriptor per vetted file (a read lease).
pub fn raise_nofile(cap: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`, a valid, exclusively borrowed struct.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let want = lim.rlim_max.min(cap).max(lim.rlim_cur);
    if want > lim.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit from `new`, a valid struct that outlives the call.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) })?;
    }
    Ok(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_never_goes_down() {
        let before = raise_nofile(0).unwrap();
        assert!(raise_nofile(u64::MAX).unwrap() >= before);
    }
}
