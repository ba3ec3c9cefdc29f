//! Property tests for the parsers of user-supplied and untrusted input (feeds, the config file,
//! mountinfo): on thousands of generated and mutated inputs they return a value or an error that
//! names the input, and never panic. (A deterministic generator: failures reproduce.)

use std::io::Write;
use std::path::Path;

use scrun_detect::feeds::{FeedSet, FeedSpec};
use scrun_detect::layers::rootfs_from_mountinfo;
use scrun_detect::policy::Config;
use scrun_detect::testdata::SplitMix;

/// The crate's deterministic generator, with the helpers that shake parsers.
struct Rng(SplitMix);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix(seed))
    }
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
    /// Flip, insert, delete or duplicate a few bytes of `v`.
    fn mutate(&mut self, v: &[u8], alphabet: &[u8]) -> Vec<u8> {
        let mut out = v.to_vec();
        for _ in 0..1 + self.below(4) {
            if out.is_empty() {
                out.push(alphabet[self.below(alphabet.len())]);
                continue;
            }
            let i = self.below(out.len());
            match self.below(4) {
                0 => out[i] = alphabet[self.below(alphabet.len())],
                1 => out.insert(i, alphabet[self.below(alphabet.len())]),
                2 => {
                    out.remove(i);
                }
                _ => {
                    let j = (i + self.below(16)).min(out.len());
                    let chunk = out[i..j].to_vec();
                    out.splice(i..i, chunk);
                }
            }
        }
        out
    }
}

const FEED_ALPHABET: &[u8] = b"0123456789abcdefABCDEF \t\n#\",n/a\r\xff\x00";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

#[test]
fn feeds_never_panic_and_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0x5C2A_11FE);
    let valid = format!(
        "# full data dump\n\"2024-01-01 00:00:00\", \"{SHA}\", \"md5\", \"sha1\", \"r\", \"f.exe\", \"exe\", \"app/x\", \"Mirai\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n"
    );
    let list = format!("# list\n{SHA} label\n{}\n", SHA.to_uppercase());
    let mut errors = 0;
    for i in 0..1500 {
        let input = match i % 3 {
            0 => rng.mutate(valid.as_bytes(), FEED_ALPHABET),
            1 => rng.mutate(list.as_bytes(), FEED_ALPHABET),
            _ => {
                let n = rng.below(300);
                rng.bytes(n, FEED_ALPHABET)
            }
        };
        let p = write(dir.path(), &format!("f{i}.txt"), &input);
        match FeedSet::load(&[FeedSpec::new(&p)]) {
            Ok(set) => assert!(
                set.len() <= 4,
                "{} hashes from {:?}",
                set.len(),
                String::from_utf8_lossy(&input)
            ),
            Err(e) => {
                errors += 1;
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("f{i}.txt")),
                    "error does not name the file: {msg}"
                );
            }
        }
    }
    assert!(
        errors > 100,
        "the generator never produced a bad feed ({errors} errors)"
    );
}

#[test]
fn config_never_panics_and_errors_name_the_origin() {
    let mut rng = Rng::new(0xC0F1_6000);
    let valid = r#"mode = "enforce"
[actions]
added_binary = "block"
[allow]
sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
paths = ["/opt/*"]
[intel]
feeds = ["/etc/scrun/feeds/a.txt", { path = "/x.csv", name = "mb", format = "malwarebazaar-csv" }]
[findings]
path = "/var/log/scrun/findings.jsonl"
include_env = true
redact_env = ["*KEY*"]
[supervisor]
on_error = "allow"
max_hash_bytes = 1024
"#;
    let alphabet: &[u8] = b"abcdefghijklmnopqrstuvwxyz_=\"[]{},.\n #0123456789-*/";
    let mut errors = 0;
    for i in 0..3000 {
        let input = rng.mutate(valid.as_bytes(), alphabet);
        let text = String::from_utf8_lossy(&input);
        if let Err(e) = Config::from_toml_str(&text, &format!("input-{i}")) {
            errors += 1;
            assert!(e.to_string().contains(&format!("input-{i}")), "{e}");
        }
    }
    assert!(errors > 500, "mutations were never invalid ({errors})");
    assert!(Config::from_toml_str(valid, "valid").is_ok());
}

#[test]
fn mountinfo_never_panics_on_mutated_overlay_lines() {
    let mut rng = Rng::new(0x000E_E1A7);
    let line = "49 42 0:40 / /var/lib/docker/overlay2/f94b/merged rw,relatime shared:2 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/AAA:/var/lib/docker/overlay2/l/BBB,upperdir=/var/lib/docker/overlay2/f94b/diff,workdir=/var/lib/docker/overlay2/f94b/work\n";
    let alphabet: &[u8] = b"/:,=\\ 0123456789abclowerdirupper-\n";
    for _ in 0..3000 {
        let input = rng.mutate(line.as_bytes(), alphabet);
        let text = String::from_utf8_lossy(&input);
        let _ = rootfs_from_mountinfo(&text, Path::new("/var/lib/docker/overlay2/f94b/merged"));
    }
}
