//! Loader attribution by name: glibc's and musl's loaders, including Debian's musl layout
//! (`/lib/ld-musl-x86_64.so.1` -> `x86_64-linux-musl/libc.so`), where the exec target resolves
//! to `libc.so` and only the name it was run as says it is the loader.

use std::path::Path;

use scrun_detect::attribution::{Runner, indirect_target};
use scrun_detect::event::Known;

fn argv(args: &[&str]) -> Known {
    Known(args.iter().map(|a| a.as_bytes().to_vec()).collect())
}

fn runs(target: &str, requested: &str, args: &[&str]) -> Option<(Vec<u8>, Runner)> {
    indirect_target(
        Path::new(target),
        requested.as_bytes(),
        &mut argv(args),
        |a| Some(a.to_vec()),
    )
}

#[test]
fn musl_loader_is_known_by_its_symlink_name_and_as_libc() {
    // Debian: /lib/ld-musl-x86_64.so.1 -> x86_64-linux-musl/libc.so.
    let want = Some((b"/tmp/h".to_vec(), Runner::Loader));
    assert_eq!(
        runs(
            "/usr/lib/x86_64-linux-musl/libc.so",
            "/lib/ld-musl-x86_64.so.1",
            &["/lib/ld-musl-x86_64.so.1", "/tmp/h"]
        ),
        want
    );
    assert_eq!(
        runs(
            "/usr/lib/x86_64-linux-musl/libc.so",
            "/usr/lib/x86_64-linux-musl/libc.so",
            &["libc.so", "/tmp/h"]
        ),
        want
    );
    // Alpine: the loader is the file itself.
    assert_eq!(
        runs(
            "/lib/ld-musl-x86_64.so.1",
            "/lib/ld-musl-x86_64.so.1",
            &["ld", "/tmp/h"]
        ),
        want
    );
    // glibc's libc.so.6 is not a loader, nor is a plain program.
    assert_eq!(
        runs(
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
            &["libc.so.6", "/tmp/h"]
        ),
        None
    );
    assert_eq!(
        runs("/usr/bin/env", "/usr/bin/env", &["env", "/tmp/h"]),
        None
    );
}
