//! Prometheus relabeling, exactly: `relabel_configs` and `metric_relabel_configs` with the
//! semantics of Prometheus 3 (and a Prometheus 2 compatibility mode).
//!
//! A list of rules is loaded (from YAML as Prometheus writes it, or built in code), validated
//! with Prometheus' own rules and messages, and compiled once into a [`Relabeler`], which then
//! turns label sets into new label sets or drops them:
//!
//! ```
//! use lookout_model::Labels;
//! use lookout_relabel::{Options, Relabeler};
//!
//! let yaml = r#"
//! - source_labels: [__meta_kubernetes_pod_phase]
//!   regex: Failed|Succeeded
//!   action: drop
//! - source_labels: [__meta_kubernetes_namespace]
//!   target_label: namespace
//! - regex: __meta_kubernetes_pod_label_(.+)
//!   action: labelmap
//! "#;
//! let relabeler = Relabeler::from_yaml(yaml, Options::PROMETHEUS)?;
//!
//! let target: Labels = r#"{__meta_kubernetes_namespace="web", __meta_kubernetes_pod_label_app="shop", __meta_kubernetes_pod_phase="Running"}"#.parse()?;
//! let out = relabeler.process(&target).expect("kept");
//! assert_eq!(out.get("namespace"), Some("web"));
//! assert_eq!(out.get("app"), Some("shop"));
//!
//! let failed: Labels = r#"{__meta_kubernetes_pod_phase="Failed"}"#.parse()?;
//! assert_eq!(relabeler.process(&failed), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Semantics (see `shared/design/relabel-semantics.md`): regexes are Go RE2 syntax, fully
//! anchored, with `.` matching `\n` in Prometheus 3 mode; `$1`, `${1}`, `$name` follow Go's
//! `regexp.Expand` (so `$1x` names a group `1x`); an empty result deletes the label; `hashmod`
//! takes the last 8 bytes of the MD5 big-endian; `lowercase`/`uppercase` use Go's simple case
//! mapping; `labelmap` visits labels in Prometheus' `Builder.Range` order.
//!
//! Speed: the input stays borrowed and sorted, and labels set by rules go to a short list, as
//! in Prometheus' `labels.Builder`; the fixed names the rules read are found in the input in
//! one pass per label set. The joined value of one source label is borrowed, not copied, and
//! rules over several sources whose regex is a set of literals or `literal(.*)` compare the
//! sources piece by piece instead of joining them. `(.*)`, `literal(.*)` and `(a|b)`-shaped
//! regexes find their group without the regex engine (a `(.*)` copy to a fixed target is one
//! slot-to-slot step), matches use [`lookout_model::GoRegex`]'s strategies plus in-line
//! comparisons for small literal sets and alternations of `literal.*` branches, and leading
//! `keep`/`drop` rules on `__name__` run before the input is unpacked. When no rule needs the
//! whole label list (no `labelmap`, `labelkeep`, templated target, or `labeldrop` other than
//! of a fixed set of names; the usual target and metric relabel configs), the packed input is
//! decoded once ([`lookout_model::Labels::index_scan`]), the labels the rules name are picked
//! out of it with a collision-free table of up to 48 names (one probe by length and last word,
//! then one comparison of the rest) while the same walk notes where each label a rule may add
//! would go (skipped when every such label is also read by a rule, as metric relabeling's
//! `__name__` rename, and searched for only if needed), every key's state lives in one slot
//! per key, and the result is the input with the changed labels spliced in by position
//! ([`lookout_model::LabelIndex::splice`], which needs no second walk over the encoding).
//! Per-call buffers live in a per-thread scratch space used in place; only the few that hold
//! borrowed labels move in and out. A label set costs one allocation (the result), none when
//! nothing changed or it was dropped.
//! `hashmod` hashes with a one-shot MD5 (`hashmod.rs`, checked against the `md-5` crate).
//!
//! YAML is read with `serde-saphyr`: pure Rust with `unsafe` forbidden, fuzzed and panic-free
//! on malformed input, with budgets against alias bombs. `serde_yaml` is deprecated, and its
//! maintained forks keep a C-to-Rust translation of libyaml underneath.
#![forbid(unsafe_code)]

mod case;
mod config;
mod engine;
mod error;
mod expand;
mod hashmod;

pub use crate::config::{Action, RelabelConfig};
pub use crate::engine::{Options, Relabeler};
pub use crate::error::Error;
