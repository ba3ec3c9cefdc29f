//! The first error wins: when libcontainer fails to build a container process, the cause is what
//! the container's init logged in its own process (libcontainer's parent side then reports only
//! what it was waiting for: `failed seccomp listener`, a closed channel). [`explain`] turns the
//! init's recorded error lines (see `logging::record_build_errors`) into the error `create`, `run`
//! and `exec` report, with the operation, the cause and the path or value at fault.

/// libcontainer's prefix for an init that failed before exec'ing the container's process.
const INIT_FAILED: &str = "failed to initialize container process: ";

/// `top` is libcontainer's error; `init_lines` the error lines the container's processes logged,
/// oldest (deepest cause) first; `cwd` the process's working directory (libcontainer logs a failed
/// chdir without it).
pub fn explain(top: anyhow::Error, init_lines: &[String], cwd: Option<&str>) -> anyhow::Error {
    let (Some(first), Some(last)) = (init_lines.first(), init_lines.last()) else {
        return top;
    };
    let summary = init_lines
        .iter()
        .rev()
        .find_map(|l| l.split_once(INIT_FAILED).map(|(_, s)| s))
        .unwrap_or(last);
    let summary = clean(summary);
    let cause = clean(first);
    // libcontainer passed the init's summary on (an exec failure does), and it names the value
    // at fault: nothing to add.
    if format!("{top:#}").contains(&summary) && (summary.contains('"') || summary.contains('/')) {
        return top;
    }
    let cause = match cwd {
        Some(cwd) if cause.starts_with("failed to chdir") => {
            format!("chdir to cwd ({cwd:?}) set in config.json failed: {cause}")
        }
        _ => cause,
    };
    let msg = if summary.contains(&cause) {
        summary
    } else if cause.contains(&summary) {
        cause
    } else {
        format!("{summary}: {cause}")
    };
    anyhow::anyhow!("error during container init: {msg}")
}

/// One log line made readable: a `field=Debug(...)` tail reduced to the message it carries, an
/// errno name (`e=ENOENT`) to its text, and Rust's `No such file or directory (os error 2)` written
/// as Go's `no such file or directory` (the words runc users and scripts know).
fn clean(line: &str) -> String {
    if let Some((head, name)) = line.split_once(" e=") {
        if let Some(text) = errno_text(name.trim()) {
            return format!("{head}: {text}");
        }
    }
    let mut s = match line.split_once(" err=") {
        Some((head, dbg)) => match first_quoted(dbg) {
            Some(q) => format!("{head}: {q}"),
            None => format!("{head}: {dbg}"),
        },
        None => line.to_string(),
    };
    while let Some(i) = s.find(" (os error ") {
        let Some(close) = s[i..].find(')') else { break };
        s.replace_range(i..i + close + 1, "");
        let start = s[..i].rfind(": ").map_or(0, |p| p + 2);
        if let Some(c) = s[start..].chars().next() {
            if c.is_ascii_uppercase() {
                s.replace_range(start..start + 1, &c.to_ascii_lowercase().to_string());
            }
        }
    }
    s
}

/// `ENOENT` -> `no such file or directory`.
fn errno_text(name: &str) -> Option<String> {
    (1..200)
        .map(nix::errno::Errno::from_raw)
        .find(|e| format!("{e:?}") == name)
        .map(|e| {
            let d = e.desc();
            let mut c = d.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
}

/// The first `"..."` string literal in a Debug rendering, unescaped.
fn first_quoted(dbg: &str) -> Option<String> {
    let start = dbg.find('"')? + 1;
    let mut out = String::new();
    let mut chars = dbg[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    fn masked() -> anyhow::Error {
        anyhow::anyhow!("failed to create container: failed seccomp listener")
    }

    #[test]
    fn a_missing_bind_source_is_named() {
        let e = explain(
            masked(),
            &lines(&[
                r#"failed to canonicalize "/nonexistent/src": No such file or directory (os error 2)"#,
                r#"failed to mount Mount { destination: "/mnt/x" }: io error"#,
                r#"failed to prepare rootfs err=Mount(Io(Os { code: 2, kind: NotFound, message: "No such file or directory" }))"#,
                "failed to initialize container process: failed to prepare rootfs",
            ]),
            None,
        );
        assert_eq!(
            e.to_string(),
            r#"error during container init: failed to prepare rootfs: failed to canonicalize "/nonexistent/src": no such file or directory"#
        );
    }

    #[test]
    fn a_debug_field_is_reduced_to_its_message() {
        let e = explain(
            masked(),
            &lines(&[
                r#"failed to prepare rootfs err=Mount(Other("filesystem proc must be mounted on ordinary directory"))"#,
                "failed to initialize container process: failed to prepare rootfs",
            ]),
            None,
        );
        assert_eq!(
            e.to_string(),
            "error during container init: failed to prepare rootfs: filesystem proc must be mounted on ordinary directory"
        );
    }

    #[test]
    fn an_error_libcontainer_passed_on_stays() {
        let top = anyhow::anyhow!(
            r#"exec process failed with error error in executing process : exec: "/x": executable file not found in $PATH"#
        );
        let e = explain(
            top,
            &lines(&[
                r#"executable for container process not found in PATH executable="/x""#,
                r#"failed to initialize container process: exec: "/x": executable file not found in $PATH"#,
            ]),
            None,
        );
        assert!(e.to_string().starts_with("exec process failed"), "{e}");
    }

    #[test]
    fn a_failed_chdir_names_the_cwd() {
        let top = anyhow::anyhow!(
            "exec process failed with error error in executing process : failed to unix syscall"
        );
        let e = explain(
            top,
            &lines(&[
                "failed to chdir e=ENOENT",
                "failed to initialize container process: failed to unix syscall",
            ]),
            Some("/nope"),
        );
        assert_eq!(
            e.to_string(),
            r#"error during container init: failed to unix syscall: chdir to cwd ("/nope") set in config.json failed: failed to chdir: no such file or directory"#
        );
    }

    #[test]
    fn nothing_recorded_keeps_libcontainers_error() {
        assert_eq!(
            explain(masked(), &[], None).to_string(),
            "failed to create container: failed seccomp listener"
        );
    }

    #[test]
    fn os_errors_in_go_words() {
        assert_eq!(
            clean(
                "open /a: Permission denied (os error 13): stat /b: Not a directory (os error 20)"
            ),
            "open /a: permission denied: stat /b: not a directory"
        );
    }
}
