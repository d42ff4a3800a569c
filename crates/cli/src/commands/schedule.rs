//! `hindcast schedule install|status|remove`: keeps importing every hour without the user's
//! shell — a systemd user timer on Linux (cron where the user manager is absent), a launchd
//! agent on macOS. The job pins the binary's path and the overrides in effect, and records how
//! each scheduled run ended, so `status` can say when one failed or stopped running.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::exit::{self, ExitError};

/// Set in the scheduled job's environment: the run records how it ended (see [`record_run`]).
pub const SCHEDULED_VARIABLE: &str = "HINDCAST_SCHEDULED";
/// Minutes between scheduled runs.
pub const PERIOD_MINUTES: i64 = 60;
/// The name of the unit, agent and crontab line.
const JOB: &str = "hindcast-backfill";
const LAUNCHD_LABEL: &str = "dev.hindcast.backfill";
/// The variables a scheduled run must see as this shell does: where the clients' history,
/// the store and the config are.
const PINNED_VARIABLES: &[&str] = &[
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "HINDCAST_DB",
    "HINDCAST_CONFIG",
    "HINDCAST_EVENTS",
    "HINDCAST_LEGACY_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
];

/// What keeps the job running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Systemd,
    Cron,
    Launchd,
}

/// How the last scheduled run ended (`schedule.json` in the data directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: u8,
    pub error: Option<String>,
}

/// The schedule as installed.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleState {
    pub installed: Option<Scheduler>,
    /// The files the job is defined in (none for cron).
    pub files: Vec<PathBuf>,
    pub last_run: Option<LastRun>,
    /// Problems a person must act on: a failed or stale last run, a missing binary.
    pub warnings: Vec<String>,
}

pub fn run(context: &Context, action: &crate::cli::ScheduleAction) -> anyhow::Result<u8> {
    use crate::cli::ScheduleAction;
    match action {
        ScheduleAction::Install => {
            let text = install(context)?;
            context.print_text(&text);
            Ok(exit::OK)
        }
        ScheduleAction::Status { json } => {
            let state = state(context)?;
            if *json {
                crate::output::print_json(&serde_json::json!({ "schema": "hindcast.schedule/v1", "schedule": state }));
            } else {
                context.print_text(&describe(&state));
            }
            Ok(exit::OK)
        }
        ScheduleAction::Remove => {
            let text = remove(context)?;
            context.print_text(&text);
            Ok(exit::OK)
        }
    }
}

/// Runs `program` found on the environment's `PATH` (never a shell); `None` when it is absent.
fn call(context: &Context, program: &str, args: &[&str], input: Option<&str>) -> Option<std::process::Output> {
    let path = context.env.var("PATH")?;
    let found = std::env::split_paths(path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())?;
    let mut command = Command::new(found);
    command.args(args).env("PATH", path).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().ok()?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().ok()
}

fn succeeded(output: &Option<std::process::Output>) -> bool {
    output.as_ref().is_some_and(|output| output.status.success())
}

fn failure_text(program: &str, args: &[&str], output: &Option<std::process::Output>) -> String {
    match output {
        None => format!("`{program}` is not on PATH"),
        Some(output) => format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// The scheduler this machine offers.
fn available(context: &Context) -> Result<Scheduler, ExitError> {
    if cfg!(target_os = "macos") {
        return Ok(Scheduler::Launchd);
    }
    if succeeded(&call(context, "systemctl", &["--user", "show-environment"], None)) {
        return Ok(Scheduler::Systemd);
    }
    if call(context, "crontab", &["-l"], None).is_some() {
        return Ok(Scheduler::Cron);
    }
    Err(ExitError::failure(
        "no scheduler: neither a systemd user manager (`systemctl --user`) nor `crontab` is available; \
         run `hindcast backfill` hourly from your own scheduler"
            .into(),
    ))
}

fn systemd_dir(context: &Context) -> Result<PathBuf, ExitError> {
    let config = match context.env.var("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => context.env.home().ok_or_else(|| ExitError::failure("HOME is not set".into()))?.join(".config"),
    };
    Ok(config.join("systemd/user"))
}

fn launchd_plist(context: &Context) -> Result<PathBuf, ExitError> {
    let home = context.env.home().ok_or_else(|| ExitError::failure("HOME is not set".into()))?;
    Ok(home.join("Library/LaunchAgents").join(format!("{LAUNCHD_LABEL}.plist")))
}

/// The binary and environment the job runs with: this binary's path, and every override set now.
fn job(context: &Context) -> Result<(PathBuf, Vec<(String, String)>), ExitError> {
    let binary = std::env::current_exe()
        .and_then(|path| path.canonicalize())
        .map_err(|error| ExitError::failure(format!("cannot find this binary's path: {error}")))?;
    let mut variables = vec![(SCHEDULED_VARIABLE.to_string(), "1".to_string())];
    for name in PINNED_VARIABLES {
        if let Some(value) = context.env.var(name).filter(|value| !value.is_empty()) {
            variables.push(((*name).to_string(), value.to_string()));
        }
    }
    if let Some(db) = &context.db_flag {
        let absolute = std::path::absolute(db).unwrap_or_else(|_| db.clone());
        variables.retain(|(name, _)| name != "HINDCAST_DB");
        variables.push(("HINDCAST_DB".into(), absolute.display().to_string()));
    }
    Ok((binary, variables))
}

/// A value inside a systemd unit's double quotes: backslash and quote escaped, `%` doubled.
fn systemd_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%"))
}

/// A word for cron's `sh -c`: single-quoted, `%` escaped (cron reads it as a newline).
fn cron_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''").replace('%', "\\%"))
}

fn xml_escaped(value: &str) -> String {
    value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The systemd service and timer.
pub fn systemd_units(binary: &Path, variables: &[(String, String)]) -> (String, String) {
    let mut service = String::from(
        "# Written by `hindcast schedule install`; `hindcast schedule remove` removes it.\n[Unit]\n\
         Description=hindcast: import AI coding agent history\n\n[Service]\nType=oneshot\n",
    );
    for (name, value) in variables {
        service.push_str(&format!("Environment={}\n", systemd_quoted(&format!("{name}={value}"))));
    }
    service.push_str(&format!("ExecStart={} backfill --quiet\n", systemd_quoted(&binary.display().to_string())));
    let timer = format!(
        "# Written by `hindcast schedule install`; `hindcast schedule remove` removes it.\n[Unit]\n\
         Description=hindcast: import every {PERIOD_MINUTES} minutes\n\n[Timer]\nOnBootSec=5min\n\
         OnUnitActiveSec={PERIOD_MINUTES}min\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
    );
    (service, timer)
}

/// The crontab line (marked, so `remove` finds it).
pub fn cron_line(binary: &Path, variables: &[(String, String)]) -> String {
    let assignments: Vec<String> =
        variables.iter().map(|(name, value)| format!("{name}={}", cron_quoted(value))).collect();
    format!(
        "17 * * * * {} {} backfill --quiet # {JOB}",
        assignments.join(" "),
        cron_quoted(&binary.display().to_string())
    )
}

/// The launchd agent.
pub fn launchd_agent(binary: &Path, variables: &[(String, String)]) -> String {
    let environment: String = variables
        .iter()
        .map(|(name, value)| format!("    <key>{}</key><string>{}</string>\n", xml_escaped(name), xml_escaped(value)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<!-- Written by `hindcast schedule install`; \
         `hindcast schedule remove` removes it. -->\n<plist version=\"1.0\">\n<dict>\n  <key>Label</key><string>{LAUNCHD_LABEL}</string>\n  \
         <key>ProgramArguments</key>\n  <array><string>{}</string><string>backfill</string><string>--quiet</string></array>\n  \
         <key>EnvironmentVariables</key>\n  <dict>\n{environment}  </dict>\n  <key>StartInterval</key><integer>{}</integer>\n  \
         <key>RunAtLoad</key><true/>\n</dict>\n</plist>\n",
        xml_escaped(&binary.display().to_string()),
        PERIOD_MINUTES * 60
    )
}

fn write_private(path: &Path, text: &str) -> Result<(), ExitError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| ExitError::failure(format!("cannot create {}: {error}", dir.display())))?;
    }
    hindcast_store::private::write_file(path, text.as_bytes())
        .map_err(|error| ExitError::failure(format!("cannot write {}: {error}", path.display())))
}

fn checked(context: &Context, program: &str, args: &[&str], input: Option<&str>) -> Result<(), ExitError> {
    let output = call(context, program, args, input);
    if succeeded(&output) { Ok(()) } else { Err(ExitError::failure(failure_text(program, args, &output))) }
}

fn user_name(context: &Context) -> Option<String> {
    context.env.var("USER").or_else(|| context.env.var("LOGNAME")).map(str::to_string)
}

/// The crontab without hindcast's line.
fn crontab_without_job(context: &Context) -> String {
    let current = call(context, "crontab", &["-l"], None)
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    current.lines().filter(|line| !line.ends_with(&format!("# {JOB}"))).map(|line| format!("{line}\n")).collect()
}

/// Installs (or replaces) the job; returns what to tell the user.
pub fn install(context: &Context) -> Result<String, ExitError> {
    let scheduler = available(context)?;
    let (binary, variables) = job(context)?;
    let mut text = String::new();
    match scheduler {
        Scheduler::Systemd => {
            let dir = systemd_dir(context)?;
            let (service, timer) = systemd_units(&binary, &variables);
            write_private(&dir.join(format!("{JOB}.service")), &service)?;
            write_private(&dir.join(format!("{JOB}.timer")), &timer)?;
            checked(context, "systemctl", &["--user", "daemon-reload"], None)?;
            checked(context, "systemctl", &["--user", "enable", "--now", &format!("{JOB}.timer")], None)?;
            text.push_str(&format!(
                "Installed a systemd user timer: `{}` runs `hindcast backfill` every {PERIOD_MINUTES} minutes\n  ({}).\n",
                binary.display(),
                dir.join(format!("{JOB}.timer")).display()
            ));
            let linger = user_name(context)
                .and_then(|user| call(context, "loginctl", &["show-user", &user, "--property=Linger", "--value"], None))
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
            if linger.as_deref() != Some("yes") {
                text.push_str(
                    "It runs while you are logged in. To keep it running while you are logged out:\n  \
                     loginctl enable-linger $USER\n",
                );
            }
        }
        Scheduler::Cron => {
            let mut crontab = crontab_without_job(context);
            crontab.push_str(&cron_line(&binary, &variables));
            crontab.push('\n');
            checked(context, "crontab", &["-"], Some(&crontab))?;
            text.push_str(&format!(
                "Installed a crontab line: `{}` runs `hindcast backfill` every hour (no systemd user manager here).\n",
                binary.display()
            ));
        }
        Scheduler::Launchd => {
            let plist = launchd_plist(context)?;
            write_private(&plist, &launchd_agent(&binary, &variables))?;
            let domain = format!("gui/{}", rustix::process::getuid().as_raw());
            let plist_text = plist.display().to_string();
            // A previous agent is replaced: booting it out first may fail when there is none.
            let _ = call(context, "launchctl", &["bootout", &domain, &plist_text], None);
            checked(context, "launchctl", &["bootstrap", &domain, &plist_text], None)?;
            text.push_str(&format!("Installed a launchd agent: {}\n", plist.display()));
        }
    }
    let pinned: Vec<&str> =
        variables.iter().map(|(name, _)| name.as_str()).filter(|name| *name != SCHEDULED_VARIABLE).collect();
    if !pinned.is_empty() {
        text.push_str(&format!("The job keeps this shell's {}.\n", pinned.join(", ")));
    }
    text.push_str("`hindcast schedule status` shows how its runs end; `hindcast schedule remove` removes it.\n");
    Ok(text)
}

/// Removes the job, whichever scheduler holds it.
pub fn remove(context: &Context) -> Result<String, ExitError> {
    let current = state(context)?;
    let Some(scheduler) = current.installed else {
        return Ok("No schedule is installed.\n".into());
    };
    match scheduler {
        Scheduler::Systemd => {
            let _ = call(context, "systemctl", &["--user", "disable", "--now", &format!("{JOB}.timer")], None);
            for file in &current.files {
                let _ = std::fs::remove_file(file);
            }
            let _ = call(context, "systemctl", &["--user", "daemon-reload"], None);
        }
        Scheduler::Cron => checked(context, "crontab", &["-"], Some(&crontab_without_job(context)))?,
        Scheduler::Launchd => {
            let domain = format!("gui/{}", rustix::process::getuid().as_raw());
            for file in &current.files {
                let _ = call(context, "launchctl", &["bootout", &domain, &file.display().to_string()], None);
                let _ = std::fs::remove_file(file);
            }
        }
    }
    Ok(format!(
        "Removed the {} schedule; history is imported only when you run `hindcast backfill`.\n",
        name(scheduler)
    ))
}

fn name(scheduler: Scheduler) -> &'static str {
    match scheduler {
        Scheduler::Systemd => "systemd",
        Scheduler::Cron => "cron",
        Scheduler::Launchd => "launchd",
    }
}

/// Where the last scheduled run's outcome is kept.
fn last_run_path(context: &Context) -> Result<PathBuf, ExitError> {
    Ok(context.paths()?.data_dir.join("schedule.json"))
}

/// The schedule's state: what is installed, how its last run ended, what needs attention.
pub fn state(context: &Context) -> Result<ScheduleState, ExitError> {
    let mut files = Vec::new();
    let installed = if cfg!(target_os = "macos") {
        let plist = launchd_plist(context)?;
        plist.exists().then(|| {
            files.push(plist);
            Scheduler::Launchd
        })
    } else {
        let dir = systemd_dir(context)?;
        let timer = dir.join(format!("{JOB}.timer"));
        if timer.exists() {
            files.push(timer);
            files.push(dir.join(format!("{JOB}.service")));
            Some(Scheduler::Systemd)
        } else if crontab_without_job(context).len()
            < call(context, "crontab", &["-l"], None)
                .filter(|output| output.status.success())
                .map_or(0, |output| output.stdout.len())
        {
            Some(Scheduler::Cron)
        } else {
            None
        }
    };
    let last_run: Option<LastRun> =
        std::fs::read_to_string(last_run_path(context)?).ok().and_then(|text| serde_json::from_str(&text).ok());
    let mut warnings = Vec::new();
    if installed.is_some() {
        match &last_run {
            Some(run) if run.exit_code != 0 => warnings.push(format!(
                "the last scheduled run ({}) failed with exit {}: {}",
                minute(&run.started_at),
                run.exit_code,
                run.error.as_deref().unwrap_or("see `journalctl --user -u hindcast-backfill`")
            )),
            Some(run) => {
                let stale = run
                    .finished_at
                    .parse::<Timestamp>()
                    .is_ok_and(|at| context.now().duration_since(at).as_secs() > 2 * PERIOD_MINUTES * 60);
                if stale {
                    warnings.push(format!(
                        "the last scheduled run was at {}, more than two periods ago: is the timer running?",
                        minute(&run.finished_at)
                    ));
                }
            }
            None => {}
        }
        for file in files.iter().filter(|file| file.extension().is_some_and(|ext| ext == "service" || ext == "plist")) {
            if let Some(binary) = pinned_binary(file)
                && !binary.exists()
            {
                warnings.push(format!(
                    "the job runs {}, which no longer exists: run `hindcast schedule install` again",
                    binary.display()
                ));
            }
        }
    }
    Ok(ScheduleState { installed, files, last_run, warnings })
}

/// The binary a unit or agent file names.
fn pinned_binary(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    if let Some(line) = text.lines().find_map(|line| line.strip_prefix("ExecStart=")) {
        let quoted = line.strip_prefix('"')?;
        let end = quoted.find("\" ")?;
        return Some(PathBuf::from(quoted[..end].replace("\\\"", "\"").replace("\\\\", "\\").replace("%%", "%")));
    }
    let start = text.find("<array><string>")? + "<array><string>".len();
    let end = text[start..].find("</string>")? + start;
    Some(PathBuf::from(
        text[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"),
    ))
}

fn minute(at: &str) -> String {
    at.get(..16).unwrap_or(at).replace('T', " ")
}

/// The schedule as `status` and `schedule status` print it.
pub fn describe(state: &ScheduleState) -> String {
    let mut text = match state.installed {
        None => "Schedule: none (`hindcast schedule install` imports every hour)\n".to_string(),
        Some(scheduler) => {
            let last = state.last_run.as_ref().map_or_else(
                || "no run yet".to_string(),
                |run| {
                    format!(
                        "last run {} UTC, {}",
                        minute(&run.started_at),
                        if run.exit_code == 0 { "ok".to_string() } else { format!("exit {}", run.exit_code) }
                    )
                },
            );
            format!("Schedule: {} every {PERIOD_MINUTES} minutes, {last}\n", name(scheduler))
        }
    };
    for warning in &state.warnings {
        text.push_str(&format!("  warning: {warning}\n"));
    }
    text
}

/// Records how a scheduled run ended (called by the binary when [`SCHEDULED_VARIABLE`] is set).
pub fn record_run(context: &Context, started_at: Timestamp, exit_code: u8, error: Option<String>) {
    let Ok(path) = last_run_path(context) else { return };
    let run =
        LastRun { started_at: started_at.to_string(), finished_at: Timestamp::now().to_string(), exit_code, error };
    if let Ok(text) = serde_json::to_string_pretty(&run) {
        let _ = hindcast_store::private::create_dir_all(path.parent().unwrap_or(Path::new(".")));
        let _ = hindcast_store::private::write_file(&path, text.as_bytes());
    }
}

/// A warning when Claude Code deletes transcripts sooner than they would be imported: its
/// `cleanupPeriodDays` (default 30) against the schedule, or against the last import when
/// there is no schedule.
pub fn cleanup_warning(context: &Context, scheduled: bool, last_import: Option<Timestamp>) -> Option<String> {
    let days = claude_cleanup_days(context);
    let period_hours = if scheduled { PERIOD_MINUTES as f64 / 60.0 } else { f64::INFINITY };
    if (days as f64) * 24.0 < period_hours && scheduled {
        return Some(format!(
            "Claude Code's cleanupPeriodDays is {days}: it deletes transcripts before the next scheduled import; \
             raise it in ~/.claude/settings.json"
        ));
    }
    if scheduled {
        return None;
    }
    let overdue =
        last_import.is_some_and(|at| context.now().duration_since(at).as_secs_f64() > days as f64 * 86_400.0 * 0.8);
    let mut text = format!(
        "Claude Code deletes transcripts after {days} days (cleanupPeriodDays); with no schedule, what is not imported by then is lost"
    );
    if overdue {
        text.push_str(" — the last import is close to that age or older");
    }
    text.push_str(". `hindcast schedule install` imports every hour.");
    Some(text)
}

/// Claude Code's `cleanupPeriodDays` from the first config directory's `settings.json`.
fn claude_cleanup_days(context: &Context) -> i64 {
    let dir = match context
        .env
        .var("CLAUDE_CONFIG_DIR")
        .and_then(|dirs| dirs.split(',').next())
        .filter(|dir| !dir.is_empty())
    {
        Some(dir) => PathBuf::from(dir),
        None => match context.env.home() {
            Some(home) => home.join(".claude"),
            None => return 30,
        },
    };
    std::fs::read_to_string(dir.join("settings.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|settings| settings["cleanupPeriodDays"].as_i64())
        .unwrap_or(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> (PathBuf, Vec<(String, String)>) {
        (
            PathBuf::from("/opt/my tools/hindcast"),
            vec![("HINDCAST_SCHEDULED".into(), "1".into()), ("CLAUDE_CONFIG_DIR".into(), "/a b/it's 100%".into())],
        )
    }

    #[test]
    fn units_quote_paths_and_values_for_their_reader() {
        let (binary, variables) = job();
        let (service, timer) = systemd_units(&binary, &variables);
        assert!(service.contains("Environment=\"CLAUDE_CONFIG_DIR=/a b/it's 100%%\"\n"), "{service}");
        assert!(service.contains("ExecStart=\"/opt/my tools/hindcast\" backfill --quiet\n"), "{service}");
        assert!(timer.contains("OnUnitActiveSec=60min") && timer.contains("WantedBy=timers.target"), "{timer}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hindcast-backfill.service");
        std::fs::write(&file, &service).unwrap();
        assert_eq!(pinned_binary(&file), Some(binary.clone()));
        let line = cron_line(&binary, &variables);
        assert_eq!(
            line,
            "17 * * * * HINDCAST_SCHEDULED='1' CLAUDE_CONFIG_DIR='/a b/it'\\''s 100\\%' '/opt/my tools/hindcast' backfill --quiet # hindcast-backfill"
        );
        let plist = launchd_agent(&binary, &variables);
        assert!(plist.contains("<string>/opt/my tools/hindcast</string><string>backfill</string>"), "{plist}");
        assert!(plist.contains("<key>StartInterval</key><integer>3600</integer>"), "{plist}");
        let file = dir.path().join("agent.plist");
        std::fs::write(&file, &plist).unwrap();
        assert_eq!(pinned_binary(&file), Some(binary));
    }
}
