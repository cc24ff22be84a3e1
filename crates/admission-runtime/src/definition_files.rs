//! Definition files as deploy tools send them: what `marathon-admission check FILE|DIR...` judges.
//!
//! A pipeline keeps its apps (and groups, pods) as JSON files and deploys them one after the other
//! (`marathon-deploy --put DIR`, shpkpr): each is an update of what exists (`PUT /v2/apps/{id}
//! ?force=true`, as marathon-deploy sends it) or a creation (`POST /v2/apps`) of what does not.
//! Which one depends on the state the files before it leave, so the write is chosen when its turn
//! comes ([`Definition::write_on`]). A directory is read as marathon-deploy reads one: its files
//! by name, skipping names that start with `#` (and `.`); here only `*.json` ones, so that a
//! README beside them is no error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use marathon_model::{Group, PathId};

/// What a definition defines, from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    App,
    Group,
    Pod,
}

/// One definition file.
#[derive(Debug, Clone)]
pub struct Definition {
    /// As named on the command line (or under the directory named there).
    pub file: PathBuf,
    pub kind: Kind,
    pub id: PathId,
    /// The file's bytes, sent as they are.
    pub body: Vec<u8>,
}

impl Definition {
    /// Reads `bytes` (from `file`): a JSON object with an `id`; a pod when it has `containers`, a
    /// group when it has `apps` or `groups` and nothing an app runs (`cmd`, `args`, `container`),
    /// else an app. A relative id is taken from the root, as the deploy tools do.
    pub fn parse(file: &Path, bytes: Vec<u8>) -> anyhow::Result<Definition> {
        let what = || format!("{}", file.display());
        let value: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", what()))?;
        let obj = value.as_object().with_context(|| format!("{}: not a JSON object (an app, group or pod definition)", what()))?;
        let id = obj.get("id").and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty());
        let id = id.with_context(|| format!("{}: no \"id\"", what()))?;
        let has = |k: &str| obj.contains_key(k);
        let kind = if has("containers") {
            Kind::Pod
        } else if (has("apps") || has("groups")) && !(has("cmd") || has("args") || has("container")) {
            Kind::Group
        } else {
            Kind::App
        };
        Ok(Definition { file: file.to_path_buf(), kind, id: PathId::parse(&format!("/{}", id.trim().trim_start_matches('/'))), body: bytes })
    }

    /// The write a deploy tool sends for this file on `root`: method and path with query.
    pub fn write_on(&self, root: &Group) -> (&'static str, String) {
        let (collection, exists) = match self.kind {
            Kind::App => ("apps", root.find_app(&self.id).is_some()),
            Kind::Group => ("groups", root.find_group(&self.id).is_some()),
            Kind::Pod => ("pods", root.find_pod(&self.id).is_some()),
        };
        match exists {
            true if self.id.is_root() => ("PUT", format!("/v2/{collection}?force=true")),
            true => ("PUT", format!("/v2/{collection}{}?force=true", self.id)),
            false => ("POST", format!("/v2/{collection}")),
        }
    }
}

/// The definitions `paths` name, in order: a file as given, a directory's `*.json` files by name
/// (see the module documentation).
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<Definition>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && deployable_name(p))
            .collect();
        inside.sort();
        if inside.is_empty() {
            anyhow::bail!("{}: no *.json definition files in it", path.display());
        }
        files.extend(inside);
    }
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
            Definition::parse(&f, bytes)
        })
        .collect()
}

fn deployable_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".json") && !name.starts_with('#') && !name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(json: &str) -> Definition {
        Definition::parse(Path::new("d.json"), json.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn kinds_ids_and_writes() {
        let root = crate::live_model::parse_root(
            br#"{"id":"/","apps":[],"groups":[{"id":"/prod","apps":[{"id":"/prod/web","cmd":"x"}],"groups":[]}]}"#,
            marathon_model::ops::Flavour::V14,
        )
        .unwrap();
        let web = def(r#"{"id":"prod/web","cmd":"run"}"#);
        assert_eq!((web.kind, web.id.to_string()), (Kind::App, "/prod/web".to_string()));
        assert_eq!(web.write_on(&root), ("PUT", "/v2/apps/prod/web?force=true".to_string()));
        assert_eq!(def(r#"{"id":"/prod/api","container":{}}"#).write_on(&root), ("POST", "/v2/apps".to_string()));
        let group = def(r#"{"id":"/prod","apps":[{"id":"a","cmd":"x"}]}"#);
        assert_eq!(group.kind, Kind::Group);
        assert_eq!(group.write_on(&root), ("PUT", "/v2/groups/prod?force=true".to_string()));
        assert_eq!(def(r#"{"id":"/","groups":[]}"#).write_on(&root), ("PUT", "/v2/groups?force=true".to_string()));
        assert_eq!(def(r#"{"id":"/new","groups":[]}"#).write_on(&root), ("POST", "/v2/groups".to_string()));
        let pod = def(r#"{"id":"/prod/p","containers":[]}"#);
        assert_eq!((pod.kind, pod.write_on(&root)), (Kind::Pod, ("POST", "/v2/pods".to_string())));
        for (bad, needle) in [("[1]", "not a JSON object"), ("{\"cmd\":\"x\"}", "no \"id\""), ("{{ template }}", "not JSON")] {
            let e = format!("{:#}", Definition::parse(Path::new("bad.json"), bad.as_bytes().to_vec()).unwrap_err());
            assert!(e.contains("bad.json") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn directories_are_read_by_name_as_deploy_tools_read_them() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["20-b.json", "03-a.json", "#10-off.json", ".hidden.json"] {
            std::fs::write(dir.path().join(name), format!(r#"{{"id":"/x/{}","cmd":"c"}}"#, name.len())).unwrap();
        }
        std::fs::write(dir.path().join("README.md"), "# Our apps").unwrap();
        let extra = dir.path().join("README.md");
        let got = collect(&[dir.path().to_path_buf(), extra]).unwrap_err();
        assert!(format!("{got:#}").contains("README.md: not JSON"), "a file named alone is taken as given: {got:#}");
        let got = collect(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<String> = got.iter().map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["03-a.json", "20-b.json"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(format!("{:#}", collect(&[empty.path().to_path_buf()]).unwrap_err()).contains("no *.json"));
        assert!(collect(&[PathBuf::from("/nonexistent/defs")]).is_err());
    }
}
