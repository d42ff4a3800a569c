//! The web page in a real browser: headless Chromium driven over WebDriver (ChromeDriver) against
//! the real binary serving every fixture and a hostile session. Every page loads without a
//! console error or a failed request; search finds a session and its link opens at the hit; a
//! tool call expands; the chart has a bar per day; hostile text stays text and runs nothing; the
//! reading pages work with JavaScript off; screenshots of each page in both themes are written
//! under `target/browser-screenshots/` and checked for being drawn. `cargo xtask screenshots`
//! writes the README's from the same fixtures.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::{Binaries, Sandbox};
use crate::serve_client::{Running, start};
use crate::workspace_root;

pub const SUITES: &[(&str, super::Suite)] = &[("browser", browser)];

/// The hostile fixture's session (`fixtures/hostile`).
const HOSTILE_SESSION: &str = "99999999-0000-4000-8000-0000000000e1";

/// A word said only near the end of the hostile session, so its hit is not the first message.
const HOSTILE_WORD: &str = "quokka";

/// Where the browser and its driver are (Debian's `chromium` and `chromium-driver`), unless
/// `HINDCAST_CHROMIUM` / `HINDCAST_CHROMEDRIVER` say otherwise.
fn browser_paths() -> Result<(PathBuf, PathBuf)> {
    let path = |variable: &str, default: &str| {
        std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
    };
    let chromium = path("HINDCAST_CHROMIUM", "/usr/bin/chromium");
    let driver = path("HINDCAST_CHROMEDRIVER", "/usr/bin/chromedriver");
    for found in [&chromium, &driver] {
        ensure!(
            found.exists(),
            "{} is missing: the browser smoke needs Chromium and ChromeDriver \
             (Debian: `apt-get install chromium chromium-driver`; `.ci/run` installs them)",
            found.display()
        );
    }
    Ok((chromium, driver))
}

/// ChromeDriver, stopped however the smoke ends.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(driver: &Path) -> Result<Driver> {
    let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", driver.display()))?;
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        ensure!(started.elapsed() < Duration::from_secs(20), "ChromeDriver did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(driver)
}

/// A command ChromeDriver has beyond the W3C set: POST `session/{id}/{path}` with `body`.
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A headless browser with a profile of its own, JavaScript on or off.
async fn open_browser(driver: &Driver, chromium: &Path, profile: &Path, javascript: bool) -> Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            // Without the networking flags Chromium reaches for Google's hosts, which a closed
            // network refuses (and which a test of "nothing leaves the machine" must not do).
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--window-size=1100,800", format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {"profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .context("starting a Chromium session over WebDriver")
}

/// What the browser's console said at error level since it was last asked.
async fn console_errors(client: &Client) -> Result<Vec<String>> {
    let entries = client.issue_cmd(ChromeCommand { path: "se/log", body: json!({"type": "browser"}) }).await?;
    Ok(entries
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
        .collect())
}

/// Loads `path` and checks that the page came and everything it asked for answered 200, with
/// nothing on the console (a refused script, a failed request, a policy violation).
async fn load(client: &Client, base: &str, path: &str) -> Result<()> {
    client.goto(&format!("{base}{path}")).await.with_context(|| format!("loading {path}"))?;
    client.wait().for_element(Locator::Css("main")).await.with_context(|| format!("{path}: no <main>"))?;
    let failed = client
        .execute(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
             .filter(entry => entry.responseStatus !== 200).map(entry => entry.name + ' ' + entry.responseStatus);",
            vec![],
        )
        .await?;
    ensure!(failed.as_array().is_some_and(Vec::is_empty), "{path}: requests that failed: {failed}");
    let errors = console_errors(client).await?;
    ensure!(errors.is_empty(), "{path}: console errors: {errors:?}");
    Ok(())
}

/// The pages a person reads, with a name for their screenshots.
fn pages(session: &str) -> [(&'static str, String); 4] {
    [
        ("overview", "/?since=all".to_string()),
        ("sessions", "/sessions".to_string()),
        ("session", format!("/session/{session}")),
        ("search", format!("/search?q={HOSTILE_WORD}")),
    ]
}

/// Makes the page think the system theme is `theme` (`light` or `dark`).
async fn emulate_theme(client: &Client, theme: &str) -> Result<()> {
    client
        .issue_cmd(ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({"cmd": "Emulation.setEmulatedMedia",
                         "params": {"features": [{"name": "prefers-color-scheme", "value": theme}]}}),
        })
        .await?;
    Ok(())
}

/// A screenshot's distinct colours and mean brightness (0–255): a page that drew nothing has
/// one colour.
fn picture_facts(png_bytes: &[u8]) -> Result<(usize, f64)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info()?;
    let mut buffer = vec![0; reader.output_buffer_size().context("a PNG's size")?];
    let frame = reader.next_frame(&mut buffer)?;
    let channels = frame.color_type.samples();
    ensure!(channels >= 3 && frame.bit_depth == png::BitDepth::Eight, "an 8-bit RGB(A) screenshot");
    let pixels = buffer[..frame.buffer_size()].chunks_exact(channels);
    let mut colours = std::collections::HashSet::new();
    let mut brightness = 0.0;
    let mut count = 0usize;
    for pixel in pixels {
        colours.insert((pixel[0], pixel[1], pixel[2]));
        brightness += 0.299 * f64::from(pixel[0]) + 0.587 * f64::from(pixel[1]) + 0.114 * f64::from(pixel[2]);
        count += 1;
    }
    Ok((colours.len(), brightness / count.max(1) as f64))
}

/// A store of all fixtures and one more Claude session: the hostile one (the tests) or the
/// showcase (the README's pictures).
fn fixture_sandbox(binaries: &Binaries, extra: &str) -> Result<Sandbox> {
    let mut sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture(&format!("{extra}/claude/projects"), ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.install_fixture("gemini", ".gemini")?;
    sandbox.install_opencode()?;
    sandbox.set_env("TZ", "UTC");
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(0)?;
    Ok(sandbox)
}

/// The server and the link that signs in.
fn serve(sandbox: &Sandbox, binaries: &Binaries) -> Result<(Running, String, String)> {
    let command = sandbox.command(&binaries.hindcast, &["serve", "--port", "0", "--timezone", "UTC"]);
    let (running, port, target) = start(command)?;
    Ok((running, format!("http://127.0.0.1:{port}"), format!("/{target}")))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn browser(binaries: &Binaries) -> Result<()> {
    let (chromium, driver_path) = browser_paths()?;
    let sandbox = fixture_sandbox(binaries, "hostile")?;
    let days = sandbox.run(&binaries.hindcast, &["stats", "daily", "--since", "all", "--timezone", "UTC", "--json"])?;
    let days = days.json()?["report"]["rows"].as_array().context("stats daily rows")?.len();
    ensure!(days >= 3, "the fixtures span several days, not {days}");
    let hostile = sandbox.query_i64(&format!(
        "SELECT count(*) FROM sessions WHERE native_id = '{HOSTILE_SESSION}' AND client = 'claude'"
    ))?;
    ensure!(hostile == 1, "the hostile fixture was imported");
    let (_server, base, sign_in) = serve(&sandbox, binaries)?;
    let driver = start_driver(&driver_path)?;
    let profiles = tempfile::tempdir()?;
    let shots = workspace_root().join("target/browser-screenshots");
    std::fs::create_dir_all(&shots)?;
    runtime()?.block_on(async {
        let client = open_browser(&driver, &chromium, &profiles.path().join("on"), true).await?;
        let outcome = with_javascript(&client, &base, &sign_in, days, &shots).await;
        client.close().await?;
        outcome?;
        let client = open_browser(&driver, &chromium, &profiles.path().join("off"), false).await?;
        let outcome = without_javascript(&client, &base, &sign_in, days).await;
        client.close().await?;
        outcome
    })
}

async fn sign_in(client: &Client, base: &str, link: &str) -> Result<()> {
    client.goto(&format!("{base}{link}")).await?;
    let url = client.current_url().await?;
    ensure!(url.query().is_none() && url.path() == "/", "signing in lands on a token-free page, not {url}");
    Ok(())
}

async fn hostile_id(client: &Client, base: &str) -> Result<String> {
    client.goto(&format!("{base}/sessions?client=claude&project=hostile")).await?;
    let link = client.find(Locator::Css("table.sessions a[href^='/session/']")).await?;
    let href = link.attr("href").await?.context("a session link")?;
    Ok(href.trim_start_matches("/session/").to_string())
}

async fn bars_of_first_chart(client: &Client) -> Result<usize> {
    let chart = client.find(Locator::Css("main svg.chart")).await?;
    Ok(chart.find_all(Locator::Css("g.bar rect")).await?.len())
}

async fn with_javascript(client: &Client, base: &str, link: &str, days: usize, shots: &Path) -> Result<()> {
    sign_in(client, base, link).await?;
    let session = hostile_id(client, base).await?;
    for (_, path) in pages(&session) {
        load(client, base, &path).await?;
    }

    load(client, base, "/?since=all").await?;
    let bars = bars_of_first_chart(client).await?;
    ensure!(bars == days, "the cost chart has {bars} bars for {days} days");

    // Search from the box, then follow the hit into the session at the message.
    load(client, base, "/search").await?;
    client.find(Locator::Css("input[name=q]")).await?.send_keys(HOSTILE_WORD).await?;
    client.find(Locator::Css("form[role=search] button")).await?.click().await?;
    let hit = client.wait().for_element(Locator::Css("ol.hits a")).await?;
    let href = hit.attr("href").await?.context("the hit's link")?;
    ensure!(href.starts_with(&format!("/session/{session}?at=")), "the hit links into its session: {href}");
    hit.click().await?;
    // The click starts a navigation; wait until the address is the hit's.
    let started = Instant::now();
    let url = loop {
        let url = client.current_url().await?;
        if url.path().starts_with("/session/") && url.fragment().is_some() {
            break url;
        }
        ensure!(started.elapsed() < Duration::from_secs(20), "the hit's link did not open: at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client.wait().for_element(Locator::Css(":target")).await?;
    let fragment = url.fragment().context("the link opens at a message")?.to_string();
    let target = client.execute("return document.querySelector(':target')?.id ?? null;", vec![]).await?;
    ensure!(target == json!(fragment), "the page is at the hit's message {fragment}, not {target}");
    let in_view = client
        .execute(
            "const box = document.querySelector(':target').getBoundingClientRect(); return box.top >= 0 && box.top < innerHeight;",
            vec![],
        )
        .await?;
    ensure!(in_view == json!(true), "the hit's message is in view");
    let message = client.find(Locator::Id(&fragment)).await?.text().await?;
    ensure!(message.to_lowercase().contains(HOSTILE_WORD), "the message at the hit holds the word: {message}");

    // Hostile text arrives as text and runs nothing.
    load(client, base, &format!("/session/{session}")).await?;
    let main = client.find(Locator::Css("main")).await?.text().await?;
    for shown in
        ["<script>window.__pwned=\"script\"</script>", "<img src=x onerror=", "javascript:window.__pwned='link'"]
    {
        ensure!(main.contains(shown), "the page shows {shown:?} as text: {main}");
    }
    ensure!(!main.contains('\u{1b}') && main.contains("[31mred"), "escape bytes are made visible");
    let pwned = client.execute("return window.__pwned === undefined;", vec![]).await?;
    ensure!(pwned == json!(true), "a transcript ran script");
    ensure!(client.get_alert_text().await.is_err(), "a dialog opened");
    for selector in
        ["main script", "main img", "main iframe", "main object", "a[href^='javascript']", "a[href^='data']"]
    {
        let found = client.find_all(Locator::Css(selector)).await?;
        ensure!(found.is_empty(), "the hostile page holds {} `{selector}`", found.len());
    }
    ensure!(
        !client.find_all(Locator::Css("main a[href='https://example.com/docs']")).await?.is_empty(),
        "a web link in the model's Markdown stays a link"
    );
    ensure!(!client.find_all(Locator::Css("pre.code span[class^='hl-']")).await?.is_empty(), "code is highlighted");

    // A tool call is folded, and opens on a click: an edit shows as a diff.
    let call = client.find(Locator::Css("details.call")).await?;
    ensure!(call.prop("open").await?.as_deref() != Some("true"), "tool calls start folded");
    call.find(Locator::Css("summary")).await?.click().await?;
    ensure!(call.prop("open").await?.as_deref() == Some("true"), "a click opens the tool call");
    ensure!(call.find(Locator::Css(".diff .add")).await?.is_displayed().await?, "the edit shows as a diff");
    // By keyboard: Enter on a focused call's summary opens it; a message's tokens and cost show
    // on focus (as on hover).
    load(client, base, &format!("/session/{session}")).await?;
    let call = client.find(Locator::Css("details.call")).await?;
    let summary = call.find(Locator::Css("summary")).await?;
    client.execute("arguments[0].focus();", vec![serde_json::to_value(&summary)?]).await?;
    summary.send_keys(&char::from(Key::Enter).to_string()).await?;
    ensure!(call.prop("open").await?.as_deref() == Some("true"), "Enter opens a focused tool call");
    let usage = client.find(Locator::Css(".usage")).await?;
    let detail = usage.find(Locator::Css(".detail")).await?;
    ensure!(!detail.is_displayed().await?, "a message's usage detail waits for hover or focus");
    client.execute("arguments[0].focus();", vec![serde_json::to_value(&usage)?]).await?;
    let shown = detail.text().await?;
    ensure!(detail.is_displayed().await? && shown.contains("input") && shown.contains('$'), "focus shows {shown:?}");
    let copy = client.find(Locator::Css("button.copy")).await?;
    ensure!(copy.is_displayed().await?, "with script, the copy button shows");
    copy.click().await?;
    client
        .wait()
        .for_element(Locator::XPath("//button[contains(@class,'copy') and starts-with(normalize-space(.),'Cop')]"))
        .await?;
    let errors = console_errors(client).await?;
    ensure!(errors.is_empty(), "copying: console errors: {errors:?}");

    // Each page in both themes, drawn.
    for theme in ["light", "dark"] {
        emulate_theme(client, theme).await?;
        for (name, path) in pages(&session) {
            load(client, base, &path).await?;
            let picture = client.screenshot().await?;
            let file = shots.join(format!("{name}-{theme}.png"));
            std::fs::write(&file, &picture)?;
            let (colours, brightness) = picture_facts(&picture)?;
            ensure!(colours >= 16, "{}: only {colours} colours, a blank page", file.display());
            let dark = brightness < 110.0;
            ensure!(
                dark == (theme == "dark"),
                "{}: mean brightness {brightness:.0} in the {theme} theme",
                file.display()
            );
        }
    }
    eprintln!("browser: screenshots in {}", shots.display());
    Ok(())
}

async fn without_javascript(client: &Client, base: &str, link: &str, days: usize) -> Result<()> {
    sign_in(client, base, link).await?;
    let session = hostile_id(client, base).await?;
    for (_, path) in pages(&session) {
        client.goto(&format!("{base}{path}")).await?;
        let main = client.find(Locator::Css("main")).await?.text().await?;
        ensure!(main.len() > 40, "{path} reads without script: {main:?}");
    }
    client.goto(&format!("{base}/?since=all")).await?;
    ensure!(bars_of_first_chart(client).await? == days, "the chart is drawn without script");
    client.goto(&format!("{base}/session/{session}")).await?;
    let call = client.find(Locator::Css("details.call")).await?;
    call.find(Locator::Css("summary")).await?.click().await?;
    ensure!(call.find(Locator::Css(".diff .add")).await?.is_displayed().await?, "a tool call opens without script");
    ensure!(!client.find(Locator::Css("button.copy")).await?.is_displayed().await?, "no dead copy button");
    let command = client.find(Locator::Css(".resume code")).await?.text().await?;
    ensure!(command.contains(HOSTILE_SESSION), "the resume command is there to select: {command}");
    client.goto(&format!("{base}/search")).await?;
    client.find(Locator::Css("input[name=q]")).await?.send_keys(HOSTILE_WORD).await?;
    client.find(Locator::Css("form[role=search] button")).await?.click().await?;
    let hit =
        client.wait().for_element(Locator::Css("ol.hits a")).await.context("the search form works without script")?;
    ensure!(hit.attr("href").await?.is_some_and(|href| href.contains("#m-")), "a hit links to its message");
    Ok(())
}

/// `cargo xtask screenshots`: the README's pictures, one per page, from the project's fixtures
/// in the light theme, written to `docs/screenshots/`.
pub fn screenshots() -> Result<()> {
    let (chromium, driver_path) = browser_paths()?;
    let binaries = super::build_binaries()?;
    let sandbox = fixture_sandbox(&binaries, "showcase")?;
    let (_server, base, link) = serve(&sandbox, &binaries)?;
    let driver = start_driver(&driver_path)?;
    let profile = tempfile::tempdir()?;
    let out = workspace_root().join("docs/screenshots");
    std::fs::create_dir_all(&out)?;
    runtime()?.block_on(async {
        let client = open_browser(&driver, &chromium, profile.path(), true).await?;
        let outcome = async {
            sign_in(&client, &base, &link).await?;
            client.set_window_size(1000, 900).await?;
            emulate_theme(&client, "light").await?;
            client.goto(&format!("{base}/sessions?client=claude&project=webshop")).await?;
            let showcase = client.find(Locator::Css("table.sessions a[href^='/session/']")).await?;
            let showcase = showcase.attr("href").await?.context("a session link")?;
            let pages = [
                ("overview", "/?since=all".to_string()),
                ("sessions", "/sessions".to_string()),
                ("session", showcase),
                ("search", "/search?q=rounding".to_string()),
            ];
            for (name, path) in pages {
                load(&client, &base, &path).await?;
                if name == "session" {
                    // Open the edit, so the picture shows a diff.
                    let edit =
                        client.find(Locator::XPath("//details[contains(@class,'call')][.//b[text()='Edit']]")).await?;
                    edit.find(Locator::Css("summary")).await?.click().await?;
                }
                let picture = client.screenshot().await?;
                ensure!(picture_facts(&picture)?.0 >= 16, "{name}: a blank page");
                let file = out.join(format!("{name}.png"));
                std::fs::write(&file, &picture)?;
                eprintln!("wrote {} ({} KB)", file.display(), picture.len() / 1024);
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        client.close().await?;
        outcome
    })?;
    if !out.join("overview.png").exists() {
        bail!("no screenshot was written");
    }
    Ok(())
}
