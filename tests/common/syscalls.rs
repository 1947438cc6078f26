//! A system-call recorder: runs a child process under `ptrace` and shows the caller every
//! system call of every thread of the child, at its entry and at its exit, while the child
//! is stopped there, so that the caller can look at the child's files and memory at that
//! instant (for example, what is on disk when a header is written).
//!
//! Only the calling thread's children are waited for (`__WNOTHREAD`), so that the test
//! harness's other threads keep their own children.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::ptr::null_mut;

use libc::{c_long, c_ulong, c_void};

/// One system call of the traced child, seen at its entry (`ret` is `None`) or its exit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    /// The thread that made it.
    pub(crate) tid: i32,
    /// The system call's number (`libc::SYS_*`, of this target's table).
    pub(crate) nr: c_long,
    /// Its arguments.
    pub(crate) args: [u64; 6],
    /// At the exit, its return value (negative: `-errno`).
    pub(crate) ret: Option<i64>,
}

impl Call {
    /// The argument `i` as a file descriptor.
    pub(crate) fn fd(&self, i: usize) -> i32 {
        // Truncation intended: the kernel reads file descriptors as `int`.
        #[allow(clippy::cast_possible_truncation)]
        let fd = self.args[i] as i32;
        fd
    }
}

/// The file that the traced thread `tid` has open as `fd`, if any.
pub(crate) fn fd_path(tid: i32, fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()
}

/// `len` bytes of the traced thread `tid`'s memory at `addr`.
pub(crate) fn read_memory(tid: i32, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open(format!("/proc/{tid}/mem"))?;
    let mut bytes = vec![0; len];
    mem.read_exact_at(&mut bytes, addr)?;
    Ok(bytes)
}

/// `struct ptrace_syscall_info` (Linux 5.3), with the union as raw words: for an entry,
/// the number and six arguments; for an exit, the return value and the error flag.
#[repr(C)]
struct SyscallInfo {
    op: u8,
    // The rest of the header, read by the kernel's layout only.
    _reserved: u8,
    _flags: u16,
    _arch: u32,
    _instruction_pointer: u64,
    _stack_pointer: u64,
    data: [u64; 7],
}

const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;

/// Runs `command` under `ptrace`, calling `on_call` at every system call's entry and exit,
/// and returns the child's wait status. `Err` if tracing is not permitted here.
pub(crate) fn trace(command: &mut Command, mut on_call: impl FnMut(&Call)) -> io::Result<i32> {
    let trace_me = || {
        // SAFETY: `PTRACE_TRACEME` reads no memory; the null pointers are ignored.
        let rc = unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, null_mut::<c_void>(), null_mut::<c_void>())
        };
        if rc == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
    };
    // SAFETY: the closure runs in the child between fork and exec and makes one system
    // call, which is async-signal-safe; it touches no memory of the parent.
    unsafe { command.pre_exec(trace_me) };
    let child = command.spawn()?;
    let pid = i32::try_from(child.id()).expect("a pid fits in pid_t");
    let mut status = 0;
    // SAFETY: `pid` is this thread's child; `status` is a valid place for the status.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, libc::__WALL) };
    assert_eq!(waited, pid, "waitpid: {}", io::Error::last_os_error());
    assert!(libc::WIFSTOPPED(status), "the traced child did not stop at exec: {status:#x}");
    let options = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_TRACECLONE | libc::PTRACE_O_EXITKILL;
    // SAFETY: `pid` is stopped and traced by this thread; the options are plain flags.
    let rc = unsafe {
        libc::ptrace(libc::PTRACE_SETOPTIONS, pid, null_mut::<c_void>(), c_long::from(options))
    };
    assert_eq!(rc, 0, "PTRACE_SETOPTIONS: {}", io::Error::last_os_error());
    resume(pid, 0);

    let mut entries: std::collections::HashMap<i32, (c_long, [u64; 6])> =
        std::collections::HashMap::new();
    let mut exit_status = None;
    loop {
        // SAFETY: as above; `-1` with `__WNOTHREAD` waits for this thread's children only,
        // which are the traced child and the threads it made.
        let tid = unsafe { libc::waitpid(-1, &raw mut status, libc::__WALL | libc::__WNOTHREAD) };
        if tid == -1 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => break,
                _ => panic!("waitpid: {err}"),
            }
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            entries.remove(&tid);
            if tid == pid {
                exit_status = Some(status);
            }
            continue;
        }
        let signal = libc::WSTOPSIG(status);
        let inject = if signal == libc::SIGTRAP | 0x80 {
            report(tid, &mut entries, &mut on_call);
            0
        } else if status >> 16 != 0 || signal == libc::SIGSTOP {
            // An event (a new thread) or a new thread's first stop: nothing to pass on.
            0
        } else {
            signal
        };
        resume(tid, inject);
    }
    drop(child);
    Ok(exit_status.expect("the traced child's exit was seen"))
}

/// Reads the system call `tid` is stopped at and reports it.
fn report(
    tid: i32,
    entries: &mut std::collections::HashMap<i32, (c_long, [u64; 6])>,
    on_call: &mut impl FnMut(&Call),
) {
    let mut info = SyscallInfo {
        op: 0,
        _reserved: 0,
        _flags: 0,
        _arch: 0,
        _instruction_pointer: 0,
        _stack_pointer: 0,
        data: [0; 7],
    };
    // SAFETY: `tid` is stopped at a system call and traced by this thread; the kernel
    // writes at most `size_of::<SyscallInfo>()` bytes into `info`.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            tid,
            size_of::<SyscallInfo>(),
            (&raw mut info).cast::<c_void>(),
        )
    };
    assert!(rc > 0, "PTRACE_GET_SYSCALL_INFO: {}", io::Error::last_os_error());
    match info.op {
        OP_ENTRY => {
            let nr = c_long::try_from(info.data[0]).expect("a system call number fits in a long");
            let mut args = [0; 6];
            args.copy_from_slice(&info.data[1..7]);
            entries.insert(tid, (nr, args));
            on_call(&Call { tid, nr, args, ret: None });
        }
        OP_EXIT => {
            // The kernel sign-extends the return value from a `long`: a success of a 32-bit
            // child (an address above 2 GiB) is read back as the unsigned `long` it was.
            let is_error = info.data[1] & 0xff != 0;
            #[allow(clippy::useless_conversion, reason = "`c_ulong` is `u32` on 32-bit targets")]
            let mask = u64::from(c_ulong::MAX);
            let ret = if is_error { info.data[0] } else { info.data[0] & mask };
            if let Some((nr, args)) = entries.remove(&tid) {
                on_call(&Call { tid, nr, args, ret: Some(ret.cast_signed()) });
            }
        }
        _ => {}
    }
}

/// Lets `tid` run to its next system call, delivering `signal` (0 for none).
fn resume(tid: i32, signal: i32) {
    // SAFETY: `tid` is stopped and traced by this thread. A thread that was killed in the
    // meantime makes this fail with ESRCH, which the next waitpid reports as its exit.
    unsafe { libc::ptrace(libc::PTRACE_SYSCALL, tid, null_mut::<c_void>(), c_long::from(signal)) };
}
