//! A client for the DeepCell Kiosk front-end API (docs/kiosk.md): job types, upload, create a
//! job, poll its Redis fields, download the result, expire the job.
//!
//! It avoids what is wrong in kiosk-client 0.8.4 (docs/kiosk.md, "Differences"): every HTTP status
//! is checked (a 400 is final, never a loop), every request has a timeout (an upload whose storage
//! write fails is never answered), uploads are named by their basename, both parameter styles
//! (`dataRescale`/`channels` and `jobForm{…}`) are sent, and one HMGET replaces thirteen HGETs.

mod job;
pub mod pace;
pub mod pick;

pub use job::{JobOptions, JobRequest, Model};
pub use pace::{Pace, Stagger};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What went wrong talking to a Kiosk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL cannot be used.
    #[error("`{url}` is not a usable Kiosk URL: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why not.
        reason: String,
    },
    /// The Kiosk could not be reached.
    #[error("cannot reach the Kiosk at `{url}`: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What the network layer said.
        reason: String,
    },
    /// No answer within the request timeout.
    #[error("the Kiosk did not answer {what} within {} s", timeout.as_secs_f64())]
    Timeout {
        /// The request, in words.
        what: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The Kiosk refused the request (a 4xx or 5xx answer).
    #[error("the Kiosk answered {status} to {what}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The request, in words.
        what: String,
        /// The `message` of its JSON body, or the body.
        message: String,
    },
    /// A success answer that is not what the API documents.
    #[error("the Kiosk's answer to {what} is not what its API documents: {reason}")]
    Body {
        /// The request, in words.
        what: String,
        /// What did not fit.
        reason: String,
    },
    /// An answer longer than any answer of the Kiosk's API (see `docs/limits.md`).
    #[error(
        "the answer of the Kiosk at `{url}` to {what} is {}, more than red reads of such an answer; check that the URL is a Kiosk's",
        crate::net::BodyError::over(*limit)
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The request, in words.
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A job type the Kiosk does not offer.
    #[error("the Kiosk at `{url}` has no job type `{job_type}` (it offers: {offered})")]
    UnknownJobType {
        /// The URL.
        url: String,
        /// The job type asked for.
        job_type: String,
        /// What it offers, comma-separated.
        offered: String,
    },
    /// The upload answer names a URL, not a bucket key (an S3 deployment).
    #[error(
        "the Kiosk stored the upload as `{0}`, which is not a bucket key (`uploads/…`); S3 Kiosks are not supported"
    )]
    NotAKey(String),
    /// A local file could not be read or written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// Read or write.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The Redis fields red polls, in one HMGET.
pub const POLL_FIELDS: [&str; 7] = [
    "status",
    "progress",
    "output_url",
    "reason",
    "failures",
    "created_at",
    "finished_at",
];

/// A job's fields as polled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobFields {
    /// `status`; `None` for an unknown or expired hash.
    pub status: Option<String>,
    /// `progress` (zip jobs), 0 to 100.
    pub progress: Option<u8>,
    /// `output_url` once done.
    pub output_url: Option<String>,
    /// `reason` once failed: a traceback.
    pub reason: Option<String>,
    /// `failures` of a zip job: child key and reason for each failed child.
    pub failures: Vec<(String, String)>,
    /// `created_at`.
    pub created_at: Option<String>,
    /// `finished_at`.
    pub finished_at: Option<String>,
}

impl JobFields {
    /// Whether the job has ended (`done` or `failed`; anything else means keep polling).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_deref(), Some("done" | "failed"))
    }
}

/// The last non-empty line of a traceback: what the web UI shows.
#[must_use]
pub fn last_line(reason: &str) -> &str {
    reason
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Decode `failures`: URL-encoded `child=reason&…` pairs.
#[must_use]
pub fn parse_failures(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(value) = hex {
                    out.push(value);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the Kiosk stored an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The bucket key (`uploads/…`).
    pub key: String,
    /// The public URL the front end names for it (`imageURL`), when it names one.
    pub url: Option<String>,
}

impl Stored {
    /// The bucket the URL names: `https://storage.googleapis.com/<bucket>/…` (GCS) or
    /// `https://<bucket>.s3.amazonaws.com/…` (S3); `None` for any other URL.
    #[must_use]
    pub fn bucket(&self) -> Option<&str> {
        let url = self.url.as_deref()?;
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host == "storage.googleapis.com" {
            return path.split('/').next().filter(|b| !b.is_empty());
        }
        host.strip_suffix(".s3.amazonaws.com")
            .filter(|b| !b.is_empty())
    }
}

/// A connection to one Kiosk front end.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    /// At most this many requests at once, across every clone (none: no bound of its own).
    requests: Option<Arc<tokio::sync::Semaphore>>,
}

impl Client {
    /// A client for the Kiosk at `base` (`http://` is assumed without a scheme), with `timeout`
    /// for every request.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, Error> {
        let with_scheme = if base.contains("://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        let parsed = reqwest::Url::parse(&with_scheme).map_err(|e| Error::Url {
            url: base.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Url {
                url: base.to_owned(),
                reason: "only http and https are supported".to_owned(),
            });
        }
        let http = crate::net::api_client(timeout).map_err(|e| Error::Url {
            url: base.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            http,
            base: with_scheme.trim_end_matches('/').to_owned(),
            timeout,
            requests: None,
        })
    }

    /// Send at most `most` requests at once, from this client and all its clones: many jobs can
    /// wait in the Kiosk's queue (which is what it scales on) while the front end sees a bounded
    /// number of connections.
    #[must_use]
    pub fn with_request_limit(mut self, most: usize) -> Self {
        self.requests = Some(Arc::new(tokio::sync::Semaphore::new(most.max(1))));
        self
    }

    /// A turn to send one request (held until its answer is read).
    async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match &self.requests {
            Some(requests) => Arc::clone(requests).acquire_owned().await.ok(),
            None => None,
        }
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Follow redirects of the base URL once (an ingress may send http to https), so that the
    /// POSTs go straight to the final place.
    pub async fn resolve(&mut self) -> Result<(), Error> {
        let _turn = self.turn().await;
        let response = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .map_err(|e| self.network(&e, "GET /"))?;
        let final_url = response.url().as_str().trim_end_matches('/').to_owned();
        if final_url != self.base && !final_url.is_empty() {
            self.base = final_url;
        }
        Ok(())
    }

    /// The job types the Kiosk offers.
    pub async fn job_types(&self) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "jobTypes")]
            job_types: Vec<String>,
        }
        let what = "GET /api/jobtypes";
        let request = self.http.get(format!("{}/api/jobtypes", self.base));
        let answer: Answer = self.json(request, what).await?;
        Ok(answer.job_types)
    }

    /// Check that `job_type` is offered; the error lists what is.
    pub async fn check_job_type(&self, job_type: &str) -> Result<(), Error> {
        let offered = self.job_types().await?;
        if offered.iter().any(|t| t == job_type) {
            Ok(())
        } else {
            Err(Error::UnknownJobType {
                url: self.base.clone(),
                job_type: job_type.to_owned(),
                offered: offered.join(", "),
            })
        }
    }

    /// Upload a file's bytes under its basename; returns the bucket key (`uploads/…`).
    /// The file is read only once the request has its turn, so that jobs waiting for one do not
    /// hold their files in memory.
    pub async fn upload(&self, name: &str, file: &Path) -> Result<String, Error> {
        self.upload_stored(name, file)
            .await
            .map(|stored| stored.key)
    }

    /// Upload a file as [`Client::upload`] does; returns where the Kiosk stored it.
    pub async fn upload_stored(&self, name: &str, file: &Path) -> Result<Stored, Error> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "uploadedName")]
            uploaded_name: String,
            #[serde(rename = "imageURL", default)]
            image_url: Option<String>,
        }
        let turn = self.turn().await;
        let data = read_upload(file).await?;
        let boundary = format!("red-{}", uuid::Uuid::new_v4().simple());
        let safe: String = name
            .chars()
            .map(|c| if c == '"' || c.is_control() { '_' } else { c })
            .collect();
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let what = format!("the upload of `{name}`");
        let request = self
            .http
            .post(format!("{}/api/upload", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        let answer: Answer = self.answer(request, &what, turn).await?;
        if !answer.uploaded_name.starts_with("uploads/") || answer.uploaded_name.contains("://") {
            return Err(Error::NotAKey(answer.uploaded_name));
        }
        tracing::debug!(file = %file.display(), key = %answer.uploaded_name, "uploaded");
        Ok(Stored {
            key: answer.uploaded_name,
            url: answer.image_url,
        })
    }

    /// Create a job; returns its Redis hash key. Never retried: a 400 is final.
    pub async fn predict(&self, job: &JobRequest) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Answer {
            hash: String,
        }
        let what = format!("the job for `{}`", job.image_name);
        let request = self
            .http
            .post(format!("{}/api/predict", self.base))
            .json(&job.body());
        let answer: Answer = self.json(request, &what).await?;
        Ok(answer.hash)
    }

    /// Read a job's [`POLL_FIELDS`] in one request.
    pub async fn fields(&self, hash: &str) -> Result<JobFields, Error> {
        let mut values = self.hmget(hash, &POLL_FIELDS).await?.into_iter();
        let mut next = || values.next().flatten();
        Ok(JobFields {
            status: next(),
            progress: next().and_then(|p| p.parse().ok()),
            output_url: next(),
            reason: next(),
            failures: next().map(|f| parse_failures(&f)).unwrap_or_default(),
            created_at: next(),
            finished_at: next(),
        })
    }

    /// Read `fields` of a job's hash in one request (one HMGET): a value for each, `None` where
    /// the hash has no such field.
    pub async fn hmget(&self, hash: &str, fields: &[&str]) -> Result<Vec<Option<String>>, Error> {
        #[derive(Deserialize)]
        struct Answer {
            value: Vec<Option<String>>,
        }
        let what = "POST /api/redis";
        let request = self
            .http
            .post(format!("{}/api/redis", self.base))
            .json(&serde_json::json!({ "hash": hash, "key": fields }));
        let answer: Answer = self.json(request, what).await?;
        Ok(answer.value)
    }

    /// Let the job's hash expire in `seconds`; `false` when it was already gone (404).
    pub async fn expire(&self, hash: &str, seconds: u64) -> Result<bool, Error> {
        let what = "POST /api/redis/expire";
        let _turn = self.turn().await;
        let response = self
            .http
            .post(format!("{}/api/redis/expire", self.base))
            .json(&serde_json::json!({ "hash": hash, "expireIn": seconds }))
            .send()
            .await
            .map_err(|e| self.network(&e, what))?;
        if response.status().as_u16() == 404 {
            return Ok(false);
        }
        self.checked(response, what).await.map(|_| true)
    }

    /// Download a result into `dest`; returns its size.
    pub async fn download(&self, url: &str, dest: &Path) -> Result<u64, Error> {
        let what = format!("the download of `{url}`");
        let _turn = self.turn().await;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.network(&e, &what))?;
        if !response.status().is_success() {
            return Err(self
                .checked(response, &what)
                .await
                .err()
                .unwrap_or_else(|| Error::Body {
                    what: what.clone(),
                    reason: "a failure status".to_owned(),
                }));
        }
        let written = |source| Error::Io {
            action: "write",
            path: dest.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(written)?;
        match crate::net::save_body(response, &mut file).await {
            Ok(size) => Ok(size),
            Err(crate::net::SaveError::Network(e)) => Err(self.network(&e, &what)),
            Err(crate::net::SaveError::Write(source)) => Err(written(source)),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, Error> {
        let turn = self.turn().await;
        self.answer(request, what, turn).await
    }

    /// Send `request` in the turn given and read its JSON answer.
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        _turn: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<T, Error> {
        let response = request.send().await.map_err(|e| self.network(&e, what))?;
        let bytes = self.checked(response, what).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Body {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    async fn checked(&self, response: reqwest::Response, what: &str) -> Result<Vec<u8>, Error> {
        let status = response.status();
        tracing::debug!(
            request = what,
            status = status.as_u16(),
            "the Kiosk answered"
        );
        let bytes = match crate::net::read_body(response, crate::net::MAX_ANSWER).await {
            Ok(bytes) => bytes,
            Err(crate::net::BodyError::Network(e)) => return Err(self.network(&e, what)),
            Err(crate::net::BodyError::TooLarge { limit }) => {
                return Err(Error::TooLarge {
                    url: self.base.clone(),
                    what: what.to_owned(),
                    limit,
                });
            }
        };
        if status.is_success() {
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(&bytes);
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| {
                // A page (an HTML error from a proxy) as one short line of its text.
                crate::net::excerpt(&bytes, &[])
                    .filter(|said| said != "{}")
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned())
            });
        Err(Error::Status {
            status: status.as_u16(),
            what: what.to_owned(),
            message,
        })
    }

    fn network(&self, error: &reqwest::Error, what: &str) -> Error {
        if error.is_timeout() {
            return Error::Timeout {
                what: what.to_owned(),
                timeout: self.timeout,
            };
        }
        let mut source: &dyn std::error::Error = error;
        while let Some(inner) = source.source() {
            source = inner;
        }
        Error::Connect {
            url: self.base.clone(),
            reason: source.to_string().to_lowercase(),
        }
    }
}

/// The largest file red uploads to a Kiosk (an image or a `.zip` of images; the upload is sent
/// from memory).
pub const MAX_UPLOAD: u64 = 1024 * 1024 * 1024;

/// Read a file to upload, refusing one over [`MAX_UPLOAD`] (or a device that never ends).
async fn read_upload(file: &Path) -> Result<Vec<u8>, Error> {
    let path = file.to_owned();
    let read = tokio::task::spawn_blocking(move || crate::source::read_bytes(&path, MAX_UPLOAD))
        .await
        .unwrap_or_else(|e| {
            Err(crate::source::Error::Read {
                origin: crate::source::Origin::Path(file.to_owned()),
                source: std::io::Error::other(e),
            })
        });
    read.map_err(|error| Error::Io {
        action: "read",
        path: file.to_owned(),
        source: match error {
            crate::source::Error::Read { source, .. } => source,
            other => std::io::Error::new(std::io::ErrorKind::FileTooLarge, other.to_string()),
        },
    })
}

/// Whether the Kiosk would take `path` as a job: a `.zip`, or an image by its extension.
#[must_use]
pub fn is_job_file(path: &Path) -> bool {
    const EXTENSIONS: [&str; 8] = ["zip", "png", "tif", "tiff", "jpg", "jpeg", "gif", "bmp"];
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests;
