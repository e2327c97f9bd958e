//! The functions PromQL knows, with their argument and return types.

use crate::ast::ValueType;

/// Whether a function is always available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stability {
    /// Always available.
    Stable,
    /// Needs [`ParseOptions::experimental_functions`](crate::ParseOptions).
    Experimental,
    /// Removed in Prometheus 3 (`holt_winters`); needs
    /// [`ParseOptions::legacy_functions`](crate::ParseOptions).
    Legacy,
}

/// A PromQL function's signature.
#[derive(Debug, PartialEq, Eq)]
pub struct Function {
    /// The name.
    pub name: &'static str,
    /// Argument types; with `variadic != 0` the last one repeats or is optional.
    pub arg_types: &'static [ValueType],
    /// 0: exactly `arg_types`; n > 0: up to n more of the last type, which is also optional;
    /// -1: any number of the last type, which is also optional.
    pub variadic: i32,
    /// The result type.
    pub return_type: ValueType,
    /// Stable, experimental or legacy.
    pub stability: Stability,
}

/// All functions, sorted by name.
static FUNCTIONS: &[Function] = &[
    Function {
        name: "abs",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "absent",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "absent_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "acos",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "acosh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "asin",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "asinh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "atan",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "atanh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "avg_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "ceil",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "changes",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "clamp",
        arg_types: &[ValueType::Vector, ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "clamp_max",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "clamp_min",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "cos",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "cosh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "count_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "day_of_month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "day_of_week",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "day_of_year",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "days_in_month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "deg",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "delta",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "deriv",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "double_exponential_smoothing",
        arg_types: &[ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "end",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "exp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "first_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "floor",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_avg",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_count",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_fraction",
        arg_types: &[ValueType::Scalar, ValueType::Scalar, ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_quantile",
        arg_types: &[ValueType::Scalar, ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_quantiles",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::Scalar,
            ValueType::Scalar,
        ],
        variadic: 9,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "histogram_stddev",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_stdvar",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "histogram_sum",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "holt_winters",
        arg_types: &[ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Legacy,
    },
    Function {
        name: "hour",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "idelta",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "increase",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "info",
        arg_types: &[ValueType::Vector, ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "integral",
        arg_types: &[ValueType::Matrix, ValueType::Scalar],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "irate",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "label_join",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::String,
            ValueType::String,
        ],
        variadic: -1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "label_replace",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::String,
            ValueType::String,
            ValueType::String,
        ],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "last_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "ln",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "log10",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "log2",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "mad_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "max_of",
        arg_types: &[ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "max_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "min_of",
        arg_types: &[ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "min_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "minute",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "pi",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Stable,
    },
    Function {
        name: "predict_linear",
        arg_types: &[ValueType::Matrix, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "present_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "quantile_over_time",
        arg_types: &[ValueType::Scalar, ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "rad",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "range",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "rate",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "resets",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "round",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "scalar",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Stable,
    },
    Function {
        name: "sgn",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "sin",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "sinh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "sort",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "sort_by_label",
        arg_types: &[ValueType::Vector, ValueType::String],
        variadic: -1,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "sort_by_label_desc",
        arg_types: &[ValueType::Vector, ValueType::String],
        variadic: -1,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "sort_desc",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "sqrt",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "start",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "start_timestamp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "stddev_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "stdvar_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "step",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Experimental,
    },
    Function {
        name: "sum_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "tan",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "tanh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "time",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        stability: Stability::Stable,
    },
    Function {
        name: "timestamp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "ts_of_first_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "ts_of_last_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "ts_of_max_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "ts_of_min_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Experimental,
    },
    Function {
        name: "vector",
        arg_types: &[ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
    Function {
        name: "year",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        stability: Stability::Stable,
    },
];

/// Looks a function up by its exact (case-sensitive) name.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .and_then(|i| FUNCTIONS.get(i))
}

/// All functions, sorted by name.
pub fn functions() -> &'static [Function] {
    FUNCTIONS
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_and_found() {
        let fs = super::functions();
        assert!(fs.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(super::function("rate").map(|f| f.name), Some("rate"));
        assert!(super::function("Rate").is_none());
    }
}
