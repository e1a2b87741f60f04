//! Links the LAPACK library behind the optional `lapack` feature. OpenBLAS by default
//! (Debian/Ubuntu: `apt install libopenblas-dev`); `ASSAY_LAPACK_LIB` names another library
//! with the Fortran LAPACK interface (e.g. `lapack`, `mkl_rt`) and `ASSAY_LAPACK_DIR` the
//! folder that holds it when the linker does not search there already.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(assay_openblas)");
    println!("cargo:rerun-if-env-changed=ASSAY_LAPACK_LIB");
    println!("cargo:rerun-if-env-changed=ASSAY_LAPACK_DIR");
    if std::env::var_os("CARGO_FEATURE_LAPACK").is_none() {
        return;
    }
    if let Some(dir) = std::env::var_os("ASSAY_LAPACK_DIR") {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
    }
    let lib = std::env::var("ASSAY_LAPACK_LIB").unwrap_or_else(|_| "openblas".into());
    println!("cargo:rustc-link-lib={lib}");
    // Only OpenBLAS has `openblas_get_config`, which names the build in the results' details.
    if lib == "openblas" {
        println!("cargo:rustc-cfg=assay_openblas");
    }
}
