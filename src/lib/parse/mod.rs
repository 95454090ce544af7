//! Text → [`Parsed`]: YAML and JSON into a located, ordered [`Tree`].
//!
//! JSON is read by the same YAML 1.2 parser, as the reference does, so a file is accepted or
//! rejected by its content whatever its extension. On top of the event stream this module
//! enforces what a RED file needs and plain YAML loaders let through: one document only,
//! duplicate keys rejected, only the core-schema tags, and aliases whose expansion stays within a
//! bound (no "billion laughs"). Every error carries the line and column where it was found.
//! Nothing here knows about RED itself; that is [`crate::validate`]'s job.

mod fast;
mod input;
pub mod scalar;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan, Tag};

use crate::source::{Location, SourceFile, Span, to_u32};
use crate::tree::{Kind, NodeId, Style, Tree};

/// Expanded size (aliases counted at every use) allowed for a document, at least.
const MIN_EXPANSION_LIMIT: u64 = 1_000_000;
/// Expanded size allowed per physical node, for large documents.
const EXPANSION_FACTOR: u64 = 10;

/// Why a file is not a well-formed single YAML/JSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The YAML/JSON syntax is broken.
    #[error("syntax error: {message}")]
    Syntax {
        /// The parser's description.
        message: String,
        /// Where.
        location: Location,
    },
    /// A mapping has the same key twice.
    #[error("duplicate key `{key}` (first defined at {first})")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The second occurrence.
        location: Location,
        /// The first occurrence.
        first: Location,
    },
    /// The stream holds more than one document.
    #[error("a RED file holds exactly one document, but a second one starts here")]
    MultipleDocuments {
        /// Start of the second document.
        location: Location,
    },
    /// A tag that is not a YAML core-schema tag.
    #[error("unsupported tag `{tag}`")]
    UnknownTag {
        /// The tag as written.
        tag: String,
        /// Where.
        location: Location,
    },
    /// A scalar that cannot be read as its tag says (`!!int abc`).
    #[error("`{text}` is not a valid `{tag}`")]
    BadTaggedValue {
        /// The tag.
        tag: String,
        /// The scalar text.
        text: String,
        /// Where.
        location: Location,
    },
    /// Aliases expand to more nodes than the bound.
    #[error("aliases expand this document to more than {limit} values")]
    AliasExpansion {
        /// The bound that was crossed.
        limit: u64,
        /// The alias that crossed it.
        location: Location,
    },
    /// An alias names an anchor that is not defined (yet).
    #[error("alias refers to an anchor that is not defined before it")]
    UnknownAnchor {
        /// The alias.
        location: Location,
    },
    /// A merge key (`<<`) whose value is not a mapping or a list of mappings.
    #[error("a merge key `<<` needs a mapping or a list of mappings")]
    BadMerge {
        /// The merge value.
        location: Location,
    },
}

impl Error {
    /// Where the problem is.
    #[must_use]
    pub fn location(&self) -> Location {
        match self {
            Error::Syntax { location, .. }
            | Error::DuplicateKey { location, .. }
            | Error::MultipleDocuments { location }
            | Error::UnknownTag { location, .. }
            | Error::BadTaggedValue { location, .. }
            | Error::AliasExpansion { location, .. }
            | Error::UnknownAnchor { location }
            | Error::BadMerge { location } => *location,
        }
    }

    /// A suggestion for fixing the problem, if there is a useful one.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Syntax { message, .. } if message.contains("unprintable") => Some(
                "remove the control character (a NUL byte or another unprintable one): a RED file \
                 is text; is this a binary file?",
            ),
            Error::Syntax { message, .. }
                if message
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .any(|word| word == "tab" || word == "tabs") =>
            {
                Some("YAML indentation must use spaces, not tabs")
            }
            Error::DuplicateKey { .. } => Some("remove one of the two entries or rename it"),
            Error::MultipleDocuments { .. } => Some("split the file, or remove the `---` line"),
            Error::UnknownTag { .. } => Some("remove the tag; RED files use plain YAML values"),
            _ => None,
        }
    }
}

/// A file read into a tree, not yet checked against the RED rules.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The text it came from.
    pub source: SourceFile,
    /// The values.
    pub tree: Tree,
    /// Whether the text is JSON (its first significant character opens a flow collection).
    pub json: bool,
}

impl Parsed {
    /// Pair a tree with the text it was parsed from.
    #[must_use]
    pub fn new(source: SourceFile, tree: Tree) -> Self {
        let json = source.text().trim_start().starts_with(['{', '[']);
        Self { source, tree, json }
    }
}

/// Parse one YAML or JSON document.
pub fn document(source: SourceFile) -> Result<Parsed, Error> {
    let tree = tree(source.text())?;
    Ok(Parsed::new(source, tree))
}

/// Parse text into a tree (the document root is `null` for an empty stream).
///
/// The plain block YAML of typical RED files is read by [`fast`]; anything else, and every
/// error, by saphyr. Both give the same tree.
pub fn tree(text: &str) -> Result<Tree, Error> {
    if let Some(tree) = fast::tree(text) {
        return Ok(tree);
    }
    saphyr_tree(text)
}

/// Parse text into a tree with saphyr's full YAML 1.2 parser.
fn saphyr_tree(text: &str) -> Result<Tree, Error> {
    let mut builder = Builder::with_capacity(text.len());
    let mut parser = Parser::new(input::ShortWindow::new(text));
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| Error::Syntax {
            message: e.info().to_owned(),
            location: Location::new(to_u32(e.marker().line()), to_u32(e.marker().col() + 1)),
        })?;
        let span = convert_span(span);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Error::MultipleDocuments {
                        location: span.start,
                    });
                }
            }
            Event::StreamEnd => break,
            other => builder.event(other, span)?,
        }
    }
    builder.finish()
}

fn convert_span(span: YamlSpan) -> Span {
    Span {
        start: Location::new(to_u32(span.start.line()), to_u32(span.start.col() + 1)),
        end: Location::new(to_u32(span.end.line()), to_u32(span.end.col() + 1)),
    }
}

struct Frame {
    kind: Kind,
    /// Index into `Builder::pending` where this collection's children start.
    base: usize,
    anchor: usize,
    start: Location,
    /// Expanded size of the children so far.
    size: u64,
}

#[derive(Default)]
struct Builder {
    tree: Tree,
    frames: Vec<Frame>,
    pending: Vec<NodeId>,
    /// anchor id → (node, expanded size)
    anchors: std::collections::HashMap<usize, (NodeId, u64)>,
    expanded: u64,
    first_big_alias: Option<Location>,
}

impl Builder {
    /// A builder whose arena vectors are sized for `text_len` bytes of source up front: the
    /// pages are only touched as they are filled, and growing by reallocation would copy the
    /// arena and briefly hold it twice (RED files average about 6 bytes per node).
    fn with_capacity(text_len: usize) -> Self {
        let nodes = text_len / 4 + 16;
        let mut builder = Self::default();
        builder.tree.nodes.reserve(nodes);
        builder.tree.children.reserve(nodes);
        builder.tree.text.reserve(text_len);
        builder
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Error> {
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let (kind, style) = scalar_kind(&value, style, tag.as_deref(), span.start)?;
                let id = self.tree.push_scalar(kind, style, &value, span);
                self.finish_node(id, anchor, 1);
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let kind = collection_kind(is_map, tag.as_deref(), span.start)?;
                self.frames.push(Frame {
                    kind,
                    base: self.pending.len(),
                    anchor,
                    start: span.start,
                    size: 0,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.frames.pop() else {
                    return Ok(());
                };
                let span = Span {
                    start: frame.start,
                    end: span.end,
                };
                let id = if frame.kind == Kind::Map {
                    self.close_map(&frame, span)?
                } else {
                    let id =
                        self.tree
                            .push_collection(frame.kind, &self.pending[frame.base..], span);
                    self.pending.truncate(frame.base);
                    id
                };
                self.finish_node(id, frame.anchor, frame.size + 1);
            }
            Event::Alias(anchor) => {
                let &(id, size) = self.anchors.get(&anchor).ok_or(Error::UnknownAnchor {
                    location: span.start,
                })?;
                self.expanded = self.expanded.saturating_add(size);
                if self.expanded > MIN_EXPANSION_LIMIT && self.first_big_alias.is_none() {
                    self.first_big_alias = Some(span.start);
                }
                self.add_child(id, size);
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_node(&mut self, id: NodeId, anchor: usize, size: u64) {
        if anchor != 0 {
            self.anchors.insert(anchor, (id, size));
        }
        self.add_child(id, size);
    }

    fn add_child(&mut self, id: NodeId, size: u64) {
        if let Some(frame) = self.frames.last_mut() {
            frame.size = frame.size.saturating_add(size);
            self.pending.push(id);
        } else {
            self.tree.root = Some(id);
        }
    }

    fn close_map(&mut self, frame: &Frame, span: Span) -> Result<NodeId, Error> {
        let entries = &self.pending[frame.base..];
        let has_merge = entries
            .chunks_exact(2)
            .any(|pair| self.is_merge_key(pair[0]));
        let merged;
        let entries = if has_merge {
            merged = self.merge(entries)?;
            &merged[..]
        } else {
            entries
        };
        self.check_duplicates(entries)?;
        let id = self.tree.push_collection(Kind::Map, entries, span);
        self.pending.truncate(frame.base);
        Ok(id)
    }

    fn is_merge_key(&self, id: NodeId) -> bool {
        let node = self.tree.node(id);
        node.style() == Style::Plain && node.kind() == Kind::Str && node.text() == "<<"
    }

    /// Resolve `<<` merge keys: entries of the merged mappings come first, the mapping's own
    /// entries override them, and of several merged mappings the first listed wins.
    fn merge(&self, entries: &[NodeId]) -> Result<Vec<NodeId>, Error> {
        let mut sources: Vec<NodeId> = Vec::new();
        let mut own: Vec<NodeId> = Vec::new();
        for pair in entries.chunks_exact(2) {
            if !self.is_merge_key(pair[0]) {
                own.extend_from_slice(pair);
                continue;
            }
            let value = self.tree.node(pair[1]);
            match value.kind() {
                Kind::Map => sources.push(pair[1]),
                Kind::Seq => {
                    let maps: Vec<_> = value.items().collect();
                    if let Some(bad) = maps.iter().find(|m| !m.is_map()) {
                        return Err(Error::BadMerge {
                            location: bad.span().start,
                        });
                    }
                    sources.extend(maps.iter().rev().map(|m| m.id()));
                }
                _ => {
                    return Err(Error::BadMerge {
                        location: value.span().start,
                    });
                }
            }
        }
        let tree = &self.tree;
        let mut result: Vec<NodeId> = Vec::new();
        for source in sources {
            for (key, value) in tree.node(source).entries() {
                match result
                    .chunks_exact(2)
                    .position(|pair| same_key(tree, pair[0], key.id()))
                {
                    Some(i) => result[2 * i + 1] = value.id(),
                    None => result.extend([key.id(), value.id()]),
                }
            }
        }
        let merged_len = result.len();
        let mut overridden = vec![false; merged_len / 2];
        for pair in own.chunks_exact(2) {
            let existing = result[..merged_len]
                .chunks_exact(2)
                .position(|p| same_key(tree, p[0], pair[0]));
            match existing {
                Some(i) if !overridden[i] => {
                    result[2 * i + 1] = pair[1];
                    overridden[i] = true;
                }
                // A second own entry with the same key is left for the duplicate check.
                _ => result.extend_from_slice(pair),
            }
        }
        Ok(result)
    }

    fn check_duplicates(&self, entries: &[NodeId]) -> Result<(), Error> {
        let keys: Vec<NodeId> = entries.chunks_exact(2).map(|pair| pair[0]).collect();
        let duplicate = if keys.len() <= 16 {
            (1..keys.len()).find_map(|i| {
                keys[..i]
                    .iter()
                    .find(|&&k| same_key(&self.tree, k, keys[i]))
                    .map(|&first| (first, keys[i]))
            })
        } else {
            let mut seen = std::collections::HashMap::with_capacity(keys.len());
            keys.iter().find_map(|&k| {
                let node = self.tree.node(k);
                let identity = (key_class(node.kind()), node.text());
                if matches!(node.kind(), Kind::Seq | Kind::Map | Kind::ForeignCollection) {
                    return None;
                }
                seen.insert(identity, k).map(|first| (first, k))
            })
        };
        match duplicate {
            Some((first, second)) => {
                let key = self.tree.node(second);
                Err(Error::DuplicateKey {
                    key: key.text().to_owned(),
                    location: key.span().start,
                    first: self.tree.node(first).span().start,
                })
            }
            None => Ok(()),
        }
    }

    fn finish(self) -> Result<Tree, Error> {
        let mut tree = self.tree;
        if tree.root.is_none() {
            let id = tree.push_scalar(Kind::Null, Style::Plain, "", Span::default());
            tree.root = Some(id);
        }
        let physical = tree.len() as u64;
        let limit = MIN_EXPANSION_LIMIT.max(physical.saturating_mul(EXPANSION_FACTOR));
        if physical + self.expanded > limit {
            return Err(Error::AliasExpansion {
                limit,
                location: self.first_big_alias.unwrap_or_default(),
            });
        }
        Ok(tree)
    }
}

/// Keys are equal when they are the same kind of scalar with the same value.
fn same_key(tree: &Tree, a: NodeId, b: NodeId) -> bool {
    let (a, b) = (tree.node(a), tree.node(b));
    if matches!(a.kind(), Kind::Seq | Kind::Map | Kind::ForeignCollection) {
        return false;
    }
    if key_class(a.kind()) != key_class(b.kind()) {
        return false;
    }
    match a.kind() {
        Kind::Int | Kind::Float => a.as_f64() == b.as_f64() && a.as_int() == b.as_int(),
        Kind::Bool => a.as_bool() == b.as_bool(),
        Kind::Null => true,
        _ => a.text() == b.text(),
    }
}

fn key_class(kind: Kind) -> u8 {
    match kind {
        Kind::Int | Kind::Float => 1,
        Kind::Str => 2,
        Kind::Bool => 3,
        Kind::Null => 4,
        _ => 5,
    }
}

const CORE_PREFIX: &str = "tag:yaml.org,2002:";

fn tag_name(tag: &Tag) -> String {
    if tag.handle == CORE_PREFIX {
        format!("!!{}", tag.suffix)
    } else {
        tag.to_string()
    }
}

fn scalar_kind(
    value: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    location: Location,
) -> Result<(Kind, Style), Error> {
    let written = match style {
        ScalarStyle::Plain => Style::Plain,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
        _ => Style::Block,
    };
    let Some(tag) = tag else {
        let kind = if written == Style::Plain {
            scalar::resolve_plain(value)
        } else {
            Kind::Str
        };
        return Ok((kind, written));
    };
    if tag.handle == "!" && tag.suffix.is_empty() {
        return Ok((Kind::Str, written)); // the non-specific tag `!` forces a string
    }
    if tag.handle != CORE_PREFIX {
        return Err(Error::UnknownTag {
            tag: tag_name(tag),
            location,
        });
    }
    let kind = match tag.suffix.as_str() {
        "str" => Kind::Str,
        "binary" => Kind::Binary,
        "null" => Kind::Null,
        "bool" | "int" | "float" | "timestamp" => {
            let expected = match tag.suffix.as_str() {
                "bool" => Kind::Bool,
                "int" => Kind::Int,
                "float" => Kind::Float,
                _ => Kind::Timestamp,
            };
            let resolved = scalar::resolve_plain(value);
            if resolved == expected || (expected == Kind::Float && resolved == Kind::Int) {
                expected
            } else {
                return Err(Error::BadTaggedValue {
                    tag: tag_name(tag),
                    text: value.to_owned(),
                    location,
                });
            }
        }
        _ => {
            return Err(Error::UnknownTag {
                tag: tag_name(tag),
                location,
            });
        }
    };
    Ok((kind, written))
}

fn collection_kind(is_map: bool, tag: Option<&Tag>, location: Location) -> Result<Kind, Error> {
    let plain = if is_map { Kind::Map } else { Kind::Seq };
    let Some(tag) = tag else { return Ok(plain) };
    if tag.handle == "!" && tag.suffix.is_empty() {
        return Ok(plain);
    }
    if tag.handle != CORE_PREFIX {
        return Err(Error::UnknownTag {
            tag: tag_name(tag),
            location,
        });
    }
    match (tag.suffix.as_str(), is_map) {
        ("map", true) | ("seq", false) => Ok(plain),
        ("set", true) | ("omap" | "pairs", false) => Ok(Kind::ForeignCollection),
        _ => Err(Error::UnknownTag {
            tag: tag_name(tag),
            location,
        }),
    }
}

#[cfg(test)]
mod tests;
