//! Hands the code what cargo tells only build scripts: the target triple the binary is built
//! for and whether the `kerberos` feature is in (`build_info`).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    let kerberos = if std::env::var_os("CARGO_FEATURE_KERBEROS").is_some() {
        "on"
    } else {
        "off"
    };
    println!("cargo:rustc-env=QOE_BUILD_TARGET={target}");
    println!("cargo:rustc-env=QOE_BUILD_KERBEROS={kerberos}");
    println!("cargo:rerun-if-changed=build.rs");
}
