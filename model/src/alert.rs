//! Alerts: what alerting rules produce and the alert router consumes.

use crate::labels::Labels;

/// An alert as Prometheus sends it to Alertmanager.
///
/// Times are milliseconds since the Unix epoch. An alert with no `ends_at` is firing until it is
/// resolved or times out; one whose `ends_at` lies in the past is resolved.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alert {
    /// Identifying labels (`alertname` and the rule's and series' labels).
    pub labels: Labels,
    /// Annotations (summary, description, runbook links…).
    pub annotations: Labels,
    /// When the alert started firing.
    pub starts_at: i64,
    /// When the alert ended or will be considered resolved, if known.
    pub ends_at: Option<i64>,
    /// A link back to the expression that produced the alert.
    pub generator_url: String,
}

impl Alert {
    /// A firing alert with the given labels, starting at `starts_at`.
    pub fn new(labels: Labels, starts_at: i64) -> Alert {
        Alert {
            labels,
            annotations: Labels::empty(),
            starts_at,
            ends_at: None,
            generator_url: String::new(),
        }
    }

    /// The alert's name (`alertname` label), if any.
    pub fn name(&self) -> Option<&str> {
        self.labels.get("alertname")
    }

    /// Alertmanager's identity for the alert: the fingerprint of its labels.
    pub fn fingerprint(&self) -> u64 {
        self.labels.fingerprint()
    }

    /// Whether the alert is resolved at time `now`: it has an end time that is not after `now`.
    pub fn is_resolved_at(&self, now: i64) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution() {
        let mut a = Alert::new(Labels::from_pairs([("alertname", "Down")]), 10);
        assert_eq!(a.name(), Some("Down"));
        assert!(!a.is_resolved_at(100));
        a.ends_at = Some(50);
        assert!(a.is_resolved_at(50));
        assert!(!a.is_resolved_at(49));
    }
}
