//! The CC-Agency engine: send a filled RED file to a broker, follow its batches to their end at
//! a pace that spares the broker, and gather what it keeps about each unsuccessful batch
//! (`debugInfo`, logs). Everything the broker checks on `POST /red` is checked before, by
//! [`crate::agency::check`], so a bad file gets a located error.
//!
//! Nothing here prints: each change of a batch's state is a progress line for the run's
//! [`Events`], and the end is a list of [`BatchEnd`].

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::agency::{self, Batch, Client, State, Stream, SubmitFlags};
use crate::execute::Events;
use crate::plan::select::{SelectError, Selection};

/// An experiment the broker accepted.
#[derive(Debug)]
pub struct Submitted {
    /// Its id.
    pub experiment: String,
    /// Its batches, in RED order.
    pub batches: Vec<Batch>,
}

/// Why a submission did not give an experiment and its batches.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The broker refused or did not answer the submission.
    #[error(transparent)]
    Submit(agency::Error),
    /// The experiment exists, but its batches could not be listed.
    #[error("submitted as experiment {experiment}, but its batches could not be listed")]
    Listing {
        /// The experiment's id.
        experiment: String,
        /// Why.
        #[source]
        source: agency::Error,
    },
}

/// One batch at its end, as reported.
#[derive(Debug, Serialize)]
pub struct BatchEnd {
    /// The batch's id.
    pub id: String,
    /// Its index in the RED file.
    pub index: usize,
    /// Its state.
    pub state: State,
    /// What the broker says about an unsuccessful batch.
    #[serde(skip_serializing_if = "Option::is_none", rename = "debugInfo")]
    pub debug_info: Option<String>,
    /// The standard output the broker keeps of a failed batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The standard error the broker keeps of a failed batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

impl BatchEnd {
    /// A batch as listed, without the broker's notes.
    #[must_use]
    pub fn plain(batch: &Batch) -> Self {
        Self {
            id: batch.id.clone(),
            index: batch.index,
            state: batch.state,
            debug_info: None,
            stdout: None,
            stderr: None,
        }
    }
}

/// Send `document` and list the experiment's batches.
///
/// # Errors
/// See [`SubmitError`].
pub async fn submit(
    client: &Client,
    document: &serde_json::Value,
    flags: SubmitFlags,
) -> Result<Submitted, SubmitError> {
    let experiment = client
        .submit(document, flags)
        .await
        .map_err(SubmitError::Submit)?;
    match client.experiment_batches(&experiment).await {
        Ok(batches) => Ok(Submitted {
            experiment,
            batches,
        }),
        Err(source) => Err(SubmitError::Listing { experiment, source }),
    }
}

/// Keep only the batches `selection` names in `document` (`red submit --batches`). The broker
/// numbers the batches it is sent from 0; the returned list maps its index `i` back to the
/// file's (give it to [`renumber`]). A file without `batches` is one batch, 0, and stays as it
/// is.
///
/// # Errors
/// When the selection names a batch the file does not have.
pub fn select(
    document: &mut serde_json::Value,
    selection: &Selection,
) -> Result<Vec<usize>, SelectError> {
    let Some(list) = document
        .get_mut("batches")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return selection
            .indices(1)
            .map(|chosen| chosen.into_iter().collect());
    };
    let chosen: Vec<usize> = selection.indices(list.len())?.into_iter().collect();
    let all = std::mem::take(list);
    *list = all
        .into_iter()
        .enumerate()
        .filter(|(index, _)| chosen.binary_search(index).is_ok())
        .map(|(_, batch)| batch)
        .collect();
    Ok(chosen)
}

/// Give the broker's batches the file's indices again (see [`select`]); an empty `original`
/// changes nothing.
pub fn renumber(batches: &mut [Batch], original: &[usize]) {
    for batch in batches {
        if let Some(&index) = original.get(batch.index) {
            batch.index = index;
        }
    }
}

/// How often the batches of an experiment are polled.
struct Pacing {
    floor: Duration,
    ceiling: Duration,
}

impl Pacing {
    /// Each poll makes the broker list every batch of the experiment and hash the password
    /// once: a big experiment is polled less often (5 ms per batch: every 5 s to 10 s for
    /// 1,000).
    fn for_batches(count: usize) -> Self {
        const FIRST: Duration = Duration::from_millis(500);
        const MAX: Duration = Duration::from_secs(5);
        let per_batch =
            Duration::from_millis(5).saturating_mul(u32::try_from(count).unwrap_or(u32::MAX));
        let floor = FIRST.max(per_batch);
        Self {
            floor,
            ceiling: MAX.max(floor.saturating_mul(2)),
        }
    }

    /// The next wait: back to the floor after a change, else half as long again.
    fn next(&self, delay: Duration, changed: bool) -> Duration {
        if changed {
            self.floor
        } else {
            (delay * 3 / 2).min(self.ceiling)
        }
    }
}

/// Poll the experiment's batches until all are terminal, backing off while nothing changes.
/// Each change of state is a progress line.
///
/// # Errors
/// The broker's, when a poll fails.
pub async fn follow(
    client: &Client,
    experiment: &str,
    mut batches: Vec<Batch>,
    original: &[usize],
    events: &dyn Events,
) -> Result<Vec<Batch>, agency::Error> {
    let mut seen: HashMap<String, State> =
        batches.iter().map(|b| (b.id.clone(), b.state)).collect();
    let pacing = Pacing::for_batches(batches.len());
    let mut delay = pacing.floor;
    while !batches.iter().all(|b| b.state.is_terminal()) {
        tokio::time::sleep(delay).await;
        batches = client.experiment_batches(experiment).await?;
        renumber(&mut batches, original);
        let mut changed = false;
        for batch in &batches {
            let before = seen.insert(batch.id.clone(), batch.state);
            if before != Some(batch.state) {
                changed = true;
                events.progress(&change_line(&batches, batch, before));
            }
        }
        delay = pacing.next(delay, changed);
    }
    Ok(batches)
}

/// `[done/total] batch i id: state`, noting a failed attempt that is tried again.
fn change_line(batches: &[Batch], batch: &Batch, before: Option<State>) -> String {
    let retry = matches!(before, Some(State::Processing | State::Scheduled))
        && batch.state == State::Registered;
    let done = batches.iter().filter(|b| b.state.is_terminal()).count();
    format!(
        "[{done}/{}] batch {} {}: {}{}\n",
        batches.len(),
        batch.index,
        batch.id,
        batch.state,
        if retry {
            " (a failed attempt, tried again)"
        } else {
            ""
        }
    )
}

/// Every batch's end: for each unsuccessful one its `debugInfo`, and for a failed one the logs
/// the broker keeps (what cannot be had is said in `debugInfo`, or left out for logs).
pub async fn ends(client: &Client, batches: &[Batch]) -> Vec<BatchEnd> {
    let mut ends = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut end = BatchEnd::plain(batch);
        if batch.state != State::Succeeded {
            match client.batch(&batch.id).await {
                Ok(full) => end.debug_info = full.debug_info(),
                Err(error) => end.debug_info = Some(format!("(not available: {error})")),
            }
            if batch.state == State::Failed {
                end.stdout = client.log(&batch.id, Stream::Stdout).await.ok().flatten();
                end.stderr = client.log(&batch.id, Stream::Stderr).await.ok().flatten();
            }
        }
        ends.push(end);
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_selected_batches_are_sent_and_their_indices_come_back() {
        let mut document = serde_json::json!({"batches": [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]});
        let selection = crate::plan::select::parse("1,3").unwrap();
        let original = select(&mut document, &selection).unwrap();
        assert_eq!(original, vec![1, 3]);
        assert_eq!(document["batches"], serde_json::json!([{"n": 1}, {"n": 3}]));
        let too_far = crate::plan::select::parse("4").unwrap();
        assert!(select(&mut document, &too_far).is_err());
        let mut single = serde_json::json!({"inputs": {}});
        let zero = crate::plan::select::parse("0").unwrap();
        assert_eq!(select(&mut single, &zero).unwrap(), vec![0]);
        assert_eq!(single, serde_json::json!({"inputs": {}}));
    }
}
