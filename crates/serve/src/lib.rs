//! `hindcast serve`: a read-only web page over the store on 127.0.0.1, reached with a random
//! token that the first request exchanges for a cookie. Transcripts are hostile input: every
//! text is escaped, nothing is loaded from elsewhere, and the headers forbid inline or foreign
//! scripts, framing and referrers.

mod chart;
mod pages;

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_store::Store;
use hindcast_store::views::report::Zone;
use tiny_http::{Header, Method, Request, Response, Server as HttpServer};

/// What the page needs from the command that starts it.
#[derive(Clone)]
pub struct ServeOptions {
    pub db: PathBuf,
    /// 0: any free port.
    pub port: u16,
    /// The zone reports and times are shown in.
    pub zone: Zone,
    /// Text as it may be shown (control characters made visible), before HTML escaping.
    pub shown: fn(&str) -> Cow<'_, str>,
    /// A client's own command reopening a session.
    pub resume_command: ResumeCommand,
}

/// A client's own command reopening a session (`client`, `native id`), as words.
pub type ResumeCommand = Arc<dyn Fn(&str, &str) -> Option<Vec<String>> + Send + Sync>;

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ServeOptions").field("db", &self.db).field("port", &self.port).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on 127.0.0.1:{port}: {message}")]
    Bind { port: u16, message: String },
    #[error("cannot open the store: {0}")]
    Store(#[from] hindcast_store::StoreError),
    #[error("cannot make a random token: {0}")]
    Random(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The cookie that stands for the token once the first request showed it.
const COOKIE: &str = "hindcast_session";

/// A bound server, not yet answering.
pub struct Server {
    http: HttpServer,
    options: ServeOptions,
    address: SocketAddr,
    /// In the URL the command prints; exchanged for the cookie.
    token: String,
    /// The cookie's value (another random value: the token never travels as a cookie).
    cookie: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Server").field("address", &self.address).finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> Result<String, ServeError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| ServeError::Random(error.to_string()))?;
    Ok(hex::encode(buffer))
}

impl Server {
    /// Listens on 127.0.0.1 (and nowhere else) and checks that the store opens read-only.
    pub fn bind(options: ServeOptions) -> Result<Self, ServeError> {
        drop(Store::open_read_only(&options.db)?);
        let requested = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let http = HttpServer::http(requested)
            .map_err(|error| ServeError::Bind { port: options.port, message: error.to_string() })?;
        let address = http.server_addr().to_ip().unwrap_or(requested);
        Ok(Self { http, options, address, token: random_hex(16)?, cookie: random_hex(32)? })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL to open: the only way in, until its token is exchanged for the cookie.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.address, self.token)
    }

    /// Writes a page that sends a browser to [`Server::url`] into `dir`, readable by this user
    /// alone, so the token is handed to a browser without appearing on a command line.
    pub fn write_redirect_file(&self, dir: &Path) -> Result<PathBuf, ServeError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("hindcast-open-{}.html", random_hex(8)?));
        let write_error = |source| ServeError::Write { path: path.clone(), source };
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(write_error)?;
        let url = pages::escape(&self.url());
        file.write_all(
            format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
                 <meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>hindcast</title></head>\
                 <body><a href=\"{url}\">Open hindcast</a></body></html>\n"
            )
            .as_bytes(),
        )
        .map_err(write_error)?;
        Ok(path)
    }

    /// Answers requests until the process ends. The store is opened read-only once.
    pub fn run(self) -> Result<(), ServeError> {
        let conn = Store::open_read_only(&self.options.db)?;
        for request in self.http.incoming_requests() {
            let response = self.answer(&request, &conn);
            // A browser that went away mid-answer is not the server's failure.
            let _ = request.respond(response);
        }
        Ok(())
    }

    fn answer(&self, request: &Request, conn: &rusqlite::Connection) -> Response<std::io::Cursor<Vec<u8>>> {
        let host = header(request, "Host").unwrap_or_default();
        let port = self.address.port();
        if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
            // A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) sends its
            // own host name.
            return refused("this page answers only to 127.0.0.1");
        }
        if !matches!(request.method(), Method::Get | Method::Head) {
            return with_headers(Response::from_string("read-only").with_status_code(405), "text/plain");
        }
        let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
        let params = pages::Params::parse(query);
        if let Some(token) = params.get("token") {
            if !constant_time_eq(token.as_bytes(), self.token.as_bytes()) {
                return refused("this link's token is not this server's");
            }
            let clean = params.without("token");
            let location = if clean.is_empty() { path.to_string() } else { format!("{path}?{clean}") };
            let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", self.cookie);
            return with_headers(Response::from_string("").with_status_code(303), "text/plain")
                .with_header(header_of("Location", &location))
                .with_header(header_of("Set-Cookie", &cookie));
        }
        let signed_in = header(request, "Cookie").is_some_and(|cookies| {
            cookies
                .split(';')
                .filter_map(|cookie| cookie.trim().split_once('='))
                .any(|(name, value)| name == COOKIE && constant_time_eq(value.as_bytes(), self.cookie.as_bytes()))
        });
        if !signed_in {
            return refused("open the link `hindcast serve` printed");
        }
        let page = pages::Context { conn, options: &self.options };
        match page.route(path, &params) {
            Ok(pages::Page::Html(body)) => with_headers(Response::from_string(body), "text/html; charset=utf-8"),
            Ok(pages::Page::Asset(content_type, body)) => with_headers(Response::from_string(body), content_type),
            Ok(pages::Page::NotFound(body)) => {
                with_headers(Response::from_string(body).with_status_code(404), "text/html; charset=utf-8")
            }
            Err(error) => with_headers(
                Response::from_string(pages::error_page(&error.to_string())).with_status_code(500),
                "text/html; charset=utf-8",
            ),
        }
    }
}

fn header(request: &Request, name: &'static str) -> Option<String> {
    request.headers().iter().find(|header| header.field.equiv(name)).map(|header| header.value.as_str().to_string())
}

fn header_of(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("header names and values are ASCII")
}

/// The headers every answer carries: nothing may be loaded from elsewhere or run inline, the
/// page may not be framed, and no link carries where it was followed from.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
];

fn with_headers(
    response: Response<std::io::Cursor<Vec<u8>>>,
    content_type: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = response.with_header(header_of("Content-Type", content_type));
    for (name, value) in SECURITY_HEADERS {
        response = response.with_header(header_of(name, value));
    }
    response
}

fn refused(why: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    with_headers(
        Response::from_string(format!("403 forbidden: {why}\n")).with_status_code(403),
        "text/plain; charset=utf-8",
    )
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}
