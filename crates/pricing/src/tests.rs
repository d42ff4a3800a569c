//! Known answers for each pricing rule, the figures worked out by hand from the table's rates.

use super::*;

/// Sonnet 4.5 in October 2025, per million tokens: input $3, 5-minute cache write $3.75, 1-hour
/// cache write $6, cache read $0.30, output $15; a prompt over 200,000 tokens: $6, $7.50, $12,
/// $0.60 and $22.50.
const SONNET: &str = "claude-sonnet-4-5-20250929";
const OCTOBER_2025: &str = "2025-10-15T12:00:00.000Z";

fn claude(prompt: u64, cache_read: u64, cache_write: u64, one_hour: Option<u64>, output: u64) -> Response<'static> {
    Response {
        client: "claude",
        model: Some(SONNET),
        timestamp: Some(OCTOBER_2025),
        prompt_tokens: prompt,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        cache_write_1h_tokens: one_hour,
        output_tokens: output,
        service_tier: None,
    }
}

fn check(response: Response<'_>, expected: Result<i64, Unpriced>) {
    assert_eq!(price(&response), expected, "{response:?}");
}

#[test]
fn one_hour_cache_writes_have_their_own_rate() {
    // 2,000 uncached × $3 + 3,000 read × $0.30 + 4,000 5-minute writes × $3.75 + 1,000 1-hour
    // writes × $6 + 1,000 output × $15, per million:
    // 0.006 + 0.0009 + 0.015 + 0.006 + 0.015 = $0.0429.
    check(claude(10_000, 3_000, 5_000, Some(1_000), 1_000), Ok(42_900_000));
    // The same writes all at the 5-minute rate (the client did not split them, or all were 5-minute):
    // 0.006 + 0.0009 + 5,000 × $3.75 (0.01875) + 0.015 = $0.04065.
    check(claude(10_000, 3_000, 5_000, None, 1_000), Ok(40_650_000));
    check(claude(10_000, 3_000, 5_000, Some(0), 1_000), Ok(40_650_000));
}

#[test]
fn a_long_prompt_is_priced_at_the_long_context_rate_throughout() {
    // 250,000 uncached input tokens put the whole request in the >200k tier:
    // 250,000 × $6 + 1,000 output × $22.50, per million = 1.5 + 0.0225 = $1.5225
    // (a marginal reading would charge the first 200,000 at $3: $0.9 + 0.0225).
    check(claude(250_000, 0, 0, None, 1_000), Ok(1_522_500_000));
    // Cached tokens count toward the prompt's length: 150,000 uncached + 60,000 cache reads is
    // 210,000: 150,000 × $6 + 60,000 × $0.60 + 100 × $22.50 = 0.9 + 0.036 + 0.00225 = $0.93825.
    check(claude(210_000, 60_000, 0, None, 100), Ok(938_250_000));
}

#[test]
fn cached_codex_input_is_priced_at_the_cached_rate() {
    // gpt-5 (gpt-5-codex), per million: input $1.25, cached input $0.125, output $10 (reasoning
    // included). 2,000 uncached + 8,000 cached + 500 output:
    // 0.0025 + 0.001 + 0.005 = $0.0085.
    let response = Response {
        client: "codex",
        model: Some("gpt-5-codex"),
        timestamp: Some(OCTOBER_2025),
        prompt_tokens: 10_000,
        cache_read_tokens: 8_000,
        output_tokens: 500,
        ..Response::default()
    };
    check(response, Ok(8_500_000));
    // A dated id the table lists undated is priced as the undated model: gpt-5.1 has gpt-5's rates.
    check(
        Response { model: Some("gpt-5-1-codex-2025-11-13"), timestamp: Some("2025-11-20T00:00:00Z"), ..response },
        Ok(8_500_000),
    );
}

#[test]
fn what_cannot_be_priced_is_unpriced_never_free() {
    let unknown = Response { model: Some("acme-coder-9"), ..claude(1_000, 0, 0, None, 10) };
    check(unknown, Err(Unpriced::UnknownModel("acme-coder-9".into())));
    check(Response { model: None, ..claude(1_000, 0, 0, None, 10) }, Err(Unpriced::NoModel));
    check(Response { timestamp: None, ..claude(1_000, 0, 0, None, 10) }, Err(Unpriced::NoTimestamp));
    check(Response { timestamp: Some("yesterday"), ..claude(1_000, 0, 0, None, 10) }, Err(Unpriced::NoTimestamp));
    // Claude's own `<synthetic>` messages bill no tokens: nothing to price, and nothing unknown.
    check(Response { model: Some("<synthetic>"), ..claude(0, 0, 0, None, 0) }, Ok(0));
}

#[test]
fn a_model_of_another_vendor_is_found_in_the_whole_table() {
    // A Claude Code session routed to an OpenAI model through a proxy.
    let response = Response { model: Some("gpt-5"), ..claude(10_000, 8_000, 0, None, 500) };
    check(response, Ok(8_500_000));
}

#[test]
fn dated_ids_lose_their_date_only() {
    for (model, expected) in [
        ("gpt-5-1-codex-2025-11-13", Some("gpt-5-1-codex")),
        ("claude-sonnet-4-5-20250929", Some("claude-sonnet-4-5")),
        ("gpt-5", None),
        ("gpt-4-0613", None),
        ("-2025-11-13", None),
        ("model-2025-1-13", None),
        ("claude-3-5-sonnet-latest", None),
    ] {
        assert_eq!(undated_model(model), expected, "{model}");
    }
}

#[test]
fn rates_read_back_from_the_table() {
    let rates = rates(Some("claude"), SONNET, OCTOBER_2025).expect("priced");
    assert_eq!(rates.matched_model, "claude-sonnet-4-5");
    assert_eq!(rates.vendor, "anthropic");
    assert_eq!(
        [rates.input, rates.cache_write_5m, rates.cache_write_1h, rates.cache_read, rates.output],
        [3.0, 3.75, 6.0, 0.3, 15.0]
    );
    let long = rates.long_context.expect("a long-context tier");
    assert_eq!(
        [long.input, long.cache_write_5m, long.cache_write_1h, long.cache_read, long.output],
        [6.0, 7.5, 12.0, 0.6, 22.5]
    );
    let codex = super::rates(Some("codex"), "gpt-5-codex", OCTOBER_2025).expect("priced");
    assert_eq!((codex.input, codex.cache_read, codex.output, codex.long_context), (1.25, 0.125, 10.0, None));
}

#[test]
fn the_price_table_is_the_one_cargo_lock_builds() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|package| package.contains("name = \"genai-prices\""))
        .and_then(|package| package.lines().find_map(|line| line.strip_prefix("version = \"")))
        .map(|version| version.trim_end_matches('"'))
        .expect("genai-prices in Cargo.lock");
    assert_eq!(
        PRICE_TABLE,
        format!("genai-prices {version}"),
        "a new price table: update PRICE_TABLE, which re-prices stores"
    );
}

#[test]
fn a_vendor_table_prices_as_the_whole_table() {
    assert_eq!(VENDOR_TABLES.len(), 3, "build.rs split the bundled table for anthropic, openai and google");
    let shapes = [
        // A short prompt, a long one (over every tier), cache reads and writes, 1-hour writes.
        Usage::from([(UsageKey::INPUT_TOKENS, 5_000.0), (UsageKey::OUTPUT_TOKENS, 700.0)]),
        Usage::from([
            (UsageKey::INPUT_TOKENS, 900_000.0),
            (UsageKey::CACHE_READ_TOKENS, 600_000.0),
            (UsageKey::CACHE_WRITE_TOKENS, 200_000.0),
            (UsageKey::CACHE_WRITE_1H_TOKENS, 50_000.0),
            (UsageKey::OUTPUT_TOKENS, 3_000.0),
        ]),
    ];
    let instants: Vec<SystemTime> = ["2024-06-01T00:00:00Z", "2025-10-15T12:00:00Z", "2026-11-30T23:00:00Z"]
        .iter()
        .map(|at| parse_instant(at).unwrap())
        .collect();
    let mut compared = 0;
    for (vendor, _) in VENDOR_TABLES {
        let table = calculator_for(Some(vendor));
        assert!(!std::ptr::eq(table, Calculator::bundled()), "{vendor}: its own table");
        for provider in table.providers() {
            for model in provider.models() {
                for usage in &shapes {
                    for at in &instants {
                        let request = PriceRequest::new(model.id(), usage).with_provider_id(vendor).with_timestamp(*at);
                        let (split, whole) = (table.calculate(&request), Calculator::bundled().calculate(&request));
                        match (split, whole) {
                            (Ok(split), Ok(whole)) => assert_eq!(
                                (split.total_price, split.model_id),
                                (whole.total_price, whole.model_id),
                                "{vendor}/{}",
                                model.id()
                            ),
                            (Err(split), Err(whole)) => {
                                assert_eq!(split.kind(), whole.kind(), "{vendor}/{}", model.id())
                            }
                            (split, whole) => panic!("{vendor}/{}: {split:?} vs {whole:?}", model.id()),
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 1_000, "{compared} prices compared");
}

#[test]
fn the_split_tables_are_of_the_price_table_this_build_names() {
    let build = include_str!("../build.rs");
    let version = build
        .lines()
        .find_map(|line| line.strip_prefix("const VERSION: &str = \""))
        .map(|rest| rest.trim_end_matches("\";"));
    assert_eq!(version.map(|version| format!("genai-prices {version}")).as_deref(), Some(PRICE_TABLE));
}
