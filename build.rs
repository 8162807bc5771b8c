// `sqlx::migrate!` embeds migrations/ at compile time but cannot tell cargo to watch it:
// without this, editing a migration would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
