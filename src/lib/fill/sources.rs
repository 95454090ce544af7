//! Where variable values come from: variables files, the environment, a terminal prompt.
//!
//! [`resolve`] asks the sources in a fixed order of precedence, the first that has a value
//! wins (documented in `docs/credentials.md`):
//!
//! 1. variables files (`--vars FILE`, YAML or JSON mappings of name → string or number); of
//!    several files the one given last wins;
//! 2. the environment (`--env`): variable `name` is read from `RED_VAR_name`, see [`env_name`];
//! 3. the system keyring (`--keyring`, [`super::keyring`]): entry `name` of the service;
//!    skipped with a note when no keyring answers;
//! 4. a prompt on the terminal ([`TerminalPrompter`]): hidden input for protected variables.
//!    With a keyring at hand, the person is then offered to store what they typed there.
//!
//! Every value is wrapped in a [`Secret`] as soon as it is read. Errors name files, positions,
//! variables and environment variables, never a value, and a variables file's lines are never
//! quoted back, since any of them may hold a password.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::keyring::{Keyring, Unavailable};
use super::secret::Secret;
use crate::diagnostic::Diagnostic;
use crate::parse;
use crate::source::{self, Location, SourceFile};
use crate::template::Variable;
use crate::tree::Kind;

/// The prefix of the environment variables `--env` reads.
pub const ENV_PREFIX: &str = "RED_VAR_";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueOrigin {
    /// A variables file, at this position.
    File {
        /// The file as named on the command line.
        path: PathBuf,
        /// Where the name is written.
        location: Location,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// An entry of the system keyring.
    Keyring {
        /// The keyring service.
        service: String,
    },
    /// Typed in at the prompt.
    Prompt,
}

impl std::fmt::Display for ValueOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueOrigin::File { path, location } => write!(f, "{}:{location}", path.display()),
            ValueOrigin::Env { var } => write!(f, "${var}"),
            ValueOrigin::Keyring { service } => write!(f, "keyring:{service}"),
            ValueOrigin::Prompt => f.write_str("prompt"),
        }
    }
}

/// One value and where it came from.
#[derive(Debug, Clone)]
pub struct Value {
    /// The value.
    pub secret: Secret,
    /// Its source.
    pub origin: ValueOrigin,
}

/// Values by variable name. `Debug` shows names and origins only.
#[derive(Debug, Clone, Default)]
pub struct Values {
    entries: IndexMap<String, Value>,
}

impl Values {
    /// No values.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a value, returning the one it replaces.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        secret: Secret,
        origin: ValueOrigin,
    ) -> Option<Value> {
        self.entries.insert(name.into(), Value { secret, origin })
    }

    /// The value of a variable.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.entries.get(name).map(|v| &v.secret)
    }

    /// The value and its origin.
    #[must_use]
    pub fn entry(&self, name: &str) -> Option<&Value> {
        self.entries.get(name)
    }

    /// Names and values, in the order they were set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The values of one variables file, in file order.
#[derive(Debug)]
pub struct VarsFile {
    /// The file as named on the command line.
    pub path: PathBuf,
    /// Name, value, and where the name is written.
    pub entries: Vec<(String, Secret, Location)>,
}

/// Why values could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variables file could not be read.
    #[error("cannot read the variables file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A variables file is not UTF-8.
    #[error("the variables file `{}` is not UTF-8 text (invalid byte 0x{byte:02x})", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The first bad byte.
        byte: u8,
        /// Where it is.
        location: Location,
    },
    /// A variables file is not well-formed YAML or JSON.
    #[error("the variables file `{}` is not valid YAML or JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong (never quoting a value).
        message: String,
        /// Where.
        location: Location,
    },
    /// The top level of a variables file is not a mapping.
    #[error("the variables file `{}` must be a mapping of names to values, not a {found}", path.display())]
    NotAMapping {
        /// The file.
        path: PathBuf,
        /// What it is.
        found: &'static str,
        /// Where.
        location: Location,
    },
    /// A name that is not a string.
    #[error("a variable name in `{}` must be a string, not a {found}", path.display())]
    BadName {
        /// The file.
        path: PathBuf,
        /// What it is.
        found: &'static str,
        /// Where.
        location: Location,
    },
    /// A value that is not a string or a number.
    #[error("the value of `{name}` in `{}` must be a string or a number, not a {found}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The variable.
        name: String,
        /// What it is.
        found: &'static str,
        /// Where.
        location: Location,
    },
    /// An environment variable that is not valid Unicode.
    #[error("the environment variable `{var}` is not valid UTF-8")]
    EnvNotUnicode {
        /// Its name.
        var: String,
    },
    /// Two variables read the same environment variable.
    #[error(
        "the variables {} all read the environment variable `{var}`",
        quote_list(names)
    )]
    EnvConflict {
        /// The environment variable.
        var: String,
        /// The variables.
        names: Vec<String>,
    },
    /// `--prompt` was given but there is no terminal.
    #[error("cannot prompt for values: standard input and standard error must be a terminal")]
    NoTerminal,
    /// Reading from the terminal failed.
    #[error("cannot read the value of `{name}` from the terminal")]
    Prompt {
        /// The variable asked for.
        name: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// Variables that no source has a value for.
    #[error("no value for {}", quote_list(names))]
    Missing {
        /// Every variable still without a value, in document order.
        names: Vec<String>,
    },
}

/// `a`, `b` and `c` as "`a`, `b`, `c`".
pub(crate) fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// The file and position the error is about, if any.
    #[must_use]
    pub fn place(&self) -> Option<(&Path, Option<Location>)> {
        match self {
            Error::Read { path, .. } => Some((path, None)),
            Error::NotUtf8 { path, location, .. }
            | Error::Syntax { path, location, .. }
            | Error::NotAMapping { path, location, .. }
            | Error::BadName { path, location, .. }
            | Error::BadValue { path, location, .. } => Some((path, Some(*location))),
            _ => None,
        }
    }

    /// Whether this is an I/O problem rather than a problem with what the user wrote.
    #[must_use]
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Read { .. } | Error::Prompt { .. })
    }

    /// The error as a diagnostic (never with a quoted source line).
    #[must_use]
    pub fn diagnostic(&self) -> Diagnostic {
        let mut message = self.to_string();
        if let Some(source) = std::error::Error::source(self) {
            message = format!("{message}: {source}");
        }
        let diagnostic = Diagnostic::error("vars", message);
        let diagnostic = match self.place() {
            Some((_, Some(location))) => diagnostic.at(location),
            _ => diagnostic,
        };
        match self {
            Error::BadValue {
                found: "list" | "mapping" | "set",
                ..
            } => diagnostic.hint("give each variable one string or number"),
            Error::BadValue { .. } => {
                diagnostic.hint("quote the value to make it a string, e.g. `name: \"true\"`")
            }
            Error::NotAMapping { .. } | Error::BadName { .. } => {
                diagnostic.hint("write one `name: value` line per variable")
            }
            Error::EnvConflict { .. } => {
                diagnostic.hint("give these variables their values in a variables file")
            }
            Error::NoTerminal => diagnostic.hint("use `--vars FILE` or `--env` instead"),
            Error::Missing { names } => diagnostic.hint(format!(
                "set them in a variables file (`--vars FILE`), as environment variables with \
                 `--env` (e.g. `{}`), or run on a terminal to be asked",
                env_name(names.first().map_or("name", String::as_str))
            )),
            _ => diagnostic,
        }
    }
}

/// Read a variables file (`-` for standard input).
pub fn read_file(path: &Path) -> Result<VarsFile, Error> {
    let source = SourceFile::read(path).map_err(|error| match error {
        source::Error::Read { source, .. } => Error::Read {
            path: path.to_path_buf(),
            source,
        },
        error @ source::Error::TooLarge { .. } => Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::FileTooLarge, error.to_string()),
        },
        source::Error::NotUtf8 { byte, location, .. } => Error::NotUtf8 {
            path: path.to_path_buf(),
            byte,
            location,
        },
    })?;
    parse_file(path, &source)
}

/// Read the values of a variables file's text.
pub fn parse_file(path: &Path, source: &SourceFile) -> Result<VarsFile, Error> {
    let tree = parse::tree(source.text()).map_err(|error| Error::Syntax {
        path: path.to_path_buf(),
        message: syntax_message(&error),
        location: error.location(),
    })?;
    let root = tree.root();
    let mut entries = Vec::new();
    match root.kind() {
        Kind::Null => {}
        Kind::Map => {
            for (key, value) in root.entries() {
                let Some(name) = key.as_str() else {
                    return Err(Error::BadName {
                        path: path.to_path_buf(),
                        found: key.type_name(),
                        location: key.span().start,
                    });
                };
                if !matches!(value.kind(), Kind::Str | Kind::Int | Kind::Float) {
                    return Err(Error::BadValue {
                        path: path.to_path_buf(),
                        name: name.to_owned(),
                        found: value.type_name(),
                        location: value.span().start,
                    });
                }
                entries.push((
                    name.to_owned(),
                    Secret::new(value.text().to_owned()),
                    key.span().start,
                ));
            }
        }
        _ => {
            return Err(Error::NotAMapping {
                path: path.to_path_buf(),
                found: root.type_name(),
                location: root.span().start,
            });
        }
    }
    Ok(VarsFile {
        path: path.to_path_buf(),
        entries,
    })
}

/// A parse error's message without any value from the file (a bad tagged value is the only
/// parse error that quotes the text).
fn syntax_message(error: &parse::Error) -> String {
    match error {
        parse::Error::BadTaggedValue { tag, .. } => {
            format!("a value cannot be read as its tag `{tag}` says")
        }
        other => other.to_string(),
    }
}

/// The environment variable that holds variable `name`: [`ENV_PREFIX`] followed by the name
/// with every character other than an ASCII letter, digit or `_` replaced by `_`
/// (`db-password` → `RED_VAR_db_password`, ` user ` → `RED_VAR__user_`). Case is kept.
#[must_use]
pub fn env_name(name: &str) -> String {
    let mut var = String::with_capacity(ENV_PREFIX.len() + name.len());
    var.push_str(ENV_PREFIX);
    var.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    var
}

/// Something that can ask a person for a value.
pub trait Prompter {
    /// Ask for the value of `variable`; protected variables must be read without echo.
    fn ask(&mut self, variable: &Variable) -> Result<Secret, Error>;

    /// Ask whether the values just typed for `names` should be stored in the keyring service
    /// `service` (default: no).
    fn offer_to_store(&mut self, service: &str, names: &[String]) -> Result<bool, Error> {
        let _ = (service, names);
        Ok(false)
    }
}

/// Whether both standard input and standard error are terminals, which prompting needs.
#[must_use]
pub fn terminal_available() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal with dialoguer: `name (hidden): ` without echo for protected
/// variables, `name: ` with echo for the others.
#[derive(Debug, Default)]
pub struct TerminalPrompter {
    announced: bool,
}

impl Prompter for TerminalPrompter {
    fn ask(&mut self, variable: &Variable) -> Result<Secret, Error> {
        let term = dialoguer::console::Term::stderr();
        if !self.announced {
            self.announced = true;
            let _ = term.write_line("Values needed for the RED file's variables:");
        }
        let to_io = |error: dialoguer::Error| match error {
            dialoguer::Error::IO(io) => io,
        };
        let value = if variable.protected {
            dialoguer::Password::new()
                .with_prompt(format!("{} (hidden)", variable.name))
                .allow_empty_password(true)
                .interact_on(&term)
        } else {
            dialoguer::Input::<String>::new()
                .with_prompt(variable.name.clone())
                .allow_empty(true)
                .interact_text_on(&term)
        };
        value.map(Secret::new).map_err(|error| Error::Prompt {
            name: variable.name.clone(),
            source: to_io(error),
        })
    }

    fn offer_to_store(&mut self, service: &str, names: &[String]) -> Result<bool, Error> {
        let term = dialoguer::console::Term::stderr();
        dialoguer::Confirm::new()
            .with_prompt(format!(
                "Store the values of {} in the keyring service `{service}`?",
                quote_list(names)
            ))
            .default(false)
            .interact_on(&term)
            .map_err(|error| Error::Prompt {
                name: names.first().cloned().unwrap_or_default(),
                source: match error {
                    dialoguer::Error::IO(io) => io,
                },
            })
    }
}

/// Values gathered for a document, and the names of variables files that the document does not
/// use.
#[derive(Debug)]
pub struct Resolved {
    /// A value for every variable.
    pub values: Values,
    /// For each variables file with names the document does not use: the file and the names.
    pub unused: Vec<(PathBuf, Vec<String>)>,
}

/// The keyring as a source, and what became of it; read [`KeyringSource::notes`] after
/// [`resolve`], whether it succeeded or not.
pub struct KeyringSource<'k> {
    keyring: &'k mut dyn Keyring,
    usable: bool,
    /// Why the keyring was skipped, or why storing typed values in it failed.
    pub notes: Vec<Diagnostic>,
    /// How many typed values were stored in it.
    pub stored: usize,
}

impl<'k> KeyringSource<'k> {
    /// `keyring`, not asked yet.
    pub fn new(keyring: &'k mut dyn Keyring) -> Self {
        Self {
            keyring,
            usable: true,
            notes: Vec::new(),
            stored: 0,
        }
    }

    /// Take what the keyring holds for every variable still without a value; the first call
    /// that fails makes it skipped, with a note.
    pub fn fill(&mut self, variables: &[Variable], values: &mut Values) {
        for variable in variables {
            if values.get(&variable.name).is_some() {
                continue;
            }
            match self.keyring.get(&variable.name) {
                Ok(Some(secret)) => {
                    let service = self.service();
                    values.insert(
                        variable.name.clone(),
                        secret,
                        ValueOrigin::Keyring { service },
                    );
                }
                Ok(None) => {}
                Err(reason) => {
                    let what = format!("the keyring (service `{}`) is skipped", self.service());
                    self.note(what, &reason);
                    self.usable = false;
                    return;
                }
            }
        }
    }

    /// Offer to store the typed values of `names`, and store them if the person agrees.
    fn offer(
        &mut self,
        prompter: &mut dyn Prompter,
        names: &[String],
        values: &Values,
    ) -> Result<(), Error> {
        if !self.usable || names.is_empty() || !prompter.offer_to_store(&self.service(), names)? {
            return Ok(());
        }
        for name in names {
            let Some(secret) = values.get(name) else {
                continue;
            };
            if let Err(reason) = self.keyring.set(name, secret) {
                let what = format!(
                    "the typed values were not stored in the keyring (service `{}`)",
                    self.service()
                );
                self.note(what, &reason);
                return Ok(());
            }
            self.stored += 1;
        }
        Ok(())
    }

    fn service(&self) -> String {
        self.keyring.service().to_owned()
    }

    fn note(&mut self, what: String, reason: &Unavailable) {
        self.notes.push(
            Diagnostic::warning("keyring", format!("{what}: {reason}"))
                .hint("values come from the other sources; see docs/credentials.md"),
        );
    }
}

/// Reads one environment variable.
pub type EnvReader<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// Find a value for every variable: files first (the last file given wins), then the
/// environment if `env` is given, then `keyring` if given, then `prompter` if given (which
/// offers to store typed values in `keyring`). Fails with [`Error::Missing`] naming every
/// variable left without a value. A keyring that cannot be used is skipped with a note.
pub fn resolve(
    variables: &[Variable],
    files: &[VarsFile],
    env: Option<EnvReader<'_>>,
    mut keyring: Option<&mut KeyringSource<'_>>,
    prompter: Option<&mut dyn Prompter>,
) -> Result<Resolved, Error> {
    let Resolved { mut values, unused } = available(variables, files, env)?;
    if let Some(keyring) = keyring.as_deref_mut() {
        keyring.fill(variables, &mut values);
    }
    let missing: Vec<String> = variables
        .iter()
        .filter(|v| values.get(&v.name).is_none())
        .map(|v| v.name.clone())
        .collect();
    if let Some(prompter) = prompter {
        for variable in variables.iter().filter(|v| missing.contains(&v.name)) {
            let secret = prompter.ask(variable)?;
            values.insert(variable.name.clone(), secret, ValueOrigin::Prompt);
        }
        if let Some(keyring) = keyring {
            keyring.offer(prompter, &missing, &values)?;
        }
    } else if !missing.is_empty() {
        return Err(Error::Missing { names: missing });
    }
    Ok(Resolved { values, unused })
}

/// The values the files and (if `env` is given) the environment hold, as [`resolve`] finds
/// them, without asking and without failing for a variable left without a value (what `red
/// plan` shows unfilled).
///
/// # Errors
/// An environment variable that is not UTF-8.
pub fn available(
    variables: &[Variable],
    files: &[VarsFile],
    env: Option<EnvReader<'_>>,
) -> Result<Resolved, Error> {
    let mut values = Values::new();
    for file in files {
        for (name, secret, location) in &file.entries {
            if variables.iter().any(|v| &v.name == name) {
                values.insert(
                    name.clone(),
                    secret.clone(),
                    ValueOrigin::File {
                        path: file.path.clone(),
                        location: *location,
                    },
                );
            }
        }
    }
    let unused = unused(variables, files);
    if let Some(env) = env {
        from_env(variables, &mut values, env)?;
    }
    Ok(Resolved { values, unused })
}

/// For each variables file with names the document does not use: the file and those names.
#[must_use]
pub fn unused(variables: &[Variable], files: &[VarsFile]) -> Vec<(PathBuf, Vec<String>)> {
    files
        .iter()
        .filter_map(|file| {
            let names: Vec<String> = file
                .entries
                .iter()
                .filter(|(name, _, _)| !variables.iter().any(|v| &v.name == name))
                .map(|(name, _, _)| name.clone())
                .collect();
            (!names.is_empty()).then(|| (file.path.clone(), names))
        })
        .collect()
}

fn from_env(variables: &[Variable], values: &mut Values, env: EnvReader<'_>) -> Result<(), Error> {
    let wanted: Vec<&Variable> = variables
        .iter()
        .filter(|v| values.get(&v.name).is_none())
        .collect();
    for variable in &wanted {
        let var = env_name(&variable.name);
        let Some(raw) = env(&var) else { continue };
        let sharing: Vec<String> = wanted
            .iter()
            .filter(|other| env_name(&other.name) == var)
            .map(|other| other.name.clone())
            .collect();
        if sharing.len() > 1 {
            return Err(Error::EnvConflict {
                var,
                names: sharing,
            });
        }
        let value = raw
            .into_string()
            .map_err(|_| Error::EnvNotUnicode { var: var.clone() })?;
        values.insert(
            variable.name.clone(),
            Secret::new(value),
            ValueOrigin::Env { var },
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
