//! `doctor`: preflight and health report.

use super::*;
use crate::Result;

impl Run {
    /// Preflight and health report.
    pub fn doctor(&self) -> Result<DoctorReport> {
        todo!("issue 2")
    }
}
