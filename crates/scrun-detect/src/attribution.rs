//! Which file really runs when the exec target is not run directly: a `#!` script's interpreter,
//! the dynamic loader given a binary (`ld.so ./bin`), a shell given a script (`sh ./script.sh`).
//! No kernel calls here: the caller reads the file's head and resolves paths (see
//! [`indirect_target`]'s `resolve`).

use std::path::Path;

use crate::event::Strings;

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
    indirect_target_as(target, requested, argv, false, resolve)
}

/// [`indirect_target`], where `loader_by_content` says that the target is a dynamic loader by
/// what the file is (an ELF `ET_DYN` without `PT_INTERP`, read by the caller), whatever its name
/// or path: a renamed or relocated loader is one too.
pub fn indirect_target_as<R>(
    target: &Path,
    requested: &[u8],
    argv: &mut dyn Strings,
    loader_by_content: bool,
    resolve: impl FnOnce(&[u8]) -> Option<R>,
) -> Option<(R, Runner)> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    // The loader by its content, or by its file's name or the name it was run as: Debian's musl
    // package ships /lib/ld-musl-x86_64.so.1 as a symlink to x86_64-linux-musl/libc.so, and
    // musl's libc.so runs the program named by its first argument under either name.
    let requested_name = requested.rsplit(|c| *c == b'/').next().unwrap_or_default();
    let is_loader = loader_by_content
        || is_loader_name(&name)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Known;

    fn argv(items: &[&str]) -> Known {
        Known(items.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    /// Strings that count their reads (argv must be read only when it can matter).
    struct Counted(Known, usize);

    impl Strings for Counted {
        fn get(&mut self) -> (&[Vec<u8>], bool) {
            self.1 += 1;
            self.0.get()
        }
    }

    /// `indirect_target` with a resolver that knows `files` (and records what it was asked).
    fn indirect(
        target: &str,
        requested: &str,
        args: &[&str],
        files: &[&str],
    ) -> Option<(String, Runner)> {
        indirect_target(
            Path::new(target),
            requested.as_bytes(),
            &mut argv(args),
            |c| {
                let c = String::from_utf8_lossy(c).into_owned();
                files.contains(&c.as_str()).then_some(c)
            },
        )
    }

    #[test]
    fn the_loader_runs_its_first_non_option_argument() {
        let files = ["./bin", "/app/x"];
        assert_eq!(
            indirect(
                "/lib/ld-linux-x86-64.so.2",
                "/lib/ld-linux-x86-64.so.2",
                &["ld", "./bin"],
                &files
            ),
            Some(("./bin".into(), Runner::Loader))
        );
        // Options with a value are skipped with their value; others alone.
        assert_eq!(
            indirect(
                "/lib/ld-musl-x86_64.so.1",
                "/lib/ld-musl-x86_64.so.1",
                &["ld", "--library-path", "/lib", "--verify", "/app/x", "arg"],
                &files
            ),
            Some(("/app/x".into(), Runner::Loader))
        );
        assert_eq!(
            indirect("/lib/ld.so", "/lib/ld.so", &["ld", "--list"], &files),
            None
        );
        // What the resolver does not find is not attributed.
        assert_eq!(
            indirect("/lib/ld.so.1", "/lib/ld.so.1", &["ld", "/nowhere"], &files),
            None
        );
    }

    #[test]
    fn a_loader_by_content_is_one_whatever_its_name() {
        let run = |by_content| {
            indirect_target_as(
                Path::new("/tmp/renamed"),
                b"/tmp/renamed",
                &mut argv(&["x", "--argv0", "y", "./bin"]),
                by_content,
                |c| (c == b"./bin").then_some(()),
            )
        };
        assert_eq!(run(true), Some(((), Runner::Loader)));
        assert_eq!(run(false), None);
    }

    #[test]
    fn a_shell_runs_its_script_argument_but_not_an_option() {
        let files = ["./s.sh"];
        assert_eq!(
            indirect("/bin/bash", "/bin/bash", &["bash", "./s.sh"], &files),
            Some(("./s.sh".into(), Runner::Shell))
        );
        assert_eq!(
            indirect("/bin/sh", "/bin/sh", &["sh", "-c", "./s.sh"], &files),
            None
        );
        assert_eq!(indirect("/bin/sh", "/bin/sh", &["sh", ""], &files), None);
        assert_eq!(indirect("/bin/sh", "/bin/sh", &["sh"], &files), None);
        assert_eq!(
            indirect(
                "/usr/bin/python3",
                "/usr/bin/python3",
                &["python3", "./s.sh"],
                &files
            ),
            None
        );
    }

    #[test]
    fn busybox_is_a_shell_only_when_asked_as_one() {
        let files = ["./s.sh"];
        assert_eq!(
            indirect("/bin/busybox", "/bin/sh", &["sh", "./s.sh"], &files),
            Some(("./s.sh".into(), Runner::Shell))
        );
        assert_eq!(
            indirect(
                "/bin/busybox",
                "/bin/busybox",
                &["/bin/ash", "./s.sh"],
                &files
            ),
            Some(("./s.sh".into(), Runner::Shell))
        );
        assert_eq!(
            indirect("/bin/busybox", "/bin/cat", &["cat", "./s.sh"], &files),
            None
        );
        assert_eq!(
            indirect("/bin/busybox", "/bin/sh", &["cat", "./s.sh"], &files),
            None
        );
    }

    #[test]
    fn argv_is_not_read_for_a_plain_binary() {
        let mut args = Counted(argv(&["true"]), 0);
        let r = indirect_target(
            Path::new("/bin/true"),
            b"/bin/true",
            &mut args,
            |_| Some(()),
        );
        assert!(r.is_none());
        assert_eq!(args.1, 0);
        // busybox asked as `true`: not a shell, argv still unread.
        let r = indirect_target(Path::new("/bin/busybox"), b"/bin/true", &mut args, |_| {
            Some(())
        });
        assert!(r.is_none());
        assert_eq!(args.1, 0);
    }
}
