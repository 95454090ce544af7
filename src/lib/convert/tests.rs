//! Round trips through the emitters and the parser, on generated trees.

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> Tree {
    match crate::parse::tree(text) {
        Ok(tree) => tree,
        Err(error) => panic!("emitted text does not parse: {error}\n---\n{text}---"),
    }
}

fn owned(text: &str) -> Cow<'static, str> {
    Cow::Owned(text.to_owned())
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 :#'\"\\\\{}\\[\\],&*!|>%@`?.~_=<-]{0,10}",
        "[a-zé🐳\u{85}\u{a0}\u{2028}\u{feff}\u{0}\u{7f}\u{1b}\t\r\n ]{0,8}",
        "( |\n)?[a-z:# ]{1,6}(\n[ a-z]{0,4}){0,3}\n{0,3}",
        prop::sample::select(vec![
            "",
            "9",
            "010",
            "0x1F",
            "yes",
            "No",
            "on",
            "true",
            "False",
            "null",
            "~",
            "NULL",
            " lead",
            "trail ",
            "1e3",
            ".inf",
            "-.nan",
            "2020-01-01",
            "2001-12-14 21:59:43.10 -5",
            "<<",
            "---",
            "...",
            "a: b",
            "#c",
            "- x",
            "? q",
            "{a}",
            "1:20",
            "1_000",
            "v1.0",
            "'quoted'",
            "\"dq\"",
            "=",
            "\n",
            "\n\n",
            "a\n",
            " \n",
            "x\n\n",
            "\u{feff}bom",
        ])
        .prop_map(str::to_owned),
    ]
}

fn json_scalar() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            "0",
            "-0",
            "42",
            "-17",
            "123456789012345678901234567890"
        ])
        .prop_map(|t| Value::Int(owned(t))),
        prop::sample::select(vec!["1.50", "1e3", "-2.5E-3", "0.0", "1.0e+300"])
            .prop_map(|t| Value::Float(owned(t))),
        tricky_string().prop_map(|s| Value::Str(Cow::Owned(s))),
    ]
}

fn yaml_scalar() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        json_scalar(),
        prop::sample::select(vec!["0x1F", "010", "+5", "1_000", "0o17", "0b101"])
            .prop_map(|t| Value::Int(owned(t))),
        prop::sample::select(vec![".5", "1.", ".inf", "-.inf", ".nan", "1_0.5"])
            .prop_map(|t| Value::Float(owned(t))),
        prop::sample::select(vec!["2020-01-01", "2001-12-14t21:59:43.10-05:00"])
            .prop_map(|t| Value::Timestamp(owned(t))),
    ]
}

fn key(value: &Value<'_>) -> String {
    format!("{value:?}")
}

fn tree_of(
    scalar: BoxedStrategy<Value<'static>>,
    keys: BoxedStrategy<Value<'static>>,
) -> impl Strategy<Value = Value<'static>> {
    scalar.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Seq),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|entries| {
                let mut seen = std::collections::HashSet::new();
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| seen.insert(key(k)))
                        .collect(),
                )
            }),
        ]
    })
}

fn json_tree() -> impl Strategy<Value = Value<'static>> {
    tree_of(
        json_scalar().boxed(),
        tricky_string()
            .prop_map(|s| Value::Str(Cow::Owned(s)))
            .boxed(),
    )
}

fn yaml_tree() -> impl Strategy<Value = Value<'static>> {
    let keys = prop_oneof![
        3 => tricky_string().prop_map(|s| Value::Str(Cow::Owned(s))),
        1 => prop::sample::select(vec!["1", "-2", "0x1F"]).prop_map(|t| Value::Int(owned(t))),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ];
    tree_of(yaml_scalar().boxed(), keys.boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn yaml_reads_back_the_same(value in yaml_tree()) {
        let text = emit(&value, Format::Yaml).unwrap();
        let tree = parse(&text);
        prop_assert_eq!(Value::from_node(tree.root()).unwrap(), value, "{}", text);
    }

    #[test]
    fn yaml_json_yaml_is_the_same_tree(value in json_tree(), indent in 0usize..5) {
        let yaml = emit(&value, Format::Yaml).unwrap();
        let first = parse(&yaml);
        let json = format(&first, Format::Json { indent }).unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
        let second = parse(&json);
        let again = format(&second, Format::Yaml).unwrap();
        prop_assert_eq!(&again, &yaml);
        prop_assert_eq!(Value::from_node(second.root()).unwrap(), value);
    }
}

#[test]
fn json_rejects_infinity_with_its_path() {
    let tree = parse("a:\n- 1\n- .inf\n");
    let error = format(&tree, Format::Json { indent: 2 }).unwrap_err();
    assert_eq!(error.pointer(), Some("/a/1"));
    assert_eq!(
        error.location(&tree),
        Some(crate::source::Location::new(3, 3))
    );
}

#[test]
fn json_numbers_timestamps_and_keys() {
    let tree =
        parse("0x1F: 010\nt: 2020-01-01\nbig: 123456789012345678901234567890\nf: !!float 1\n");
    assert_eq!(
        format(&tree, Format::Json { indent: 0 }).unwrap(),
        "{\"31\":10,\"t\":\"2020-01-01\",\"big\":123456789012345678901234567890,\"f\":1.0}\n"
    );
    assert_eq!(
        format(&tree, Format::Yaml).unwrap(),
        "0x1F: 010\nt: 2020-01-01\nbig: 123456789012345678901234567890\nf: !!float 1\n"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let tree = parse(&text);
    assert!(format(&tree, Format::Yaml).is_ok());
    let text = format!("{}1\n", "- ".repeat(600));
    let tree = parse(&text);
    assert!(matches!(
        format(&tree, Format::Yaml),
        Err(Error::TooDeep { .. })
    ));
}

#[test]
fn sets_are_refused_in_both_formats() {
    let tree = parse("a: !!set {x, y}\n");
    for target in [Format::Yaml, Format::Json { indent: 2 }] {
        let error = format(&tree, target).unwrap_err();
        assert_eq!(error.pointer(), Some("/a"));
        assert_eq!(
            error.location(&tree),
            Some(crate::source::Location::new(1, 4))
        );
    }
    assert!(to_yaml(&tree).starts_with("# error: a set cannot be written as YAML"));
    assert!(serde_json::from_str::<serde_json::Value>(&to_json(&tree)).is_ok());
}
