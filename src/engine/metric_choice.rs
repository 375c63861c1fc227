//! Which metric a save ranks by, from what the caller named and what the run already
//! records. Shared by `ckpt save` and the Python package so both decide the same way.

use crate::rank::{MetricSpec, Mode};

/// The metric spec to send with a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricChoice {
    /// Nothing to record (no name, no mode, or the run already has its metric).
    Keep,
    /// The caller named it (or its mode); the mode is inferred from the name when not given.
    Named(MetricSpec),
    /// A bare metric value on a run without a metric: recorded as `metric` (max); the
    /// caller should tell the user how to name it.
    Defaulted(MetricSpec),
}

impl MetricChoice {
    /// The spec to put into the [`super::SaveRequest`].
    pub fn spec(&self) -> Option<MetricSpec> {
        match self {
            MetricChoice::Keep => None,
            MetricChoice::Named(s) | MetricChoice::Defaulted(s) => Some(s.clone()),
        }
    }
}

/// Decide the metric of a save: `name`/`mode` as given by the caller, `existing` the
/// run's recorded metric, `has_value` whether the save carries a metric value.
pub fn choose_metric(
    name: Option<&str>,
    mode: Option<Mode>,
    existing: Option<&MetricSpec>,
    has_value: bool,
) -> MetricChoice {
    match (name, mode) {
        (None, None) if has_value && existing.is_none() => MetricChoice::Defaulted(MetricSpec {
            name: "metric".into(),
            mode: Mode::Max,
        }),
        (None, None) => MetricChoice::Keep,
        (name, mode) => {
            let name = name
                .map(str::to_string)
                .or_else(|| existing.map(|m| m.name.clone()))
                .unwrap_or_else(|| "metric".into());
            let mode = mode.unwrap_or_else(|| Mode::infer_from_name(&name));
            MetricChoice::Named(MetricSpec { name, mode })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_value_defaults_once_and_names_infer_mode() {
        let d = choose_metric(None, None, None, true);
        assert!(
            matches!(d, MetricChoice::Defaulted(ref s) if s.name == "metric" && s.mode == Mode::Max)
        );
        let have = MetricSpec {
            name: "top1".into(),
            mode: Mode::Max,
        };
        assert_eq!(
            choose_metric(None, None, Some(&have), true),
            MetricChoice::Keep
        );
        assert_eq!(choose_metric(None, None, None, false), MetricChoice::Keep);
        let n = choose_metric(Some("val_loss"), None, None, true);
        assert_eq!(
            n.spec().map(|s| s.mode),
            Some(Mode::infer_from_name("val_loss"))
        );
        let m = choose_metric(None, Some(Mode::Min), Some(&have), false);
        assert_eq!(
            m.spec(),
            Some(MetricSpec {
                name: "top1".into(),
                mode: Mode::Min
            })
        );
    }
}
