//! What a `save:` folder holds, and whether a path may become one: `save:`
//! replaces a folder as a whole, so it may only replace one it wrote.

use std::path::Path;

/// The files `save:` copies from its run folder.
pub const COPIED: [&str; 4] = ["model.bpk", "model.json", "settings.json", "trained.json"];

/// The file `save:` writes besides them: the model as `load(...)` reads it.
pub const MODEL: &str = "model.pipe";

/// Why `target` may not become a `save:` folder: it is a file, or a folder
/// holding entries `save:` does not write (the first few named). `None`
/// when it is absent, empty, or a folder `save:` wrote. Messages name it
/// `shown` (as the user wrote it).
pub fn refusal(target: &Path, shown: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(target).ok()?;
    if !meta.is_dir() {
        return Some(format!("`{}` is a file, not a folder `save:` wrote", shown.display()));
    }
    let entries = match std::fs::read_dir(target) {
        Ok(entries) => entries,
        Err(e) => return Some(format!("`{}` cannot be read: {e}", shown.display())),
    };
    let mut foreign: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !COPIED.contains(&name.as_str()) && name != MODEL && name != super::checksums::FILE)
        .collect();
    if foreign.is_empty() {
        return None;
    }
    foreign.sort();
    let more = if foreign.len() > 3 { format!(" and {} more", foreign.len().saturating_sub(3)) } else { String::new() };
    foreign.truncate(3);
    Some(format!(
        "`{}` holds files `save:` did not write ({}{more}), and `save:` replaces the whole folder",
        shown.display(),
        foreign.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absent_empty_or_saved_folders_may_be_replaced() {
        let dir = std::env::temp_dir().join(format!("pipe-saved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("saved")).unwrap();
        assert_eq!(refusal(&dir.join("absent"), Path::new("absent")), None);
        assert_eq!(refusal(&dir.join("saved"), Path::new("saved")), None, "empty");
        for file in COPIED.iter().chain([&MODEL, &crate::files::checksums::FILE]) {
            std::fs::write(dir.join("saved").join(file), b"x").unwrap();
        }
        assert_eq!(refusal(&dir.join("saved"), Path::new("saved")), None, "written by save:");
        std::fs::write(dir.join("saved/iris.csv"), b"a,b\n").unwrap();
        let refused = refusal(&dir.join("saved"), Path::new("saved")).expect("a user's file");
        assert!(refused.contains("iris.csv"), "{refused}");
        std::fs::write(dir.join("file"), b"x").unwrap();
        assert!(refusal(&dir.join("file"), Path::new("file")).expect("a file").contains("is a file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
