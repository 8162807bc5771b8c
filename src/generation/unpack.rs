//! Unchanged offers decompressed on every core, in the document's order.
//!
//! A 1 % change at a million sessions copies 9 GB of unchanged offers from the database,
//! where they are stored as zstd frames (`crate::store::fragments`). Decompressed by the
//! thread that also reads the database and assembles the gzip twin, they were that
//! thread's largest cost and, with the hashing thread, the change's critical path
//! (`docs/BENCHMARKS.md`, session 15). So a [`crate::generation::files::Document`] gathers
//! a chunk's unchanged offers still compressed ([`Recipe`]) and hands the chunk to a small
//! pool of threads ([`Unpackers`]); the hashing stage takes the chunks back in the order
//! they were given, whatever order the pool finishes them in, so the bytes are the same.
//!
//! A chunk with no stored offer in it (a full export writes only offers it has just made)
//! never goes through the pool: it costs nothing more than before.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};

use super::direct::{chunk_start, ALIGN};
use crate::model::ActionCode;
use crate::store::fragments::StoredFragment;

/// Buffers of the document's chunks, shared by the threads that fill them (the producer,
/// the pool) and the one that empties them (the writer), so that streaming a big document
/// allocates, and has the kernel zero, nothing after its first chunks.
#[derive(Clone)]
pub struct Buffers {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
    capacity: usize,
    keep: usize,
}

impl Buffers {
    /// A pool that hands out buffers of `capacity` bytes and keeps at most `keep` of them.
    pub fn new(capacity: usize, keep: usize) -> Buffers {
        Buffers {
            free: Arc::new(Mutex::new(Vec::with_capacity(keep))),
            capacity,
            keep,
        }
    }

    /// An empty buffer: one given back, else a new one.
    pub fn take(&self) -> Vec<u8> {
        let reused = self.free.lock().map(|mut f| f.pop()).unwrap_or(None);
        reused.unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    /// Gives a buffer back (emptied here), unless enough are kept already.
    pub fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.keep {
                free.push(buffer);
            }
        }
    }
}

/// An unchanged offer inside a chunk: where its plain bytes go among the chunk's plain
/// ones, and its stored form.
struct Piece {
    at: usize,
    numero: ActionCode,
    stored: StoredFragment,
    len: usize,
}

/// A chunk as the producer gathers it: plain bytes, and the unchanged offers that go
/// between them, still compressed.
#[derive(Default)]
pub struct Recipe {
    pieces: Vec<Piece>,
    /// Plain bytes the pieces will add.
    stored_len: usize,
}

impl Recipe {
    /// Adds `stored` (whose plain length is `len`) after the first `at` plain bytes.
    pub fn push(&mut self, at: usize, numero: ActionCode, stored: StoredFragment, len: usize) {
        self.stored_len += len;
        self.pieces.push(Piece {
            at,
            numero,
            stored,
            len,
        });
    }

    /// Whether the chunk holds no stored offer (its plain bytes are the whole chunk).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Plain bytes the stored offers will add.
    pub fn stored_len(&self) -> usize {
        self.stored_len
    }

    /// The chunk's bytes: `plain` with each stored offer decompressed at its place, into
    /// `out`. A frame that does not give the length its header claimed is refused: the
    /// producer counted the document's offsets with that length.
    fn make(self, plain: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.reserve(plain.len() + self.stored_len);
        let mut from = 0;
        for p in self.pieces {
            out.extend_from_slice(&plain[from..p.at]);
            from = p.at;
            let before = out.len();
            p.stored
                .append_to(out)
                .with_context(|| format!("offer {}", p.numero))?;
            if out.len() - before != p.len {
                return Err(anyhow!(
                    "offer {}: its stored fragment gave {} bytes, its header said {}",
                    p.numero,
                    out.len() - before,
                    p.len
                ));
            }
        }
        out.extend_from_slice(&plain[from..]);
        Ok(())
    }
}

/// A chunk once made: its buffer and where its bytes start in it (after room for the
/// writer, `super::direct::chunk_start`); or why it could not be made.
pub type Made = std::result::Result<(Vec<u8>, usize), String>;

struct Job {
    /// The plain bytes are `plain[start..]`.
    plain: Vec<u8>,
    start: usize,
    recipe: Recipe,
    /// Where the chunk begins in the document.
    offset: u64,
    reply: mpsc::SyncSender<Made>,
}

/// The pool of threads that decompress chunks. Dropped, it lets them finish the chunks
/// already given, then waits for them.
pub struct Unpackers {
    tx: Option<mpsc::SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Unpackers {
    /// One thread per core (at most 4: past that the hashing and writing threads are
    /// the limit), taking buffers from `buffers` and giving the plain ones back to it.
    pub fn start(buffers: &Buffers, queue: usize) -> Result<Unpackers> {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (rx, buffers) = (Arc::clone(&rx), buffers.clone());
            let thread = std::thread::Builder::new()
                .name(format!("lheo-feed-unpack-{i}"))
                .spawn(move || unpack_loop(&rx, &buffers))
                .context("cannot start a decompressing thread")?;
            threads.push(thread);
        }
        Ok(Unpackers {
            tx: Some(tx),
            threads,
        })
    }

    /// Gives a chunk to the pool; its bytes come back through the receiver, in whatever
    /// order the pool finishes. `None` when the pool is gone (a thread panicked).
    /// `plain[start..]` are the chunk's plain bytes, and `offset` where it begins in the
    /// document.
    pub fn give(
        &self,
        plain: Vec<u8>,
        start: usize,
        recipe: Recipe,
        offset: u64,
    ) -> Option<mpsc::Receiver<Made>> {
        let (reply, made) = mpsc::sync_channel(1);
        let job = Job {
            plain,
            start,
            recipe,
            offset,
            reply,
        };
        self.tx.as_ref()?.send(job).ok()?;
        Some(made)
    }
}

impl Drop for Unpackers {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn unpack_loop(rx: &Mutex<mpsc::Receiver<Job>>, buffers: &Buffers) {
    loop {
        // The lock is held only while waiting for the next job, not while working on it.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Job {
            plain,
            start,
            recipe,
            offset,
            reply,
        }) = job
        else {
            return;
        };
        let mut out = buffers.take();
        // Reserved first: the room is only right while the buffer is not reallocated.
        out.reserve(2 * ALIGN + plain.len() - start + recipe.stored_len());
        let at = chunk_start(&out, offset);
        out.resize(at, 0);
        let made = match recipe.make(&plain[start..], &mut out) {
            Ok(()) => Ok((out, at)),
            Err(e) => {
                buffers.give(out);
                Err(format!(
                    "cannot copy an unchanged offer from the database: {e:#}"
                ))
            }
        };
        buffers.give(plain);
        // The hashing stage stopped (an error it reports itself): nothing to do.
        let _ = reply.send(made);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fragments::compress;
    use proptest::prelude::*;

    fn numero(i: u64) -> ActionCode {
        format!("{}-{}", 100 + i, 200 + i).parse().unwrap()
    }

    proptest! {
        /// Whatever the mix of plain bytes and stored offers, the chunk made by the pool
        /// is the bytes written in order, as the producer would have written them itself.
        #[test]
        fn a_chunk_is_its_pieces_in_order(
            parts in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                0..20,
            ),
            offset in any::<u32>().prop_map(u64::from),
        ) {
            let buffers = Buffers::new(64, 4);
            let pool = Unpackers::start(&buffers, 2).unwrap();
            let (mut plain, mut recipe, mut expected) = (Vec::new(), Recipe::default(), Vec::new());
            for (i, (stored, bytes)) in parts.iter().enumerate() {
                expected.extend_from_slice(bytes);
                if *stored {
                    let s = StoredFragment::Compressed(compress(bytes));
                    let len = s.plain_len().unwrap();
                    recipe.push(plain.len(), numero(i as u64), s, len);
                } else {
                    plain.extend_from_slice(bytes);
                }
            }
            let (made, at) = pool.give(plain, 0, recipe, offset).unwrap().recv().unwrap().unwrap();
            prop_assert_eq!(&made[at..], &expected[..]);
            // Room for the writer's gathered bytes, then an aligned address.
            prop_assert_eq!(made[at - (offset % ALIGN as u64) as usize..].as_ptr().align_offset(ALIGN), 0);
        }
    }

    #[test]
    fn chunks_come_back_in_the_order_given_whatever_order_they_finish_in() {
        let buffers = Buffers::new(64, 4);
        let pool = Unpackers::start(&buffers, 8).unwrap();
        // A large chunk first, then small ones: the small ones finish first.
        let sizes = [400_000usize, 10, 20, 30, 40, 50];
        let given: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let bytes = vec![b'a' + i as u8; n];
                let mut recipe = Recipe::default();
                let s = StoredFragment::Compressed(compress(&bytes));
                recipe.push(0, numero(i as u64), s, n);
                pool.give(Vec::new(), 0, recipe, 0).unwrap()
            })
            .collect();
        for (i, made) in given.into_iter().enumerate() {
            let (bytes, at) = made.recv().unwrap().unwrap();
            let bytes = &bytes[at..];
            assert_eq!(bytes.len(), sizes[i]);
            assert!(bytes.iter().all(|&b| b == b'a' + i as u8));
        }
    }

    #[test]
    fn a_damaged_fragment_is_reported_with_its_offer() {
        let buffers = Buffers::new(64, 4);
        let pool = Unpackers::start(&buffers, 2).unwrap();
        let mut frame = compress(&vec![b'x'; 5000]);
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        let s = StoredFragment::Compressed(frame);
        let len = s.plain_len().unwrap();
        let mut recipe = Recipe::default();
        recipe.push(3, numero(7), s, len);
        let err = pool
            .give(b"..abcdef".to_vec(), 2, recipe, 0)
            .unwrap()
            .recv()
            .unwrap();
        let err = err.unwrap_err();
        assert!(err.contains("offer 107-207"), "{err}");
        assert!(err.contains("unchanged offer"), "{err}");
    }

    #[test]
    fn a_fragment_shorter_than_its_claimed_length_is_refused() {
        let buffers = Buffers::new(64, 4);
        let pool = Unpackers::start(&buffers, 2).unwrap();
        let mut recipe = Recipe::default();
        recipe.push(0, numero(1), StoredFragment::Plain(b"abc".to_vec()), 4);
        let err = pool.give(Vec::new(), 0, recipe, 0).unwrap().recv().unwrap();
        assert!(err.unwrap_err().contains("gave 3 bytes, its header said 4"));
    }
}
