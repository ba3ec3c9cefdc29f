//! What the exec rules read from `/proc` per exec, when a candidate rule needs it: fd 0/1/2's
//! kind (one `stat` of `/proc/<pid>/fd/N`; a connected socket also reads the `net` tables), a
//! process's ppid and start time (one `stat` read), and the clock tick the ancestry table
//! records. Measured on this process.
//!
//! `cargo bench -p scrun-kernel --bench procreads`

use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::Duration;

use criterion::Criterion;
use scrun_kernel::{proc_info, stdio};

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let me = std::process::id();
    let (r, _w) = nix::unistd::pipe().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sock = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    c.bench_function("stdio::fd_kind (pipe)", |b| {
        b.iter(|| black_box(stdio::fd_kind(me, r.as_raw_fd())))
    });
    c.bench_function("stdio::fd_kind (connected TCP socket)", |b| {
        b.iter(|| black_box(stdio::fd_kind(me, sock.as_raw_fd())))
    });
    c.bench_function("proc_info::ppid_and_start", |b| {
        b.iter(|| black_box(proc_info::ppid_and_start(me)))
    });
    c.bench_function("proc_info::boot_ticks", |b| {
        b.iter(|| black_box(proc_info::boot_ticks()))
    });
    c.final_summary();
}
