//! A deterministic synthetic corpus (Claude projects and Codex sessions) with a realistic line mix
//! and the file-size profile of ccusage's large-fixture profile, for `cargo xtask bench`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// splitmix64: a tiny deterministic generator (the corpus must be identical on every machine).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// File sizes: log-linear interpolation between the profile's quantiles
/// (p50 105 KB, p90 654 KB, p99 5.4 MB, max 87 MB), capped for small corpora.
fn file_size(rng: &mut Rng, cap: u64) -> u64 {
    const QUANTILES: [(f64, f64); 5] = [(0.0, 4e3), (0.5, 105e3), (0.9, 654e3), (0.99, 5.4e6), (1.0, 87e6)];
    let u = rng.unit();
    let window = QUANTILES.windows(2).find(|pair| u <= pair[1].0).unwrap_or(&QUANTILES[3..5]);
    let ((u0, s0), (u1, s1)) = (window[0], window[1]);
    let t = (u - u0) / (u1 - u0);
    let size = (s0.ln() + t * (s1.ln() - s0.ln())).exp() as u64;
    size.min(cap).max(2_000)
}

/// `base` plus up to `spread` bytes of text without characters that need JSON escaping.
fn filler(rng: &mut Rng, base: u64, spread: u64, out: &mut String) {
    let length = (base + if spread > 0 { rng.below(spread) } else { 0 }) as usize;
    const WORDS: [&str; 16] = [
        "the", "parser", "returns", "a", "value", "when", "tests", "pass", "cargo", "build", "fn", "main", "struct",
        "impl", "error", "line",
    ];
    while out.len() < length {
        out.push_str(WORDS[rng.below(16) as usize]);
        out.push(' ');
    }
}

fn timestamp(base_ms: i64, offset_ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(base_ms + offset_ms).expect("bench timestamps are in range");
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What was generated.
pub struct Corpus {
    pub bytes: u64,
    pub claude_files: Vec<PathBuf>,
    pub codex_files: Vec<PathBuf>,
}

const BASE_MS: i64 = 1_785_542_400_000; // 2026-08-01T00:00:00Z

/// One Claude turn: a prompt, a progress line, a response split over three lines with growing
/// output tokens, a tool result, and a final answer.
fn claude_turn(
    rng: &mut Rng,
    session: &str,
    turn: u64,
    clock: &mut i64,
    parent: &mut String,
    out: &mut String,
    sidechain: bool,
) {
    let cwd = "/home/bench/project";
    let envelope = |uuid: &str, parent: &str, at: &str| {
        format!(
            r#""parentUuid":{},"isSidechain":{sidechain},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.90","gitBranch":"main","uuid":"{uuid}","timestamp":"{at}""#,
            if parent.is_empty() { "null".to_string() } else { format!("\"{parent}\"") }
        )
    };
    let mut text = String::new();
    filler(rng, 40, 300, &mut text);
    let uuid = rng.uuid();
    *clock += 5_000;
    let _ = writeln!(
        out,
        r#"{{{},"type":"user","message":{{"role":"user","content":"{text}"}}}}"#,
        envelope(&uuid, parent, &timestamp(BASE_MS, *clock))
    );
    *parent = uuid;
    if rng.below(3) == 0 {
        let uuid = rng.uuid();
        let _ = writeln!(
            out,
            r#"{{{},"type":"progress","data":{{"type":"hook_progress","hookEvent":"PreToolUse","hookName":"PreToolUse:Bash","command":"echo ok"}},"parentToolUseID":"toolu_x","toolUseID":"toolu_x"}}"#,
            envelope(&uuid, parent, &timestamp(BASE_MS, *clock))
        );
        *parent = uuid;
    }
    let message_id = format!("msg_{}", &session[..8]);
    let request = format!("req_{}_{turn}", &session[..8]);
    let tool_id = format!("toolu_{}_{turn}", &session[..8]);
    let final_output = 50 + rng.below(900);
    for (index, output) in [1, final_output / 2, final_output].into_iter().enumerate() {
        let uuid = rng.uuid();
        *clock += 800;
        let mut body = String::new();
        filler(rng, 60, 400, &mut body);
        let block = match index {
            0 => format!(r#"{{"type":"thinking","thinking":"{body}","signature":"c2ln"}}"#),
            1 => format!(r#"{{"type":"text","text":"{body}"}}"#),
            _ => format!(
                r#"{{"type":"tool_use","id":"{tool_id}","name":"Bash","input":{{"command":"cargo test {turn}"}}}}"#
            ),
        };
        let _ = writeln!(
            out,
            r#"{{{},"type":"assistant","requestId":"{request}","message":{{"id":"{message_id}_{turn}","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{block}],"stop_reason":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"output_tokens":{output}}}}}}}"#,
            envelope(&uuid, parent, &timestamp(BASE_MS, *clock)),
            10 + turn % 50,
            200 + rng.below(2_000),
            5_000 + turn * 100
        );
        *parent = uuid;
    }
    let result_size = if rng.below(50) == 0 { 100_000 + rng.below(150_000) } else { 300 + rng.below(12_000) } as usize;
    let mut result = String::new();
    filler(rng, result_size as u64, 0, &mut result);
    let uuid = rng.uuid();
    *clock += 2_000;
    let _ = writeln!(
        out,
        r#"{{{},"type":"user","message":{{"role":"user","content":[{{"tool_use_id":"{tool_id}","type":"tool_result","content":"{result}","is_error":false}}]}},"toolUseResult":{{"stdout":"ok","stderr":"","interrupted":false}}}}"#,
        envelope(&uuid, parent, &timestamp(BASE_MS, *clock))
    );
    *parent = uuid;
}

pub fn claude_session(rng: &mut Rng, session: &str, target: u64, start_ms: i64, sidechain: bool) -> String {
    let mut out = String::with_capacity(target as usize + 4_096);
    let mut clock = start_ms;
    let mut parent = String::new();
    let mut turn = 0;
    while (out.len() as u64) < target {
        claude_turn(rng, session, turn, &mut clock, &mut parent, &mut out, sidechain);
        turn += 1;
    }
    out
}

pub fn codex_rollout(rng: &mut Rng, thread: &str, target: u64, start_ms: i64) -> String {
    let mut out = String::with_capacity(target as usize + 4_096);
    let mut clock = start_ms;
    let _ = writeln!(
        out,
        r#"{{"timestamp":"{0}","type":"session_meta","payload":{{"id":"{thread}","timestamp":"{0}","cwd":"/home/bench/project","originator":"codex_cli_rs","cli_version":"0.150.0","source":"cli","model_provider":"openai"}}}}"#,
        timestamp(BASE_MS, clock)
    );
    let (mut input, mut cached, mut output, mut reasoning) = (0u64, 0u64, 0u64, 0u64);
    let mut turn = 0;
    while (out.len() as u64) < target {
        clock += 5_000;
        let at = timestamp(BASE_MS, clock);
        let mut prompt = String::new();
        filler(rng, 40, 300, &mut prompt);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"turn_context","payload":{{"cwd":"/home/bench/project","approval_policy":"on-request","sandbox_policy":{{"type":"workspace-write"}},"model":"gpt-5-codex","summary":"auto"}}}}"#
        );
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"response_item","payload":{{"type":"message","role":"user","content":[{{"type":"input_text","text":"{prompt}"}}]}}}}"#
        );
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"event_msg","payload":{{"type":"user_message","message":"{prompt}","images":[]}}}}"#
        );
        let mut thought = String::new();
        filler(rng, 80, 200, &mut thought);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"response_item","payload":{{"type":"reasoning","summary":[{{"type":"summary_text","text":"{thought}"}}],"content":null,"encrypted_content":"gAAAAABbench"}}}}"#
        );
        let call = format!("call_{}_{turn}", &thread[..8]);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"response_item","payload":{{"type":"function_call","name":"shell_command","arguments":"{{\"command\":\"cargo test\"}}","call_id":"{call}"}}}}"#
        );
        let mut result = String::new();
        let result_size = if rng.below(40) == 0 { 80_000 } else { 300 + rng.below(10_000) };
        filler(rng, result_size, 0, &mut result);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"response_item","payload":{{"type":"function_call_output","call_id":"{call}","output":"Exit code: 0\nWall time: 1.0 seconds\nOutput:\n{result}"}}}}"#
        );
        let mut answer = String::new();
        filler(rng, 60, 400, &mut answer);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"response_item","payload":{{"type":"message","role":"assistant","content":[{{"type":"output_text","text":"{answer}"}}]}}}}"#
        );
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{at}","type":"event_msg","payload":{{"type":"agent_message","message":"{answer}"}}}}"#
        );
        let (last_input, last_cached, last_output, last_reasoning) =
            (2_000 + rng.below(20_000), 1_000 + rng.below(1_000), 50 + rng.below(800), rng.below(50));
        input += last_input;
        cached += last_cached;
        output += last_output;
        reasoning += last_reasoning;
        let usage = |i: u64, c: u64, o: u64, r: u64| {
            format!(
                r#"{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":{r},"total_tokens":{}}}"#,
                i + o
            )
        };
        let count = format!(
            r#"{{"timestamp":"{at}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{},"last_token_usage":{},"model_context_window":272000}},"rate_limits":null}}}}"#,
            usage(input, cached, output, reasoning),
            usage(last_input, last_cached, last_output, last_reasoning)
        );
        out.push_str(&count);
        out.push('\n');
        out.push_str(&count); // the rate-limit re-emit with unchanged totals
        out.push('\n');
        turn += 1;
    }
    out
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("generated files live in directories"))?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Writes about `target_bytes` of transcripts under `root/claude/projects` (70 %) and
/// `root/codex/sessions` (30 %).
pub fn generate(root: &Path, target_bytes: u64, seed: u64) -> Result<Corpus> {
    let mut rng = Rng::new(seed);
    let cap = (target_bytes / 6).clamp(200_000, 87_000_000);
    let mut corpus = Corpus { bytes: 0, claude_files: Vec::new(), codex_files: Vec::new() };
    let mut claude_bytes = 0u64;
    let mut codex_bytes = 0u64;
    let mut index = 0u64;
    while corpus.bytes < target_bytes {
        let size = file_size(&mut rng, cap);
        let start = (index as i64 % 90) * 86_400_000 + rng.below(80_000_000) as i64;
        if claude_bytes <= codex_bytes * 7 / 3 {
            let session = rng.uuid();
            let project = root.join(format!("claude/projects/-home-bench-project-{}", index % 23));
            let text = claude_session(&mut rng, &session, size, start, false);
            let path = project.join(format!("{session}.jsonl"));
            write_file(&path, &text)?;
            claude_bytes += text.len() as u64;
            corpus.bytes += text.len() as u64;
            corpus.claude_files.push(path);
            if index.is_multiple_of(10) {
                let agent = format!("a{:016x}", rng.next());
                let text = claude_session(&mut rng, &session, (size / 10).max(2_000), start + 60_000, true);
                let path = project.join(format!("{session}/subagents/agent-{agent}.jsonl"));
                write_file(&path, &text)?;
                corpus.bytes += text.len() as u64;
                claude_bytes += text.len() as u64;
            }
        } else {
            let thread = rng.uuid();
            let day =
                jiff::Timestamp::from_millisecond(BASE_MS + start).expect("in range").strftime("%Y/%m/%d").to_string();
            let stamp = jiff::Timestamp::from_millisecond(BASE_MS + start)
                .expect("in range")
                .strftime("%Y-%m-%dT%H-%M-%S")
                .to_string();
            let text = codex_rollout(&mut rng, &thread, size, start);
            let path = root.join(format!("codex/sessions/{day}/rollout-{stamp}-{thread}.jsonl"));
            write_file(&path, &text)?;
            codex_bytes += text.len() as u64;
            corpus.bytes += text.len() as u64;
            corpus.codex_files.push(path);
        }
        index += 1;
    }
    Ok(corpus)
}

/// One Gemini CLI session as the current client writes it (FORMAT.md of the shared corpus): the
/// metadata line, then per turn a prompt, a response with thoughts and tokens, a `$set` of the
/// update time and the response written again with its tool call and result.
pub fn gemini_session(rng: &mut Rng, session: &str, project_hash: &str, target: u64, start_ms: i64) -> String {
    let mut out = String::with_capacity(target as usize + 4_096);
    let mut clock = start_ms;
    let _ = writeln!(
        out,
        r#"{{"sessionId":"{session}","projectHash":"{project_hash}","startTime":"{0}","lastUpdated":"{0}","kind":"main"}}"#,
        timestamp(BASE_MS, clock)
    );
    let mut turn = 0u64;
    while (out.len() as u64) < target {
        clock += 5_000;
        let mut prompt = String::new();
        filler(rng, 40, 300, &mut prompt);
        let _ = writeln!(
            out,
            r#"{{"id":"{}","timestamp":"{}","type":"user","content":[{{"text":"{prompt}"}}]}}"#,
            rng.uuid(),
            timestamp(BASE_MS, clock)
        );
        clock += 3_000;
        let at = timestamp(BASE_MS, clock);
        let (id, call) = (rng.uuid(), format!("call{turn:06}"));
        let (mut thought, mut answer, mut result) = (String::new(), String::new(), String::new());
        filler(rng, 60, 400, &mut thought);
        filler(rng, 60, 400, &mut answer);
        let result_size = if rng.below(50) == 0 { 100_000 + rng.below(150_000) } else { 300 + rng.below(12_000) };
        filler(rng, result_size, 0, &mut result);
        let input = 5_000 + turn * 100;
        let cached = input / 2;
        let (output, thoughts) = (50 + rng.below(900), rng.below(400));
        let response = format!(
            r#""id":"{id}","timestamp":"{at}","type":"gemini","content":"{answer}","thoughts":[{{"subject":"Planning","description":"{thought}","timestamp":"{at}"}}],"tokens":{{"input":{input},"output":{output},"cached":{cached},"thoughts":{thoughts},"tool":0,"total":{}}},"model":"gemini-2.5-pro""#,
            input + output + thoughts
        );
        let _ = writeln!(out, "{{{response}}}");
        let _ = writeln!(out, r#"{{"$set":{{"lastUpdated":"{at}"}}}}"#);
        let _ = writeln!(
            out,
            r#"{{{response},"toolCalls":[{{"id":"{call}","name":"run_shell_command","args":{{"command":"cargo test {turn}"}},"result":[{{"functionResponse":{{"id":"{call}","name":"run_shell_command","response":{{"output":"{result}"}}}}}}],"status":"success","timestamp":"{at}","displayName":"Shell","description":"cargo test","renderOutputAsMarkdown":false}}]}}"#
        );
        turn += 1;
    }
    out
}

/// Writes about `target_bytes` of Gemini CLI sessions under `root/gemini/tmp/<project>/chats`.
pub fn generate_gemini(root: &Path, target_bytes: u64, seed: u64) -> Result<(u64, usize)> {
    let mut rng = Rng::new(seed);
    let cap = (target_bytes / 6).clamp(200_000, 87_000_000);
    let (mut bytes, mut files) = (0u64, 0usize);
    while bytes < target_bytes {
        let size = file_size(&mut rng, cap);
        let start = (files as i64 % 90) * 86_400_000 + rng.below(80_000_000) as i64;
        let project = format!("{:016x}{:048x}", files % 23, 0);
        let session = rng.uuid();
        let text = gemini_session(&mut rng, &session, &project, size, start);
        let stamp = jiff::Timestamp::from_millisecond(BASE_MS + start).expect("in range").strftime("%Y-%m-%dT%H-%M");
        let path = root.join(format!("gemini/tmp/{project}/chats/session-{stamp}-{}.jsonl", &session[..8]));
        write_file(&path, &text)?;
        bytes += text.len() as u64;
        files += 1;
    }
    Ok((bytes, files))
}

/// Writes an OpenCode 1.2 database of about `target_bytes` at `root/opencode/opencode.db`
/// (the schema of `fixtures/opencode/opencode.sql`): sessions of prompts and answers, each answer
/// one model step with a reasoning, a tool call with its output and a text part.
pub fn generate_opencode(root: &Path, target_bytes: u64, seed: u64) -> Result<(u64, usize)> {
    let dir = root.join("opencode");
    std::fs::create_dir_all(&dir)?;
    let schema = std::fs::read_to_string(crate::workspace_root().join("fixtures/opencode/opencode.sql"))?;
    let schema: String = schema.lines().take_while(|line| !line.starts_with("INSERT")).collect::<Vec<_>>().join("\n");
    let mut conn = rusqlite::Connection::open(dir.join("opencode.db"))?;
    conn.execute_batch(&schema)?;
    conn.execute_batch(
        "INSERT INTO project VALUES ('p1', '/home/bench/project', 'git', NULL, NULL, NULL, 0, 0, NULL, '[]', NULL)",
    )?;
    let mut rng = Rng::new(seed);
    let cap = (target_bytes / 6).clamp(200_000, 87_000_000);
    let (mut bytes, mut sessions) = (0u64, 0usize);
    let tx = conn.transaction()?;
    {
        let mut session = tx.prepare(
            "INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated) \
             VALUES (?1, 'p1', ?1, '/home/bench/project', 'bench session', '1.2.15', ?2, ?2)",
        )?;
        let mut message = tx.prepare("INSERT INTO message VALUES (?1, ?2, ?3, ?3, ?4)")?;
        let mut part = tx.prepare("INSERT INTO part VALUES (?1, ?2, ?3, ?4, ?4, ?5)")?;
        let mut id = 0u64;
        let mut next = |prefix: &str| {
            id += 1;
            format!("{prefix}_{id:026}")
        };
        while bytes < target_bytes {
            let size = file_size(&mut rng, cap);
            let start = BASE_MS + (sessions as i64 % 90) * 86_400_000 + rng.below(80_000_000) as i64;
            let session_id = next("ses");
            session.execute(rusqlite::params![session_id, start])?;
            let (mut written, mut clock) = (0u64, start);
            while written < size {
                clock += 5_000;
                let mut prompt = String::new();
                filler(&mut rng, 40, 300, &mut prompt);
                let user = next("msg");
                let data = format!(r#"{{"role":"user","time":{{"created":{clock}}},"agent":"build"}}"#);
                message.execute(rusqlite::params![user, session_id, clock, data])?;
                let text = format!(r#"{{"type":"text","text":"{prompt}"}}"#);
                part.execute(rusqlite::params![next("prt"), user, session_id, clock, text])?;
                clock += 3_000;
                let (mut thought, mut answer, mut output) = (String::new(), String::new(), String::new());
                filler(&mut rng, 60, 400, &mut thought);
                filler(&mut rng, 60, 400, &mut answer);
                let result_size =
                    if rng.below(50) == 0 { 100_000 + rng.below(150_000) } else { 300 + rng.below(12_000) };
                filler(&mut rng, result_size, 0, &mut output);
                let (input, cached, out) = (200 + rng.below(2_000), 5_000 + rng.below(20_000), 50 + rng.below(900));
                let tokens = format!(
                    r#"{{"total":{},"input":{input},"output":{out},"reasoning":0,"cache":{{"read":{cached},"write":0}}}}"#,
                    input + out + cached
                );
                let assistant = next("msg");
                let call = format!("call_{}", &assistant[4..]);
                let data = format!(
                    r#"{{"role":"assistant","time":{{"created":{clock},"completed":{}}},"parentID":"{user}","modelID":"claude-sonnet-4-5","providerID":"anthropic","mode":"build","agent":"build","path":{{"cwd":"/home/bench/project","root":"/home/bench/project"}},"cost":0.01,"tokens":{tokens},"finish":"stop"}}"#,
                    clock + 2_000
                );
                message.execute(rusqlite::params![assistant, session_id, clock, data])?;
                let parts = [
                    r#"{"type":"step-start","snapshot":"0123456789abcdef"}"#.to_string(),
                    format!(r#"{{"type":"reasoning","text":"{thought}","time":{{"start":{clock},"end":{clock}}}}}"#),
                    format!(
                        r#"{{"type":"tool","callID":"{call}","tool":"bash","state":{{"status":"completed","input":{{"command":"cargo test"}},"output":"{output}","title":"cargo test","metadata":{{}},"time":{{"start":{clock},"end":{clock}}}}}}}"#
                    ),
                    format!(r#"{{"type":"text","text":"{answer}"}}"#),
                    format!(
                        r#"{{"type":"step-finish","reason":"stop","snapshot":"0123456789abcdef","cost":0.01,"tokens":{tokens}}}"#
                    ),
                ];
                for data in &parts {
                    part.execute(rusqlite::params![next("prt"), assistant, session_id, clock, data])?;
                    written += data.len() as u64;
                }
                written += (prompt.len() + 200) as u64;
            }
            bytes += written;
            sessions += 1;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(conn);
    let on_disk = std::fs::metadata(dir.join("opencode.db"))?.len();
    Ok((on_disk, sessions))
}

/// Appends one more Claude turn to `count` session files (the "client is live" case).
pub fn append_turns(corpus: &Corpus, count: usize, round: u64) -> Result<()> {
    let mut rng = Rng::new(0xA99E_4D00 + round);
    for path in corpus.claude_files.iter().take(count) {
        let session = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let mut out = String::new();
        let mut clock = 90 * 86_400_000 + round as i64 * 60_000;
        let mut parent = String::new();
        claude_turn(&mut rng, &session, 10_000 + round, &mut clock, &mut parent, &mut out, false);
        std::fs::OpenOptions::new().append(true).open(path)?.write_all(out.as_bytes())?;
    }
    Ok(())
}

/// Appends a prompt holding `text` to every `every`-th Claude session file (what a search for a
/// rare term finds), with a timestamp after every generated one.
pub fn append_prompts(corpus: &Corpus, every: usize, text: &str) -> Result<usize> {
    let mut appended = 0;
    for (index, path) in corpus.claude_files.iter().enumerate().step_by(every.max(1)) {
        let session = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let at = timestamp(BASE_MS, 95 * 86_400_000 + index as i64 * 1_000);
        let line = format!(
            r#"{{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/home/bench/project","sessionId":"{session}","version":"2.1.90","gitBranch":"main","uuid":"5ea4c400-0000-4000-8000-{index:012}","timestamp":"{at}","type":"user","message":{{"role":"user","content":"{text}"}}}}"#
        );
        std::fs::OpenOptions::new().append(true).open(path)?.write_all(format!("{line}\n").as_bytes())?;
        appended += 1;
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_valid_jsonl() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = generate(a.path(), 600_000, 7).unwrap();
        let second = generate(b.path(), 600_000, 7).unwrap();
        assert_eq!(first.bytes, second.bytes);
        assert!(first.bytes >= 600_000 && !first.claude_files.is_empty() && !first.codex_files.is_empty());
        let (gemini_bytes, gemini_files) = generate_gemini(a.path(), 300_000, 7).unwrap();
        assert!(gemini_bytes >= 300_000 && gemini_files > 0);
        let gemini =
            walkdir::WalkDir::new(a.path().join("gemini")).into_iter().flatten().filter(|e| e.file_type().is_file());
        let gemini: Vec<std::path::PathBuf> = gemini.map(|entry| entry.into_path()).collect();
        for path in first.claude_files.iter().chain(&first.codex_files).chain(&gemini) {
            let text = std::fs::read_to_string(path).unwrap();
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|error| panic!("{}: {error}: {line}", path.display()));
            }
        }
    }
}
