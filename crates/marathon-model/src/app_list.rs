//! A group's own apps, shared between trees as one list.
//!
//! Every write copies the root it changes (the target), and the model keeps that copy; on a root
//! of 50,000 apps, copying each group's apps one reference at a time touched 50,000 reference
//! counts spread over the heap, and dropping the copy touched them again: about 4 of the 5 ms a
//! copy took, and most of its drop. A group's apps are therefore one shared list: copying a tree
//! copies one reference per group, and a change copies only the lists it touches.
//!
//! Reading goes through `Deref` to the list. Changing goes through `DerefMut`, which first
//! copies the list if another tree still holds it (copy on write, [`Arc::make_mut`]): only a
//! method that changes the list pays for the copy, so reading through `&mut` costs nothing more.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SharedApp;

/// The apps of one group (see the module documentation).
#[derive(Clone, Default)]
pub struct AppList(Arc<Vec<SharedApp>>);

impl AppList {
    /// True when both are the very same list: then every app in them is the same.
    pub fn ptr_eq(a: &AppList, b: &AppList) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for AppList {
    type Target = Vec<SharedApp>;
    fn deref(&self) -> &Vec<SharedApp> {
        &self.0
    }
}

impl DerefMut for AppList {
    fn deref_mut(&mut self) -> &mut Vec<SharedApp> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<SharedApp>> for AppList {
    fn from(apps: Vec<SharedApp>) -> AppList {
        AppList(Arc::new(apps))
    }
}

impl FromIterator<SharedApp> for AppList {
    fn from_iter<I: IntoIterator<Item = SharedApp>>(iter: I) -> AppList {
        AppList::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a AppList {
    type Item = &'a SharedApp;
    type IntoIter = std::slice::Iter<'a, SharedApp>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Copies the list first if another tree shares it (see [`DerefMut`]).
impl<'a> IntoIterator for &'a mut AppList {
    type Item = &'a mut SharedApp;
    type IntoIter = std::slice::IterMut<'a, SharedApp>;
    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

impl PartialEq for AppList {
    fn eq(&self, other: &AppList) -> bool {
        AppList::ptr_eq(self, other) || self.0 == other.0
    }
}

impl std::fmt::Debug for AppList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for AppList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AppList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AppList, D::Error> {
        Vec::<SharedApp>::deserialize(deserializer).map(AppList::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::App;

    fn app(id: &str) -> SharedApp {
        SharedApp::new(App { id: Some(id.into()), ..App::default() })
    }

    #[test]
    fn a_copy_shares_the_list_until_one_of_them_changes() {
        let first: AppList = vec![app("/a"), app("/b")].into();
        let mut second = first.clone();
        assert!(AppList::ptr_eq(&first, &second));
        assert_eq!(second.len(), 2);
        assert!(AppList::ptr_eq(&first, &second), "reading does not copy");
        second.push(app("/c"));
        assert!(!AppList::ptr_eq(&first, &second));
        assert_eq!(first.len(), 2, "the other tree's list is left as it was");
        assert!(SharedApp::ptr_eq(&first[0], &second[0]), "the copied list still shares its apps");
    }

    #[test]
    fn serializes_as_the_list_it_holds() {
        let list: AppList = vec![app("/a")].into();
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, serde_json::to_string(&*list).unwrap());
        let back: AppList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }
}
