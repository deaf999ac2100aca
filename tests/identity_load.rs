//! Loading client identities in every form users hold, and the checks made before any traffic.

mod common;

use base64::Engine;
use common::*;
use mtls_core::identity::load::{IdentitySources, Origin};
use mtls_core::identity::{
    ClientAuthUsage, Identity, IdentityError, IdentityWarning, KeyAlgorithm, KeyForm, Part,
};
use mtls_core::time::UnixTime;
use mtls_sandbox::{IssueSpec, TestCa, Usage};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn at(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs as u64))
}

#[test]
fn each_key_form_loads_and_reports_its_algorithm() {
    let ca = TestCa::new("identity test CA").unwrap();
    for (key, algorithm) in [
        ("rsa2048-pkcs1", KeyAlgorithm::Rsa { bits: 2048 }),
        ("rsa2048-pkcs8", KeyAlgorithm::Rsa { bits: 2048 }),
        ("p256-pkcs8", KeyAlgorithm::EcdsaP256),
        ("p256-sec1", KeyAlgorithm::EcdsaP256),
    ] {
        let identity = identity_for_fixture(&ca, key);
        let info = identity.info();
        assert_eq!(info.key_algorithm, algorithm, "{key}");
        assert!(info.key_match_checked, "{key}");
        assert_eq!(info.client_auth, ClientAuthUsage::Allowed);
        assert_eq!(info.subject, "CN=client.sandbox.example");
        let report = identity.check(wall_now()).unwrap();
        assert!(report.warnings.is_empty(), "{key}: {:?}", report.warnings);
        assert!(
            (363..=365).contains(&report.days_to_expiry),
            "{}",
            report.days_to_expiry
        );
    }
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_at_load_time() {
    let ca = TestCa::new("identity test CA").unwrap();
    for (cert_for, key) in [
        ("p256-pkcs8", "p256-sec1"),
        ("rsa2048-pkcs1", "rsa2048-pkcs8"),
        ("rsa2048-pkcs8", "p256-pkcs8"),
        ("p256-sec1", "rsa2048-pkcs1"),
    ] {
        let issued = client_cert_for_fixture(&ca, cert_for);
        let err = Identity::from_pem(issued.cert_pem.as_bytes(), &fixture(&format!("{key}.pem")))
            .unwrap_err();
        assert_eq!(
            err,
            IdentityError::KeyDoesNotMatchCertificate,
            "{cert_for} + {key}"
        );
        assert_eq!(
            err.to_string(),
            "the private key does not belong to the client certificate (their public keys differ)"
        );
    }
}

#[test]
fn an_expired_certificate_is_refused_with_its_expiry_date() {
    let ca = TestCa::new("identity test CA").unwrap();
    // 2025-01-01T00:00:00Z .. 2026-01-01T00:00:00Z
    let issued = usage_issue(&ca, Usage::Client, 1_735_689_600, 1_767_225_600);
    let key = issued.key_pem.as_ref().unwrap();
    let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key.as_bytes()).unwrap();
    let err = identity.check(wall_now()).unwrap_err();
    assert_eq!(
        err,
        IdentityError::Expired {
            not_after: 1_767_225_600
        }
    );
    assert_eq!(
        err.to_string(),
        "the client certificate expired on 2026-01-01T00:00:00Z"
    );
    // Before its start it is not yet valid; inside its window it is fine.
    assert_eq!(
        identity.check(at(1_700_000_000)).unwrap_err(),
        IdentityError::NotYetValid {
            not_before: 1_735_689_600
        }
    );
    let report = identity.check(at(1_767_225_600 - 10 * 86_400 - 5)).unwrap();
    assert_eq!(report.days_to_expiry, 10);
    assert_eq!(
        report.warnings,
        vec![IdentityWarning::ExpiresSoon { days_to_expiry: 10 }]
    );
}

#[test]
fn a_leaf_without_client_auth_is_a_warning_not_an_error() {
    let ca = TestCa::new("identity test CA").unwrap();
    let now = now_secs();
    let issued = usage_issue(&ca, Usage::ServerOnlyEku, now - 60, now + 200 * 86_400);
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(identity.info().client_auth, ClientAuthUsage::NotAllowed);
    let report = identity.check(wall_now()).unwrap();
    assert_eq!(report.warnings, vec![IdentityWarning::ClientAuthNotAllowed]);

    let issued = usage_issue(&ca, Usage::NoEku, now - 60, now + 200 * 86_400);
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(identity.info().client_auth, ClientAuthUsage::Unrestricted);
    assert!(identity.check(wall_now()).unwrap().warnings.is_empty());
}

#[test]
fn encrypted_pkcs8_keys_need_the_right_passphrase() {
    let ca = TestCa::new("identity test CA").unwrap();
    let issued = client_cert_for_fixture(&ca, "p256-pkcs8");
    let key = fixture("p256-encrypted.pem");
    let cert = issued.cert_pem.as_bytes();
    assert_eq!(
        Identity::from_pem(cert, &key).unwrap_err(),
        IdentityError::PassphraseRequired
    );
    assert_eq!(
        Identity::from_encrypted_pem(cert, &key, b"wrong").unwrap_err(),
        IdentityError::WrongPassphrase
    );
    let identity = Identity::from_encrypted_pem(cert, &key, b"correct-horse").unwrap();
    assert_eq!(identity.info().key_algorithm, KeyAlgorithm::EcdsaP256);
}

/// The cost parameters come from the file and are paid before the passphrase is checked:
/// a key asking for too much work is refused at once (the fuzz regressions replay scrypt
/// asking for 64 TiB).
#[test]
fn an_encrypted_key_asking_for_too_much_work_is_refused() {
    let ca = TestCa::new("identity test CA").unwrap();
    let issued = client_cert_for_fixture(&ca, "p256-pkcs8");
    let err = Identity::from_encrypted_pem(
        issued.cert_pem.as_bytes(),
        &fixture("p256-encrypted-costly.pem"),
        b"correct-horse",
    )
    .unwrap_err();
    // Only the check made before derivation returns this error.
    assert_eq!(err, IdentityError::KeyDerivationTooCostly);
}

/// Re-encrypts a fixture key as OpenSSL's legacy PEM (`Proc-Type: 4,ENCRYPTED`) with
/// `openssl <tool> -<cipher>`; `tool` is `rsa -traditional` or `ec`.
fn openssl_legacy_encrypt(tool: &[&str], key: &str, cipher: &str, pass: &str) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(tool)
        .arg("-in")
        .arg(format!(
            "{}/tests/fixtures/{key}.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(format!("-{cipher}"))
        .arg("-passout")
        .arg(format!("pass:{pass}"))
        .output()
        .expect("openssl must be installed (run `bash scripts/test.sh`, which installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Proc-Type: 4,ENCRYPTED"),
        "openssl wrote the legacy form"
    );
    out.stdout
}

#[test]
fn legacy_encrypted_pem_keys_load_with_the_passphrase() {
    let ca = TestCa::new("identity test CA").unwrap();
    let rsa = client_cert_for_fixture(&ca, "rsa2048-pkcs1");
    let ec = client_cert_for_fixture(&ca, "p256-sec1");
    // The committed fixture (`openssl genrsa -traditional -aes256`, make-fixtures.sh) is a
    // key of its own: it decrypts and parses, then does not match another key's certificate.
    let fixture_key = fixture("rsa2048-legacy-encrypted.pem");
    let cert = rsa.cert_pem.as_bytes();
    assert_eq!(
        Identity::from_encrypted_pem(cert, &fixture_key, b"correct-horse").unwrap_err(),
        IdentityError::KeyDoesNotMatchCertificate
    );
    assert_eq!(
        Identity::from_encrypted_pem(cert, &fixture_key, b"wrong").unwrap_err(),
        IdentityError::WrongPassphrase
    );
    let mut cases = Vec::new();
    for cipher in ["aes128", "aes192", "aes256", "des3"] {
        cases.push((
            &rsa,
            cipher,
            openssl_legacy_encrypt(&["rsa", "-traditional"], "rsa2048-pkcs1", cipher, "pw-rsa"),
            "pw-rsa",
        ));
        cases.push((
            &ec,
            cipher,
            openssl_legacy_encrypt(&["ec"], "p256-sec1", cipher, "pw-ec"),
            "pw-ec",
        ));
    }
    for (issued, what, key, pass) in &cases {
        let cert = issued.cert_pem.as_bytes();
        let identity = Identity::from_encrypted_pem(cert, key, pass.as_bytes())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(identity.info().key_match_checked, "{what}");
        assert_eq!(identity.chain()[0], issued.cert_der, "{what}");
        assert_eq!(
            Identity::from_encrypted_pem(cert, key, b"not the passphrase").unwrap_err(),
            IdentityError::WrongPassphrase,
            "{what}"
        );
        assert_eq!(
            Identity::from_pem(cert, key).unwrap_err(),
            IdentityError::PassphraseRequired,
            "{what}"
        );
    }
    // Single DES is refused, with the command that re-encrypts the key. (OpenSSL 3 no
    // longer writes it without its legacy provider: the header is rewritten by hand.)
    let des3 = openssl_legacy_encrypt(&["rsa", "-traditional"], "rsa2048-pkcs1", "des3", "pw");
    let des = String::from_utf8(des3)
        .unwrap()
        .replace("DES-EDE3-CBC", "DES-CBC");
    let des = des.as_bytes();
    let err = Identity::from_encrypted_pem(rsa.cert_pem.as_bytes(), des, b"pw").unwrap_err();
    assert_eq!(err, IdentityError::LegacyEncryptedKey);
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn base64_wrapped_pem_loads_with_or_without_line_breaks() {
    let ca = TestCa::new("identity test CA").unwrap();
    let issued = client_cert_for_fixture(&ca, "rsa2048-pkcs1");
    let key = fixture("rsa2048-pkcs1.pem");
    let cert_b64 = b64(issued.cert_pem.as_bytes());
    // Secret managers often wrap at 64 or 76 columns.
    let key_b64: String = b64(&key)
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let identity = Identity::from_base64_pem(&cert_b64, &key_b64, None).unwrap();
    assert_eq!(
        identity.info().key_algorithm,
        KeyAlgorithm::Rsa { bits: 2048 }
    );
    // Plain PEM pasted where Base64 was expected still works.
    Identity::from_base64_pem(&issued.cert_pem, std::str::from_utf8(&key).unwrap(), None).unwrap();
    assert_eq!(
        Identity::from_base64_pem("%%%not base64%%%", &key_b64, None).unwrap_err(),
        IdentityError::Base64 {
            part: Part::Certificate
        }
    );
    assert_eq!(
        Identity::from_base64_pem(&cert_b64, "   ", None).unwrap_err(),
        IdentityError::Empty {
            part: Part::PrivateKey
        }
    );
}

#[test]
fn malformed_inputs_give_typed_errors() {
    let ca = TestCa::new("identity test CA").unwrap();
    let issued = client_cert_for_fixture(&ca, "p256-pkcs8");
    let key = fixture("p256-pkcs8.pem");
    let cert = issued.cert_pem.as_bytes();
    assert_eq!(
        Identity::from_pem(b"", &key).unwrap_err(),
        IdentityError::NoCertificate
    );
    assert_eq!(
        Identity::from_pem(cert, b"").unwrap_err(),
        IdentityError::NoPrivateKey
    );
    assert_eq!(
        Identity::from_pem(cert, cert).unwrap_err(),
        IdentityError::NoPrivateKey
    );
    let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert_eq!(
        Identity::from_pem(broken, &key).unwrap_err(),
        IdentityError::Pem {
            part: Part::Certificate
        }
    );
    let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        Identity::from_pem(not_der, &key).unwrap_err(),
        IdentityError::CertificateUnparseable { index: 0 }
    );
    let bad_key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        Identity::from_pem(cert, bad_key).unwrap_err(),
        IdentityError::KeyUnparseable
    );
    // Every prefix of a valid key that stops before its END line is an error, never a panic.
    for cut in 0..key.len() - b"-----END PRIVATE KEY-----\n".len() {
        assert!(Identity::from_pem(cert, &key[..cut]).is_err());
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let ca = TestCa::new("identity test CA").unwrap();
    let identity = identity_for_fixture(&ca, "p256-sec1");
    let debug = format!("{identity:?}");
    assert!(debug.contains("<redacted>"));
    let key_pem = String::from_utf8(fixture("p256-sec1.pem")).unwrap();
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line));
    }
    let sources = IdentitySources::from_lookup(|name| match name {
        "MTLS_KEY_B64" => Some(b64(key_pem.as_bytes())),
        "MTLS_KEY_PASSPHRASE" => Some("hunter2-passphrase".into()),
        _ => None,
    });
    let debug = format!("{sources:?}");
    assert!(!debug.contains(&b64(key_pem.as_bytes())[..40]));
    assert!(!debug.contains("hunter2"));
}

/// The rule from the seeds: a path wins over the Base64 value when both are set.
#[test]
fn env_file_path_wins_over_base64() {
    let ca = TestCa::new("identity test CA").unwrap();
    let dir = std::env::temp_dir().join(format!("mtls-core-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The files hold one identity (RSA), the Base64 values another (P-256).
    let rsa = client_cert_for_fixture(&ca, "rsa2048-pkcs1");
    let cert_path = dir.join("client.pem");
    let key_path = dir.join("client.key");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&cert_path, &rsa.cert_pem).unwrap();
    std::fs::write(&key_path, fixture("rsa2048-pkcs1.pem")).unwrap();
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let ec = client_cert_for_fixture(&ca, "p256-sec1");
    let vars = [
        ("MTLS_CERT_PATH", cert_path.to_str().unwrap().to_string()),
        ("MTLS_KEY_PATH", key_path.to_str().unwrap().to_string()),
        ("MTLS_CA_PATH", ca_path.to_str().unwrap().to_string()),
        ("MTLS_CERT_B64", b64(ec.cert_pem.as_bytes())),
        ("MTLS_KEY_B64", b64(&fixture("p256-sec1.pem"))),
        ("MTLS_CA_B64", b64(b"not a CA at all")),
    ];
    let lookup = |only: &[&str]| {
        let vars = vars.clone();
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name && only.iter().any(|o| o == name))
                .map(|(_, v)| v.clone())
        }
    };
    let all = [
        "MTLS_CERT_PATH",
        "MTLS_KEY_PATH",
        "MTLS_CA_PATH",
        "MTLS_CERT_B64",
        "MTLS_KEY_B64",
        "MTLS_CA_B64",
    ];
    let loaded = IdentitySources::from_lookup(lookup(&all))
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(loaded.cert_origin, Origin::Path);
    assert_eq!(loaded.key_origin, Origin::Path);
    assert_eq!(
        loaded.identity.info().key_algorithm,
        KeyAlgorithm::Rsa { bits: 2048 }
    );
    assert_eq!(loaded.ca.unwrap().certs()[0], ca.cert_der());

    let loaded = IdentitySources::from_lookup(lookup(&["MTLS_CERT_B64", "MTLS_KEY_B64"]))
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(loaded.cert_origin, Origin::Base64);
    assert_eq!(
        loaded.identity.info().key_algorithm,
        KeyAlgorithm::EcdsaP256
    );
    assert!(loaded.ca.is_none());

    // Mixed: certificate from its path, key from Base64; they do not match.
    let err = IdentitySources::from_lookup(lookup(&["MTLS_CERT_PATH", "MTLS_KEY_B64"]))
        .load()
        .unwrap_err();
    assert_eq!(err, IdentityError::KeyDoesNotMatchCertificate);
    // Nothing set: no identity, not an error. A certificate alone: an error.
    assert!(IdentitySources::from_lookup(|_| None)
        .load()
        .unwrap()
        .is_none());
    assert_eq!(
        IdentitySources::from_lookup(lookup(&["MTLS_CERT_B64"]))
            .load()
            .unwrap_err(),
        IdentityError::NoPrivateKey
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_names_the_input() {
    let sources = IdentitySources::from_lookup(|name| match name {
        "MTLS_CERT_PATH" => Some("/nonexistent/client.pem".into()),
        "MTLS_KEY_PATH" => Some("/nonexistent/client.key".into()),
        _ => None,
    });
    let err = sources.load().unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not read the client certificate file: file not found"
    );
}

/// PKCS#12 as the seeds make it: `openssl pkcs12 -export -in certificate.pem -inkey private.key`.
#[test]
fn pkcs12_archives_made_by_openssl_load_with_their_password() {
    let ca = TestCa::new("identity test CA").unwrap();
    let dir = std::env::temp_dir().join(format!("mtls-core-p12-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for key in ["rsa2048-pkcs1", "p256-sec1"] {
        let issued = client_cert_for_fixture(&ca, key);
        let cert_path = dir.join(format!("{key}.crt"));
        std::fs::write(&cert_path, &issued.cert_pem).unwrap();
        let p12 = dir.join(format!("{key}.p12"));
        let status = std::process::Command::new("openssl")
            .args([
                "pkcs12",
                "-export",
                "-name",
                "client-cert",
                "-passout",
                "pass:your-cert-password",
            ])
            .arg("-in")
            .arg(&cert_path)
            .arg("-inkey")
            .arg(format!(
                "{}/tests/fixtures/{key}.pem",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg("-out")
            .arg(&p12)
            .status()
            .expect("openssl must be installed (run `bash scripts/test.sh`, which installs it)");
        assert!(status.success());
        let archive = std::fs::read(&p12).unwrap();
        let identity = Identity::from_pkcs12(&archive, "your-cert-password").unwrap();
        assert_eq!(identity.chain()[0], issued.cert_der);
        assert!(identity.info().key_match_checked);
        assert_eq!(
            Identity::from_pkcs12(&archive, "wrong").unwrap_err(),
            IdentityError::WrongPassphrase
        );
        // Through the env-var form too.
        let loaded = IdentitySources::from_lookup(|name| match name {
            "MTLS_PKCS12_B64" => Some(b64(&archive)),
            "MTLS_PKCS12_PASSWORD" => Some("your-cert-password".into()),
            _ => None,
        })
        .load()
        .unwrap()
        .unwrap();
        assert_eq!(loaded.identity.chain()[0], issued.cert_der);
    }
    assert_eq!(
        Identity::from_pkcs12(b"junk", "x").unwrap_err(),
        IdentityError::Pkcs12
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Makes `openssl pkcs12 -export` archives in a temporary directory.
struct P12Maker {
    dir: std::path::PathBuf,
}

impl P12Maker {
    fn new(name: &str) -> P12Maker {
        let dir = std::env::temp_dir().join(format!("mtls-core-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        P12Maker { dir }
    }

    /// An archive of the key fixture `key`, the certificates `certs_pem` (`-in`) and the
    /// options `args`, with the password `password`.
    fn make(&self, key: &str, certs_pem: &str, args: &[&str], password: &str) -> Vec<u8> {
        let certs = self.dir.join(format!("{key}-in.pem"));
        std::fs::write(&certs, certs_pem).unwrap();
        let out = self.dir.join(format!("{key}.p12"));
        let mut command = std::process::Command::new("openssl");
        command
            .args(["pkcs12", "-export", "-name", "client-cert"])
            .arg("-passout")
            .arg(format!("pass:{password}"))
            .args(args)
            .arg("-in")
            .arg(&certs)
            .arg("-inkey")
            .arg(fixture_path(key));
        openssl_output(command, &out)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }
}

impl Drop for P12Maker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this openssl has the legacy provider (RC2, which `-legacy` needs).
fn openssl_has_legacy_provider() -> bool {
    std::process::Command::new("openssl")
        .args(["list", "-providers", "-provider", "legacy"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("legacy"))
}

/// Every encryption and MAC `openssl pkcs12 -export` offers that the reader reads: each
/// loads with its password, and a wrong password is WrongPassphrase.
#[test]
fn pkcs12_archives_of_each_encryption_load_and_refuse_a_wrong_password() {
    let ca = TestCa::new("identity test CA").unwrap();
    let maker = P12Maker::new("p12-kinds");
    let mut kinds: Vec<(&str, Vec<&str>)> = vec![
        ("OpenSSL 3 default (PBES2 AES-256, SHA-256 MAC)", vec![]),
        (
            "3DES keys and certificates, SHA-1 MAC",
            vec![
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ],
        ),
        (
            "PBES2 AES-128 key, AES-192 certificates, SHA-512 MAC",
            vec![
                "-keypbe",
                "AES-128-CBC",
                "-certpbe",
                "AES-192-CBC",
                "-macalg",
                "sha512",
            ],
        ),
        (
            "SHA-384 MAC, one MAC iteration",
            vec!["-macalg", "sha384", "-nomaciter"],
        ),
        ("plain certificates", vec!["-certpbe", "NONE"]),
        ("no MAC", vec!["-nomac"]),
    ];
    if openssl_has_legacy_provider() {
        kinds.push((
            "-legacy (RC2-40 certificates, 3DES key, SHA-1 MAC)",
            vec!["-legacy"],
        ));
    } else {
        eprintln!(
            "skipping the -legacy PKCS#12 case: this openssl has no legacy provider \
             (`openssl list -providers -provider legacy`)"
        );
    }
    for key in ["rsa2048-pkcs1", "p256-sec1"] {
        let issued = client_cert_for_fixture(&ca, key);
        for (kind, args) in &kinds {
            let archive = maker.make(key, &issued.cert_pem, args, "pässwörd-7");
            let identity = Identity::from_pkcs12(&archive, "pässwörd-7")
                .unwrap_or_else(|e| panic!("{key}, {kind}: {e}"));
            assert_eq!(
                identity.chain(),
                std::slice::from_ref(&issued.cert_der),
                "{key}, {kind}"
            );
            assert_eq!(identity.key_form(), KeyForm::Pkcs12);
            assert!(identity.info().key_match_checked, "{key}, {kind}");
            for wrong in ["pässwörd-8", "", "passwort"] {
                assert_eq!(
                    Identity::from_pkcs12(&archive, wrong).unwrap_err(),
                    IdentityError::WrongPassphrase,
                    "{key}, {kind}, {wrong:?}"
                );
            }
        }
    }
    // An empty password, as `-passout pass:` writes it.
    let issued = client_cert_for_fixture(&ca, "p256-sec1");
    let archive = maker.make("p256-sec1", &issued.cert_pem, &[], "");
    let identity = Identity::from_pkcs12(&archive, "").unwrap();
    assert_eq!(identity.chain()[0], issued.cert_der);
    assert_eq!(
        Identity::from_pkcs12(&archive, "x").unwrap_err(),
        IdentityError::WrongPassphrase
    );
}

/// A chain in the archive: the leaf (the key's certificate) comes first, the others after it
/// in archive order, whatever order they were given in.
#[test]
fn a_pkcs12_chain_puts_the_leaf_first() {
    let ca = TestCa::new("identity test CA").unwrap();
    let intermediate = TestCa::new("identity test intermediate").unwrap();
    let maker = P12Maker::new("p12-chain");
    for key in ["rsa2048-pkcs8", "p256-pkcs8"] {
        let issued = client_cert_for_fixture(&ca, key);
        let root = maker.path("root.pem");
        std::fs::write(&root, ca.cert_pem()).unwrap();
        // The intermediate before the leaf in `-in`, the root in `-certfile`.
        let certs = format!("{}{}", intermediate.cert_pem(), issued.cert_pem);
        let archive = maker.make(
            key,
            &certs,
            &["-certfile", root.to_str().unwrap()],
            "chain-pw",
        );
        let identity = Identity::from_pkcs12(&archive, "chain-pw").unwrap();
        let chain = identity.chain();
        assert_eq!(chain.len(), 3, "{key}");
        assert_eq!(chain[0], issued.cert_der, "{key}");
        assert!(chain.contains(&intermediate.cert_der()), "{key}");
        assert!(chain.contains(&ca.cert_der()), "{key}");
        assert_eq!(identity.info().subject, "CN=client.sandbox.example");
    }
}

/// Junk, every truncation of a real archive and every single-bit corruption of it: an
/// error each time, never a panic.
#[test]
fn malformed_pkcs12_archives_are_errors_never_panics() {
    let ca = TestCa::new("identity test CA").unwrap();
    let maker = P12Maker::new("p12-malformed");
    for junk in [
        &b""[..],
        b"junk",
        b"\x30",
        b"\x30\x80",
        b"\x30\x03\x02\x01\x03",
        &[0xff; 64],
    ] {
        assert_eq!(
            Identity::from_pkcs12(junk, "x").unwrap_err(),
            IdentityError::Pkcs12,
            "{junk:?}"
        );
    }
    let issued = client_cert_for_fixture(&ca, "p256-sec1");
    let mut archives = vec![maker.make("p256-sec1", &issued.cert_pem, &[], "pw")];
    if openssl_has_legacy_provider() {
        archives.push(maker.make("p256-sec1", &issued.cert_pem, &["-legacy"], "pw"));
    }
    archives.push(maker.make("p256-sec1", &issued.cert_pem, &["-nomac"], "pw"));
    for archive in &archives {
        assert!(Identity::from_pkcs12(archive, "pw").is_ok());
        for len in 0..archive.len() {
            assert!(
                Identity::from_pkcs12(&archive[..len], "pw").is_err(),
                "prefix of {len} bytes"
            );
        }
        // Trailing bytes after the PFX are refused too.
        let mut longer = archive.clone();
        longer.push(0);
        assert!(Identity::from_pkcs12(&longer, "pw").is_err());
    }
    // Single-bit corruptions: with a MAC every one is an error (the MAC covers the
    // contents, its parameters and the structure are checked); without one, a flip in a
    // ciphertext can decrypt to garbage that still parses in rare cases, so that archive
    // is only run for panics.
    for (i, archive) in archives.iter().enumerate() {
        let has_mac = i + 1 < archives.len();
        for pos in 0..archive.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = archive.clone();
                bad[pos] ^= bit;
                let result = Identity::from_pkcs12(&bad, "pw");
                if has_mac {
                    assert!(result.is_err(), "byte {pos} ^ {bit:#x}");
                }
            }
        }
    }
}

#[test]
fn issued_spec_sanity() {
    // The CA helper issues what the identity module reads back.
    let ca = TestCa::new("identity test CA").unwrap();
    let issued = ca
        .issue(&IssueSpec::client("abc.sandbox.mangopay.com"))
        .unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(identity.info().subject, "CN=abc.sandbox.mangopay.com");
    assert_eq!(identity.info().issuer, "CN=identity test CA");
}

/// `openssl req -x509` with the key fixture `p256-pkcs8` and `args`: the certificate's PEM.
fn openssl_self_signed(name: &str, args: &[&str]) -> Vec<u8> {
    let maker = P12Maker::new(name);
    let mut command = std::process::Command::new("openssl");
    command
        .args(["req", "-x509", "-days", "30", "-key"])
        .arg(fixture_path("p256-pkcs8"))
        .args(args);
    openssl_output(command, &maker.path("cert.pem"))
}

/// The key fixture `name` (tests/fixtures/NAME.pem).
fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}.pem", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command` with `-out out` and returns what it wrote there; fails the test with
/// openssl's message when it fails.
fn openssl_output(mut command: std::process::Command, out: &std::path::Path) -> Vec<u8> {
    let output = command
        .arg("-out")
        .arg(out)
        .output()
        .expect("openssl must be installed (run `bash scripts/test.sh`, which installs it)");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(out).unwrap()
}

/// What `Identity::info` reads from a certificate openssl wrote: names with escapes, every
/// kind of subject alternative name, the extended key usages, the validity window.
#[test]
fn certificate_fields_read_as_openssl_writes_them() {
    let key = std::fs::read(fixture_path("p256-pkcs8")).unwrap();
    let cert = openssl_self_signed(
        "cert-fields",
        &[
            "-subj",
            "/C=FR/O=Example, Inc./OU=Payments+CN=device 1",
            "-addext",
            "subjectAltName=DNS:device.example.test,IP:127.0.0.1,IP:::1,email:ops@example.test,URI:https://example.test/id,otherName:1.2.3.4;UTF8:x",
            "-addext",
            "extendedKeyUsage=critical,clientAuth,serverAuth,1.2.3.4.5",
        ],
    );
    let identity = Identity::from_pem(&cert, &key).unwrap();
    let info = identity.info();
    // A multi-valued RDN is a DER SET: its attributes in encoding order (CN before OU).
    assert_eq!(
        info.subject,
        "CN=device 1+OU=Payments,O=Example\\, Inc.,C=FR"
    );
    assert_eq!(info.issuer, info.subject);
    assert_eq!(
        info.subject_alt_names,
        [
            "DNS:device.example.test",
            "IP:127.0.0.1",
            "IP:0:0:0:0:0:0:0:1",
            "email:ops@example.test",
            "URI:https://example.test/id",
            "other",
        ]
    );
    assert_eq!(
        info.extended_key_usages,
        ["clientAuth", "serverAuth", "1.2.3.4.5"]
    );
    assert_eq!(info.client_auth, ClientAuthUsage::Allowed);
    assert_eq!(info.key_algorithm, KeyAlgorithm::EcdsaP256);
    assert!(info.key_match_checked);
    assert_eq!(info.not_after - info.not_before, 30 * 86_400);

    // No extensions requested beyond openssl's defaults (key identifiers, basic
    // constraints): no names, no usages, any usage allowed.
    let plain = openssl_self_signed("cert-plain", &["-subj", "/CN=plain"]);
    let info = Identity::from_pem(&plain, &key).unwrap().info().clone();
    assert_eq!(info.subject, "CN=plain");
    assert!(info.subject_alt_names.is_empty());
    assert!(info.extended_key_usages.is_empty());
    assert_eq!(info.client_auth, ClientAuthUsage::Unrestricted);

    // Cut anywhere, the certificate no longer parses: refused, with its index.
    let der = rustls_pki_types_der(&cert);
    for cut in [1, der.len() / 2, der.len() - 1] {
        let err = Identity::from_der(
            vec![der[..cut].to_vec().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(
                rustls::pki_types::pem::PemObject::from_pem_slice(&key).unwrap(),
            ),
        )
        .unwrap_err();
        assert!(
            matches!(err, IdentityError::CertificateUnparseable { index: 0 }),
            "{err:?}"
        );
    }
}

/// The DER of the first certificate in `pem`.
fn rustls_pki_types_der(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}
