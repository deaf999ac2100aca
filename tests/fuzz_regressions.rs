//! Replays every input saved under `fuzz/regressions/<target>/` through the same checks the
//! fuzz targets run (`fuzz/src/lib.rs`, included below), under plain `cargo test`: a crash
//! found by fuzzing stays fixed. No nightly toolchain and no libFuzzer needed.
//!
//! `fuzz/regressions/OPEN` lists inputs (`<target>/<file>`, one a line) whose bug is not
//! fixed yet: they are skipped, because some abort the whole test process (an allocation
//! failure is not a catchable panic) or run for minutes. Remove the line with the fix; set
//! `FUZZ_REGRESSIONS_OPEN=1` to replay them anyway.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 8] = [
    ("http_response", fuzz_checks::http_response),
    ("http_request_encode", fuzz_checks::http_request_encode),
    ("identity_pem", fuzz_checks::identity_pem),
    ("identity_pkcs12", fuzz_checks::identity_pkcs12),
    ("token_response", fuzz_checks::token_response),
    ("tls_client", fuzz_checks::tls_client),
    ("client", fuzz_checks::client),
    ("client_live", fuzz_checks::client_live),
];

/// Entries of `fuzz/regressions/OPEN` (empty when replaying everything).
fn open_entries() -> Vec<String> {
    if std::env::var_os("FUZZ_REGRESSIONS_OPEN").is_some() {
        return Vec::new();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/OPEN");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn replay(target: &str, check: Check) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let dir = root.join(target);
    let open = open_entries();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let skip = open.contains(&format!("{target}/{name}"));
            if skip {
                eprintln!("skipping open fuzz finding {target}/{name} (fuzz/regressions/OPEN)");
            }
            !skip
        })
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("readable regression input");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: inputs still failing: {failed:#?}"
    );
    files.len()
}

#[test]
fn http_response_regressions() {
    replay(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn http_request_encode_regressions() {
    replay(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn identity_pem_regressions() {
    replay(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn identity_pkcs12_regressions() {
    replay(TARGETS[3].0, TARGETS[3].1);
}

#[test]
fn token_response_regressions() {
    replay(TARGETS[4].0, TARGETS[4].1);
}

#[test]
fn tls_client_regressions() {
    replay(TARGETS[5].0, TARGETS[5].1);
}

#[test]
fn client_regressions() {
    replay(TARGETS[6].0, TARGETS[6].1);
}

#[test]
fn client_live_regressions() {
    replay(TARGETS[7].0, TARGETS[7].1);
}

/// Every directory under `fuzz/regressions/` names a known target (a typo would make its
/// inputs silently skipped).
#[test]
fn regression_directories_name_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("entry");
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/regressions/{name} is not a fuzz target"
        );
    }
}

/// The harness itself works on well-formed input (the fixtures load, a normal exchange
/// passes every check), so a regression run cannot pass by failing early.
#[test]
fn harness_accepts_good_input() {
    fuzz_checks::http_response(
        b"\x10\x00HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n",
    );
    fuzz_checks::token_response(
        br#"...{"access_token":"abc","token_type":"Bearer","expires_in":60}"#,
    );
    fuzz_checks::tls_client(b"\x00\x05\x05\x05\x16\x03\x03\x00\x02\x02\x00");
    fuzz_checks::client(b"\x00\x04");
    fuzz_checks::client_live(b"\x00\x00\x02\x00\x00");
    fuzz_checks::identity_pkcs12(b"\x04junk\x30\x03\x02\x01\x03");
}
