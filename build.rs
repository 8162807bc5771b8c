use std::path::PathBuf;

fn main() {
    // `sqlx::migrate!` embeds migrations/ at compile time but cannot tell cargo to watch it:
    // without this, editing a migration would not rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");

    // The official LHÉO 2.3 XSD is not ours to redistribute, so the repository does not hold
    // it (README, "Tests"). Say at build time, where a newcomer sees it, that the checks
    // against it will be skipped; each skipped test says so again when it runs.
    println!("cargo:rerun-if-env-changed=LHEO_FEED_XSD");
    let xsd = std::env::var_os("LHEO_FEED_XSD")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
                .join("../shared/lheo/lheo-2.3.xsd")
        });
    if !xsd.exists() {
        println!(
            "cargo:warning=the official LHÉO 2.3 XSD is not at {}: the tests that validate \
             against it will be skipped (set LHEO_FEED_XSD to its path; see the README)",
            xsd.display()
        );
    }
}
