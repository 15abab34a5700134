use clap::Parser;
use clap::error::ErrorKind;
use clusterdns::app;
use clusterdns::config::{Cli, EXIT_USAGE};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
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
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::new(cli.log_filter()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    let source = match runtime.block_on(app::source(&cli)) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let result = runtime.block_on(async {
        let listeners = app::bind(&cli.listen, cli.udp_workers()).await?;
        app::run(cli, source, listeners).await
    });
    if let Err(e) = result {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}
