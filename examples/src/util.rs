//! Small commands over `lookout-model` itself.

use std::process::ExitCode;

use clap::Args;
use lookout_model::parse_selector;

/// Arguments of `lookout selector`.
#[derive(Debug, Args)]
pub(crate) struct SelectorArgs {
    /// Selectors such as `up{job=~"api|web"}`; each is printed back in Prometheus' canonical
    /// matcher form, one line per selector.
    #[arg(required = true)]
    selectors: Vec<String>,
}

/// `lookout selector SEL...`: parse each selector and print its matchers canonically.
pub(crate) fn selector(args: SelectorArgs) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    for s in &args.selectors {
        match parse_selector(s) {
            Ok(ms) => {
                let parts: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
                println!("{{{}}}", parts.join(", "));
            }
            Err(e) => {
                eprintln!("{s}: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}
