use super::*;
use crate::source::Origin;

fn variable(name: &str, protected: bool) -> Variable {
    Variable {
        name: name.to_owned(),
        protected,
        uses: Vec::new(),
    }
}

fn file(text: &str) -> Result<VarsFile, Error> {
    let source = SourceFile::new(Origin::Memory("v.yml".into()), text.to_owned());
    parse_file(Path::new("v.yml"), &source)
}

#[test]
fn files_hold_strings_and_numbers() {
    let vars = file("a: x\nb: 22\nc: 1.50\nd: \"q(\"\n").unwrap();
    let got: Vec<_> = vars
        .entries
        .iter()
        .map(|(n, s, l)| (n.as_str(), s.expose(), l.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "x", 1),
            ("b", "22", 2),
            ("c", "1.50", 3),
            ("d", "q(", 4)
        ]
    );
    assert!(file("").unwrap().entries.is_empty());
    let json = file("{\"a\": \"1\", \"b\": 2}").unwrap();
    assert_eq!(json.entries.len(), 2);
}

#[test]
fn other_shapes_are_located_errors_without_values() {
    let error = file("a: x\nb: [s3cret]\n").unwrap_err();
    assert!(
        matches!(&error, Error::BadValue { name, found: "list", location, .. }
            if name == "b" && *location == Location::new(2, 4))
    );
    assert!(!error.diagnostic().message.contains("s3cret"));
    let error = file("a: true\n").unwrap_err();
    assert!(matches!(
        error,
        Error::BadValue {
            found: "boolean",
            ..
        }
    ));
    let error = file("- a\n").unwrap_err();
    assert!(matches!(error, Error::NotAMapping { found: "list", .. }));
    let error = file("1: a\n").unwrap_err();
    assert!(matches!(
        error,
        Error::BadName {
            found: "integer",
            ..
        }
    ));
    let error = file("a: !!int s3cret\n").unwrap_err();
    assert!(matches!(error, Error::Syntax { .. }));
    assert!(!error.to_string().contains("s3cret"));
    let error = file("a: \"unterminated\n").unwrap_err();
    assert!(matches!(error, Error::Syntax { location, .. } if location.line >= 1));
}

#[test]
fn env_names_map_to_safe_characters() {
    assert_eq!(env_name("password"), "RED_VAR_password");
    assert_eq!(env_name("db-pass.word"), "RED_VAR_db_pass_word");
    assert_eq!(env_name(" user name "), "RED_VAR__user_name_");
    assert_eq!(env_name("ünï"), "RED_VAR__n_");
}

struct Scripted(Vec<(String, bool)>);

impl Prompter for Scripted {
    fn ask(&mut self, variable: &Variable) -> Result<Secret, Error> {
        self.0.push((variable.name.clone(), variable.protected));
        Ok(Secret::new(format!("typed-{}", variable.name)))
    }
}

#[test]
fn precedence_files_then_env_then_prompt() {
    let variables = [
        variable("a", false),
        variable("b", true),
        variable("c", true),
        variable("d", false),
    ];
    let files = [
        file("a: first\nunused1: x\n").unwrap(),
        file("a: second\nb: from-file\n").unwrap(),
    ];
    let env = |var: &str| match var {
        "RED_VAR_b" => Some(OsString::from("from-env")),
        "RED_VAR_c" => Some(OsString::from("env-c")),
        _ => None,
    };
    let mut prompter = Scripted(Vec::new());
    let resolved = resolve(&variables, &files, Some(&env), None, Some(&mut prompter)).unwrap();
    let got: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| resolved.values.get(n).map(Secret::expose))
        .collect();
    assert_eq!(
        got,
        vec![
            Some("second"),
            Some("from-file"),
            Some("env-c"),
            Some("typed-d")
        ]
    );
    assert_eq!(prompter.0, vec![("d".to_owned(), false)]);
    assert_eq!(
        resolved.unused,
        vec![(PathBuf::from("v.yml"), vec!["unused1".to_owned()])]
    );
    assert_eq!(
        resolved.values.entry("c").map(|v| v.origin.to_string()),
        Some("$RED_VAR_c".to_owned())
    );
}

#[test]
fn missing_names_every_variable() {
    let variables = [
        variable("x", false),
        variable("y", true),
        variable("z", false),
    ];
    let files = [file("y: 1\n").unwrap()];
    let error = resolve(&variables, &files, None, None, None).unwrap_err();
    assert_eq!(error.to_string(), "no value for `x`, `z`");
}

#[test]
fn env_collisions_are_refused() {
    let variables = [variable("a-b", false), variable("a.b", false)];
    let env = |var: &str| (var == "RED_VAR_a_b").then(|| OsString::from("v"));
    let error = resolve(&variables, &[], Some(&env), None, None).unwrap_err();
    assert!(
        matches!(error, Error::EnvConflict { ref var, ref names } if var == "RED_VAR_a_b" && names.len() == 2)
    );
}

/// An in-memory keyring; `down` makes every call fail.
struct FakeKeyring {
    entries: Vec<(String, String)>,
    down: bool,
    asked: Vec<String>,
}

impl Keyring for FakeKeyring {
    fn service(&self) -> &str {
        "svc"
    }

    fn get(&mut self, name: &str) -> Result<Option<Secret>, Unavailable> {
        self.asked.push(name.to_owned());
        if self.down {
            return Err(Unavailable("no bus".to_owned()));
        }
        Ok(self
            .entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Secret::new(v.clone())))
    }

    fn set(&mut self, name: &str, value: &Secret) -> Result<(), Unavailable> {
        if self.down {
            return Err(Unavailable("no bus".to_owned()));
        }
        self.entries
            .push((name.to_owned(), value.expose().to_owned()));
        Ok(())
    }
}

/// Answers every prompt and says `store` to the offer.
struct Storing(bool, Vec<Vec<String>>);

impl Prompter for Storing {
    fn ask(&mut self, variable: &Variable) -> Result<Secret, Error> {
        Ok(Secret::new(format!("typed-{}", variable.name)))
    }

    fn offer_to_store(&mut self, service: &str, names: &[String]) -> Result<bool, Error> {
        assert_eq!(service, "svc");
        self.1.push(names.to_vec());
        Ok(self.0)
    }
}

fn fake(entries: &[(&str, &str)], down: bool) -> FakeKeyring {
    FakeKeyring {
        entries: entries
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        down,
        asked: Vec::new(),
    }
}

#[test]
fn the_keyring_comes_after_files_and_env_and_before_the_prompt() {
    let variables = [
        variable("a", false),
        variable("b", true),
        variable("c", true),
        variable("d", false),
    ];
    let files = [file("a: from-file\n").unwrap()];
    let env = |var: &str| (var == "RED_VAR_b").then(|| OsString::from("from-env"));
    let mut ring = fake(&[("a", "ring-a"), ("b", "ring-b"), ("c", "ring-c")], false);
    let mut source = KeyringSource::new(&mut ring);
    let mut prompter = Storing(true, Vec::new());
    let resolved = resolve(
        &variables,
        &files,
        Some(&env),
        Some(&mut source),
        Some(&mut prompter),
    )
    .unwrap();
    let got: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| resolved.values.get(n).map(Secret::expose))
        .collect();
    assert_eq!(
        got,
        vec![
            Some("from-file"),
            Some("from-env"),
            Some("ring-c"),
            Some("typed-d")
        ]
    );
    assert_eq!(
        resolved.values.entry("c").map(|v| v.origin.to_string()),
        Some("keyring:svc".to_owned())
    );
    // Only the typed value is offered, and stored once agreed.
    assert_eq!(prompter.1, vec![vec!["d".to_owned()]]);
    assert_eq!((source.stored, source.notes.len()), (1, 0));
    assert_eq!(ring.asked, vec!["c", "d"]);
    assert!(
        ring.entries
            .contains(&("d".to_owned(), "typed-d".to_owned()))
    );
}

#[test]
fn nothing_is_stored_unless_agreed() {
    let variables = [variable("x", true)];
    let mut ring = fake(&[], false);
    let mut source = KeyringSource::new(&mut ring);
    let mut prompter = Storing(false, Vec::new());
    resolve(
        &variables,
        &[],
        None,
        Some(&mut source),
        Some(&mut prompter),
    )
    .unwrap();
    assert_eq!(source.stored, 0);
    assert!(ring.entries.is_empty());
}

#[test]
fn an_unavailable_keyring_is_skipped_with_a_note() {
    let variables = [variable("x", false), variable("y", true)];
    let mut ring = fake(&[], true);
    let mut source = KeyringSource::new(&mut ring);
    let error = resolve(&variables, &[], None, Some(&mut source), None).unwrap_err();
    assert_eq!(error.to_string(), "no value for `x`, `y`");
    assert_eq!(source.notes.len(), 1);
    assert_eq!(
        source.notes[0].message,
        "the keyring (service `svc`) is skipped: no bus"
    );
    // Asked once, then left alone; no offer to store in it.
    let mut prompter = Storing(true, Vec::new());
    let mut source = KeyringSource::new(&mut ring);
    let resolved = resolve(
        &variables,
        &[],
        None,
        Some(&mut source),
        Some(&mut prompter),
    )
    .unwrap();
    assert_eq!(resolved.values.len(), 2);
    assert!(prompter.1.is_empty());
    assert_eq!(ring.asked, vec!["x", "x"]);
}
