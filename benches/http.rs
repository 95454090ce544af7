//! HTTP download speed: red's built-in `red-connector-http` receive-file against `curl` and the
//! reference `red-connector-http` (PyPI, through `scripts/peers-up`), same file, same server,
//! same run.
//!
//! `cargo bench --bench http` (a plain `main`, no harness), or `scripts/bench-http.sh`.
//! The server is busybox `httpd` on 127.0.0.1 (sendfile, so it is not the bottleneck); the
//! file is `RED_BENCH_HTTP_MB` MiB (default 1024) and is written to `/dev/shm` when it exists,
//! so the disk does not decide the result. Each client gets three rounds; the best counts.
//! A client that is missing is reported and left out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use red::connector::{Access, Connector, Context, http::Http};

const ROUNDS: usize = 3;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn start_server(root: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("busybox")
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(root)
        .stdin(Stdio::null())
        .spawn()
        .expect("busybox httpd (Debian package busybox) must be installed");
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("busybox httpd did not start");
}

fn make_file(path: &Path, mib: usize) {
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9e37_79b9_u32;
    for byte in &mut block {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *byte = state.to_le_bytes()[0];
    }
    let mut file = std::fs::File::create(path).expect("create");
    for i in 0..mib {
        block[0] = i.to_le_bytes()[0];
        file.write_all(&block).expect("write");
    }
}

/// Best time of [`ROUNDS`] runs of `round`, which gets a fresh output path each time; `None`
/// when a round fails (the client is missing or broken).
fn best(out_dir: &Path, expected: u64, mut round: impl FnMut(&Path) -> bool) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    for i in 0..ROUNDS {
        let out = out_dir.join(format!("out-{i}"));
        let started = Instant::now();
        let ok = round(&out);
        let elapsed = started.elapsed();
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_file(&out);
        if !ok || size != expected {
            eprintln!("  round {i} failed (ok={ok}, {size} of {expected} bytes)");
            return None;
        }
        best = Some(best.map_or(elapsed, |b| b.min(elapsed)));
    }
    best
}

fn reference_connector() -> Option<PathBuf> {
    let bin = std::env::var_os("RED_PEERS_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-peers/red-bin"),
        PathBuf::from,
    );
    let program = bin.join("ref-connector-http");
    program.exists().then_some(program)
}

fn main() {
    let mib: usize = std::env::var("RED_BENCH_HTTP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("scratch dir");
    let served = scratch.path().join("served");
    let out_dir = scratch.path().join("out");
    std::fs::create_dir_all(&served).expect("served dir");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    make_file(&served.join("big.bin"), mib);
    let expected = (mib as u64) << 20;
    let (_server, port) = start_server(&served);
    let url = format!("http://127.0.0.1:{port}/big.bin");
    println!("http receive-file of {mib} MiB from busybox httpd on 127.0.0.1, best of {ROUNDS}");

    let access = Access::new(serde_json::json!({ "url": url }));
    let context = Context::new(scratch.path().to_path_buf());
    let http = Http::new();
    let red = best(&out_dir, expected, |out| {
        http.receive_file(&access, out, &context).is_ok()
    });
    let curl = best(&out_dir, expected, |out| {
        Command::new("curl")
            .args(["-sS", "-o"])
            .arg(out)
            .arg(&url)
            .status()
            .is_ok_and(|s| s.success())
    });
    let access_file = scratch.path().join("access.json");
    std::fs::write(&access_file, serde_json::json!({ "url": url }).to_string()).expect("access");
    let reference = reference_connector().and_then(|program| {
        best(&out_dir, expected, |out| {
            Command::new(&program)
                .arg("receive-file")
                .arg(&access_file)
                .arg(out)
                .status()
                .is_ok_and(|s| s.success())
        })
    });

    let rate = |d: Duration| (mib as f64) / d.as_secs_f64();
    let show = |name: &str, time: Option<Duration>| match time {
        Some(d) => println!(
            "  {name:<22} {:>8.3} s {:>9.1} MiB/s",
            d.as_secs_f64(),
            rate(d)
        ),
        None => println!("  {name:<22} (not available)"),
    };
    show("red (built-in)", red);
    show("curl", curl);
    show("reference (PyPI 1.0)", reference);
    if let Some(red) = red {
        for (name, other) in [("curl", curl), ("reference", reference)] {
            if let Some(other) = other {
                println!(
                    "  red / {name:<10} {:>6.2}x the speed",
                    other.as_secs_f64() / red.as_secs_f64()
                );
            }
        }
    }
}
