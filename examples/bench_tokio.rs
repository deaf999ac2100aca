//! Figures, not a test: requests/s and client CPU per request of [`TokioPool`] with many
//! concurrent tasks against the sandbox, side by side in one run with reqwest as the peer.
//!
//! - `TokioPool`: `mtls_core::io::TokioPool` (max connections = tasks): rustls' unbuffered
//!   API with the pure-Rust rustls-rustcrypto provider, through the async driver.
//! - `reqwest`: reqwest 0.13 over rustls (ring provider), client identity from PEM, the
//!   sandbox CA as the only root, HTTP/1.1; the token is fetched once by hand and sent as
//!   `Bearer`.
//!
//! Both run on one tokio multi-thread runtime (2 workers), one task per caller, each task
//! making its requests one after the other. Each contender gets its own sandbox in a child
//! process (this program with `serve`), so `getrusage(RUSAGE_SELF)` here counts the clients'
//! CPU only. A warm-up round opens the connections and fetches the token; then rounds
//! alternate between the contenders, and the medians are printed with the ratios. Every
//! round checks the status of every response, and the end checks that each sandbox saw
//! exactly one token request; the exit status is non-zero otherwise.
//!
//! Run: `cargo run --release --example bench_tokio`. Sizes: `BENCH_TASKS` (64),
//! `BENCH_PER_TASK` (requests per task per round, 300), `BENCH_ROUNDS` (5).

mod bench_support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{PoolOptions, TokioPool};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use tokio::task::JoinSet;

use bench_support::sandbox_child::{self, Server};
use bench_support::{cpu_time, report, size, Fallible, Figures};

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("serve") => sandbox_child::serve(),
        _ => bench(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One client stack under test, with its own sandbox.
enum Contender {
    Pool {
        pool: TokioPool,
        path: String,
    },
    Reqwest {
        client: reqwest::Client,
        url: String,
        token: String,
    },
}

impl Contender {
    fn name(&self) -> &'static str {
        match self {
            Contender::Pool { .. } => "mtls-core TokioPool",
            Contender::Reqwest { .. } => "reqwest (rustls, tokio)",
        }
    }

    fn pool(server: &Server, tasks: usize) -> Fallible<Contender> {
        let identity = Identity::from_pem(server.cert_pem.as_bytes(), server.key_pem.as_bytes())?;
        let trust = Trust::Custom(CaBundle::from_pem(server.ca_pem.as_bytes())?);
        let credentials = Credentials::new(&server.client_id, &server.api_key)?;
        let config = ClientConfig::new(
            &server.base_url,
            Auth::ClientCredentials(credentials),
            &identity,
            trust,
        )?;
        let options = PoolOptions {
            max_connections: tasks,
            ..PoolOptions::default()
        };
        Ok(Contender::Pool {
            pool: TokioPool::new(config, options),
            path: format!("/v2.01/{}/users/1", server.client_id),
        })
    }

    async fn reqwest(server: &Server, tasks: usize) -> Fallible<Contender> {
        // reqwest's `rustls-no-provider`: the process-wide provider is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let identity_pem = format!("{}{}", server.cert_pem, server.key_pem);
        let build = || {
            reqwest::Client::builder()
                .identity(reqwest::Identity::from_pem(identity_pem.as_bytes())?)
                .tls_certs_only([reqwest::Certificate::from_pem(server.ca_pem.as_bytes())?])
                .http1_only()
                .pool_max_idle_per_host(tasks)
                .no_proxy()
                .build()
        };
        // The token, once, by hand (on a client of its own, so both contenders start the
        // warm-up with no connection).
        let body = build()?
            .post(format!("{}/v2.01/oauth/token", server.base_url))
            .header("Authorization", &server.basic)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let token = body
            .split("\"access_token\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or("no access_token in the token response")?
            .to_string();
        Ok(Contender::Reqwest {
            client: build()?,
            url: format!("{}/v2.01/{}/users/1", server.base_url, server.client_id),
            token,
        })
    }

    /// `tasks` concurrent tasks each make `per_task` GETs, one after the other; returns how
    /// many did not end in `200`.
    async fn round(&self, tasks: usize, per_task: usize) -> usize {
        let mut set = JoinSet::new();
        for _ in 0..tasks {
            match self {
                Contender::Pool { pool, path } => {
                    let (pool, path) = (pool.clone(), path.clone());
                    set.spawn(async move {
                        let mut failures = 0;
                        for _ in 0..per_task {
                            match pool.request(ApiRequest::get(&path)).await {
                                Ok(r) if r.status == 200 => {}
                                other => {
                                    if failures == 0 {
                                        eprintln!("TokioPool: {other:?}");
                                    }
                                    failures += 1;
                                }
                            }
                        }
                        failures
                    });
                }
                Contender::Reqwest { client, url, token } => {
                    let (client, url, token) = (client.clone(), url.clone(), token.clone());
                    set.spawn(async move {
                        let mut failures = 0;
                        for _ in 0..per_task {
                            let ok = match client.get(&url).bearer_auth(&token).send().await {
                                Ok(response) => {
                                    let status = response.status();
                                    response.bytes().await.is_ok() && status == 200
                                }
                                Err(e) => {
                                    if failures == 0 {
                                        eprintln!("reqwest: {e:?}");
                                    }
                                    false
                                }
                            };
                            failures += usize::from(!ok);
                        }
                        failures
                    });
                }
            }
        }
        let mut failures = 0;
        while let Some(joined) = set.join_next().await {
            failures += joined.unwrap_or(per_task);
        }
        failures
    }
}

async fn measure(contender: &Contender, tasks: usize, per_task: usize) -> (Figures, usize) {
    let requests = (tasks * per_task) as f64;
    let cpu = cpu_time();
    let started = Instant::now();
    let failures = contender.round(tasks, per_task).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(cpu).as_secs_f64();
    let figures = Figures {
        requests_per_s: requests / wall,
        cpu_us_per_request: cpu * 1e6 / requests,
    };
    (figures, failures)
}

fn bench() -> Fallible<bool> {
    let tasks = size("BENCH_TASKS", 64)?.max(1);
    let per_task = size("BENCH_PER_TASK", 300)?.max(1);
    let rounds = size("BENCH_ROUNDS", 5)?.max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut servers = [Server::start()?, Server::start()?];
    let contenders = runtime.block_on(async {
        Ok::<_, Box<dyn std::error::Error>>([
            Contender::pool(&servers[0], tasks)?,
            Contender::reqwest(&servers[1], tasks).await?,
        ])
    })?;
    println!(
        "bench_tokio: {tasks} concurrent tasks on 2 runtime workers, {} requests per round, \
         {rounds} rounds (+1 warm-up), {} build",
        tasks * per_task,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut ok = true;
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); contenders.len()];
    runtime.block_on(async {
        for contender in &contenders {
            // Warm-up: every connection opened, the token fetched.
            let failures = contender.round(tasks, 4).await;
            if failures > 0 {
                ok = false;
                eprintln!("{}: {failures} failures in the warm-up", contender.name());
            }
        }
        for round in 0..rounds {
            // Alternate the order so that neither always runs first.
            let mut order: Vec<usize> = (0..contenders.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let (figures, failures) = measure(&contenders[i], tasks, per_task).await;
                if failures > 0 {
                    ok = false;
                    eprintln!(
                        "{}: {failures} failures in round {round}",
                        contenders[i].name()
                    );
                }
                results[i].push(figures);
            }
        }
    });
    let mut tokens = Vec::new();
    for server in &mut servers {
        let requests = server.stats()?.token_requests;
        ok &= requests == 1;
        tokens.push(requests);
    }
    let names: Vec<_> = contenders.iter().map(|c| c.name()).collect();
    report(&names, &results, &tokens);
    if let Contender::Pool { pool, .. } = &contenders[0] {
        println!(
            "TokioPool connections opened: {}",
            pool.connections_opened()
        );
    }
    if !ok {
        eprintln!("bench_tokio: failures, or a sandbox saw other than one token request");
    }
    drop(contenders);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(ok)
}
