//! campanile-testbed: a local S3 server with the article's test buckets, for the quick
//! start and for trying Campanile by hand. Starts Garage or moto on 127.0.0.1, creates
//! the buckets, loads the article's test data into the source bucket, writes the
//! connection settings as shell `export` lines to `--env-file`, and serves until it is
//! stopped (the server process stops with it).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use campanile_testkit::{ServerKind, fixtures, server};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Garage (fast; built from crates.io by .ci/install-garage).
    Garage,
    /// moto's server mode (quick to install from PyPI).
    Moto,
}

/// A local S3 server loaded with the article's test bucket, and the article's edits.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Option<Edit>,
    /// Which server to run.
    #[arg(long, value_enum, default_value = "garage")]
    server: Kind,
    /// Source bucket, loaded with the article's test data.
    #[arg(long, default_value = "srcbucket")]
    src_bucket: String,
    /// Further empty buckets to create (e.g. the destination).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Where to write `export AWS_...` lines once the server is ready.
    #[arg(long, default_value = "campanile-testbed.env")]
    env_file: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Edit {
    /// The article's change to a served bucket: `fe` overwritten and `fff` created,
    /// both with the content of `ff`. Reads the server from the AWS_* variables and
    /// CAMPANILE_ENDPOINT that `--env-file` holds.
    ArticleChange,
}

fn article_change(bucket: &str) -> ExitCode {
    let Ok(endpoint) = std::env::var("CAMPANILE_ENDPOINT") else {
        eprintln!("campanile-testbed: CAMPANILE_ENDPOINT is not set (source the env file)");
        return ExitCode::from(2);
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return ExitCode::from(1);
    };
    runtime.block_on(async {
        let options = campanile::s3::ClientOptions {
            endpoint: Some(endpoint),
            ..Default::default()
        };
        let client = match campanile::s3::client(&options).await {
            Ok(client) => client,
            Err(error) => {
                eprintln!("campanile-testbed: {error}");
                return ExitCode::from(2);
            }
        };
        let content = fixtures::fixture_bytes("ff", fixtures::SMALL_SIZE);
        for key in ["fe", "fff"] {
            fixtures::put_object(&client, bucket, key, content.clone()).await;
        }
        eprintln!("campanile-testbed: s3://{bucket}/fe overwritten, s3://{bucket}/fff created");
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Edit::ArticleChange) = cli.command {
        return article_change(&cli.src_bucket);
    }
    let kind = match cli.server {
        Kind::Garage => ServerKind::Garage,
        Kind::Moto => ServerKind::Moto,
    };
    let (server, mut child) = match server::launch(kind) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("campanile-testbed: {message}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("campanile-testbed: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let client = server.client().await;
        server.create_bucket(&client, &cli.src_bucket).await;
        for bucket in &cli.buckets {
            server.create_bucket(&client, bucket).await;
        }
        fixtures::upload_all(&client, &cli.src_bucket, &fixtures::article_objects()).await;
    });
    let exports = format!(
        "export CAMPANILE_ENDPOINT={}\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_REGION={}\nexport AWS_EC2_METADATA_DISABLED=true\n",
        server.endpoint, server.access_key, server.secret_key, server.region
    );
    let written = std::fs::File::create(&cli.env_file)
        .and_then(|mut file| file.write_all(exports.as_bytes()));
    if let Err(error) = written {
        eprintln!(
            "campanile-testbed: cannot write {}: {error}",
            cli.env_file.display()
        );
        return ExitCode::from(1);
    }
    eprintln!(
        "campanile-testbed: {:?} serving {} with s3://{} loaded ({} objects)",
        kind,
        server.endpoint,
        cli.src_bucket,
        fixtures::article_objects().len()
    );
    match child.wait() {
        Ok(status) => {
            eprintln!("campanile-testbed: server exited with {status}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("campanile-testbed: {error}");
            ExitCode::from(1)
        }
    }
}
