//! When a run writes its status record. Each write makes everything copied
//! so far durable first (a flush, an fsync on embedded stores), so writing
//! it after every few entries of a fast copy costs more than the copy: the
//! record is written every `log_every` entries but no more often than once
//! per `interval` — the first one of a run after a quarter of it, so a run
//! stopped soon after it started (killed, restarted by a supervisor) still
//! leaves progress noted. Never after the last entry: the run's next
//! write, the finalizing record, notes it, and one flush serves both.

use std::time::{Duration, Instant};

/// Decides, entry by entry, whether the status record is due.
pub(crate) struct CheckpointClock {
    end: u64,
    log_every: u64,
    interval: Duration,
    /// How long after `last` the next record may be written.
    wait: Duration,
    entries_since: u64,
    last: Instant,
}

impl CheckpointClock {
    /// A clock for a run ending before entry `end`, started now.
    pub(crate) fn new(end: u64, log_every: u64, interval: Duration) -> CheckpointClock {
        CheckpointClock {
            end,
            log_every: log_every.max(1),
            interval,
            wait: interval / 4,
            entries_since: 0,
            last: Instant::now(),
        }
    }

    /// Entry `t` is copied: whether to note it in the status record now.
    /// When it says yes, the next interval starts.
    pub(crate) fn due(&mut self, t: u64) -> bool {
        self.entries_since += 1;
        let due = t + 1 < self.end
            && self.entries_since >= self.log_every
            && self.last.elapsed() >= self.wait;
        if due {
            self.wait = self.interval;
            self.entries_since = 0;
            self.last = Instant::now();
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_n_entries_without_an_interval() {
        let mut clock = CheckpointClock::new(10, 3, Duration::ZERO);
        let due: Vec<u64> = (0..10).filter(|&t| clock.due(t)).collect();
        assert_eq!(due, vec![2, 5, 8]);
    }

    #[test]
    fn the_first_comes_after_a_quarter_of_the_interval() {
        // Started before the clock, so `took` is never shorter than the
        // clock's own wait; bounded by the whole interval, with room for a
        // busy machine to preempt the loop.
        let started = Instant::now();
        let mut clock = CheckpointClock::new(u64::MAX, 1, Duration::from_millis(400));
        let first = (0..).find(|&t| clock.due(t)).unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(400),
            "{took:?}"
        );
        assert!(!clock.due(first + 1), "then a whole interval");
    }

    #[test]
    fn an_interval_spaces_them_out() {
        let mut clock = CheckpointClock::new(100, 1, Duration::from_secs(3600));
        assert!((0..100).all(|t| !clock.due(t)));
    }
}
