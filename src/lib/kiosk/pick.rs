//! Which input and output of a RED batch a Kiosk job uses (`red submit FILE --kiosk URL`): the
//! batch's one File input (or the one named) goes to the Kiosk, and the result zip goes where
//! the batch's one File output (or the one named) would go. Also the names the upload and the
//! delivered zip get. Pure: it looks at the plan only.

use std::path::Path;

use crate::plan::{Action, Destination, InputPlan, OutputPlan};

/// Why a batch cannot be sent to a Kiosk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    /// No File input at all.
    #[error("the batch has no File input to send to the Kiosk (its inputs: {})", listed(.inputs))]
    NoFileInput {
        /// Every input the batch has, with its kind.
        inputs: Vec<String>,
    },
    /// More than one File input and none named.
    #[error("the batch has {} File inputs ({}); the Kiosk takes one", .names.len(), listed(.names))]
    SeveralFileInputs {
        /// The File inputs.
        names: Vec<String>,
    },
    /// `--input NAME` names no input.
    #[error("the batch has no input `{name}` (its inputs: {})", listed(.inputs))]
    UnknownInput {
        /// The name asked for.
        name: String,
        /// Every input the batch has, with its kind.
        inputs: Vec<String>,
    },
    /// `--input NAME` names a Directory.
    #[error("input `{name}` is a Directory; only a File can be sent to the Kiosk")]
    InputNotAFile {
        /// The input.
        name: String,
    },
    /// No File output to deliver the result zip as.
    #[error("the batch has no File output to deliver the Kiosk's result as (its outputs: {})", listed(.outputs))]
    NoFileOutput {
        /// Every output, with its class.
        outputs: Vec<String>,
    },
    /// More than one File output and none named.
    #[error("the batch has {} File outputs ({}); the Kiosk's result is one zip", .names.len(), listed(.names))]
    SeveralFileOutputs {
        /// The File outputs.
        names: Vec<String>,
    },
    /// `--output NAME` names no output.
    #[error("the batch has no output `{name}` (its outputs: {})", listed(.outputs))]
    UnknownOutput {
        /// The name asked for.
        name: String,
        /// Every output, with its class.
        outputs: Vec<String>,
    },
    /// `--output NAME` names an output that is not a File.
    #[error("output `{name}` is a {class}; the Kiosk's result zip can only be a File output")]
    OutputNotAFile {
        /// The output.
        name: String,
        /// Its class.
        class: String,
    },
    /// The chosen output has no connector while others have: the result would be dropped.
    #[error(
        "output `{name}` has no connector while other outputs of the file have one, so the \
         result would be discarded"
    )]
    Discarded {
        /// The output.
        name: String,
    },
}

impl PickError {
    /// Whether the problem is about the inputs (else the outputs).
    #[must_use]
    pub fn is_about_inputs(&self) -> bool {
        matches!(
            self,
            Self::NoFileInput { .. }
                | Self::SeveralFileInputs { .. }
                | Self::UnknownInput { .. }
                | Self::InputNotAFile { .. }
        )
    }

    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NoFileInput { .. } | Self::InputNotAFile { .. } => {
                "a Kiosk job is one image or zip of images: give the batch a File input"
            }
            Self::SeveralFileInputs { .. } | Self::UnknownInput { .. } => {
                "name the input to send with `--input NAME`"
            }
            Self::NoFileOutput { .. } | Self::OutputNotAFile { .. } => {
                "declare a File output (e.g. `type: File` with `glob: result.zip`) to receive the \
                 result"
            }
            Self::SeveralFileOutputs { .. } | Self::UnknownOutput { .. } => {
                "name the output that receives the result with `--output NAME`"
            }
            Self::Discarded { .. } => {
                "give that output a connector, or name another one with `--output NAME`"
            }
        }
    }
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The positions, in the batch's plan, of the input sent and the output delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// Index into the batch's `inputs`.
    pub input: usize,
    /// Index into the batch's `outputs`.
    pub output: usize,
}

fn input_kind(input: &InputPlan) -> &'static str {
    match input.action {
        Action::ReceiveFile => "File",
        Action::ReceiveDir | Action::MountDir => "Directory",
    }
}

/// The name's key: `images` of `images:1`.
fn key(name: &str) -> &str {
    name.split_once(':').map_or(name, |(key, _)| key)
}

/// Choose the input and output of one batch. `input`/`output` are `--input`/`--output`: an
/// input is named by its key, or `key:i` for an item of an array input.
///
/// # Errors
/// When the choice is missing or ambiguous, or names the wrong kind of thing.
pub fn pick(
    inputs: &[InputPlan],
    outputs: &[OutputPlan],
    input: Option<&str>,
    output: Option<&str>,
) -> Result<Pick, PickError> {
    let input = pick_input(inputs, input)?;
    let output = pick_output(outputs, output)?;
    Ok(Pick { input, output })
}

fn pick_input(inputs: &[InputPlan], wanted: Option<&str>) -> Result<usize, PickError> {
    let described = || {
        inputs
            .iter()
            .map(|i| format!("{} ({})", i.name, input_kind(i)))
            .collect::<Vec<_>>()
    };
    let candidates: Vec<usize> = match wanted {
        Some(name) => {
            let exact: Vec<usize> = (0..inputs.len())
                .filter(|&i| inputs.get(i).is_some_and(|x| x.name == name))
                .collect();
            let chosen = if exact.is_empty() {
                (0..inputs.len())
                    .filter(|&i| inputs.get(i).is_some_and(|x| key(&x.name) == name))
                    .collect()
            } else {
                exact
            };
            if chosen.is_empty() {
                return Err(PickError::UnknownInput {
                    name: name.to_owned(),
                    inputs: described(),
                });
            }
            if let Some(dir) = chosen
                .iter()
                .filter_map(|&i| inputs.get(i))
                .find(|x| x.action != Action::ReceiveFile)
            {
                return Err(PickError::InputNotAFile {
                    name: dir.name.clone(),
                });
            }
            chosen
        }
        None => (0..inputs.len())
            .filter(|&i| {
                inputs
                    .get(i)
                    .is_some_and(|x| x.action == Action::ReceiveFile)
            })
            .collect(),
    };
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(PickError::NoFileInput {
            inputs: described(),
        }),
        several => Err(PickError::SeveralFileInputs {
            names: several
                .iter()
                .filter_map(|&i| inputs.get(i))
                .map(|x| x.name.clone())
                .collect(),
        }),
    }
}

fn pick_output(outputs: &[OutputPlan], wanted: Option<&str>) -> Result<usize, PickError> {
    let described = || {
        outputs
            .iter()
            .map(|o| format!("{} ({})", o.name, o.class))
            .collect::<Vec<_>>()
    };
    let index = match wanted {
        Some(name) => {
            let Some(index) = outputs.iter().position(|o| o.name == name) else {
                return Err(PickError::UnknownOutput {
                    name: name.to_owned(),
                    outputs: described(),
                });
            };
            if let Some(other) = outputs.get(index).filter(|o| o.class != "File") {
                return Err(PickError::OutputNotAFile {
                    name: other.name.clone(),
                    class: other.class.to_owned(),
                });
            }
            index
        }
        None => {
            let files: Vec<usize> = (0..outputs.len())
                .filter(|&i| outputs.get(i).is_some_and(|o| o.class == "File"))
                .collect();
            match files.as_slice() {
                [one] => *one,
                [] => {
                    return Err(PickError::NoFileOutput {
                        outputs: described(),
                    });
                }
                several => {
                    return Err(PickError::SeveralFileOutputs {
                        names: several
                            .iter()
                            .filter_map(|&i| outputs.get(i))
                            .map(|o| o.name.clone())
                            .collect(),
                    });
                }
            }
        }
    };
    match outputs.get(index) {
        Some(o) if matches!(o.destination, Destination::Discarded) => Err(PickError::Discarded {
            name: o.name.clone(),
        }),
        _ => Ok(index),
    }
}

/// The file name of the delivered result zip in an output directory: the output's glob when it
/// is a plain name (its last part, `.zip` added unless it has it), else the output's name with
/// `.zip`.
#[must_use]
pub fn result_name(output: &OutputPlan) -> String {
    let plain = !output.glob.is_empty()
        && !output
            .glob
            .contains(['*', '?', '[', ']', '{', '}', '$', '(', ')']);
    let last = output.glob.rsplit('/').next().unwrap_or_default();
    let base = if plain && !last.is_empty() && last != "." && last != ".." {
        last
    } else {
        output.name.as_str()
    };
    if Path::new(base)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        base.to_owned()
    } else {
        format!("{base}.zip")
    }
}

/// The name a received file is uploaded under. The Kiosk tells images from zips by the name's
/// extension, and a staged input is named after its key unless the File has a `basename`; so
/// when the staged name has no image or zip extension, the last part of the access block's
/// `path` or `url` (given in `locations`) is used if it has one.
#[must_use]
pub fn upload_name(staged: &str, locations: &[Option<&str>]) -> String {
    if super::is_job_file(Path::new(staged)) {
        return staged.to_owned();
    }
    let from_access = locations
        .iter()
        .flatten()
        .filter_map(|text| {
            let text = text.split(['?', '#']).next().unwrap_or_default();
            let last = text.trim_end_matches('/').rsplit('/').next()?;
            (!last.is_empty() && super::is_job_file(Path::new(last))).then(|| last.to_owned())
        })
        .next();
    from_access.unwrap_or_else(|| staged.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, action: Action) -> InputPlan {
        InputPlan {
            name: name.into(),
            action,
            connector: "red-connector-local".into(),
            access: serde_json::Value::Null,
            target: format!("/cc/inputs/x/{name}"),
            pointer: format!("/inputs/{name}"),
        }
    }

    fn output(name: &str, class: &'static str, glob: &str, destination: Destination) -> OutputPlan {
        OutputPlan {
            name: name.into(),
            class,
            optional: false,
            glob: glob.into(),
            destination,
        }
    }

    fn dir() -> Destination {
        Destination::Directory {
            path: "outputs".into(),
        }
    }

    #[test]
    fn the_one_file_input_and_file_output_are_chosen() {
        let inputs = [
            input("models", Action::ReceiveDir),
            input("image", Action::ReceiveFile),
        ];
        let outputs = [
            output("log", "stdout", "<stdout>", dir()),
            output("masks", "File", "masks.zip", dir()),
        ];
        assert_eq!(
            pick(&inputs, &outputs, None, None),
            Ok(Pick {
                input: 1,
                output: 1
            })
        );
    }

    #[test]
    fn several_file_inputs_need_a_name() {
        let inputs = [
            input("a", Action::ReceiveFile),
            input("b", Action::ReceiveFile),
        ];
        let outputs = [output("r", "File", "r.zip", dir())];
        let error = pick(&inputs, &outputs, None, None).unwrap_err();
        assert_eq!(
            error,
            PickError::SeveralFileInputs {
                names: vec!["a".into(), "b".into()]
            }
        );
        assert!(error.is_about_inputs());
        assert!(error.to_string().contains("(`a`, `b`)"), "{error}");
        assert_eq!(
            pick(&inputs, &outputs, Some("b"), None).map(|p| p.input),
            Ok(1)
        );
        let unknown = pick(&inputs, &outputs, Some("c"), None).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("no input `c` (its inputs: `a (File)`, `b (File)`)"),
            "{unknown}"
        );
    }

    #[test]
    fn array_items_are_named_by_key_when_there_is_one() {
        let inputs = [
            input("imgs:0", Action::ReceiveFile),
            input("other", Action::ReceiveFile),
        ];
        let outputs = [output("r", "File", "r.zip", dir())];
        assert_eq!(
            pick(&inputs, &outputs, Some("imgs"), None).map(|p| p.input),
            Ok(0)
        );
        let two = [
            input("imgs:0", Action::ReceiveFile),
            input("imgs:1", Action::ReceiveFile),
        ];
        assert!(matches!(
            pick(&two, &outputs, Some("imgs"), None),
            Err(PickError::SeveralFileInputs { .. })
        ));
        assert_eq!(
            pick(&two, &outputs, Some("imgs:1"), None).map(|p| p.input),
            Ok(1)
        );
    }

    #[test]
    fn directories_and_missing_files_are_refused() {
        let outputs = [output("r", "File", "r.zip", dir())];
        let only_dir = [input("d", Action::MountDir)];
        assert!(matches!(
            pick(&only_dir, &outputs, None, None),
            Err(PickError::NoFileInput { .. })
        ));
        assert_eq!(
            pick(&only_dir, &outputs, Some("d"), None),
            Err(PickError::InputNotAFile { name: "d".into() })
        );
    }

    #[test]
    fn outputs_must_be_one_kept_file() {
        let inputs = [input("image", Action::ReceiveFile)];
        let none = [output("log", "stdout", "<stdout>", dir())];
        let error = pick(&inputs, &none, None, None).unwrap_err();
        assert!(!error.is_about_inputs());
        assert!(matches!(error, PickError::NoFileOutput { .. }));
        assert!(matches!(
            pick(&inputs, &none, None, Some("log")),
            Err(PickError::OutputNotAFile { .. })
        ));
        let two = [
            output("a", "File", "a.zip", dir()),
            output("b", "File", "b.zip", Destination::Discarded),
        ];
        assert!(matches!(
            pick(&inputs, &two, None, None),
            Err(PickError::SeveralFileOutputs { .. })
        ));
        assert_eq!(
            pick(&inputs, &two, None, Some("a")).map(|p| p.output),
            Ok(0)
        );
        assert_eq!(
            pick(&inputs, &two, None, Some("b")),
            Err(PickError::Discarded { name: "b".into() })
        );
        assert!(matches!(
            pick(&inputs, &two, None, Some("c")),
            Err(PickError::UnknownOutput { .. })
        ));
    }

    #[test]
    fn result_names_follow_the_glob_or_the_output_name() {
        let named = |glob: &str| result_name(&output("masks", "File", glob, dir()));
        assert_eq!(named("seg/result.zip"), "result.zip");
        assert_eq!(named("result.ZIP"), "result.ZIP");
        assert_eq!(named("mask.tif"), "mask.tif.zip");
        assert_eq!(named("*.zip"), "masks.zip");
        assert_eq!(named("$(inputs.x.basename)"), "masks.zip");
        assert_eq!(named(""), "masks.zip");
    }

    #[test]
    fn uploads_keep_an_image_extension() {
        let path = [Some("data/cells.png"), None];
        assert_eq!(upload_name("cells.tif", &path), "cells.tif");
        assert_eq!(upload_name("image", &path), "cells.png");
        let url = [None, Some("http://h/x/b.zip?sig=1")];
        assert_eq!(upload_name("image", &url), "b.zip");
        assert_eq!(
            upload_name("image", &[None, Some("http://h/data")]),
            "image"
        );
        assert_eq!(upload_name("image", &[]), "image");
    }
}
