//! Transfer speed over the loopback sshd: red's built-in ssh connector against `scp`,
//! `sftp get` and (when installed) the reference red-connector-ssh, in the same run.
//!
//! `scripts/bench-ssh.sh` starts the server (scripts/sshd-up) and runs this with
//! `cargo bench --bench ssh`. It moves one large file (`RED_BENCH_SSH_MB`, default 1024 MiB)
//! and a directory of 1,000 files of 4 KiB, each tool `RED_BENCH_SSH_ROUNDS` times (default 3;
//! the reference once), and prints MB/s (best round) and each tool's ratio to red. Every tool
//! uses the same ed25519 key (RSA for the reference, which cannot use anything else) and the
//! same pinned host key; the server's page cache is warm after the first round. The reference
//! is `RED_BENCH_REFERENCE` (a `red-connector-ssh` executable), skipped when unset.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use red::connector::ssh::Ssh;
use red::connector::{Access, Connector, Context};
use serde_json::json;

struct Server {
    state: PathBuf,
    port: u16,
    user: String,
    home: PathBuf,
    host_key: String,
}

fn read(state: &Path, name: &str) -> String {
    fs::read_to_string(state.join(name))
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/sshd-up)", state.join(name).display()))
        .trim()
        .to_owned()
}

fn server() -> Server {
    let state =
        std::env::var_os("RED_TEST_SSHD").map_or_else(|| "/tmp/red-sshd".into(), PathBuf::from);
    let host_key = read(&state, "host_ed25519.pub");
    Server {
        port: read(&state, "port").parse().expect("port"),
        user: read(&state, "user"),
        home: PathBuf::from(read(&state, "home_path")),
        host_key: host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        state,
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Time `work` `rounds` times; the best duration (the one least disturbed by the machine).
fn best(rounds: u64, mut work: impl FnMut() -> bool) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    for _ in 0..rounds {
        let start = Instant::now();
        if !work() {
            return None;
        }
        let took = start.elapsed();
        best = Some(best.map_or(took, |b| b.min(took)));
    }
    best
}

fn run(command: &mut Command) -> bool {
    let output = command.output().expect("run a tool");
    if !output.status.success() {
        eprintln!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

struct Tools {
    server: Server,
    known_hosts: PathBuf,
    scratch: tempfile::TempDir,
}

impl Tools {
    fn ssh_options(&self, command: &mut Command, port_flag: &str, cipher: Option<&str>) {
        command
            .arg(port_flag)
            .arg(self.server.port.to_string())
            .arg("-i")
            .arg(self.server.state.join("id_ed25519"))
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-q"]);
        if let Some(cipher) = cipher {
            command.args(["-c", cipher]);
        }
    }

    fn remote(&self, path: &str) -> String {
        format!("{}@127.0.0.1:{path}", self.server.user)
    }

    fn fresh(&self, name: &str) -> PathBuf {
        let path = self.scratch.path().join(name);
        let _ = fs::remove_dir_all(&path);
        let _ = fs::remove_file(&path);
        path
    }

    /// A fresh connector each time: the connection's start is timed, as for the other tools.
    fn red(&self, field: &str, path: &str, dir: bool) -> bool {
        let connector = Ssh::new();
        let access = Access::new(json!({
            "host": "127.0.0.1", "port": self.server.port, "hostKey": self.server.host_key,
            "auth": {"username": self.server.user,
                     "privateKey": read(&self.server.state, "id_ed25519")},
            field: path,
        }));
        let destination = self.fresh("red");
        let context = Context::new(self.scratch.path().to_path_buf());
        let result = if dir {
            connector
                .receive_dir(&access, &destination, None, &context)
                .map(drop)
        } else {
            connector
                .receive_file(&access, &destination, &context)
                .map(drop)
        };
        result.map_err(|e| eprintln!("red: {e}")).is_ok()
    }

    fn scp(&self, path: &str, dir: bool, cipher: Option<&str>) -> bool {
        let destination = self.fresh("scp");
        let mut command = Command::new("scp");
        self.ssh_options(&mut command, "-P", cipher);
        if dir {
            command.arg("-r");
        }
        run(command.arg(self.remote(path)).arg(&destination))
    }

    fn sftp(&self, path: &str, dir: bool) -> bool {
        let destination = self.fresh("sftp");
        let batch = self.scratch.path().join("batch");
        let get = if dir { "get -r" } else { "get" };
        fs::write(
            &batch,
            format!("{get} \"{path}\" \"{}\"\n", destination.display()),
        )
        .expect("batch file");
        let mut command = Command::new("sftp");
        self.ssh_options(&mut command, "-P", None);
        run(command
            .arg("-b")
            .arg(&batch)
            .arg(format!("{}@127.0.0.1", self.server.user)))
    }

    fn reference(&self, program: &Path, field: &str, path: &str, dir: bool) -> bool {
        let destination = self.fresh("reference");
        let access = self.scratch.path().join("access.json");
        let body = json!({
            "host": "127.0.0.1", "port": self.server.port,
            "auth": {"username": self.server.user,
                     "privateKey": read(&self.server.state, "id_rsa")},
            field: path,
        });
        fs::write(&access, body.to_string()).expect("access file");
        if dir {
            fs::create_dir(&destination).expect("reference destination");
        }
        let sub = if dir { "receive-dir" } else { "receive-file" };
        run(Command::new(program)
            .arg(sub)
            .arg(&access)
            .arg(&destination))
    }
}

fn line(name: &str, bytes: u64, took: Option<Duration>, red: Option<Duration>) {
    let Some(took) = took else {
        println!("  {name:<34} failed");
        return;
    };
    let rate = bytes as f64 / took.as_secs_f64() / 1e6;
    let ratio = red.map_or(String::new(), |r| {
        format!("  red is {:.2}x", took.as_secs_f64() / r.as_secs_f64())
    });
    println!(
        "  {name:<34} {:>8.2} s {rate:>9.1} MB/s{ratio}",
        took.as_secs_f64()
    );
}

fn main() {
    let server = server();
    let mib = env_number("RED_BENCH_SSH_MB", 1024);
    let rounds = env_number("RED_BENCH_SSH_ROUNDS", 3);
    let reference = std::env::var_os("RED_BENCH_REFERENCE").map(PathBuf::from);
    let data = server.home.join("bench-ssh");
    fs::create_dir_all(data.join("small")).expect("bench data dir");
    let big = data.join("big.bin");
    let big_bytes = mib * 1024 * 1024;
    if fs::metadata(&big).map(|m| m.len()).unwrap_or(0) != big_bytes {
        let chunk: Vec<u8> = (0..1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut file = fs::File::create(&big).expect("big file");
        for _ in 0..mib {
            std::io::Write::write_all(&mut file, &chunk).expect("write big file");
        }
    }
    for i in 0..1000 {
        let path = data.join("small").join(format!("f{i:04}.bin"));
        if !path.exists() {
            fs::write(path, vec![i as u8; 4096]).expect("small file");
        }
    }
    let small_bytes = 1000 * 4096;
    let scratch = tempfile::tempdir().expect("scratch");
    let known_hosts = scratch.path().join("known_hosts");
    fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", server.port, server.host_key),
    )
    .expect("known_hosts");
    let tools = Tools {
        server,
        known_hosts,
        scratch,
    };
    let big_path = "bench-ssh/big.bin";
    let small_path = "bench-ssh/small";

    println!("one file of {mib} MiB (best of {rounds}):");
    let red = best(rounds, || tools.red("filePath", big_path, false));
    line("red (aes128-gcm)", big_bytes, red, None);
    let took = best(rounds, || tools.scp(big_path, false, None));
    line("scp (default cipher)", big_bytes, took, red);
    let took = best(rounds, || {
        tools.scp(big_path, false, Some("aes128-gcm@openssh.com"))
    });
    line("scp -c aes128-gcm@openssh.com", big_bytes, took, red);
    let took = best(rounds, || tools.sftp(big_path, false));
    line("sftp get (default cipher)", big_bytes, took, red);
    if let Some(program) = &reference {
        let took = best(1, || tools.reference(program, "filePath", big_path, false));
        line("reference red-connector-ssh 1.3", big_bytes, took, red);
    }

    println!("1,000 files of 4 KiB (best of {rounds}):");
    let red = best(rounds, || tools.red("dirPath", small_path, true));
    line("red receive-dir", small_bytes, red, None);
    let took = best(rounds, || tools.scp(small_path, true, None));
    line("scp -r", small_bytes, took, red);
    let took = best(rounds, || tools.sftp(small_path, true));
    line("sftp get -r", small_bytes, took, red);
    if let Some(program) = &reference {
        let took = best(1, || tools.reference(program, "dirPath", small_path, true));
        line("reference red-connector-ssh 1.3", small_bytes, took, red);
    }
}
