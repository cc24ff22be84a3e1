use std::time::{Duration, Instant};

use super::*;

fn view_at(version: i32, watched: Option<i32>) -> WatchedView<Vec<u64>> {
    let mut v = WatchedView::default();
    v.read(version, vec![], Instant::now());
    v.watched(watched);
    v
}

#[test]
fn a_view_is_taken_only_while_the_watch_set_at_or_before_it_has_not_fired() {
    assert_eq!(WatchedView::<Vec<u64>>::default().current(), None, "nothing read yet");
    assert_eq!(view_at(4, None).current(), None, "no watch set, or it fired");
    assert_eq!(view_at(4, Some(4)).current(), Some(4));
    assert_eq!(view_at(4, Some(5)).current(), None, "others admitted writes the view does not hold");
    assert_eq!(view_at(5, Some(4)).current(), Some(5), "ahead of the watch by this replica's own reservation");
}

#[test]
fn own_reservations_move_the_view_on_and_a_conflict_makes_it_stale() {
    let mut v = view_at(4, Some(4));
    assert!(v.reserved(4), "the listing takes the reservation in");
    assert_eq!(v.current(), Some(5));
    assert!(v.reserved(4), "a second look at the same reservation (the read raced it) still belongs");
    assert!(!v.reserved(2), "a reservation from an older version does not move a view further on");
    assert_eq!(v.current(), Some(5));
    v.conflicted(5);
    assert_eq!(v.current(), None, "the compare-and-set from 5 failed: read again");
    assert!(v.read(7, vec![6, 7], Instant::now()));
    assert_eq!(v.current(), Some(7));
    assert_eq!(v.listing, vec![6, 7]);
}

#[test]
fn an_older_read_does_not_replace_a_view_further_on() {
    let mut v = view_at(4, Some(4));
    assert!(v.reserved(4));
    assert!(!v.read(4, vec![1], Instant::now()), "the read began before the own reservation landed");
    assert_eq!(v.current(), Some(5));
    assert!(v.read(5, vec![1, 2], Instant::now()));
}

#[test]
fn a_view_read_a_while_ago_is_due_for_a_refresh() {
    let v = view_at(4, Some(4));
    let now = Instant::now();
    assert!(!v.due_for_refresh(now));
    assert!(v.due_for_refresh(now + REFRESH_AFTER + Duration::from_millis(1)));
    assert!(WatchedView::<Vec<u64>>::default().due_for_refresh(now));
}
