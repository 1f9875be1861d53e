//! The `switchboard` binary: reads the configuration, wires the room server, signaling hub and
//! HTTP layer together, and runs until SIGTERM or SIGINT.
#![forbid(unsafe_code)]

mod banner;
mod config;
mod options;
mod turn_service;

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use rooms::MemoryRoomStore;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::options::{Command, LogFormat, Options};

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let command = options.command.clone().unwrap_or(Command::Serve);
    let config = Config::load(options)?;
    init_logging(&config)?;
    match command {
        Command::Serve => runtime()?.block_on(serve(config)),
        Command::Turn => runtime()?.block_on(turn_only(config)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// `switchboard turn`: only the STUN/TURN server.
async fn turn_only(config: Config) -> anyhow::Result<()> {
    let Some(settings) = config.turn.as_ref() else {
        anyhow::bail!("`switchboard turn` with TURN disabled (turn_enabled = false) has nothing to run");
    };
    raise_open_file_limit(config.serve.max_connections);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    drop(prometheus);
    let started = turn_service::start(settings, &config.data_dir).await?;
    shutdown_signal().await;
    started.running.stop();
    Ok(())
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .with_context(|| format!("invalid value for `log` (--log, SWITCHBOARD_LOG): {:?}", config.log))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard limit so `max_connections` can be reached.
fn raise_open_file_limit(wanted: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            let needed = wanted as u64 + 256;
            if limit < needed {
                tracing::warn!(open_file_limit = limit, max_connections = wanted, "the open-file limit is below max_connections + 256; connections may fail with EMFILE before the cap");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    raise_open_file_limit(config.serve.max_connections);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    http_api::describe_metrics();

    let mut http_config = config.http.clone();
    let turn = match config.turn.as_ref() {
        Some(settings) => {
            let started = turn_service::start(settings, &config.data_dir).await?;
            http_config.turn = Some(started.advert.clone());
            Some(started)
        }
        None => None,
    };

    let rooms = Arc::new(MemoryRoomStore::new(config.rooms.clone()));
    let state = http_api::AppState::new(http_config, rooms, config.hub.clone(), Box::new(move || prometheus.render()));
    tokio::spawn(state.clone().housekeeping());

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (option `listen`, --listen, SWITCHBOARD_LISTEN)", config.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let public_url = config.http.public_url.as_ref().map(|p| format!("{}://{}", p.scheme, p.authority));
    banner::print(bound, public_url.as_deref());
    tracing::info!(%bound, data_dir = %config.data_dir.display(), "serving");

    http_api::serve(listener, http_api::router(state), config.serve.clone(), shutdown_signal()).await?;
    if let Some(t) = turn {
        t.running.stop();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; draining connections");
}
