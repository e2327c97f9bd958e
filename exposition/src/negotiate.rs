//! Picking a parser from a scrape response's `Content-Type`, as Prometheus does.

use crate::error::Error;
use crate::types::Format;

/// The `Accept` header Prometheus 3 sends by default (OpenMetrics preferred, then text 0.0.4).
pub const SCRAPE_ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,\
text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

/// The outcome of [`negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The format to parse with.
    pub format: Format,
    /// True when the header was blank, unparsable or unsupported and the fallback was used
    /// (Prometheus logs a warning in that case and goes on).
    pub fell_back: bool,
}

/// Chooses the format for a `Content-Type` header as Prometheus 3's scrape loop does: the media
/// type (case-insensitive, parameters ignored) `application/openmetrics-text`,
/// `application/vnd.google.protobuf` or `text/plain`; a blank, malformed or other type uses
/// `fallback` (the scrape config's `fallback_scrape_protocol`) or is an error without one.
///
/// ```
/// use lookout_exposition::{negotiate, Format};
/// let n = negotiate("application/openmetrics-text; version=1.0.0; charset=utf-8", None)?;
/// assert_eq!(n.format, Format::OpenMetricsText);
/// assert_eq!(negotiate("", Some(Format::PrometheusText))?.format, Format::PrometheusText);
/// assert!(negotiate("text/html", None).is_err());
/// # Ok::<(), lookout_exposition::Error>(())
/// ```
pub fn negotiate(content_type: &str, fallback: Option<Format>) -> Result<Negotiated, Error> {
    let found = media_type(content_type).and_then(|m| match m.as_str() {
        "application/openmetrics-text" => Some(Format::OpenMetricsText),
        "application/vnd.google.protobuf" => Some(Format::Protobuf),
        "text/plain" => Some(Format::PrometheusText),
        _ => None,
    });
    match (found, fallback) {
        (Some(format), _) => Ok(Negotiated {
            format,
            fell_back: false,
        }),
        (None, Some(format)) => Ok(Negotiated {
            format,
            fell_back: true,
        }),
        (None, None) => Err(Error::UnsupportedContentType {
            content_type: content_type.to_string(),
        }),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// The lower-cased `type/subtype` of a header, or `None` when it does not parse as a media
/// type (Go's `mime.ParseMediaType` rules, simplified: tokens and `key=value` parameters).
fn media_type(header: &str) -> Option<String> {
    let mut parts = header.split(';');
    let mt = parts.next()?.trim();
    let (ty, sub) = mt.split_once('/')?;
    if ty.is_empty() || sub.is_empty() || !ty.chars().all(is_token_char) {
        return None;
    }
    if !sub.chars().all(is_token_char) {
        return None;
    }
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=')?;
        let k = k.trim();
        let v = v.trim();
        if k.is_empty() || !k.chars().all(is_token_char) {
            return None;
        }
        let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
        if !quoted && (v.is_empty() || !v.chars().all(is_token_char)) {
            return None;
        }
    }
    Some(mt.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_like_prometheus() {
        let cases = [
            ("text/plain; version=0.0.4", Some(Format::PrometheusText)),
            ("TEXT/PLAIN", Some(Format::PrometheusText)),
            (
                "application/openmetrics-text",
                Some(Format::OpenMetricsText),
            ),
            (Format::Protobuf.content_type(), Some(Format::Protobuf)),
            ("application/json", None),
            ("", None),
            ("text/plain; version", None),
            ("garbage", None),
        ];
        for (ct, want) in cases {
            assert_eq!(negotiate(ct, None).ok().map(|n| n.format), want, "{ct}");
        }
        let n = negotiate("application/json", Some(Format::OpenMetricsText)).unwrap();
        assert!(n.fell_back);
        assert_eq!(n.format, Format::OpenMetricsText);
    }
}
