//! A container's state for the supervisor's unit tests, without root or a kernel feature: a
//! plain rootfs directory (not an overlay: provenance is "unknown") with a binary listed in a
//! threat feed (`/bin/evil`) and one that is not (`/bin/ok`), the config naming that feed, and
//! the metadata `create` would have saved.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use scrun_detect::policy::Mode;
use sha2::{Digest, Sha256};

use crate::scrun_dir::{Meta, ScrunDir};

pub struct Fixture {
    /// Holds the files.
    pub dir: tempfile::TempDir,
    pub sdir: ScrunDir,
    pub rootfs: PathBuf,
    pub evil_sha: String,
}

impl Fixture {
    pub fn new(mode: Mode) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).expect("rootfs/bin");
        let evil = b"\x7fELF not really, but listed in the feed".to_vec();
        for (name, bytes) in [("evil", &evil[..]), ("ok", b"\x7fELF benign")] {
            let p = rootfs.join("bin").join(name);
            fs::write(&p, bytes).expect("write binary");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let evil_sha = hex::encode(Sha256::digest(&evil));
        let feed = dir.path().join("bad.txt");
        fs::write(&feed, format!("{evil_sha}\n")).expect("feed");
        let config = dir.path().join("scrun.toml");
        fs::write(
            &config,
            format!(
                "mode = \"{mode}\"\n[intel]\nfeeds = [\"{}\"]\n[findings]\npath = \"{}\"\n",
                feed.display(),
                dir.path().join("findings.jsonl").display()
            ),
        )
        .expect("config");
        let sdir = ScrunDir {
            path: dir.path().join("state"),
        };
        sdir.create_fresh().expect("state dir");
        let meta = Meta {
            id: "unit".into(),
            root: dir.path().join("root"),
            bundle: dir.path().to_path_buf(),
            rootfs: rootfs.clone(),
            mode,
            caller: "oci".into(),
            hints: Default::default(),
            annotations: Default::default(),
            created: "2026-01-01T00:00:00Z".into(),
            config_path: Some(config),
            layers: scrun_detect::layers::Rootfs::Other {
                fstype: "none".into(),
                mountpoint: rootfs.clone(),
            },
            rootfs_dev: fs::metadata(&rootfs).expect("rootfs").dev(),
            scrun_bin: PathBuf::from("/nonexistent/scrun"),
            log_format: crate::logging::Format::Json,
            view_untrapped: false,
            mappings: scrun_detect::policy::Mappings::following(mode),
            mappings_trapped: vec!["mmap".into(), "mprotect".into()],
            mappings_untrapped: Vec::new(),
            ns_trapped: true,
        };
        sdir.save_meta(&meta).expect("save meta");
        Fixture {
            dir,
            sdir,
            rootfs,
            evil_sha,
        }
    }

    pub fn meta(&self) -> Meta {
        self.sdir.load_meta().expect("meta")
    }

    /// The container's supervisor log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.sdir.supervisor_log()).unwrap_or_default()
    }

    /// A file of the rootfs by its in-container path.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.rootfs
            .join(Path::new(path).strip_prefix("/").unwrap_or(Path::new(path)))
    }
}
