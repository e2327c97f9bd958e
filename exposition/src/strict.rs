//! Strict OpenMetrics 1.0 validation: the family rules of the specification that Prometheus'
//! lenient parser does not check.
//!
//! The parser feeds every entry to a [`StrictState`]; a broken rule becomes a
//! [`TextProblem::Strict`] at the offending line.

use std::collections::HashSet;

use lookout_model::is_legacy_metric_name;

use crate::error::TextProblem;
use crate::text::LabelPair;
use crate::types::MetricType;

/// The most code points an exemplar's label names and values may hold together.
pub(crate) const EXEMPLAR_MAX_RUNES: usize = 128;

#[derive(Debug, Default)]
pub(crate) struct StrictState {
    /// Families already closed (another family came after them).
    closed: HashSet<String>,
    /// Every sample name a family so far may use, for clash detection.
    reserved: HashSet<String>,
    family: Option<Family>,
}

#[derive(Debug)]
struct Family {
    name: String,
    mtype: MetricType,
    /// Whether the type came from `# TYPE` (otherwise `unknown` by default).
    typed: bool,
    help: bool,
    unit: Option<String>,
    has_samples: bool,
    closed_metrics: HashSet<String>,
    metric: Option<Metric>,
}

#[derive(Debug, Default)]
struct Metric {
    key: String,
    /// Last (le, cumulative count) of a histogram bucket run.
    last_bucket: Option<(f64, f64)>,
    inf_bucket: Option<f64>,
    negative_le: bool,
    count: Option<f64>,
    sum: Option<f64>,
    /// (sample name + full label text) → last timestamp, to catch repeats.
    points: std::collections::HashMap<String, Option<i64>>,
}

fn strict(rule: &'static str, subject: impl Into<String>) -> TextProblem {
    TextProblem::Strict {
        rule,
        subject: subject.into(),
    }
}

impl StrictState {
    pub(crate) fn meta(
        &mut self,
        name: &str,
        kind: &'static str,
        mtype: Option<MetricType>,
    ) -> Result<(), TextProblem> {
        if !is_legacy_metric_name(name) {
            return Err(strict(
                "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                name,
            ));
        }
        let same = self.family.as_ref().is_some_and(|f| f.name == name);
        if !same {
            self.open_family(name, MetricType::Unknown, false)?;
        }
        let fam = self
            .family
            .as_mut()
            .ok_or_else(|| strict("internal: no family", name))?;
        if fam.has_samples {
            return Err(strict(
                "metadata must come before the samples of its family",
                name,
            ));
        }
        match kind {
            "TYPE" => {
                if fam.typed {
                    return Err(strict("at most one TYPE per family", name));
                }
                fam.typed = true;
                if let Some(t) = mtype {
                    fam.mtype = t;
                    // The suffixes of the type are reserved now that it is known.
                    for s in t.suffixes() {
                        let full = format!("{name}{s}");
                        if self.reserved.contains(&full) && !s.is_empty() {
                            return Err(strict(
                                "a family's sample names must not clash with another family",
                                full,
                            ));
                        }
                    }
                    for s in t.suffixes() {
                        self.reserved.insert(format!("{name}{s}"));
                    }
                }
                if matches!(mtype, Some(MetricType::Info | MetricType::StateSet))
                    && fam.unit.as_deref().is_some_and(|u| !u.is_empty())
                {
                    return Err(strict("info and stateset families must have no unit", name));
                }
            }
            "HELP" => {
                if fam.help {
                    return Err(strict("at most one HELP per family", name));
                }
                fam.help = true;
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn unit(&mut self, name: &str, unit: &str) -> Result<(), TextProblem> {
        self.meta(name, "UNIT", None)?;
        let fam = self
            .family
            .as_mut()
            .ok_or_else(|| strict("internal: no family", name))?;
        if fam.unit.is_some() {
            return Err(strict("at most one UNIT per family", name));
        }
        if matches!(fam.mtype, MetricType::Info | MetricType::StateSet) && !unit.is_empty() {
            return Err(strict("info and stateset families must have no unit", name));
        }
        fam.unit = Some(unit.to_string());
        Ok(())
    }

    fn open_family(
        &mut self,
        name: &str,
        mtype: MetricType,
        typed: bool,
    ) -> Result<(), TextProblem> {
        self.close_family()?;
        if self.closed.contains(name) {
            return Err(strict("metric families must not be interleaved", name));
        }
        if self.reserved.contains(name) {
            return Err(strict(
                "a family's name must not clash with another family's samples",
                name,
            ));
        }
        self.reserved.insert(name.to_string());
        self.family = Some(Family {
            name: name.to_string(),
            mtype,
            typed,
            help: false,
            unit: None,
            has_samples: false,
            closed_metrics: HashSet::new(),
            metric: None,
        });
        Ok(())
    }

    fn close_family(&mut self) -> Result<(), TextProblem> {
        if let Some(mut fam) = self.family.take() {
            let name = fam.name.clone();
            close_metric(&mut fam)?;
            self.closed.insert(name);
        }
        Ok(())
    }

    pub(crate) fn end(&mut self) -> Result<(), TextProblem> {
        self.close_family()
    }

    pub(crate) fn sample(
        &mut self,
        name: &str,
        labels: &[LabelPair<'_>],
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<(f64, &[LabelPair<'_>])>,
    ) -> Result<(), TextProblem> {
        if !is_legacy_metric_name(name) {
            return Err(strict(
                "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                name,
            ));
        }
        for (n, _) in labels {
            if n.starts_with("__") || !lookout_model::is_legacy_label_name(n) {
                return Err(strict(
                    "label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
                    n.as_ref(),
                ));
            }
        }
        // Which family does this sample belong to?
        let belongs = self.family.as_ref().and_then(|f| {
            let rest = name.strip_prefix(f.name.as_str())?;
            f.mtype.suffixes().contains(&rest).then_some(rest)
        });
        let suffix = match belongs {
            Some(s) => s.to_string(),
            None => {
                if self
                    .family
                    .as_ref()
                    .is_some_and(|f| f.typed && name.starts_with(f.name.as_str()))
                    && self.family.as_ref().is_some_and(|f| !f.has_samples)
                {
                    let f = self
                        .family
                        .as_ref()
                        .map(|f| f.mtype)
                        .unwrap_or(MetricType::Unknown);
                    return Err(strict(
                        match f {
                            MetricType::Counter => {
                                "counter samples must be named _total or _created"
                            }
                            MetricType::Histogram => {
                                "histogram samples must be _bucket, _sum, _count or _created"
                            }
                            MetricType::GaugeHistogram => {
                                "gaugehistogram samples must be _bucket, _gsum or _gcount"
                            }
                            MetricType::Summary => {
                                "summary samples must be the name, _sum, _count or _created"
                            }
                            MetricType::Info => "info samples must be named _info",
                            _ => "sample name must be the family name",
                        },
                        name,
                    ));
                }
                self.open_family(name, MetricType::Unknown, false)?;
                String::new()
            }
        };
        let fam = self
            .family
            .as_mut()
            .ok_or_else(|| strict("internal: no family", name))?;
        fam.has_samples = true;
        let mtype = fam.mtype;
        let fam_name = fam.name.clone();

        // Per-type rules on names, labels and values.
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_ref());
        let histo = matches!(mtype, MetricType::Histogram | MetricType::GaugeHistogram);
        match (mtype, suffix.as_str()) {
            (MetricType::Counter, "") => {
                return Err(strict(
                    "counter samples must be named _total or _created",
                    name,
                ))
            }
            (MetricType::Counter, "_total") if value.is_nan() || value < 0.0 => {
                return Err(strict(
                    "a counter total must be a non-negative number",
                    name,
                ));
            }
            (MetricType::Info, _) if value != 1.0 => {
                return Err(strict("an info value must be 1", name));
            }
            (MetricType::StateSet, _) => {
                if value != 0.0 && value != 1.0 {
                    return Err(strict("a stateset value must be 0 or 1", name));
                }
                if get(&fam_name).is_none() {
                    return Err(strict(
                        "a stateset sample needs a label named after its family",
                        name,
                    ));
                }
            }
            (MetricType::Summary, "") => {
                let Some(q) = get("quantile") else {
                    return Err(strict(
                        "a summary quantile sample needs a quantile label",
                        name,
                    ));
                };
                let qv = crate::number::parse_float(q.as_bytes()).unwrap_or(f64::NAN);
                if !(0.0..=1.0).contains(&qv) {
                    return Err(strict("a quantile must lie in [0, 1]", q));
                }
            }
            (MetricType::Summary, "_sum" | "_count") | (_, "_gcount")
                if value.is_nan() || value < 0.0 =>
            {
                return Err(strict("counts and sums must not be negative or NaN", name));
            }
            _ => {}
        }
        if matches!(suffix.as_str(), "_count" | "_gcount" | "_bucket")
            && (value.fract() != 0.0 || value < 0.0 || value.is_nan())
        {
            return Err(strict("counts must be non-negative integers", name));
        }
        if histo && suffix != "_bucket" && get("le").is_some() {
            return Err(strict("only _bucket samples may carry an le label", name));
        }
        if mtype == MetricType::Summary && !suffix.is_empty() && get("quantile").is_some() {
            return Err(strict(
                "only quantile samples may carry a quantile label",
                name,
            ));
        }

        // The metric (label set without le/quantile/state) this point belongs to.
        let skip = match mtype {
            MetricType::Histogram | MetricType::GaugeHistogram => "le",
            MetricType::Summary => "quantile",
            MetricType::StateSet => fam_name.as_str(),
            _ => "",
        };
        let mut key_parts: Vec<String> = labels
            .iter()
            .filter(|(n, _)| n != skip)
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        key_parts.sort_unstable();
        let key = key_parts.join(",");
        if fam.metric.as_ref().is_none_or(|m| m.key != key) {
            close_metric(fam)?;
            if fam.closed_metrics.contains(&key) {
                return Err(strict(
                    "the metrics of a family must not be interleaved",
                    name,
                ));
            }
            fam.metric = Some(Metric {
                key,
                ..Metric::default()
            });
        }
        let Some(metric) = fam.metric.as_mut() else {
            return Ok(());
        };

        // Repeated points need increasing timestamps.
        let mut point_id = name.to_string();
        for (n, v) in labels {
            point_id.push_str(&format!(",{n}={v:?}"));
        }
        if let Some(prev) = metric.points.get_mut(&point_id) {
            match (*prev, timestamp) {
                (Some(a), Some(b)) if b > a => *prev = Some(b),
                _ => {
                    return Err(strict(
                        "a repeated sample needs a timestamp greater than the last",
                        name,
                    ))
                }
            }
        } else {
            metric.points.insert(point_id, timestamp);
        }

        if histo {
            match suffix.as_str() {
                "_bucket" => {
                    let Some(le) = get("le") else {
                        return Err(strict("a bucket needs an le label", name));
                    };
                    let lev = crate::number::parse_float(le.as_bytes()).unwrap_or(f64::NAN);
                    if lev.is_nan() {
                        return Err(strict("le must be a number other than NaN", le));
                    }
                    if let Some((prev_le, prev_v)) = metric.last_bucket {
                        if lev <= prev_le {
                            return Err(strict("buckets must be sorted by increasing le", le));
                        }
                        if value < prev_v {
                            return Err(strict("bucket counts must be cumulative", le));
                        }
                    }
                    if lev < 0.0 {
                        metric.negative_le = true;
                    }
                    if let Some((ev, _)) = exemplar {
                        let lower = metric.last_bucket.map_or(f64::NEG_INFINITY, |b| b.0);
                        if !(ev <= lev && ev > lower) {
                            return Err(strict(
                                "an exemplar value must fall inside its bucket",
                                name,
                            ));
                        }
                    }
                    metric.last_bucket = Some((lev, value));
                    if lev == f64::INFINITY {
                        metric.inf_bucket = Some(value);
                    }
                }
                "_count" | "_gcount" => metric.count = Some(value),
                "_sum" | "_gsum" => metric.sum = Some(value),
                _ => {}
            }
        }
        if let Some((_, ex_labels)) = exemplar {
            let allowed = (mtype == MetricType::Counter && suffix == "_total")
                || (histo && suffix == "_bucket");
            if !allowed {
                return Err(strict(
                    "exemplars are allowed only on counter totals and histogram buckets",
                    name,
                ));
            }
            let runes: usize = ex_labels
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            if runes > EXEMPLAR_MAX_RUNES {
                return Err(strict(
                    "exemplar labels must hold at most 128 code points",
                    name,
                ));
            }
        }
        Ok(())
    }
}

fn close_metric(fam: &mut Family) -> Result<(), TextProblem> {
    let Some(m) = fam.metric.take() else {
        return Ok(());
    };
    let subject = if m.key.is_empty() {
        fam.name.clone()
    } else {
        format!("{}{{{}}}", fam.name, m.key)
    };
    fam.closed_metrics.insert(m.key.clone());
    match fam.mtype {
        MetricType::Histogram | MetricType::GaugeHistogram => {
            let Some(inf) = m.inf_bucket else {
                return Err(strict("a histogram needs a +Inf bucket", subject));
            };
            if m.count.is_some() != m.sum.is_some() {
                return Err(strict(
                    "_count and _sum come together or not at all",
                    subject,
                ));
            }
            if let Some(c) = m.count {
                if c != inf {
                    return Err(strict("_count must equal the +Inf bucket", subject));
                }
            }
            if fam.mtype == MetricType::Histogram && m.negative_le && m.sum.is_some() {
                return Err(strict(
                    "a histogram with negative buckets must not have a _sum",
                    subject,
                ));
            }
            if fam.mtype == MetricType::Histogram && m.sum.is_some_and(|s| s < 0.0 || s.is_nan()) {
                return Err(strict(
                    "a histogram _sum must not be negative or NaN",
                    subject,
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
