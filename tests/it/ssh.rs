//! The built-in `red-connector-ssh` against a real OpenSSH sshd on 127.0.0.1.
//!
//! Enabled by the `ssh-tests` feature (`scripts/test` turns it on where it started the server,
//! as in CI); then a missing server is a failure, not a skip. Without the feature the tests are
//! listed as ignored. `scripts/sshd-up` starts the server (as root: with a test user and a
//! password) and prints `RED_TEST_SSHD=<state dir>`; the tests read the port, user, keys and
//! secrets from that directory (default /tmp/red-sshd). Every test works in its own directory
//! below the test user's home, so they run in parallel.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use red::connector::ssh::Ssh;
use red::connector::{Access, Connector, ConnectorError, Context, Listing, Operation, Progress};
use serde_json::{Value, json};

use crate::support::Scratch;

/// How to reach the test server.
struct Server {
    state: PathBuf,
    port: u16,
    user: String,
    home: PathBuf,
    password: String,
    passphrase: String,
    host_key: String,
}

fn read(state: &Path, name: &str) -> String {
    fs::read_to_string(state.join(name))
        .unwrap_or_else(|e| {
            panic!(
                "the ssh tests are enabled but `{}` is unreadable ({e}): run scripts/sshd-up",
                state.join(name).display()
            )
        })
        .trim()
        .to_owned()
}

fn server() -> Server {
    let state =
        std::env::var_os("RED_TEST_SSHD").map_or_else(|| "/tmp/red-sshd".into(), PathBuf::from);
    let port = read(&state, "port").parse().expect("a port number");
    let answer = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        answer.is_ok(),
        "no sshd on 127.0.0.1:{port}: run scripts/sshd-up"
    );
    let host_key = read(&state, "host_ed25519.pub");
    Server {
        port,
        user: read(&state, "user"),
        home: PathBuf::from(read(&state, "home_path")),
        password: read(&state, "password"),
        passphrase: read(&state, "passphrase"),
        host_key: host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        state,
    }
}

impl Server {
    /// A fresh directory below the test user's home, owned by that user; its name relative
    /// to the home (as access blocks give it). It is removed when the test ends, so runs do
    /// not pile up files in the server's home.
    fn workspace(&self, test: &str) -> (String, Workspace) {
        let name = format!("it-{test}-{}", uuid::Uuid::new_v4().as_simple());
        let path = self.home.join(&name);
        fs::create_dir(&path).expect("workspace");
        let owner = fs::metadata(&self.home).expect("home");
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).expect("chown");
        (name, Workspace(path))
    }

    fn key(&self, name: &str) -> String {
        fs::read_to_string(self.state.join(name)).expect("key file")
    }

    /// An access block with password auth and the pinned host key.
    fn access(&self, path_field: &str, path: &str) -> Value {
        json!({
            "host": "127.0.0.1",
            "port": self.port,
            "auth": {"username": self.user, "password": self.password},
            "hostKey": self.host_key,
            path_field: path,
            "timeout": 20,
        })
    }

    fn with_auth(&self, mut access: Value, auth: Value) -> Value {
        access["auth"] = auth;
        access
    }
}

/// A test's directory on the server, removed with everything in it when dropped.
struct Workspace(PathBuf);

impl std::ops::Deref for Workspace {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn connector() -> Ssh {
    Ssh::new().with_askpass_program(PathBuf::from(env!("CARGO_BIN_EXE_red")))
}

/// Progress that counts bytes and keeps notes.
#[derive(Default)]
struct Seen {
    bytes: AtomicU64,
    total: AtomicU64,
    notes: Mutex<Vec<String>>,
}

impl Progress for Seen {
    fn advance(&self, bytes: u64, total: Option<u64>) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
    }
    fn note(&self, message: &str) {
        self.notes.lock().expect("notes").push(message.to_owned());
    }
}

fn context(seen: &Arc<Seen>) -> Context {
    let mut context = Context::new(std::env::temp_dir());
    context.progress = Arc::clone(seen) as Arc<dyn Progress>;
    context
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn remote_error(result: Result<red::connector::Received, ConnectorError>) -> String {
    match result {
        Err(ConnectorError::Remote(text)) => text,
        other => panic!("expected a refusal from the server, got {other:?}"),
    }
}

macro_rules! ssh_test {
    ($name:ident, $body:block) => {
        #[test]
        #[cfg_attr(
            not(feature = "ssh-tests"),
            ignore = "needs an sshd: see docs/testing.md"
        )]
        fn $name() $body
    };
}

ssh_test!(keys_of_every_type_receive_a_file_on_a_non_default_port, {
    let server = server();
    let (dir, path) = server.workspace("keys");
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    fs::write(path.join("in.bin"), &data).unwrap();
    let connector = connector();
    for key in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let access = server.with_auth(
            server.access("filePath", &format!("~/{dir}/in.bin")),
            json!({"username": server.user, "privateKey": server.key(key)}),
        );
        let access = Access::new(access);
        connector
            .check(Operation::ReceiveFile, &access, None)
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("got.bin");
        let seen = Arc::new(Seen::default());
        connector
            .receive_file(&access, &target, &context(&seen))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(fs::read(&target).unwrap() == data, "{key}: content differs");
        assert_eq!(seen.bytes.load(Ordering::Relaxed), data.len() as u64);
    }
    assert_eq!(connector.connections(), 3, "one connection per key");
});

ssh_test!(
    password_auth_sends_into_new_directories_and_reuses_the_connection,
    {
        let server = server();
        let (dir, path) = server.workspace("password");
        let connector = connector();
        let source = tempfile::tempdir().unwrap();
        let data = pattern(700_000, 2);
        fs::write(source.path().join("out.bin"), &data).unwrap();
        let seen = Arc::new(Seen::default());
        let access = Access::new(server.access("filePath", &format!("{dir}/deep/new/out ü.bin")));
        connector
            .send_file(&access, &source.path().join("out.bin"), &context(&seen))
            .unwrap();
        assert!(fs::read(path.join("deep/new/out ü.bin")).unwrap() == data);
        // Nothing half-written is left beside it.
        let names: Vec<_> = fs::read_dir(path.join("deep/new")).unwrap().collect();
        assert_eq!(names.len(), 1);
        let back = source.path().join("back.bin");
        let access = Access::new(server.access("filePath", &format!("~/{dir}/deep/new/out ü.bin")));
        connector
            .receive_file(&access, &back, &context(&seen))
            .unwrap();
        assert!(fs::read(&back).unwrap() == data);
        assert_eq!(
            connector.connections(),
            1,
            "the same login reuses its connection"
        );
    }
);

ssh_test!(
    a_passphrase_protected_key_works_and_a_wrong_passphrase_is_named,
    {
        let server = server();
        let (dir, path) = server.workspace("passphrase");
        fs::write(path.join("f"), b"hello").unwrap();
        let out = tempfile::tempdir().unwrap();
        let seen = Arc::new(Seen::default());
        let good = server.with_auth(
            server.access("filePath", &format!("{dir}/f")),
            json!({"username": server.user, "privateKey": server.key("id_ed25519_pass"),
               "passphrase": server.passphrase}),
        );
        connector()
            .receive_file(&Access::new(good), &out.path().join("f"), &context(&seen))
            .unwrap();
        assert_eq!(fs::read(out.path().join("f")).unwrap(), b"hello");
        let wrong = server.with_auth(
            server.access("filePath", &format!("{dir}/f")),
            json!({"username": server.user, "privateKey": server.key("id_ed25519_pass"),
               "passphrase": "canary-wrong-passphrase"}),
        );
        let text = remote_error(connector().receive_file(
            &Access::new(wrong),
            &out.path().join("g"),
            &context(&seen),
        ));
        assert!(text.contains("refused the credentials"), "{text}");
        assert!(!text.contains("canary"), "{text}");
        assert!(!out.path().join("g").exists());
    }
);

ssh_test!(a_wrong_password_is_a_clear_error_without_the_password, {
    let server = server();
    let (dir, _workspace) = server.workspace("wrongpw");
    let access = server.with_auth(
        server.access("filePath", &format!("{dir}/none")),
        json!({"username": server.user, "password": "canary-wrong-password"}),
    );
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let text = remote_error(connector().receive_file(
        &Access::new(access),
        &out.path().join("x"),
        &context(&seen),
    ));
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(!text.contains("canary"), "{text}");
});

ssh_test!(an_unknown_host_key_is_refused_with_how_to_trust_it, {
    let server = server();
    let empty = tempfile::NamedTempFile::new().unwrap();
    let connector = connector().with_known_hosts(empty.path().to_path_buf());
    let mut access = server.access("filePath", "x");
    access.as_object_mut().unwrap().remove("hostKey");
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let text = remote_error(connector.receive_file(
        &Access::new(access),
        &out.path().join("x"),
        &context(&seen),
    ));
    assert!(text.contains("is not known"), "{text}");
    assert!(
        text.contains(&format!("ssh-keyscan -p {} 127.0.0.1", server.port)),
        "{text}"
    );
    assert!(text.contains("hostKey"), "{text}");
    assert!(!text.contains(&server.password));
});

ssh_test!(a_changed_host_key_is_refused, {
    let server = server();
    let mut access = server.access("filePath", "x");
    // The client key stands in for a host key the server does not have.
    let wrong = server.key("id_ed25519.pub");
    access["hostKey"] = json!(wrong.trim());
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let text = remote_error(connector().receive_file(
        &Access::new(access),
        &out.path().join("x"),
        &context(&seen),
    ));
    assert!(
        text.contains("differs from the known or pinned one"),
        "{text}"
    );
});

ssh_test!(a_key_in_known_hosts_is_accepted, {
    let server = server();
    let (dir, path) = server.workspace("knownhosts");
    fs::write(path.join("f"), b"known").unwrap();
    let known = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        known.path(),
        format!("[127.0.0.1]:{} {}\n", server.port, server.host_key),
    )
    .unwrap();
    let connector = connector().with_known_hosts(known.path().to_path_buf());
    let mut access = server.access("filePath", &format!("{dir}/f"));
    access.as_object_mut().unwrap().remove("hostKey");
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    connector
        .receive_file(&Access::new(access), &out.path().join("f"), &context(&seen))
        .unwrap();
    assert_eq!(fs::read(out.path().join("f")).unwrap(), b"known");
});

ssh_test!(a_server_that_is_down_fails_quickly_and_clearly, {
    let server = server();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut access = server.access("filePath", "x");
    access["port"] = json!(port);
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let text = remote_error(connector().receive_file(
        &Access::new(access),
        &out.path().join("x"),
        &context(&seen),
    ));
    assert!(text.contains("refused a connection"), "{text}");
});

ssh_test!(a_server_that_never_answers_times_out_clearly, {
    let server = server();
    // Accepts the TCP connection and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut streams = Vec::new();
        for _ in 0..3 {
            match silent.accept() {
                Ok((stream, _)) => streams.push(stream),
                Err(_) => break,
            }
        }
        streams
    });
    let mut access = server.access("filePath", "x");
    access["port"] = json!(port);
    access["timeout"] = json!(1);
    access["authTimeout"] = json!(1);
    access["bannerTimeout"] = json!(1);
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let text = remote_error(connector().receive_file(
        &Access::new(access),
        &out.path().join("x"),
        &context(&seen),
    ));
    assert!(text.contains("did not answer in time"), "{text}");
    // Every attempt (three) reached the silent server.
    assert_eq!(held.join().unwrap().len(), 3);
});

ssh_test!(many_threads_read_one_file_over_one_connection, {
    let server = server();
    let (dir, path) = server.workspace("threads");
    let data = Arc::new(pattern(8 * 1024 * 1024, 9));
    fs::write(path.join("f"), data.as_slice()).unwrap();
    let connector = connector();
    let access = Access::new(server.access("dirPath", &dir));
    let (target, remote_dir) = connector.target(&access, Operation::MountDir).unwrap();
    let seen = Arc::new(Seen::default());
    let connection = connector.connect(&target, &context(&seen)).unwrap();
    let session = Arc::clone(connection.session());
    assert!(session.read_chunk() > 64 * 1024, "{:?}", session.limits());
    let file = format!("{remote_dir}/f");
    assert_eq!(session.stat(&file).unwrap().size, Some(data.len() as u64));
    let handle = session.open(&file, red::sftp::OpenFlags::READ).unwrap();
    let readers: Vec<_> = (0..16u64)
        .map(|i| {
            let (session, handle, data) = (Arc::clone(&session), handle.clone(), Arc::clone(&data));
            std::thread::spawn(move || {
                let offset = (i * 517_001) % (data.len() as u64 - 1_000_000);
                let got = session.read_exact_at(&handle, offset, 1_000_000).unwrap();
                let start = offset as usize;
                assert!(got == data[start..start + 1_000_000], "range {i} differs");
                let tail = session.read(&handle, data.len() as u64, 10).unwrap();
                assert!(tail.is_empty(), "a read at the end is empty");
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    session.close(&handle).unwrap();
    assert_eq!(connector.connections(), 1);
});

/// A tree with nested directories, spaces and non-ASCII names.
fn make_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("a.txt".to_owned(), b"a".to_vec()),
        ("sub dir/b ü.bin".to_owned(), pattern(300_000, 3)),
        ("sub dir/deeper/c".to_owned(), Vec::new()),
        ("z/d".to_owned(), pattern(1000, 4)),
    ];
    for (path, data) in &files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, data).expect("write");
    }
    files
}

fn assert_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (path, data) in files {
        let got = fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(&got == data, "{path} differs");
    }
}

ssh_test!(
    a_directory_is_received_at_the_destination_without_nesting,
    {
        let server = server();
        let (dir, path) = server.workspace("recvdir");
        let files = make_tree(&path.join("tree"));
        let out = tempfile::tempdir().unwrap();
        let destination = out.path().join("input");
        let seen = Arc::new(Seen::default());
        let access = Access::new(server.access("dirPath", &format!("~/{dir}/tree")));
        connector()
            .receive_dir(&access, &destination, None, &context(&seen))
            .unwrap();
        assert_tree(&destination, &files);
        assert!(!destination.join("tree").exists(), "no scp -r nesting");
        let total: usize = files.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(seen.bytes.load(Ordering::Relaxed), total as u64);
        assert_eq!(seen.total.load(Ordering::Relaxed), total as u64);
    }
);

ssh_test!(a_listing_is_checked_when_receiving, {
    let server = server();
    let (dir, path) = server.workspace("listing");
    let files = make_tree(&path.join("tree"));
    let access = Access::new(server.access("dirPath", &format!("{dir}/tree")));
    let listing = Listing(json!([
        {"class": "File", "basename": "a.txt", "size": 1},
        {"class": "Directory", "basename": "sub dir", "listing": [
            {"class": "File", "basename": "b ü.bin"}
        ]}
    ]));
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let connector = connector();
    connector
        .check(Operation::ReceiveDir, &access, Some(&listing))
        .unwrap();
    connector
        .receive_dir(
            &access,
            &out.path().join("in"),
            Some(&listing),
            &context(&seen),
        )
        .unwrap();
    assert_tree(&out.path().join("in"), &files[..2]);
    assert!(
        !out.path().join("in/z").exists(),
        "unlisted entries stay behind"
    );
    let notes = seen.notes.lock().unwrap().clone();
    assert!(notes.iter().any(|n| n.contains("`z`")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("`sub dir/deeper`")),
        "{notes:?}"
    );
    let missing = Listing(json!([
        {"class": "File", "basename": "a.txt"},
        {"class": "File", "basename": "gone.txt"},
        {"class": "File", "basename": "z"}
    ]));
    let error = connector
        .receive_dir(
            &access,
            &out.path().join("in2"),
            Some(&missing),
            &context(&seen),
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("`gone.txt` is missing"), "{error}");
    assert!(error.contains("`z` is not a regular file"), "{error}");
    assert!(
        !out.path().join("in2").exists(),
        "a failed receive leaves nothing"
    );
});

ssh_test!(directories_are_sent_with_and_without_a_listing, {
    let server = server();
    let (dir, path) = server.workspace("senddir");
    let source = tempfile::tempdir().unwrap();
    let files = make_tree(source.path());
    let seen = Arc::new(Seen::default());
    let connector = connector();
    let access = Access::new(server.access("dirPath", &format!("~/{dir}/new/all")));
    connector
        .send_dir(&access, source.path(), None, &context(&seen))
        .unwrap();
    assert_tree(&path.join("new/all"), &files);
    let listing = Listing(json!([
        {"class": "Directory", "basename": "z", "listing": [{"class": "File", "basename": "d"}]}
    ]));
    let access = Access::new(server.access("dirPath", &format!("{dir}/some")));
    connector
        .send_dir(&access, source.path(), Some(&listing), &context(&seen))
        .unwrap();
    assert_tree(&path.join("some"), &files[3..]);
    assert!(!path.join("some/a.txt").exists());
    let missing = Listing(json!([{"class": "File", "basename": "nope"}]));
    let error = connector
        .send_dir(&access, source.path(), Some(&missing), &context(&seen))
        .unwrap_err()
        .to_string();
    assert!(error.contains("`nope` is missing"), "{error}");
});

/// Every command line and environment of every process, as `ps` would show them.
fn processes() -> Vec<String> {
    let mut all = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
        for part in ["cmdline", "environ"] {
            if let Ok(bytes) = fs::read(entry.path().join(part)) {
                all.push(String::from_utf8_lossy(&bytes).replace('\0', " "));
            }
        }
    }
    all
}

ssh_test!(secrets_never_show_in_processes_messages_or_left_files, {
    let server = server();
    let (dir, path) = server.workspace("canary");
    fs::write(path.join("big"), pattern(64 * 1024 * 1024, 5)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let key = server.key("id_ed25519_pass");
    // A line of the key's base64 body is as secret as the key.
    let key_line = key.lines().nth(2).unwrap().to_owned();
    let access = Access::new(server.with_auth(
        server.access("filePath", &format!("{dir}/big")),
        json!({"username": server.user, "privateKey": key, "passphrase": server.passphrase}),
    ));
    let password_access = Access::new(server.access("filePath", &format!("{dir}/big")));
    let connector = connector().with_scratch_dir(scratch.path().to_path_buf());
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&done);
        let secrets = [
            server.password.clone(),
            server.passphrase.clone(),
            key_line.clone(),
        ];
        let port = format!("-p {}", server.port);
        std::thread::spawn(move || {
            let mut saw_ssh = false;
            while !done.load(Ordering::Relaxed) {
                for process in processes() {
                    for secret in &secrets {
                        assert!(
                            !process.contains(secret.as_str()),
                            "a secret shows in: {process}"
                        );
                    }
                    saw_ssh |= process.starts_with("ssh -s") && process.contains(&port);
                }
            }
            saw_ssh
        })
    };
    let out = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let received = connector.receive_file(&access, &out.path().join("big"), &context(&seen));
    let again = connector.receive_file(&password_access, &out.path().join("big2"), &context(&seen));
    done.store(true, Ordering::Relaxed);
    let saw_ssh = watcher.join().expect("no secret in any process");
    received.unwrap();
    again.unwrap();
    assert!(
        saw_ssh,
        "the watcher never saw the ssh child: the check proved nothing"
    );
    let left: Vec<_> = fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "private directories left behind: {left:?}");
    let shown = format!("{access:?} {password_access:?} {connector:?}");
    for secret in [&server.password, &server.passphrase, &key_line] {
        assert!(!shown.contains(secret.as_str()));
    }
});

/// `mount-dir`: red's own SSHFS, through the connector, on a real FUSE mount.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "fuse-tests")),
    ignore = "needs sshd and FUSE: see docs/testing.md"
)]
fn mount_dir_serves_the_remote_directory_until_unmounted() {
    let server = server();
    let (name, path) = server.workspace("mount");
    fs::create_dir(path.join("sub")).expect("sub");
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(path.join("sub/data.bin"), &payload).expect("data");
    let access = Access::new(server.access("dirPath", &name));
    let connector = connector();
    connector
        .check(Operation::MountDir, &access, None)
        .expect("a valid mount block");
    let mountpoint = tempfile::tempdir().expect("mount point");
    let context = Context::new(PathBuf::from("."));
    let mounted = connector
        .mount_dir(&access, mountpoint.path(), &context)
        .expect("mount");
    assert_eq!(
        fs::read(mountpoint.path().join("sub/data.bin")).expect("read through the mount"),
        payload
    );
    // Read-only unless the block says `writable: true`.
    assert!(fs::write(mountpoint.path().join("new.txt"), "x").is_err());
    mounted.unmount().expect("unmount");
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !table.contains(&mountpoint.path().display().to_string()),
        "still mounted"
    );
}

/// `red exec` with a `mount: true` input: mounted on the host, bound read-only into the
/// container, unmounted afterwards; the container gets no FUSE device or capability.
#[test]
#[cfg_attr(
    not(all(
        feature = "ssh-tests",
        feature = "fuse-tests",
        feature = "docker-tests"
    )),
    ignore = "needs sshd, FUSE and Docker: see docs/testing.md"
)]
fn exec_binds_a_mounted_directory_into_the_container() {
    let server = server();
    let (name, path) = server.workspace("exec-mount");
    fs::write(path.join("words.txt"), "alpha beta gamma\n").expect("words");
    let access = server.access("dirPath", &name);
    let red = format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [sh, -c, 'wc -w < "$0"/words.txt > count.txt; cat /proc/self/status | grep CapEff > caps.txt']
  inputs:
    data: {{type: Directory, inputBinding: {{position: 0}}}}
  outputs:
    count: {{type: File, outputBinding: {{glob: count.txt}}}}
    caps: {{type: File, outputBinding: {{glob: caps.txt}}}}
inputs:
  data:
    class: Directory
    connector:
      command: red-connector-ssh
      mount: true
      access: {access}
container:
  engine: docker
  settings:
    image: {{url: "red-test/busybox:latest"}}
    ram: 256
"#,
        access = serde_json::to_string(&access).expect("json")
    );
    let dir = Scratch::new();
    dir.write("mount.red.yml", red);
    let run = dir
        .red()
        .args(["exec", "mount.red.yml", "--format", "json"])
        .env("TMPDIR", dir.tmp().to_str().expect("utf-8"))
        .run();
    let stdout = &run.stdout;
    assert_eq!(run.code, 0, "{stdout}\n{}", run.stderr);
    assert!(!stdout.contains(&server.password), "the password leaked");
    assert_eq!(
        fs::read_to_string(dir.path().join("outputs/count.txt"))
            .expect("count")
            .trim(),
        "3"
    );
    let caps = fs::read_to_string(dir.path().join("outputs/caps.txt")).expect("caps");
    assert!(
        !caps.contains("ffffffff"),
        "the container got full capabilities: {caps}"
    );
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!table.contains("red-run-"), "a mount of the run was left");
    dir.assert_tmp_empty();
}

/// `red mount ssh://…` in the background, read through, `red umount`; then the same directory
/// from an access block file (password login), writable because the block says so.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "fuse-tests")),
    ignore = "needs sshd and FUSE: see docs/testing.md"
)]
fn red_mount_serves_an_address_and_an_access_file() {
    let server = server();
    let (name, path) = server.workspace("red-mount");
    let payload: Vec<u8> = (0..1_500_000u32).map(|i| (i % 239) as u8).collect();
    fs::write(path.join("data.bin"), &payload).expect("data");
    let scratch = Scratch::new();
    let mountpoint = scratch.path().join("mnt");
    fs::create_dir(&mountpoint).expect("mount point");
    let red = |args: &[&str]| scratch.red().args(args).run();
    let address = format!("ssh://{}@127.0.0.1:{}/~/{name}", server.user, server.port);
    let key_file = server.state.join("id_ed25519");
    let mountpoint_text = mountpoint.display().to_string();
    let mounted = red(&[
        "mount",
        &address,
        &mountpoint_text,
        "--host-key",
        server.host_key.trim(),
        "--identity",
        &key_file.display().to_string(),
        "--background",
    ]);
    assert_eq!(mounted.code, 0, "{}", mounted.stderr);
    let read = fs::read(mountpoint.join("data.bin"));
    let unmounted = red(&["umount", &mountpoint_text]);
    assert_eq!(read.expect("read through the mount"), payload);
    assert_eq!(unmounted.code, 0, "{}", unmounted.stderr);

    let mut access = server.access("dirPath", &name);
    access["writable"] = true.into();
    let access_file = scratch.path().join("access.json");
    fs::write(&access_file, access.to_string()).expect("access file");
    let mounted = red(&[
        "mount",
        &access_file.display().to_string(),
        &mountpoint_text,
        "--background",
    ]);
    assert_eq!(mounted.code, 0, "{}", mounted.stderr);
    let written = fs::write(mountpoint.join("new.txt"), "written through red mount\n");
    let listed = fs::read_dir(&mountpoint).map(|entries| entries.count());
    let unmounted = red(&["umount", &mountpoint_text]);
    written.expect("write through a writable mount");
    assert_eq!(listed.expect("list"), 2);
    assert_eq!(unmounted.code, 0, "{}", unmounted.stderr);
    assert_eq!(
        fs::read_to_string(path.join("new.txt")).expect("written on the server"),
        "written through red mount\n"
    );
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!table.contains(&mountpoint_text), "still mounted");
}

/// An sshd of the test's own on a free port, with the harness's config and keys, so the test
/// can kill it (listener and every session it forked) and start it again on the same port.
struct OwnServer {
    config: PathBuf,
    port: u16,
    scratch: tempfile::TempDir,
    listener: Option<std::process::Child>,
}

impl OwnServer {
    fn start(server: &Server) -> Self {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut own = Self {
            config: server.state.join("sshd_config"),
            port,
            scratch: tempfile::tempdir().expect("scratch"),
            listener: None,
        };
        own.restart();
        own
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&self.config)
            .arg("-E")
            .arg(self.scratch.path().join("sshd.log"))
            .arg("-o")
            .arg(format!("Port={}", self.port))
            .arg("-o")
            .arg(format!(
                "PidFile={}",
                self.scratch.path().join("sshd.pid").display()
            ))
            .spawn()
            .expect("start sshd");
        self.listener = Some(child);
        // Wait until it accepts connections (not a timed assertion: it fails only if sshd
        // never listens).
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the test's own sshd does not listen on port {}", self.port);
    }

    /// SIGKILL the listener and every process it forked (the sessions serving clients).
    fn kill(&mut self) {
        let Some(mut listener) = self.listener.take() else {
            return;
        };
        let mut doomed = vec![listener.id()];
        let mut at = 0;
        while let Some(&parent) = doomed.get(at) {
            doomed.extend(children_of(parent));
            at += 1;
        }
        for pid in doomed {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = listener.wait();
    }

    /// Mount the workspace directory `name` from this server with `options`, with direct I/O
    /// (every read reaches red) and calls that give up after 5 s.
    fn mount(
        &self,
        server: &Server,
        name: &str,
        options: red::mount::Options,
    ) -> (tempfile::TempDir, red::mount::MountGuard) {
        let mut access = server.access("dirPath", name);
        access["port"] = self.port.into();
        access["timeout"] = 5.into();
        let source = connector()
            .mount_source(&Access::new(access), &Context::new(PathBuf::from(".")))
            .expect("a mountable directory");
        let mountpoint = tempfile::tempdir().expect("mount point");
        let options = red::mount::Options {
            direct_io: true,
            timeout: std::time::Duration::from_secs(5),
            ..options
        };
        let guard = source.mount(mountpoint.path(), options).expect("mount");
        (mountpoint, guard)
    }

    /// How many `sftp-server` processes serve clients now (one per SFTP session).
    fn sftp_servers(&self) -> usize {
        let Some(listener) = &self.listener else {
            return 0;
        };
        let mut below = vec![listener.id()];
        let mut at = 0;
        while let Some(&parent) = below.get(at) {
            below.extend(children_of(parent));
            at += 1;
        }
        below
            .iter()
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "sftp-server")
            })
            .count()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // The fields after the command name (which may hold spaces) start after `)`.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// The server dies in the middle of a read: the read fails with EIO (it does not hang), and
/// once the server is back the mount reconnects and serves the file again, byte for byte.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "fuse-tests")),
    ignore = "needs sshd and FUSE: see docs/testing.md"
)]
fn a_killed_server_fails_reads_with_eio_then_the_mount_recovers() {
    use std::io::Read as _;

    let server = server();
    let mut own = OwnServer::start(&server);
    let (name, path) = server.workspace("killed");
    let payload = pattern(48 * 1024 * 1024, 7);
    fs::write(path.join("big.bin"), &payload).expect("data");
    let (mountpoint, guard) = own.mount(&server, &name, red::mount::Options::default());
    let file_path = mountpoint.path().join("big.bin");

    let mut file = fs::File::open(&file_path).expect("open through the mount");
    let mut head = vec![0u8; 1024 * 1024];
    file.read_exact(&mut head).expect("the first MiB");
    assert_eq!(head, payload[..head.len()]);
    own.kill();
    let mut rest = Vec::new();
    let failed = file
        .read_to_end(&mut rest)
        .expect_err("reading on after the server died must fail");
    assert_eq!(failed.raw_os_error(), Some(libc::EIO), "{failed}");
    assert!(
        fs::read(&file_path).is_err(),
        "no reads while the server is down"
    );

    own.restart();
    let again = fs::read(&file_path).expect("the mount serves again once the server is back");
    assert!(
        again == payload,
        "the file reads as the original after reconnecting"
    );
    drop(file);
    guard.unmount().expect("unmount");
}

/// A mount opens as many SSH connections as asked, and a file open when they were lost never
/// reads another file's bytes once they are made again: a new server session numbers its
/// handles afresh, so a handle of the old one names whatever the new one opened under that
/// number. The read fails with EIO instead.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "fuse-tests")),
    ignore = "needs sshd and FUSE: see docs/testing.md"
)]
fn connections_are_made_as_asked_and_a_stale_handle_never_reads_another_file() {
    use std::io::Read as _;
    use std::os::unix::fs::FileExt as _;

    let server = server();
    let mut own = OwnServer::start(&server);
    let (name, path) = server.workspace("stale-handle");
    let first = pattern(48 * 1024 * 1024, 3);
    let second = pattern(32 * 1024 * 1024, 4);
    fs::write(path.join("a.bin"), &first).expect("a");
    fs::write(path.join("b.bin"), &second).expect("b");
    let options = red::mount::Options {
        connections: 3,
        ..red::mount::Options::default()
    };
    let (mountpoint, guard) = own.mount(&server, &name, options);
    assert_eq!(own.sftp_servers(), 3, "one SFTP session per connection");

    let mut open = fs::File::open(mountpoint.path().join("a.bin")).expect("open a.bin");
    let mut head = vec![0u8; 1024 * 1024];
    open.read_exact(&mut head).expect("the first MiB of a.bin");
    assert!(head == first[..head.len()]);
    own.kill();
    // Far from the read-ahead window of the first read: these bytes are not fetched yet.
    let lost = open
        .read_at(&mut head, 40 * 1024 * 1024)
        .expect_err("no reads while the server is down");
    assert_eq!(lost.raw_os_error(), Some(libc::EIO), "{lost}");

    own.restart();
    // b.bin stays open: the new sessions hand out its handles under the numbers a.bin had.
    let mut other = fs::File::open(mountpoint.path().join("b.bin")).expect("open b.bin");
    let mut again = Vec::new();
    other
        .read_to_end(&mut again)
        .expect("b.bin after reconnecting");
    assert!(again == second, "b.bin reads as itself");
    assert_eq!(own.sftp_servers(), 3, "every connection was made again");
    let offset = 24 * 1024 * 1024;
    match open.read_at(&mut head, offset as u64) {
        Err(error) => assert_eq!(error.raw_os_error(), Some(libc::EIO), "{error}"),
        Ok(read) => assert!(
            read > 0 && head[..read] == first[offset..offset + read],
            "a handle of the lost session read {read} bytes that are not a.bin's"
        ),
    }
    drop((open, other));
    guard.unmount().expect("unmount");
}

/// The reference red-connector-ssh 1.3 (PyPI), driven by red through the CLI-1 protocol
/// against the same sshd: a file received and a file sent, byte for byte, and a wrong
/// password reported without the password.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "peer-tests")),
    ignore = "needs sshd and scripts/peers-up: see docs/testing.md"
)]
fn reference_ssh_connector_moves_files_through_cli1() {
    use red::connector::external::External;

    let server = server();
    let (name, path) = server.workspace("reference");
    let payload = pattern(700_000, 11);
    fs::write(path.join("in.bin"), &payload).expect("remote file");
    let reference = External::new(
        "red-connector-ssh",
        crate::support::peers::peers_bin().join("ref-connector-ssh"),
    );
    let scratch = tempfile::tempdir().expect("scratch");
    let context = Context::new(scratch.path().to_path_buf());
    // The reference knows neither `hostKey` nor `timeout` (it trusts any host key: red's own
    // connector is the one that checks them).
    let block = |field: &str, remote: String| {
        let mut access = server.access(field, &remote);
        let object = access.as_object_mut().expect("an object");
        object.remove("hostKey");
        object.remove("timeout");
        Access::new(access)
    };
    let home = server.home.display().to_string();
    let received = scratch.path().join("in.bin");
    reference
        .receive_file(
            &block("filePath", format!("{home}/{name}/in.bin")),
            &received,
            &context,
        )
        .expect("the reference receives over sshd");
    assert!(fs::read(&received).expect("received") == payload);

    let outgoing = scratch.path().join("out.bin");
    fs::write(&outgoing, pattern(300_000, 12)).expect("local file");
    reference
        .send_file(
            &block("filePath", format!("{home}/{name}/out.bin")),
            &outgoing,
            &context,
        )
        .expect("the reference sends over sshd");
    assert!(fs::read(path.join("out.bin")).expect("sent") == pattern(300_000, 12));

    let mut wrong = block("filePath", format!("{home}/{name}/in.bin"));
    let canary = "canary-wrong-Pw-7f3";
    let mut value = wrong.value().clone();
    value["auth"]["password"] = canary.into();
    wrong = Access::new(value);
    let message = reference
        .receive_file(&wrong, &scratch.path().join("never.bin"), &context)
        .expect_err("a wrong password fails")
        .to_string();
    assert!(!message.contains(canary), "{message}");
    assert!(!scratch.path().join("never.bin").exists());
}

/// Every figure of a run with ssh inputs and outputs is true: `bytes` is each input's size,
/// `transferred` what came over SFTP, the outputs' sizes and digests are those of the files
/// that arrived on the server, in the events, the summary and `.red/result.json`.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "docker-tests")),
    ignore = "needs sshd and Docker: see docs/testing.md"
)]
fn exec_figures_are_true_for_ssh_inputs_and_outputs() {
    let server = server();
    let (name, path) = server.workspace("exec-figures");
    let body = pattern(200_003, 7);
    fs::write(path.join("f.bin"), &body).expect("f");
    fs::create_dir_all(path.join("tree/sub")).expect("tree");
    fs::write(path.join("tree/a.txt"), [b'a'; 10]).expect("a");
    fs::write(path.join("tree/sub/b.txt"), [b'b'; 5]).expect("b");
    let block = |field: &str, relative: &str| {
        serde_json::to_string(&server.access(field, &format!("{name}/{relative}"))).expect("json")
    };
    let inputs = format!(
        "inputs:\n  f:\n    class: File\n    connector:\n      command: red-connector-ssh\n      access: {}\n  d:\n    class: Directory\n    connector:\n      command: red-connector-ssh\n      access: {}",
        block("filePath", "f.bin"),
        block("dirPath", "tree"),
    );
    let outputs = format!(
        "outputs:\n  copy:\n    class: File\n    connector:\n      command: red-connector-ssh\n      access: {}\n  tree:\n    class: Directory\n    connector:\n      command: red-connector-ssh\n      access: {}",
        block("filePath", "sent/copy.bin"),
        block("dirPath", "sent/tree"),
    );
    let figures = crate::support::figures::run(&inputs, &outputs, None);
    figures.assert_input("f", body.len() as u64, body.len() as u64);
    figures.assert_input("d", 15, 15);
    figures.assert_copy(&body);
    figures.assert_tree(15, 2);
    assert!(fs::read(path.join("sent/copy.bin")).expect("sent copy") == body);
    assert_eq!(
        fs::read(path.join("sent/tree/sub/b.txt")).expect("sent tree"),
        [b'b'; 5]
    );
    let printed = figures
        .events
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(!printed.contains(&server.password), "the password leaked");
}

/// Reads that start anywhere, through a mount of the real server, with the page cache and
/// with `direct_io`: nine readers at once, each with its own handle, over one region they all
/// share (random reads at byte offsets and 1–3 MiB lengths, and a stream from an odd start in
/// odd-sized reads). Every byte is the server's.
#[test]
#[cfg_attr(
    not(all(feature = "ssh-tests", feature = "fuse-tests")),
    ignore = "needs sshd and FUSE: see docs/testing.md"
)]
fn unaligned_reads_of_overlapping_readers_match_the_server_file() {
    let server = server();
    let (name, path) = server.workspace("unaligned");
    let payload = pattern(24 * 1024 * 1024 + 4321, 11);
    fs::write(path.join("big.bin"), &payload).expect("data");
    let connector = connector();
    for direct_io in [false, true] {
        let source = connector
            .mount_source(
                &Access::new(server.access("dirPath", &name)),
                &Context::new(PathBuf::from(".")),
            )
            .expect("a mountable directory");
        let mountpoint = tempfile::tempdir().expect("mount point");
        let options = red::mount::Options {
            direct_io,
            ..red::mount::Options::default()
        };
        let guard = source.mount(mountpoint.path(), options).expect("mount");
        let file_path = mountpoint.path().join("big.bin");
        std::thread::scope(|scope| {
            for reader in 0..9u64 {
                let (file_path, payload) = (&file_path, &payload);
                scope.spawn(move || overlapping_reader(file_path, payload, reader, direct_io));
            }
        });
        guard.unmount().expect("unmount");
    }
}

/// One reader of [`unaligned_reads_of_overlapping_readers_match_the_server_file`].
fn overlapping_reader(file_path: &Path, payload: &[u8], reader: u64, direct_io: bool) {
    use std::os::unix::fs::FileExt as _;

    let file = fs::File::open(file_path).expect("open through the mount");
    let check = |offset: u64, len: usize| {
        let mut buffer = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let got = file
                .read_at(&mut buffer[filled..], offset + filled as u64)
                .expect("read through the mount");
            if got == 0 {
                break;
            }
            filled += got;
        }
        let from = usize::try_from(offset).expect("offset").min(payload.len());
        let want = &payload[from..(from + len).min(payload.len())];
        assert!(
            &buffer[..filled] == want,
            "reader {reader} (direct_io {direct_io}): {len} bytes at {offset} differ"
        );
    };
    // A linear congruential sequence: offsets uniform over the bytes of 4–20 MiB.
    let mut state = 0x9e37_79b9_u64.wrapping_mul(reader + 1);
    for _ in 0..12 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let offset = 4 * 1024 * 1024 + (state >> 33) % (16 * 1024 * 1024);
        let len = 1024 * 1024 + usize::try_from((state >> 13) % (2 * 1024 * 1024)).expect("len");
        check(offset, len);
    }
    let mut offset = 8 * 1024 * 1024 + 12_345 + 777 * reader;
    while offset < 16 * 1024 * 1024 {
        check(offset, 300_001);
        offset += 300_001;
    }
    // The end of the file, from an odd offset: a short read.
    check(payload.len() as u64 - 5_000, 100_000);
}
