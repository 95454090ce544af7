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
    let resolved = resolve(&variables, &files, Some(&env), Some(&mut prompter)).unwrap();
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
    let error = resolve(&variables, &files, None, None).unwrap_err();
    assert_eq!(error.to_string(), "no value for `x`, `z`");
}

#[test]
fn env_collisions_are_refused() {
    let variables = [variable("a-b", false), variable("a.b", false)];
    let env = |var: &str| (var == "RED_VAR_a_b").then(|| OsString::from("v"));
    let error = resolve(&variables, &[], Some(&env), None).unwrap_err();
    assert!(
        matches!(error, Error::EnvConflict { ref var, ref names } if var == "RED_VAR_a_b" && names.len() == 2)
    );
}
