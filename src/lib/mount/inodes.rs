//! The inode table: which path each inode number stands for, and how many lookups the kernel
//! holds on it.
//!
//! FUSE names files by inode numbers the filesystem hands out in `lookup`, `create` and
//! `mkdir`; the kernel gives them back with `forget` once it drops them. A remote only knows
//! paths, so the table maps both ways. Paths are relative to the mount's root (`""` is the root,
//! `a/b` a file below it). An inode is removed when its lookup count falls to zero; the root is
//! never removed. Renames move a node and everything below it; an unlinked node keeps its
//! number until forgotten but no longer answers to its path.

use std::collections::HashMap;

/// The root's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT: u64 = 1;

#[derive(Debug)]
struct Node {
    path: String,
    lookups: u64,
}

/// Inode numbers ↔ relative paths, with lookup counts.
#[derive(Debug)]
pub struct InodeTable {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Default for InodeTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The path of `name` inside the directory `parent` (both relative to the root).
#[must_use]
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The directory part of a relative path (`""` for entries of the root).
#[must_use]
pub fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

impl InodeTable {
    /// A table holding only the root.
    #[must_use]
    pub fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                path: String::new(),
                lookups: 1,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(String::new(), ROOT);
        Self {
            nodes,
            by_path,
            next: ROOT + 1,
        }
    }

    /// The path of an inode, if the kernel still holds it.
    #[must_use]
    pub fn path(&self, ino: u64) -> Option<&str> {
        self.nodes.get(&ino).map(|node| node.path.as_str())
    }

    /// The inode of a path, without counting a lookup.
    #[must_use]
    pub fn peek(&self, path: &str) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// The inode of `path` (a new one when it has none), counting one lookup.
    pub fn lookup(&mut self, path: &str) -> u64 {
        if let Some(&ino) = self.by_path.get(path)
            && let Some(node) = self.nodes.get_mut(&ino)
        {
            node.lookups = node.lookups.saturating_add(1);
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                path: path.to_owned(),
                lookups: 1,
            },
        );
        self.by_path.insert(path.to_owned(), ino);
        ino
    }

    /// The kernel dropped `count` lookups of `ino`; the inode goes when none is left.
    pub fn forget(&mut self, ino: u64, count: u64) {
        if ino == ROOT {
            return;
        }
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(count);
        if node.lookups == 0
            && let Some(node) = self.nodes.remove(&ino)
            && self.by_path.get(&node.path) == Some(&ino)
        {
            self.by_path.remove(&node.path);
        }
    }

    /// `path` was removed: its inode (if any) no longer answers to it.
    pub fn unlink(&mut self, path: &str) {
        self.by_path.remove(path);
    }

    /// `from` was renamed to `to`: move its inode and every inode below it. An inode that was
    /// at `to` is replaced (it no longer answers to that path).
    pub fn rename(&mut self, from: &str, to: &str) {
        self.unlink(to);
        let prefix = format!("{from}/");
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(path, _)| path.as_str() == from || path.starts_with(&prefix))
            .map(|(path, &ino)| (path.clone(), ino))
            .collect();
        // Entries that were below the replaced `to` lose their paths too.
        let below_to = format!("{to}/");
        self.by_path.retain(|path, _| !path.starts_with(&below_to));
        for (old, ino) in moved {
            self.by_path.remove(&old);
            let new = format!("{to}{}", &old[from.len()..]);
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path.clone_from(&new);
            }
            self.by_path.insert(new, ino);
        }
    }

    /// How many inodes the table holds (the root included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: the root is never removed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_counted_and_forget_removes_at_zero() {
        let mut table = InodeTable::new();
        let a = table.lookup("a");
        assert_eq!(table.lookup("a"), a);
        assert_eq!(table.path(a), Some("a"));
        table.forget(a, 1);
        assert_eq!(table.path(a), Some("a"));
        table.forget(a, 1);
        assert_eq!(table.path(a), None);
        assert_eq!(table.peek("a"), None);
        let again = table.lookup("a");
        assert_ne!(again, a, "numbers are not reused");
    }

    #[test]
    fn the_root_is_never_forgotten() {
        let mut table = InodeTable::new();
        table.forget(ROOT, 100);
        assert_eq!(table.path(ROOT), Some(""));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn rename_moves_the_subtree_and_replaces_the_target() {
        let mut table = InodeTable::new();
        let dir = table.lookup("d");
        let file = table.lookup("d/f");
        let deep = table.lookup("d/e/g");
        let other = table.lookup("dx");
        let old_target = table.lookup("t");
        let old_target_child = table.lookup("t/c");
        table.rename("d", "t");
        assert_eq!(table.path(dir), Some("t"));
        assert_eq!(table.path(file), Some("t/f"));
        assert_eq!(table.path(deep), Some("t/e/g"));
        assert_eq!(
            table.path(other),
            Some("dx"),
            "a sibling with the same prefix stays"
        );
        assert_eq!(table.peek("t"), Some(dir));
        assert_eq!(table.peek("t/c"), None);
        assert_eq!(table.peek("d/f"), None);
        // The replaced inodes still exist until forgotten, and forgetting them leaves the new
        // owners of their old paths alone.
        table.forget(old_target, 1);
        table.forget(old_target_child, 1);
        assert_eq!(table.peek("t"), Some(dir));
    }

    #[test]
    fn unlinked_inodes_keep_their_number_until_forgotten() {
        let mut table = InodeTable::new();
        let a = table.lookup("a");
        table.unlink("a");
        assert_eq!(table.peek("a"), None);
        let b = table.lookup("a");
        assert_ne!(a, b);
        table.forget(a, 1);
        assert_eq!(
            table.peek("a"),
            Some(b),
            "forgetting the old inode keeps the new one"
        );
    }

    #[test]
    fn paths_join_and_split() {
        assert_eq!(child("", "a"), "a");
        assert_eq!(child("a", "b"), "a/b");
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
    }
}
