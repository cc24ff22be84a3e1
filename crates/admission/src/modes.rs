//! The mode of a write from the groups it touches (`[[admission.group]]`).
//!
//! A platform team relaxes admission for some subtrees (a sandbox in `off`, a dev tree in `warn`)
//! while the rest stays enforced. Which mode a write gets is policy, not configuration parsing, so
//! it lives here: the longest group prefix that contains an id gives that id's mode, and a write
//! that touches several ids gets the strictest of their modes (relaxing one subtree must never
//! relax a write that also reaches into another).

use crate::Mode;

/// The per-group modes, longest prefix first; ids under no prefix get the global mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupModes {
    /// (absolute group id without a trailing slash, mode), longest prefix first.
    groups: Vec<(String, Mode)>,
}

impl GroupModes {
    /// From `(prefix, mode)` pairs as written (a trailing slash is ignored; order does not matter).
    pub fn new(groups: impl IntoIterator<Item = (String, Mode)>) -> GroupModes {
        let mut groups: Vec<(String, Mode)> = groups.into_iter().map(|(p, m)| (normalize_prefix(&p), m)).collect();
        groups.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        GroupModes { groups }
    }

    /// The prefixes and their modes, longest prefix first.
    pub fn groups(&self) -> &[(String, Mode)] {
        &self.groups
    }

    /// The mode for a write touching `ids` (absolute paths): the strictest of the modes of the
    /// longest matching prefix of each id; `global` where none matches, and for no id at all.
    pub fn mode_for<'a>(&self, global: Mode, ids: impl IntoIterator<Item = &'a str>) -> Mode {
        ids.into_iter().map(|id| self.mode_of(global, id)).reduce(stricter).unwrap_or(global)
    }

    fn mode_of(&self, global: Mode, id: &str) -> Mode {
        self.groups.iter().find(|(prefix, _)| prefix_matches(prefix, id)).map_or(global, |(_, m)| *m)
    }
}

fn normalize_prefix(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.into()
    }
}

/// `/dev` matches `/dev` and `/dev/x`, not `/devops`.
fn prefix_matches(prefix: &str, id: &str) -> bool {
    prefix == "/" || id == prefix || (id.starts_with(prefix) && id.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn stricter(a: Mode, b: Mode) -> Mode {
    let rank = |m: Mode| match m {
        Mode::Enforce => 2,
        Mode::Warn => 1,
        Mode::Off => 0,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_modes() -> GroupModes {
        GroupModes::new([("/dev".to_string(), Mode::Warn), ("/dev/sandbox/".to_string(), Mode::Off)])
    }

    #[test]
    fn longest_prefix_wins() {
        let m = dev_modes();
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev/web"]), Mode::Warn);
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev"]), Mode::Warn);
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev/sandbox/a"]), Mode::Off);
        assert_eq!(m.groups()[0], ("/dev/sandbox".to_string(), Mode::Off));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let m = dev_modes();
        assert_eq!(m.mode_for(Mode::Enforce, ["/devops/x"]), Mode::Enforce);
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev/sandboxed"]), Mode::Warn);
    }

    #[test]
    fn several_ids_take_the_strictest() {
        let m = dev_modes();
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev/sandbox/a", "/dev/x"]), Mode::Warn);
        assert_eq!(m.mode_for(Mode::Enforce, ["/dev/x", "/prod/y"]), Mode::Enforce);
    }

    #[test]
    fn no_id_or_no_group_is_the_global_mode() {
        assert_eq!(dev_modes().mode_for(Mode::Enforce, []), Mode::Enforce);
        assert_eq!(GroupModes::default().mode_for(Mode::Warn, ["/dev/x"]), Mode::Warn);
    }

    #[test]
    fn the_root_prefix_covers_everything() {
        let m = GroupModes::new([("/".to_string(), Mode::Off), ("/prod".to_string(), Mode::Enforce)]);
        assert_eq!(m.mode_for(Mode::Warn, ["/anything"]), Mode::Off);
        assert_eq!(m.mode_for(Mode::Warn, ["/prod/web"]), Mode::Enforce);
        assert_eq!(GroupModes::new([("///".to_string(), Mode::Off)]).groups()[0].0, "/");
    }
}
