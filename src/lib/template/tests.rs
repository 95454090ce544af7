use super::*;

fn vars(text: &str) -> Result<Vec<&str>, GrammarError> {
    names(text)
}

#[test]
fn grammar_matches_the_reference_examples() {
    assert_eq!(vars("{{a}}"), Ok(vec!["a"]));
    assert_eq!(vars("x{{a}}y{{b}}"), Ok(vec!["a", "b"]));
    assert_eq!(vars("{{ user name }}"), Ok(vec![" user name "]));
    assert_eq!(vars("{{}}"), Err(GrammarError::EmptyName));
    assert_eq!(vars("{{abc"), Err(GrammarError::Unclosed));
    assert_eq!(vars("{{a{{b}}}}"), Err(GrammarError::Nested));
    assert_eq!(vars("abc}}"), Err(GrammarError::Stray));
    assert_eq!(vars("{{a}}}}"), Err(GrammarError::Stray));
    assert_eq!(vars("}}{{a}}"), Err(GrammarError::Stray));
    assert_eq!(vars("plain {single} braces"), Ok(vec![]));
    assert_eq!(
        parse("{{{x}}}"),
        Ok(vec![Part::Variable("{x"), Part::Literal("}")])
    );
    assert_eq!(
        parse("/home/{{user}}/data/{{file}}.txt"),
        Ok(vec![
            Part::Literal("/home/"),
            Part::Variable("user"),
            Part::Literal("/data/"),
            Part::Variable("file"),
            Part::Literal(".txt"),
        ])
    );
    assert_eq!(parse(""), Ok(vec![]));
    assert_eq!(vars("{{é✓}}"), Ok(vec!["é✓"]));
}

/// Every string of up to 7 characters over `{`, `}`, `a`, with the outcome red-val 9.3 gives
/// (generated once with the reference's `_extract_variable_keys`).
#[test]
fn grammar_agrees_with_the_reference_on_every_short_string() {
    let table = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fill/grammar.tsv"
    ));
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (text, expected) = line.split_once('\t').expect("two columns");
        let got = match names(text) {
            Ok(mut names) => {
                names.sort_unstable();
                names.dedup();
                format!("ok:{}", names.join(","))
            }
            Err(GrammarError::Nested) => "err:A".to_owned(),
            Err(GrammarError::Unclosed) => "err:B".to_owned(),
            Err(GrammarError::EmptyName) => "err:C".to_owned(),
            Err(GrammarError::Stray) => "err:D".to_owned(),
        };
        assert_eq!(got, expected, "for {text:?}");
        checked += 1;
    }
    assert_eq!(checked, 3280);
}

#[test]
fn substitution_is_verbatim() {
    let lookup = |name: &str| match name {
        "a" => Some("{{b}}"),
        "x" => Some("1"),
        _ => None,
    };
    assert_eq!(
        substitute("p{{a}}q{{x}}", lookup),
        Ok(Some("p{{b}}q1".into()))
    );
    assert_eq!(substitute("no placeholder", lookup), Ok(None));
    assert_eq!(
        substitute("{{zz}}", lookup),
        Err(SubstituteError::Missing("zz".into()))
    );
    assert_eq!(
        substitute("{{", lookup),
        Err(SubstituteError::Grammar(GrammarError::Unclosed))
    );
}

#[test]
fn protected_keys() {
    assert!(is_protected_key("password"));
    assert!(is_protected_key("privateKey"));
    assert!(is_protected_key("_username"));
    assert!(is_protected_key("_"));
    assert!(!is_protected_key("Password"));
    assert!(!is_protected_key("username"));
    assert_eq!(normalize_key("_username"), "username");
    assert_eq!(normalize_key("__x"), "_x");
    assert_eq!(normalize_key("password"), "password");
}

fn scan_text(text: &str) -> Scan {
    scan(&crate::parse::tree(text).expect("test documents parse"))
}

fn located(scan: &Scan) -> Vec<(String, u32, u32)> {
    scan.diagnostics
        .iter()
        .map(|d| {
            (
                d.pointer.clone(),
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn placeholders_only_below_access_or_auth() {
    let scan = scan_text(
        "doc: \"{{a}}\"\n\
             inputs:\n  f:\n    connector:\n      command: \"x{{b}}\"\n      access:\n        \
             url: \"https://{{host}}/x\"\n        auth:\n          username: \"{{user}}\"\n\
             container:\n  settings:\n    image:\n      url: \"img:{{tag}}\"\n      auth:\n        \
             password: \"{{pw}}\"\n",
    );
    assert_eq!(
        located(&scan),
        vec![
            ("/doc".into(), 1, 6),
            ("/inputs/f/connector/command".into(), 5, 16),
            ("/container/settings/image/url".into(), 13, 12),
        ]
    );
    let listed: Vec<_> = scan
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.protected))
        .collect();
    assert_eq!(listed, vec![("host", false), ("user", false), ("pw", true)]);
    assert_eq!(
        scan.variable("pw").map(|v| v.uses[0].pointer.as_str()),
        Some("/container/settings/image/auth/password")
    );
}

#[test]
fn protected_keys_outside_access_are_located() {
    let scan = scan_text(
        "cli:\n  inputs:\n    password: {type: string}\n    _x: {type: string}\n\
             inputs:\n  a:\n    access:\n      _username: \"{{u}}\"\n      privateKey: k\n",
    );
    assert_eq!(
        located(&scan),
        vec![
            ("/cli/inputs/password".into(), 3, 5),
            ("/cli/inputs/_x".into(), 4, 5)
        ]
    );
    assert!(scan.variables[0].protected);
    // Nothing below a misplaced protected key is reported again.
    let nested = scan_text("password:\n  deeper: \"{{x}}\"\n  _also: y\n");
    assert_eq!(located(&nested), vec![("/password".into(), 1, 1)]);
}

#[test]
fn variables_keep_document_order_and_protection_wins() {
    let scan = scan_text(
        "a:\n  access:\n    user: \"{{z}}\"\n    password: \"{{z}}{{m}}\"\n    host: \"{{b}}\"\n\
             list:\n  - auth: [\"{{b}}\", {k: \"{{a}}\"}]\n",
    );
    let listed: Vec<_> = scan
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.protected, v.uses.len()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("z", true, 2),
            ("m", true, 1),
            ("b", false, 2),
            ("a", false, 1)
        ]
    );
    assert_eq!(
        scan.variable("a").map(|v| v.uses[0].pointer.as_str()),
        Some("/list/0/auth/1/k")
    );
    assert!(scan.is_ok());
}

#[test]
fn malformed_strings_are_located_errors() {
    let scan = scan_text(
        "access:\n  a: \"{{}}\"\n  b: \"x{{y\"\n  c: \"{{p{{q}}}}\"\n  d: \"q}}\"\n  e: \"{{ok}}\"\n",
    );
    let messages: Vec<_> = scan
        .diagnostics
        .iter()
        .map(|d| (d.pointer.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        vec![
            ("/access/a", "a placeholder has an empty name"),
            (
                "/access/b",
                "a placeholder is opened with `{{` but never closed with `}}`"
            ),
            (
                "/access/c",
                "a placeholder opens inside another one that is not closed yet"
            ),
            ("/access/d", "a `{{` or `}}` belongs to no placeholder"),
        ]
    );
    assert_eq!(scan.variables.len(), 1);
}

#[test]
fn keys_and_non_strings_are_not_inspected() {
    let scan = scan_text("\"{{k}}\": 1\nn: 5\naccess:\n  \"{{key}}\": true\n");
    assert!(scan.is_ok());
    assert!(scan.variables.is_empty());
}

#[test]
fn aliases_report_each_use() {
    let scan = scan_text("x:\n  access: &a {password: \"{{pw}}\"}\ny:\n  access: *a\n");
    let uses: Vec<_> = scan.variables[0]
        .uses
        .iter()
        .map(|u| u.pointer.as_str())
        .collect();
    assert_eq!(uses, vec!["/x/access/password", "/y/access/password"]);
    assert_eq!(
        scan.variables[0].uses[0].node,
        scan.variables[0].uses[1].node
    );
}
