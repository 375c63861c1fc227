//! `restore`: make a checkpoint the resume point, or export it.

use super::*;
use crate::Result;

impl Run {
    /// Plan a restore of `selector` (pure apart from reading the run).
    pub fn plan_restore(&self, selector: &str, options: &RestoreOptions) -> Result<RestorePlan> {
        let _ = (selector, options);
        todo!("issue 2")
    }

    /// Apply a restore plan.
    pub fn restore(&self, plan: &RestorePlan, progress: Option<ProgressFn<'_>>) -> Result<()> {
        let _ = (plan, progress);
        todo!("issue 2")
    }
}
