use super::*;

#[test]
fn access_blocks_are_checked_without_echoing_values() {
    let http = Http::new();
    let ok = Access::new(serde_json::json!({
        "url": "https://example.org/f", "auth": {"username": "u", "password": "canary"}
    }));
    assert!(http.check(Operation::ReceiveFile, &ok, None).is_ok());
    let bad_url = Access::new(serde_json::json!({"url": "ftp://canary@x/f"}));
    let Err(ConnectorError::Access(error)) = http.check(Operation::ReceiveFile, &bad_url, None)
    else {
        panic!("ftp must be refused");
    };
    assert_eq!(error.pointer, "/url");
    assert!(!error.to_string().contains("canary"));
    let bad_auth = Access::new(serde_json::json!({
        "url": "http://x/f", "auth": {"username": "u", "pass": "canary"}
    }));
    let Err(ConnectorError::Access(error)) = http.check(Operation::ReceiveFile, &bad_auth, None)
    else {
        panic!("an unknown auth field must be refused");
    };
    assert_eq!(error.pointer, "/auth/pass");
    assert!(!format!("{error:?}").contains("canary"));
    let put = Access::new(serde_json::json!({"url": "http://x/f", "method": "put"}));
    assert!(http.check(Operation::ReceiveFile, &put, None).is_err());
    assert!(http.check(Operation::SendFile, &put, None).is_ok());
    let get = Access::new(serde_json::json!({"url": "http://x/f", "method": "GET"}));
    let Err(ConnectorError::Access(error)) = http.check(Operation::SendFile, &get, None) else {
        panic!("GET cannot send");
    };
    assert_eq!(error.pointer, "/method");
    let no_password = Access::new(serde_json::json!({
        "url": "http://x/f", "auth": {"username": "u"}
    }));
    assert!(
        http.check(Operation::ReceiveFile, &no_password, None)
            .is_err()
    );
    let insecure = Access::new(serde_json::json!({
        "url": "https://x/f", "disableSSLVerification": "yes"
    }));
    let Err(ConnectorError::Access(error)) = http.check(Operation::ReceiveFile, &insecure, None)
    else {
        panic!("a string is not a boolean");
    };
    assert_eq!(error.pointer, "/disableSSLVerification");
}

#[test]
fn directories_need_a_listing_and_json_only_moves_files() {
    let access = Access::new(serde_json::json!({"url": "http://x/d"}));
    let listing = Listing(serde_json::json!([{"class": "File", "basename": "a"}]));
    let http = Http::new();
    assert!(
        http.check(Operation::ReceiveDir, &access, Some(&listing))
            .is_ok()
    );
    assert!(http.check(Operation::ReceiveDir, &access, None).is_err());
    let bad = Listing(serde_json::json!([{"class": "File", "basename": "../a"}]));
    assert!(
        http.check(Operation::ReceiveDir, &access, Some(&bad))
            .is_err()
    );
    for operation in [Operation::SendDir, Operation::MountDir] {
        assert!(matches!(
            http.check(operation, &access, None),
            Err(ConnectorError::Unsupported { .. })
        ));
    }
    let json = Http::json();
    assert_eq!(json.command(), HTTP_JSON);
    assert!(json.check(Operation::ReceiveFile, &access, None).is_ok());
    assert!(matches!(
        json.check(Operation::ReceiveDir, &access, Some(&listing)),
        Err(ConnectorError::Unsupported { .. })
    ));
}

#[test]
fn urls_in_messages_lose_credentials_and_queries() {
    let url = reqwest::Url::parse("https://user:pw@host/a?token=t#f").unwrap();
    assert_eq!(shown(&url), "https://host/a");
}

#[test]
fn entry_urls_join_basenames_with_escaping() {
    let base = reqwest::Url::parse("http://h/data/").unwrap();
    assert_eq!(
        joined(&base, &["sub dir", "ü.txt"]).as_str(),
        "http://h/data/sub%20dir/%C3%BC.txt"
    );
    let base = reqwest::Url::parse("http://h/data").unwrap();
    assert_eq!(joined(&base, &["a"]).as_str(), "http://h/data/a");
}
