//! The listener payload is written by whatever connects to the supervisor's socket: on generated
//! and mutated process-state messages `pick_seccomp_fd` returns the right fd or an error, and never
//! panics.

use std::os::fd::{AsRawFd, OwnedFd};

use scrun_kernel::listener::pick_seccomp_fd;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fds(n: usize) -> Vec<OwnedFd> {
    (0..n)
        .map(|_| {
            let (r, _w) = nix::unistd::pipe().unwrap();
            r
        })
        .collect()
}

#[test]
fn payloads_never_panic_and_the_named_fd_is_picked() {
    let good = br#"{"ociVersion":"1.0.2","fds":["other","seccompFd"],"pid":1,"metadata":"m","state":{"ociVersion":"1.0.2","id":"c","status":"creating","pid":1,"bundle":"/b"}}"#;
    let given = fds(2);
    let want = given[1].as_raw_fd();
    let got = pick_seccomp_fd(good, given).expect("valid payload");
    assert_eq!(got.as_raw_fd(), want);

    let alphabet: &[u8] = b"{}[]\",:seccompFdfdsother0123456789 \\\x00\xff";
    let mut rng = Rng(0x0115_7E4E);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..4000 {
        let mut input = good.to_vec();
        for _ in 0..1 + rng.below(6) {
            let i = rng.below(input.len());
            match rng.below(3) {
                0 => input[i] = alphabet[rng.below(alphabet.len())],
                1 => input.insert(i, alphabet[rng.below(alphabet.len())]),
                _ => {
                    input.remove(i);
                }
            }
        }
        let n = rng.below(4);
        match pick_seccomp_fd(&input, fds(n)) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}
