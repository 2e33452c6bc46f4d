//! The ExecutionManager's types (`IProcessControl`, KasperskyOS's
//! `alm/execution_manager`): process states, exit statuses, stop policies,
//! the access token's rights, the StartOptions record and the compiled
//! package registry (`/etc/packages`, written by xtask from the packages'
//! manifests, read by the ExecutionManager).
//!
//! Records use the [`crate::wire`] encoding.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::Rights;
use crate::wire::Cursor;

/// The state of a process the ExecutionManager started.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ProcessState {
    /// Service constant.
    None = 0,
    /// Created, not yet given its arguments, variables and handles.
    Created = 1,
    /// Created and wired, not running.
    Prepared = 2,
    Running = 3,
    /// It ended unexpectedly (an unhandled exception), or its start failed
    /// (`exit_reason`).
    Failed = 4,
    /// It ended; its data is kept for `GetProcessState`.
    Finished = 5,
    /// It ended and its process is gone from the system (its end was
    /// reported once); the end's data is still answered.
    NotExisting = 6,
}

impl ProcessState {
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => ProcessState::None,
            1 => ProcessState::Created,
            2 => ProcessState::Prepared,
            3 => ProcessState::Running,
            4 => ProcessState::Failed,
            5 => ProcessState::Finished,
            6 => ProcessState::NotExisting,
            _ => return None,
        })
    }
}

/// How a process ended (`ExecutableExitStatus`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitStatus {
    /// Not started (yet) by the ExecutionManager.
    Uninitialized = 0,
    /// An unhandled exception ended it.
    Unexpected = 1,
    /// It ended by itself (also after a Normal stop's signal).
    Normal = 2,
    /// It was terminated (a Forced stop, or a Normal one that timed out).
    Terminated = 3,
}

impl ExitStatus {
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => ExitStatus::Uninitialized,
            1 => ExitStatus::Unexpected,
            2 => ExitStatus::Normal,
            3 => ExitStatus::Terminated,
            _ => return None,
        })
    }
}

/// How `StopProcess` stops.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StopPolicy {
    /// Signal the process to stop; terminate it if it has not ended after
    /// its run configuration's stop timeout.
    Normal = 0,
    /// Terminate it at once.
    Forced = 1,
}

impl StopPolicy {
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(StopPolicy::Normal),
            1 => Some(StopPolicy::Forced),
            _ => None,
        }
    }
}

/// `GetProcessState`'s answer.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ProcessContext {
    /// A [`ProcessState`] value.
    pub state: u32,
    /// An [`ExitStatus`] value.
    pub exit_status: u32,
    /// The code it exited with (status Normal).
    pub exit_code: i64,
    /// Why its start failed (an `Rc`), else rcOk.
    pub exit_reason: u32,
    pub _reserved: u32,
}

/// Rights of an access token (a user object of the ExecutionManager).
pub mod token {
    use crate::Rights;

    /// `GetProcessState`.
    pub const STATE: Rights = Rights::from_bits_retain(1 << crate::rights::GENERIC_BITS);
    /// `StopProcess`.
    pub const STOP: Rights = Rights::from_bits_retain(1 << (crate::rights::GENERIC_BITS + 1));
    /// Naming the process as the parent of another (`StartOptions.parent`).
    pub const PARENT: Rights = Rights::from_bits_retain(1 << (crate::rights::GENERIC_BITS + 2));
}

/// What a token handed to the starter carries: every token right, and it
/// may be copied (reduced), passed on and revoked.
pub const TOKEN_RIGHTS: Rights = token::STATE
    .union(token::STOP)
    .union(token::PARENT)
    .union(Rights::COPY)
    .union(Rights::TRANSFER)
    .union(Rights::REVOKE);

/// The name under which a started process finds its stop signal (a notice
/// it may wait on; `libkos::stop`).
pub const STOP_SIGNAL: &str = "kl.em.StopSignal";

/// The notice cookie of a Normal stop's signal.
pub const STOP_COOKIE: u64 = 0x5354_4f50;

/// The largest StartOptions record.
pub const MAX_OPTIONS: usize = 4096;

/// Most user handles a start may pass.
pub const MAX_USER_HANDLES: usize = 6;

/// The StartOptions record (`StartOptions` without its handles): extra
/// arguments, extra variables (`NAME=VALUE`), the user handles' names (in
/// the order of the handles sent with it) and the state to hold the
/// process in (`None`: run it; `Created` or `Prepared`: stop there, for
/// inspection; our extension).
#[derive(Clone, Debug)]
pub struct Options<'a> {
    pub hold: ProcessState,
    args: (u16, Cursor<'a>),
    env: (u16, Cursor<'a>),
    names: (u16, Cursor<'a>),
}

/// Strings of a validated list.
pub struct Strings<'a> {
    left: u16,
    at: Cursor<'a>,
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.left = self.left.checked_sub(1)?;
        self.at.str()
    }
}

fn strings<'a>(c: &mut Cursor<'a>) -> Option<(u16, Cursor<'a>)> {
    let n = c.u16()?;
    let at = c.clone();
    for _ in 0..n {
        c.str()?;
    }
    Some((n, at))
}

impl<'a> Options<'a> {
    /// Checks a whole record (`None`: malformed; an empty record means
    /// no options).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut c = Cursor::new(bytes);
        if bytes.is_empty() {
            return Some(Options {
                hold: ProcessState::None,
                args: (0, c.clone()),
                env: (0, c.clone()),
                names: (0, c),
            });
        }
        let hold = ProcessState::from_u32(u32::from(c.u8()?))?;
        if !matches!(
            hold,
            ProcessState::None | ProcessState::Created | ProcessState::Prepared
        ) {
            return None;
        }
        let args = strings(&mut c)?;
        let env = strings(&mut c)?;
        let names = strings(&mut c)?;
        let o = Options {
            hold,
            args,
            env,
            names,
        };
        let vars_ok = o.env().all(|e| crate::startup::split_var(e).is_some());
        (c.remaining() == 0 && vars_ok && usize::from(o.names.0) <= MAX_USER_HANDLES).then_some(o)
    }

    fn list(&self, l: &(u16, Cursor<'a>)) -> Strings<'a> {
        Strings {
            left: l.0,
            at: l.1.clone(),
        }
    }

    pub fn args(&self) -> Strings<'a> {
        self.list(&self.args)
    }

    pub fn env(&self) -> Strings<'a> {
        self.list(&self.env)
    }

    /// The user handles' names, in order.
    pub fn names(&self) -> Strings<'a> {
        self.list(&self.names)
    }
}

/// Encodes a StartOptions record.
#[cfg(any(test, feature = "alloc"))]
pub fn encode_options<S: AsRef<str>>(
    hold: ProcessState,
    args: &[S],
    env: &[S],
    names: &[S],
) -> Result<alloc::vec::Vec<u8>, crate::Rc> {
    let mut w = crate::wire::Writer::default();
    w.u8(hold as u8);
    for list in [args, env, names] {
        w.count(list.len())?;
        for s in list {
            w.str(s.as_ref())?;
        }
    }
    if w.bytes.len() > MAX_OPTIONS {
        return Err(crate::Rc::MessageTooLarge);
    }
    Ok(w.bytes)
}

/// The compiled package registry (`/etc/packages`).
pub mod registry {
    use crate::wire::Cursor;

    pub const MAGIC: [u8; 4] = *b"KPK1";

    /// A run configuration.
    #[derive(Clone, Debug)]
    pub struct RunConfig<'a> {
        pub id: &'a str,
        pub name: &'a str,
        /// `service` or `gui`.
        pub kind: &'a str,
        pub eiid: &'a str,
        pub path: &'a str,
        pub primary: bool,
        pub autorun: bool,
        /// How long a Normal stop waits before terminating.
        pub stop_timeout_ms: u32,
        args: (u16, Cursor<'a>),
        env: (u16, Cursor<'a>),
    }

    impl<'a> RunConfig<'a> {
        pub fn args(&self) -> super::Strings<'a> {
            super::Strings {
                left: self.args.0,
                at: self.args.1.clone(),
            }
        }

        /// `NAME=VALUE` entries.
        pub fn env(&self) -> super::Strings<'a> {
            super::Strings {
                left: self.env.0,
                at: self.env.1.clone(),
            }
        }
    }

    /// A package.
    #[derive(Clone, Debug)]
    pub struct Package<'a> {
        pub id: &'a str,
        pub name: &'a str,
        pub version: &'a str,
        count: u16,
        at: Cursor<'a>,
    }

    fn config<'a>(c: &mut Cursor<'a>) -> Option<RunConfig<'a>> {
        let id = c.str()?;
        let name = c.str()?;
        let kind = c.str()?;
        let eiid = c.str()?;
        let path = c.str()?;
        let flags = c.u8()?;
        let stop_timeout_ms = c.u32()?;
        let args = super::strings(c)?;
        let env = super::strings(c)?;
        Some(RunConfig {
            id,
            name,
            kind,
            eiid,
            path,
            primary: flags & 1 != 0,
            autorun: flags & 2 != 0,
            stop_timeout_ms,
            args,
            env,
        })
    }

    fn package<'a>(c: &mut Cursor<'a>) -> Option<Package<'a>> {
        let id = c.str()?;
        let name = c.str()?;
        let version = c.str()?;
        let count = c.u16()?;
        let at = c.clone();
        for _ in 0..count {
            config(c)?;
        }
        Some(Package {
            id,
            name,
            version,
            count,
            at,
        })
    }

    impl<'a> Package<'a> {
        pub fn configs(&self) -> impl Iterator<Item = RunConfig<'a>> + use<'a> {
            let mut at = self.at.clone();
            (0..self.count).map_while(move |_| config(&mut at))
        }

        /// The run configuration `id`; an empty `id`: the primary one.
        pub fn config(&self, id: &str) -> Option<RunConfig<'a>> {
            self.configs()
                .find(|c| if id.is_empty() { c.primary } else { c.id == id })
        }
    }

    /// A validated registry.
    #[derive(Clone, Debug)]
    pub struct Registry<'a> {
        count: u16,
        at: Cursor<'a>,
    }

    impl<'a> Registry<'a> {
        pub fn parse(bytes: &'a [u8]) -> Option<Self> {
            let mut c = Cursor::new(bytes);
            if c.bytes(4)? != MAGIC {
                return None;
            }
            let count = c.u16()?;
            let at = c.clone();
            for _ in 0..count {
                package(&mut c)?;
            }
            (c.remaining() == 0).then_some(Registry { count, at })
        }

        pub fn packages(&self) -> impl Iterator<Item = Package<'a>> + use<'a> {
            let mut at = self.at.clone();
            (0..self.count).map_while(move |_| package(&mut at))
        }

        pub fn package(&self, id: &str) -> Option<Package<'a>> {
            self.packages().find(|p| p.id == id)
        }
    }

    /// A run configuration, owned, for the writer.
    #[cfg(any(test, feature = "alloc"))]
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct ConfigSpec {
        pub id: alloc::string::String,
        pub name: alloc::string::String,
        pub kind: alloc::string::String,
        pub eiid: alloc::string::String,
        pub path: alloc::string::String,
        pub primary: bool,
        pub autorun: bool,
        pub stop_timeout_ms: u32,
        pub args: alloc::vec::Vec<alloc::string::String>,
        pub env: alloc::vec::Vec<alloc::string::String>,
    }

    /// A package, owned, for the writer.
    #[cfg(any(test, feature = "alloc"))]
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct PackageSpec {
        pub id: alloc::string::String,
        pub name: alloc::string::String,
        pub version: alloc::string::String,
        pub configs: alloc::vec::Vec<ConfigSpec>,
    }

    /// The bytes [`Registry::parse`] reads back.
    #[cfg(any(test, feature = "alloc"))]
    pub fn encode(packages: &[PackageSpec]) -> Result<alloc::vec::Vec<u8>, crate::Rc> {
        let mut w = crate::wire::Writer::default();
        w.bytes.extend_from_slice(&MAGIC);
        w.count(packages.len())?;
        for p in packages {
            w.str(&p.id)?;
            w.str(&p.name)?;
            w.str(&p.version)?;
            w.count(p.configs.len())?;
            for c in &p.configs {
                for s in [&c.id, &c.name, &c.kind, &c.eiid, &c.path] {
                    w.str(s)?;
                }
                w.u8(u8::from(c.primary) | (u8::from(c.autorun) << 1));
                w.u32(c.stop_timeout_ms);
                for list in [&c.args, &c.env] {
                    w.count(list.len())?;
                    for s in list {
                        w.str(s)?;
                    }
                }
            }
        }
        Ok(w.bytes)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::registry::*;
    use super::*;

    #[test]
    fn options_round_trip_and_refusals() {
        let b = encode_options(ProcessState::Prepared, &["-v"], &["A=1"], &["log", "db"]).unwrap();
        let o = Options::parse(&b).unwrap();
        assert_eq!(o.hold, ProcessState::Prepared);
        assert_eq!(o.args().collect::<Vec<_>>(), ["-v"]);
        assert_eq!(o.names().collect::<Vec<_>>(), ["log", "db"]);
        assert!(Options::parse(&[]).is_some());
        for n in 1..b.len() {
            assert!(Options::parse(&b[..n]).is_none());
        }
        let running = encode_options::<&str>(ProcessState::Running, &[], &[], &[]).unwrap();
        assert!(
            Options::parse(&running).is_none(),
            "only Created/Prepared holds"
        );
        let bad_var = encode_options(ProcessState::None, &[], &["NOVALUE"], &[]).unwrap();
        assert!(Options::parse(&bad_var).is_none());
        let seven = ["a", "b", "c", "d", "e", "f", "g"];
        let too_many = encode_options(ProcessState::None, &[], &[], &seven).unwrap();
        assert!(Options::parse(&too_many).is_none());
    }

    #[test]
    fn registry_round_trip() {
        let pkgs = vec![PackageSpec {
            id: "application.Application".into(),
            name: "Application".into(),
            version: "1.0".into(),
            configs: vec![ConfigSpec {
                id: "app".into(),
                kind: "service".into(),
                eiid: "application.Application".into(),
                path: "/pkg/app".into(),
                primary: true,
                stop_timeout_ms: 500,
                args: vec!["x".into()],
                ..Default::default()
            }],
        }];
        let b = encode(&pkgs).unwrap();
        let r = Registry::parse(&b).unwrap();
        let p = r.package("application.Application").unwrap();
        let c = p.config("").unwrap();
        assert_eq!(
            (c.id, c.primary, c.autorun, c.stop_timeout_ms),
            ("app", true, false, 500)
        );
        assert_eq!(c.args().collect::<Vec<_>>(), ["x"]);
        assert!(r.package("nope").is_none());
        for n in 0..b.len() {
            assert!(Registry::parse(&b[..n]).is_none());
        }
    }
}
