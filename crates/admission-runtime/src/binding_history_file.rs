//! The binding node's history kept across restarts: `[admission] history_file`.
//!
//! Loaded once at start. A missing file starts a new history; an unreadable or corrupt one is a
//! warning and an empty history (it is replaced at the next save), never a failed start: the
//! history is for people planning ahead, not for decisions.
//!
//! Saved off the request path by one task, after a change and at most once per [`SAVE_SPACING`]
//! (a busy Marathon changes its root every second), written to a temporary file beside it,
//! flushed and renamed over it, so that a crash leaves the old file or the new one, never half of
//! one. What changed since the last save is written once more when the task is dropped, i.e. when
//! `serve` ends after SIGTERM, so a restart loses nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::binding_history::{Bounds, History};
use super::live_model::LiveModel;

/// At most one write of the file per this long.
pub const SAVE_SPACING: Duration = Duration::from_secs(60);

/// The history in `path`, or an empty one (with a warning saying why) when it cannot be read.
pub fn load(path: &Path, bounds: Bounds) -> History {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(file = %path.display(), "admission: no size history yet; starting one");
            return History::new(bounds);
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "admission: cannot read the size history; starting an empty one");
            return History::new(bounds);
        }
    };
    match History::from_json(&text, bounds) {
        Ok(h) => {
            tracing::info!(file = %path.display(), points = h.points.len(), "admission: size history loaded");
            h
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "admission: the size history file is corrupt; starting an empty one (the file is replaced at the next save)");
            History::new(bounds)
        }
    }
}

/// Writes `history` to `path` atomically (a temporary file beside it, flushed, renamed over it).
pub fn save(path: &Path, history: &History) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(history.to_json().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Loads `path` into `model`'s history, then keeps the file current (see the module docs).
pub fn spawn(model: &Arc<LiveModel>, path: PathBuf) {
    let loaded = load(&path, Bounds::default());
    model.replace_history(loaded);
    let saver = Saver { model: model.clone(), path, saved: None };
    tokio::spawn(saver.run());
}

struct Saver {
    model: Arc<LiveModel>,
    path: PathBuf,
    /// The history's change count at the last save.
    saved: Option<u64>,
}

impl Saver {
    async fn run(mut self) {
        loop {
            self.model.history_changed().await;
            if let Some((changes, history)) = self.pending() {
                let path = self.path.clone();
                match tokio::task::spawn_blocking(move || save(&path, &history)).await {
                    Ok(Ok(())) => self.saved = Some(changes),
                    Ok(Err(e)) => warn_unsaved(&self.path, &e),
                    Err(_) => {}
                }
            }
            tokio::time::sleep(SAVE_SPACING).await;
        }
    }

    /// The history, when it changed since the last save.
    fn pending(&self) -> Option<(u64, History)> {
        let (history, changes) = self.model.history_snapshot();
        (self.saved != Some(changes)).then_some((changes, history))
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        if let Some((_, history)) = self.pending() {
            if let Err(e) = save(&self.path, &history) {
                warn_unsaved(&self.path, &e);
            }
        }
    }
}

fn warn_unsaved(path: &Path, e: &std::io::Error) {
    tracing::warn!(file = %path.display(), error = %e, "admission: cannot save the size history (it is kept in memory; retried after the next change)");
}

#[cfg(test)]
mod tests {
    use super::super::binding_history::Levels;
    use super::*;

    #[test]
    fn saves_atomically_and_loads_back_and_bad_files_give_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.json");
        let bounds = Bounds::default();
        assert!(load(&path, bounds).points.is_empty(), "no file yet");

        let mut h = History::new(bounds);
        let levels = Levels { limit_bytes: 1000, reject_at_bytes: 990, warn_at_bytes: 800 };
        h.record(1_000, 10, levels);
        h.record(2_000, 30, levels);
        save(&path, &h).unwrap();
        assert_eq!(load(&path, bounds), h);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("history.json")], "no temporary file left behind");

        std::fs::write(&path, "{\"version\":1,\"points\":[[1,").unwrap();
        assert!(load(&path, bounds).points.is_empty(), "corrupt: empty");
        assert!(load(dir.path(), bounds).points.is_empty(), "a directory: unreadable, empty");

        // A directory that does not exist: an error, and nothing created.
        let missing = dir.path().join("nope").join("history.json");
        assert!(save(&missing, &h).is_err());
        assert!(!dir.path().join("nope").exists());
    }
}
