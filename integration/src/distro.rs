//! Real distribution images for the tests, built from Debian's own packages and cached on the
//! machine between runs.
//!
//! - [`debian_rootfs`]: `debootstrap --variant=minbase` of the host's Debian suite from the host's
//!   Debian mirror (read from `/etc/apt/sources.list*`), with `python3-minimal`. glibc, dash,
//!   bash, coreutils, apt and dpkg, all dynamically linked.
//! - [`musl_rootfs`]: Debian's `musl` and `busybox-static` packages unpacked with `dpkg-deb`
//!   (the musl loader is `/lib/ld-musl-x86_64.so.1`, a symlink to `x86_64-linux-musl/libc.so`
//!   as Debian ships it), plus `/usr/local/bin/hello-musl`, a dynamic musl program compiled with
//!   `musl-gcc` while the image is built.
//!
//! Each rootfs is stored as a tarball under [`cache_dir`] named by a version key (suite, variant,
//! package set, recipe version); a key that exists is reused, so only the first run on a machine
//! pays for debootstrap (about a minute). Builds are serialised across test processes by a lock
//! file. [`import`] loads a tarball into a private dockerd with `docker import`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::docker::Docker;
use crate::error::{Error, Result, io};
use crate::process::{require_program, run_ok};

/// Bump when a recipe below changes, so cached tarballs of the old recipe are not reused.
const RECIPE: &str = "r1";
/// Packages added to the minbase Debian image.
pub const DEBIAN_INCLUDE: &str = "python3-minimal";
/// The musl loader's path in the musl image (Debian's musl package).
pub const MUSL_LOADER: &str = "/lib/ld-musl-x86_64.so.1";
/// The dynamic musl program in the musl image.
pub const HELLO_MUSL: &str = "/usr/local/bin/hello-musl";
/// What [`HELLO_MUSL`] prints.
pub const HELLO_MUSL_OUTPUT: &str = "hello from musl\n";

/// Where built rootfs tarballs are kept: `$SCRUN_TEST_CACHE`, else `/var/cache/scrun-test`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SCRUN_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/scrun-test"))
}

/// The Debian mirror and suite the host's apt uses (the first `deb` source that is not a
/// security or updates suite), e.g. (`http://deb.debian.org/debian`, `bookworm`).
pub fn host_mirror() -> Result<(String, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        if let Some(found) = parse_sources(&text) {
            return Ok(found);
        }
    }
    Err(Error::Config {
        path: "/etc/apt/sources.list".into(),
        reason: "no Debian main archive source (deb URI ending in /debian) found".into(),
    })
}

/// The Debian main archive and its release suite in one sources file (one-line or deb822).
fn parse_sources(text: &str) -> Option<(String, String)> {
    let good_uri = |u: &str| u.trim_end_matches('/').ends_with("/debian");
    let good_suite = |s: &str| !s.contains('-') && !s.contains('/');
    // One-line format: deb [opts] URI SUITE COMPONENTS...
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            if good_uri(uri) && good_suite(suite) {
                return Some((uri.trim_end_matches('/').to_owned(), suite.to_owned()));
            }
        }
    }
    // deb822: paragraphs with Types/URIs/Suites.
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let types = field("Types:").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
            continue;
        };
        let uri = uris.split_whitespace().find(|u| good_uri(u));
        let suite = suites.split_whitespace().find(|s| good_suite(s));
        if let (Some(u), Some(s)) = (uri, suite) {
            return Some((u.trim_end_matches('/').to_owned(), s.to_owned()));
        }
    }
    None
}

/// Hold the cache's build lock while `f` runs (other test processes wait).
fn locked<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let dir = cache_dir();
    fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let lock_path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open", &lock_path))?;
    let _lock =
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            Error::Io {
                op: "flock",
                path: lock_path.clone(),
                source: e.into(),
            }
        })?;
    f()
}

/// The cached tarball `key.tar`, built by `build(root)` into a fresh directory on a miss.
fn cached(key: &str, build: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let tar = cache_dir().join(format!("{key}.tar"));
    if tar.is_file() {
        return Ok(tar);
    }
    locked(|| {
        if tar.is_file() {
            return Ok(tar.clone());
        }
        let stage = cache_dir().join(format!(".build-{key}-{}", std::process::id()));
        if stage.exists() {
            fs::remove_dir_all(&stage).map_err(io("remove", &stage))?;
        }
        let root = stage.join("root");
        fs::create_dir_all(&root).map_err(io("create", &root))?;
        let result = build(&root).and_then(|()| {
            let part = stage.join("rootfs.tar");
            run_ok(
                Command::new("tar")
                    .args(["--numeric-owner", "--xattrs", "-C"])
                    .arg(&root)
                    .arg("-cf")
                    .arg(&part)
                    .arg("."),
                300,
            )?;
            fs::rename(&part, &tar).map_err(io("rename", &part))
        });
        let _ = fs::remove_dir_all(&stage);
        result.map(|()| tar.clone())
    })
}

/// The Debian minbase rootfs tarball (with [`DEBIAN_INCLUDE`]), built on first use.
pub fn debian_rootfs() -> Result<PathBuf> {
    let (mirror, suite) = host_mirror()?;
    let key = format!("debian-{suite}-minbase-{DEBIAN_INCLUDE}-{RECIPE}");
    cached(&key, |root| {
        let debootstrap = require_program("debootstrap", "debootstrap")?;
        run_ok(
            Command::new(debootstrap)
                .arg("--variant=minbase")
                .arg(format!("--include={DEBIAN_INCLUDE}"))
                .arg(&suite)
                .arg(root)
                .arg(&mirror),
            1200,
        )?;
        // Downloaded .debs are not part of an image.
        let archives = root.join("var/cache/apt/archives");
        if let Ok(rd) = fs::read_dir(&archives) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "deb") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    })
}

/// The musl rootfs tarball (Debian's `musl` + `busybox-static` + a dynamic musl program).
pub fn musl_rootfs() -> Result<PathBuf> {
    let (_, suite) = host_mirror()?;
    let key = format!("musl-{suite}-musl-busybox-static-{RECIPE}");
    cached(&key, |root| {
        require_program("dpkg-deb", "dpkg")?;
        let musl_gcc = require_program("musl-gcc", "musl-tools")?;
        let debs = root
            .parent()
            .map(|p| p.join("debs"))
            .unwrap_or_else(|| root.join("../debs"));
        fs::create_dir_all(&debs).map_err(io("create", &debs))?;
        // `apt-get download` fetches the packages from the host's apt sources into the cwd; on
        // a box whose package lists were cleaned, after an `apt-get update`.
        let download = || {
            run_ok(
                Command::new("apt-get").current_dir(&debs).args([
                    "download",
                    "-q",
                    "musl",
                    "busybox-static",
                ]),
                300,
            )
        };
        if download().is_err() {
            run_ok(Command::new("apt-get").args(["update", "-qq"]), 600)?;
            download()?;
        }
        for e in fs::read_dir(&debs).map_err(io("list", &debs))?.flatten() {
            run_ok(
                Command::new("dpkg-deb").arg("-x").arg(e.path()).arg(root),
                120,
            )?;
        }
        for d in [
            "bin",
            "etc",
            "tmp",
            "root",
            "proc",
            "sys",
            "dev",
            "usr/local/bin",
        ] {
            fs::create_dir_all(root.join(d)).map_err(io("create", root.join(d)))?;
        }
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .map_err(io("chmod", root.join("tmp")))?;
        let loader = root.join(MUSL_LOADER.trim_start_matches('/'));
        if fs::symlink_metadata(&loader).is_err() {
            return Err(Error::Io {
                op: "find the musl loader in the musl package at",
                path: loader,
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        // One symlink per busybox applet, as busybox --install -s would make.
        let busybox = root.join("bin/busybox");
        let list = run_ok(Command::new(&busybox).arg("--list"), 10)?;
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            let link = root.join("bin").join(applet);
            if applet.is_empty() || applet == "busybox" || fs::symlink_metadata(&link).is_ok() {
                continue;
            }
            symlink("busybox", &link).map_err(io("symlink", &link))?;
        }
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .map_err(io("write", root.join("etc/passwd")))?;
        fs::write(root.join("etc/group"), "root:x:0:\nuser:x:1000:\n")
            .map_err(io("write", root.join("etc/group")))?;
        // A dynamic musl program (PT_INTERP /lib/ld-musl-x86_64.so.1).
        let src = debs.join("hello.c");
        fs::write(
            &src,
            format!(
                "#include <stdio.h>\nint main(void) {{ fputs({:?}, stdout); return 0; }}\n",
                HELLO_MUSL_OUTPUT
            ),
        )
        .map_err(io("write", &src))?;
        let out = root.join(HELLO_MUSL.trim_start_matches('/'));
        run_ok(
            Command::new(musl_gcc)
                .arg("-O2")
                .arg("-o")
                .arg(&out)
                .arg(&src),
            120,
        )?;
        Ok(())
    })
}

/// `docker import` a rootfs tarball as `tag` with `CMD [cmd]` and a standard `PATH`.
pub fn import(docker: &Docker, tar: &Path, tag: &str, cmd: &str) -> Result<()> {
    let path = tar.display().to_string();
    let change_cmd = format!("CMD [\"{cmd}\"]");
    docker
        .docker_ok(&[
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            &change_cmd,
            &path,
            tag,
        ])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::parse_sources;

    #[test]
    fn finds_the_main_archive_in_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n\
                      Suites: bookworm-security\n";
        assert_eq!(
            parse_sources(deb822),
            Some(("http://deb.debian.org/debian".into(), "bookworm".into()))
        );
        let one = "deb https://packages.cloud.google.com/apt cloud-sdk main\n\
                   deb [arch=amd64] http://mirror.example/debian/ trixie main\n";
        assert_eq!(
            parse_sources(one),
            Some(("http://mirror.example/debian".into(), "trixie".into()))
        );
        assert_eq!(
            parse_sources("deb http://x/debian-security bookworm-security main\n"),
            None
        );
    }
}
