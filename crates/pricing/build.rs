//! Splits the price table `genai-prices` bundles into one table per vendor the clients bill by,
//! so a short run (the status line) decodes one vendor's prices instead of all of them (a few
//! milliseconds instead of tens). Without the crate's sources at hand (a vendored build), no
//! split is made and the whole bundled table is used: the split is an optimization, never a
//! different answer (`tests::a_vendor_table_prices_as_the_whole_table`).

use std::path::PathBuf;

/// The bundled table's version; `PRICE_TABLE` names the same (a test holds them equal).
const VERSION: &str = "0.2.1";
const VENDORS: [&str; 3] = ["anthropic", "openai", "google"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut generated = String::from(
        "/// Per-vendor price tables split from the bundled one at build time.\npub const VENDOR_TABLES: &[(&str, &[u8])] = &[\n",
    );
    match bundled_table() {
        Some(text) => {
            let providers: Vec<serde_json::Value> = serde_json::from_str(&text).expect("genai-prices' table is JSON");
            for vendor in VENDORS {
                let subset: Vec<&serde_json::Value> =
                    providers.iter().filter(|provider| provider["id"] == vendor).collect();
                if subset.is_empty() {
                    continue;
                }
                let path = out.join(format!("{vendor}.json"));
                std::fs::write(&path, serde_json::to_vec(&subset).expect("JSON serializes"))
                    .expect("OUT_DIR is writable");
                generated.push_str(&format!("    ({vendor:?}, include_bytes!({:?})),\n", path.display().to_string()));
            }
        }
        None => println!(
            "cargo:warning=genai-prices {VERSION}'s sources were not found: every run decodes the whole price table"
        ),
    }
    generated.push_str("];\n");
    std::fs::write(out.join("vendor_tables.rs"), generated).expect("OUT_DIR is writable");
}

/// `data/prices.json` of the locked `genai-prices`, from cargo's registry sources.
fn bundled_table() -> Option<String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let registries = std::fs::read_dir(cargo_home.join("registry/src")).ok()?;
    for registry in registries.filter_map(Result::ok) {
        let path = registry.path().join(format!("genai-prices-{VERSION}/data/prices.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            println!("cargo:rerun-if-changed={}", path.display());
            return Some(text);
        }
    }
    None
}
