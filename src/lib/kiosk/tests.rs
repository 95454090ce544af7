use super::*;

#[test]
fn failures_are_url_decoded_pairs() {
    let text = "mesmer%3Ac-fail.png%3Ae28f=Traceback+%28most+recent%29%3A%0ARuntimeError%3A+x&k2=";
    let pairs = parse_failures(text);
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].0, "mesmer:c-fail.png:e28f");
    assert_eq!(pairs[0].1, "Traceback (most recent):\nRuntimeError: x");
    assert_eq!(last_line(&pairs[0].1), "RuntimeError: x");
    assert_eq!(pairs[1], ("k2".to_owned(), String::new()));
    assert!(parse_failures("").is_empty());
    assert_eq!(form_decode("100%"), "100%");
}

/// A front end on 127.0.0.1 that answers every request after a short hold and records the
/// most requests it had open at once.
fn counting_front_end() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::clone(&most);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (open, most) = (Arc::clone(&open), Arc::clone(&most));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    open.fetch_sub(1, Ordering::SeqCst);
                    let answer = "{\"value\":1}";
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn expire_many(client: &Client, count: usize) -> usize {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..count {
            let client = client.clone();
            set.spawn(async move { client.expire(&format!("job-{i}"), 60).await });
        }
        let mut answered = 0;
        while let Some(joined) = set.join_next().await {
            if matches!(joined, Ok(Ok(true))) {
                answered += 1;
            }
        }
        answered
    })
}

#[test]
fn a_request_limit_holds_across_clones() {
    use std::sync::atomic::Ordering;
    let (url, most) = counting_front_end();
    let limited = Client::new(&url, Duration::from_secs(10))
        .expect("client")
        .with_request_limit(2);
    assert_eq!(expire_many(&limited, 12), 12);
    let with_limit = most.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&with_limit),
        "{with_limit} requests at once"
    );
    // Without a limit the same requests overlap, so the front end can tell the difference.
    let (url, most) = counting_front_end();
    let unlimited = Client::new(&url, Duration::from_secs(10)).expect("client");
    assert_eq!(expire_many(&unlimited, 12), 12);
    assert!(most.load(Ordering::SeqCst) > 2, "requests never overlapped");
}

#[test]
fn the_job_body_has_both_parameter_styles() {
    let body = JobRequest {
        job_type: "mesmer".into(),
        image_name: "cells.png".into(),
        uploaded_name: "uploads/abc.png".into(),
        options: JobOptions {
            scale: Some("0.5".into()),
            channels: Some("0,1".into()),
            ..JobOptions::default()
        },
    }
    .body();
    assert_eq!(body["dataRescale"], "0.5");
    assert_eq!(body["jobForm"]["scale"], "0.5");
    assert_eq!(body["channels"], "0,1");
    assert_eq!(body["jobForm"]["selectedChannels"], "0,1");
    assert_eq!(body["uploadedName"], "uploads/abc.png");
    // What was not given goes empty, as before.
    for empty in [
        "modelName",
        "modelVersion",
        "preprocessFunction",
        "postprocessFunction",
        "dataLabel",
    ] {
        assert_eq!(body[empty], "", "{empty}");
    }
}

#[test]
fn model_functions_and_label_are_sent_when_given() {
    let body = JobRequest {
        job_type: "mesmer".into(),
        image_name: "cells.png".into(),
        uploaded_name: "uploads/abc.png".into(),
        options: JobOptions {
            model: Some(Model::parse("NuclearSegmentation:12").expect("model")),
            preprocess: Some("normalize".into()),
            postprocess: Some("watershed".into()),
            label: Some("1".into()),
            ..JobOptions::default()
        },
    }
    .body();
    assert_eq!(body["modelName"], "NuclearSegmentation");
    assert_eq!(body["modelVersion"], "12");
    assert_eq!(body["preprocessFunction"], "normalize");
    assert_eq!(body["postprocessFunction"], "watershed");
    assert_eq!(body["dataLabel"], "1");
}

#[test]
fn a_model_is_name_colon_whole_version() {
    let model = Model::parse("mesmer:0").expect("model");
    assert_eq!(
        (model.name.as_str(), model.version.as_str()),
        ("mesmer", "0")
    );
    assert_eq!(model.to_string(), "mesmer:0");
    for bad in [
        "mesmer",
        "mesmer:",
        ":1",
        "mesmer:1.5",
        "a:b:1",
        "mesmer:v1",
    ] {
        assert!(Model::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_bucket_is_read_from_the_url_the_kiosk_names() {
    let stored = |url: &str| Stored {
        key: "uploads/a.json".into(),
        url: Some(url.into()),
    };
    let gcs = stored("https://storage.googleapis.com/kiosk-peer/uploads/a.json");
    assert_eq!(gcs.bucket(), Some("kiosk-peer"));
    let s3 = stored("https://my-bucket.s3.amazonaws.com/uploads/a.json");
    assert_eq!(s3.bucket(), Some("my-bucket"));
    assert_eq!(
        stored("http://127.0.0.1:4443/b/uploads/a.json").bucket(),
        None
    );
}

#[test]
fn finished_statuses_and_job_files() {
    let mut fields = JobFields::default();
    assert!(!fields.is_finished());
    fields.status = Some("saving-results".into());
    assert!(!fields.is_finished());
    fields.status = Some("failed".into());
    assert!(fields.is_finished());
    assert!(is_job_file(Path::new("a/B.PNG")));
    assert!(is_job_file(Path::new("x.zip")));
    assert!(!is_job_file(Path::new("notes.txt")));
}

#[test]
fn urls_get_a_scheme() {
    let client = Client::new("127.0.0.1:8095/", Duration::from_secs(1));
    assert_eq!(
        client.map(|c| c.base().to_owned()).ok().as_deref(),
        Some("http://127.0.0.1:8095")
    );
    assert!(Client::new("ftp://x", Duration::from_secs(1)).is_err());
}

#[test]
fn an_html_error_page_is_shown_as_its_text() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let (mut line, mut length) = (String::new(), 0);
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let _ = reader.read_exact(&mut vec![0; length]);
        let page = "<html><head><title>502 Bad Gateway</title></head>\n<body>\n\
            <center><h1>502   Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body></html>";
        let reply = format!(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{page}",
            page.len()
        );
        let mut writer = stream;
        let _ = writer.write_all(reply.as_bytes());
    });
    let client = Client::new(&url, Duration::from_secs(10)).expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let error = runtime
        .block_on(client.expire("job", 60))
        .expect_err("a 502 page")
        .to_string();
    assert!(
        error.ends_with(": 502 Bad Gateway 502 Bad Gateway nginx"),
        "{error}"
    );
}
