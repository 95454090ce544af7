//! Step 4 of a batch: find the outputs in the working directory.
//!
//! Every output of the plan becomes a glob rule ([`wanted`]); the working directory is listed
//! once and each rule picks its entry (captured streams stand for themselves). Before anything
//! is delivered, two outputs that would land on one name in the outputs directory are refused,
//! and each path found is resolved once more so that a link swapped in since the listing cannot
//! lead outside the working directory.

use std::fs;
use std::path::{Path, PathBuf};

use super::Failure;
use super::deliver::Outputs;
use crate::execute::local::prepare::Delivery;
use crate::execute::local::report::Step;
use crate::plan::outputs::{self as globbing, Collected, Delivered, DirListing, EntryKind};
use crate::plan::outputs::{Source, Wanted};
use crate::plan::{OutputPlan, WORKING_DIR};

impl Outputs {
    /// Every output's entry in the working directory (`None` for a missing optional one), in
    /// the plan's order; refused when two would be delivered to one name.
    pub(super) fn find(&self) -> Result<Vec<Collected>, Failure> {
        let wanted: Vec<Wanted> = self.batch.outputs.iter().map(|o| wanted(&o.plan)).collect();
        let listing = DirListing::new(&self.work);
        let collected = globbing::collect(&wanted, &listing, &[])
            .map_err(|e| Failure::new(Step::Outputs, e.to_string()))?;
        self.refuse_clashes(&collected)?;
        Ok(collected)
    }

    /// The host path of an output found at `relative` (`<stdout>` and `<stderr>` are the
    /// captured streams), which must still be inside the working directory, whose real path is
    /// `real_work`.
    pub(super) fn locate(
        &self,
        output: &OutputPlan,
        relative: &str,
        real_work: &Path,
    ) -> Result<PathBuf, Failure> {
        match relative {
            "<stdout>" => return Ok(self.streams.stdout.clone()),
            "<stderr>" => return Ok(self.streams.stderr.clone()),
            _ => {}
        }
        // The listing only offers paths whose real location is inside the work directory;
        // resolve once more so a link swapped in since is caught.
        let resolved = fs::canonicalize(self.work.join(relative))
            .map_err(|e| Failure::new(Step::Outputs, format!("output `{}`: {e}", output.name)))?;
        if !resolved.starts_with(real_work) {
            return Err(Failure::new(
                Step::Outputs,
                format!(
                    "output `{}`: `{relative}` leads outside the output directory",
                    output.name
                ),
            ));
        }
        Ok(resolved)
    }

    /// Refuse, before anything is delivered, two outputs (or an output and a stream file the
    /// tool named) that would land on one name in the outputs directory: the later would
    /// silently replace the earlier. Planning refuses the clashes it can see in the names; this
    /// catches those that wildcards hid until the run.
    fn refuse_clashes(&self, collected: &[Collected]) -> Result<(), Failure> {
        let mut entries = Vec::new();
        let mut owners = Vec::new();
        for (output, found) in self.batch.outputs.iter().zip(collected) {
            if let (Delivery::Directory, Some(relative)) = (&output.delivery, &found.path) {
                entries.push(Some(Delivered::found(relative)));
                owners.push(match relative.as_str() {
                    "<stdout>" | "<stderr>" => format!("output `{}`", output.plan.name),
                    _ => format!("output `{}` (`{relative}`)", output.plan.name),
                });
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        // Named stream files are kept beside the outputs (see `keep_named_streams`).
        for relative in self.named_streams() {
            if fs::symlink_metadata(self.work.join(relative)).is_ok() {
                entries.push(Some(Delivered::found(relative)));
                owners.push(format!("the stream file `{relative}`"));
            }
        }
        let Some(clash) = globbing::clash(&entries) else {
            return Ok(());
        };
        let second = owners.get(clash.second).cloned().unwrap_or_default();
        let target = self.out_dir.join(&clash.name);
        let message = match clash.first.and_then(|first| owners.get(first)) {
            Some(first) => format!(
                "{first} and {second} would both be delivered to `{}`; nothing was delivered \
                 (give the files different names)",
                target.display()
            ),
            None => format!(
                "{second} would be delivered to `{}`, red's own records; nothing was delivered",
                target.display()
            ),
        };
        Err(Failure::new(Step::Outputs, message))
    }

    /// The stream files the tool named, relative to the working directory.
    pub(super) fn named_streams(&self) -> impl Iterator<Item = &str> {
        [&self.batch.plan.stdout, &self.batch.plan.stderr]
            .into_iter()
            .flatten()
            .map(|stream| {
                stream
                    .trim_start_matches(WORKING_DIR)
                    .trim_start_matches('/')
            })
    }
}

/// What glob rules apply to an output of the plan.
pub(super) fn wanted(output: &OutputPlan) -> Wanted {
    let kind = if output.class == "Directory" {
        EntryKind::Directory
    } else {
        EntryKind::File
    };
    let source = match output.class {
        "stdout" | "stderr" if output.glob.starts_with('<') => Source::Captured(output.class),
        "stdout" | "stderr" => Source::Named(output.glob.clone()),
        _ => Source::Glob(output.glob.clone()),
    };
    Wanted {
        name: output.name.clone(),
        kind,
        optional: output.optional,
        source,
    }
}
