//! `prune`: plan (pure data) → confirm → apply with re-checks.

use super::*;
use crate::Result;

impl Run {
    /// Plan a prune: by `policy` (or the manifest's), plus checkpoints named in `extra`
    /// (e.g. marked in the monitor). Pure apart from reading the run.
    pub fn plan_prune(
        &self,
        policy: Option<RetentionPolicy>,
        extra: &[String],
    ) -> Result<PrunePlan> {
        let _ = (policy, extra);
        todo!("issue 2")
    }

    /// Apply a prune plan, re-checking every victim first.
    pub fn prune(&self, plan: &PrunePlan) -> Result<PruneReport> {
        let _ = plan;
        todo!("issue 2")
    }
}
