//! Issue 18, item 2: the real `export` binary, with symbolic links planted at every name
//! it writes that can be known in advance (the generation's file, its gzip twin and index,
//! the stable name and the delta), all pointing at a file the export must not touch. The
//! per-process temporary names are covered in `src/generation/files.rs`.

mod common;

use std::path::PathBuf;

use common::{ok, sqlite_db};

#[test]
#[cfg(unix)]
fn export_never_writes_through_a_planted_link() {
    let db = sqlite_db();
    ok(&db, &["import", "fixtures/offres.jsonl"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lheo.xml");
    let delta = dir.path().join("delta.xml");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let generation = dir.path().join(".lheo.xml.generation-1");
    let names: Vec<PathBuf> = vec![
        out.clone(),
        delta.clone(),
        generation.clone(),
        dir.path().join(".lheo.xml.generation-1.gz"),
        dir.path().join(".lheo.xml.generation-1.gz.idx"),
    ];
    for name in &names {
        std::os::unix::fs::symlink(&victim, name).unwrap();
    }
    ok(
        &db,
        &[
            "export",
            "--today",
            "2025-06-02",
            "--out",
            out.to_str().unwrap(),
            "--delta-out",
            delta.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    for name in &names[..3] {
        let m = std::fs::symlink_metadata(name).unwrap();
        assert!(
            m.file_type().is_file(),
            "{} is not a new file",
            name.display()
        );
        let text = std::fs::read_to_string(name).unwrap();
        assert!(text.contains("<lheo"), "{}", name.display());
    }
}
