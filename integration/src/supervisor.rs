//! A running container's scrun supervisor, as tests observe it: its directory under
//! `/run/scrun.d` and its worker's metrics snapshots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// The scrun directory of the running container `id` (its key names the worker's metrics
/// snapshot). Panics when there is none.
pub fn scrun_dir_of(id: &str) -> PathBuf {
    let entries = std::fs::read_dir("/run/scrun.d").expect("/run/scrun.d");
    for d in entries.flatten() {
        let Ok(meta) = std::fs::read_to_string(d.path().join("scrun.json")) else {
            continue;
        };
        if serde_json::from_str::<Value>(&meta)
            .ok()
            .is_some_and(|m| m["id"].as_str() == Some(id))
        {
            return d.path();
        }
    }
    panic!("no /run/scrun.d entry for container {id}");
}

/// The snapshot the worker of the container in `dir` writes into `metrics_dir` (`[supervisor]
/// metrics_dir`; set `metrics_interval_secs = 1` for a test), once one newer than `since` is
/// there (waits up to 20 s).
pub fn worker_snapshot_after(metrics_dir: &Path, dir: &Path, since: SystemTime) -> Value {
    let key = dir.file_name().unwrap().to_string_lossy().into_owned();
    let worker = std::fs::read_to_string(dir.join("worker.pid")).expect("worker.pid");
    let path = metrics_dir.join(format!("{key}.{}.json", worker.trim()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(m) = std::fs::metadata(&path) {
            if m.modified().is_ok_and(|t| t > since) {
                if let Some(v) = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                {
                    return v;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot {} newer than the exec",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
