//! Writes the memory map cortex-m-rt's link.x includes (as `memory.x` in OUT_DIR):
//! memory/stm32f767zi.x for the size build, memory/qemu-mps2-an500.x for the heap-stats run.
//! (No memory.x in the package root: the linker would find that one first.)
//!
//! For the heap-stats run it also copies the trust anchor and a recorded server flight
//! (`HEAP_STATS_CA`, `HEAP_STATS_FLIGHT`; see heap-run.sh) into OUT_DIR.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let heap_stats = env::var_os("CARGO_FEATURE_HEAP_STATS").is_some();
    let map = if heap_stats {
        "memory/qemu-mps2-an500.x"
    } else {
        "memory/stm32f767zi.x"
    };
    fs::copy(map, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");

    if heap_stats {
        println!("cargo:rerun-if-env-changed=HEAP_STATS_CA");
        println!("cargo:rerun-if-env-changed=HEAP_STATS_FLIGHT");
        let ca = env::var("HEAP_STATS_CA").unwrap_or_else(|_| "pki/ca.pem".into());
        println!("cargo:rerun-if-changed={ca}");
        fs::copy(&ca, out.join("trust.pem")).unwrap();
        match env::var("HEAP_STATS_FLIGHT") {
            Ok(flight) if !flight.is_empty() => {
                println!("cargo:rerun-if-changed={flight}");
                fs::copy(&flight, out.join("flight.bin")).unwrap();
            }
            _ => fs::write(out.join("flight.bin"), b"").unwrap(),
        }
    }
}
