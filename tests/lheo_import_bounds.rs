//! Issue 17, point 4: hostile documents whose one item is huge (256 MiB of text, of one
//! attribute value, of a comment, of white space), gzipped to a few hundred KB, are
//! refused by `import-lheo` with exit code 2 and `FILE:LINE:COLUMN`, with the store
//! unchanged, and the command's peak memory stays under 100 MB. Real SQLite and
//! PostgreSQL.
//!
//! Alone in its test binary: the peak memory is read with `getrusage(RUSAGE_CHILDREN)`,
//! the largest of every command this process ran and waited for.

mod common;

use std::io::Write;
use std::path::Path;

use common::{lheo_feed, ok, TestDb};
use flate2::write::GzEncoder;
use flate2::Compression;

const MIB: usize = 1024 * 1024;
const ROOT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                    <lheo xmlns=\"http://www.lheo.org/2.2\">\n<offres>\n";

/// One gzip member holding `bytes`.
fn member(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `before`, then 256 MiB of `fill`, then `after`, gzipped as consecutive members (one
/// compressed MiB repeated), so the test never holds the document.
fn hostile(path: &Path, before: &str, fill: u8, after: &str) {
    let chunk = member(&vec![fill; MIB]);
    let mut out = member(before.as_bytes());
    for _ in 0..256 {
        out.extend_from_slice(&chunk);
    }
    out.extend_from_slice(&member(after.as_bytes()));
    assert!(out.len() < 2 * MIB, "{} bytes", out.len());
    std::fs::write(path, out).unwrap();
}

/// The largest resident set of the commands this process has waited for, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: initialised by the successful call above.
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_maxrss).unwrap() * 1024 // kilobytes on Linux
}

async fn huge_items_are_refused_in_bounded_memory(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(db, &["import", "fixtures/offres.jsonl"]);
    let before = ok(db, &["status", "--json"]);
    let cases = [
        (
            "text.xml.gz",
            "<formation numero=\"1\">\n<intitule-formation>",
            b'x',
            "</intitule-formation></formation></offres></lheo>\n",
            5,
        ),
        (
            "attribute.xml.gz",
            "<formation numero=\"",
            b'x',
            "\"></formation></offres></lheo>\n",
            4,
        ),
        (
            "comment.xml.gz",
            "<formation>\n<!--",
            b'x',
            "--></formation></offres></lheo>\n",
            5,
        ),
        (
            "whitespace.xml.gz",
            "<formation>\n<intitule-formation>A</intitule-formation>",
            b'\n',
            "</formation></offres></lheo>\n",
            5,
        ),
    ];
    // The line of the item's start (the document's first three lines are the XML
    // declaration, the root and `<offres>`).
    for (name, before_item, fill, after, line) in cases {
        let path = dir.path().join(name);
        hostile(&path, &format!("{ROOT}{before_item}"), fill, after);
        let started = std::time::Instant::now();
        let out = lheo_feed(db, &["import-lheo", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        let at = format!("{}:{line}:", path.display());
        assert!(stderr.contains(&at), "{name}: no {at} in {stderr}");
        assert!(
            stderr.contains("longer than 2097152 bytes"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("nothing was imported"), "{stderr}");
        // Refused at the bound, not after decompressing the whole item.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{name}: {:?}",
            started.elapsed()
        );
        assert_eq!(
            ok(db, &["status", "--json"]),
            before,
            "{name} changed the store"
        );
    }
    let peak = children_peak_rss();
    assert!(
        peak < 100 * MIB as u64,
        "a command of this test peaked at {} MB",
        peak / 1_000_000
    );
}

backend_tests!(huge_items_are_refused_in_bounded_memory);
