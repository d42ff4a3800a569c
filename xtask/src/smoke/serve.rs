//! Smoke of `hindcast serve` as a person runs it: the real binary on every fixture, the printed
//! link followed, each page fetched over HTTP, the refusals checked, the sources and the store
//! left as they were, and the server stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use anyhow::{Context, Result, bail, ensure};

use super::{Binaries, Sandbox};

pub const SUITES: &[(&str, super::Suite)] = &[("serve", serve)];

/// Kills the server however the smoke ends.
pub struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, target: &str, host: &str, cookie: Option<&str>) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let cookie = cookie.map(|cookie| format!("Cookie: {cookie}\r\n")).unwrap_or_default();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    let status = head.split(' ').nth(1).context("a status")?.parse()?;
    Ok((status, head.to_ascii_lowercase(), body.to_string()))
}

/// Starts `hindcast serve` from `command` and reads the link it prints: the running server, its
/// port, and the link's path with its token (`?token=…`).
pub fn start(mut command: std::process::Command) -> Result<(Running, u16, String)> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let running = Running(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url)?;
    let url = url.trim();
    let rest = url.strip_prefix("http://127.0.0.1:").with_context(|| format!("a 127.0.0.1 link, not {url:?}"))?;
    let (port, target) = rest.split_once('/').context("a port and a path")?;
    Ok((running, port.parse()?, target.to_string()))
}

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
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .context("a cookie")?
        .to_string();
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
