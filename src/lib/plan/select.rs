//! Which batches a run takes: `--batches 3,7-9` of `red exec` and `red submit`.
//!
//! A 10,000-batch run that failed at a few batches is rerun for those only, so the selection
//! names batches exactly as `red plan` numbers them (0-based). The text is checked in two
//! steps: its form when the command line is parsed ([`parse`]), and that every index exists
//! once the file's batches are known ([`Selection::apply`]); both errors name the part that is
//! wrong, so a typo in a long list is found at once.

use std::collections::BTreeSet;
use std::fmt;

use super::Plan;

/// A parsed `--batches` list: single indices and inclusive ranges, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    parts: Vec<Part>,
}

/// One comma-separated part: `7` or `7-9`, with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    first: usize,
    last: usize,
    text: String,
}

/// Why a `--batches` list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A part is not `N` or `A-B` with `A <= B`.
    #[error("`{part}` is not a batch index or a range `A-B` ({why})")]
    Syntax {
        /// The part, as written.
        part: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A part names a batch the file does not have.
    #[error("`{part}` names a batch the file does not have ({})", count_text(*.count))]
    OutOfRange {
        /// The part, as written.
        part: String,
        /// How many batches the file has.
        count: usize,
    },
}

fn count_text(count: usize) -> String {
    match count {
        0 => "it has none".to_owned(),
        1 => "it has one batch, 0".to_owned(),
        n => format!("it has {n} batches, 0-{}", n - 1),
    }
}

/// Parse `3,7-9`: indices and inclusive ranges separated by commas; spaces around a part are
/// allowed. Order and overlaps do not matter.
///
/// # Errors
/// [`SelectError::Syntax`] naming the first part that is empty, not a number, or a range whose
/// end comes before its start.
pub fn parse(text: &str) -> Result<Selection, SelectError> {
    let parts = text
        .split(',')
        .map(|raw| parse_part(raw.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Selection { parts })
}

fn parse_part(part: &str) -> Result<Part, SelectError> {
    let syntax = |why| SelectError::Syntax {
        part: part.to_owned(),
        why,
    };
    if part.is_empty() {
        return Err(syntax("an empty part"));
    }
    let number = |text: &str| {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax(
                "indices are whole numbers from 0, as `red plan` shows them",
            ));
        }
        text.parse::<usize>().map_err(|_| syntax("too large"))
    };
    let (first, last) = match part.split_once('-') {
        Some((first, last)) => (number(first)?, number(last)?),
        None => {
            let index = number(part)?;
            (index, index)
        }
    };
    if last < first {
        return Err(syntax("its end comes before its start"));
    }
    Ok(Part {
        first,
        last,
        text: part.to_owned(),
    })
}

impl Selection {
    /// The indices selected among `count` batches, sorted and without repeats.
    ///
    /// # Errors
    /// [`SelectError::OutOfRange`] naming the first part that reaches past the last batch.
    pub fn indices(&self, count: usize) -> Result<BTreeSet<usize>, SelectError> {
        let mut chosen = BTreeSet::new();
        for part in &self.parts {
            if part.last >= count {
                return Err(SelectError::OutOfRange {
                    part: part.text.clone(),
                    count,
                });
            }
            chosen.extend(part.first..=part.last);
        }
        Ok(chosen)
    }

    /// Keep only the selected batches of `plan` (their indices do not change).
    ///
    /// # Errors
    /// As [`Self::indices`].
    pub fn apply(&self, plan: &mut Plan) -> Result<BTreeSet<usize>, SelectError> {
        let chosen = self.indices(plan.batches.len())?;
        plan.batches.retain(|batch| chosen.contains(&batch.index));
        Ok(chosen)
    }
}

/// Sorted indices written as a `--batches` list, runs joined into ranges: `0-3,5,7-9`.
#[must_use]
pub fn compact(indices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    let close = |run: (usize, usize), parts: &mut Vec<String>| {
        parts.push(if run.0 == run.1 {
            run.0.to_string()
        } else {
            format!("{}-{}", run.0, run.1)
        });
    };
    for &index in indices {
        run = match run {
            Some((first, last)) if last.checked_add(1) == Some(index) => Some((first, index)),
            Some(done) => {
                close(done, &mut parts);
                Some((index, index))
            }
            None => Some((index, index)),
        };
    }
    if let Some(done) = run {
        close(done, &mut parts);
    }
    parts.join(",")
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.parts.iter().map(|p| p.text.as_str()).collect();
        f.write_str(&texts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(text: &str, count: usize) -> Vec<usize> {
        parse(text)
            .unwrap()
            .indices(count)
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn indices_and_ranges_are_joined_sorted_and_without_repeats() {
        assert_eq!(chosen("3,7-9", 10), vec![3, 7, 8, 9]);
        assert_eq!(chosen("9, 0-2 ,1", 10), vec![0, 1, 2, 9]);
        assert_eq!(chosen("4-4", 5), vec![4]);
        assert_eq!(chosen("0", 1), vec![0]);
        assert_eq!(parse(" 3, 7-9").unwrap().to_string(), "3,7-9");
        assert_eq!(compact(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(compact(&[4]), "4");
        assert_eq!(compact(&[]), "");
        let listed = compact(&[2, 3, 11]);
        assert_eq!(chosen(&listed, 12), vec![2, 3, 11]);
    }

    #[test]
    fn a_malformed_part_is_named() {
        for (text, part) in [
            ("3,x", "x"),
            ("3,,4", ""),
            ("", ""),
            ("9-7", "9-7"),
            ("-1", "-1"),
            ("1-", "1-"),
            ("+2", "+2"),
            ("1-2-3", "1-2-3"),
            ("2.0", "2.0"),
            ("99999999999999999999999", "99999999999999999999999"),
        ] {
            match parse(text) {
                Err(SelectError::Syntax { part: named, .. }) => assert_eq!(named, part, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let message = parse("2,9-7").unwrap_err().to_string();
        assert!(
            message.contains("`9-7`") && message.contains("before"),
            "{message}"
        );
    }

    #[test]
    fn an_index_past_the_last_batch_is_named_with_the_count() {
        let error = parse("3,7-10").unwrap().indices(10).unwrap_err();
        assert_eq!(
            error,
            SelectError::OutOfRange {
                part: "7-10".into(),
                count: 10
            }
        );
        assert!(error.to_string().contains("0-9"), "{error}");
        let one = parse("1").unwrap().indices(1).unwrap_err().to_string();
        assert!(one.contains("`1`") && one.contains("one batch"), "{one}");
    }
}
