//! The device credentials file, `~/.relay-connector.json` by default.
//!
//! Pairing writes `{device_id, token, relay_url}` (the reference's format) and every later
//! run reads it. The token is a password, so the file is created readable by its owner only
//! and replaced atomically: a crash or a full disk leaves either the old file or the new one,
//! never a truncated one, and the secret is never readable by others, not even briefly.
//!
//! An optional `node` object turns on AI-node mode (`node/`): the commands this machine may
//! run for the relay. It is written by hand, never by pairing: what a relay answers cannot
//! add a command, and pairing again keeps the `node` object that was there.

use miniserde::{Deserialize, Serialize, json};
#[cfg(not(windows))]
use std::fs::OpenOptions;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, PartialEq)]
// No Debug outside tests: it would print the token.
#[cfg_attr(test, derive(Debug))]
pub struct Config {
    pub device_id: String,
    pub token: String,
    pub relay_url: String,
    /// AI-node mode; absent (or null) for a terminal-only connector.
    pub node: Option<NodeConfig>,
}

/// `"node": {"prompt": [program, args…], "workflows": dir}`, both optional: what the relay
/// may have this machine run. Nothing else runs.
#[derive(Serialize, Deserialize, PartialEq, Clone)]
#[cfg_attr(test, derive(Debug))]
pub struct NodeConfig {
    /// The command that answers prompts (no shell), the prompt on its stdin.
    pub prompt: Option<Vec<String>>,
    /// The directory of workflow executables.
    pub workflows: Option<String>,
}

const FILE_NAME: &str = ".relay-connector.json";

/// `~/.relay-connector.json`; on Windows in the user's profile directory.
pub fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" })?;
    Some(Path::new(&home).join(FILE_NAME))
}

pub fn load(path: &Path) -> Result<Config, String> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("no configuration at {}: run with --pair CODE first", path.display()),
        _ => format!("cannot read {}: {e} (run with --pair CODE first to create it)", path.display()),
    })?;
    let config: Config = json::from_str(&text).map_err(|_| {
        format!(
            "{} is not a valid configuration (expected device_id, token and relay_url, and \
             optionally node {{\"prompt\": [program, args…], \"workflows\": directory}}): \
             run with --pair CODE to pair again, or fix node",
            path.display()
        )
    })?;
    if config.node.as_ref().and_then(|n| n.prompt.as_ref()).is_some_and(|p| p.first().is_none_or(String::is_empty)) {
        return Err(format!("{}: node.prompt must start with the program to run", path.display()));
    }
    Ok(config)
}

pub fn save(path: &Path, config: &Config) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = path.file_name().unwrap_or(FILE_NAME.as_ref()).to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // A leftover from a crashed run would make create_new fail.
    let _ = fs::remove_file(&tmp);
    let written = write_private(&tmp, json::to_string(config).as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Make the rename itself durable; not possible (nor needed) on Windows.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates `path` readable by its owner only from the start (no chmod window) and flushes
/// it to disk: mode 0600 on Unix, on Windows a protected DACL granting the current user alone.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    let mut file: File = {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?
    };
    #[cfg(windows)]
    let mut file: File = owner_only::create_new(path)?;
    #[cfg(not(any(unix, windows)))]
    let mut file: File = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Files only the current Windows user can open. A file created in the profile would inherit
/// the profile's ACL (SYSTEM, Administrators and the user); this one gets a protected DACL
/// (no inherited entries) with a single entry, the user with full access, at creation.
#[cfg(windows)]
mod owner_only {
    use std::fs::File;
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    use std::path::Path;
    use std::ptr::null_mut;
    use windows_sys::Win32::Foundation::{GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, AddAccessAllowedAce, GetLengthSid, GetTokenInformation, InitializeAcl,
        InitializeSecurityDescriptor, PSID, SE_DACL_PROTECTED, SECURITY_ATTRIBUTES, SECURITY_DESCRIPTOR,
        SetSecurityDescriptorControl, SetSecurityDescriptorDacl, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::{CREATE_NEW, CreateFileW, FILE_ALL_ACCESS, FILE_ATTRIBUTE_NORMAL};
    use windows_sys::Win32::System::SystemServices::SECURITY_DESCRIPTOR_REVISION;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    fn check(ok: i32) -> io::Result<()> {
        if ok == 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// The process token's TOKEN_USER (which holds the user's SID), in pointer-aligned storage.
    pub struct CurrentUser(Vec<usize>);

    impl CurrentUser {
        pub fn get() -> io::Result<CurrentUser> {
            let mut token: HANDLE = null_mut();
            // SAFETY: the pseudo handle of this process and an out pointer to a local.
            check(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) })?;
            // SAFETY: OpenProcessToken succeeded: a fresh handle nothing else owns.
            let token = unsafe { OwnedHandle::from_raw_handle(token) };
            let mut len = 0;
            // SAFETY: a null buffer asks for the size only; the call "fails" by design.
            unsafe { GetTokenInformation(token.as_raw_handle(), TokenUser, null_mut(), 0, &mut len) };
            let mut buf = vec![0usize; (len as usize).div_ceil(size_of::<usize>()).max(1)];
            // SAFETY: `buf` holds at least `len` writable, pointer-aligned bytes.
            check(unsafe {
                GetTokenInformation(token.as_raw_handle(), TokenUser, buf.as_mut_ptr().cast(), len, &mut len)
            })?;
            Ok(CurrentUser(buf))
        }

        pub fn sid(&self) -> PSID {
            // SAFETY: the buffer starts with the TOKEN_USER that GetTokenInformation wrote; its
            // SID points into the same buffer, which lives as long as `self`.
            unsafe { (*self.0.as_ptr().cast::<TOKEN_USER>()).User.Sid }
        }
    }

    /// Creates `path` (it must not exist) for writing, owner-only from the first moment.
    pub fn create_new(path: &Path) -> io::Result<File> {
        let user = CurrentUser::get()?;
        let sid = user.sid();
        // SAFETY: a valid SID from the token.
        let sid_len = unsafe { GetLengthSid(sid) } as usize;
        let acl_len = size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>() - size_of::<u32>() + sid_len;
        let mut acl_buf = vec![0usize; acl_len.div_ceil(size_of::<usize>())];
        let acl = acl_buf.as_mut_ptr().cast::<ACL>();
        // SAFETY: `acl` points to `acl_len` writable, aligned bytes; `sid` is valid.
        unsafe {
            check(InitializeAcl(acl, acl_len as u32, ACL_REVISION))?;
            check(AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, sid))?;
        }
        // SAFETY: plain data, initialised by the call below.
        let mut sd: SECURITY_DESCRIPTOR = unsafe { zeroed() };
        let psd = (&raw mut sd).cast();
        // SAFETY: `sd` and `acl` outlive every use of `psd` (the CreateFileW call).
        unsafe {
            check(InitializeSecurityDescriptor(psd, SECURITY_DESCRIPTOR_REVISION))?;
            check(SetSecurityDescriptorDacl(psd, 1, acl, 0))?;
            check(SetSecurityDescriptorControl(psd, SE_DACL_PROTECTED, SE_DACL_PROTECTED))?;
        }
        let attributes = SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: psd,
            bInheritHandle: 0,
        };
        let name: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
        // SAFETY: a NUL-terminated path and security attributes that live across the call.
        let handle = unsafe {
            CreateFileW(name.as_ptr(), GENERIC_WRITE, 0, &attributes, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, null_mut())
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: CreateFileW succeeded: a fresh handle nothing else owns.
        Ok(File::from(unsafe { OwnedHandle::from_raw_handle(handle) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("privaclaw-config-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn saves_owner_only_atomically_and_reads_back() {
        let dir = scratch_dir("save");
        let path = dir.join("cfg.json");
        fs::write(&path, "old contents").unwrap();
        let config = Config {
            device_id: "dev-1".into(),
            token: "secret \"token\"".into(),
            relay_url: "wss://relay.example".into(),
            node: Some(NodeConfig { prompt: Some(vec!["/usr/bin/llm".into(), "-q".into()]), workflows: None }),
        };
        save(&path, &config).unwrap();
        assert_eq!(load(&path).unwrap(), config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        #[cfg(windows)]
        windows_acl::assert_owner_only(&path);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["cfg.json"], "the temporary file must be gone");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_says_to_pair_first() {
        let dir = scratch_dir("missing");
        let err = load(&dir.join("nope.json")).unwrap_err();
        assert!(err.starts_with("no configuration at "), "{err}");
        assert!(err.ends_with("run with --pair CODE first"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn node_is_optional_and_its_prompt_needs_a_program() {
        let dir = scratch_dir("node");
        let path = dir.join("cfg.json");
        let base = r#""device_id":"d","token":"t","relay_url":"wss://r""#;
        fs::write(&path, format!("{{{base}}}")).unwrap();
        assert_eq!(load(&path).unwrap().node, None);
        fs::write(&path, format!(r#"{{{base},"node":{{"workflows":"/srv/wf"}}}}"#)).unwrap();
        let node = load(&path).unwrap().node.unwrap();
        assert_eq!((node.prompt, node.workflows.as_deref()), (None, Some("/srv/wf")));
        for bad in [r#"{"prompt":[]}"#, r#"{"prompt":[""]}"#, r#"{"prompt":"llm"}"#] {
            fs::write(&path, format!(r#"{{{base},"node":{bad}}}"#)).unwrap();
            assert!(load(&path).unwrap_err().contains("node"), "{bad}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_file_says_to_pair_again() {
        let dir = scratch_dir("invalid");
        let path = dir.join("cfg.json");
        fs::write(&path, r#"{"device_id":"d"}"#).unwrap();
        assert!(load(&path).unwrap_err().contains("--pair CODE"));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Reads a file's DACL back. Windows: protected, one entry, the current user. Wine keeps
    /// no DACL of its own: it derives one from the Unix mode (the user, plus SYSTEM, for
    /// 0600), so there the check is that nobody but the user and SYSTEM is in it.
    #[cfg(windows)]
    mod windows_acl {
        use super::super::owner_only::CurrentUser;
        use std::os::windows::ffi::OsStrExt;
        use std::path::Path;
        use std::ptr::null_mut;
        use windows_sys::Win32::Security::{
            ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetFileSecurityW,
            GetSecurityDescriptorControl, GetSecurityDescriptorDacl, IsWellKnownSid, SE_DACL_PROTECTED,
            WinLocalSystemSid,
        };
        use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
        use windows_sys::Win32::System::SystemServices::ACCESS_ALLOWED_ACE_TYPE;

        fn under_wine() -> bool {
            // SAFETY: NUL-terminated names; ntdll is always loaded.
            unsafe {
                GetProcAddress(GetModuleHandleA(c"ntdll.dll".as_ptr().cast()), c"wine_get_version".as_ptr().cast())
                    .is_some()
            }
        }

        pub fn assert_owner_only(path: &Path) {
            let wine = under_wine();
            let user = CurrentUser::get().unwrap();
            let name: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
            let mut len = 0;
            // SAFETY: size query with a null buffer, then a read into a large enough one.
            unsafe { GetFileSecurityW(name.as_ptr(), DACL_SECURITY_INFORMATION, null_mut(), 0, &mut len) };
            let mut sd = vec![0usize; (len as usize).div_ceil(8).max(1)];
            let psd = sd.as_mut_ptr().cast();
            // SAFETY: every pointer refers to live locals; `sd` outlives the ACE reads.
            unsafe {
                assert_ne!(GetFileSecurityW(name.as_ptr(), DACL_SECURITY_INFORMATION, psd, len, &mut len), 0);
                let (mut present, mut defaulted, mut acl): (i32, i32, *mut ACL) = (0, 0, null_mut());
                assert_ne!(GetSecurityDescriptorDacl(psd, &mut present, &mut acl, &mut defaulted), 0);
                assert!(present == 1 && !acl.is_null(), "the file must have a DACL");
                let (mut control, mut revision) = (0u16, 0u32);
                assert_ne!(GetSecurityDescriptorControl(psd, &mut control, &mut revision), 0);
                if !wine {
                    assert_ne!(control & SE_DACL_PROTECTED, 0, "the DACL must not inherit the profile's entries");
                    assert_eq!((*acl).AceCount, 1, "one entry: the user");
                }
                let mut users = 0;
                for i in 0..u32::from((*acl).AceCount) {
                    let mut ace: *mut core::ffi::c_void = null_mut();
                    assert_ne!(GetAce(acl, i, &mut ace), 0);
                    let ace = ace.cast::<ACCESS_ALLOWED_ACE>();
                    let sid = (&raw mut (*ace).SidStart).cast();
                    if EqualSid(sid, user.sid()) != 0 {
                        assert_eq!(u32::from((*ace).Header.AceType), ACCESS_ALLOWED_ACE_TYPE);
                        assert_eq!((*ace).Mask & FILE_ALL_ACCESS, FILE_ALL_ACCESS);
                        users += 1;
                    } else {
                        assert!(wine && IsWellKnownSid(sid, WinLocalSystemSid) != 0, "entry {i} is not the user");
                    }
                }
                assert_eq!(users, 1, "the user must have access");
            }
        }
    }
}
