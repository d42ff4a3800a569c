//! Talking to a running `hindcast serve` from the smokes and the bench: start it and read the
//! link it prints, GET a page over HTTP/1.1, and sign in with the link's token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// The server, stopped however its user ends.
pub struct Running(std::process::Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hindcast serve` from `command` and reads the link it prints: the running server, its
/// port, and the link's path with its token (`?token=…`).
pub fn start(mut command: Command) -> Result<(Running, u16, String)> {
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

/// One GET on a fresh connection naming `host`: the status, the head (lowercase) and the body.
pub fn get(port: u16, target: &str, host: &str, cookie: Option<&str>) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let cookie = cookie.map(|cookie| format!("Cookie: {cookie}\r\n")).unwrap_or_default();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    let status = head.split(' ').nth(1).context("a status")?.parse()?;
    Ok((status, head.to_ascii_lowercase(), body.to_string()))
}

/// The cookie (`name=value`) an answer sets, if it sets one.
pub fn cookie_of(head: &str) -> Option<String> {
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .map(str::to_string)
}
