//! The log of a service without a console (the Windows service): one file an admin can tail,
//! rotated by size so that the disk it takes is bounded whatever the traffic. The current lines
//! are always in `qoe-data-service.log`; at [`LIMIT`] bytes it becomes `qoe-data-service.1.log`,
//! the older ones move up by one, and past [`KEEP`] the oldest is deleted. Plain code, the
//! same on every platform, so its tests run everywhere.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The name every log file starts with.
const STEM: &str = "qoe-data-service";
/// The file the current lines go to.
pub const FILE_NAME: &str = "qoe-data-service.log";
/// A file is rotated once it holds this many bytes (10 MiB).
pub const LIMIT: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the current one: at most 60 MiB in all.
pub const KEEP: usize = 5;

/// Appends whole lines to `<directory>/qoe-data-service.log` and rotates it by size.
pub struct RotatingFile {
    directory: PathBuf,
    file: File,
    written: u64,
    limit: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (creating the directory and the file if needed) the current log in `directory`,
    /// appending to what a previous run wrote.
    pub fn open(directory: &Path) -> io::Result<Self> {
        Self::with_limits(directory, LIMIT, KEEP)
    }

    fn with_limits(directory: &Path, limit: u64, keep: usize) -> io::Result<Self> {
        fs::create_dir_all(directory)?;
        let file = append(&current(directory))?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            directory: directory.to_owned(),
            file,
            written,
            limit,
            keep,
        })
    }

    /// The file the current lines go to.
    pub fn path(&self) -> PathBuf {
        current(&self.directory)
    }

    /// Moves each file up by one (the oldest is deleted) and starts an empty current file.
    fn rotate(&mut self) -> io::Result<()> {
        let oldest = rotated(&self.directory, self.keep);
        if oldest.exists() {
            fs::remove_file(&oldest)?;
        }
        for number in (1..self.keep).rev() {
            let from = rotated(&self.directory, number);
            if from.exists() {
                fs::rename(&from, rotated(&self.directory, number + 1))?;
            }
        }
        self.file.flush()?;
        // The open file is renamed (Rust opens files on Windows with FILE_SHARE_DELETE), then
        // replaced; an admin's `Get-Content -Wait` on the old name follows the new file.
        fs::rename(self.path(), rotated(&self.directory, 1))?;
        self.file = append(&self.path())?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    /// Called with one whole line at a time, so that rotation never splits a line.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + bytes.len() as u64 > self.limit {
            // A file that cannot be rotated now (a reader holding it without sharing) keeps
            // growing; the next line tries again.
            let _ = self.rotate();
        }
        let count = self.file.write(bytes)?;
        self.written += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn current(directory: &Path) -> PathBuf {
    directory.join(FILE_NAME)
}

fn rotated(directory: &Path, number: usize) -> PathBuf {
    directory.join(format!("{STEM}.{number}.log"))
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(name: &str) -> PathBuf {
        let directory = std::env::temp_dir()
            .join(format!("qoe-log-file-{}", std::process::id()))
            .join(name);
        let _ = fs::remove_dir_all(&directory);
        directory
    }

    fn read(path: PathBuf) -> String {
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn log_names(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(directory)
            .expect("the log directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn lines_go_to_the_current_file_in_a_directory_it_creates() {
        let directory = directory("creates").join("logs");
        let mut log = RotatingFile::open(&directory).expect("opens");

        log.write_all(b"first\n").expect("writes");
        log.write_all(b"second\n").expect("writes");

        assert_eq!(log.path(), directory.join("qoe-data-service.log"));
        assert_eq!(read(log.path()), "first\nsecond\n");
    }

    #[test]
    fn a_new_run_appends_to_what_the_last_one_wrote() {
        let directory = directory("appends");
        RotatingFile::open(&directory)
            .expect("opens")
            .write_all(b"before the restart\n")
            .expect("writes");

        let mut log = RotatingFile::open(&directory).expect("opens again");
        log.write_all(b"after the restart\n").expect("writes");

        assert_eq!(read(log.path()), "before the restart\nafter the restart\n");
    }

    #[test]
    fn a_full_file_becomes_number_1_and_whole_lines_start_the_new_one() {
        let directory = directory("rotates");
        let mut log = RotatingFile::with_limits(&directory, 12, 3).expect("opens");

        for line in ["line 1\n", "line 2\n", "line 3\n"] {
            log.write_all(line.as_bytes()).expect("writes");
        }

        assert_eq!(read(rotated(&directory, 2)), "line 1\n");
        assert_eq!(read(rotated(&directory, 1)), "line 2\n");
        assert_eq!(read(log.path()), "line 3\n");
    }

    #[test]
    fn past_the_files_kept_the_oldest_is_deleted() {
        let directory = directory("keeps");
        let mut log = RotatingFile::with_limits(&directory, 7, 2).expect("opens");

        for number in 1..=6 {
            log.write_all(format!("line {number}\n").as_bytes())
                .expect("writes");
        }

        assert_eq!(
            log_names(&directory),
            [
                "qoe-data-service.1.log",
                "qoe-data-service.2.log",
                "qoe-data-service.log"
            ]
        );
        assert_eq!(read(rotated(&directory, 2)), "line 4\n");
        assert_eq!(read(rotated(&directory, 1)), "line 5\n");
        assert_eq!(read(log.path()), "line 6\n");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole() {
        let directory = directory("long");
        let mut log = RotatingFile::with_limits(&directory, 4, 2).expect("opens");

        log.write_all(b"a line of twenty-six bytes\n")
            .expect("writes");

        assert_eq!(read(log.path()), "a line of twenty-six bytes\n");
        assert!(!rotated(&directory, 1).exists());
    }
}
