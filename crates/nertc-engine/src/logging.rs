//! Log files: `initialize({log_dir_path, log_level, log_file_max_size_KBytes})`.
//!
//! One process-wide `tracing` subscriber is installed on first use; it writes to the file of
//! the most recent `configure` call (`<dir>/nertc.log`), rotating to `nertc.log.1` when the
//! file would pass the size cap, so at most two files of the cap exist. NERTC levels: 0 fatal,
//! 1 error, 2 warning, 3 info (default), 4 detail/debug, 5+ verbose/trace, 7 off.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use crate::error::{self, Code};

static LEVEL: AtomicI32 = AtomicI32::new(3);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static INSTALLED: OnceLock<()> = OnceLock::new();

struct Sink {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl Sink {
    fn write(&mut self, buf: &[u8]) {
        if self.written + buf.len() as u64 > self.max_bytes {
            let rotated = self.path.with_extension("log.1");
            let _ = std::fs::rename(&self.path, &rotated);
            match OpenOptions::new().create(true).write(true).truncate(true).open(&self.path) {
                Ok(f) => {
                    self.file = f;
                    self.written = 0;
                }
                Err(_) => return,
            }
        }
        if self.file.write_all(buf).is_ok() {
            self.written += buf.len() as u64;
        }
    }
}

struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(s) = SINK.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            s.write(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tracing_level(level: i32) -> Option<tracing::Level> {
    match level {
        i32::MIN..=1 => Some(tracing::Level::ERROR),
        2 => Some(tracing::Level::WARN),
        3 => Some(tracing::Level::INFO),
        4 => Some(tracing::Level::DEBUG),
        5 | 6 => Some(tracing::Level::TRACE),
        _ => None,
    }
}

pub fn set_level(level: i32) {
    LEVEL.store(level, Relaxed);
}

/// Points the log at `dir` (created if missing). `max_file_kb` 0 means 20 MB.
pub fn configure(dir: Option<&Path>, level: i32, max_file_kb: u64) -> Code {
    set_level(level);
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = tracing_subscriber::filter::filter_fn(|meta| {
            let ours = meta.target().starts_with("nertc");
            let limit = tracing_level(LEVEL.load(Relaxed));
            match limit {
                None => false,
                // Dependencies (webrtc-rs, ...) only at warning and above.
                Some(l) => *meta.level() <= if ours { l } else { l.min(tracing::Level::WARN) },
            }
        });
        let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(|| Writer).with_filter(filter);
        let _ = tracing_subscriber::registry().with(layer).try_init();
    });
    let Some(dir) = dir else {
        *SINK.lock().unwrap_or_else(|p| p.into_inner()) = None;
        return error::OK;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("nertc: cannot create log dir {}: {e}", dir.display());
        return error::ERR_INVALID_PARAM;
    }
    let path = dir.join("nertc.log");
    let file = match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nertc: cannot open {}: {e}", path.display());
            return error::ERR_INVALID_PARAM;
        }
    };
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    let max_bytes = if max_file_kb == 0 { 20 * 1024 * 1024 } else { max_file_kb * 1024 };
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(Sink { path, file, written, max_bytes });
    error::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_written_and_capped() {
        let dir = std::env::temp_dir().join(format!("nertc-log-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(configure(Some(&dir), 3, 4), error::OK);
        for i in 0..400 {
            tracing::info!(target: "nertc_engine::test", "line {i} of the log cap test, padded to a good length");
        }
        let main = std::fs::metadata(dir.join("nertc.log")).unwrap().len();
        let rotated = std::fs::metadata(dir.join("nertc.log.1")).unwrap().len();
        assert!(main <= 4096 && rotated <= 4096, "{main} {rotated}");
        assert!(main > 0);
        let _ = configure(None, 3, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
