//! `mnistlab serve`: the drawing page and `/predict` over HTTP.

use super::predict::InputArgs;
use anyhow::Result;
use clap::Args;
use mnistlab::model::load;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args, Debug)]
pub(super) struct ServeArgs {
    /// Model files (.safetensors); several are averaged.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on: this machine only by default; 0.0.0.0 (or another address) makes
    /// the page reachable from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[command(flatten)]
    input: InputArgs,
}

pub(super) fn run(args: ServeArgs) -> Result<()> {
    // One worker per core, each with its own copy of the models.
    let workers = rayon::current_num_threads().max(2);
    let classifiers = (0..workers)
        .map(|_| {
            let models = args
                .models
                .iter()
                .map(|p| load(p))
                .collect::<mnistlab::Result<Vec<_>>>()?;
            args.input.classifier(models)
        })
        .collect::<Result<Vec<_>>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    let address = format!("{}:{}", args.host, args.port);
    let serving = mnistlab::serve::start(&address, classifiers, stop)?;
    println!(
        "Serving the drawing page on http://{}/ (Ctrl-C stops)",
        serving.address()
    );
    if !is_loopback(&args.host) {
        println!(
            "Listening on {}: the page and /predict are reachable from other machines",
            args.host
        );
    }
    serving.wait();
    println!("Stopped.");
    Ok(())
}

/// Whether `host` names this machine only (`127.0.0.1`, `::1`, `localhost`).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
