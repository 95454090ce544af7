//! The fast path against saphyr: the same tree wherever the fast path answers.

use proptest::prelude::*;

use super::super::saphyr_tree;
use super::tree;

/// The fast path's answer, if any, equals saphyr's; returns whether it answered.
fn agrees(text: &str) -> bool {
    match tree(text) {
        Some(fast) => {
            let slow = saphyr_tree(text);
            if slow.as_ref() != Ok(&fast) {
                let detail = match &slow {
                    Ok(slow) => {
                        let first = (0..fast.nodes.len().max(slow.nodes.len()))
                            .find(|&i| fast.nodes.get(i) != slow.nodes.get(i));
                        format!(
                            "first different node {first:?}: fast {:?}, saphyr {:?}",
                            first.and_then(|i| fast.nodes.get(i)),
                            first.and_then(|i| slow.nodes.get(i))
                        )
                    }
                    Err(error) => format!("saphyr says {error:?}"),
                };
                panic!("{text:?}\n{detail}");
            }
            true
        }
        None => false,
    }
}

fn fixture_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture_gives_the_same_tree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    fixture_files(&root, &mut files);
    let (mut fast, mut corpus_fast, mut total) = (0, 0, 0);
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += 1;
        if agrees(&text) {
            fast += 1;
            if path.to_string_lossy().contains("corpus/red/real") {
                corpus_fast += 1;
            }
        }
    }
    // Most real RED files are in the subset; a regression that makes the fast path give up on
    // them (and so slows every file down) fails here.
    assert!(total > 300, "{total} fixtures");
    assert!(
        corpus_fast >= 120,
        "{corpus_fast} corpus files on the fast path"
    );
    assert!(fast > total / 2, "{fast} of {total} on the fast path");
}

#[test]
fn the_big_corpus_file_takes_the_fast_path() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/fixtures/corpus/red/real/\
         deep-projects__sshfs-vs-sftp-experiments__scheduler_test__echo100000__5fb392e7.red",
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(agrees(&text));
}

#[test]
fn handwritten_cases() {
    let cases = [
        // In the subset.
        "a: 1\nb:\n  - x\n  - y: \"q\\n\"\n    z: {}\n  - []\nc:\n  d: e   # c\n\nf: {a: b, \"c\": 1}\ng: [x, y]\nh:\ni: \n",
        "---\nx:\n- a\n- b\ny: z\n# end\n",
        "batches:\n- inputs:\n    text: hello\n  outputs: {}\n- inputs: {}\n  outputs:\n    o: [a, \"b\", {}]\nx: y",
        "- - x\n  - y\n- a: b\n  # c\n  c: d\n",
        "c: d # x\n\"e\": f\n'g': h\ni: [ ]\nj: { }\n",
        "a: 'it''s'\nb: \"\\x41\\u00e9\\U0001F600\\t\\\\\"\nc: ~\nd: 0x1F\ne: 1.50\nf: 2020-01-01\n",
        "é: ü\nnested:\n  ключ: значение # comment\n  x: \"ü\" \n",
        "  a: 1\n  b: 2\n",
        "a: b]\nc: d}e\nf: x,y\ng: -1\nh: --flag\ni: a#b\n",
        "<<: {a: 1}\nb: 2\n",
        "a:\n  -   x\n  -   y: 1\n      z: 2\n",
        "a:\n- b\n-  c\nd: e\n",
        "x: [a b, 'c d', \"e\", [f, {g: h}]]\n",
        // Outside the subset, or wrong: saphyr decides.
        "a: 1\na: 2\n",
        "a:\n    b\n",
        "a: b\n  c\n",
        "a: &x 1\nb: *x\n",
        "a: |\n  text\n",
        "? a\n: b\n",
        "a: b: c\n",
        "a:\tb\n",
        "a: 1\n---\nb: 2\n",
        "a: \"unterminated\n",
        "a:\n - b\n  - c\n",
        "a: {b: c\n",
        "a: [b, ]\n",
        "a: [b: c]\n",
        "- \n- x\n",
        "a: b\n- c\n",
        "---\n",
        "",
        "# only a comment\n",
        "x\n",
        "a: !!str 1\n",
        "a: \"\\q\"\n",
        "a: {b: http://x}\n",
        "a\n",
        "a: 1\r\nb: 2\r\n",
    ];
    let answered = cases.iter().filter(|text| agrees(text)).count();
    assert!(answered >= 13, "{answered}");
}

/// A random document of the subset, written in block style, with near misses mixed in.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,6}",
        "[-+]?[0-9]{1,4}(\\.[0-9]{0,2})?",
        Just("~".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("".to_owned()),
        "'[a-z' ]{0,5}'",
        "\"[a-z \\\\ntu0-9\"]{0,6}\"",
        Just("{}".to_owned()),
        Just("[]".to_owned()),
        "\\[[a-z0-9 ,'\"{}]{0,8}\\]",
        "\\{[a-z0-9 :,'\"]{0,8}\\}",
        "[a-z]{1,3}[ #:,\\]&*!|>?-]{1,2}[a-z]{0,3}",
        "[a-zé]{1,3}( [a-z]{1,3})?",
    ]
}

#[derive(Debug, Clone)]
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = scalar().prop_map(Node::Scalar);
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec((scalar(), inner.clone()), 1..4).prop_map(Node::Map),
            prop::collection::vec(inner, 1..4).prop_map(Node::Seq),
        ]
    })
}

/// Layout choices: indentation step, spaces after `-`, indentless sequences, comments.
#[derive(Debug, Clone, Copy)]
struct Layout {
    step: usize,
    dash_gap: usize,
    indentless: bool,
    comments: bool,
}

fn write(node: &Node, indent: usize, layout: Layout, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Scalar(text) => {
            out.push_str(&pad);
            out.push_str(text);
            out.push('\n');
        }
        Node::Map(entries) => {
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(key);
                out.push(':');
                match value {
                    Node::Scalar(text) => {
                        out.push(' ');
                        out.push_str(text);
                        if layout.comments {
                            out.push_str(" # c");
                        }
                        out.push('\n');
                    }
                    Node::Seq(_) if layout.indentless => {
                        out.push('\n');
                        write(value, indent, layout, out);
                    }
                    _ => {
                        out.push('\n');
                        if layout.comments {
                            out.push_str(&pad);
                            out.push_str("# between\n\n");
                        }
                        write(value, indent + layout.step, layout, out);
                    }
                }
            }
        }
        Node::Seq(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                out.push_str(&" ".repeat(layout.dash_gap));
                let mut inner = String::new();
                write(item, 0, layout, &mut inner);
                // The first line goes after the dash; the others are indented to match.
                let column = indent + 1 + layout.dash_gap;
                for (i, line) in inner.lines().enumerate() {
                    if i > 0 {
                        out.push_str(&" ".repeat(column));
                    }
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    (1..4usize, 0..3usize, any::<bool>(), any::<bool>()).prop_map(
        |(step, dash_gap, indentless, comments)| Layout {
            step,
            dash_gap,
            indentless,
            comments,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_block_documents_agree(
        root in node(),
        layout in layout(),
        trailing_newline in any::<bool>(),
        damage in prop::option::of((any::<prop::sample::Index>(), prop::sample::select(vec![
            "\t", " ", "  ", "\n", "- ", ": ", "#", "&a ", "*a", "|", "? ", "---\n", "'", "\"",
            "{", "]", ",", "!!str ", "\n  x", "\\", "é",
        ]))),
    ) {
        let mut text = String::new();
        write(&root, 0, layout, &mut text);
        if !trailing_newline {
            text.pop();
        }
        if let Some((index, insert)) = damage {
            let mut at = index.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, insert);
        }
        agrees(&text);
    }
}
