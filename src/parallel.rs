//! Work split across the cores, for the export's per-offer steps that depend on nothing
//! but the offer (evaluating a page of offers, compressing fragments for the store).

/// Runs `f` on `items` split into one contiguous part per core, on scoped threads (the
/// first part on the calling thread); inline when there is one core or fewer than `min`
/// items, where starting threads would cost more than it saves.
pub fn on_every_core<T: Send>(items: &mut [T], min: usize, f: impl Fn(&mut [T]) + Sync) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers <= 1 || items.len() < min.max(2) {
        f(items);
        return;
    }
    let per_worker = items.len().div_ceil(workers);
    std::thread::scope(|s| {
        let mut parts = items.chunks_mut(per_worker);
        let first = parts.next();
        for part in parts {
            s.spawn(|| f(part));
        }
        if let Some(part) = first {
            f(part);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_done_once_in_place() {
        for n in [0usize, 1, 7, 1000] {
            let mut items: Vec<(usize, usize)> = (0..n).map(|i| (i, 0)).collect();
            on_every_core(&mut items, 16, |part| {
                for (i, done) in part {
                    *done += *i * 2 + 1;
                }
            });
            assert!(items.iter().all(|(i, done)| *done == i * 2 + 1), "n = {n}");
        }
    }
}
