//! Where a filled document goes. It holds passwords, so it is written by
//! [`crate::output_file`] as a private file (mode 0600, whole or not at all).

use std::path::{Path, PathBuf};

/// The file `red fill` writes when no `-o` is given: the input's name with `.filled` before its
/// last extension, in the same directory (`exp.red.yml` → `exp.red.filled.yml`,
/// `exp.json` → `exp.filled.json`, `exp` → `exp.filled`). `None` for standard input.
#[must_use]
pub fn default_path(input: &Path) -> Option<PathBuf> {
    if input.as_os_str() == "-" {
        return None;
    }
    let name = input.file_name()?.to_string_lossy().into_owned();
    let filled = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}.filled.{extension}"),
        _ => format!("{name}.filled"),
    };
    Some(input.with_file_name(filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        let name = |p: &str| default_path(Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(
            name("d/exp.red.yml").as_deref(),
            Some("d/exp.red.filled.yml")
        );
        assert_eq!(name("exp.json").as_deref(), Some("exp.filled.json"));
        assert_eq!(name("exp").as_deref(), Some("exp.filled"));
        assert_eq!(name(".hidden").as_deref(), Some(".hidden.filled"));
        assert_eq!(name("-"), None);
    }
}
