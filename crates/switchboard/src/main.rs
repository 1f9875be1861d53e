//! The `switchboard` binary: reads the configuration, wires the room server, signaling hub and
//! HTTP layer together, and runs until SIGTERM or SIGINT.
#![forbid(unsafe_code)]

mod banner;
mod config;
mod drain;
mod options;
mod tls;
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
    let mut signals = ShutdownSignals::catch()?;
    raise_open_file_limit(config.serve.max_connections);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    drop(prometheus);
    let started = turn_service::start(settings, &config.data_dir).await?;
    signals.recv().await;
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
    let signals = ShutdownSignals::catch()?;
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

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (option `listen`, --listen, SWITCHBOARD_LISTEN)", config.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let tls = tls::start(&config.tls, &config.data_dir, bound, config.serve.max_connections).await?;
    // SIGHUP reloads `--tls files` certificates; in every other mode it must not end the process
    // (its default action), as `systemctl reload` would.
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let mode = config.tls.name();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if mode != "files" {
                    tracing::info!(tls = mode, "SIGHUP: nothing to reload in this TLS mode");
                }
            }
        });
    }

    // TURN over TLS: its own listener (5349), and STUN streams arriving on the HTTPS port.
    let mut turn_tls_task = None;
    let mut divert: Option<http_api::StreamDivert> = None;
    if let (Some(tls), Some(started)) = (tls.as_ref(), turn.as_ref()) {
        let handle = started.running.stream_handle();
        let on_https = handle.clone();
        divert = Some(Arc::new(move |stream, peer| {
            let handle = on_https.clone();
            tokio::spawn(async move { handle.serve(stream, peer).await });
        }));
        let mut tls_port = bound.port();
        if let Some(addr) = config.turn_tls_listen {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for TURN over TLS on {addr} (option `turn_tls_listen`, --turn-tls-listen; \"off\" disables it)"))?;
            let turn_bound = listener.local_addr().context("reading the bound address")?;
            println!("TURN-TLS listening on {turn_bound}");
            tls_port = turn_bound.port();
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.turn.clone());
            let max = config.turn.as_ref().map_or(1024, |t| t.quotas.max_allocations.saturating_add(1024));
            turn_tls_task = Some(tokio::spawn(turn::io::serve_tls(handle, listener, acceptor, max)));
        }
        if let Some(advert) = http_config.turn.as_mut() {
            advert.tls_port = Some(tls_port);
        }
    }

    let rooms = Arc::new(MemoryRoomStore::new(config.rooms.clone()));
    let state = http_api::AppState::new(http_config, rooms, config.hub.clone(), Box::new(move || prometheus.render()));
    tokio::spawn(state.clone().housekeeping());

    let public_url = config.http.public_url.as_ref().map(|p| format!("{}://{}", p.scheme, p.authority));
    banner::print(bound, public_url.as_deref(), tls.as_ref().map(|t| t.banner.as_str()));
    tracing::info!(%bound, tls = config.tls.name(), data_dir = %config.data_dir.display(), "serving");

    let tls_serve = tls.as_ref().map(|t| http_api::TlsServe { acceptor: tokio_rustls::TlsAcceptor::from(t.https.clone()), divert: divert.clone() });
    let allocations = turn.as_ref().map(|t| t.running.stream_handle());
    let drain = drain::until_drained(signals, state.clone(), allocations, config.serve.drain_timeout);
    let mut serve_config = config.serve.clone();
    // What is left after the drain: HTTP requests in flight.
    serve_config.drain_timeout = serve_config.drain_timeout.min(std::time::Duration::from_secs(2));
    http_api::serve_with(listener, http_api::router(state), serve_config, drain, tls_serve).await?;
    if let Some(task) = turn_tls_task {
        task.abort();
    }
    if let Some(t) = turn {
        t.running.stop();
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and SIGINT, caught from the moment this is made: one that arrives before anybody
/// waits for it (right after start, say) is kept for [`ShutdownSignals::recv`] instead of ending
/// the process at once or being lost.
pub struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Starts catching the signals (inside the runtime).
    pub fn catch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("catching SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("catching SIGINT")?,
        })
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
