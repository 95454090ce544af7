//! Bounded reads: documents that never end or are too large, and hostile peers (a broker or a
//! Kiosk streaming an endless answer) end red with a clear error while its memory stays bounded.
//! Each run has an address-space limit (`Red::memory_limit`), so a regression fails the test (the
//! allocation that goes over aborts red) instead of taking the machine's memory.

use std::path::Path;

use crate::support::{Red, root};

/// The address space a run may use: the 256 MiB document limit read into memory (doubled while
/// the buffer grows), plus the runtime's threads and libraries.
const MEMORY: u64 = 1536 << 20;

#[test]
fn endless_documents_are_refused_with_bounded_memory() {
    let commands: [&[&str]; 9] = [
        &["validate", "/dev/zero"],
        &["fill", "/dev/zero"],
        &["plan", "/dev/zero"],
        &["convert", "format", "/dev/zero", "--to", "json"],
        &["upgrade", "/dev/zero"],
        &["vars", "/dev/zero"],
        &["exec", "/dev/zero"],
        &["submit", "/dev/zero", "--url", "http://127.0.0.1:9"],
        &["fill", "x.yml", "--vars", "/dev/zero"],
    ];
    let template = std::fs::read_to_string(root().join("examples/batches.red.yml")).expect("read");
    for args in commands {
        let run = Red::new()
            .file("x.yml", &template)
            .args(args)
            .memory_limit(MEMORY)
            .run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        // `red validate` reports on stdout, the others on stderr.
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(
            said.contains("/dev/zero") && said.contains("256 MiB"),
            "{args:?}: {said}"
        );
    }
}

#[test]
fn endless_standard_input_is_refused_with_bounded_memory() {
    for args in [["validate", "-"], ["plan", "-"]] {
        let run = Red::new()
            .args(args)
            .stdin_file(Path::new("/dev/zero"))
            .memory_limit(MEMORY)
            .run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(
            said.contains("standard input") && said.contains("256 MiB"),
            "{args:?}: {said}"
        );
    }
}

/// A file larger than red reads is refused from its size, before any of it is read: a sparse
/// file of 5 GiB under a limit of 64 MiB of memory.
#[test]
fn a_file_over_the_limit_is_refused_before_it_is_read() {
    let red = Red::new();
    let file = std::fs::File::create(red.dir().join("huge.yml")).expect("create");
    file.set_len(5 << 30).expect("make the file sparse");
    let run = red
        .args(["validate", "huge.yml"])
        .memory_limit(512 << 20)
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("huge.yml` is 5368709120 bytes, over the 256 MiB"),
        "{}",
        run.stdout
    );
}

/// A server on 127.0.0.1 that answers every request with `200 OK` and a JSON body that never
/// ends (`[` then spaces), until red hangs up.
fn endless_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut writer = stream;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[";
                let spaces = vec![b' '; 64 * 1024];
                if writer.write_all(head.as_bytes()).is_ok() {
                    while writer.write_all(&spaces).is_ok() {}
                }
            });
        }
    });
    url
}

#[test]
fn an_endless_broker_answer_is_refused_with_bounded_memory() {
    let url = endless_server();
    let run = Red::new()
        .args(["status", "0123456789abcdef01234567", "--url", &url])
        .env("RED_AGENCY_USER", "alice")
        .env("RED_AGENCY_PASSWORD", "canary-endless-1")
        .memory_limit(MEMORY)
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&url) && run.stderr.contains("over 64 MiB, more than red reads"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("canary-endless-1"), "{}", run.stderr);
}

#[test]
fn an_endless_kiosk_answer_is_refused_with_bounded_memory() {
    let url = endless_server();
    let run = Red::new()
        .args(["kiosk", "jobtypes", "--url", &url])
        .memory_limit(MEMORY)
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&url) && run.stderr.contains("over 4 MiB"),
        "{}",
        run.stderr
    );
}
