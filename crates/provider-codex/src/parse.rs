//! Parses one Codex thread (its rollout segments) into projected exchanges.

use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{ExchangeSink, ParseContext, ParseError, ParseReport};

/// Parses one logical thread.
pub fn parse_unit(
    _unit: &SourceUnit,
    _context: &ParseContext<'_>,
    _sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    Err(ParseError::NotImplemented { provider: crate::NAME.to_string() })
}
