//! Names the build in `hindcast --version`: the commit it was built from (`unknown` outside a
//! git checkout) and the providers the cargo features compile in.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|commit| commit.trim().to_string())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HINDCAST_GIT_COMMIT={commit}");
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let providers: Vec<&str> = ["claude", "codex", "gemini", "legacy", "opencode"]
        .into_iter()
        .filter(|provider| std::env::var_os(format!("CARGO_FEATURE_PROVIDER_{}", provider.to_uppercase())).is_some())
        .collect();
    let providers = if providers.is_empty() { "none".to_string() } else { providers.join(", ") };
    println!("cargo:rustc-env=HINDCAST_PROVIDERS={providers}");
}
