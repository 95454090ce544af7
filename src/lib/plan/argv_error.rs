//! Why a command line cannot be built: the located refusals of reading the `cli` section
//! ([`super::tool`]) and of building a batch's argv from it ([`super::argv`]).
//!
//! Both steps report the same [`ArgvError`], so it lives here, below both, and neither of them
//! imports the other's internals for it (`argv` re-exports these types, where callers find them).

use crate::source::Location;

/// Which document section an error points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The `cli` section.
    Cli,
    /// The batch's `inputs` mapping.
    Job,
}

/// Why a command line cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A key or construct outside the RED subset of CWL.
    #[error("{what} is not part of the RED subset of CWL v1.0")]
    Unsupported {
        /// What was found.
        what: String,
    },
    /// An input type that RED does not allow.
    #[error("input type `{found}` is not one of `T`, `T[]`, `T?`, `T[]?` for a RED base type")]
    UnsupportedType {
        /// The type as written.
        found: String,
    },
    /// An output type that RED does not allow.
    #[error(
        "output type `{found}` is not supported; use File, Directory, File?, Directory?, stdout or stderr"
    )]
    UnsupportedOutputType {
        /// The type as written.
        found: String,
    },
    /// A value of the wrong shape.
    #[error("`{what}` must be {expected}, not a {found}")]
    WrongShape {
        /// What is wrong.
        what: String,
        /// What was expected.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("the key `{key}` is missing")]
    Missing {
        /// The missing key.
        key: String,
    },
    /// `position` is not a non-negative integer.
    #[error("`position` must be a non-negative integer, not `{found}`")]
    BadPosition {
        /// As written.
        found: String,
    },
    /// `separate` without `prefix` (cwltool refuses it).
    #[error("input `{input}` sets `separate` without a `prefix`")]
    SeparateWithoutPrefix {
        /// The input.
        input: String,
    },
    /// A required input has no value.
    #[error("required input `{input}` has no value")]
    MissingRequired {
        /// The input.
        input: String,
    },
    /// A job value for an input that is not declared.
    #[error("input `{input}` is not declared in `cli.inputs`")]
    UnknownInput {
        /// The key.
        input: String,
    },
    /// `null` as a job value.
    #[error("input `{input}` is null; omit an optional input instead")]
    NullValue {
        /// The input.
        input: String,
    },
    /// The value does not match the declared type.
    #[error("input `{input}` is declared `{declared}` but its value is a {found}")]
    TypeMismatch {
        /// The input.
        input: String,
        /// The declared type.
        declared: String,
        /// What was found.
        found: String,
    },
    /// An integer outside CWL's range for its type (cwl mode only).
    #[error("input `{input}` is `{value}`, outside the range of CWL type `{declared}`")]
    IntegerRange {
        /// The input.
        input: String,
        /// The value.
        value: String,
        /// `int` or `long`.
        declared: &'static str,
    },
    /// The planner gave no staged path for a file or directory value.
    #[error("no staged path for input `{input}`")]
    NoPath {
        /// The input.
        input: String,
    },
}

/// A located refusal to build a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct ArgvError {
    /// What is wrong.
    pub problem: Problem,
    /// Where in the source.
    pub at: Location,
    /// Which section [`ArgvError::pointer`] is relative to.
    pub place: Place,
    /// JSON pointer relative to the `cli` section or to the batch's `inputs`.
    pub pointer: String,
}

impl ArgvError {
    /// A hint for the user, where one helps.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match &self.problem {
            Problem::SeparateWithoutPrefix { .. } => {
                "remove `separate`, or add a `prefix`; cc-core ignores it (`--cli-compat cc`)"
                    .into()
            }
            Problem::IntegerRange { declared, .. } => format!(
                "CWL `{declared}` is {}-bit; declare the input `{}`, or run with `--cli-compat cc`",
                if *declared == "int" { 32 } else { 64 },
                if *declared == "int" { "long" } else { "double" }
            ),
            Problem::NullValue { .. } => "RED has no null values: leave the key out".into(),
            Problem::UnknownInput { .. } => "declare it in `cli.inputs` or remove it".into(),
            Problem::Unsupported { .. } | Problem::UnsupportedType { .. } => {
                "see docs/cli-semantics.md for the CWL subset RED accepts".into()
            }
            _ => return None,
        })
    }
}
