//! Scratch directories for the files a test writes and reads back.

use std::path::{Path, PathBuf};

/// A fresh directory in the system's temp dir, removed with its contents on drop.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    /// A new directory; `name` (the test's) shows in its path.
    pub fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("lps-{name}-"))
            .tempdir()
            .expect("a scratch directory in the temp dir");
        Scratch(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.0.path()
    }

    /// `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Writes `text` to `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}
