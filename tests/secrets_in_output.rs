//! No secret in any output: every public config, identity, credential, token, error and
//! event the library builds from known secrets is formatted with `{:?}` (and `{}` where it
//! has `Display`), and none of the secrets, nor a long piece of one, appears.
//!
//! The secrets: the API key, the `Basic` value made from it, the access token the sandbox
//! issued (read back from the token cache after a real flow), the private key (every line of
//! its PEM body), the key passphrase and the PKCS#12 password.

use std::fmt::{Debug, Display};
use std::time::Duration;

use mtls_core::auth::{AccessToken, Credentials, ExportedToken, IdempotencyKey, TokenCache};
use mtls_core::client::{Auth, BaseUrl};
use mtls_core::identity::load::IdentitySources;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::internals::CredentialsExt;
use mtls_core::io::std_adapter::StdClient;
use mtls_core::tls::{TlsConfig, Trust};
use mtls_core::{ApiRequest, Client, ClientConfig};
use mtls_sandbox::{Sandbox, SandboxConfig};

const API_KEY: &str = "sEcReT-aPi-KeY-7731-do-not-print";
const PASSPHRASE: &str = "correct-horse"; // tests/fixtures/make-fixtures.sh
const PKCS12_PASSWORD: &str = "pKcS12-pAsSwOrD-5512";

/// Shorter pieces of Base64 could turn up by chance.
const PIECE: usize = 12;

/// Every secret; any piece of one `PIECE` characters long is a leak.
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, secret: &str) {
        assert!(
            secret.len() >= 8,
            "a test secret is long enough to search for"
        );
        self.0.push(secret.to_owned());
    }

    /// The private key's PEM body, line by line (a leak of any line is a leak).
    fn add_key_pem(&mut self, pem: &str) {
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            self.add(line);
        }
    }

    #[track_caller]
    fn assert_absent(&self, what: &str, text: &str) {
        for secret in &self.0 {
            let bytes = secret.as_bytes();
            for window in bytes.windows(PIECE.min(bytes.len())) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(
                    !text.contains(piece),
                    "{what} shows a piece {piece:?} of a secret:\n{text}"
                );
            }
        }
    }

    #[track_caller]
    fn debug(&self, what: &str, value: &impl Debug) {
        self.assert_absent(what, &format!("{value:?}"));
        self.assert_absent(what, &format!("{value:#?}"));
    }

    #[track_caller]
    fn both(&self, what: &str, value: &(impl Debug + Display)) {
        self.debug(what, value);
        self.assert_absent(what, &value.to_string());
    }
}

#[test]
fn no_secret_appears_in_debug_or_display_output() {
    let mut sandbox_config = SandboxConfig::default();
    sandbox_config.api_key = Some(API_KEY.to_owned());
    let sandbox = Sandbox::start(sandbox_config).unwrap();
    let issued = sandbox.issue_client_identity().unwrap();
    let key_pem = issued.key_pem.clone().unwrap();
    let basic = Credentials::new(sandbox.client_id(), API_KEY)
        .unwrap()
        .basic_authorization()
        .expose()
        .trim_start_matches("Basic ")
        .to_owned();
    let mut secrets = Secrets(Vec::new());
    secrets.add(API_KEY);
    secrets.add(&basic);
    secrets.add(PASSPHRASE);
    secrets.add(PKCS12_PASSWORD);
    secrets.add_key_pem(&key_pem);
    let encrypted = std::fs::read_to_string("tests/fixtures/p256-encrypted.pem").unwrap();
    secrets.add_key_pem(&encrypted);
    secrets.add_key_pem(&std::fs::read_to_string("tests/fixtures/p256-pkcs8.pem").unwrap());
    // The probe finds a secret where there is one.
    let probe = std::panic::catch_unwind(|| {
        secrets.assert_absent("self-check", &format!("x{}y", &key_pem[40..80]))
    });
    assert!(probe.is_err(), "the search finds a piece of the key");

    // Identities in every form, and what goes wrong loading them.
    let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    secrets.debug("Identity", &identity);
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let (cert_b64, key_b64) = (b64(&issued.cert_pem), b64(&key_pem));
    for line in key_b64.as_bytes().chunks(48) {
        secrets.add(std::str::from_utf8(line).unwrap());
    }
    secrets.debug(
        "Identity from Base64",
        &Identity::from_base64_pem(&cert_b64, &key_b64, None).unwrap(),
    );
    let other_key = std::fs::read("tests/fixtures/p256-pkcs8.pem").unwrap();
    let mismatch = Identity::from_pem(issued.cert_pem.as_bytes(), &other_key).unwrap_err();
    secrets.both("key-mismatch error", &mismatch);
    let wrong_pass =
        Identity::from_encrypted_pem(issued.cert_pem.as_bytes(), encrypted.as_bytes(), b"wrong")
            .unwrap_err();
    secrets.both("wrong-passphrase error", &wrong_pass);
    let garbled =
        Identity::from_base64_pem(&cert_b64, &key_b64[..key_b64.len() / 2], None).unwrap_err();
    secrets.both("truncated Base64 key error", &garbled);
    let p12 = Identity::from_pkcs12(key_pem.as_bytes(), PKCS12_PASSWORD).unwrap_err();
    secrets.both("bad PKCS#12 error", &p12);
    let sources = IdentitySources::from_lookup(|name| match name {
        "MTLS_CERT_B64" => Some(cert_b64.clone()),
        "MTLS_KEY_B64" => Some(key_b64.clone()),
        "MTLS_KEY_PASSPHRASE" => Some(PASSPHRASE.to_owned()),
        "MTLS_PKCS12_PASSWORD" => Some(PKCS12_PASSWORD.to_owned()),
        "MTLS_API_KEY" => Some(API_KEY.to_owned()),
        _ => None,
    });
    secrets.debug("IdentitySources", &sources);
    match sources.load() {
        Ok(loaded) => secrets.debug("LoadedIdentity", &loaded),
        Err(e) => secrets.both("IdentitySources::load error", &e),
    }
    let ca = CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap();
    secrets.debug("CaBundle", &ca);

    // Configs, credentials and the client before any traffic.
    let credentials = Credentials::new(sandbox.client_id(), API_KEY).unwrap();
    secrets.debug("Credentials", &credentials);
    secrets.debug("Basic value", &credentials.basic_authorization());
    let auth = Auth::ClientCredentials(credentials);
    secrets.debug("Auth", &auth);
    let trust = Trust::Custom(ca);
    let cache = TokenCache::default();
    secrets.debug(
        "TlsConfig",
        &TlsConfig::new(&identity, trust.clone()).unwrap(),
    );
    let config = ClientConfig::new(&sandbox.base_url(), auth, &identity, trust.clone()).unwrap();
    secrets.debug("ClientConfig", &config);
    let make_config = || {
        let credentials = Credentials::new(sandbox.client_id(), API_KEY).unwrap();
        let auth = Auth::ClientCredentials(credentials);
        let mut config =
            ClientConfig::new(&sandbox.base_url(), auth, &identity, trust.clone()).unwrap();
        config.token_cache = cache.clone();
        config
    };
    secrets.debug("BaseUrl", &BaseUrl::parse(&sandbox.base_url()).unwrap());

    // A real flow: handshake, token exchange, answers good and bad, refused requests.
    let mut std_client = StdClient::new(make_config());
    let user = format!("/v2.01/{}/users/1", sandbox.client_id());
    let mut outcomes = vec![
        std_client.request(ApiRequest::get(&user)),
        std_client.request(ApiRequest::get(&format!(
            "/v2.01/{}/nope",
            sandbox.client_id()
        ))),
        std_client.request(
            ApiRequest::post(&user, b"{}".to_vec())
                .idempotency_key(IdempotencyKey::new("order-2026-12-02-0001").unwrap()),
        ),
    ];
    // A request that tries to carry the API key itself in a reserved header is refused,
    // and the refusal must not echo the value.
    outcomes.push(
        std_client.request(
            ApiRequest::get(&user)
                .header("Authorization", &format!("Basic {basic}"))
                .header("X-Api-Key", API_KEY),
        ),
    );
    assert!(outcomes[0].is_ok(), "the flow works: {:?}", outcomes[0]);
    assert!(outcomes[3].is_err(), "a reserved header is refused");
    let now = std_client_now();
    let token = cache
        .export(now)
        .expect("the flow cached a token")
        .token()
        .expose()
        .to_owned();
    secrets.add(&token);
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(response) => secrets.debug(&format!("response {i}"), response),
            Err(e) => secrets.both(&format!("request error {i}"), e),
        }
    }
    for event in std_client.take_notices() {
        secrets.debug("notice", &event);
    }
    secrets.debug("StdClient after the flow", &std_client);
    secrets.debug("Client after the flow", std_client.client());
    secrets.debug("TokenCache holding the token", &cache);
    secrets.debug("CachedToken", &cache.current(now));
    let exported = cache.export(now).unwrap();
    secrets.debug("ExportedToken", &exported);
    secrets.debug("AccessToken", exported.token());
    secrets.debug("Bearer value", &exported.token().clone());
    secrets.debug(
        "ExportedToken built by hand",
        &ExportedToken::new(AccessToken::new(&token).unwrap(), Duration::from_secs(60)),
    );
    let rebuilt = TokenCache::default();
    rebuilt.import(&exported, now).unwrap();
    secrets.debug("imported TokenCache", &rebuilt);

    // A sans-IO client whose token is refused, and whose queue is failed.
    let mut client = Client::new(make_config());
    let id = client.send(ApiRequest::get(&user), now);
    client.transport_failed();
    let mut events = Vec::new();
    while let Some(event) = client.poll_event() {
        events.push(event);
    }
    assert!(
        !events.is_empty(),
        "the queued request {id:?} ended in an event"
    );
    for event in &events {
        secrets.debug("sans-IO event", event);
    }
}

/// The std adapter's clock: a fresh `StdClock` reads the same monotonic time base.
fn std_client_now() -> mtls_core::time::Instant {
    use mtls_core::io::Clock;
    mtls_core::io::std_adapter::StdClock::new().now()
}
