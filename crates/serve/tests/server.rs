//! The server over a store built from a hostile Gemini CLI session: who gets in (the token, then
//! the cookie; never a foreign `Host`), the headers every answer carries, each page, and that
//! transcript text arrives as text.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_serve::{SECURITY_HEADERS, ServeOptions, Server};
use hindcast_store::views::report::Zone;

/// What the CLI passes: control characters made visible (`\e`), as on a terminal.
fn shown(text: &str) -> Cow<'_, str> {
    if text.contains('\u{1b}') { Cow::Owned(text.replace('\u{1b}', "\\e")) } else { Cow::Borrowed(text) }
}

const HOSTILE: &str =
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) \u{1b}[31mred";

fn hostile_store(dir: &std::path::Path) -> std::path::PathBuf {
    let chats = dir.join(".gemini/tmp/evil/chats");
    std::fs::create_dir_all(&chats).unwrap();
    let title = serde_json::to_string(HOSTILE).unwrap();
    let lines = [
        r#"{"sessionId":"55555555-5555-4555-8555-555555555555","projectHash":"h","startTime":"2026-05-02T10:00:00.000Z","lastUpdated":"2026-05-02T10:00:09.000Z","kind":"main"}"#.to_string(),
        format!(r#"{{"$set":{{"summary":{title}}}}}"#),
        format!(r#"{{"id":"u1","timestamp":"2026-05-02T10:00:01.000Z","type":"user","content":[{{"text":{title}}}]}}"#),
        format!(
            r#"{{"id":"g1","timestamp":"2026-05-02T10:00:05.000Z","type":"gemini","content":"rendered safely","thoughts":[],"tokens":{{"input":100,"output":10,"cached":0,"thoughts":0,"tool":0,"total":110}},"model":"gemini-2.5-pro","toolCalls":[{{"id":"c1","name":"run_shell_command","args":{{"command":"ls"}},"result":[{{"functionResponse":{{"id":"c1","name":"run_shell_command","response":{{"output":{title}}}}}}}],"status":"success"}}]}}"#
        ),
        r#"{"id":"u2","timestamp":"2026-05-03T09:00:00.000Z","type":"user","content":"zebrafish quota"}"#.to_string(),
    ];
    std::fs::write(chats.join("session-2026-05-02T10-00-55555555.jsonl"), lines.join("\n") + "\n").unwrap();
    let env = Environment::with_home(dir).set_var("HINDCAST_GEMINI_DIR", dir.join(".gemini").display().to_string());
    let db = dir.join("hindcast.db");
    let report = hindcast_testing::backfill_into(Arc::new(hindcast_provider_gemini::GeminiProvider), &env, &db, false);
    assert!(report.error.is_none(), "{:?}", report.error);
    db
}

struct Running {
    address: SocketAddr,
    token_url: String,
    _dir: tempfile::TempDir,
}

fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_store(dir.path());
    let options = ServeOptions {
        db,
        port: 0,
        zone: Zone::utc(),
        shown,
        resume_command: Arc::new(|client, id| {
            (client == "gemini").then(|| vec!["gemini".into(), "--resume".into(), id.into()])
        }),
    };
    let server = Server::bind(options).unwrap();
    let (address, token_url) = (server.address(), server.url());
    std::thread::spawn(move || server.run());
    Running { address, token_url, _dir: dir }
}

/// One request with these headers; the status, the headers (lower-cased names) and the body.
fn get(address: SocketAddr, target: &str, host: &str, cookie: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let cookie = cookie.map(|cookie| format!("Cookie: {cookie}\r\n")).unwrap_or_default();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// Signs in with the printed link; returns the cookie.
fn sign_in(running: &Running) -> String {
    let target = running.token_url.trim_start_matches(&format!("http://{}", running.address));
    let (status, headers, _) = get(running.address, target, &running.address.to_string(), None);
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/"), "the token leaves the address bar");
    let cookie = header(&headers, "set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn only_the_token_then_its_cookie_get_in_and_only_on_127_0_0_1() {
    let running = start();
    assert!(running.address.ip().is_loopback() && running.address.ip().to_string() == "127.0.0.1");
    // Bound to 127.0.0.1 alone, not to every address: the rest of the loopback net (which a
    // wildcard bind would answer on) and IPv6's loopback find nobody listening.
    let port = running.address.port();
    for elsewhere in ["127.0.0.2", "127.1.2.3", "::1"] {
        let address: SocketAddr = (elsewhere.parse::<std::net::IpAddr>().unwrap(), port).into();
        let connected = TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2));
        assert!(connected.is_err(), "something answers on {address}");
    }
    let host = running.address.to_string();
    assert_eq!(get(running.address, "/", &host, None).0, 403, "no token, no cookie");
    assert_eq!(get(running.address, "/?token=0000", &host, None).0, 403, "a wrong token");
    assert_eq!(get(running.address, "/", &host, Some("hindcast_session=forged")).0, 403, "a forged cookie");
    let cookie = sign_in(&running);
    assert_eq!(get(running.address, "/", &host, Some(&cookie)).0, 200);
    assert_eq!(get(running.address, "/", &format!("localhost:{}", running.address.port()), Some(&cookie)).0, 200);
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 sends that name.
    assert_eq!(get(running.address, "/", &format!("evil.example:{}", running.address.port()), Some(&cookie)).0, 403);
    assert_eq!(get(running.address, "/", "127.0.0.1:1", Some(&cookie)).0, 403, "another port");
}

#[test]
fn every_answer_carries_the_security_headers() {
    let running = start();
    let host = running.address.to_string();
    let cookie = sign_in(&running);
    for target in ["/", "/sessions", "/search?q=zebrafish", "/static/style.css", "/nowhere"] {
        let (_, headers, _) = get(running.address, target, &host, Some(&cookie));
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(header(&headers, &name.to_ascii_lowercase()), Some(*value), "{target}: {name}");
        }
    }
    let (_, headers, _) = get(running.address, "/", &host, None);
    assert!(header(&headers, "content-security-policy").unwrap().contains("frame-ancestors 'none'"), "refusals too");
}

#[test]
fn pages_answer_and_transcript_text_stays_text() {
    let running = start();
    let host = running.address.to_string();
    let cookie = sign_in(&running);
    let page = |target: &str| {
        let (status, _, body) = get(running.address, target, &host, Some(&cookie));
        assert_eq!(status, 200, "{target}");
        body
    };
    let overview = page("/?since=all");
    assert_eq!(overview.matches("<g class=\"bar\">").count(), 6, "one bar per day in each of the three charts");
    let sessions = page("/sessions");
    let link = sessions.split("href=\"/session/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let conversation = page(&format!("/session/{link}"));
    let search = page("/search?q=zebrafish");
    assert!(search.contains("<mark>zebrafish</mark>"), "{search}");
    assert!(search.contains(&format!("/session/{link}?at=")), "the hit links into the session, at its message");
    assert!(conversation.contains("id=\"m-"), "messages have anchors");
    assert!(conversation.contains("<details class=\"call\">"), "tool calls are folded");
    assert!(conversation.contains("gemini --resume 55555555-5555-4555-8555-555555555555"));
    for body in [&sessions, &conversation] {
        let scripts: Vec<&str> = body.split("<script").skip(1).collect();
        assert!(
            scripts.iter().all(|tag| tag.starts_with(" src=\"/static/app.js\"")),
            "only the page's own script: {body}"
        );
        assert!(!body.contains("<img") && !body.contains("href=\"javascript"), "{body}");
        assert!(!body.contains('\u{1b}'), "no raw escape byte");
    }
    assert!(conversation.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && conversation.contains("\\e[31mred"));
    assert_eq!(get(running.address, "/session/ffffffffffff", &host, Some(&cookie)).0, 404);

    // Search filters: "zebrafish" is a prompt, so the model's text has none of it; the day it was
    // said is in the window that holds it and not in one before.
    let prompts = page("/search?q=zebrafish&role=user");
    assert!(prompts.contains("<mark>zebrafish</mark>") && prompts.contains("<p>1 session</p>"), "{prompts}");
    assert!(page("/search?q=zebrafish&role=assistant").contains("<p>0 sessions</p>"));
    assert!(page("/search?q=zebrafish&since=2026-05-03").contains("<mark>zebrafish</mark>"));
    assert!(page("/search?q=zebrafish&until=2026-05-02").contains("<p>0 sessions</p>"));
    assert!(page("/search?q=zebrafish").contains("2026-05-03 09:00 · user"), "a hit names its time and role");
    // A zone that does not exist is said to be wrong, not silently replaced.
    for target in ["/?tz=Mars/Olympus", "/sessions?tz=Mars/Olympus", "/search?q=zebrafish&tz=Mars/Olympus"] {
        let body = page(target);
        assert!(body.contains("class=\"error\">tz: "), "{target}: {body}");
    }
}

#[test]
fn the_redirect_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_store(dir.path());
    let server =
        Server::bind(ServeOptions { db, port: 0, zone: Zone::utc(), shown, resume_command: Arc::new(|_, _| None) })
            .unwrap();
    let file = server.write_redirect_file(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&server.url().replace('&', "&amp;")));
}
