//! The parsed document: a compact, ordered, located tree of YAML/JSON values.
//!
//! RED files can hold 100,000 batches, so the tree is an arena: every node is a small fixed-size
//! record in one vector, the children of mappings and sequences are runs of node ids in a second
//! vector, and all scalar text lives in one string buffer. A 4 MB file becomes about 20 MB of
//! tree instead of the 10x that boxed nodes would cost. YAML aliases reuse the id of the anchored
//! node, so the tree is a DAG whose expanded size is bounded by the parser.
//!
//! Scalars keep the exact text they were written with: a number's lexeme (`1.50`, `0x1F`) is what
//! argv building and conversion print, and its value is computed from that text on demand.
//! Consumers walk the tree through [`NodeRef`], which never panics on malformed shapes.

pub mod number;

use crate::source::Span;

/// Index of a node in its [`Tree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub(crate) u32);

/// What a node is, after YAML 1.2 core-schema resolution (the rules ruamel.yaml applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `null`, `~`, or nothing.
    Null,
    /// `true` / `false` in one of the three spellings YAML 1.2 allows.
    Bool,
    /// An integer of any size (`42`, `0x1F`, `0o17`, `-0`).
    Int,
    /// A floating-point number (`1.5`, `1e3`, `.inf`, `.nan`).
    Float,
    /// Text.
    Str,
    /// A YAML timestamp (`2020-01-01`): not a JSON type, so it fails every schema type check.
    Timestamp,
    /// A `!!binary` scalar: not a JSON type.
    Binary,
    /// A sequence.
    Seq,
    /// A mapping: alternating key and value ids.
    Map,
    /// `!!set` or `!!omap`: a collection that is not a JSON type.
    ForeignCollection,
}

/// How a scalar was written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// Plain, unquoted text (or a collection).
    Plain,
    /// Single or double quoted.
    Quoted,
    /// A `|` or `>` block scalar.
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeData {
    pub(crate) kind: Kind,
    pub(crate) style: Style,
    /// For scalars: offset into `Tree::text`; for collections: offset into `Tree::children`.
    pub(crate) start: u32,
    /// For scalars: byte length; for collections: number of child ids (2 per mapping entry).
    pub(crate) len: u32,
    pub(crate) span: Span,
}

/// An arena of nodes; `root` is the document's top-level value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub(crate) nodes: Vec<NodeData>,
    pub(crate) children: Vec<NodeId>,
    pub(crate) text: String,
    pub(crate) root: Option<NodeId>,
}

impl Tree {
    /// The top-level value.
    #[must_use]
    pub fn root(&self) -> NodeRef<'_> {
        NodeRef {
            tree: self,
            id: self.root.unwrap_or(NodeId(0)),
        }
    }

    /// A node by id.
    #[must_use]
    pub fn node(&self, id: NodeId) -> NodeRef<'_> {
        NodeRef { tree: self, id }
    }

    /// Every physical node once, in the order they were built (children before their parents;
    /// aliases are not repeated). A flat scan, for questions like "is there any non-string
    /// key?" that do not need paths.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeRef<'_>> + '_ {
        (0..self.nodes.len()).map(move |i| NodeRef {
            tree: self,
            id: NodeId(u32::try_from(i).unwrap_or(u32::MAX)),
        })
    }

    /// Number of physical nodes (aliases not expanded).
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub(crate) fn push_scalar(
        &mut self,
        kind: Kind,
        style: Style,
        value: &str,
        span: Span,
    ) -> NodeId {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(value);
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.push(NodeData {
            kind,
            style,
            start,
            len,
            span,
        })
    }

    pub(crate) fn push_collection(&mut self, kind: Kind, items: &[NodeId], span: Span) -> NodeId {
        let start = u32::try_from(self.children.len()).unwrap_or(u32::MAX);
        self.children.extend_from_slice(items);
        let len = u32::try_from(items.len()).unwrap_or(u32::MAX);
        self.push(NodeData {
            kind,
            style: Style::Plain,
            start,
            len,
            span,
        })
    }

    fn push(&mut self, data: NodeData) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(data);
        id
    }

    fn data(&self, id: NodeId) -> &NodeData {
        &self.nodes[id.0 as usize]
    }
}

/// A borrowed view of one node.
#[derive(Clone, Copy)]
pub struct NodeRef<'t> {
    tree: &'t Tree,
    id: NodeId,
}

impl std::fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}@{}", self.kind(), self.span().start)
    }
}

impl<'t> NodeRef<'t> {
    /// This node's id.
    #[must_use]
    pub fn id(self) -> NodeId {
        self.id
    }

    /// The tree this node belongs to.
    #[must_use]
    pub fn tree(self) -> &'t Tree {
        self.tree
    }

    /// What the node is.
    #[must_use]
    pub fn kind(self) -> Kind {
        self.tree.data(self.id).kind
    }

    /// How the scalar was written.
    #[must_use]
    pub fn style(self) -> Style {
        self.tree.data(self.id).style
    }

    /// Where the node is in the source.
    #[must_use]
    pub fn span(self) -> Span {
        self.tree.data(self.id).span
    }

    /// The scalar's text: the string value, or a number's lexeme as written. Empty for
    /// collections.
    #[must_use]
    pub fn text(self) -> &'t str {
        let data = self.tree.data(self.id);
        if matches!(data.kind, Kind::Seq | Kind::Map | Kind::ForeignCollection) {
            return "";
        }
        let start = data.start as usize;
        &self.tree.text[start..start + data.len as usize]
    }

    /// The string value, if the node is a string.
    #[must_use]
    pub fn as_str(self) -> Option<&'t str> {
        (self.kind() == Kind::Str).then(|| self.text())
    }

    /// The boolean value, if the node is a boolean.
    #[must_use]
    pub fn as_bool(self) -> Option<bool> {
        (self.kind() == Kind::Bool).then(|| self.text().eq_ignore_ascii_case("true"))
    }

    /// The integer value, if the node is an integer that fits in an `i128`.
    #[must_use]
    pub fn as_int(self) -> Option<i128> {
        (self.kind() == Kind::Int)
            .then(|| number::int_value(self.text()))
            .flatten()
    }

    /// The float value of a float or integer node.
    #[must_use]
    pub fn as_f64(self) -> Option<f64> {
        match self.kind() {
            Kind::Float => number::float_value(self.text()),
            Kind::Int => number::int_value(self.text()).map(|v| v as f64),
            _ => None,
        }
    }

    /// Whether this is a mapping.
    #[must_use]
    pub fn is_map(self) -> bool {
        self.kind() == Kind::Map
    }

    /// Whether this is a sequence.
    #[must_use]
    pub fn is_seq(self) -> bool {
        self.kind() == Kind::Seq
    }

    fn child_ids(self) -> &'t [NodeId] {
        let data = self.tree.data(self.id);
        if !matches!(data.kind, Kind::Seq | Kind::Map | Kind::ForeignCollection) {
            return &[];
        }
        let start = data.start as usize;
        &self.tree.children[start..start + data.len as usize]
    }

    /// The items of a sequence (empty for anything else).
    pub fn items(self) -> impl ExactSizeIterator<Item = NodeRef<'t>> + DoubleEndedIterator + 't {
        let tree = self.tree;
        let ids = if self.kind() == Kind::Seq {
            self.child_ids()
        } else {
            &[]
        };
        ids.iter().map(move |&id| NodeRef { tree, id })
    }

    /// Item `index` of a sequence (`None` past the end, or for anything else).
    #[must_use]
    pub fn item(self, index: usize) -> Option<NodeRef<'t>> {
        if self.kind() != Kind::Seq {
            return None;
        }
        let id = *self.child_ids().get(index)?;
        Some(NodeRef {
            tree: self.tree,
            id,
        })
    }

    /// Entry `index` of a mapping as (key, value) (`None` past the end, or for anything else).
    #[must_use]
    pub fn entry(self, index: usize) -> Option<(NodeRef<'t>, NodeRef<'t>)> {
        if self.kind() != Kind::Map {
            return None;
        }
        let pair = self.child_ids().get(index * 2..index * 2 + 2)?;
        let tree = self.tree;
        Some((NodeRef { tree, id: pair[0] }, NodeRef { tree, id: pair[1] }))
    }

    /// The (key, value) entries of a mapping in document order (empty for anything else).
    pub fn entries(
        self,
    ) -> impl ExactSizeIterator<Item = (NodeRef<'t>, NodeRef<'t>)> + DoubleEndedIterator + 't {
        let tree = self.tree;
        let ids = if self.kind() == Kind::Map {
            self.child_ids()
        } else {
            &[]
        };
        ids.chunks_exact(2)
            .map(move |pair| (NodeRef { tree, id: pair[0] }, NodeRef { tree, id: pair[1] }))
    }

    /// Number of items or entries; 0 for scalars.
    #[must_use]
    pub fn len(self) -> usize {
        match self.kind() {
            Kind::Map => self.child_ids().len() / 2,
            Kind::Seq => self.child_ids().len(),
            _ => 0,
        }
    }

    /// Whether a collection is empty (scalars count as empty).
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The value under a string key of a mapping.
    #[must_use]
    pub fn get(self, key: &str) -> Option<NodeRef<'t>> {
        self.get_entry(key).map(|(_, value)| value)
    }

    /// The (key, value) entry under a string key of a mapping.
    #[must_use]
    pub fn get_entry(self, key: &str) -> Option<(NodeRef<'t>, NodeRef<'t>)> {
        self.entries().find(|(k, _)| k.as_str() == Some(key))
    }

    /// Follow a JSON pointer (`/inputs/file/connector`) from this node.
    #[must_use]
    pub fn pointer(self, pointer: &str) -> Option<NodeRef<'t>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut node = self;
        for segment in pointer.strip_prefix('/')?.split('/') {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            node = match node.kind() {
                Kind::Map => node.get(&segment)?,
                Kind::Seq => node.item(segment.parse().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The name of this node's type as users know it from JSON and YAML.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self.kind() {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Int => "integer",
            Kind::Float => "number",
            Kind::Str => "string",
            Kind::Timestamp => "timestamp",
            Kind::Binary => "binary",
            Kind::Seq => "list",
            Kind::Map => "mapping",
            Kind::ForeignCollection => "set",
        }
    }
}

/// Escape one JSON-pointer segment (`~` → `~0`, `/` → `~1`).
#[must_use]
pub fn escape_pointer_segment(segment: &str) -> std::borrow::Cow<'_, str> {
    if segment.contains(['~', '/']) {
        segment.replace('~', "~0").replace('/', "~1").into()
    } else {
        segment.into()
    }
}
