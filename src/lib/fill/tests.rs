use proptest::prelude::*;

use super::*;
use crate::source::Origin;

/// A valid RED 9 document whose one connector has `access` lines given by the test (indented
/// by 8 spaces).
fn red(access: &str) -> String {
    format!(
        "redVersion: \"9\"\n\
         cli:\n  cwlVersion: \"v1.0\"\n  class: \"CommandLineTool\"\n  baseCommand: \"cat\"\n  \
         inputs:\n    f:\n      type: \"File\"\n      inputBinding:\n        position: 0\n  \
         outputs: {{}}\n\
         # keep me\n\
         inputs:\n  f:\n    class: \"File\"\n    connector:\n      command: \"red-connector-ssh\"\n      \
         access:\n{access}\
         container:\n  engine: \"docker\"\n  settings:\n    image:\n      url: \"busybox\"\n\
         execution:\n  engine: \"ccfaice\"\n  settings: {{}}\n"
    )
}

fn validated(text: &str) -> Validated {
    let parsed = parse::document(SourceFile::new(
        Origin::Memory("t.red.yml".into()),
        text.to_owned(),
    ))
    .expect("test documents parse");
    validate::document(parsed, &Options::default()).expect("test documents are valid")
}

fn values(pairs: &[(&str, &str)]) -> Values {
    let mut values = Values::new();
    for (name, value) in pairs {
        values.insert(*name, Secret::new((*value).to_owned()), ValueOrigin::Prompt);
    }
    values
}

fn fill(text: &str, pairs: &[(&str, &str)]) -> Result<Filled, Error> {
    apply(validated(text), &values(pairs))
}

fn access_value(filled: &Filled, key: &str) -> Option<String> {
    filled
        .tree()
        .root()
        .pointer(&format!("/inputs/f/connector/access/{key}"))
        .and_then(NodeRef::as_str)
        .map(str::to_owned)
}

#[test]
fn fills_in_place_and_keeps_everything_else() {
    let text = red("        host: \"{{host}}\"   # the host\n        \
         username: '{{user}}'\n        port: 0022\n        \
         path: /home/{{user}}/x.txt\n        password: \"{{pw}}\"\n");
    let filled = fill(
        &text,
        &[("host", "h.org"), ("user", "o'neil"), ("pw", "a\"b\\c")],
    )
    .unwrap();
    let expected = text
        .replace("\"{{host}}\"", "\"h.org\"")
        .replace("'{{user}}'", "\"o'neil\"")
        .replace("/home/{{user}}/x.txt", "\"/home/o'neil/x.txt\"")
        .replace("\"{{pw}}\"", "\"a\\\"b\\\\c\"");
    assert_eq!(filled.source().text(), expected);
    assert_eq!(
        access_value(&filled, "password").as_deref(),
        Some("a\"b\\c")
    );
    assert_eq!(
        access_value(&filled, "path").as_deref(),
        Some("/home/o'neil/x.txt")
    );
    let names: Vec<_> = filled.variables().iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["host", "user", "pw"]);
    // A short secret: masked as a token of foreign text, not in red's own words.
    assert_eq!(
        filled.redactor().redact_foreign("x a\"b\\c y"),
        "x ******** y"
    );
    assert_eq!(filled.redactor().redact("x a\"b\\c y"), "x a\"b\\c y");
    assert_eq!(filled.redactor().redact_foreign("o'neil"), "o'neil");
}

#[test]
fn anchors_tags_blocks_and_folded_plain_scalars() {
    let text = red("        password: &pw !!str \"{{pw}}\"\n        \
         again: *pw\n        note: |  # block\n          {{user}} line\n          two\n        \
         folded: plain\n          {{user}} text\n");
    let filled = fill(&text, &[("pw", "p#w: x"), ("user", "u")]).unwrap();
    assert_eq!(access_value(&filled, "password").as_deref(), Some("p#w: x"));
    assert_eq!(access_value(&filled, "again").as_deref(), Some("p#w: x"));
    assert_eq!(
        access_value(&filled, "note").as_deref(),
        Some("u line\ntwo\n")
    );
    assert_eq!(
        access_value(&filled, "folded").as_deref(),
        Some("plain u text")
    );
    assert!(filled.source().text().contains("&pw !!str \"p#w: x\""));
    assert!(
        filled
            .source()
            .text()
            .contains("note: \"u line\\ntwo\\n\" # block\n")
    );
}

#[test]
fn json_stays_json() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fill/template.red.json"
    ))
    .unwrap();
    let filled = fill(
        &text,
        &[("host", "h"), ("user", "u"), ("pw", "\u{7}\u{2028}é")],
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(filled.source().text()).unwrap();
    assert_eq!(
        json.pointer("/inputs/text_file/connector/access/auth/password"),
        Some(&serde_json::Value::from("\u{7}\u{2028}é"))
    );
    assert!(filled.is_json());
}

#[test]
fn invalid_filled_documents_do_not_debug_print_their_text() {
    // Build the error by hand: a filled document can only turn invalid through rules on values
    // below `access`/`auth`, which RED 9 does not have.
    let error = Error::Invalid {
        diagnostics: Vec::new(),
        text: Box::new(SourceFile::new(
            Origin::Memory("t".into()),
            "password: s3cret\n".into(),
        )),
        redactor: Redactor::new(["s3cret"]),
    };
    assert!(!format!("{error:?}").contains("s3cret"));
    assert!(!format!("{:?}", Err::<(), _>(error)).contains("s3cret"));
}

#[test]
fn values_that_leave_brackets_are_refused_without_echoing_them() {
    let text = red("        password: \"{{pw}}\"\n");
    let error = fill(&text, &[("pw", "x{{y}}")]).unwrap_err();
    assert!(
        matches!(&error, Error::BracketsInValue { names, pointer, .. }
        if names == &["pw"] && pointer == "/inputs/f/connector/access/password")
    );
    assert!(!error.to_string().contains("x{{y}}"));
    // A value ending in `}` next to a template's literal `}` makes `}}` too.
    let text = red("        password: \"{{{pw}}}\"\n");
    assert!(matches!(
        fill(&text, &[("{pw", "a}")]),
        Err(Error::BracketsInValue { .. })
    ));
    assert_eq!(
        access_value(&fill(&text, &[("{pw", "a")]).unwrap(), "password").as_deref(),
        Some("a}")
    );
}

#[test]
fn missing_values_and_template_errors() {
    let text = red("        a: \"{{x}}\"\n        b: \"{{y}}\"\n        c: \"{{z}}\"\n");
    let error = fill(&text, &[("y", "1")]).unwrap_err();
    assert_eq!(error.to_string(), "no value for `x`, `z`");
    let text =
        red("        a: \"{{x\"\n").replace("baseCommand: \"cat\"", "baseCommand: \"{{c}}\"");
    // Misplaced and malformed placeholders make the document invalid before any filling.
    let parsed =
        parse::document(SourceFile::new(Origin::Memory("t.red.yml".into()), text)).expect("parses");
    let Err(invalid) = validate::document(parsed, &Options::default()) else {
        panic!("expected template errors");
    };
    let pointers: Vec<_> = invalid
        .diagnostics
        .iter()
        .filter(|d| d.code == "template")
        .map(|d| d.pointer.as_str())
        .collect();
    assert_eq!(
        pointers,
        vec!["/cli/baseCommand", "/inputs/f/connector/access/a"]
    );
}

#[test]
fn secrets_cover_filled_literal_and_escaped_spellings() {
    let text = red(
        "        password: \"{{pw}}\"\n        _token: \"lit\\\"eral\"\n        \
         privateKey: |\n          -----BEGIN-----\n          body\n        user: \"{{u}}\"\n",
    );
    let filled = fill(&text, &[("pw", "p(w"), ("u", "someone")]).unwrap();
    let secrets: Vec<_> = filled.secrets().iter().map(Secret::expose).collect();
    for expected in ["p(w", "lit\"eral", "lit\\\"eral", "-----BEGIN-----", "body"] {
        assert!(secrets.contains(&expected), "missing {expected}");
    }
    assert!(!secrets.contains(&"someone"));
    let debug = format!("{filled:?}");
    assert!(!debug.contains("p(w") && !debug.contains("eral"));
    let password = filled.secret("/inputs/f/connector/access/password");
    assert_eq!(password.as_ref().map(Secret::expose), Some("p(w"));
    assert_eq!(format!("{password:?}"), "Some(********)");
    assert!(filled.secret("/inputs/f/connector/access").is_none());
}

#[test]
fn documents_without_variables_pass_through_unchanged() {
    let text = red("        password: literal\n");
    let filled = fill(&text, &[]).unwrap();
    assert_eq!(filled.source().text(), text);
    assert_eq!(
        filled.redactor().redact_foreign("a literal b"),
        "a ******** b"
    );
}

#[test]
fn guesses_secrets_of_unparsable_files() {
    let guessed = guess_secret_texts(
        "a:\n  password: \"p(w\"\n  - _token: !!int &x tok\n  {privateKey: [k1, \n  user: u\n",
    );
    for expected in ["p(w", "\"p(w\"", "tok", "k1"] {
        assert!(guessed.iter().any(|g| g == expected), "missing {expected}");
    }
    assert!(!guessed.iter().any(|g| g == "u"));
}

#[test]
fn quoting_survives_hostile_values() {
    for value in [
        "",
        " ",
        "a: b",
        "# x",
        "'",
        "\"",
        "\\",
        "\n\n",
        "\r\n",
        "\t",
        "\u{0}",
        "\u{85}",
        "\u{feff}",
        "🎉",
        "- a",
        "&a *b !c",
        "%x @y `z`",
    ] {
        let text = red("        password: \"{{pw}}\"\n");
        let filled = fill(&text, &[("pw", value)]).unwrap();
        assert_eq!(
            access_value(&filled, "password").as_deref(),
            Some(value),
            "{value:?}"
        );
    }
}

/// Values that are data, not templates: no `{{`, no `}}`, and no trailing `}` (the template
/// strings in these properties never end a placeholder next to a literal `}`).
fn value() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("no brackets", |v| !template::has_brackets(v))
}

/// Text that is not a template: a YAML comment and a double-quoted string.
fn other_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.:;()*+?|^$\\[\\]-]{0,20}".prop_map(|s| s.replace(['{', '}'], ""))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn filled_documents_have_no_variables_and_fill_again_to_themselves(
        pw in value(),
        user in value(),
        before in other_text(),
        after in other_text(),
    ) {
        let text = red(&format!(
            "        note: \"{before}\"  # {before}\n        password: \"x{{{{pw}}}}y\"\n        \
             username: \"{{{{user}}}}\"\n        single: '{{{{pw}}}}'  # c\n        \
             plain: /p/{{{{user}}}}/q\n        block: |-\n          {{{{pw}}}}\n        \
             after: \"{after}\"  # {after}\n"
        ));
        let filled = fill(&text, &[("pw", &pw), ("user", &user)]).unwrap();
        // Fill, then list: nothing.
        let scan = template::scan(filled.tree());
        prop_assert!(scan.variables.is_empty());
        prop_assert!(scan.is_ok());
        // Idempotent.
        let again = fill(filled.source().text(), &[]).unwrap();
        prop_assert_eq!(again.source().text(), filled.source().text());
        // Values read back.
        prop_assert_eq!(access_value(&filled, "password"), Some(format!("x{pw}y")));
        prop_assert_eq!(access_value(&filled, "username"), Some(user.clone()));
        prop_assert_eq!(access_value(&filled, "single"), Some(pw.clone()));
        prop_assert_eq!(access_value(&filled, "plain"), Some(format!("/p/{user}/q")));
        prop_assert_eq!(access_value(&filled, "block"), Some(pw.clone()));
        // Everything outside the filled strings is byte-identical.
        let original = text.as_str();
        let result = filled.source().text();
        let head = original.find("\"x{{pw}}y\"").unwrap();
        prop_assert_eq!(&result[..head], &original[..head]);
        let tail = original.len() - original.find("\n        after:").unwrap();
        prop_assert_eq!(&result[result.len() - tail..], &original[original.len() - tail..]);
    }

    #[test]
    fn quoting_round_trips_any_value(value in any::<String>()) {
        let quoted = quote(&value);
        let tree = parse::tree(&format!("k: {quoted}\n")).unwrap();
        prop_assert_eq!(tree.root().get("k").and_then(NodeRef::as_str), Some(value.as_str()));
        let json: serde_json::Value = serde_json::from_str(&quoted).unwrap();
        prop_assert_eq!(json.as_str(), Some(value.as_str()));
    }
}
