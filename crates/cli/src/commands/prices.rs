//! `hindcast prices [MODEL]`: the rates costs are computed with, where they come from and when
//! they were in force; without a model, every model the store holds and how it was matched.

use hindcast_core::time_window::{WindowEdge, parse_time_spec};
use hindcast_pricing::{PRICE_SOURCE, PRICE_TABLE, Rates, Unpriced, rates};
use hindcast_store::Store;
use serde::Serialize;
use serde_json::json;

use super::Context;
use crate::cli::PricesArgs;
use crate::exit::{self, ExitError};
use crate::output::{print_json, print_stdout, table};

/// A model's rates, or why it has none.
#[derive(Debug, Serialize)]
struct ModelPrice {
    client: Option<String>,
    model: String,
    /// Responses of this model in the store (without a model argument).
    #[serde(skip_serializing_if = "Option::is_none")]
    responses: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rates: Option<Rates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unpriced: Option<Unpriced>,
}

pub fn run(context: &Context, args: &PricesArgs) -> anyhow::Result<u8> {
    let now = context.now();
    let at = match args.at.as_deref() {
        Some(at) => {
            parse_time_spec(at, WindowEdge::Since, now).map_err(|error| ExitError::usage(format!("--at: {error}")))?
        }
        None => now,
    };
    let at_text = hindcast_core::time_window::format_timestamp(at);
    let models: Vec<(Option<String>, String, Option<i64>)> = match &args.model {
        Some(model) => vec![(args.client.clone(), model.clone(), None)],
        None => {
            let conn =
                Store::open_read_only(&context.paths()?.db).map_err(|error| ExitError::failure(error.to_string()))?;
            let mut statement = conn.prepare(
                "SELECT o.provider, u.model, count(*) FROM token_usage u JOIN origin o ON o.origin = u.origin \
                 WHERE u.model IS NOT NULL AND (?1 IS NULL OR o.provider = ?1) GROUP BY 1, 2 ORDER BY 1, 2",
            )?;
            statement
                .query_map([&args.client], |row| Ok((Some(row.get(0)?), row.get(1)?, Some(row.get(2)?))))?
                .collect::<Result<_, _>>()?
        }
    };
    let prices: Vec<ModelPrice> = models
        .into_iter()
        .map(|(client, model, responses)| {
            let found = rates(client.as_deref(), &model, &at_text);
            let (rates, unpriced) = match found {
                Ok(rates) => (Some(rates), None),
                Err(why) => (None, Some(why)),
            };
            ModelPrice { client, model, responses, rates, unpriced }
        })
        .collect();
    if args.json {
        print_json(&json!({
            "schema": "hindcast.prices/v1",
            "price_table": PRICE_TABLE,
            "source": PRICE_SOURCE,
            "at": at_text,
            "unit": "USD per million tokens",
            "models": prices,
        }));
        return Ok(if args.model.is_some() && prices.iter().any(|price| price.unpriced.is_some()) {
            exit::FAILURE
        } else {
            exit::OK
        });
    }
    let mut rendered =
        table(&["model", "matched as", "input", "cache\nwrite 5m", "cache\nwrite 1h", "cache\nread", "output"]);
    let rate = |value: f64| format!("${value}");
    let mut long_context = Vec::new();
    for price in &prices {
        let label = match (&price.client, price.responses) {
            (Some(client), Some(responses)) => format!("{} ({client}, {responses} responses)", price.model),
            _ => price.model.clone(),
        };
        match (&price.rates, &price.unpriced) {
            (Some(rates), _) => {
                rendered.add_row([
                    label,
                    format!("{}/{}", rates.vendor, rates.matched_model),
                    rate(rates.input),
                    rate(rates.cache_write_5m),
                    rate(rates.cache_write_1h),
                    rate(rates.cache_read),
                    rate(rates.output),
                ]);
                if let Some(long) = &rates.long_context {
                    long_context.push(format!(
                        "  {}: input ${}, cache write ${} / ${}, cache read ${}, output ${}",
                        rates.matched_model,
                        long.input,
                        long.cache_write_5m,
                        long.cache_write_1h,
                        long.cache_read,
                        long.output
                    ));
                }
            }
            (None, Some(why)) => {
                rendered.add_row([
                    label,
                    format!("unpriced: {why}"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            (None, None) => {}
        }
    }
    let mut text = format!(
        "Prices in force at {at_text}, USD per million tokens, from {PRICE_TABLE} ({PRICE_SOURCE})\n{rendered}\n"
    );
    if !long_context.is_empty() {
        text.push_str("Long prompts (over the model's context tier, charged for the whole request):\n");
        text.push_str(&long_context.join("\n"));
        text.push('\n');
    }
    text.push_str(
        "Each response is priced at the rate in force when it was made; a newer hindcast with a newer table re-prices the store on upgrade.\n",
    );
    print_stdout(&text);
    Ok(if args.model.is_some() && prices.iter().any(|price| price.unpriced.is_some()) {
        exit::FAILURE
    } else {
        exit::OK
    })
}
