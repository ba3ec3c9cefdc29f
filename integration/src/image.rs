//! Test images built from scratch, offline and deterministically.
//!
//! An image is written as a docker-archive (`docker save` format: `manifest.json`, a config JSON,
//! one `layer.tar` per layer), which `docker load`, `ctr image import` and `podman load` all
//! accept, so every engine runs the very same layers. The base layer is a busybox rootfs from the
//! host's busybox-static; extra layers hold files with known bytes (and so known SHA-256).
//! Layer tars are built with fixed owner, mtime and order, so the image ID is stable.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Result, io};
use crate::process::{require_program, run_ok};

/// The tag of the plain busybox test image.
pub const BUSYBOX: &str = "scrun-test/busybox:1";
/// The tag CRI uses for its sandbox (pause) image.
pub const PAUSE: &str = "registry.k8s.io/pause:3.6";
/// The sandbox's entrypoint: sleep until told to stop.
pub const PAUSE_ENTRYPOINT: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/// One file in a layer.
#[derive(Clone, Debug)]
pub struct FileEntry {
    /// Absolute path inside the image, e.g. `/usr/local/bin/hello`.
    pub path: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Permission bits, e.g. `0o755`.
    pub mode: u32,
}

impl FileEntry {
    /// The file at `path` (absolute, inside the image) with these bytes and permission bits.
    pub fn new(path: &str, bytes: Vec<u8>, mode: u32) -> FileEntry {
        FileEntry {
            path: path.into(),
            bytes,
            mode,
        }
    }
}

/// A layer: files added on top of the layers below.
pub type Layer = Vec<FileEntry>;

/// What the image runs by default.
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    /// `Entrypoint` (empty: none).
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
}

/// A built image archive.
#[derive(Clone, Debug)]
pub struct ImageArchive {
    /// The docker-archive tarball.
    pub path: PathBuf,
    /// The tag it carries, e.g. `scrun-test/busybox:1` (ctr shows `docker.io/…`, podman `localhost/…`).
    pub name: String,
    /// The image ID (`sha256:` + hex of the config), the same in every engine.
    pub id: String,
    /// `sha256:` + hex of each uncompressed layer, bottom first.
    pub diff_ids: Vec<String>,
}

/// The busybox image `scrun-test/busybox:1` with `CMD ["sh"]`, built under `dir`.
pub fn busybox(dir: &Path) -> Result<ImageArchive> {
    build_image(
        dir,
        BUSYBOX,
        &ImageConfig {
            entrypoint: vec![],
            cmd: vec!["sh".into()],
        },
        &[],
    )
}

/// The sandbox image CRI expects, `registry.k8s.io/pause:3.6`, whose entrypoint sleeps.
pub fn pause(dir: &Path) -> Result<ImageArchive> {
    let entrypoint = vec!["sh".into(), "-c".into(), PAUSE_ENTRYPOINT.into()];
    build_image(
        dir,
        PAUSE,
        &ImageConfig {
            entrypoint,
            cmd: vec![],
        },
        &[],
    )
}

/// Build the busybox base plus `layers` (each its own layer, bottom first) as image `name`.
pub fn build_image(
    dir: &Path,
    name: &str,
    config: &ImageConfig,
    layers: &[Layer],
) -> Result<ImageArchive> {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let work = dir.join(format!("image-{safe}"));
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io("remove", &work))?;
    }
    let archive = work.join("archive");
    fs::create_dir_all(&archive).map_err(io("create", &archive))?;

    let mut tars = Vec::new();
    let base = work.join("layer0");
    busybox_rootfs(&base)?;
    tars.push(tar_dir(&base, &work.join("layer0.tar"))?);
    for (i, layer) in layers.iter().enumerate() {
        let stage = work.join(format!("layer{}", i + 1));
        fs::create_dir_all(&stage).map_err(io("create", &stage))?;
        for f in layer {
            let rel = f.path.trim_start_matches('/');
            let dest = stage.join(rel);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            fs::write(&dest, &f.bytes).map_err(io("write", &dest))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(f.mode))
                .map_err(io("chmod", &dest))?;
        }
        tars.push(tar_dir(&stage, &work.join(format!("layer{}.tar", i + 1)))?);
    }

    let mut diff_ids = Vec::new();
    let mut layer_paths = Vec::new();
    for tar in &tars {
        let bytes = fs::read(tar).map_err(io("read", tar))?;
        let hex = hex::encode(Sha256::digest(&bytes));
        let rel = format!("{hex}/layer.tar");
        fs::create_dir_all(archive.join(&hex)).map_err(io("create", archive.join(&hex)))?;
        fs::rename(tar, archive.join(&rel)).map_err(io("move", tar))?;
        diff_ids.push(format!("sha256:{hex}"));
        layer_paths.push(rel);
    }
    let cfg = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": if config.entrypoint.is_empty() { serde_json::Value::Null } else { json!(config.entrypoint) },
            "Cmd": if config.cmd.is_empty() { serde_json::Value::Null } else { json!(config.cmd) },
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap_or_default();
    let cfg_hex = hex::encode(Sha256::digest(&cfg_bytes));
    let cfg_name = format!("{cfg_hex}.json");
    fs::write(archive.join(&cfg_name), &cfg_bytes).map_err(io("write", archive.join(&cfg_name)))?;
    let manifest = json!([{ "Config": cfg_name, "RepoTags": [name], "Layers": layer_paths }]);
    let manifest_path = archive.join("manifest.json");
    fs::write(&manifest_path, manifest.to_string()).map_err(io("write", &manifest_path))?;

    let path = work.join(format!("{safe}.tar"));
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&archive)
            .arg("-cf")
            .arg(&path)
            .arg("."),
        60,
    )?;
    Ok(ImageArchive {
        path,
        name: name.into(),
        id: format!("sha256:{cfg_hex}"),
        diff_ids,
    })
}

/// Stage a busybox rootfs in `root`: `/bin/busybox` and one symlink per applet in `/bin`,
/// `/etc/passwd` and `/etc/group` with root and `user` (uid/gid 1000), `/tmp`, `/root`.
pub fn busybox_rootfs(root: &Path) -> Result<()> {
    let busybox = require_program("busybox", "busybox-static")?;
    let bin = root.join("bin");
    for d in [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/user",
        "proc",
        "sys",
        "dev",
        "usr/local/bin",
    ] {
        fs::create_dir_all(root.join(d)).map_err(io("create", root.join(d)))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(io("chmod", root.join("tmp")))?;
    fs::copy(&busybox, bin.join("busybox")).map_err(io("copy", &busybox))?;
    let list = run_ok(Command::new(&busybox).arg("--list"), 10)?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", bin.join(applet)).map_err(io("symlink", bin.join(applet)))?;
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n";
    let group = "root:x:0:\nuser:x:1000:\n";
    fs::write(root.join("etc/passwd"), passwd).map_err(io("write", root.join("etc/passwd")))?;
    fs::write(root.join("etc/group"), group).map_err(io("write", root.join("etc/group")))?;
    Ok(())
}

/// Mount an overlay at `merged` with `lower` as its one image layer and `upper`/`work` made under
/// `scratch`, as engines make a container's rootfs (the exec gate needs one). The test's
/// `Workdir` unmounts it when dropped.
pub fn mount_overlay(lower: &Path, scratch: &Path, merged: &Path) -> Result<()> {
    let (upper, work) = (scratch.join("upper"), scratch.join("work"));
    for d in [merged, &upper, &work] {
        fs::create_dir_all(d).map_err(io("create", d))?;
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    run_ok(
        Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(merged),
        30,
    )?;
    Ok(())
}

/// Tar `dir`'s content into `out` deterministically (sorted, owner 0:0, mtime 0).
fn tar_dir(dir: &Path, out: &Path) -> Result<PathBuf> {
    run_ok(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mtime=@0",
                "--format=gnu",
            ])
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(out)
            .arg("."),
        120,
    )?;
    Ok(out.to_path_buf())
}

/// The lowercase hex SHA-256 of `bytes` (to assert on known files).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
