//! Tests that need root and tools from Debian packages (network namespaces, runc, compilers):
//! where something is missing they say so loudly and pass, unless CLUSTERDNS_REQUIRE_ROOT_TESTS
//! is set (as `.ci/run` does), which turns the skip into a failure.

use std::process::Command;

/// Whether `test` can run: root, and every `(tool, version flag)` present. Says what is missing
/// (and which Debian `packages` provide it), or fails when CLUSTERDNS_REQUIRE_ROOT_TESTS is set.
pub fn root_and(test: &str, tools: &[(&str, &str)], packages: &str) -> bool {
    root_tools_and_files(test, tools, &[], packages)
}

/// Like [`root_and`], with files that must exist too (headers of -dev packages).
pub fn root_tools_and_files(test: &str, tools: &[(&str, &str)], files: &[&str], packages: &str) -> bool {
    let mut missing: Vec<String> =
        files.iter().filter(|f| !std::path::Path::new(f).exists()).map(|f| f.to_string()).collect();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root".to_string());
    }
    for (tool, flag) in tools {
        if Command::new(tool).arg(flag).output().is_err() {
            missing.push(tool.to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("{test} needs {} (Debian: {packages})", missing.join(", "));
    if std::env::var_os("CLUSTERDNS_REQUIRE_ROOT_TESTS").is_some() {
        panic!("{message}; CLUSTERDNS_REQUIRE_ROOT_TESTS is set, so this is a failure");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    false
}
