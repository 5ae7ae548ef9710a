//! A node command's process: the configured argv (no shell), stdin, stdout and stderr on
//! pipes registered with smol, and a way to stop it together with everything it started.
//!
//! Unix: the process leads a new process group, so `stop` can SIGTERM (then SIGKILL) the
//! whole group; its exit is watched through a pidfd where the kernel has one, else by polling
//! `waitpid`. Windows: the process joins a job object with KILL_ON_JOB_CLOSE right after it
//! starts (std cannot start it suspended; something it starts in its very first instants may
//! escape the job), and its pipes are read on smol's blocking pool. Dropping a `Process` that
//! still runs kills it (Unix: its group) and reaps it, so no path leaves a zombie.

use smol::Timer;
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

#[cfg(unix)]
use crate::pty::{KILL_AFTER, within};
#[cfg(unix)]
use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};
#[cfg(unix)]
use smol::Async;
#[cfg(unix)]
use std::os::fd::OwnedFd;

#[cfg(windows)]
use smol::Unblock;
#[cfg(windows)]
use std::os::windows::io::{AsHandle, AsRawHandle, OwnedHandle};

/// A pipe end the executor can wait on: a `File`, as the PTY's ends are, so that the two
/// share their I/O code in the binary.
#[cfg(unix)]
pub type Pipe = Async<File>;
#[cfg(windows)]
pub type Pipe = Unblock<File>;

/// How often to look for the exit at most, where it cannot be waited for (no pidfd).
const EXIT_POLL_MAX: Duration = Duration::from_millis(500);

pub struct Pipes {
    pub stdin: Pipe,
    pub stdout: Pipe,
    pub stderr: Pipe,
}

pub struct Process {
    child: RefCell<Child>,
    /// How it ended, once reaped; `None` inside if that could not be learnt.
    ended: Cell<Option<Option<ExitStatus>>>,
    #[cfg(unix)]
    pid: Pid,
    #[cfg(unix)]
    pidfd: Option<Async<OwnedFd>>,
    #[cfg(windows)]
    job: OwnedHandle,
}

impl Process {
    /// Starts `program` with `args` in `dir`, its three standard streams on pipes.
    pub fn spawn(program: &Path, args: &[String], dir: &Path) -> io::Result<(Process, Pipes)> {
        let mut command = Command::new(program);
        command.args(args).current_dir(dir).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        #[cfg(windows)]
        std::os::windows::process::CommandExt::creation_flags(
            &mut command,
            windows_sys::Win32::System::Threading::CREATE_NO_WINDOW,
        );
        #[cfg(windows)]
        let job = crate::pty::new_job()?;
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three streams were asked for as pipes")
        };
        #[cfg(unix)]
        let process = {
            let pid = Pid::from_child(&child);
            let pidfd = pidfd_open(pid, PidfdFlags::empty()).ok().and_then(|fd| Async::new_nonblocking(fd).ok());
            Process { child: RefCell::new(child), ended: Cell::new(None), pid, pidfd }
        };
        #[cfg(windows)]
        let process = {
            use windows_sys::Win32::System::JobObjects::AssignProcessToJobObject;
            // SAFETY: both handles are open and ours.
            if unsafe { AssignProcessToJobObject(job.as_raw_handle(), child.as_raw_handle()) } == 0 {
                let e = io::Error::last_os_error();
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
            Process { child: RefCell::new(child), ended: Cell::new(None), job }
        };
        #[cfg(unix)]
        let pipes = {
            let pipe = |fd: OwnedFd| Async::new(File::from(fd));
            Pipes { stdin: pipe(stdin.into())?, stdout: pipe(stdout.into())?, stderr: pipe(stderr.into())? }
        };
        #[cfg(windows)]
        let pipes = {
            let pipe = |handle: OwnedHandle| Unblock::new(File::from(handle));
            Pipes { stdin: pipe(stdin.into()), stdout: pipe(stdout.into()), stderr: pipe(stderr.into()) }
        };
        Ok((process, pipes))
    }

    /// Returns once the process has exited, and reaps it: its exit status, or `None` if it
    /// could not be learnt.
    pub async fn wait(&self) -> Option<ExitStatus> {
        #[cfg(unix)]
        let mut poll = Duration::from_millis(5);
        loop {
            if let Some(ended) = self.try_reap() {
                return ended;
            }
            #[cfg(unix)]
            match &self.pidfd {
                Some(pidfd) => {
                    let _ = pidfd.readable().await;
                }
                None => {
                    Timer::after(poll).await;
                    poll = (poll * 2).min(EXIT_POLL_MAX);
                }
            }
            #[cfg(windows)]
            {
                let process = self.child.borrow().as_handle().try_clone_to_owned();
                match process {
                    Ok(process) => {
                        use windows_sys::Win32::System::Threading::{INFINITE, WaitForSingleObject};
                        // SAFETY: `process` is an open handle owned by the closure for the whole wait.
                        smol::unblock(move || unsafe { WaitForSingleObject(process.as_raw_handle(), INFINITE) }).await;
                    }
                    Err(_) => {
                        Timer::after(EXIT_POLL_MAX).await;
                    }
                }
            }
        }
    }

    /// Stops the process and everything it started: SIGTERM to its process group (SIGCONT
    /// too, so stopped members see it), SIGKILL after `KILL_AFTER` if it is still there, and
    /// reaps it. Windows: terminates its job at once.
    pub async fn stop(&self) {
        if self.try_reap().is_some() {
            return;
        }
        #[cfg(unix)]
        {
            let _ = kill_process_group(self.pid, Signal::TERM);
            let _ = kill_process_group(self.pid, Signal::CONT);
            let gone = within(KILL_AFTER, self.wait()).await;
            if gone {
                return;
            }
        }
        self.kill();
        self.wait().await;
    }

    fn kill(&self) {
        #[cfg(unix)]
        let _ = kill_process_group(self.pid, Signal::KILL);
        #[cfg(windows)]
        {
            use windows_sys::Win32::System::JobObjects::TerminateJobObject;
            // SAFETY: terminating our own job through its open handle.
            if unsafe { TerminateJobObject(self.job.as_raw_handle(), 1) } == 0 {
                let _ = self.child.borrow_mut().kill();
            }
        }
    }

    /// How the process ended, if it has.
    fn try_reap(&self) -> Option<Option<ExitStatus>> {
        if self.ended.get().is_none() {
            let ended = match self.child.borrow_mut().try_wait() {
                Ok(None) => None,
                Ok(Some(status)) => Some(Some(status)),
                // Nothing left to wait for.
                Err(_) => Some(None),
            };
            self.ended.set(ended);
        }
        self.ended.get()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_reap().is_none() {
            self.kill();
            let _ = self.child.get_mut().wait();
        }
    }
}

/// Says how a process that did not succeed ended: "exit status N", "killed by signal N".
pub fn failure(ended: Option<ExitStatus>) -> Option<String> {
    let Some(status) = ended else {
        return Some("lost track of the process".to_owned());
    };
    if status.success() {
        return None;
    }
    if let Some(code) = status.code() {
        return Some(format!("exit status {code}"));
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Some(format!("killed by signal {signal}"));
    }
    Some("failed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::{AsyncReadExt, AsyncWriteExt};

    /// A shell running `script`: sh on Unix, cmd on Windows.
    fn shell(unix: &str, windows: &str) -> (Process, Pipes) {
        let (program, args) = match cfg!(windows) {
            true => ("cmd.exe", vec!["/d", "/c", windows]),
            false => ("/bin/sh", vec!["-c", unix]),
        };
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        Process::spawn(Path::new(program), &args, &std::env::temp_dir()).unwrap()
    }

    fn within(test: impl std::future::Future<Output = ()>) {
        smol::block_on(smol::future::or(test, async {
            Timer::after(Duration::from_secs(60)).await;
            panic!("test timed out");
        }))
    }

    #[test]
    fn pipes_carry_input_output_and_errors_and_the_exit_status_is_kept() {
        within(async {
            let (process, mut pipes) = shell(
                "read line; echo \"out $line\"; echo err >&2; exit 3",
                "set /p line=& echo out %line%& echo err 1>&2& exit 3",
            );
            pipes.stdin.write_all(b"hello\n").await.unwrap();
            pipes.stdin.flush().await.unwrap();
            drop(pipes.stdin);
            let (mut out, mut err) = (String::new(), String::new());
            pipes.stdout.read_to_string(&mut out).await.unwrap();
            pipes.stderr.read_to_string(&mut err).await.unwrap();
            assert_eq!((out.trim_end(), err.trim_end()), ("out hello", "err"));
            let ended = process.wait().await;
            assert_eq!(failure(ended).as_deref(), Some("exit status 3"));
            assert_eq!(failure(process.wait().await).as_deref(), Some("exit status 3"), "kept once reaped");
        });
    }

    #[test]
    fn stop_ends_a_process_that_would_not_end() {
        within(async {
            // Waits for input that never comes (stdin stays open).
            let (process, pipes) = shell("read line", "set /p line=");
            process.stop().await;
            assert!(failure(process.wait().await).is_some());
            drop(pipes);
        });
    }
}
