//! `red exec --preserve-environment NAME`: variables of this host's environment passed into the
//! experiment's container, as the reference's `faice exec` does.
//!
//! A container's environment is readable by `docker inspect` and by every process in the
//! container, and it outlives the run when the container is kept. So nothing that holds a secret
//! goes there: [`preserve`] refuses the name of a protected `{{variable}}` (and the
//! `RED_VAR_<name>` that `--env` reads it from), and any host variable whose value holds a secret
//! of the RED file. Errors name the variable, never its value.

use std::ffi::OsString;

use crate::fill::sources::env_name;
use crate::redact::Redactor;
use crate::template::Variable;

/// Why a variable cannot be passed into the container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a name Docker can set (empty, or with `=` or NUL).
    #[error("`{name}` is not an environment variable name")]
    BadName {
        /// The name as given.
        name: String,
    },
    /// The name of a protected variable of the RED file, or the environment variable that
    /// `--env` reads one from.
    #[error(
        "`{name}` names the protected variable `{variable}` of the RED file; its value is a \
         secret, and secrets never go into a container's environment"
    )]
    Protected {
        /// The name as given.
        name: String,
        /// The protected variable.
        variable: String,
    },
    /// The host variable holds a secret of the RED file.
    #[error(
        "the value of `{name}` holds a secret of the RED file; secrets never go into a \
         container's environment"
    )]
    SecretValue {
        /// The name as given.
        name: String,
    },
    /// The host variable is not valid UTF-8 (Docker takes text).
    #[error("the value of `{name}` is not valid UTF-8")]
    NotUnicode {
        /// The name as given.
        name: String,
    },
}

/// What goes into the container.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Preserved {
    /// `NAME=value` entries, in the order the names were given (each name once).
    pub entries: Vec<String>,
    /// Names that are not set on this host: passed as nothing (the reference skips them too).
    pub unset: Vec<String>,
}

/// The entries for `names`, read with `read` from this host's environment. `variables` are the
/// RED file's variables, `secrets` masks every secret it holds.
///
/// # Errors
/// The first name that is refused (see [`Error`]).
pub fn preserve(
    names: &[String],
    variables: &[Variable],
    secrets: &Redactor,
    read: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Preserved, Error> {
    let mut preserved = Preserved::default();
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(Error::BadName { name: name.clone() });
        }
        if let Some(variable) = variables
            .iter()
            .filter(|v| v.protected)
            .find(|v| v.name == *name || env_name(&v.name) == *name)
        {
            return Err(Error::Protected {
                name: name.clone(),
                variable: variable.name.clone(),
            });
        }
        let Some(value) = read(name) else {
            preserved.unset.push(name.clone());
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| Error::NotUnicode { name: name.clone() })?;
        if secrets.redact(&value) != value.as_str() {
            return Err(Error::SecretValue { name: name.clone() });
        }
        preserved.entries.push(format!("{name}={value}"));
    }
    Ok(preserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(name: &str, protected: bool) -> Variable {
        Variable {
            name: name.to_owned(),
            protected,
            uses: Vec::new(),
        }
    }

    fn host(name: &str) -> Option<OsString> {
        match name {
            "LANG" => Some("C.UTF-8".into()),
            "TOKEN_COPY" => Some("canary-pw-7f3a".into()),
            "WRAPPED" => Some("x=canary-pw-7f3a;".into()),
            "user" => Some("someone".into()),
            _ => None,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn set_names_pass_once_and_unset_ones_are_listed() {
        let variables = [variable("user", false), variable("pw", true)];
        let secrets = Redactor::new(["canary-pw-7f3a"]);
        let got = preserve(
            &names(&["LANG", "NOPE", "LANG", "user"]),
            &variables,
            &secrets,
            &host,
        )
        .unwrap();
        assert_eq!(got.entries, vec!["LANG=C.UTF-8", "user=someone"]);
        assert_eq!(got.unset, vec!["NOPE"]);
    }

    #[test]
    fn protected_variables_and_secret_values_are_refused_without_the_value() {
        let variables = [variable("user", false), variable("db-pw", true)];
        let secrets = Redactor::new(["canary-pw-7f3a"]);
        for (name, expected) in [
            (
                "db-pw",
                Error::Protected {
                    name: "db-pw".into(),
                    variable: "db-pw".into(),
                },
            ),
            (
                "RED_VAR_db_pw",
                Error::Protected {
                    name: "RED_VAR_db_pw".into(),
                    variable: "db-pw".into(),
                },
            ),
            (
                "TOKEN_COPY",
                Error::SecretValue {
                    name: "TOKEN_COPY".into(),
                },
            ),
            (
                "WRAPPED",
                Error::SecretValue {
                    name: "WRAPPED".into(),
                },
            ),
            ("A=B", Error::BadName { name: "A=B".into() }),
            (
                "",
                Error::BadName {
                    name: String::new(),
                },
            ),
        ] {
            let error = preserve(&names(&["LANG", name]), &variables, &secrets, &host).unwrap_err();
            assert!(!error.to_string().contains("canary"), "{error}");
            assert_eq!(error, expected);
        }
    }
}
