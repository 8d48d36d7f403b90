//! Which waiting operations may start now: the queue's schedule, apart
//! from its lanes and workers. An operation of a type that runs one at a
//! time starts only while no other of its type runs; the others wait,
//! queued and cancellable, and whatever may start behind them goes first.

/// The rules, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    one_at_a_time: Vec<String>,
}

impl Schedule {
    pub fn new(one_at_a_time: &[String]) -> Self {
        Self {
            one_at_a_time: one_at_a_time.to_vec(),
        }
    }

    /// What may start while operations of `running` types run: a
    /// predicate on a waiting operation's type.
    pub fn may_start<'a>(
        &'a self,
        running: impl Iterator<Item = &'a str>,
    ) -> impl Fn(&str) -> bool + 'a {
        let busy: Vec<&str> = running
            .filter(|t| self.one_at_a_time.iter().any(|o| o == t))
            .collect();
        move |op_type| !busy.contains(&op_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_that_runs_one_at_a_time_waits_for_its_own_kind_only() {
        let s = Schedule::new(&["scan".into(), "organize".into()]);
        let may = s.may_start(["scan", "integrity_check"].into_iter());
        assert!(!may("scan"));
        assert!(may("organize"));
        assert!(may("integrity_check"), "other types run together");
        let idle = s.may_start(std::iter::empty());
        assert!(idle("scan"));
    }
}
