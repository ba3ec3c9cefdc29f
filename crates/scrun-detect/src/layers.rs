//! The container's rootfs as a stack of overlay layers, read from `/proc/self/mountinfo` at create.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use scrun_kernel::mountinfo::{MountLine, unescape};

use serde::{Deserialize, Serialize};

/// What the container's rootfs is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rootfs {
    /// An overlay mount: the only kind whose exec targets can be classified.
    Overlay(Overlay),
    /// Anything else (a plain bundle directory has `fstype` `"none"`).
    Other {
        /// The filesystem type from mountinfo, or `"none"` when the rootfs is not a mount point.
        fstype: String,
        /// The rootfs path.
        mountpoint: PathBuf,
    },
}

/// An overlay rootfs: its writable upper layer and its read-only lowers, top first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    /// Where the overlay is mounted (the container's rootfs on the host).
    pub mountpoint: PathBuf,
    /// The upper (writable) directory; absent for a read-only overlay.
    pub upper: Option<PathBuf>,
    /// The lower layers, top first, canonicalized.
    pub lowers: Vec<Layer>,
}

/// One lower layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer directory on the host, canonicalized when it exists.
    pub path: PathBuf,
    /// Who made the layer.
    pub kind: LayerKind,
}

/// Who made a lower layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// A layer of the container image.
    Image,
    /// A layer the engine generated (Docker's `<mount-id>-init`).
    Engine,
}

/// Errors from reading the rootfs layers.
#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    /// The overlay entry has no `lowerdir`.
    #[error(
        "overlay mount on {mountpoint} has no lowerdir option: cannot tell image files from added ones; check /proc/self/mountinfo"
    )]
    NoLowerdir {
        /// The rootfs mount point.
        mountpoint: PathBuf,
    },
    /// A relative layer path could not be resolved against any known base directory.
    #[error(
        "overlay mount on {mountpoint}: relative layer path {layer:?} exists under none of {bases:?}; the layer store layout is not one scrun knows (docker overlay2, containerd, podman)"
    )]
    UnresolvedRelative {
        /// The rootfs mount point.
        mountpoint: PathBuf,
        /// The relative path as written in mountinfo.
        layer: PathBuf,
        /// The base directories tried.
        bases: Vec<PathBuf>,
    },
}

/// Finds the rootfs in `mountinfo` (the text of `/proc/self/mountinfo`) and describes its layers.
///
/// The last entry whose mount point equals `rootfs` wins (mounts stack). No entry means a plain
/// bundle directory: `Rootfs::Other { fstype: "none" }`. Never panics on malformed input.
pub fn rootfs_from_mountinfo(mountinfo: &str, rootfs: &Path) -> Result<Rootfs, LayersError> {
    let want = strip_trailing_slashes(rootfs.as_os_str().as_bytes());
    let mut found = None;
    for line in mountinfo.lines() {
        if let Some(entry) = MountLine::parse(line) {
            if strip_trailing_slashes(&entry.mountpoint) == want {
                found = Some(entry);
            }
        }
    }
    let Some(entry) = found else {
        return Ok(Rootfs::Other {
            fstype: "none".to_owned(),
            mountpoint: rootfs.to_path_buf(),
        });
    };
    let mountpoint = bytes_to_path(entry.mountpoint);
    if entry.fstype != "overlay" {
        return Ok(Rootfs::Other {
            fstype: entry.fstype,
            mountpoint,
        });
    }
    overlay_from_options(entry.super_options, mountpoint).map(Rootfs::Overlay)
}

fn strip_trailing_slashes(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 1 && b[end - 1] == b'/' {
        end -= 1;
    }
    &b[..end]
}

/// Splits an (octal-unescaped) lowerdir value on `:` not escaped by `\`, dropping the escapes.
/// `::` starts the data-only layers, which are returned separately.
fn split_lowerdir(v: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut layers = Vec::new();
    let mut data = Vec::new();
    let mut cur = Vec::new();
    let mut in_data = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if i + 1 < v.len() => {
                cur.push(v[i + 1]);
                i += 2;
                continue;
            }
            b':' => {
                let piece = std::mem::take(&mut cur);
                if piece.is_empty() {
                    // "::" separates the data-only layers.
                    in_data = true;
                } else if in_data {
                    data.push(piece);
                } else {
                    layers.push(piece);
                }
            }
            c => cur.push(c),
        }
        i += 1;
    }
    if !cur.is_empty() {
        if in_data {
            data.push(cur);
        } else {
            layers.push(cur);
        }
    }
    (layers, data)
}

fn bytes_to_path(b: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(b))
}

fn overlay_from_options(options: &str, mountpoint: PathBuf) -> Result<Overlay, LayersError> {
    let mut lowers_raw: Vec<Vec<u8>> = Vec::new();
    let mut saw_lowerdir = false;
    let mut upper_raw: Option<Vec<u8>> = None;
    for opt in options.split(',') {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, v),
            None => (opt, ""),
        };
        let value = unescape(value.as_bytes());
        match key {
            "lowerdir" => {
                saw_lowerdir = true;
                let (layers, _data) = split_lowerdir(&value);
                lowers_raw.extend(layers);
            }
            "lowerdir+" => {
                saw_lowerdir = true;
                if !value.is_empty() {
                    lowers_raw.push(value);
                }
            }
            "upperdir" if !value.is_empty() => upper_raw = Some(value),
            // datadir+= layers only back metacopy files; they are not in the merged namespace.
            _ => {}
        }
    }
    if !saw_lowerdir || lowers_raw.is_empty() {
        return Err(LayersError::NoLowerdir { mountpoint });
    }
    let upper_raw = upper_raw.map(bytes_to_path);
    let upper_abs = upper_raw.as_ref().filter(|u| u.is_absolute()).cloned();
    let resolver = Resolver::new(&mountpoint, upper_abs.as_deref());
    let upper = match upper_raw {
        Some(u) => Some(resolver.resolve(&u, &mountpoint)?),
        None => None,
    };
    let mut lowers = Vec::with_capacity(lowers_raw.len());
    for raw in lowers_raw {
        let path = resolver.resolve(&bytes_to_path(raw), &mountpoint)?;
        let kind = if is_docker_init_layer(&path) {
            LayerKind::Engine
        } else {
            LayerKind::Image
        };
        lowers.push(Layer { path, kind });
    }
    Ok(Overlay {
        mountpoint,
        upper,
        lowers,
    })
}

/// Docker's init layer is `<data-root>/overlay2/<mount-id>-init/diff`.
fn is_docker_init_layer(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "diff")
        && path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n.as_bytes().ends_with(b"-init"))
}

struct Resolver {
    bases: Vec<PathBuf>,
}

impl Resolver {
    fn new(mountpoint: &Path, upper_abs: Option<&Path>) -> Self {
        let mut bases = Vec::new();
        // containerd: lowers relative to dirname(dirname(upperdir)), upperdir stays absolute.
        if let Some(b) = upper_abs.and_then(Path::parent).and_then(Path::parent) {
            bases.push(b.to_path_buf());
        }
        // docker overlay2: everything relative to dirname(dirname(mountpoint)).
        if let Some(b) = mountpoint.parent().and_then(Path::parent) {
            if !bases.iter().any(|x| x == b) {
                bases.push(b.to_path_buf());
            }
        }
        Resolver { bases }
    }

    fn resolve(&self, p: &Path, mountpoint: &Path) -> Result<PathBuf, LayersError> {
        if p.is_absolute() {
            return Ok(canonical_or_self(p));
        }
        for base in &self.bases {
            let candidate = base.join(p);
            if std::fs::symlink_metadata(&candidate).is_ok() {
                return Ok(canonical_or_self(&candidate));
            }
        }
        Err(LayersError::UnresolvedRelative {
            mountpoint: mountpoint.to_path_buf(),
            layer: p.to_path_buf(),
            bases: self.bases.clone(),
        })
    }
}

/// Follows `l/XXXX` symlinks; a path that does not exist (yet) is kept lexically normalized.
fn canonical_or_self(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(mp: &str, fstype: &str, opts: &str) -> String {
        format!("49 42 0:40 / {mp} rw,relatime shared:2 - {fstype} {fstype} rw,{opts}")
    }

    #[test]
    fn docker_absolute_layers_with_init() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("overlay2");
        for dir in [
            "abc/merged",
            "abc/diff",
            "abc-init/diff",
            "c1/diff",
            "c2/diff",
            "l",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("../abc-init/diff", root.join("l/INIT")).unwrap();
        std::os::unix::fs::symlink("../c1/diff", root.join("l/C1")).unwrap();
        std::os::unix::fs::symlink("../c2/diff", root.join("l/C2")).unwrap();
        let r = root.display();
        let mi = format!(
            "1 0 8:1 / / rw - ext4 /dev/vda rw\n{}\n",
            line(
                &format!("{r}/abc/merged"),
                "overlay",
                &format!(
                    "lowerdir={r}/l/INIT:{r}/l/C1:{r}/l/C2,upperdir={r}/abc/diff,workdir={r}/abc/work"
                )
            )
        );
        let Rootfs::Overlay(o) = rootfs_from_mountinfo(&mi, &root.join("abc/merged")).unwrap()
        else {
            panic!("not an overlay")
        };
        let canon = std::fs::canonicalize(&root).unwrap();
        assert_eq!(o.upper, Some(canon.join("abc/diff")));
        let paths: Vec<_> = o.lowers.iter().map(|l| (l.path.clone(), l.kind)).collect();
        assert_eq!(
            paths,
            vec![
                (canon.join("abc-init/diff"), LayerKind::Engine),
                (canon.join("c1/diff"), LayerKind::Image),
                (canon.join("c2/diff"), LayerKind::Image),
            ]
        );
    }

    #[test]
    fn docker_relative_long_form() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap().join("overlay2");
        for dir in ["m/merged", "m/diff", "x/diff", "l"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("../x/diff", root.join("l/XX")).unwrap();
        let mi = line(
            &format!("{}/m/merged", root.display()),
            "overlay",
            "lowerdir=l/XX,upperdir=m/diff,workdir=m/work",
        );
        let Rootfs::Overlay(o) = rootfs_from_mountinfo(&mi, &root.join("m/merged")).unwrap() else {
            panic!("not an overlay")
        };
        assert_eq!(o.upper, Some(root.join("m/diff")));
        assert_eq!(o.lowers[0].path, root.join("x/diff"));
        assert_eq!(o.lowers[0].kind, LayerKind::Image);
    }

    #[test]
    fn containerd_relative_lowers_absolute_upper() {
        let d = tempfile::tempdir().unwrap();
        let snaps = std::fs::canonicalize(d.path()).unwrap().join("snapshots");
        for dir in ["1/fs", "2/fs", "3/fs", "3/work"] {
            std::fs::create_dir_all(snaps.join(dir)).unwrap();
        }
        let rootfs = d.path().join("bundle/rootfs");
        let mi = line(
            &rootfs.display().to_string(),
            "overlay",
            &format!(
                "lowerdir=2/fs:1/fs,upperdir={s}/3/fs,workdir={s}/3/work",
                s = snaps.display()
            ),
        );
        let Rootfs::Overlay(o) = rootfs_from_mountinfo(&mi, &rootfs).unwrap() else {
            panic!("not an overlay")
        };
        assert_eq!(o.lowers.len(), 2);
        assert_eq!(o.lowers[0].path, snaps.join("2/fs"));
        assert_eq!(o.lowers[1].path, snaps.join("1/fs"));
    }

    #[test]
    fn unresolvable_relative_is_an_error() {
        let mi = line(
            "/nonexistent/a/merged",
            "overlay",
            "lowerdir=l/NOPE,upperdir=a/diff",
        );
        let err = rootfs_from_mountinfo(&mi, Path::new("/nonexistent/a/merged")).unwrap_err();
        assert!(
            matches!(err, LayersError::UnresolvedRelative { .. }),
            "{err}"
        );
    }

    #[test]
    fn escapes_last_entry_wins_and_unknown_options() {
        let mi = format!(
            "{}\n{}\n",
            line("/r\\040x", "overlay", "lowerdir=/first,upperdir=/u0"),
            line(
                "/r\\040x",
                "overlay",
                "lowerdir=/a\\054b:/c\\134:d::/data1,upperdir=/u\\011p,workdir=/w,uuid=on,fsync=volatile,index=off,lowerdir+=/e,datadir+=/data2"
            )
        );
        let Rootfs::Overlay(o) = rootfs_from_mountinfo(&mi, Path::new("/r x/")).unwrap() else {
            panic!("not an overlay")
        };
        assert_eq!(o.mountpoint, PathBuf::from("/r x"));
        assert_eq!(o.upper, Some(PathBuf::from("/u\tp")));
        let lowers: Vec<_> = o.lowers.iter().map(|l| l.path.clone()).collect();
        assert_eq!(
            lowers,
            vec![
                PathBuf::from("/a,b"),
                PathBuf::from("/c:d"),
                PathBuf::from("/e")
            ]
        );
    }

    #[test]
    fn non_overlay_and_plain_directory() {
        let mi = line("/bundle/rootfs", "fuse.fuse-overlayfs", "x");
        assert_eq!(
            rootfs_from_mountinfo(&mi, Path::new("/bundle/rootfs")).unwrap(),
            Rootfs::Other {
                fstype: "fuse.fuse-overlayfs".into(),
                mountpoint: "/bundle/rootfs".into()
            }
        );
        assert_eq!(
            rootfs_from_mountinfo(&mi, Path::new("/elsewhere")).unwrap(),
            Rootfs::Other {
                fstype: "none".into(),
                mountpoint: "/elsewhere".into()
            }
        );
        let err = rootfs_from_mountinfo(&line("/r", "overlay", "upperdir=/u"), Path::new("/r"))
            .unwrap_err();
        assert!(matches!(err, LayersError::NoLowerdir { .. }));
    }

    #[test]
    fn serde_round_trip() {
        let r = Rootfs::Overlay(Overlay {
            mountpoint: "/m".into(),
            upper: Some("/u".into()),
            lowers: vec![Layer {
                path: "/l".into(),
                kind: LayerKind::Engine,
            }],
        });
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Rootfs>(&s).unwrap(), r);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "",
            " - ",
            "a b c d",
            "1 2 3 4 / - overlay",
            "1 2 3 4 /r x - overlay o lowerdir=\\",
            "1 2 3 4 /r x - overlay o lowerdir=\\7",
            "1 2 3 4 /r x - overlay o lowerdir=::::,upperdir",
            "1 2 3 4 /r x - overlay o lowerdir=\\377\\400:,=,,",
            "\\\\\\ - - - -",
        ];
        for i in inputs {
            let _ = rootfs_from_mountinfo(i, Path::new("/r"));
        }
        // A cheap deterministic fuzz over byte soup built from mountinfo's alphabet.
        let alphabet = b" -\\0178:,=/lowerdir+upperoverlay\n";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut s = String::from("1 2 3:4 / /r o - overlay x ");
            for _ in 0..40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push(char::from(
                    alphabet[(state % alphabet.len() as u64) as usize],
                ));
            }
            let _ = rootfs_from_mountinfo(&s, Path::new("/r"));
        }
    }
}
