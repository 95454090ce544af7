use super::*;

fn parse(text: &str) -> Result<Tree, Error> {
    tree(text)
}

#[test]
fn keeps_order_locations_and_lexemes() {
    let tree = parse("b: 1.50\na:\n  - x\n  - 0x1F\n").unwrap();
    let root = tree.root();
    let keys: Vec<_> = root.entries().map(|(k, _)| k.text()).collect();
    assert_eq!(keys, ["b", "a"]);
    let b = root.get("b").unwrap();
    assert_eq!((b.kind(), b.text()), (Kind::Float, "1.50"));
    assert_eq!(b.span().start, Location::new(1, 4));
    let hex = root.get("a").unwrap().item(1).unwrap();
    assert_eq!((hex.kind(), hex.as_int()), (Kind::Int, Some(31)));
    assert_eq!(hex.span().start, Location::new(4, 5));
}

#[test]
fn json_is_yaml() {
    let tree = parse(r#"{"a": [1, "x", true, null], "b": {"c": 1e3}}"#).unwrap();
    let a: Vec<_> = tree
        .root()
        .get("a")
        .unwrap()
        .items()
        .map(NodeRef::kind)
        .collect();
    assert_eq!(a, [Kind::Int, Kind::Str, Kind::Bool, Kind::Null]);
    assert_eq!(tree.root().pointer("/b/c").unwrap().kind(), Kind::Float);
}

use crate::tree::NodeRef;

#[test]
fn quoted_scalars_are_strings() {
    let tree = parse("a: '9'\nb: \"true\"\nc: !!str 5\nd: 9\n").unwrap();
    let kinds: Vec<_> = tree.root().entries().map(|(_, v)| v.kind()).collect();
    assert_eq!(kinds, [Kind::Str, Kind::Str, Kind::Str, Kind::Int]);
}

#[test]
fn duplicate_keys_are_located() {
    let error = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(
        error,
        Error::DuplicateKey {
            key: "a".into(),
            location: Location::new(3, 1),
            first: Location::new(1, 1)
        }
    );
}

#[test]
fn duplicate_keys_in_big_mappings() {
    let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
    text.push_str("k42: again\n");
    assert!(
        matches!(parse(&text), Err(Error::DuplicateKey { location, .. }) if location.line == 101)
    );
}

#[test]
fn two_documents_are_refused() {
    assert!(matches!(
        parse("a: 1\n---\nb: 2\n"),
        Err(Error::MultipleDocuments { .. })
    ));
}

#[test]
fn unknown_tags_are_refused() {
    assert!(
        matches!(parse("a: !secret x\n"), Err(Error::UnknownTag { tag, .. }) if tag == "!secret")
    );
}

#[test]
fn syntax_errors_are_located() {
    let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(matches!(error, Error::Syntax { .. }), "{error:?}");
    let error = parse("a:\n\tb: 1\n").unwrap_err();
    assert_eq!(error.location().line, 2, "{error:?}");
}

#[test]
fn aliases_and_merges_resolve() {
    let tree = parse("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n  z: 4\nother: *b\n").unwrap();
    let used = tree.root().get("use").unwrap();
    let pairs: Vec<_> = used.entries().map(|(k, v)| (k.text(), v.text())).collect();
    assert_eq!(pairs, [("x", "1"), ("y", "3"), ("z", "4")]);
    assert_eq!(tree.root().get("other").unwrap().len(), 2);
}

#[test]
fn alias_bombs_are_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    assert!(matches!(parse(&text), Err(Error::AliasExpansion { .. })));
}

#[test]
fn empty_stream_is_null() {
    assert_eq!(
        parse("# only a comment\n").unwrap().root().kind(),
        Kind::Null
    );
}

#[test]
fn dates_are_not_strings() {
    assert_eq!(
        parse("d: 2020-01-01\n")
            .unwrap()
            .root()
            .get("d")
            .unwrap()
            .kind(),
        Kind::Timestamp
    );
}

#[test]
fn non_string_keys_are_kept() {
    let tree = parse("1: a\ntrue: b\n? [x, y]\n: c\n").unwrap();
    let kinds: Vec<_> = tree.root().entries().map(|(k, _)| k.kind()).collect();
    assert_eq!(kinds, [Kind::Int, Kind::Bool, Kind::Seq]);
}

#[test]
fn items_and_entries_are_reached_by_position() {
    let tree = parse("list: [a, b]\nmap: {k: v}\n").expect("parses");
    let root = tree.root();
    let list = root.get("list").expect("list");
    assert_eq!(list.item(1).map(NodeRef::text), Some("b"));
    assert!(list.item(2).is_none());
    assert!(list.entry(0).is_none(), "a sequence has no entries");
    let map = root.get("map").expect("map");
    let (key, value) = map.entry(0).expect("one entry");
    assert_eq!((key.text(), value.text()), ("k", "v"));
    assert!(map.entry(1).is_none());
    assert!(map.item(0).is_none(), "a mapping has no items");
    assert!(value.entry(0).is_none() && value.item(0).is_none());
}

#[test]
fn an_unprintable_character_is_not_called_a_tab() {
    let error = parse("a\0b: 1\n").unwrap_err();
    let hint = error.hint().unwrap_or_default();
    assert!(
        !hint.contains("tabs") && !hint.contains("indentation"),
        "{hint}"
    );
    assert!(hint.contains("NUL"), "{hint}");
    let error = parse("a:\n\tb: 1\n").unwrap_err();
    assert!(error.hint().unwrap_or_default().contains("tabs"));
}
