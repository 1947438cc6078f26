//! The file each fuzz target writes its input to, so that the public API (which takes
//! files, not bytes) can read it: one file per fuzzing process, in `/dev/shm` when it
//! exists (so the loop stays in memory), rewritten for every input.

use std::cell::OnceCell;
use std::path::PathBuf;

thread_local! {
    /// This process's input file.
    static PATH: OnceCell<PathBuf> = const { OnceCell::new() };
}

/// Writes `data` to this process's input file, named with `extension` (the first call's
/// names it), and returns the file's path.
pub fn write_input(data: &[u8], extension: &str) -> PathBuf {
    let path = PATH.with(|cell| {
        cell.get_or_init(|| {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
            dir.join(format!("ndmmap-fuzz-{}.{extension}", std::process::id()))
        })
        .clone()
    });
    std::fs::write(&path, data).expect("write the input file");
    path
}
