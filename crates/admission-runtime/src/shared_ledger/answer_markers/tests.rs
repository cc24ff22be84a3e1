use super::*;

fn names(r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("a-{i:010}-1")).collect()
}

#[test]
fn the_first_waiting_marker_schedules_one_flush_which_the_next_marker_after_it_schedules_again() {
    let mut m = AnswerMarkers::default();
    assert!(m.push("a".into()));
    assert!(!m.push("b".into()), "one flush is already scheduled");
    assert_eq!(m.take_for_flush(), vec!["a".to_string(), "b".to_string()]);
    assert!(m.take_for_flush().is_empty());
    assert!(m.push("c".into()), "the flush ran: the next marker needs another");
}

#[test]
fn markers_ride_oldest_first_and_at_most_so_many_at_once() {
    let mut m = AnswerMarkers::default();
    for n in names(0..RIDE_AT_MOST + 3) {
        m.push(n);
    }
    assert_eq!(m.take_to_ride(), names(0..RIDE_AT_MOST));
    assert_eq!(m.take_to_ride(), names(RIDE_AT_MOST..RIDE_AT_MOST + 3));
    assert!(m.take_to_ride().is_empty());
    // The flush scheduled for them finds nothing left.
    assert!(m.take_for_flush().is_empty());
}

#[test]
fn markers_of_a_failed_reservation_ride_again_before_newer_ones() {
    let mut m = AnswerMarkers::default();
    for n in names(0..3) {
        m.push(n);
    }
    let riding = m.take_to_ride();
    m.push(names(3..4).remove(0));
    m.failed(riding);
    assert_eq!(m.take_to_ride(), names(0..4));
}

#[test]
fn markers_perhaps_written_never_ride_again_but_the_flush_writes_them() {
    let mut m = AnswerMarkers::default();
    m.push("a".into());
    let riding = m.take_to_ride();
    m.take_for_flush();
    assert!(m.uncertain(riding), "nothing was scheduled: they need a flush");
    assert!(m.take_to_ride().is_empty());
    assert_eq!(m.take_for_flush(), vec!["a".to_string()]);
}

#[test]
fn markers_put_back_while_a_flush_is_scheduled_wait_for_it() {
    let mut m = AnswerMarkers::default();
    assert!(m.push("a".into()));
    let riding = m.take_to_ride();
    assert!(!m.failed(riding), "the flush scheduled by the push is still to come");
    assert_eq!(m.take_for_flush(), vec!["a".to_string()]);
}
