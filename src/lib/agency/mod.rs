//! A client for the CC-Agency 9.3 broker's REST API: submit a RED document, follow, list and
//! cancel its batches, read their logs (docs/remote.md).
//!
//! Rules it keeps, from the research on the real broker:
//! - HTTP Basic on every request (its JWT is broken on current Werkzeug, its cookies are gone);
//! - a timeout on every request; bounded retries with backoff for idempotent reads only, never
//!   for a 401 (the account would be blocked) and never a blind resubmit ([`retry`]);
//! - every error shape (JSON string, HTML page, `{"msg"}`) turned into one [`Error`];
//! - batches ordered by `batchesListIndex`, the only reliable order.
//!
//! The client is async (reqwest through [`crate::net::async_builder`]); commands drive it on a
//! tokio runtime of their own.

pub mod check;
pub mod config;
pub mod error;
pub mod retry;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::Error;
pub use retry::{Idempotence, Policy};

use crate::fill::Secret;

/// The default time one request may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A user name and its password; `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    /// The broker user.
    pub username: String,
    /// Its password.
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"********")
            .finish()
    }
}

/// A batch state, in the broker's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a node (again, after a failed attempt with retries left).
    Registered,
    /// Given to a node.
    Scheduled,
    /// Running.
    Processing,
    /// Finished well.
    Succeeded,
    /// Finished badly, for good.
    Failed,
    /// Cancelled through the API.
    Cancelled,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 6] = [
        State::Registered,
        State::Scheduled,
        State::Processing,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
    ];

    /// Whether the batch will not change any more.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }

    /// The broker's word for it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Registered => "registered",
            State::Scheduled => "scheduled",
            State::Processing => "processing",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a batch's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: State,
    /// When, in unix seconds.
    pub time: f64,
    /// The node, if any.
    #[serde(default)]
    pub node: Option<String>,
    /// Why (set on failures and on the `registered` of a retry); only in full documents.
    #[serde(default, rename = "debugInfo")]
    pub debug_info: Option<serde_json::Value>,
    /// What the agent in the container reported; only in full documents.
    #[serde(default)]
    pub ccagent: Option<serde_json::Value>,
}

/// A batch as `GET /batches` lists it (and, with `attempts`, as `GET /batches/<id>` gives it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The batch id (24 hex digits).
    #[serde(rename = "_id")]
    pub id: String,
    /// Its experiment.
    #[serde(rename = "experimentId")]
    pub experiment_id: String,
    /// Its index in the RED file's `batches` (0 for a file without `batches`).
    #[serde(rename = "batchesListIndex")]
    pub index: usize,
    /// Its state.
    pub state: State,
    /// The node it last ran on.
    #[serde(default)]
    pub node: Option<String>,
    /// The owner.
    pub username: String,
    /// When it was submitted, in unix seconds.
    #[serde(rename = "registrationTime")]
    pub registration_time: f64,
    /// How many times it was given to a node (full documents only).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Every state it went through.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl Batch {
    /// The last `debugInfo` the broker recorded, as text.
    #[must_use]
    pub fn debug_info(&self) -> Option<String> {
        self.history
            .iter()
            .rev()
            .find_map(|entry| entry.debug_info.as_ref().filter(|v| !v.is_null()))
            .map(|value| match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
    }

    /// How many times a failed attempt sent it back to `registered`.
    #[must_use]
    pub fn retries(&self) -> usize {
        self.history
            .windows(2)
            .filter(|w| {
                matches!(w, [a, b] if !a.state.is_terminal()
                    && a.state != State::Registered && b.state == State::Registered)
            })
            .count()
    }
}

/// An experiment as `GET /experiments` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The experiment id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The owner.
    pub username: String,
    /// When it was submitted, in unix seconds.
    #[serde(rename = "registrationTime")]
    pub registration_time: f64,
}

/// Filters and paging of `GET /batches` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchQuery {
    /// Only this experiment's batches.
    pub experiment: Option<String>,
    /// Only batches in this state.
    pub state: Option<State>,
    /// Only this user's (admins only; others always see their own).
    pub username: Option<String>,
    /// Only batches on this node.
    pub node: Option<String>,
    /// Skip this many.
    pub skip: Option<u64>,
    /// At most this many (at least 1).
    pub limit: Option<u64>,
    /// Oldest first (the broker's default is newest first).
    pub ascending: bool,
}

impl BatchQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(id) = &self.experiment {
            pairs.push(("experimentId", id.clone()));
        }
        if let Some(state) = self.state {
            pairs.push(("state", state.as_str().to_owned()));
        }
        if let Some(user) = &self.username {
            pairs.push(("username", user.clone()));
        }
        if let Some(node) = &self.node {
            pairs.push(("node", node.clone()));
        }
        if let Some(skip) = self.skip {
            pairs.push(("skip", skip.to_string()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if self.ascending {
            pairs.push(("ascending", "1".to_owned()));
        }
        pairs
    }
}

/// The URL flags of `POST /red`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitFlags {
    /// `disableRetry`: a failed batch is not tried a second time.
    pub disable_retry: bool,
    /// `disableConnectorValidation`: the agent skips its connector checks.
    pub disable_connector_validation: bool,
}

/// Which log of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

impl Stream {
    /// The route's last segment.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Whether `text` looks like a broker object id (24 hex digits).
#[must_use]
pub fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A connection to one broker as one user.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    timeout: Duration,
    policy: Policy,
}

impl Client {
    /// A client for the broker at `base` (the URL the broker is mounted at, e.g.
    /// `https://example.org/cc`), with `timeout` for every request.
    pub fn new(base: &str, credentials: Credentials, timeout: Duration) -> Result<Self, Error> {
        let parsed = reqwest::Url::parse(base).map_err(|e| Error::Url {
            url: base.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Url {
                url: base.to_owned(),
                reason: "only http and https are supported".to_owned(),
            });
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::Url {
                url: base.to_owned(),
                reason: "a base URL has no `?query` or `#fragment`".to_owned(),
            });
        }
        let http = crate::net::api_client(timeout).map_err(|e| Error::Url {
            url: base.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            timeout,
            policy: Policy::default(),
        })
    }

    /// Use another retry policy.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The base URL, without a trailing `/`.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The user name requests are sent as.
    #[must_use]
    pub fn username(&self) -> &str {
        &self.credentials.username
    }

    /// Submit a RED document (JSON); returns the experiment id. Never sent twice unless the
    /// first connection was refused.
    pub async fn submit(
        &self,
        red: &serde_json::Value,
        flags: SubmitFlags,
    ) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "experimentId")]
            experiment_id: String,
        }
        let body = serde_json::to_vec(red).map_err(|e| Error::Encode(e.to_string()))?;
        let query = [
            ("disableRetry", if flags.disable_retry { "1" } else { "0" }),
            (
                "disableConnectorValidation",
                if flags.disable_connector_validation {
                    "1"
                } else {
                    "0"
                },
            ),
        ];
        let answer: Answer = self
            .json(
                reqwest::Method::POST,
                "/red",
                &query,
                Some(body),
                Idempotence::Write,
            )
            .await?;
        Ok(answer.experiment_id)
    }

    /// The batches that match `query`, as the broker orders them (see [`BatchQuery::ascending`]).
    pub async fn batches(&self, query: &BatchQuery) -> Result<Vec<Batch>, Error> {
        let pairs = query.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.json(
            reqwest::Method::GET,
            "/batches",
            &pairs,
            None,
            Idempotence::Read,
        )
        .await
    }

    /// The batches of one experiment, in RED order (by `batchesListIndex`).
    pub async fn experiment_batches(&self, experiment: &str) -> Result<Vec<Batch>, Error> {
        check_id(experiment)?;
        let mut batches = self
            .batches(&BatchQuery {
                experiment: Some(experiment.to_owned()),
                ascending: true,
                ..BatchQuery::default()
            })
            .await?;
        batches.sort_by_key(|b| b.index);
        Ok(batches)
    }

    /// How many batches match `query` (its paging is ignored).
    pub async fn count_batches(&self, query: &BatchQuery) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let query = BatchQuery {
            skip: None,
            limit: None,
            ascending: false,
            ..query.clone()
        };
        let pairs = query.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let count: Count = self
            .json(
                reqwest::Method::GET,
                "/batches/count",
                &pairs,
                None,
                Idempotence::Read,
            )
            .await?;
        Ok(count.count)
    }

    /// One batch, in full.
    pub async fn batch(&self, id: &str) -> Result<Batch, Error> {
        check_id(id)?;
        let path = format!("/batches/{id}");
        self.json(reqwest::Method::GET, &path, &[], None, Idempotence::Read)
            .await
    }

    /// Experiments, newest first, `limit` of them after skipping `skip`.
    pub async fn experiments(
        &self,
        skip: Option<u64>,
        limit: Option<u64>,
    ) -> Result<Vec<Experiment>, Error> {
        let mut pairs = Vec::new();
        let skip = skip.map(|s| s.to_string());
        let limit = limit.map(|l| l.to_string());
        if let Some(skip) = &skip {
            pairs.push(("skip", skip.as_str()));
        }
        if let Some(limit) = &limit {
            pairs.push(("limit", limit.as_str()));
        }
        self.json(
            reqwest::Method::GET,
            "/experiments",
            &pairs,
            None,
            Idempotence::Read,
        )
        .await
    }

    /// Cancel a batch; returns it as it is afterwards (a finished batch is left unchanged: check
    /// its state). DELETE on a batch is idempotent, so it is retried like a read.
    pub async fn cancel(&self, id: &str) -> Result<Batch, Error> {
        check_id(id)?;
        let path = format!("/batches/{id}");
        self.json(reqwest::Method::DELETE, &path, &[], None, Idempotence::Read)
            .await
    }

    /// A batch's stdout or stderr, or `None` when the broker has none (it keeps them only for
    /// failed batches and for a `cli` that names `stdout:`/`stderr:`).
    pub async fn log(&self, id: &str, stream: Stream) -> Result<Option<String>, Error> {
        check_id(id)?;
        let path = format!("/batches/{id}/{}", stream.as_str());
        match self
            .request(reqwest::Method::GET, &path, &[], None, Idempotence::Read)
            .await
        {
            Ok(body) => Ok(Some(body)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The broker's version (`agencyVersion`); also proves the credentials.
    pub async fn version(&self) -> Result<String, Error> {
        let value: serde_json::Value = self
            .json(
                reqwest::Method::GET,
                "/version",
                &[],
                None,
                Idempotence::Read,
            )
            .await?;
        value
            .get("agencyVersion")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Body {
                method: "GET",
                path: "/version".to_owned(),
                reason: "no `agencyVersion`".to_owned(),
            })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        kind: Idempotence,
    ) -> Result<T, Error> {
        let name = method_name(&method);
        let text = self.request(method, path, query, body, kind).await?;
        serde_json::from_str(&text).map_err(|e| Error::Body {
            method: name,
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        kind: Idempotence,
    ) -> Result<String, Error> {
        let attempt = || self.once(method.clone(), path, query, body.clone());
        self.policy.run(kind, attempt, tokio::time::sleep).await
    }

    async fn once(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<String, Error> {
        let name = method_name(&method);
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| Error::Url {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self.http.request(method, url).basic_auth(
            &self.credentials.username,
            Some(self.credentials.password.expose()),
        );
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.network(&e, name, path))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let limit = answer_limit(path);
        let body = match crate::net::read_body(response, limit).await {
            Ok(body) => body,
            Err(crate::net::BodyError::Network(e)) => return Err(self.network(&e, name, path)),
            Err(crate::net::BodyError::TooLarge { limit }) => {
                return Err(Error::TooLarge {
                    url: self.base.clone(),
                    method: name,
                    path: path.to_owned(),
                    limit,
                });
            }
        };
        let text = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(text)
        } else {
            Err(error::from_response(
                status.as_u16(),
                &content_type,
                &text,
                name,
                path,
                &self.base,
                &self.credentials.username,
            ))
        }
    }

    fn network(&self, error: &reqwest::Error, method: &'static str, path: &str) -> Error {
        if error.is_timeout() {
            return Error::Timeout {
                url: self.base.clone(),
                method,
                path: path.to_owned(),
                timeout: self.timeout,
            };
        }
        Error::Connect {
            url: self.base.clone(),
            reason: describe(error),
        }
    }
}

/// The most red reads of the answer to `path`: lists and logs can be long, every other answer is
/// one small JSON object.
fn answer_limit(path: &str) -> u64 {
    let log = path.ends_with("/stdout") || path.ends_with("/stderr");
    if log || path == "/batches" || path == "/experiments" {
        crate::net::MAX_LIST_ANSWER
    } else {
        crate::net::MAX_ANSWER
    }
}

fn check_id(id: &str) -> Result<(), Error> {
    if is_object_id(id) {
        Ok(())
    } else {
        Err(Error::Id(id.to_owned()))
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::POST => "POST",
        reqwest::Method::DELETE => "DELETE",
        _ => "GET",
    }
}

/// The innermost cause of a network error, in lower case ("connection refused (os error 111)").
fn describe(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    let text = source.to_string();
    let lower = text.to_lowercase();
    if error.is_connect() && lower.contains("refused") {
        format!(
            "{}{}",
            error::REFUSED,
            text.find(" (os error")
                .and_then(|i| text.get(i..))
                .unwrap_or("")
        )
    } else {
        lower
    }
}
