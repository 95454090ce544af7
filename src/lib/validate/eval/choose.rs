//! Choosing the `anyOf`/`oneOf` branch to blame when none fits.
//!
//! Reporting every branch's failures would bury the user; reporting none says nothing. The
//! branch the user most likely meant is chosen: the only one whose type fits; else the one
//! named by a `class`/`type` value when the branches' allowed values are disjoint; else the one
//! whose exclusive required keys are present (`inputs` vs `batches`, `count` vs `devices`), with
//! a single clear error when both or neither are; else the one with the fewest failures.

use serde_json::Value;

use super::{Eval, FailKind, Failure, enum_contains, matches_type, type_phrase};
use crate::tree::{Kind, NodeRef};
use crate::validate::path::Seg;
use crate::validate::schema::{Compiled, JType};

impl<'t> Eval<'t> {
    /// The types a branch accepts, looking through `$ref`s (empty: any).
    fn branch_types(&self, id: usize) -> &'static [JType] {
        &self.schema.resolve(id).types
    }

    /// No branch fits: report the failures of the one the user most likely meant.
    pub(super) fn choose(&mut self, branches: &[usize], node: NodeRef<'t>, depth: usize) {
        let schema = self.schema;
        let compatible: Vec<usize> = branches
            .iter()
            .copied()
            .filter(|&b| {
                let types = self.branch_types(b);
                types.is_empty() || types.iter().any(|&t| matches_type(t, node))
            })
            .collect();
        match compatible.as_slice() {
            [] => {
                let described = branches.iter().map(|&b| describe(schema, b)).collect();
                self.fail(node, FailKind::NoAlternative(described));
                return;
            }
            [only] => {
                self.check(*only, node, depth);
                return;
            }
            _ => {}
        }
        if node.kind() == Kind::Map {
            if self.discriminate(&compatible, node, depth) {
                return;
            }
            if self.by_exclusive_keys(&compatible, node, depth) {
                return;
            }
        }
        // Fall back to the branch with the fewest failures (the first on a tie).
        let saved = std::mem::take(&mut self.failures);
        let mut best: Option<Vec<Failure<'t>>> = None;
        for &b in &compatible {
            self.check(b, node, depth);
            let found = std::mem::take(&mut self.failures);
            if best.as_ref().is_none_or(|f| found.len() < f.len()) {
                best = Some(found);
            }
        }
        self.failures = saved;
        self.failures.extend(best.unwrap_or_default());
    }

    /// Pick a branch by the value of `class` or `type` when the branches' enums are disjoint.
    fn discriminate(&mut self, branches: &[usize], node: NodeRef<'t>, depth: usize) -> bool {
        let schema = self.schema;
        for key in ["class", "type"] {
            let enums: Option<Vec<&'static [Value]>> = branches
                .iter()
                .map(|&b| {
                    let p = schema.resolve(b).property(key)?;
                    schema.resolve(p).enumeration.as_deref()
                })
                .collect();
            let Some(enums) = enums else { continue };
            let disjoint = enums.iter().enumerate().all(|(i, a)| {
                enums
                    .iter()
                    .skip(i + 1)
                    .all(|b| a.iter().all(|v| !b.contains(v)))
            });
            if !disjoint {
                continue;
            }
            let all: Vec<&'static Value> = enums.iter().flat_map(|e| e.iter()).collect();
            match node.get_entry(key) {
                None => {
                    let key = if key == "class" { "class" } else { "type" };
                    self.fail(node, FailKind::Required(key));
                }
                Some((_, value)) => {
                    let chosen = enums.iter().position(|e| enum_contains(e, value));
                    match chosen.and_then(|i| branches.get(i)) {
                        Some(&b) => self.check(b, node, depth),
                        None => {
                            let seg = Seg::Key(if key == "class" { "class" } else { "type" });
                            self.fail_at_child(value, seg, FailKind::Enum(all));
                        }
                    }
                }
            }
            return true;
        }
        false
    }

    /// Check a branch, dropping its complaints about the keys that select the form (they are
    /// reported once, by the caller).
    fn check_filtered(&mut self, branch: usize, node: NodeRef<'t>, depth: usize, keys: &[&str]) {
        let start = self.failures.len();
        let here = self.path.segments().len();
        self.check(branch, node, depth);
        let mut index = 0;
        self.failures.retain(|f| {
            index += 1;
            if index <= start {
                return true;
            }
            let about_key = match &f.kind {
                FailKind::Required(k) => f.path.len() == here && keys.contains(k),
                FailKind::Unknown(_) => {
                    f.path.len() == here + 1
                        && matches!(f.path.last(), Some(Seg::Key(k)) if keys.contains(k))
                }
                _ => false,
            };
            !about_key
        });
    }

    /// Pick a branch by its required keys that no other branch requires (`inputs` vs `batches`).
    fn by_exclusive_keys(&mut self, branches: &[usize], node: NodeRef<'t>, depth: usize) -> bool {
        let schema = self.schema;
        let required: Vec<&'static [String]> = branches
            .iter()
            .map(|&b| schema.resolve(b).required.as_slice())
            .collect();
        let exclusive: Vec<Vec<&'static str>> = required
            .iter()
            .enumerate()
            .map(|(i, own)| {
                own.iter()
                    .filter(|k| {
                        required
                            .iter()
                            .enumerate()
                            .all(|(j, other)| i == j || !other.contains(k))
                    })
                    .map(String::as_str)
                    .collect()
            })
            .collect();
        if exclusive.iter().any(Vec::is_empty) {
            return false;
        }
        let present: Vec<usize> = (0..branches.len())
            .filter(|&i| {
                exclusive
                    .get(i)
                    .is_some_and(|keys| keys.iter().any(|k| node.get(k).is_some()))
            })
            .collect();
        let firsts: Vec<&'static str> = exclusive
            .iter()
            .filter_map(|k| k.first().copied())
            .collect();
        let all_exclusive: Vec<&'static str> = exclusive.iter().flatten().copied().collect();
        match present.as_slice() {
            [i] => {
                if let Some(&b) = branches.get(*i) {
                    self.check(b, node, depth);
                }
            }
            [] => {
                self.fail(node, FailKind::NeedOneOf(firsts));
                // Still report what is wrong elsewhere, as the first form sees it.
                if let Some(&b) = branches.first() {
                    self.check_filtered(b, node, depth, &all_exclusive);
                }
            }
            [a, b, ..] => {
                let (Some(&first), Some(&second)) = (firsts.get(*a), firsts.get(*b)) else {
                    return true;
                };
                let location = node.get_entry(second).map_or(node, |(k, _)| k);
                self.fail_at_child(
                    location,
                    Seg::Key(second),
                    FailKind::Exclusive(first, second),
                );
                // Keys only the other form allows are not news either.
                let mut quiet = all_exclusive.clone();
                if let (Some(&other), Some(&chosen)) = (branches.get(*a), branches.get(*b)) {
                    let chosen_node = schema.resolve(chosen);
                    quiet.extend(
                        schema
                            .resolve(other)
                            .properties
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .filter(|k| chosen_node.property(k).is_none()),
                    );
                }
                if let Some(&branch) = branches.get(*b) {
                    self.check_filtered(branch, node, depth, &quiet);
                }
            }
        }
        true
    }
}

/// How a branch reads in a message: "a string", "a list of strings", "a `File` object".
fn describe(schema: &'static Compiled, id: usize) -> String {
    let node = schema.resolve(id);
    if let Some(class) = node
        .property("class")
        .and_then(|p| schema.resolve(p).enumeration.as_ref())
    {
        let names: Vec<String> = class
            .iter()
            .filter_map(Value::as_str)
            .map(|c| format!("`{c}`"))
            .collect();
        return format!("a {} object", names.join("/"));
    }
    match node.types.first() {
        Some(JType::Array) => match node.items.map(|i| schema.resolve(i).types.as_slice()) {
            Some([JType::String]) => "a list of strings".to_owned(),
            _ => "a list".to_owned(),
        },
        Some(&t) => type_phrase(t).to_owned(),
        None => "a value".to_owned(),
    }
}
