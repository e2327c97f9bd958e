//! Recording and alerting rules: Prometheus' rule files, their evaluation, and `promtool test
//! rules` unit tests.
//!
//! - [`parse_rule_file`] reads the YAML of a rule file (`groups:` with `rules:`) and validates
//!   it with the checks and messages of Prometheus' `rulefmt` (what `promtool check rules`
//!   prints).
//! - [`RuleGroup`] evaluates a group on a clock the caller drives: [`RuleGroup::eval`] at a
//!   timestamp reads through any [`Querier`](lookout_model::Querier) and appends results to an
//!   [`Appender`] (the same store, so later rules see earlier rules' output at the same
//!   timestamp). Alerting rules run Prometheus' state machine (pending, firing, `for`,
//!   `keep_firing_for`, resolved alerts kept 15 minutes) and write `ALERTS` and
//!   `ALERTS_FOR_STATE`; [`RuleGroup::alerts_to_send`] hands out [`Alert`](lookout_model::Alert)s.
//! - [`run_unit_test_file`] runs a `promtool test rules` file.
//!
//! Templates get Prometheus' functions, `query` included: it runs against the same store at the
//! evaluation time (a template is expanded again once the queries it asked for have run, since
//! template functions cannot borrow the store). Not supported: native histograms in unit-test
//! input, restoring `for` state after a restart.

mod eval;
mod file;
mod unittest;

pub use self::eval::{
    ActiveAlert, AlertState, Appender, GroupOptions, Rule, RuleGroup, RESOLVED_RETENTION_MS,
};
pub use self::file::{
    parse_rule_file, GroupSpec, Pos, RuleFile, RuleFileError, RuleFileOptions, RuleKind, RuleSpec,
};
pub use self::unittest::{run_unit_test_file, UnitTestOptions, UnitTestOutcome};
