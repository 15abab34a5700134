use clap::error::ErrorKind;
use clusterdns::app;
use clusterdns::config::EXIT_USAGE;
use clusterdns::config_file::LoadError;
use clusterdns::{config_file, telemetry};

fn main() {
    // Signals first: SIGHUP, SIGTERM and SIGINT end a process that has no handler for them.
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    let signals = {
        let _context = runtime.enter();
        app::Signals::install().expect("signal handlers install")
    };
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "corefile") {
        std::process::exit(clusterdns::corefile::command::run(&argv[2..]));
    }
    let loaded = match config_file::load(argv) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid { error, .. })
            if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) =>
        {
            error.exit()
        }
        Err(LoadError::Invalid { error, origin }) => {
            // Name the file and key when the bad value came from the configuration file.
            if let Some(origin) = origin {
                eprintln!("error: {origin}:");
            }
            let _ = error.print();
            std::process::exit(EXIT_USAGE);
        }
        Err(LoadError::File(message)) => {
            eprintln!("error: {message}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let cli = &loaded.cli;
    let paths =
        cli.manifests.iter().map(|p| ("--manifests", p)).chain(cli.live.zone_files.iter().map(|p| ("--zone-file", p)));
    for (flag, path) in paths {
        if let Err(e) = std::fs::metadata(path) {
            eprintln!("error: invalid value '{}' for '{flag} <PATH>': {e}", path.display());
            std::process::exit(EXIT_USAGE);
        }
    }
    if let Some(conflict) = cli.conflict() {
        eprintln!("error: {conflict}");
        std::process::exit(EXIT_USAGE);
    }
    if cli.check_config {
        print!("{}", loaded.settings.to_toml());
        return;
    }
    let logs = telemetry::init(cli.log_format, &cli.log_filter());
    let source = match runtime.block_on(app::source(cli)) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    if let Some(interface) = &cli.dummy_interface {
        let addresses = cli.own_addresses();
        match clusterdns::dummy_interface::ensure(interface, &addresses) {
            Ok(()) => tracing::info!(%interface, ?addresses, "dummy interface ready"),
            Err(e) => {
                tracing::error!(%interface, "--dummy-interface: {e}");
                std::process::exit(1);
            }
        }
    }
    let result = runtime.block_on(async {
        let listeners = app::bind(&loaded.cli.listen, loaded.cli.binding()).await?;
        app::run(loaded, source, listeners, logs, signals).await
    });
    // The shutdown deadline has passed: work still running (a blocked thread, a query in
    // flight) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::ZERO);
    if let Err(e) = result {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}
