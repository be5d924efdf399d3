//! The open-files decisions: raise the soft limit to the hard one, warn when connections do not fit.

use super::*;

fn limit(soft: Option<u64>, hard: Option<u64>) -> Rlimit {
    Rlimit {
        current: soft,
        maximum: hard,
    }
}

#[test]
fn the_soft_limit_is_raised_to_the_hard_one() {
    let up = raised(&limit(Some(1024), Some(20_000))).unwrap();
    assert_eq!((up.current, up.maximum), (Some(20_000), Some(20_000)));
    let up = raised(&limit(Some(1024), None)).unwrap();
    assert_eq!((up.current, up.maximum), (None, None));
    // Already at the hard limit, or unlimited: nothing to do.
    assert!(raised(&limit(Some(20_000), Some(20_000))).is_none());
    assert!(raised(&limit(None, None)).is_none());
}

#[test]
fn the_default_fits_this_machines_limit_exactly() {
    let default = crate::Config::defaults().max_connections;
    assert_eq!(u64::from(default) + FD_RESERVE, 20_000);
    assert_eq!(shortfall(default, Some(20_000)), None);
    assert_eq!(shortfall(default, None), None);
}

#[test]
fn too_many_connections_for_the_limit_says_what_to_set() {
    let warning = shortfall(19_000, Some(1024)).unwrap();
    for part in [
        "needs about 20000",
        "may open 1024",
        "ulimit -n 20000",
        "LimitNOFILE",
        "lower --max-connections to 24",
    ] {
        assert!(warning.contains(part), "{part:?} not in: {warning}");
    }
    // Below the reserve, nothing fits: the advice says 0 rather than wrapping around.
    let warning = shortfall(10, Some(500)).unwrap();
    assert!(
        warning.contains("lower --max-connections to 0"),
        "{warning}"
    );
    assert!(shortfall(19_001, Some(20_000)).is_some());
}
