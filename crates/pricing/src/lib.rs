//! What a billed response cost: a usage row's tokens priced offline with the `genai-prices` table,
//! at the rate in force when the response was made.
//!
//! Costs are whole nano-dollars (10⁻⁹ USD), so sums are exact and do not depend on the order rows
//! were added in. The rules (`docs/cost.md`):
//! - the whole prompt is priced as one request: a long-context tier, chosen by the prompt's total
//!   input tokens, applies to every token of the request, not to the part above the threshold;
//! - Claude: uncached input, cache writes (the 1-hour part at its own rate, the rest at the 5-minute
//!   rate), cache reads and output; Codex: uncached input, cached input at the cached rate, output
//!   (reasoning is part of output);
//! - a response without tokens costs nothing whatever its model (Claude's `<synthetic>` messages);
//! - a model the table has no price for, or a response without a model or a timestamp, is
//!   **unpriced**: its cost is unknown, never $0.

use std::sync::OnceLock;
use std::time::SystemTime;

use genai_prices::{Calculator, ErrorKind, PriceRequest, Usage, UsageKey};
use serde::Serialize;

/// The price table this build prices with. A store priced with another is priced again when it
/// is opened for writing; a test holds it equal to the version in `Cargo.lock`.
pub const PRICE_TABLE: &str = "genai-prices 0.2.1";

/// Where the price table's rates come from.
pub const PRICE_SOURCE: &str = "https://github.com/pydantic/genai-prices, bundled with this build (no network)";

include!(concat!(env!("OUT_DIR"), "/vendor_tables.rs"));

/// The price table of one vendor (split from the bundled one by `build.rs`), decoded on first
/// use; the whole bundled table when there is no split of it.
fn calculator_for(vendor: Option<&str>) -> &'static Calculator {
    static TABLES: [OnceLock<Option<Calculator>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let Some(vendor) = vendor else { return Calculator::bundled() };
    let Some(index) = VENDOR_TABLES.iter().position(|(name, _)| *name == vendor).filter(|&index| index < TABLES.len())
    else {
        return Calculator::bundled();
    };
    TABLES[index]
        .get_or_init(|| Calculator::from_json(VENDOR_TABLES[index].1).ok())
        .as_ref()
        .unwrap_or_else(|| Calculator::bundled())
}

/// One billed response, with token counts as the store keeps them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Response<'a> {
    /// The provider that read it (`claude`, `codex`, ...): it names the vendor whose prices apply.
    pub client: &'a str,
    pub model: Option<&'a str>,
    /// When the response was made: RFC 3339.
    pub timestamp: Option<&'a str>,
    /// The whole prompt: uncached input, cache reads and cache writes.
    pub prompt_tokens: u64,
    pub cache_read_tokens: u64,
    /// Cache writes of either lifetime.
    pub cache_write_tokens: u64,
    /// The part of `cache_write_tokens` written for one hour; absent when the client did not say.
    pub cache_write_1h_tokens: Option<u64>,
    /// Output, reasoning included.
    pub output_tokens: u64,
    /// The service tier the vendor reported (`priority`, `flex`, ...).
    pub service_tier: Option<&'a str>,
}

/// Why a response has no cost.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Unpriced {
    #[error("the response names no model")]
    NoModel,
    #[error("the response has no timestamp, so the rate in force is unknown")]
    NoTimestamp,
    #[error("the price table has no price for model {0}")]
    UnknownModel(String),
    #[error("the token counts cannot be priced: {0}")]
    InvalidUsage(String),
}

/// The vendor whose price list a client's responses are billed by.
pub fn vendor_of(client: &str) -> Option<&'static str> {
    match client {
        "claude" => Some("anthropic"),
        "codex" => Some("openai"),
        "gemini" => Some("google"),
        _ => None,
    }
}

/// The id a model is looked up by when the table does not match it as written: without a
/// trailing release date (`-2025-11-13` or `-20251113`). Codex records dated snapshots such as
/// `gpt-5-1-codex-2025-11-13` that the table lists undated (`gpt-5-1-codex`); `None` when the id
/// carries no date.
pub fn undated_model(model: &str) -> Option<&str> {
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let dashed = model.len() > 11 && {
        let (head, date) = model.split_at(model.len() - 11);
        let parts: Vec<&str> = date[1..].split('-').collect();
        !head.is_empty()
            && date.starts_with('-')
            && parts.len() == 3
            && [4, 2, 2].iter().zip(&parts).all(|(len, part)| part.len() == *len && digits(part))
    };
    if dashed {
        return Some(&model[..model.len() - 11]);
    }
    let compact = model.len() > 9 && {
        let (head, date) = model.split_at(model.len() - 9);
        !head.is_empty()
            && date.starts_with('-')
            && date.len() == 9
            && digits(&date[1..])
            && date[1..].starts_with("20")
    };
    compact.then(|| &model[..model.len() - 9])
}

/// The cost of one response in nano-dollars.
pub fn price(response: &Response<'_>) -> Result<i64, Unpriced> {
    let billed =
        response.prompt_tokens + response.output_tokens + response.cache_write_tokens + response.cache_read_tokens;
    if billed == 0 {
        return Ok(0);
    }
    let model = response.model.map(str::trim).filter(|model| !model.is_empty()).ok_or(Unpriced::NoModel)?;
    let at = response.timestamp.and_then(parse_instant).ok_or(Unpriced::NoTimestamp)?;
    let usage = usage_of(response);
    let calculation = calculate(model, vendor_of(response.client), at, &usage, response.service_tier)?;
    Ok(to_nano_usd(calculation.total_price))
}

fn usage_of(response: &Response<'_>) -> Usage {
    let mut usage = Usage::from([
        (UsageKey::INPUT_TOKENS, response.prompt_tokens as f64),
        (UsageKey::CACHE_READ_TOKENS, response.cache_read_tokens as f64),
        (UsageKey::CACHE_WRITE_TOKENS, response.cache_write_tokens as f64),
        (UsageKey::OUTPUT_TOKENS, response.output_tokens as f64),
    ]);
    if let Some(one_hour) = response.cache_write_1h_tokens.filter(|&tokens| tokens > 0) {
        usage.insert(UsageKey::CACHE_WRITE_1H_TOKENS, one_hour.min(response.cache_write_tokens) as f64);
    }
    usage
}

fn calculate(
    model: &str,
    vendor: Option<&str>,
    at: SystemTime,
    usage: &Usage,
    service_tier: Option<&str>,
) -> Result<genai_prices::PriceCalculation, Unpriced> {
    let mut request = PriceRequest::new(model, usage).with_timestamp(at);
    if let Some(vendor) = vendor {
        request = request.with_provider_id(vendor);
    }
    // Only OpenAI's tiers have their own rates in the table; another vendor's tier name would
    // select nothing and is left out rather than relied on.
    if let Some(tier) = service_tier.filter(|_| vendor == Some("openai")) {
        request = request.with_price_context("service_tier", tier);
    }
    let not_found =
        |error: &genai_prices::Error| matches!(error.kind(), ErrorKind::ProviderNotFound | ErrorKind::ModelNotFound);
    let calculator = calculator_for(vendor);
    let mut result = calculator.calculate(&request);
    if let (Err(error), Some(undated)) = (&result, undated_model(model))
        && not_found(error)
    {
        request.model = undated;
        result = calculator.calculate(&request);
    }
    match result {
        Ok(calculation) => Ok(calculation),
        // A vendor the table lacks, or a model of another vendor's (a proxy), is looked up in
        // the whole table before being called unpriced.
        Err(error) if vendor.is_some() && not_found(&error) => calculate(model, None, at, usage, None),
        Err(error) if not_found(&error) => Err(Unpriced::UnknownModel(model.to_string())),
        Err(error) => Err(Unpriced::InvalidUsage(error.to_string())),
    }
}

fn to_nano_usd(dollars: f64) -> i64 {
    (dollars * 1e9).round() as i64
}

/// Nano-dollars as dollars.
pub fn to_usd(nano_usd: i64) -> f64 {
    nano_usd as f64 / 1e9
}

fn parse_instant(text: &str) -> Option<SystemTime> {
    text.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

/// The rates of one model at one instant, in USD per million tokens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rates {
    /// The id as asked for, and as the table matched it.
    pub model: String,
    pub matched_model: String,
    pub vendor: String,
    pub at: String,
    pub input: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
    pub output: f64,
    /// The rates when the prompt is as long as [`LONG_PROMPT_TOKENS`], where they differ (a
    /// long-context tier, applied to the whole request).
    pub long_context: Option<LongContextRates>,
}

/// Rates of a long prompt, in USD per million tokens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LongContextRates {
    pub prompt_tokens: u64,
    pub input: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
    pub output: f64,
}

/// The prompt length at which long-context rates are shown: above every tier the table has.
pub const LONG_PROMPT_TOKENS: u64 = 1_000_000;

/// The prompt length at which base rates are read: below every tier the table has.
const SHORT_PROMPT_TOKENS: u64 = 1_000;

/// The rates in force for `model` of `client` at `at` (RFC 3339), read back from the table by
/// pricing prompts made of one kind of token each.
pub fn rates(client: Option<&str>, model: &str, at: &str) -> Result<Rates, Unpriced> {
    let instant = parse_instant(at).ok_or(Unpriced::NoTimestamp)?;
    let vendor = client.and_then(vendor_of);
    let read = |prompt: u64| -> Result<([f64; 5], genai_prices::PriceCalculation), Unpriced> {
        let tokens = prompt as f64;
        let per_million = |price: f64| price * 1e6 / tokens;
        let priced = |cached: &[UsageKey]| {
            let mut usage = Usage::from([(UsageKey::INPUT_TOKENS, tokens), (UsageKey::OUTPUT_TOKENS, tokens)]);
            for key in cached {
                usage.insert(key.clone(), tokens);
            }
            calculate(model, vendor, instant, &usage, None)
        };
        let uncached = priced(&[])?;
        let rates = [
            per_million(uncached.input_price),
            per_million(priced(&[UsageKey::CACHE_WRITE_TOKENS])?.input_price),
            per_million(priced(&[UsageKey::CACHE_WRITE_TOKENS, UsageKey::CACHE_WRITE_1H_TOKENS])?.input_price),
            per_million(priced(&[UsageKey::CACHE_READ_TOKENS])?.input_price),
            per_million(uncached.output_price),
        ];
        Ok((rates, uncached))
    };
    let (base, calculation) = read(SHORT_PROMPT_TOKENS)?;
    let (long, _) = read(LONG_PROMPT_TOKENS)?;
    let round = |rate: f64| (rate * 1e6).round() / 1e6;
    let differs = base.iter().zip(&long).any(|(short, long)| (short - long).abs() > 1e-9);
    Ok(Rates {
        model: model.to_string(),
        matched_model: calculation.model_id,
        vendor: calculation.provider_id,
        at: at.to_string(),
        input: round(base[0]),
        cache_write_5m: round(base[1]),
        cache_write_1h: round(base[2]),
        cache_read: round(base[3]),
        output: round(base[4]),
        long_context: differs.then(|| LongContextRates {
            prompt_tokens: LONG_PROMPT_TOKENS,
            input: round(long[0]),
            cache_write_5m: round(long[1]),
            cache_write_1h: round(long[2]),
            cache_read: round(long[3]),
            output: round(long[4]),
        }),
    })
}

#[cfg(test)]
mod tests;
