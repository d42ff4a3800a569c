//! Smoke of `hindcast serve` as a person runs it: the real binary on every fixture, the printed
//! link followed, each page fetched over HTTP, the refusals checked, the sources and the store
//! left as they were, and the server stopped.

use anyhow::{Context, Result, bail, ensure};

use super::{Binaries, Sandbox};
use crate::serve_client::{cookie_of, get, start};

pub const SUITES: &[(&str, super::Suite)] = &[("serve", serve)];

fn serve(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.install_fixture("gemini", ".gemini")?;
    sandbox.install_opencode()?;
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(0)?;
    let sources = sandbox.sources_fingerprint()?;
    let store = std::fs::read(sandbox.db())?;

    let (running, port, target) = start(sandbox.command(&binaries.hindcast, &["serve", "--port", "0"]))?;
    let host = format!("127.0.0.1:{port}");

    ensure!(get(port, "/", &host, None)?.0 == 403, "no token, no page");
    let (status, head, _) = get(port, &format!("/{target}"), &host, None)?;
    ensure!(status == 303 && head.contains("location: /\r\n"), "the link signs in and drops its token: {head}");
    let cookie = cookie_of(&head).context("a cookie")?;
    ensure!(head.contains("httponly") && head.contains("samesite=strict"), "{head}");
    ensure!(get(port, "/", "evil.example", Some(&cookie))?.0 == 403, "a foreign Host is refused");
    for (target, expect) in [
        ("/?since=all", "Cost per day"),
        ("/sessions", "Port 8080 in the web app config"),
        ("/sessions?client=opencode", "Fix checkout rounding"),
        ("/search?q=rounding", "<mark>"),
        ("/static/style.css", "color-scheme"),
    ] {
        let (status, head, body) = get(port, target, &host, Some(&cookie))?;
        ensure!(status == 200, "{target}: {status}");
        ensure!(body.contains(expect), "{target} lacks {expect:?}");
        ensure!(
            head.contains("content-security-policy: default-src 'self'")
                && head.contains("referrer-policy: no-referrer")
        );
        if let Some(link) = body.split("href=\"/session/").nth(1) {
            let session = link.split(['"', '#']).next().unwrap_or_default();
            let (status, _, page) = get(port, &format!("/session/{session}"), &host, Some(&cookie))?;
            ensure!(status == 200 && page.contains("id=\"m-"), "{target}: its session page");
        }
    }
    // A sub-agent's spawn is a marker linking to it, beside the call that spawned it.
    let (status, _, page) = get(port, "/session/9a9a9a9a-0000-4000-8000-000000000020", &host, Some(&cookie))?;
    ensure!(status == 200, "the sub-agents fixture's session: {status}");
    let spawns = page.matches("<div class=\"marker spawn\">sub-agent: <a href=\"/session/").count();
    ensure!(spawns == 3, "{spawns} spawn markers linking to their sub-agents, not 3");
    drop(running);
    super::expect_unchanged(&sources, &sandbox.sources_fingerprint()?, "hindcast serve")?;
    if std::fs::read(sandbox.db())? != store {
        bail!("hindcast serve changed the store");
    }
    Ok(())
}
