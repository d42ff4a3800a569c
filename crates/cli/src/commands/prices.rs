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
use crate::output::print_json;

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
    if let Some(client) = args.client.as_deref() {
        super::known_client(context, client)?;
    }
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
    let rate = |value: f64| format!("${value}");
    let mut text = format!(
        "Prices in force at {}, USD per million tokens,\nfrom {PRICE_TABLE}: {PRICE_SOURCE}\n",
        at_text.get(..16).unwrap_or(&at_text).replace('T', " ") + " UTC"
    );
    for price in &prices {
        let seen = match (&price.client, price.responses) {
            (Some(client), Some(1)) => format!(", {client}, 1 response in the store"),
            (Some(client), Some(responses)) => format!(", {client}, {responses} responses in the store"),
            _ => String::new(),
        };
        match (&price.rates, &price.unpriced) {
            (Some(rates), _) => {
                text.push_str(&format!("\n{} (as {}/{}{seen})\n", price.model, rates.vendor, rates.matched_model));
                text.push_str(&format!(
                    "  input {}, cache write {} (5 min) / {} (1 hour), cache read {}, output {}\n",
                    rate(rates.input),
                    rate(rates.cache_write_5m),
                    rate(rates.cache_write_1h),
                    rate(rates.cache_read),
                    rate(rates.output)
                ));
                if let Some(long) = &rates.long_context {
                    text.push_str(&format!(
                        "  over its long-context tier (the whole request): input {}, cache write {} / {},\n  cache read {}, output {}\n",
                        rate(long.input),
                        rate(long.cache_write_5m),
                        rate(long.cache_write_1h),
                        rate(long.cache_read),
                        rate(long.output)
                    ));
                }
            }
            (None, Some(why)) => {
                text.push_str(&format!("\n{} ({}{seen})\n  unpriced: {why}\n", price.model, "no price"))
            }
            (None, None) => {}
        }
    }
    text.push_str(
        "\nA response is priced at the rate in force when it was made; a hindcast with a newer table\nprices the store again when it upgrades it.\n",
    );
    context.print_text(&text);
    Ok(if args.model.is_some() && prices.iter().any(|price| price.unpriced.is_some()) {
        exit::FAILURE
    } else {
        exit::OK
    })
}
