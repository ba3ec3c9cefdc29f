//! Where an exec target comes from: an image layer, the upper layer, another mount, or memory.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::hash::{Digest, FileKey, HashCache};
use crate::layers::{LayerKind, Rootfs};

/// The executable being run, as the supervisor resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Absolute path inside the container, symlinks already resolved.
    pub path: PathBuf,
    /// `st_dev` of the opened file.
    pub dev: u64,
    /// `st_ino` of the opened file.
    pub ino: u64,
    /// True when the file is a memfd (or another anonymous file).
    pub memfd: bool,
    /// The file has no name left (`st_nlink` 0: unlinked after it was opened, e.g. exec'd by
    /// descriptor): its path says nothing about its content.
    #[serde(default)]
    pub unlinked: bool,
}

/// Where a file that is not in the image lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddedOn {
    /// The overlay's upper layer: written at run time.
    UpperLayer,
    /// Another mount: a volume, a bind mount, a tmpfs.
    OtherMount,
    /// `/dev/shm`.
    DevShm,
}

/// The provenance of an exec target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Provenance {
    /// Content from lower layer `layer` (index into `Overlay::lowers`, top first).
    BuiltIn {
        /// The lower layer index.
        layer: usize,
        /// True when the layer is engine-generated (Docker's init layer), not the image's.
        engine: bool,
        /// True when the file was copied up (chmod, chown, touch) with its content unchanged.
        copied_up: bool,
    },
    /// Not in the image.
    Added {
        /// Where it lives.
        on: AddedOn,
    },
    /// An image file whose content was changed at run time.
    Modified {
        /// The lower layer holding the original.
        layer: usize,
    },
    /// An anonymous in-memory file.
    Memfd,
    /// Could not be decided.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Provenance {
    /// The short name used in findings: built-in, added, modified, memfd or unknown.
    pub fn as_str(&self) -> &'static str {
        match self {
            Provenance::BuiltIn { .. } => "built-in",
            Provenance::Added { .. } => "added",
            Provenance::Modified { .. } => "modified",
            Provenance::Memfd => "memfd",
            Provenance::Unknown { .. } => "unknown",
        }
    }
}

/// A regular file found in a lower layer, opened.
#[derive(Debug)]
pub(crate) struct LowerHit {
    pub(crate) layer: usize,
    pub(crate) file: File,
    pub(crate) key: FileKey,
}

/// Where the path of a target was found, before any content comparison.
#[derive(Debug)]
pub(crate) enum Located {
    Memfd,
    DevShm,
    OtherMount,
    Upper {
        /// The upper file carries `trusted.overlay.origin`: it was copied up.
        origin: bool,
        /// The copy the lowers would show without the upper file.
        lower: Option<LowerHit>,
    },
    Lower(LowerHit),
    Unknown(String),
}

/// Classifies `target` (see the crate README for the rules). `digest` is the target's digest,
/// used to tell a metadata-only copy-up from a modification. Never panics; failures are
/// `Provenance::Unknown` with the reason.
pub fn classify(
    rootfs: &Rootfs,
    rootfs_dev: u64,
    target: &Target,
    digest: &Digest,
    cache: &HashCache,
    max_bytes: u64,
) -> Provenance {
    let located = locate(rootfs, rootfs_dev, target);
    resolve(rootfs, located, digest, cache, max_bytes)
}

pub(crate) fn resolve(
    rootfs: &Rootfs,
    located: Located,
    digest: &Digest,
    cache: &HashCache,
    max_bytes: u64,
) -> Provenance {
    let engine = |layer: usize| match rootfs {
        Rootfs::Overlay(o) => o
            .lowers
            .get(layer)
            .is_some_and(|l| l.kind == LayerKind::Engine),
        Rootfs::Other { .. } => false,
    };
    match located {
        Located::Memfd => Provenance::Memfd,
        Located::DevShm => Provenance::Added {
            on: AddedOn::DevShm,
        },
        Located::OtherMount => Provenance::Added {
            on: AddedOn::OtherMount,
        },
        Located::Unknown(reason) => Provenance::Unknown { reason },
        Located::Lower(hit) => Provenance::BuiltIn {
            layer: hit.layer,
            engine: engine(hit.layer),
            copied_up: false,
        },
        Located::Upper { lower: None, .. } => Provenance::Added {
            on: AddedOn::UpperLayer,
        },
        Located::Upper {
            origin,
            lower: Some(hit),
        } => match cache.get_or_hash(&hit.key, &hit.file, max_bytes, true) {
            Ok((lower, _)) if lower.sha256 == digest.sha256 && lower.size == digest.size => {
                Provenance::BuiltIn {
                    layer: hit.layer,
                    engine: engine(hit.layer),
                    copied_up: true,
                }
            }
            // Copied up, then changed.
            Ok(_) if origin => Provenance::Modified { layer: hit.layer },
            // No origin: a new file over a whiteout (rm, then re-create), not a copy-up.
            Ok(_) => Provenance::Added {
                on: AddedOn::UpperLayer,
            },
            Err(e) => Provenance::Unknown {
                reason: format!(
                    "cannot hash the image copy in lower layer {}: {e}",
                    hit.layer
                ),
            },
        },
    }
}

/// Finds which layer supplies `target.path`, following overlayfs lookup rules: upper first,
/// then lowers top-down; a whiteout (0:0 char device) or non-directory hides what is below;
/// an opaque directory (`trusted.overlay.opaque`/`user.overlay.opaque` = `y`) hides lower
/// directories. Walks with `openat(O_NOFOLLOW)` one component at a time, so a symlink planted
/// in the upper layer can never lead outside the layer.
pub(crate) fn locate(rootfs: &Rootfs, rootfs_dev: u64, target: &Target) -> Located {
    let found = locate_path(rootfs, rootfs_dev, target);
    if target.memfd || target.dev != rootfs_dev {
        return found;
    }
    // Provenance comes from the file itself: the path only says which image file to compare
    // with. An unlinked file, or one that is not the lower file its path shows now (overlay
    // reports a non-copied-up file with the lower file's inode), is built-in only if its
    // content is that image file's; otherwise it was written at run time.
    match found {
        Located::Lower(hit) if target.unlinked || hit.key.ino != target.ino => Located::Upper {
            origin: false,
            lower: Some(hit),
        },
        Located::Upper { lower, .. } if target.unlinked => Located::Upper {
            origin: false,
            lower,
        },
        Located::Unknown(_) if target.unlinked => Located::Upper {
            origin: false,
            lower: None,
        },
        other => other,
    }
}

fn locate_path(rootfs: &Rootfs, rootfs_dev: u64, target: &Target) -> Located {
    if target.memfd {
        return Located::Memfd;
    }
    if target.path.starts_with("/dev/shm") {
        return Located::DevShm;
    }
    if target.dev != rootfs_dev {
        return Located::OtherMount;
    }
    let overlay = match rootfs {
        Rootfs::Overlay(o) => o,
        Rootfs::Other { fstype, .. } => {
            return Located::Unknown(format!("rootfs is not an overlay (fstype {fstype})"));
        }
    };
    let path = match target
        .path
        .to_str()
        .and_then(|p| p.strip_suffix(" (deleted)"))
    {
        Some(p) if target.unlinked => Path::new(p),
        _ => target.path.as_path(),
    };
    let Some(components) = normal_components(path) else {
        return Located::Unknown(format!(
            "exec path {} is not an absolute, normalized path",
            target.path.display()
        ));
    };
    let Some((last, dirs)) = components.split_last() else {
        return Located::Unknown("exec path is the root directory".into());
    };

    // Layer stack: (lower index or None for upper, dir fd), top first.
    let mut active: Vec<(Option<usize>, OwnedFd)> = Vec::with_capacity(overlay.lowers.len() + 1);
    let roots = overlay.upper.iter().map(|u| (None, u)).chain(
        overlay
            .lowers
            .iter()
            .enumerate()
            .map(|(i, l)| (Some(i), &l.path)),
    );
    for (idx, path) in roots {
        match rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => active.push((idx, fd)),
            Err(e) => {
                return Located::Unknown(format!("cannot open layer {}: {e}", path.display()));
            }
        }
    }

    for dir in dirs {
        let mut next = Vec::with_capacity(active.len());
        for (idx, fd) in &active {
            match rustix::fs::openat(
                fd,
                *dir,
                OFlags::RDONLY
                    | OFlags::DIRECTORY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(sub) => {
                    let opaque = is_opaque(&sub);
                    next.push((*idx, sub));
                    if opaque {
                        break;
                    }
                }
                Err(Errno::NOENT) => {}
                // A whiteout, file or symlink hides everything below it.
                Err(Errno::NOTDIR) | Err(Errno::LOOP) => break,
                Err(e) => {
                    return Located::Unknown(format!(
                        "cannot look up {} in a layer: {e}",
                        target.path.display()
                    ));
                }
            }
        }
        if next.is_empty() {
            return Located::Unknown(format!(
                "{} is in no layer (removed or renamed since exec?)",
                target.path.display()
            ));
        }
        active = next;
    }

    let mut upper_hit: Option<bool> = None;
    for (idx, fd) in &active {
        let st = match rustix::fs::statat(fd, *last, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => {
                return Located::Unknown(format!(
                    "cannot stat {} in a layer: {e}",
                    target.path.display()
                ));
            }
        };
        let ftype = FileType::from_raw_mode(st.st_mode);
        if ftype == FileType::CharacterDevice && st.st_rdev == 0 {
            // Whiteout: nothing below is visible.
            break;
        }
        if ftype != FileType::RegularFile {
            if upper_hit.is_some() {
                break;
            }
            return Located::Unknown(format!(
                "{} is not a regular file in its layer",
                target.path.display()
            ));
        }
        match (idx, upper_hit) {
            (None, _) => upper_hit = Some(has_origin(fd, last)),
            (Some(layer), origin) => {
                let hit = match open_lower(fd, last, *layer) {
                    Ok(h) => h,
                    Err(e) => {
                        return Located::Unknown(format!(
                            "cannot open {} in lower layer {layer}: {e}",
                            target.path.display()
                        ));
                    }
                };
                return match origin {
                    Some(origin) => Located::Upper {
                        origin,
                        lower: Some(hit),
                    },
                    None => Located::Lower(hit),
                };
            }
        }
    }
    match upper_hit {
        Some(origin) => Located::Upper {
            origin,
            lower: None,
        },
        None => Located::Unknown(format!(
            "{} is in no layer (removed or renamed since exec?)",
            target.path.display()
        )),
    }
}

fn normal_components(path: &Path) -> Option<Vec<&std::ffi::OsStr>> {
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return None;
    }
    comps
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn xattr_is_y(fd: impl AsFd, name: &str) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::fgetxattr(fd, name, &mut buf[..]), Ok(1) if buf[0] == b'y')
}

fn is_opaque(dir: &OwnedFd) -> bool {
    xattr_is_y(dir, "trusted.overlay.opaque") || xattr_is_y(dir, "user.overlay.opaque")
}

/// Reads the origin xattr of `name` in `dir` without opening the (container-writable) file:
/// `lgetxattr` through the directory's `/proc/self/fd` link.
fn has_origin(dir: &OwnedFd, name: &std::ffi::OsStr) -> bool {
    let path = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let mut buf = [0u8; 256];
    ["trusted.overlay.origin", "user.overlay.origin"]
        .iter()
        .any(
            |attr| match rustix::fs::lgetxattr(&path, *attr, &mut buf[..]) {
                Ok(_) | Err(Errno::RANGE) => true,
                Err(_) => false,
            },
        )
}

fn open_lower(dir: &OwnedFd, name: &std::ffi::OsStr, layer: usize) -> std::io::Result<LowerHit> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(LowerHit {
        layer,
        key: FileKey::from_metadata(&meta),
        file,
    })
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Real overlay mounts for tests (we are root), unmounted with MNT_DETACH on drop.
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use crate::layers::{Layer, LayerKind, Overlay, Rootfs};

    use super::Target;

    pub struct OverlayFixture {
        pub dir: tempfile::TempDir,
        pub merged: PathBuf,
        pub rootfs: Rootfs,
        pub dev: u64,
        mounted: bool,
    }

    impl OverlayFixture {
        /// Two lowers (`l0` top, `l1` bottom) filled by `setup`, an empty upper, mounted.
        pub fn new(setup: impl FnOnce(&Path, &Path)) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let base = std::fs::canonicalize(dir.path()).unwrap();
            for d in ["l0", "l1", "u", "w", "m"] {
                std::fs::create_dir(base.join(d)).unwrap();
            }
            setup(&base.join("l0"), &base.join("l1"));
            let data = format!(
                "lowerdir={b}/l0:{b}/l1,upperdir={b}/u,workdir={b}/w",
                b = base.display()
            );
            let merged = base.join("m");
            let data = std::ffi::CString::new(data).unwrap();
            rustix::mount::mount(
                "overlay",
                &merged,
                "overlay",
                rustix::mount::MountFlags::empty(),
                data.as_c_str(),
            )
            .expect("mount overlay (tests run as root)");
            let mut fx = OverlayFixture {
                dir,
                merged: merged.clone(),
                rootfs: Rootfs::Overlay(Overlay {
                    mountpoint: merged.clone(),
                    upper: Some(base.join("u")),
                    lowers: vec![
                        Layer {
                            path: base.join("l0"),
                            kind: LayerKind::Engine,
                        },
                        Layer {
                            path: base.join("l1"),
                            kind: LayerKind::Image,
                        },
                    ],
                }),
                dev: 0,
                mounted: true,
            };
            fx.dev = std::fs::metadata(&merged).unwrap().dev();
            fx
        }

        pub fn path(&self, inner: &str) -> PathBuf {
            self.merged.join(inner.trim_start_matches('/'))
        }

        pub fn target(&self, inner: &str) -> Target {
            let m = std::fs::metadata(self.path(inner)).unwrap();
            Target {
                path: PathBuf::from(inner),
                dev: m.dev(),
                ino: m.ino(),
                memfd: false,
                unlinked: false,
            }
        }
    }

    impl Drop for OverlayFixture {
        fn drop(&mut self) {
            if self.mounted {
                let _ = rustix::mount::unmount(&self.merged, rustix::mount::UnmountFlags::DETACH);
                self.mounted = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::OverlayFixture;
    use super::*;
    use crate::hash::hash_file;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    const MAX: u64 = 1 << 30;

    fn fixture() -> OverlayFixture {
        OverlayFixture::new(|l0, l1| {
            std::fs::create_dir_all(l1.join("bin")).unwrap();
            std::fs::create_dir_all(l1.join("opt/tool")).unwrap();
            std::fs::write(l1.join("bin/busybox"), b"busybox image content").unwrap();
            std::fs::write(l1.join("bin/cat"), b"cat image content").unwrap();
            std::fs::write(l1.join("bin/shadowed"), b"bottom").unwrap();
            std::fs::write(l1.join("opt/tool/run"), b"tool v1").unwrap();
            std::fs::create_dir_all(l0.join("bin")).unwrap();
            std::fs::write(l0.join("bin/shadowed"), b"top").unwrap();
            std::fs::write(l0.join("initfile"), b"engine made").unwrap();
        })
    }

    fn classify_at(fx: &OverlayFixture, inner: &str) -> Provenance {
        let t = fx.target(inner);
        let f = File::open(fx.path(inner)).unwrap();
        let d = hash_file(&f, MAX).unwrap();
        let cache = HashCache::new(64, None);
        classify(&fx.rootfs, fx.dev, &t, &d, &cache, MAX)
    }

    /// Copy into the upper layer under an image file's name, open, unlink, exec by descriptor:
    /// the path (now the image file again, through the whiteout-free lower) says nothing.
    #[test]
    fn an_unlinked_file_is_judged_by_its_content() {
        use std::os::unix::fs::MetadataExt;
        let fx = fixture();
        let classify_open = |f: &File, path: &str| {
            let m = f.metadata().unwrap();
            let t = Target {
                path: PathBuf::from(format!("{path} (deleted)")),
                dev: m.dev(),
                ino: m.ino(),
                memfd: false,
                unlinked: m.nlink() == 0,
            };
            assert!(t.unlinked);
            let d = hash_file(f, MAX).unwrap();
            classify(&fx.rootfs, fx.dev, &t, &d, &HashCache::new(64, None), MAX)
        };
        let added = Provenance::Added {
            on: AddedOn::UpperLayer,
        };
        // A new file, unlinked: no image file at that path.
        std::fs::write(fx.path("/dropped"), b"payload").unwrap();
        let f = File::open(fx.path("/dropped")).unwrap();
        std::fs::remove_file(fx.path("/dropped")).unwrap();
        assert_eq!(classify_open(&f, "/dropped"), added);
        // Written over an image file's name (copy-up), then unlinked: lower shows again.
        std::fs::write(fx.path("/bin/cat"), b"payload").unwrap();
        let f = File::open(fx.path("/bin/cat")).unwrap();
        std::fs::remove_file(fx.path("/bin/cat")).unwrap();
        assert_eq!(classify_open(&f, "/bin/cat"), added);
        // The image's own content under a deleted name is still the image's.
        std::fs::write(fx.path("/copy"), b"busybox image content").unwrap();
        let f = File::open(fx.path("/copy")).unwrap();
        std::fs::remove_file(fx.path("/copy")).unwrap();
        assert_eq!(classify_open(&f, "/copy"), added, "no image file at /copy");
    }

    #[test]
    fn built_in_from_the_right_layer() {
        let fx = fixture();
        assert_eq!(
            classify_at(&fx, "/bin/busybox"),
            Provenance::BuiltIn {
                layer: 1,
                engine: false,
                copied_up: false
            }
        );
        assert_eq!(
            classify_at(&fx, "/bin/shadowed"),
            Provenance::BuiltIn {
                layer: 0,
                engine: true,
                copied_up: false
            }
        );
        assert_eq!(classify_at(&fx, "/initfile").as_str(), "built-in");
    }

    #[test]
    fn added_in_upper() {
        let fx = fixture();
        std::fs::write(fx.path("/bin/dropped"), b"new").unwrap();
        std::fs::create_dir(fx.path("/newdir")).unwrap();
        std::fs::write(fx.path("/newdir/x"), b"new").unwrap();
        let added = Provenance::Added {
            on: AddedOn::UpperLayer,
        };
        assert_eq!(classify_at(&fx, "/bin/dropped"), added);
        assert_eq!(classify_at(&fx, "/newdir/x"), added);
    }

    #[test]
    fn chmod_copy_up_stays_built_in_and_append_is_modified() {
        let fx = fixture();
        let p = fx.path("/bin/busybox");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            fx.dir.path().join("u/bin/busybox").exists(),
            "chmod copied up"
        );
        assert_eq!(
            classify_at(&fx, "/bin/busybox"),
            Provenance::BuiltIn {
                layer: 1,
                engine: false,
                copied_up: true
            }
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(fx.path("/bin/cat"))
            .unwrap();
        f.write_all(b" + payload").unwrap();
        drop(f);
        assert_eq!(
            classify_at(&fx, "/bin/cat"),
            Provenance::Modified { layer: 1 }
        );
    }

    #[test]
    fn whiteout_then_re_add_is_added() {
        let fx = fixture();
        std::fs::remove_file(fx.path("/bin/cat")).unwrap();
        assert!(
            std::fs::symlink_metadata(fx.dir.path().join("u/bin/cat"))
                .unwrap()
                .file_type()
                .is_char_device()
        );
        std::fs::write(fx.path("/bin/cat"), b"something else").unwrap();
        assert_eq!(
            classify_at(&fx, "/bin/cat"),
            Provenance::Added {
                on: AddedOn::UpperLayer
            }
        );
    }

    #[test]
    fn opaque_dir_hides_lower_copy() {
        let fx = fixture();
        std::fs::remove_dir_all(fx.path("/opt/tool")).unwrap();
        std::fs::create_dir(fx.path("/opt/tool")).unwrap();
        // Same content as the hidden image copy: still added, the image copy is not visible.
        std::fs::write(fx.path("/opt/tool/run"), b"tool v1").unwrap();
        assert_eq!(
            classify_at(&fx, "/opt/tool/run"),
            Provenance::Added {
                on: AddedOn::UpperLayer
            }
        );
    }

    #[test]
    fn memfd_dev_shm_other_mount_and_non_overlay() {
        let fx = fixture();
        let d = hash_file(&File::open(fx.path("/bin/cat")).unwrap(), MAX).unwrap();
        let cache = HashCache::new(4, None);
        let mut t = fx.target("/bin/cat");
        t.memfd = true;
        assert_eq!(
            classify(&fx.rootfs, fx.dev, &t, &d, &cache, MAX),
            Provenance::Memfd
        );
        t.memfd = false;
        t.path = "/dev/shm/x".into();
        assert_eq!(
            classify(&fx.rootfs, fx.dev, &t, &d, &cache, MAX),
            Provenance::Added {
                on: AddedOn::DevShm
            }
        );
        t.path = "/bin/cat".into();
        assert_eq!(
            classify(&fx.rootfs, fx.dev + 1, &t, &d, &cache, MAX),
            Provenance::Added {
                on: AddedOn::OtherMount
            }
        );
        let other = Rootfs::Other {
            fstype: "none".into(),
            mountpoint: "/b".into(),
        };
        assert_eq!(
            classify(&other, fx.dev, &t, &d, &cache, MAX),
            Provenance::Unknown {
                reason: "rootfs is not an overlay (fstype none)".into()
            }
        );
        for bad in ["relative", "/bin/../bin/cat", "/", "/no/such/file"] {
            t.path = bad.into();
            let p = classify(&fx.rootfs, fx.dev, &t, &d, &cache, MAX);
            assert_eq!(p.as_str(), "unknown", "{bad}: {p:?}");
        }
    }

    #[test]
    fn upper_symlink_never_escapes_the_layer() {
        let fx = fixture();
        // The container plants /escape -> / ; a lookup of /escape/etc/passwd must not follow it.
        std::os::unix::fs::symlink("/", fx.path("/escape")).unwrap();
        let d = hash_file(&File::open(fx.path("/bin/cat")).unwrap(), MAX).unwrap();
        let t = Target {
            path: "/escape/etc/passwd".into(),
            dev: fx.dev,
            ino: 1,
            memfd: false,
            unlinked: false,
        };
        let p = classify(&fx.rootfs, fx.dev, &t, &d, &HashCache::new(4, None), MAX);
        assert_eq!(p.as_str(), "unknown", "{p:?}");
    }
}
