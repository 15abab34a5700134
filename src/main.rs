use clap::error::{ContextKind, ErrorKind};
use clap::{CommandFactory, FromArgMatches};
use clusterdns::app;
use clusterdns::config::{Cli, EXIT_USAGE};
use clusterdns::{config_file, telemetry};

fn main() {
    // Signals first: SIGHUP, SIGTERM and SIGINT end a process that has no handler for them.
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    let signals = {
        let _context = runtime.enter();
        app::Signals::install().expect("signal handlers install")
    };
    let arguments = match config_file::merge(std::env::args_os().collect()) {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let parsed = Cli::command().args_override_self(true).try_get_matches_from(&arguments.argv);
    let cli = match parsed.and_then(|matches| Cli::from_arg_matches(&matches)) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            // Name the file and key when the bad value came from the configuration file.
            let arg = e.get(ContextKind::InvalidArg).map(ToString::to_string).unwrap_or_default();
            let key =
                arguments.from_file.iter().find(|k| arg.starts_with(&format!("--{k} ")) || arg == format!("--{k}"));
            if let (Some(key), Some(file)) = (key, &arguments.file) {
                eprintln!("error: config {}: key {key:?}:", file.display());
            }
            let _ = e.print();
            std::process::exit(EXIT_USAGE);
        }
    };
    let paths =
        cli.manifests.iter().map(|p| ("--manifests", p)).chain(cli.zone_files.iter().map(|p| ("--zone-file", p)));
    for (flag, path) in paths {
        if let Err(e) = std::fs::metadata(path) {
            eprintln!("error: invalid value '{}' for '{flag} <PATH>': {e}", path.display());
            std::process::exit(EXIT_USAGE);
        }
    }
    if cli.check_config {
        print!("{}", cli.effective());
        return;
    }
    let logs = telemetry::init(cli.log_format, &cli.log_filter());
    let source = match runtime.block_on(app::source(&cli)) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let result = runtime.block_on(async {
        let listeners = app::bind(&cli.listen, cli.udp_workers()).await?;
        app::run(cli, arguments, source, listeners, logs, signals).await
    });
    // The shutdown deadline has passed: work still running (a blocked thread, a query in
    // flight) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::ZERO);
    if let Err(e) = result {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}
