//! The hosts' concurrency benchmark (`bench_hosts`, and a row of `bench`): requests/s and
//! client CPU per request of `mtls_core::io::Pool` (one OS thread per caller) vs reqwest over
//! rustls (ring provider, tokio, one task per caller), each against its own sandbox in a
//! child process, so `getrusage(RUSAGE_SELF)` counts the clients' CPU only.

use std::time::Instant;

use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{Pool, PoolOptions};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};

use super::sandbox_child::Server;
use super::{cpu_time, Fallible, Figures};

// ---- the contenders -------------------------------------------------------------------

/// One client stack under test, with its own sandbox.
trait Contender {
    fn name(&self) -> &'static str;
    /// `callers` concurrent callers each make `per_caller` GETs, one after the other;
    /// returns how many did not end in `200`.
    fn round(&mut self, callers: usize, per_caller: usize) -> usize;
    /// The sandbox it talks to.
    fn server(&mut self) -> &mut Server;
}

/// Every contender, each on a fresh sandbox. Add the tokio client here.
fn contenders(callers: usize) -> Fallible<Vec<Box<dyn Contender>>> {
    Ok(vec![
        Box::new(PoolContender::new(Server::start()?, callers)?),
        Box::new(ReqwestContender::new(Server::start()?, callers)?),
    ])
}

struct PoolContender {
    server: Server,
    pool: Pool,
    path: String,
}

impl PoolContender {
    fn new(server: Server, callers: usize) -> Fallible<PoolContender> {
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
            max_connections: callers,
            ..PoolOptions::default()
        };
        Ok(PoolContender {
            path: format!("/v2.01/{}/users/1", server.client_id),
            pool: Pool::new(config, options),
            server,
        })
    }
}

impl Contender for PoolContender {
    fn name(&self) -> &'static str {
        "mtls-core Pool"
    }

    fn round(&mut self, callers: usize, per_caller: usize) -> usize {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..callers)
                .map(|_| {
                    scope.spawn(|| {
                        (0..per_caller)
                            .filter(|_| {
                                let outcome = self.pool.request(ApiRequest::get(&self.path));
                                !matches!(outcome, Ok(r) if r.status == 200)
                            })
                            .count()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or(per_caller))
                .sum()
        })
    }

    fn server(&mut self) -> &mut Server {
        &mut self.server
    }
}

struct ReqwestContender {
    server: Server,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    token: String,
}

impl ReqwestContender {
    fn new(server: Server, callers: usize) -> Fallible<ReqwestContender> {
        // reqwest's `rustls-no-provider`: the process-wide provider is ring. A second call
        // (another contender instance) finds it installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let identity_pem = format!("{}{}", server.cert_pem, server.key_pem);
        let client = reqwest::Client::builder()
            .identity(reqwest::Identity::from_pem(identity_pem.as_bytes())?)
            .tls_certs_only([reqwest::Certificate::from_pem(server.ca_pem.as_bytes())?])
            .http1_only()
            .pool_max_idle_per_host(callers)
            .no_proxy()
            .build()?;
        // The token, once, by hand.
        let token_url = format!("{}/v2.01/oauth/token", server.base_url);
        let basic = server.basic.clone();
        let body = runtime.block_on(async {
            client
                .post(&token_url)
                .header("Authorization", basic)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        })?;
        let token = body
            .split("\"access_token\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or("no access_token in the token response")?
            .to_string();
        Ok(ReqwestContender {
            url: format!("{}/v2.01/{}/users/1", server.base_url, server.client_id),
            server,
            runtime,
            client,
            token,
        })
    }
}

impl Contender for ReqwestContender {
    fn name(&self) -> &'static str {
        "reqwest (rustls, tokio)"
    }

    fn round(&mut self, callers: usize, per_caller: usize) -> usize {
        self.runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..callers {
                let client = self.client.clone();
                let url = self.url.clone();
                let token = self.token.clone();
                tasks.spawn(async move {
                    let mut failures = 0;
                    for _ in 0..per_caller {
                        let ok = match client.get(&url).bearer_auth(&token).send().await {
                            Ok(response) => {
                                let status = response.status();
                                response.bytes().await.is_ok() && status == 200
                            }
                            Err(_) => false,
                        };
                        failures += usize::from(!ok);
                    }
                    failures
                });
            }
            let mut failures = 0;
            while let Some(joined) = tasks.join_next().await {
                failures += joined.unwrap_or(per_caller);
            }
            failures
        })
    }

    fn server(&mut self) -> &mut Server {
        &mut self.server
    }
}

// ---- measuring ------------------------------------------------------------------------

fn measure(contender: &mut dyn Contender, callers: usize, per_caller: usize) -> (Figures, usize) {
    let requests = (callers * per_caller) as f64;
    let cpu = cpu_time();
    let started = Instant::now();
    let failures = contender.round(callers, per_caller);
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(cpu).as_secs_f64();
    let figures = Figures {
        requests_per_s: requests / wall,
        cpu_us_per_request: cpu * 1e6 / requests,
    };
    (figures, failures)
}

/// What [`bench`] measured: whether every request succeeded, and the medians per contender
/// (pool first, then reqwest).
pub struct Outcome {
    pub ok: bool,
    pub medians: Vec<(&'static str, Figures)>,
}

/// Runs the rounds and prints the table; `label` names the caller in its first line.
pub fn bench(label: &str, callers: usize, per_caller: usize, rounds: usize) -> Fallible<Outcome> {
    let mut contenders = contenders(callers)?;
    println!(
        "{label}: {callers} concurrent callers, {} requests per round, {rounds} rounds \
         (+1 warm-up), {} build",
        callers * per_caller,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut ok = true;
    for contender in contenders.iter_mut() {
        // Warm-up: every connection opened, the token fetched.
        let failures = contender.round(callers, 4);
        ok &= failures == 0;
    }
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        // Alternate the order so that neither always runs first.
        let mut order: Vec<usize> = (0..contenders.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (figures, failures) = measure(contenders[i].as_mut(), callers, per_caller);
            ok &= failures == 0;
            if failures > 0 {
                eprintln!(
                    "{}: {failures} failures in round {round}",
                    contenders[i].name()
                );
            }
            results[i].push(figures);
        }
    }
    let mut names = Vec::new();
    let mut tokens = Vec::new();
    for contender in contenders.iter_mut() {
        let stats = contender.server().stats()?;
        ok &= stats.token_requests == 1;
        names.push(contender.name());
        tokens.push(stats.token_requests);
    }
    let medians = super::report(&names, &results, &tokens);
    if !ok {
        eprintln!("{label}: failures, or a sandbox saw other than one token request");
    }
    Ok(Outcome {
        ok,
        medians: contenders.iter().map(|c| c.name()).zip(medians).collect(),
    })
}
