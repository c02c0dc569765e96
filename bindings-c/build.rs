//! Generates include/cozefallback.h with cbindgen. The header is committed; the test command fails when a build
//! changes it. The file is only rewritten when its content changes, so builds do not touch its mtime.
//! Also gives the shared library its SONAME.

use std::path::PathBuf;

/// The shared library's SONAME: programs record `libcozefallback.so.0`, so a compatible 0.x update is a new file
/// behind the same link (see bindings-c/Makefile and scripts/dist.sh for the links).
const SONAME: &str = "libcozefallback.so.0";

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen failed: {e}"),
    };
    let mut out = Vec::new();
    bindings.write(&mut out);
    let header = crate_dir.join("../include/cozefallback.h");
    if std::fs::read(&header).ok().as_deref() != Some(&out[..]) {
        std::fs::create_dir_all(header.parent().expect("parent")).expect("create include/");
        std::fs::write(&header, &out).expect("write include/cozefallback.h");
    }
}
