//! The Kiosk engine: upload a file, create its job, follow it at the run's shared pace, download
//! the result and expire the job, many jobs in flight at once. `red kiosk submit` sends files
//! with [`submit_files`]; `red submit --kiosk` sends each batch of a RED file with
//! [`batches::run`] (docs/kiosk.md).
//!
//! Nothing here prints: progress lines go to the run's [`Events`], and every job's end, failures
//! included, is in its [`Outcome`].

pub mod batches;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::execute::Events;
use crate::kiosk::{self, Client, JobOptions, JobRequest, Pace, Stagger};

/// One job's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The file sent.
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The job's key (its Redis hash).
    pub hash: Option<String>,
    /// `done`, `failed`, or `error` (red could not follow it).
    pub status: String,
    /// Seconds from upload to end.
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none", rename = "outputUrl")]
    /// Where the Kiosk keeps the result.
    pub output_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Where the result was downloaded to.
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why it failed.
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    /// The failed images of a zip job.
    pub failures: Vec<ChildFailure>,
    /// The job's [`summary::FIELDS`] as the Kiosk kept them, read once it ended when
    /// [`Settings::details`] asks for them (for the summary file, not the report).
    #[serde(skip)]
    pub details: Vec<Option<String>>,
}

/// A failed image of a zip job.
#[derive(Debug, Clone, Serialize)]
pub struct ChildFailure {
    /// The image's key in the zip.
    pub child: String,
    /// The last line of its traceback.
    pub reason: String,
}

impl Outcome {
    /// Whether the job gave what it was run for.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.status == "done" && self.failures.is_empty()
    }
}

/// Files to send: each path, or the job files under a directory, in name order.
///
/// # Errors
/// A path that cannot be read.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, kiosk::Error> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| kiosk::Error::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut stack = vec![path.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir).map_err(|source| kiosk::Error::Io {
                    action: "read",
                    path: dir.clone(),
                    source,
                })?;
                for entry in entries.flatten() {
                    let child = entry.path();
                    match entry.file_type() {
                        Ok(t) if t.is_dir() => stack.push(child),
                        Ok(t) if t.is_file() && kiosk::is_job_file(&child) => found.push(child),
                        _ => {}
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// How every job of one run is made and followed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The job type (queue).
    pub job_type: String,
    /// Where results are downloaded (none: not downloaded).
    pub download: Option<PathBuf>,
    /// How long a job may take from upload to result.
    pub timeout: Duration,
    /// When to poll, shared by every job of the run.
    pub pace: Arc<Pace>,
    /// What is sent with each job: scale, channels, model, functions, label.
    pub options: JobOptions,
    /// Seconds after which the Kiosk may forget a finished job.
    pub expire: u64,
    /// Job creations spaced apart (`--start-delay`); none: as soon as each job has its turn.
    pub stagger: Option<Arc<Stagger>>,
    /// The files are already in the Kiosk's bucket under this prefix (`--in-bucket`): each
    /// path is a key below it, and nothing is uploaded.
    pub in_bucket: Option<String>,
    /// Read each ended job's timing fields into [`Outcome::details`] (one more request a job).
    pub details: bool,
}

/// Send every file as its own job, at most `jobs` in flight, and return each job's outcome in the
/// order of `files`; `names` (one per file) name the results. A line per ended job goes to
/// `events`.
pub async fn submit_files(
    client: &Client,
    settings: &Arc<Settings>,
    files: Vec<(PathBuf, String)>,
    jobs: usize,
    events: &Arc<dyn Events>,
) -> Vec<Outcome> {
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs));
    let total = files.len();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for (index, (file, name)) in files.into_iter().enumerate() {
        let (client, settings, limit, events, finished) = (
            client.clone(),
            Arc::clone(settings),
            Arc::clone(&limit),
            Arc::clone(events),
            Arc::clone(&finished),
        );
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let outcome = one_job(&client, &settings, &file, &name, events.as_ref()).await;
            let done = finished.fetch_add(1, Ordering::SeqCst) + 1;
            events.progress(&format!(
                "[{done}/{total}] {}: {}\n",
                outcome.input, outcome.status
            ));
            (index, outcome)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(pair) = joined {
            outcomes.push(pair);
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// Upload `file`, create its job, follow it to its end and download the result into
/// `settings.download`; every failure is in the outcome.
pub async fn one_job(
    client: &Client,
    settings: &Settings,
    file: &Path,
    name: &str,
    events: &dyn Events,
) -> Outcome {
    let start = Instant::now();
    let basename = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned());
    let mut outcome = Outcome {
        input: file.display().to_string(),
        hash: None,
        status: "error".to_owned(),
        seconds: 0.0,
        output_url: None,
        output: None,
        reason: None,
        failures: Vec::new(),
        details: Vec::new(),
    };
    let mut waited = Duration::ZERO;
    let result = async {
        let (image_name, uploaded_name) = match &settings.in_bucket {
            Some(prefix) => {
                let key = file.to_string_lossy().into_owned();
                let uploaded = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}/{key}")
                };
                (key, uploaded)
            }
            None => (basename.clone(), client.upload(&basename, file).await?),
        };
        if let Some(stagger) = &settings.stagger {
            let before = Instant::now();
            stagger.turn().await;
            waited = before.elapsed();
        }
        let hash = client
            .predict(&JobRequest {
                job_type: settings.job_type.clone(),
                image_name,
                uploaded_name,
                options: settings.options.clone(),
            })
            .await?;
        tracing::info!(input = %outcome.input, job = %hash, "job created");
        outcome.hash = Some(hash.clone());
        follow(client, settings, &hash, start, &mut outcome, events).await
    }
    .await;
    if let Err(error) = result {
        outcome.reason = Some(error.to_string());
    }
    // From upload to end, less the wait for a creation slot (`--start-delay`).
    outcome.seconds = start.elapsed().saturating_sub(waited).as_secs_f64();
    tracing::info!(input = %outcome.input, status = %outcome.status,
        seconds = outcome.seconds, reason = outcome.reason.as_deref().unwrap_or(""), "job ended");
    outcome
}

/// Poll until the job ends (or its time is up), then download and expire.
async fn follow(
    client: &Client,
    settings: &Settings,
    hash: &str,
    start: Instant,
    outcome: &mut Outcome,
    events: &dyn Events,
) -> Result<(), kiosk::Error> {
    const GRACE: Duration = Duration::from_secs(30);
    let mut errors = 0;
    let mut last_status: Option<String> = None;
    let created = Instant::now();
    let mut delay = settings.pace.first();
    let mut polls = 0;
    let fields = loop {
        if start.elapsed() > settings.timeout {
            outcome.reason = Some(format!(
                "no result within {} s (last status: {})",
                settings.timeout.as_secs_f64(),
                last_status.as_deref().unwrap_or("none")
            ));
            let _ = client.expire(hash, settings.expire).await;
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        polls += 1;
        delay = settings.pace.next(delay, polls);
        match client.fields(hash).await {
            Ok(fields) if fields.is_finished() => {
                settings.pace.ended(created.elapsed());
                break fields;
            }
            Ok(fields) => {
                errors = 0;
                if fields.status.is_none() && start.elapsed() > GRACE {
                    outcome.reason = Some("the Kiosk forgot the job (no status)".to_owned());
                    return Ok(());
                }
                if fields.status != last_status
                    && let Some(status) = &fields.status
                {
                    let progress = fields
                        .progress
                        .map(|p| format!(" {p}%"))
                        .unwrap_or_default();
                    events.progress(&format!("  {}: {status}{progress}\n", outcome.input));
                    tracing::info!(job = %hash, status = %status, progress = fields.progress, "new status");
                }
                last_status = fields.status;
            }
            // A poll is a read: a few transient failures in a row are tolerated.
            Err(error)
                if errors < 4
                    && matches!(
                        error,
                        kiosk::Error::Connect { .. }
                            | kiosk::Error::Timeout { .. }
                            | kiosk::Error::Status {
                                status: 500..=599,
                                ..
                            }
                    ) =>
            {
                errors += 1;
            }
            Err(error) => return Err(error),
        }
    };
    ended(outcome, &fields);
    if settings.details {
        // Only for the summary file: a failure to read them leaves them empty.
        outcome.details = client
            .hmget(hash, &summary::FIELDS)
            .await
            .unwrap_or_default();
    }
    if let (Some(dir), "done") = (&settings.download, outcome.status.as_str()) {
        deliver(client, dir, hash, outcome).await;
    }
    let _ = client.expire(hash, settings.expire).await;
    Ok(())
}

/// What the Kiosk says of a job that ended: status, result, the last line of each reason.
fn ended(outcome: &mut Outcome, fields: &kiosk::JobFields) {
    outcome.status = fields.status.clone().unwrap_or_default();
    outcome.output_url = fields.output_url.clone();
    outcome.reason = fields
        .reason
        .as_deref()
        .map(|r| kiosk::last_line(r).to_owned());
    outcome.failures = fields
        .failures
        .iter()
        .map(|(child, reason)| ChildFailure {
            child: child.clone(),
            reason: kiosk::last_line(reason).to_owned(),
        })
        .collect();
}

/// Download a finished job's result into `dir`. A result that was asked for and did not arrive
/// fails the job (status `error`, with the reason): the job did not give what it was run for.
async fn deliver(client: &Client, dir: &Path, hash: &str, outcome: &mut Outcome) {
    let Some(url) = outcome.output_url.clone() else {
        outcome.status = "error".to_owned();
        outcome.reason = Some("the Kiosk finished the job but named no result to download".into());
        return;
    };
    let dest = dir.join(format!("{}.zip", unique_name(outcome, hash)));
    match client.download(&url, &dest).await {
        Ok(size) => {
            tracing::info!(job = %hash, url = %url, to = %dest.display(), size, "result downloaded");
            outcome.output = Some(dest.display().to_string());
        }
        Err(error) => {
            outcome.status = "error".to_owned();
            outcome.reason = Some(format!("the result was not downloaded: {error}"));
        }
    }
}

/// The result's file name: the input's stem and the last part of the job's hash (unique).
fn unique_name(outcome: &Outcome, hash: &str) -> String {
    let stem = Path::new(&outcome.input)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job".to_owned());
    let tail: String = hash
        .rsplit(':')
        .next()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect();
    format!("{stem}-{tail}")
}
