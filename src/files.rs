//! Reading a file named by a setting without trusting it: only regular files, and only up to
//! a size limit, so that `/dev/zero` or a FIFO given by mistake is refused at once instead of
//! being read without end or hanging the start.
use std::io::Read;
use std::path::Path;

/// The most a certificate or key file may hold: real ones are a few KiB.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why a file was not read; the message names the path, never the contents.
#[derive(Debug)]
pub enum FileProblem {
    NotRegular,
    TooLarge(u64),
    Unreadable(std::io::Error),
}

impl FileProblem {
    /// The problem with the file at `path`, as a setting's error shows it.
    pub fn at(&self, path: &Path) -> String {
        let path = path.display();
        match self {
            FileProblem::NotRegular => format!("{path} is not a regular file"),
            FileProblem::TooLarge(limit) => format!("{path} is larger than {limit} bytes"),
            FileProblem::Unreadable(e) => format!("cannot read {path}: {e}"),
        }
    }
}

/// The whole file at `path` if it is a regular file (a symbolic link to one is fine) of at
/// most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileProblem> {
    // Checked before opening: opening a FIFO waits for a writer.
    let metadata = std::fs::metadata(path).map_err(FileProblem::Unreadable)?;
    if !metadata.is_file() {
        return Err(FileProblem::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(FileProblem::Unreadable)?;
    let opened = file.metadata().map_err(FileProblem::Unreadable)?;
    if !opened.is_file() {
        return Err(FileProblem::NotRegular);
    }
    if opened.len() > limit {
        return Err(FileProblem::TooLarge(limit));
    }
    let mut bytes = Vec::new();
    // `take` bounds a file that grows while it is read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn devices_and_directories_are_refused_at_once() {
        let started = Instant::now();
        // Device files are at these paths on Unix only (under Wine, opening one fails at once).
        let devices: &[&str] = if cfg!(unix) {
            &["/dev/zero", "/dev/urandom", "/dev/null"]
        } else {
            &[]
        };
        for &path in devices.iter().chain(&["/"]) {
            let problem = read_bounded(Path::new(path), MAX_PEM_BYTES).expect_err(path);

            assert!(
                matches!(problem, FileProblem::NotRegular),
                "{path}: {problem:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_within_is_read() {
        let dir = std::env::temp_dir().join(format!("qoe-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("big.pem");
        std::fs::write(&file, vec![b'a'; 100]).expect("write");

        assert!(matches!(
            read_bounded(&file, 99),
            Err(FileProblem::TooLarge(99))
        ));
        assert_eq!(read_bounded(&file, 100).expect("read").len(), 100);
        let shown = FileProblem::TooLarge(99).at(&file);
        assert!(shown.contains("big.pem") && shown.contains("99"), "{shown}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_missing_file_says_it_cannot_be_read() {
        let path = Path::new("/nonexistent/qoe.pem");
        let problem = read_bounded(path, MAX_PEM_BYTES).expect_err("missing");

        assert!(problem
            .at(path)
            .starts_with("cannot read /nonexistent/qoe.pem"));
    }
}
