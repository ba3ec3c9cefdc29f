//! Which file really runs when the exec target is not run directly: a `#!` script's interpreter,
//! the dynamic loader given a binary (`ld.so ./bin`), a shell given a script (`sh ./script.sh`).
//! No kernel calls here: the caller reads the file's head and resolves paths (see
//! [`indirect_target`]'s `resolve`).

use std::path::Path;

use crate::event::Strings;

/// The interpreter named by a `#!` line, from the head of a file (its first 256 bytes suffice).
pub fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|c| *c == b'\n').next()?;
    let interp = lossy(line).split_whitespace().next()?.to_string();
    (!interp.is_empty()).then_some(interp)
}

/// What runs the file named by an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The dynamic loader (`ld.so ./bin`).
    Loader,
    /// A shell given a script (`sh ./script.sh`).
    Shell,
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"];
/// ld.so options that take a value.
const LOADER_VALUE_OPTS: &[&str] = &[
    "--library-path",
    "--inhibit-rpath",
    "--audit",
    "--preload",
    "--argv0",
    "--glibc-hwcaps-prepend",
    "--glibc-hwcaps-mask",
];

/// The file that really runs when the exec target (`target`, resolved; `requested`, the path
/// as passed to exec) is the dynamic loader (`ld.so ./bin`) or a shell given a script
/// (`sh ./script.sh`, best effort: the shell reads it with a plain open). `resolve` turns the
/// argument naming that file into the caller's resolved file (`None`: not a regular file, or
/// not found). argv is read only when the target could be a loader or a shell.
pub fn indirect_target<R>(
    target: &Path,
    requested: &[u8],
    argv: &mut dyn Strings,
    resolve: impl FnOnce(&[u8]) -> Option<R>,
) -> Option<(R, Runner)> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    // The loader by its file's name or by the name it was run as: Debian's musl package ships
    // /lib/ld-musl-x86_64.so.1 as a symlink to x86_64-linux-musl/libc.so, and musl's libc.so
    // runs the program named by its first argument under either name.
    let requested_name = requested.rsplit(|c| *c == b'/').next().unwrap_or_default();
    let is_loader = is_loader_name(&name)
        || is_loader_name(&String::from_utf8_lossy(requested_name))
        || (name.starts_with("libc.") && target.to_string_lossy().contains("musl"));
    // busybox runs the applet named by argv[0]. argv is read only when the path asked for could
    // be a shell (`/bin/sh` -> busybox, or busybox itself): `/bin/true` -> busybox is not. A
    // caller that passes a shell's argv[0] with another applet's path is not seen (this check
    // is best effort anyway: `sh < script` is not seen either).
    let busybox_shell = name == "busybox"
        && (requested_name == b"busybox" || SHELLS.iter().any(|s| s.as_bytes() == requested_name))
        && {
            let arg0 = argv.get().0.first().map(|a| lossy(a)).unwrap_or_default();
            let arg0_name = Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            SHELLS.contains(&arg0_name.as_str())
        };
    let is_shell = SHELLS.contains(&name.as_str()) || busybox_shell;
    if !is_loader && !is_shell {
        return None;
    }
    let argv = argv.get().0;
    let candidate: &[u8] = if is_loader {
        let mut it = argv.iter().skip(1);
        loop {
            let a = it.next()?;
            let s = lossy(a);
            if LOADER_VALUE_OPTS.contains(&s.as_str()) {
                it.next()?;
            } else if !s.starts_with("--") {
                break a;
            }
        }
    } else if is_shell {
        let a = argv.get(1)?;
        if a.first() == Some(&b'-') || a.is_empty() {
            return None;
        }
        a
    } else {
        return None;
    };
    let resolved = resolve(candidate)?;
    let runner = if is_loader {
        Runner::Loader
    } else {
        Runner::Shell
    };
    Some((resolved, runner))
}

/// A dynamic loader's file name (glibc's or musl's).
fn is_loader_name(name: &str) -> bool {
    name.starts_with("ld-linux")
        || name.starts_with("ld-musl")
        || name == "ld.so"
        || name == "ld.so.1"
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}
