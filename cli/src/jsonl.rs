//! The `--jsonl` file: each request's lines are appended whole or not at
//! all. A write that fails part-way (a full disk) is cut back to the last
//! complete line, so the file never holds half a line with the next
//! request's object glued to it; the request is refused (the client is
//! told 503 / `UNAVAILABLE` and retries), and later requests try again.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What the file needs: its length, appending, and cutting back.
pub trait Store {
    /// The current length.
    fn size(&self) -> io::Result<u64>;
    /// Appends all of `data`, or fails (having written any part of it).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Store for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

struct State<S> {
    store: S,
    /// A failed write left the file longer than this and it could not be
    /// cut back yet: do that before writing anything else.
    cut_back_to: Option<u64>,
}

/// A JSON-lines file shared by the receiver's requests.
pub struct Jsonl<S = File> {
    path: PathBuf,
    state: Mutex<State<S>>,
}

impl Jsonl<File> {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Jsonl::new(path, file))
    }
}

impl<S: Store> Jsonl<S> {
    /// `store`, known to the user as `path`.
    pub fn new(path: &Path, store: S) -> Self {
        Jsonl {
            path: path.to_owned(),
            state: Mutex::new(State {
                store,
                cut_back_to: None,
            }),
        }
    }

    /// Appends `lines` (complete lines) whole, or leaves the file as it was
    /// and says why.
    pub fn append(&self, lines: &[u8]) -> Result<(), String> {
        let mut st = tracewire::internal::lock(&self.state);
        let failed = |what: &str, e: io::Error| {
            format!(
                "cannot {what} the --jsonl file {}: {e}; free some space or choose another file \
                 (the client is asked to retry)",
                self.path.display()
            )
        };
        if let Some(len) = st.cut_back_to {
            st.store
                .truncate(len)
                .map_err(|e| failed("cut back a partly written request in", e))?;
            st.cut_back_to = None;
        }
        let before = st
            .store
            .size()
            .map_err(|e| failed("read the length of", e))?;
        match st.store.append(lines) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Cut back whatever part of `lines` was written.
                let grew = st.store.size().map_or(true, |now| now != before);
                if grew && st.store.truncate(before).is_err() {
                    st.cut_back_to = Some(before);
                }
                Err(failed("write to", e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real file on a disk with `room` bytes left: a write past it
    /// writes what fits, then fails with ENOSPC.
    struct NearlyFull {
        file: File,
        room: usize,
        truncate_fails: bool,
    }

    impl Store for NearlyFull {
        fn size(&self) -> io::Result<u64> {
            self.file.size()
        }

        fn append(&mut self, data: &[u8]) -> io::Result<()> {
            let fits = data.len().min(self.room);
            self.file.write_all(&data[..fits])?;
            self.room -= fits;
            if fits < data.len() {
                return Err(io::Error::from_raw_os_error(28));
            }
            Ok(())
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            if self.truncate_fails {
                return Err(io::Error::other("cannot truncate"));
            }
            self.file.set_len(len)
        }
    }

    fn open(dir: &Path, room: usize, truncate_fails: bool) -> (PathBuf, Jsonl<NearlyFull>) {
        let path = dir.join("spans.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let store = NearlyFull {
            file,
            room,
            truncate_fails,
        };
        (path.clone(), Jsonl::new(&path, store))
    }

    #[test]
    fn a_failed_write_leaves_only_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (path, jsonl) = open(dir.path(), 30, false);
        jsonl.append(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let err = jsonl.append(b"{\"b\":1}\n{\"b\":2}\n").unwrap_err();
        assert!(
            err.contains("--jsonl file") && err.contains("os error 28"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n",
            "the partial request was cut back"
        );
        // Space comes back: the next request is written whole, on its own
        // line.
        jsonl.state.lock().unwrap().store.room = 1000;
        jsonl.append(b"{\"c\":1}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n{\"c\":1}\n"
        );
    }

    #[test]
    fn a_cut_back_that_fails_is_retried_before_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let (path, jsonl) = open(dir.path(), 12, true);
        jsonl.append(b"{\"a\":1}\n").unwrap();
        assert!(jsonl.append(b"{\"b\":1}\n").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\"");
        {
            let mut st = jsonl.state.lock().unwrap();
            st.store.room = 1000;
        }
        // Still cannot cut back: refuse rather than glue a line on.
        let err = jsonl.append(b"{\"c\":1}\n").unwrap_err();
        assert!(err.contains("cut back"), "{err}");
        jsonl.state.lock().unwrap().store.truncate_fails = false;
        jsonl.append(b"{\"c\":1}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"c\":1}\n"
        );
    }
}
