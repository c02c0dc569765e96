//! The client-wide retry budget (docs/ARCHITECTURE.md, "Where each decision lives").

use std::sync::atomic::{AtomicI64, Ordering};

/// A client-wide retry budget: each call deposits a fraction of a retry, each retry withdraws one, so that
/// retries stay a bounded share of traffic during an outage instead of multiplying it.
///
/// ```text
/// RetryBudget::new(2): a reserve of 10 retries, refilled by 0.2 of a retry per call
/// ```
pub(crate) struct RetryBudget {
    milli: AtomicI64,
    per_call: i64,
}

/// Ten retries' worth, in thousandths: what a new client may spend before any call has deposited.
const BUDGET_RESERVE: i64 = 10_000;

impl RetryBudget {
    /// A full budget that `per_10_calls` retries per ten calls refill.
    pub(crate) fn new(per_10_calls: u32) -> Self {
        RetryBudget {
            milli: AtomicI64::new(BUDGET_RESERVE),
            per_call: i64::from(per_10_calls) * 100,
        }
    }

    /// One call's share, up to the reserve.
    pub(crate) fn deposit(&self) {
        let _ = self
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some((m + self.per_call).min(BUDGET_RESERVE))
            });
    }

    /// Takes one retry if the budget holds one.
    pub(crate) fn withdraw(&self) -> bool {
        self.milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m >= 1000).then_some(m - 1000)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_runs_out_and_calls_refill_it() {
        let budget = RetryBudget::new(2);
        for _ in 0..10 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw(), "the reserve holds ten retries");
        for _ in 0..4 {
            budget.deposit();
        }
        assert!(!budget.withdraw(), "four calls give 0.8 of a retry");
        budget.deposit();
        assert!(budget.withdraw(), "five calls give one retry");
        assert!(!budget.withdraw());
    }
}
