//! Systems without `prctl` and `/proc`: the documented fallbacks of
//! [`crate::sys`].

pub(super) fn hide_memory() {}

pub(super) fn adopt_orphans() -> bool {
    false
}

pub(super) fn kill_escaped_children() -> usize {
    0
}

pub(super) fn kill_escaped_children_at_exit(_limit: std::time::Duration) -> usize {
    0
}

pub(super) fn reports_every_change(_path: &std::path::Path) -> bool {
    true
}
