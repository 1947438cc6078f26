//! Helpers shared by the integration tests: the skip policy, the Python with NumPy and the
//! scripts of `tests/python/`, child processes of this test binary, folders on a real disk
//! and on tmpfs, and (in [`pages`]) what the kernel knows about a map's pages.
//!
//! # The skip policy
//!
//! A test that cannot run here (no NumPy, no tmpfs to mount, no way to see dirty pages)
//! calls [`skip`]: outside CI it prints why and the test returns; under CI (`CI=true`) it
//! fails, because a test that CI is meant to run and silently does not is a test that
//! catches nothing. `.ci/run` sets `CI=true`.

// Not every target uses every helper (tmpfs, strace and the page flags are Linux's).
#![allow(dead_code)]

#[cfg(unix)]
pub(crate) mod pages;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) mod syscalls;

use std::ffi::OsStr;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the tests run under CI (`CI` is `true` or `1`), where nothing may be skipped.
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The one place a test gives up: under CI this fails the test; elsewhere it prints
/// `skipped: {reason}` and the caller returns.
#[track_caller]
pub(crate) fn skip(reason: impl Display) {
    assert!(!under_ci(), "this test must run under CI (CI=true), but {reason}");
    eprintln!("skipped: {reason}");
}

/// `value`, or (through [`skip`]) `None` with `reason`.
#[track_caller]
pub(crate) fn require<T>(value: Option<T>, reason: impl Display) -> Option<T> {
    if value.is_none() {
        skip(reason);
    }
    value
}

/// The Python to run NumPy with: `NDMMAP_PYTHON`, else the crate's `.venv`, else (through
/// [`skip`]) `None`. A Python that is found but fails is a test failure, not a skip.
#[track_caller]
pub(crate) fn numpy_python() -> Option<PathBuf> {
    let found = std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
        [venv.join("bin/python"), venv.join("Scripts/python.exe")].into_iter().find(|p| p.exists())
    });
    require(found, "there is no NumPy: set NDMMAP_PYTHON or create .venv with numpy")
}

/// Runs the script `tests/python/{script}` with `args` under [`numpy_python`] and returns
/// its standard output; `None` (through [`skip`]) without NumPy. Panics with Python's
/// standard error if the script fails: a NumPy check that fails is a test failure.
#[track_caller]
pub(crate) fn run_script<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let mut command = Command::new(numpy_python()?);
    command.arg(&path).args(args);
    Some(output_of(
        command,
        &format!("{script} {:?}", args.iter().map(AsRef::as_ref).collect::<Vec<_>>()),
    ))
}

/// The names of the entries of the folder `dir`, sorted: what a failed write must not
/// add to.
pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the folder")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the Python `code` (`python -c`) in the folder `dir` under [`numpy_python`] and
/// returns its standard output; `None` (through [`skip`]) without NumPy. Panics with
/// Python's standard error if the code fails.
#[track_caller]
pub(crate) fn run_code(dir: &Path, code: &str) -> Option<String> {
    let mut command = Command::new(numpy_python()?);
    command.current_dir(dir).args(["-c", code]);
    Some(output_of(command, code))
}

#[track_caller]
fn output_of(mut command: Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "Python failed: {what}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the scripts print UTF-8")
}

/// This test binary run again as a child process, running only the test `name` of the
/// module `module` (its `module_path!()`), ignored or not: how the tests that crash, kill,
/// trace or measure a process run that process.
pub(crate) fn rerun(module: &str, name: &str) -> Command {
    let test = test_name(module, name);
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args([
        test.as_str(),
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}

/// The full name of the test `name` of the module `module` (its `module_path!()`), as the
/// test harness's `--exact` filter wants it: test names leave out the crate (`it::edges`
/// names its tests `edges::...`).
pub(crate) fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// A child process's exit status, stdout and stderr, for a failure message.
pub(crate) fn describe(output: &std::process::Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const TMPFS_MAGIC: i128 = 0x0102_1994;
const RAMFS_MAGIC: i128 = 0x8584_58f6;

/// Whether `path` lies on a file system without a disk (tmpfs, ramfs), whose pages are
/// never written back, so that flushing cannot be observed there.
#[cfg(unix)]
pub(crate) fn memory_backed(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| {
        let kind = i128::from(s.f_type);
        kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
    })
}

/// Whether `path` lies on a file system without a disk: never, off Unix.
#[cfg(not(unix))]
pub(crate) fn memory_backed(_path: &Path) -> bool {
    false
}

/// The size of a memory page here, read at run time.
#[cfg(unix)]
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// The size of a memory page here, read at run time.
#[cfg(windows)]
pub(crate) fn page_size() -> usize {
    use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
    let mut info = std::mem::MaybeUninit::<SYSTEM_INFO>::uninit();
    // SAFETY: `GetSystemInfo` fills the `SYSTEM_INFO` it is given and cannot fail.
    unsafe { GetSystemInfo(info.as_mut_ptr()) };
    // SAFETY: filled by the call above.
    let info = unsafe { info.assume_init() };
    usize::try_from(info.dwPageSize).expect("a page size fits in usize")
}

/// A fresh temporary folder on a disk-backed file system, where dirty pages become clean
/// when written back: in Cargo's target tmp folder, `/var/tmp`, or the system's temporary
/// folder, whichever is first not in memory and writable. `None` (through [`skip`]) if none.
#[track_caller]
pub(crate) fn disk_tempdir() -> Option<tempfile::TempDir> {
    let candidates = [
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        PathBuf::from("/var/tmp"),
        std::env::temp_dir(),
    ];
    let dir = candidates
        .iter()
        .filter(|c| c.is_dir() && !memory_backed(c))
        .find_map(|c| tempfile::tempdir_in(c).ok());
    require(dir, "no writable temporary folder here is on a disk (all are tmpfs)")
}

/// A folder on a tmpfs: a tmpfs of `size_mib` MiB mounted for the test (as root), which
/// is unmounted on drop; else a folder in `/dev/shm` if that is a tmpfs; else (through
/// [`skip`]) `None`.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
    inner: Option<tempfile::TempDir>,
    mounted: bool,
}

impl Tmpfs {
    /// See [`Tmpfs`].
    #[track_caller]
    pub(crate) fn new(size_mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("create a mount point");
        if mount_tmpfs(dir.path(), size_mib) {
            return Some(Tmpfs { dir, inner: None, mounted: true });
        }
        let shm = Path::new("/dev/shm");
        if shm.is_dir() && memory_backed(shm) {
            let inner = tempfile::tempdir_in(shm).expect("create a folder in /dev/shm");
            return Some(Tmpfs { dir, inner: Some(inner), mounted: false });
        }
        skip("no tmpfs: cannot mount one (not root?) and /dev/shm is not a tmpfs");
        None
    }

    /// The folder on the tmpfs.
    pub(crate) fn path(&self) -> &Path {
        self.inner.as_ref().map_or(self.dir.path(), |d| d.path())
    }

    /// Whether the tmpfs was mounted for the test (so its size is the one asked for).
    pub(crate) fn mounted(&self) -> bool {
        self.mounted
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            unmount(self.dir.path());
        }
    }
}

#[cfg(target_os = "linux")]
fn mount_tmpfs(at: &Path, size_mib: u32) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(at.as_os_str().as_bytes()).expect("no NUL in a temporary path");
    let data = CString::new(format!("size={size_mib}m,mode=0700")).expect("no NUL");
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; `mount`
    // reads them and touches no memory of ours.
    let rc = unsafe {
        libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, data.as_ptr().cast())
    };
    rc == 0 && memory_backed(at)
}

#[cfg(not(target_os = "linux"))]
fn mount_tmpfs(_at: &Path, _size_mib: u32) -> bool {
    false
}

#[cfg(target_os = "linux")]
fn unmount(at: &Path) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(at.as_os_str().as_bytes()).expect("no NUL in a temporary path");
    // SAFETY: a NUL-terminated path that outlives the call. A lazy unmount cannot fail
    // because a file is still open; the tmpfs goes away when the last one closes.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
}

#[cfg(not(target_os = "linux"))]
fn unmount(_at: &Path) {}

/// The `.rs` files under `dir`, recursively, sorted.
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The variants of the enum declared by `declaration` (`"pub enum Error {"`), read from its
/// definition wherever it is under `src/`.
pub(crate) fn enum_variants(declaration: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let text = rust_files(&src)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .find_map(|t| t.find(declaration).map(|at| t[at..].to_owned()))
        .unwrap_or_else(|| panic!("`{declaration}` somewhere under src/"));
    let body = &text[..text.find("\n}").expect("the end of the enum")];
    body.lines()
        .filter(|l| l.starts_with("    ") && l[4..].starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| l[4..].chars().take_while(char::is_ascii_alphanumeric).collect())
        .collect()
}

/// Runs `replace`, which puts a new file at `path` (a `save_npy`, a create with
/// `overwrite`, an archive written over it) while a live guard maps the file there.
///
/// On Unix the rename goes through: the new file takes the path, the guard keeps the old
/// one, and this returns `Some` of what `replace` returned. Windows renames over no file
/// that a live map holds: there this asserts what a user gets instead (see
/// [`assert_replace_refused`]) and returns `None`.
#[track_caller]
pub(crate) fn replace_under_a_map<T: std::fmt::Debug>(
    path: &Path,
    replace: impl FnOnce() -> Result<T, ndmmap::Error>,
) -> Option<T> {
    if cfg!(windows) {
        let before = std::fs::read(path).expect("read the file to be replaced");
        assert_replace_refused(&replace(), path, &before);
        None
    } else {
        Some(replace().unwrap_or_else(|e| panic!("replace {}: {e:?}", path.display())))
    }
}

/// Runs `replace`, which puts a new file at `path` while the file there is open (an
/// archive, a `.safetensors` file) but not mapped.
///
/// Unix renames over it, as does Windows 10 1607 and later (std's rename asks for POSIX
/// semantics, and ndmmap opens its files sharing delete): `Some` of what `replace`
/// returned. Wine and older Windows rename over no file that any handle holds open: there
/// a refusal is asserted as [`replace_under_a_map`] asserts it, and this returns `None`.
#[track_caller]
pub(crate) fn replace_while_open<T: std::fmt::Debug>(
    path: &Path,
    replace: impl FnOnce() -> Result<T, ndmmap::Error>,
) -> Option<T> {
    if !cfg!(windows) {
        return Some(replace().unwrap_or_else(|e| panic!("replace {}: {e:?}", path.display())));
    }
    let before = std::fs::read(path).expect("read the file to be replaced");
    match replace() {
        Ok(value) => Some(value),
        refused => {
            assert_replace_refused(&refused, path, &before);
            None
        }
    }
}

/// What a refused replace of `path` gives: [`ndmmap::Error::Io`] "replace" naming `path`
/// (access denied), the old file's bytes (`before`) unchanged, and no temporary file left
/// in its folder.
#[track_caller]
pub(crate) fn assert_replace_refused<T: std::fmt::Debug>(
    result: &Result<T, ndmmap::Error>,
    path: &Path,
    before: &[u8],
) {
    assert!(
        matches!(
            result,
            Err(ndmmap::Error::Io { path: p, action: "replace", error })
                if p == path && error.kind() == std::io::ErrorKind::PermissionDenied
        ),
        "a replace of {} that Windows refuses: {result:?}",
        path.display()
    );
    let message = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    let name = path.file_name().expect("a file name").to_string_lossy();
    assert!(message.contains(&*name), "the message names the file: {message}");
    assert_eq!(std::fs::read(path).unwrap(), before, "{} changed", path.display());
    assert_no_temporary_files(path);
}

/// Asserts that the folder of `path` holds none of the temporary files a replace of `path`
/// builds (`.NAME.ndmmap-...`).
#[track_caller]
pub(crate) fn assert_no_temporary_files(path: &Path) {
    let folder = path.parent().expect("a file in a folder");
    let name = path.file_name().expect("a file name").to_string_lossy();
    let prefix = format!(".{name}.ndmmap-");
    let left: Vec<String> = std::fs::read_dir(folder)
        .expect("list the folder")
        .map(|e| e.expect("a folder entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "temporary files left beside {}: {left:?}", path.display());
}
