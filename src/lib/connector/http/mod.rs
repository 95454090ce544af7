//! `red-connector-http` and `red-connector-http-json`: files over HTTP(S).
//!
//! Access block (the reference's fields): `url` (required), `method` (`GET` for receiving;
//! `PUT` or `POST` for sending, default `POST`; any case), `auth` `{username, password, method:
//! basic|digest}` (default basic), `disableSSLVerification` (TLS certificates are verified
//! unless this is `true`).
//!
//! What it does better than the reference: a download streams to the destination and is
//! retried a bounded number of times on a transient failure, resuming with `Range: bytes=N-`
//! (and `If-Range`, so a file that changed meanwhile is not spliced) where the server answers
//! `206` for the right offset (else it starts over); a failed or
//! cancelled download leaves nothing behind; redirects are followed at most
//! [`MAX_REDIRECTS`] times, only to http(s) and never around a loop (credentials are dropped
//! when a redirect leaves the host); uploads stream the file; messages show URLs without user
//! info or query, never a password, and an error status with an excerpt of the server's page
//! (`answer.rs`). Every wait
//! has a deadline and ends when the run is cancelled: connecting and waiting for the answer's
//! headers take at most the stall timeout ([`Context::stall`]), a body that brings less than
//! [`STALL_MIN_BYTES`] in a stall period fails the attempt, and the requests run on a small
//! runtime of their own, raced against the stop flag, so Ctrl-C ends a transfer at once however
//! the peer behaves.
//!
//! `receive-dir` needs a listing (as in the reference): each listed file is fetched from the
//! base URL joined with its path of basenames, each listed directory is created. There is no
//! `send-dir` and no `mount-dir` (the reference mounts with `httpdirfs`, password on its command
//! line; use an external connector for that).
//!
//! The http-json variant parses the downloaded body as JSON and writes it back out (so the file
//! is JSON or the input fails), and sends a file only once it parsed as JSON, as
//! `application/json`.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue, IF_RANGE, LAST_MODIFIED, RANGE,
};
use reqwest::{Client, Response, StatusCode};

use super::content::{Class, Entry, entries};
use super::{
    Access, Connector, ConnectorError, Context, HTTP, HTTP_JSON, Listing, Operation, Received,
    STALL_MIN_BYTES,
};

mod answer;
mod digest;
mod request;

use request::{Request, describe, is_tls, parse, shown};

use answer::{Answer, RedirectRefused, answer_to};

/// How many redirects a request follows.
pub const MAX_REDIRECTS: usize = 10;
/// How many times a transfer is tried again after a transient failure.
pub const MAX_RETRIES: u32 = 3;
/// An upload may take the stall timeout plus one second per this many bytes.
const UPLOAD_BYTES_PER_SECOND: u64 = 1 << 20;
/// How often a wait looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The size of one read of an upload.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// Runs one operation's requests on this (blocking) thread, each raced against the stop flag.
struct Runner {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Runner {
    fn new(request: &Request<'_>, context: &Context) -> Result<Self, ConnectorError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConnectorError::io("cannot start the HTTP runtime", e))?;
        // The client's connection pool belongs to this runtime: made inside it.
        let client = {
            let _inside = runtime.enter();
            request.client(context.stall)?
        };
        Ok(Self { runtime, client })
    }

    /// `future`'s output, or [`ConnectorError::Cancelled`] within [`STOP_POLL`] of the stop
    /// flag being set (the request is then dropped, which closes its connection).
    fn run<T>(
        &self,
        context: &Context,
        future: impl Future<Output = T>,
    ) -> Result<T, ConnectorError> {
        self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = stopped(context) => Err(ConnectorError::Cancelled),
                output = future => Ok(output),
            }
        })
    }
}

/// Resolves once the stop flag is set.
async fn stopped(context: &Context) {
    while !context.stopped() {
        tokio::time::sleep(STOP_POLL).await;
    }
}

/// The http connector; [`Http::json`] is the http-json variant.
#[derive(Debug, Default, Clone, Copy)]
pub struct Http {
    json: bool,
}

impl Http {
    /// `red-connector-http`.
    #[must_use]
    pub fn new() -> Self {
        Self { json: false }
    }

    /// `red-connector-http-json`.
    #[must_use]
    pub fn json() -> Self {
        Self { json: true }
    }
}

/// The URL of a listing entry: `base` joined with the path of basenames.
fn joined(base: &reqwest::Url, names: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(names);
    }
    url
}

/// Why one attempt at a download stopped.
enum Attempt {
    /// Worth another try (connection dropped, timeout, 502/503/504).
    Transient(String),
    /// Not worth another try.
    Fatal(ConnectorError),
}

fn transient_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Strings of the request that an error body must not show: the password, the query.
fn secrets<'a>(request: &'a Request<'_>, url: &'a reqwest::Url) -> Vec<&'a str> {
    let mut secrets: Vec<&str> = url
        .query()
        .into_iter()
        .flat_map(|query| query.split('&'))
        .map(|pair| pair.split_once('=').map_or(pair, |(_, value)| value))
        .chain(url.password())
        .collect();
    if let Some(auth) = &request.auth {
        secrets.push(auth.password);
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// What identifies this version of the file for `If-Range`: a strong ETag, else Last-Modified.
fn range_validator(response: &Response) -> Option<HeaderValue> {
    let headers = response.headers();
    headers
        .get(ETAG)
        .filter(|tag| !tag.as_bytes().starts_with(b"W/"))
        .or_else(|| headers.get(LAST_MODIFIED))
        .cloned()
}

/// Download `url` into `destination` (created here), retrying transient failures and resuming
/// with a range request where the server allows it. Removes the file when it fails.
fn download(
    runner: &Runner,
    request: &Request<'_>,
    url: &reqwest::Url,
    destination: &Path,
    context: &Context,
) -> Result<u64, ConnectorError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(destination)
        .map_err(|e| ConnectorError::io(format!("cannot create `{}`", destination.display()), e))?;
    let target = Target {
        url,
        name: shown(url),
        destination,
    };
    let result = runner
        .run(
            context,
            download_into(&runner.client, request, &target, &mut file, context),
        )
        .and_then(|downloaded| downloaded);
    drop(file);
    if result.is_err() {
        let _ = fs::remove_file(destination);
    }
    result
}

/// What one download fetches and where it goes.
struct Target<'a> {
    url: &'a reqwest::Url,
    /// The URL for messages.
    name: String,
    destination: &'a Path,
}

/// How far a download got, across attempts.
#[derive(Default)]
struct Progress {
    /// Bytes in the file now (a restart from the beginning sets it back).
    written: u64,
    /// Bytes received in all attempts.
    received: u64,
    /// What identifies the file's version, for `If-Range`.
    validator: Option<HeaderValue>,
}

async fn download_into(
    client: &Client,
    request: &Request<'_>,
    target: &Target<'_>,
    file: &mut File,
    context: &Context,
) -> Result<u64, ConnectorError> {
    let mut progress = Progress::default();
    let mut retries = 0;
    let mut last_byte = Instant::now();
    // However the peer behaves, a download that brings nothing new gives up after this long.
    let give_up = context.stall.saturating_mul(MAX_RETRIES + 1);
    loop {
        context.check_stop()?;
        let before = progress.received;
        let outcome = attempt(client, request, target, file, &mut progress, context).await;
        if progress.received > before {
            last_byte = Instant::now();
        }
        match outcome {
            // No fsync: the run directory is scratch space, read right after from the page cache.
            Ok(()) => return Ok(progress.written),
            Err(Attempt::Fatal(error)) => return Err(error),
            Err(Attempt::Transient(why))
                if retries >= MAX_RETRIES || last_byte.elapsed() >= give_up =>
            {
                return Err(ConnectorError::Remote(format!(
                    "GET {} failed {} times, last: {why}",
                    target.name,
                    retries + 1
                )));
            }
            Err(Attempt::Transient(_)) => {
                retries += 1;
                // A little longer after each failure.
                tokio::time::sleep(Duration::from_millis(250) * retries).await;
            }
        }
    }
}

/// The message of a stall.
fn stalled(stall: Duration, what: &str) -> String {
    format!(
        "{what} for {}s (the stall timeout, `--stall-timeout`)",
        stall.as_secs_f64()
    )
}

/// Watches a body for a stall: less than [`STALL_MIN_BYTES`] in a stall period.
struct StallWatch {
    period: Duration,
    started: Instant,
    bytes: u64,
}

impl StallWatch {
    fn new(period: Duration) -> Self {
        Self {
            period,
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// The next chunk of `response`, `None` at its end.
    async fn next(
        &mut self,
        response: &mut Response,
    ) -> Result<Option<impl AsRef<[u8]> + use<>>, Attempt> {
        let left = self.period.saturating_sub(self.started.elapsed());
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                self.bytes += chunk.len() as u64;
                if self.bytes >= STALL_MIN_BYTES {
                    self.started = Instant::now();
                    self.bytes = 0;
                }
                Ok(Some(chunk))
            }
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(Attempt::Transient(format!(
                "reading failed: {}",
                describe(&e)
            ))),
            Err(_) => Err(Attempt::Transient(stalled(
                self.period,
                &format!("the body brought {} byte(s)", self.bytes),
            ))),
        }
    }
}

async fn attempt(
    client: &Client,
    request: &Request<'_>,
    target: &Target<'_>,
    file: &mut File,
    progress: &mut Progress,
    context: &Context,
) -> Result<(), Attempt> {
    let write_error = |e| {
        Attempt::Fatal(ConnectorError::io(
            format!("cannot write `{}`", target.destination.display()),
            e,
        ))
    };
    let name = target.name.as_str();
    let offset = progress.written;
    let validator = progress.validator.clone();
    let sending = request.send(|| {
        let builder = request.builder(client, reqwest::Method::GET, target.url);
        Ok(match (offset, validator.as_ref()) {
            (0, _) => builder,
            // If the file changed since, the server sends all of it (200): start over.
            (_, Some(validator)) => builder
                .header(RANGE, format!("bytes={offset}-"))
                .header(IF_RANGE, validator.clone()),
            (_, None) => builder.header(RANGE, format!("bytes={offset}-")),
        })
    });
    let sent = tokio::time::timeout(context.stall, sending)
        .await
        .map_err(|_| Attempt::Transient(stalled(context.stall, "no answer")))?
        .map_err(Attempt::Fatal)?;
    let mut response = sent.map_err(|e| {
        if e.is_redirect() || e.is_builder() || is_tls(&e) {
            Attempt::Fatal(ConnectorError::Remote(format!(
                "GET {name} failed: {}",
                describe(&e)
            )))
        } else {
            Attempt::Transient(describe(&e))
        }
    })?;
    match answer_to(&response, progress.written) {
        Answer::Append => {}
        Answer::Error => {
            return Err(failed_status(name, response, &secrets(request, target.url)).await);
        }
        Answer::Wrong(why) => {
            return Err(Attempt::Fatal(ConnectorError::Remote(format!(
                "GET {name} {why}"
            ))));
        }
        // The server sent the whole file again (200), or its answer to the range cannot be
        // appended: start over (after a wrong range, with a request for the whole file).
        Answer::StartOver(why) => {
            file.set_len(0).map_err(write_error)?;
            file.seek(SeekFrom::Start(0)).map_err(write_error)?;
            progress.written = 0;
            if let Some(why) = why {
                progress.validator = None;
                return Err(Attempt::Transient(why));
            }
        }
    }
    if progress.written == 0 {
        progress.validator = range_validator(&response);
    }
    let total = response
        .content_length()
        .map(|length| length + progress.written);
    let mut watch = StallWatch::new(context.stall);
    while let Some(chunk) = watch.next(&mut response).await? {
        let chunk = chunk.as_ref();
        file.write_all(chunk).map_err(write_error)?;
        context.progress.landed(progress.written, chunk);
        progress.written += chunk.len() as u64;
        progress.received += chunk.len() as u64;
        context.progress.advance(chunk.len() as u64, total);
    }
    match total {
        Some(total) if progress.written < total => Err(Attempt::Transient(format!(
            "the connection closed after {} of {total} bytes",
            progress.written
        ))),
        _ => Ok(()),
    }
}

async fn failed_status(name: &str, response: Response, secrets: &[&str]) -> Attempt {
    let status = response.status();
    let message = answer::status_message("GET", name, response, secrets).await;
    if transient_status(status) {
        // The retry message names the URL itself.
        let said = message
            .strip_prefix(&format!("GET {name} "))
            .unwrap_or(&message);
        Attempt::Transient(said.to_owned())
    } else {
        Attempt::Fatal(ConnectorError::Remote(message))
    }
}

/// The file being uploaded as a body, read a chunk at a time and reporting progress.
fn upload_body(file: File, context: Context, total: u64) -> reqwest::Body {
    let chunks = futures_util::stream::unfold(Some(file), move |file| {
        let context = context.clone();
        async move {
            let mut file = file?;
            let mut buffer = vec![0u8; UPLOAD_CHUNK];
            match file.read(&mut buffer) {
                Ok(0) => None,
                Ok(read) => {
                    buffer.truncate(read);
                    context.progress.advance(read as u64, Some(total));
                    Some((Ok(buffer), Some(file)))
                }
                // The request fails with this; nothing more is read.
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    reqwest::Body::wrap_stream(chunks)
}

impl Http {
    fn receive_json(
        &self,
        runner: &Runner,
        request: &Request<'_>,
        destination: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let raw = destination
            .with_file_name(format!(".red-partial-{}", uuid::Uuid::new_v4().as_simple()));
        let result = download(runner, request, &request.url, &raw, context).and_then(|_| {
            let reader = File::open(&raw)
                .map_err(|e| ConnectorError::io(format!("cannot read `{}`", raw.display()), e))?;
            let value: serde_json::Value = serde_json::from_reader(BufReader::new(reader))
                .map_err(|e| {
                    ConnectorError::Content(format!(
                        "GET {} did not answer JSON ({e})",
                        shown(&request.url)
                    ))
                })?;
            let text = serde_json::to_vec(&value)
                .map_err(|e| ConnectorError::Content(format!("cannot write JSON: {e}")))?;
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(destination)
                .map_err(|e| {
                    ConnectorError::io(format!("cannot create `{}`", destination.display()), e)
                })?;
            out.write_all(&text).map_err(|e| {
                ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
            })?;
            // What lands is the rewritten JSON, not the body that streamed in: start over.
            context.progress.landed(0, &text);
            Ok(())
        });
        let _ = fs::remove_file(&raw);
        result
    }

    fn receive_tree(
        &self,
        runner: &Runner,
        request: &Request<'_>,
        names: &mut Vec<String>,
        entries: &[Entry],
        destination: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        for entry in entries {
            context.check_stop()?;
            let path = destination.join(&entry.basename);
            names.push(entry.basename.clone());
            match entry.class {
                Class::File => {
                    let parts: Vec<&str> = names.iter().map(String::as_str).collect();
                    download(
                        runner,
                        request,
                        &joined(&request.url, &parts),
                        &path,
                        context,
                    )?;
                }
                Class::Directory => {
                    fs::create_dir(&path).map_err(|e| {
                        ConnectorError::io(format!("cannot create `{}`", path.display()), e)
                    })?;
                    if let Some(children) = &entry.listing {
                        self.receive_tree(runner, request, names, children, &path, context)?;
                    }
                }
            }
            names.pop();
        }
        Ok(())
    }
}

impl Connector for Http {
    fn command(&self) -> &str {
        if self.json { HTTP_JSON } else { HTTP }
    }

    fn check(
        &self,
        operation: Operation,
        access: &Access,
        listing: Option<&Listing>,
    ) -> Result<(), ConnectorError> {
        match operation {
            Operation::ReceiveFile | Operation::SendFile => {}
            Operation::ReceiveDir if !self.json => match listing {
                Some(listing) => {
                    entries(listing)?;
                }
                None => {
                    return Err(ConnectorError::Content(format!(
                        "`{}` receives a directory only with a `listing` (HTTP cannot list a directory)",
                        self.command()
                    )));
                }
            },
            _ => return self.unsupported(operation),
        }
        parse(access, operation)?;
        Ok(())
    }

    fn receive_file(
        &self,
        access: &Access,
        destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let request = parse(access, Operation::ReceiveFile)?;
        let runner = Runner::new(&request, context)?;
        if self.json {
            self.receive_json(&runner, &request, destination, context)?;
        } else {
            download(&runner, &request, &request.url, destination, context)?;
        }
        Ok(Received::Staged)
    }

    fn receive_dir(
        &self,
        access: &Access,
        destination: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        self.check(Operation::ReceiveDir, access, listing)?;
        let request = parse(access, Operation::ReceiveDir)?;
        let listed = listing.map(entries).transpose()?.unwrap_or_default();
        let runner = Runner::new(&request, context)?;
        fs::create_dir(destination).map_err(|e| {
            ConnectorError::io(format!("cannot create `{}`", destination.display()), e)
        })?;
        let result = self.receive_tree(
            &runner,
            &request,
            &mut Vec::new(),
            &listed,
            destination,
            context,
        );
        Received::staged_or_removed(result, destination)
    }

    fn send_file(
        &self,
        access: &Access,
        source: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let request = parse(access, Operation::SendFile)?;
        let name = shown(&request.url);
        // Never through a link: an output that links elsewhere must not upload that file.
        let open = || {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(source)
                .map_err(|e| ConnectorError::io(format!("cannot open `{}`", source.display()), e))
        };
        let metadata = open()?
            .metadata()
            .map_err(|e| ConnectorError::io(format!("cannot read `{}`", source.display()), e))?;
        if !metadata.is_file() {
            return Err(ConnectorError::Content(format!(
                "`{}` is not a regular file",
                source.display()
            )));
        }
        let total = metadata.len();
        if self.json {
            serde_json::from_reader::<_, serde_json::Value>(BufReader::new(open()?)).map_err(
                |e| {
                    ConnectorError::Content(format!(
                        "`{}` is not JSON ({e}); red-connector-http-json sends only JSON",
                        source.display()
                    ))
                },
            )?;
        }
        let deadline = context.stall + Duration::from_secs(total / UPLOAD_BYTES_PER_SECOND);
        let runner = Runner::new(&request, context)?;
        let method = request.method.as_str().to_owned();
        let mut retries = 0;
        loop {
            context.check_stop()?;
            let sending = request.send(|| {
                let builder = request.builder(&runner.client, request.method.clone(), &request.url);
                Ok(if self.json {
                    builder.header(CONTENT_TYPE, "application/json")
                } else {
                    builder
                }
                .timeout(deadline)
                .header(CONTENT_LENGTH, total)
                .body(upload_body(open()?, context.clone(), total)))
            });
            match runner.run(context, sending)?? {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let secrets = secrets(&request, &request.url);
                    let said = answer::status_message(&method, &name, response, &secrets);
                    return Err(ConnectorError::Remote(runner.run(context, said)?));
                }
                Err(_) if context.stopped() => return Err(ConnectorError::Cancelled),
                // Nothing was sent when connecting failed: safe to try again.
                Err(e) if e.is_connect() && !is_tls(&e) && retries < MAX_RETRIES => {
                    retries += 1;
                    let pause = Duration::from_millis(250) * retries;
                    runner.run(context, tokio::time::sleep(pause))?;
                }
                Err(e) => {
                    return Err(ConnectorError::Remote(format!(
                        "{method} {name} failed: {}",
                        describe(&e)
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
