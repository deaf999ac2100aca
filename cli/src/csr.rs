//! `mtls csr`: the first step of the certificate's life. Generates the private key and the
//! certificate signing request the API's dashboard signs, as the Mangopay guide's
//! `openssl genrsa -out private.key 2048` and `openssl req -new -key private.key -subj
//! "/CN={ClientId}.sandbox.mangopay.com/O=Mangopay/C=LU" -addext "subjectAltName=DNS:..."
//! -addext "extendedKeyUsage=clientAuth"` do, in pure Rust (no OpenSSL at run time).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, ValueEnum};
use der::asn1::Ia5String;
use der::pem::LineEnding;
use der::EncodePem;
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use zeroize::Zeroizing;

use crate::Fail;

/// Arguments of `mtls csr`.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The API client id; the subject becomes `CN=<id>.<environment>.mangopay.com, O=Mangopay,
    /// C=LU`, as the Mangopay dashboard expects.
    #[arg(
        long,
        env = "MTLS_CLIENT_ID",
        value_name = "ID",
        required_unless_present = "subject"
    )]
    pub client_id: Option<String>,
    /// Mangopay environment the certificate is for.
    #[arg(long, value_enum, default_value_t = Environment::Sandbox)]
    pub environment: Environment,
    /// Any other API: the subject as `CN=...,O=...,C=...`, in the order `openssl req -subj
    /// /CN=.../O=.../C=...` takes and `openssl req -text` prints. Replaces the Mangopay
    /// subject.
    #[arg(long, value_name = "DN", conflicts_with = "client_id")]
    pub subject: Option<String>,
    /// DNS names for the subjectAltName extension (repeatable). Default: the subject's CN.
    #[arg(long = "san", value_name = "DNS")]
    pub sans: Vec<String>,
    /// Key algorithm: RSA-2048 (what the Mangopay guide generates) or ECDSA P-256.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    pub key_type: KeyType,
    /// Write the key as PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) instead of
    /// PKCS#8 (`PRIVATE KEY`).
    #[arg(long)]
    pub traditional: bool,
    /// Where the private key goes (created with mode 0600).
    #[arg(long, value_name = "FILE", default_value = "private.key")]
    pub key_out: PathBuf,
    /// Where the CSR goes.
    #[arg(long, value_name = "FILE", default_value = "client.csr")]
    pub csr_out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Mangopay's environments, which name the certificate's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// `<id>.sandbox.mangopay.com`
    Sandbox,
    /// `<id>.prod.mangopay.com`
    Production,
}

/// The key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// RSA, 2048 bits, public exponent 65537.
    Rsa2048,
    /// ECDSA on NIST P-256.
    P256,
}

/// Generates the key and the CSR, writes both, prints the next step.
pub fn run(args: CsrArgs) -> Result<(), Fail> {
    let (subject, default_san) = subject(&args)?;
    let sans = if args.sans.is_empty() {
        default_san.into_iter().collect()
    } else {
        args.sans.clone()
    };
    for path in [&args.key_out, &args.csr_out] {
        if path.exists() && !args.force {
            return Err(Fail::config(format_args!(
                "{} exists; pass --force to replace it",
                path.display()
            )));
        }
    }
    let (key_pem, csr_pem) = generate(args.key_type, args.traditional, subject, &sans)?;
    write_file(&args.key_out, key_pem.as_bytes(), 0o600, args.force)?;
    write_file(&args.csr_out, csr_pem.as_bytes(), 0o644, args.force)?;

    let key = args.key_out.display();
    let csr = args.csr_out.display();
    println!(
        "- private key: {key} ({:?}, mode 0600; keep it secret, never upload it)",
        args.key_type
    );
    println!("- certificate signing request: {csr}");
    if args.subject.is_none() {
        println!(
            "next: in the Mangopay Dashboard (https://hub.mangopay.com), Developers > mTLS \
             certificates, paste the content of {csr}; save the certificate it gives you, then"
        );
    } else {
        println!("next: have your API provider sign {csr}; save the certificate, then");
    }
    println!("  export MTLS_CERT_PATH=<the certificate> MTLS_KEY_PATH={key}");
    println!("  mtls check   # before the first request");
    Ok(())
}

/// The subject, and the DNS name the SAN defaults to.
fn subject(args: &CsrArgs) -> Result<(Name, Option<String>), Fail> {
    if let Some(dn) = &args.subject {
        let name = openssl_order_name(dn)
            .map_err(|e| Fail::config(format_args!("--subject {dn:?} is not a DN: {e}")))?;
        let cn = dn.split(',').find_map(|part| {
            let (k, v) = part.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("CN")
                .then(|| v.trim().to_owned())
        });
        return Ok((name, cn));
    }
    let id = args.client_id.as_deref().unwrap_or_default();
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(Fail::config(format_args!(
            "client id {id:?} must be letters, digits, '-' or '_' (it becomes a host name)"
        )));
    }
    let env = match args.environment {
        Environment::Sandbox => "sandbox",
        Environment::Production => "prod",
    };
    let host = format!("{id}.{env}.mangopay.com");
    let name = openssl_order_name(&format!("CN={host},O=Mangopay,C=LU"))
        .map_err(|e| Fail::config(format_args!("subject for {host}: {e}")))?;
    Ok((name, Some(host)))
}

/// A name whose attributes are encoded in the order written, as `openssl req -subj` does.
/// (An RFC 4514 string lists them the other way round, which is what `Name::from_str`
/// reads.) Commas inside a value are escaped as `\,`.
fn openssl_order_name(dn: &str) -> Result<Name, der::Error> {
    let mut parts = Vec::new();
    let mut start = 0;
    let bytes = dn.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' && (i == 0 || bytes[i - 1] != b'\\') {
            parts.push(&dn[start..i]);
            start = i + 1;
        }
    }
    parts.push(&dn[start..]);
    let reversed: Vec<&str> = parts.iter().rev().map(|p| p.trim()).collect();
    Name::from_str(&reversed.join(","))
}

/// The key (PEM) and the CSR (PEM) for `subject` with `sans` and clientAuth.
fn generate(
    key_type: KeyType,
    traditional: bool,
    subject: Name,
    sans: &[String],
) -> Result<(Zeroizing<String>, String), Fail> {
    let fail = |what: &str, e: &dyn std::fmt::Display| Fail::config(format_args!("{what}: {e}"));
    let mut rng = rand_core::OsRng;
    let san = SubjectAltName(
        sans.iter()
            .map(|dns| {
                Ia5String::new(dns)
                    .map(GeneralName::DnsName)
                    .map_err(|e| fail(&format!("--san {dns:?}"), &e))
            })
            .collect::<Result<_, _>>()?,
    );
    let eku = ExtendedKeyUsage(vec![const_oid::db::rfc5280::ID_KP_CLIENT_AUTH]);
    match key_type {
        KeyType::Rsa2048 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| fail("RSA key", &e))?;
            let key_pem = if traditional {
                key.to_pkcs1_pem(LineEnding::LF)
                    .map_err(|e| fail("RSA key PEM", &e))?
            } else {
                key.to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| fail("RSA key PEM", &e))?
            };
            let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
            let csr = build::<_, rsa::pkcs1v15::Signature>(subject, &signer, &san, &eku)?;
            Ok((key_pem, csr))
        }
        KeyType::P256 => {
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut rng);
            let key_pem = if traditional {
                key.to_sec1_pem(LineEnding::LF)
                    .map_err(|e| fail("P-256 key PEM", &e))?
            } else {
                key.to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| fail("P-256 key PEM", &e))?
            };
            let signer = p256::ecdsa::SigningKey::from(key);
            let csr = build::<_, p256::ecdsa::DerSignature>(subject, &signer, &san, &eku)?;
            Ok((key_pem, csr))
        }
    }
}

fn build<S, Sig>(
    subject: Name,
    signer: &S,
    san: &SubjectAltName,
    eku: &ExtendedKeyUsage,
) -> Result<String, Fail>
where
    S: signature::Keypair + spki::DynSignatureAlgorithmIdentifier + signature::Signer<Sig>,
    S::VerifyingKey: spki::EncodePublicKey,
    Sig: spki::SignatureBitStringEncoding,
{
    let fail = |e: x509_cert::builder::Error| Fail::config(format_args!("building the CSR: {e}"));
    let mut builder = RequestBuilder::new(subject, signer).map_err(fail)?;
    if !san.0.is_empty() {
        builder.add_extension(san).map_err(fail)?;
    }
    builder.add_extension(eku).map_err(fail)?;
    let csr = builder.build::<Sig>().map_err(fail)?;
    csr.to_pem(LineEnding::LF)
        .map_err(|e| Fail::config(format_args!("CSR PEM: {e}")))
}

/// Creates `path` with `mode` (Unix), refusing to replace it unless `force`.
fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), Fail> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let fail = |e: std::io::Error| Fail::config(format_args!("writing {}: {e}", path.display()));
    let mut file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        // An existing file replaced with --force keeps its old mode otherwise.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
    }
    file.write_all(bytes).map_err(fail)
}
