//! The Unix PTY: a login shell as session leader on a new terminal, driven through the
//! non-blocking master.
//!
//! The shell gets the slave as stdin/stdout/stderr and as its controlling terminal (setsid +
//! TIOCSCTTY), so job control, Ctrl-C and SIGWINCH behave as in any terminal. The connector
//! keeps only the master, registered with smol's reactor: reads and writes never block the
//! executor. Every descriptor is opened O_CLOEXEC, so no shell inherits the master or
//! another session's terminal. The shell's exit is watched through a pidfd where the kernel
//! has one (Linux ≥ 5.3), else by polling `waitpid`.

use super::{KILL_AFTER, Size};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How often to look for the shell's exit on kernels without pidfd.
const EXIT_POLL: Duration = Duration::from_millis(500);

pub struct Pty {
    master: Async<File>,
    child: RefCell<Child>,
    pid: Pid,
    pidfd: Option<Async<OwnedFd>>,
    reaped: Cell<bool>,
    /// The shell's exit status once reaped: its code, or 128 + the signal that killed it.
    status: Cell<Option<u16>>,
}

impl Pty {
    /// Starts `shell` as a login shell (argv[0] `-name`, as login(1) does: works for bash,
    /// dash, zsh, fish, ksh, tcsh and busybox alike) in `dir`, on a new PTY of `size`.
    pub fn spawn(shell: &Path, dir: &Path, size: Size) -> io::Result<Pty> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        tcsetwinsize(&master, winsize(size))?;
        let slave_path = ptsname(&master, Vec::new())?;
        let slave =
            rustix::fs::open(slave_path.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
        let name = shell.file_name().unwrap_or(shell.as_os_str());
        let mut login_name = std::ffi::OsString::from("-");
        login_name.push(name);
        let mut command = Command::new(shell);
        command
            .arg0(login_name)
            .current_dir(dir)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: the hook runs between fork and exec, where only async-signal-safe calls are
        // allowed; setsid and ioctl(TIOCSCTTY) are single raw syscalls (rustix) that neither
        // allocate nor lock.
        unsafe { command.pre_exec(become_session_leader) };
        let child = command.spawn()?;
        // The Command holds our copies of the slave; while one is open the master never
        // reports the end of the terminal.
        drop(command);
        let pid = Pid::from_child(&child);
        let pidfd = pidfd_open(pid, PidfdFlags::empty()).ok().and_then(|fd| Async::new_nonblocking(fd).ok());
        Ok(Pty {
            master: Async::new(File::from(master))?,
            child: RefCell::new(child),
            pid,
            pidfd,
            reaped: Cell::new(false),
            status: Cell::new(None),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.borrow().id()
    }

    /// Reads output; `Ok(0)` once no process holds the terminal open any more.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut master = &self.master;
        match master.read(buf).await {
            // Linux answers EIO instead of EOF on a master whose slave side is all closed.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => Ok(0),
            other => other,
        }
    }

    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut master = &self.master;
        master.write_all(data).await
    }

    /// The kernel sends SIGWINCH to the terminal's foreground process group.
    pub fn resize(&self, size: Size) -> io::Result<()> {
        Ok(tcsetwinsize(self.master.get_ref(), winsize(size))?)
    }

    /// Returns once the shell has exited, and reaps it.
    pub async fn exited(&self) {
        if self.reaped.get() {
            return;
        }
        if let Some(pidfd) = &self.pidfd {
            let _ = pidfd.readable().await;
        }
        while !self.try_reap() {
            Timer::after(EXIT_POLL).await;
        }
    }

    /// Hangs up the shell's process group as a closing terminal would (SIGHUP, then SIGCONT
    /// so stopped jobs see it), kills the group if it is still there after `KILL_AFTER`,
    /// and reaps the shell.
    pub async fn terminate(&self) {
        if self.try_reap() {
            return;
        }
        let _ = kill_process_group(self.pid, Signal::HUP);
        let _ = kill_process_group(self.pid, Signal::CONT);
        let gone = super::within(KILL_AFTER, self.exited()).await;
        if !gone {
            let _ = kill_process_group(self.pid, Signal::KILL);
            self.exited().await;
        }
    }

    /// How the shell ended, once it has (`exited` returned).
    pub fn exit_status(&self) -> Option<u16> {
        self.status.get()
    }

    fn try_reap(&self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        if !self.reaped.get() {
            // An error means there is nothing left to wait for.
            let done = match self.child.borrow_mut().try_wait() {
                Ok(None) => false,
                Ok(Some(st)) => {
                    let code = st.code().or_else(|| st.signal().map(|s| 128 + s));
                    self.status.set(code.and_then(|c| u16::try_from(c).ok()));
                    true
                }
                Err(_) => true,
            };
            self.reaped.set(done);
        }
        self.reaped.get()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if !self.try_reap() {
            let _ = kill_process_group(self.pid, Signal::KILL);
            let _ = self.child.get_mut().wait();
        }
    }
}

fn become_session_leader() -> io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
    Ok(())
}

fn winsize(size: Size) -> Winsize {
    Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 }
}

#[cfg(test)]
mod tests {
    use super::super::read_until;
    use super::*;
    use rustix::process::test_kill_process;

    const SIZE: Size = Size { cols: 80, rows: 24 };

    fn sh() -> Pty {
        Pty::spawn(Path::new("/bin/sh"), Path::new("/"), SIZE).unwrap()
    }

    #[test]
    fn runs_a_command_and_reads_its_output() {
        smol::block_on(async {
            let pty = sh();
            pty.write_all(b"echo pty-ok $((6*7))\r").await.unwrap();
            read_until(&pty, "pty-ok 42").await;
            pty.write_all(b"exit\r").await.unwrap();
            pty.exited().await;
        });
    }

    #[test]
    fn resize_changes_stty_size() {
        smol::block_on(async {
            let pty = sh();
            pty.resize(Size { cols: 100, rows: 30 }).unwrap();
            pty.write_all(b"echo size-$(stty size | tr ' ' x)\r").await.unwrap();
            read_until(&pty, "size-30x100").await;
        });
    }

    #[test]
    fn terminate_kills_and_reaps_the_shell() {
        smol::block_on(async {
            let pty = sh();
            // A shell that ignores the hang-up must still go, through SIGKILL.
            pty.write_all(b"trap '' HUP; echo trapped-$((6*7))\r").await.unwrap();
            read_until(&pty, "trapped-42").await;
            let pid = Pid::from_raw(pty.pid() as i32).unwrap();
            assert!(test_kill_process(pid).is_ok());
            pty.terminate().await;
            // ESRCH: not even a zombie is left.
            assert_eq!(test_kill_process(pid), Err(rustix::io::Errno::SRCH));
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_shell_leads_its_own_session_with_the_pty_as_controlling_terminal() {
        smol::block_on(async {
            let pty = sh();
            // Fields 6 and 7 of /proc/PID/stat: session id and controlling terminal.
            let probe = b"set -- $(cat /proc/$$/stat); [ $7 != 0 ] && c=yes; echo sid-$6-$$ ctty-$c\r";
            pty.write_all(probe).await.unwrap();
            let pid = pty.pid();
            read_until(&pty, &format!("sid-{pid}-{pid} ctty-yes")).await;
        });
    }
}
