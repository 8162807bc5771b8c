//! Issue 18, item 4: `config check` accepts exactly what `push` and `run` accept. The real
//! binary on configurations `push` used to refuse while `config check` said OK: the same
//! `FILE:LINE: key: reason`, exit code 2, and never the secret.

use std::process::{Command, Output};

fn lheo_feed(config: &std::path::Path, db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lheo-feed"))
        .env_clear()
        .arg("--config")
        .arg(config)
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .args(args)
        .output()
        .expect("the lheo-feed binary runs")
}

#[test]
fn config_check_refuses_what_push_refuses_without_printing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lheo-feed.toml");
    let db = dir.path().join("store.sqlite");
    let head = "[serve]\nlisten = \"127.0.0.1:8080\"\n\n[[consumers]]\nname = \"kairos\"\n";
    for (tail, line, key) in [
        (
            "url = \"https://k.example/in\"\nauth = { kind = \"bearer\", token = \"tok-S3cret-1\" }\n",
            7,
            "consumers[0] (kairos).auth: a literal secret is refused",
        ),
        (
            "url = \"https://k.example/in\"\nsigning_secrets = [{ value = \"whsec_S3cret-2\" }]\n",
            7,
            "consumers[0] (kairos).signing_secrets[0]: a literal secret is refused",
        ),
        (
            "url = \"https://lheo:pw-S3cret-3@k.example/in\"\n",
            6,
            "consumers[0] (kairos).url: credentials in the URL are refused",
        ),
    ] {
        std::fs::write(&file, format!("{head}{tail}")).unwrap();
        let want = format!("lheo-feed: {}:{line}: {key}", file.display());
        for args in [&["config", "check"][..], &["config", "check", "--json"], &["push"]] {
            let o = lheo_feed(&file, &db, args);
            let (out, err) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
            );
            assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
            assert!(err.starts_with(&want), "{args:?}: {err}\n  wanted {want}");
            assert!(!format!("{out}{err}").contains("S3cret"), "{args:?}: {out}{err}");
        }
    }
    // The same consumer, its secrets named instead: OK.
    std::fs::write(
        &file,
        format!(
            "{head}url = \"https://k.example/in\"\nauth = {{ kind = \"bearer\", token_env = \"K_TOKEN\" }}\n\
             signing_secrets = [{{ env = \"K_WHSEC\" }}]\n"
        ),
    )
    .unwrap();
    let o = lheo_feed(&file, &db, &["config", "check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
