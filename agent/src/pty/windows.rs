//! The Windows PTY: ConPTY (Windows 10 1809 and later) through windows-sys.
//!
//! `CreatePseudoConsole` gets one end of two anonymous pipes, the shell starts attached to
//! that console (`PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE`), and the connector keeps the other
//! ends: it writes keystrokes into one and reads VT output from the other. Anonymous pipes
//! cannot join an I/O reactor, so reads, writes and the wait for the process run on smol's
//! blocking thread pool (`Unblock`, `unblock`). Closing the console is Windows' hang-up: its
//! programs get CTRL_CLOSE_EVENT; whatever is left after `KILL_AFTER` is terminated.
//!
//! Every shell starts suspended and joins its own job object with KILL_ON_JOB_CLOSE before
//! it runs a single instruction: terminating the session terminates the job (the shell and
//! everything it started), and if the connector itself dies Windows closes the job handle
//! and kills them all. Nothing started from a session outlives it.

use super::{KILL_AFTER, Size};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::lock::Mutex;
use smol::{Timer, Unblock};
use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::time::Duration;
use windows_sys::Win32::Foundation::{ERROR_BROKEN_PIPE, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Console::{COORD, ClosePseudoConsole, CreatePseudoConsole, HPCON, ResizePseudoConsole};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation, SetInformationJobObject,
    TerminateJobObject,
};
use windows_sys::Win32::System::Pipes::CreatePipe;
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, CreateProcessW, DeleteProcThreadAttributeList, EXTENDED_STARTUPINFO_PRESENT, INFINITE,
    InitializeProcThreadAttributeList, LPPROC_THREAD_ATTRIBUTE_LIST, PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE,
    PROCESS_INFORMATION, ResumeThread, STARTF_USESTDHANDLES, STARTUPINFOEXW, TerminateProcess,
    UpdateProcThreadAttribute, WaitForSingleObject,
};

/// How often to look for the shell's exit if its handle cannot be lent to a waiting thread.
const EXIT_POLL: Duration = Duration::from_millis(500);

pub struct Pty {
    /// 0 once closed.
    console: Cell<HPCON>,
    process: OwnedHandle,
    /// The shell's job (KILL_ON_JOB_CLOSE): closing this handle kills whatever is left in it.
    job: OwnedHandle,
    pid: u32,
    input: Mutex<Unblock<File>>,
    output: Mutex<Unblock<File>>,
    exited: Cell<bool>,
}

impl Pty {
    /// Starts `shell` in `dir` on a new pseudo console of `size`.
    pub fn spawn(shell: &Path, dir: &Path, size: Size) -> io::Result<Pty> {
        let (in_read, in_write) = pipe()?;
        let (out_read, out_write) = pipe()?;
        let mut console: HPCON = 0;
        // SAFETY: both handles are open pipe ends we own; `console` is a valid out pointer.
        // Flags 0: PSEUDOCONSOLE_INHERIT_CURSOR would wait for a cursor report nobody sends.
        let hr = unsafe {
            CreatePseudoConsole(coord(size), in_read.as_raw_handle(), out_write.as_raw_handle(), 0, &mut console)
        };
        if hr < 0 {
            return Err(io::Error::from_raw_os_error(hr));
        }
        // The console holds its own copies; ours must go, or the output pipe never ends.
        drop((in_read, out_write));
        let started = new_job().and_then(|job| Ok((start_attached(shell, dir, console, &job)?, job)));
        let ((process, pid), job) = match started {
            Ok(started) => started,
            Err(e) => {
                // SAFETY: created above and not handed to anyone.
                unsafe { ClosePseudoConsole(console) };
                return Err(e);
            }
        };
        Ok(Pty {
            console: Cell::new(console),
            process,
            job,
            pid,
            input: Mutex::new(Unblock::new(File::from(in_write))),
            output: Mutex::new(Unblock::new(File::from(out_read))),
            exited: Cell::new(false),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Reads VT output; `Ok(0)` once the console is gone.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.output.lock().await.read(buf).await {
            Err(e) if e.raw_os_error() == Some(ERROR_BROKEN_PIPE as i32) => Ok(0),
            other => other,
        }
    }

    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut input = self.input.lock().await;
        input.write_all(data).await?;
        input.flush().await
    }

    pub fn resize(&self, size: Size) -> io::Result<()> {
        // SAFETY: the console handle is open (0 only after terminate, which ends the session).
        let hr = unsafe { ResizePseudoConsole(self.console.get(), coord(size)) };
        if hr < 0 {
            return Err(io::Error::from_raw_os_error(hr));
        }
        Ok(())
    }

    /// Returns once the shell has exited.
    pub async fn exited(&self) {
        if self.exited.get() {
            return;
        }
        match self.process.try_clone() {
            Ok(process) => {
                // SAFETY: `process` is an open handle owned by the closure for the whole wait.
                smol::unblock(move || unsafe { WaitForSingleObject(process.as_raw_handle(), INFINITE) }).await;
            }
            Err(_) => {
                // SAFETY: a zero-timeout wait on our own open process handle.
                while unsafe { WaitForSingleObject(self.process.as_raw_handle(), 0) } != WAIT_OBJECT_0 {
                    Timer::after(EXIT_POLL).await;
                }
            }
        }
        self.exited.set(true);
    }

    /// How the shell ended: not reported on Windows (it would take one more unsafe call,
    /// GetExitCodeProcess, for a status Windows shells rarely set); the session just says
    /// "exit".
    pub fn exit_status(&self) -> Option<u16> {
        None
    }

    /// Closes the console (CTRL_CLOSE_EVENT to its programs) and terminates the shell if it
    /// is still there after `KILL_AFTER`.
    pub async fn terminate(&self) {
        self.close_console();
        let gone = super::within(KILL_AFTER, self.exited()).await;
        if !gone {
            self.kill();
            self.exited().await;
        }
    }

    /// Terminates the shell and everything it started.
    fn kill(&self) {
        // SAFETY: terminating our own job and child through their open handles.
        unsafe {
            if TerminateJobObject(self.job.as_raw_handle(), 1) == 0 {
                TerminateProcess(self.process.as_raw_handle(), 1);
            }
        }
    }

    /// ClosePseudoConsole can block until its output is drained, so it runs off the executor.
    fn close_console(&self) {
        let console = self.console.replace(0);
        if console != 0 {
            // SAFETY: the handle came from CreatePseudoConsole and is closed exactly once.
            smol::unblock(move || unsafe { ClosePseudoConsole(console) }).detach();
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if !self.exited.get() {
            self.kill();
        }
        self.close_console();
    }
}

fn coord(size: Size) -> COORD {
    let clamp = |v: u16| i16::try_from(v).unwrap_or(i16::MAX);
    COORD { X: clamp(size.cols), Y: clamp(size.rows) }
}

fn pipe() -> io::Result<(OwnedHandle, OwnedHandle)> {
    let (mut read, mut write): (HANDLE, HANDLE) = (null_mut(), null_mut());
    // SAFETY: out pointers to locals; no security attributes, so the ends are not inheritable.
    if unsafe { CreatePipe(&mut read, &mut write, null(), 0) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreatePipe succeeded: both are fresh handles that nothing else owns.
    Ok(unsafe { (OwnedHandle::from_raw_handle(read), OwnedHandle::from_raw_handle(write)) })
}

/// A job whose processes are all killed when its last handle closes (also for node commands).
pub(crate) fn new_job() -> io::Result<OwnedHandle> {
    // SAFETY: no name, default security; the handle is checked before use.
    let job = unsafe { CreateJobObjectW(null(), null()) };
    if job.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle that nothing else owns.
    let job = unsafe { OwnedHandle::from_raw_handle(job) };
    // SAFETY: plain data; all-zero means "no limits", then one flag is set.
    let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { zeroed() };
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: the pointer and length describe `limits`, which outlives the call.
    let set = unsafe {
        SetInformationJobObject(
            job.as_raw_handle(),
            JobObjectExtendedLimitInformation,
            (&raw const limits).cast(),
            size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    if set == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(job)
}

/// Deletes an initialised attribute list when the spawn is over, whichever way it went.
struct AttributeList(LPPROC_THREAD_ATTRIBUTE_LIST);

impl Drop for AttributeList {
    fn drop(&mut self) {
        // SAFETY: the list was initialised by InitializeProcThreadAttributeList.
        unsafe { DeleteProcThreadAttributeList(self.0) }
    }
}

/// Starts `shell` attached to `console`, inside `job`; returns its process handle and id.
fn start_attached(shell: &Path, dir: &Path, console: HPCON, job: &OwnedHandle) -> io::Result<(OwnedHandle, u32)> {
    let mut size = 0;
    // SAFETY: a null list asks for the needed size only; the call "fails" by design.
    unsafe { InitializeProcThreadAttributeList(null_mut(), 1, 0, &mut size) };
    let mut storage = vec![0usize; size.div_ceil(size_of::<usize>())];
    let list: LPPROC_THREAD_ATTRIBUTE_LIST = storage.as_mut_ptr().cast();
    // SAFETY: `list` points to at least `size` writable, pointer-aligned bytes.
    if unsafe { InitializeProcThreadAttributeList(list, 1, 0, &mut size) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let list = AttributeList(list);
    // SAFETY: ConPTY takes the HPCON itself as the attribute value; it outlives the spawn.
    let attached = unsafe {
        UpdateProcThreadAttribute(
            list.0,
            0,
            PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE as usize,
            console as *const _,
            size_of::<HPCON>(),
            null_mut(),
            null(),
        )
    };
    if attached == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: STARTUPINFOEXW is plain data; all-zero is its documented empty state.
    let mut startup: STARTUPINFOEXW = unsafe { zeroed() };
    startup.StartupInfo.cb = size_of::<STARTUPINFOEXW>() as u32;
    // Without this the shell would inherit our (possibly redirected) std handles instead of
    // talking to the console.
    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    startup.StartupInfo.hStdInput = INVALID_HANDLE_VALUE;
    startup.StartupInfo.hStdOutput = INVALID_HANDLE_VALUE;
    startup.StartupInfo.hStdError = INVALID_HANDLE_VALUE;
    startup.lpAttributeList = list.0;
    let mut command_line = wide(&quote(shell.as_os_str()));
    let dir = wide(dir.as_os_str());
    // SAFETY: PROCESS_INFORMATION is plain data, filled in by CreateProcessW.
    let mut info: PROCESS_INFORMATION = unsafe { zeroed() };
    // SAFETY: every pointer refers to a live local; the command line is mutable and
    // NUL-terminated as CreateProcessW requires; no handles are inherited.
    let created = unsafe {
        CreateProcessW(
            null(),
            command_line.as_mut_ptr(),
            null(),
            null(),
            0,
            // Suspended until it is in the job, so it cannot start anything outside it.
            EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED,
            null(),
            dir.as_ptr(),
            &startup.StartupInfo,
            &mut info,
        )
    };
    if created == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreateProcessW handed us these two open handles.
    let (process, thread) =
        unsafe { (OwnedHandle::from_raw_handle(info.hProcess), OwnedHandle::from_raw_handle(info.hThread)) };
    // SAFETY: both handles are open; a process that cannot join the job is killed unstarted.
    unsafe {
        if AssignProcessToJobObject(job.as_raw_handle(), process.as_raw_handle()) == 0 {
            let e = io::Error::last_os_error();
            TerminateProcess(process.as_raw_handle(), 1);
            return Err(e);
        }
        ResumeThread(thread.as_raw_handle());
    }
    drop(thread);
    Ok((process, info.dwProcessId))
}

/// A program path as the first word of a command line.
fn quote(program: &OsStr) -> std::ffi::OsString {
    let mut quoted = std::ffi::OsString::from("\"");
    quoted.push(program);
    quoted.push("\"");
    quoted
}

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(Some(0)).collect()
}

#[cfg(test)]
mod tests {
    //! Run with `cargo test --target x86_64-pc-windows-gnu` under Windows or Wine. Wine's
    //! ConPTY does not bind a child's standard handles to the pseudo console (Windows does),
    //! so the shell here is a batch file that starts `cmd` on `CONIN$`/`CONOUT$`: the same
    //! bytes flow through the same pipes on both.
    use super::super::read_until;
    use super::*;
    use windows_sys::Win32::System::JobObjects::IsProcessInJob;

    const SIZE: Size = Size { cols: 80, rows: 24 };

    fn shell(name: &str) -> (std::path::PathBuf, Pty) {
        let dir = std::env::temp_dir().join(format!("privaclaw-conpty-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let wrapper = dir.join("shell.cmd");
        std::fs::write(&wrapper, "@cmd.exe /d /q <CONIN$ >CONOUT$ 2>&1\r\n").unwrap();
        let pty = Pty::spawn(&wrapper, &dir, SIZE).unwrap();
        (dir, pty)
    }

    #[test]
    fn runs_a_command_in_a_job_and_reads_its_output() {
        smol::block_on(async {
            let (dir, pty) = shell("run");
            let mut in_job = 0;
            // SAFETY: both handles are open for the call.
            unsafe { IsProcessInJob(pty.process.as_raw_handle(), pty.job.as_raw_handle(), &mut in_job) };
            assert_eq!(in_job, 1, "the shell must run inside its job");
            // Enter is \r on a console, as a terminal sends it.
            pty.write_all(b"echo pty-ok-%OS%\r").await.unwrap();
            read_until(&pty, "pty-ok-Windows_NT").await;
            // Resizing is best-effort (Wine: E_NOTIMPL); it must not break the session.
            let _ = pty.resize(Size { cols: 100, rows: 30 });
            pty.write_all(b"exit\r").await.unwrap();
            pty.exited().await;
            drop(pty);
            std::fs::remove_dir_all(dir).unwrap();
        });
    }

    #[test]
    fn terminate_ends_the_shell_and_its_job() {
        smol::block_on(async {
            let (dir, pty) = shell("terminate");
            pty.write_all(b"echo ready-%OS%\r").await.unwrap();
            read_until(&pty, "ready-Windows_NT").await;
            pty.terminate().await;
            // SAFETY: a zero-timeout wait on the shell's open handle.
            assert_eq!(unsafe { WaitForSingleObject(pty.process.as_raw_handle(), 0) }, WAIT_OBJECT_0);
            drop(pty);
            std::fs::remove_dir_all(dir).unwrap();
        });
    }
}
