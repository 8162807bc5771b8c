//! The code tables embedded in the binary against the shared LHÉO tables they were taken
//! from (`../shared/lheo/tables/`, beside the XSD): a table updated there and not here is
//! a failure, not a stale list written into the national file.

mod common;

use std::collections::BTreeMap;

use lheo_feed::model::publics_v14::PUBLICS_V14;

#[test]
fn the_embedded_v14_publics_are_the_shared_table() {
    let Some(path) = common::shared_lheo(
        "tables/formacode-v14-publics.tsv",
        "the embedded FORMACODE V14 publics against the shared table",
    ) else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let shared: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split_once('\t')
                .unwrap_or_else(|| panic!("{l:?}: no tab"))
        })
        .collect();
    assert!(shared.len() > 50, "only {} codes read", shared.len());
    let embedded: BTreeMap<&str, &str> = PUBLICS_V14.iter().copied().collect();
    assert_eq!(embedded, shared);
}
