//! The `ssh` command line, pinned keys and the reading of `ssh`'s error output.

use super::*;

fn target(auth: Auth) -> Target {
    let mut target = Target::new("127.0.0.1", "tester");
    target.port = 2222;
    target.auth = auth;
    target.askpass_program = Some(PathBuf::from("/bin/true"));
    target
}

fn joined(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn secrets_stay_off_the_command_line_and_the_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = PrivateDir::new(None).unwrap();
    let mut askpass = None;
    let auth = Auth::Key {
        private_key: Secret::new("-----BEGIN canary-key-----".into()),
        passphrase: Some(Secret::new("canary-passphrase".into())),
    };
    let args = arguments(&target(auth), &dir, &mut askpass).unwrap();
    let line = joined(&args);
    assert!(!line.contains("canary"), "{line}");
    assert!(
        line.contains("-p 2222") && line.contains("-l tester"),
        "{line}"
    );
    assert!(line.ends_with("-- 127.0.0.1 sftp"), "{line}");
    assert!(line.contains("-oStrictHostKeyChecking=yes"));
    assert!(line.contains("-oCiphers=^aes128-gcm@openssh.com"));
    let key = dir.0.join("key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(askpass.is_some(), "a passphrase needs the askpass helper");
    let path = dir.0.clone();
    drop(askpass);
    drop(dir);
    assert!(!path.exists(), "the private directory must be removed");
}

#[test]
fn a_pinned_key_replaces_known_hosts() {
    let dir = PrivateDir::new(None).unwrap();
    let mut askpass = None;
    let mut pinned = target(Auth::Password(Secret::new("canary-pw".into())));
    pinned.host_key = Some("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexample".into());
    let line = joined(&arguments(&pinned, &dir, &mut askpass).unwrap());
    assert!(line.contains("-oHostKeyAlias=red-pinned-host"), "{line}");
    assert!(line.contains("-oGlobalKnownHostsFile=/dev/null"), "{line}");
    assert!(!line.contains("canary"));
    let written = fs::read_to_string(dir.0.join("known_hosts")).unwrap();
    assert_eq!(
        written,
        "red-pinned-host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexample\n"
    );
}

#[test]
fn host_keys_are_checked_for_shape() {
    assert!(normalize_host_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexample comment").is_ok());
    assert!(normalize_host_key("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAy").is_ok());
    assert!(normalize_host_key("AAAAC3NzaC1lZDI1NTE5AAAAIBexample").is_err());
    assert!(normalize_host_key("ssh-ed25519").is_err());
    assert!(normalize_host_key("a b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexample").is_err());
}

#[test]
fn hosts_that_look_like_options_are_refused() {
    let dir = PrivateDir::new(None).unwrap();
    let mut evil = target(Auth::Default);
    evil.host = "-oProxyCommand=touch /tmp/x".into();
    assert!(matches!(
        arguments(&evil, &dir, &mut None),
        Err(Error::Usage(_))
    ));
}

fn classify_text(text: &str) -> Error {
    let closed = sftp::Error::Closed { reason: None };
    errors::classify(&target(Auth::Default), text, None, &closed)
}

#[test]
fn ssh_errors_become_advice() {
    let unknown = classify_text(
        "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n",
    );
    assert!(matches!(unknown, Error::UnknownHostKey { .. }));
    let text = unknown.to_string();
    assert!(
        text.contains("ssh-keyscan -p 2222 127.0.0.1") && text.contains("hostKey"),
        "{text}"
    );
    let changed = classify_text(
        "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n",
    );
    assert!(matches!(changed, Error::ChangedHostKey { .. }));
    let denied = classify_text("tester@127.0.0.1: Permission denied (publickey,password).\n");
    assert!(
        denied.to_string().contains("publickey,password"),
        "{denied}"
    );
    assert!(matches!(
        classify_text("ssh: connect to host 127.0.0.1 port 2222: Connection refused\n"),
        Error::Refused { .. }
    ));
    assert!(classify_text("ssh: connect to host x port 22: Connection timed out").is_transient());
    assert!(matches!(
        classify_text("Load key \"/tmp/k\": incorrect passphrase supplied to decrypt private key"),
        Error::Auth { .. }
    ));
    let other = classify_text("something new\n");
    assert!(other.to_string().contains("something new"));
}

#[test]
fn redaction_is_longest_first() {
    let text = errors::redact("pw and pw-long", &["pw", "pw-long"]);
    assert_eq!(text, "******** and ********");
}

#[test]
fn a_private_directory_leaves_room_for_the_askpass_socket() {
    let root = tempfile::tempdir().unwrap();
    let room = 70 - root.path().as_os_str().len();
    for extra in 1..room {
        let base = root.path().join("b".repeat(extra));
        fs::create_dir(&base).unwrap();
        let dir = PrivateDir::new(Some(&base)).unwrap();
        let socket = dir.0.join(askpass::SOCKET);
        assert!(socket.as_os_str().len() < 108, "{}", socket.display());
    }
}
