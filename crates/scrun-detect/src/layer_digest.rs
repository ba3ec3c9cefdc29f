//! The content digest (`sha256:…` diff ID) of an image layer directory, as the engine that made
//! it records it, so that a finding can name the layer without naming a path of the host.
//!
//! - Docker overlay2: `<root>/overlay2/<cache-id>/diff` is the layer whose
//!   `<root>/image/overlay2/layerdb/sha256/<chain-id>/cache-id` holds `<cache-id>`; the `diff`
//!   file next to it holds the diff ID (the digest `docker inspect` lists in `RootFS.Layers`).
//! - containers/storage (podman, CRI-O): `<root>/overlay/<id>/diff` is the layer `<id>` of
//!   `<root>/overlay-layers/layers.json`, whose `diff-digest` is the diff ID.
//! - Anything else (containerd's numbered snapshots, engine-made init layers): unknown.
//!
//! Looked up only when a finding is rendered; answers are remembered per process.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The diff ID of the layer stored in `dir`, when the layer store is one scrun knows.
pub fn layer_digest(dir: &Path) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(dir).cloned()) {
        return hit;
    }
    let found = lookup(dir);
    if let Ok(mut c) = cache.lock() {
        c.insert(dir.to_path_buf(), found.clone());
    }
    found
}

fn lookup(dir: &Path) -> Option<String> {
    if dir.file_name()? != "diff" {
        return None;
    }
    let id_dir = dir.parent()?;
    let id = id_dir.file_name()?.to_str()?;
    let store = id_dir.parent()?;
    let root = store.parent()?;
    match store.file_name()?.to_str()? {
        "overlay2" => docker_diff_id(root, id),
        "overlay" => containers_storage_diff_id(root, id),
        _ => None,
    }
}

fn valid_digest(s: &str) -> Option<String> {
    let s = s.trim();
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_owned())
}

fn docker_diff_id(root: &Path, cache_id: &str) -> Option<String> {
    let layerdb = root.join("image/overlay2/layerdb/sha256");
    for entry in fs::read_dir(layerdb).ok()?.flatten() {
        let chain = entry.path();
        let Ok(cid) = fs::read_to_string(chain.join("cache-id")) else {
            continue;
        };
        if cid.trim() == cache_id {
            return valid_digest(&fs::read_to_string(chain.join("diff")).ok()?);
        }
    }
    None
}

fn containers_storage_diff_id(root: &Path, id: &str) -> Option<String> {
    let text = fs::read_to_string(root.join("overlay-layers/layers.json")).ok()?;
    let layers: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
    layers
        .iter()
        .find(|l| l.get("id").and_then(|v| v.as_str()) == Some(id))
        .and_then(|l| l.get("diff-digest")?.as_str())
        .and_then(valid_digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn docker_overlay2_layer_is_found_through_the_layerdb() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for (chain, cache, diff) in [("aaa", "c1", D1), ("bbb", "c2", D2)] {
            let d = root.join("image/overlay2/layerdb/sha256").join(chain);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("cache-id"), cache).unwrap();
            fs::write(d.join("diff"), diff).unwrap();
            fs::create_dir_all(root.join("overlay2").join(cache).join("diff")).unwrap();
        }
        assert_eq!(lookup(&root.join("overlay2/c2/diff")).as_deref(), Some(D2));
        assert_eq!(lookup(&root.join("overlay2/c3/diff")), None);
        // Docker's init layer is the engine's, not the image's.
        assert_eq!(lookup(&root.join("overlay2/c1-init/diff")), None);
    }

    #[test]
    fn containers_storage_layer_is_found_in_layers_json() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("overlay-layers")).unwrap();
        fs::write(
            root.join("overlay-layers/layers.json"),
            format!(r#"[{{"id":"l1","diff-digest":"{D1}"}},{{"id":"l2","diff-digest":"bogus"}}]"#),
        )
        .unwrap();
        assert_eq!(lookup(&root.join("overlay/l1/diff")).as_deref(), Some(D1));
        assert_eq!(lookup(&root.join("overlay/l2/diff")), None);
        assert_eq!(lookup(&root.join("snapshots/7/fs")), None);
    }
}
