//! The start data: what a parent hands a child before starting it, in the
//! child's environment region (`Task.SetEnv`; the child finds it at
//! start). libkos writes it when a task object is run (`KosTaskRun`) and
//! reads it at start-up: the program's arguments, its environment
//! variables, the handles transferred to it by name (`KosTaskLookupResource`),
//! its file-system backend, its class, and the endpoints of the servers its
//! static channels lead to (so it can find an endpoint's id by name).
//!
//! Layout ([`crate::wire`] encoding): [`MAGIC`], the backend (u8), the
//! class (string), then four lists, each a u16 count and its items:
//! arguments (strings), variables (`NAME=VALUE` strings), resources
//! (name, u32 handle) and endpoints (channel, name, interface, u16 id; the
//! channel is empty for the process's own endpoints). The whole is at most
//! [`crate::task::MAX_ENV`] bytes.

use crate::wire::Cursor;

/// The first bytes of start data (anything else in the environment region
/// is a raw `SetEnv` blob that libkos leaves alone).
pub const MAGIC: [u8; 4] = *b"KSD1";

/// The name of the user-space ROMFS server's channel (and its class).
pub const FSUSR: &str = "kl.core.FSUsr";

/// Who serves a process's ROMFS reads (`KosTaskRunEx`'s `fsBackend`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum FsBackend {
    /// The kernel's ROMFS (`kl.core.Romfs` on the kernel handle).
    #[default]
    Kernel = 0,
    /// fsusr, the user-space ROMFS server, over the channel [`FSUSR`].
    User = 1,
}

impl FsBackend {
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(FsBackend::Kernel),
            1 => Some(FsBackend::User),
            _ => None,
        }
    }
}

/// An endpoint of a server that a static channel leads to (or of the
/// process itself: `channel` empty).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Endpoint<'a> {
    pub channel: &'a str,
    pub name: &'a str,
    pub interface: &'a str,
    pub id: u16,
}

/// A handle a parent transferred under a name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    pub name: &'a str,
    pub handle: u32,
}

/// A list inside validated start data.
#[derive(Clone, Debug)]
struct List<'a> {
    count: u16,
    at: Cursor<'a>,
}

/// Start data, validated by [`StartData::parse`].
#[derive(Clone, Debug)]
pub struct StartData<'a> {
    pub fs: FsBackend,
    pub class: &'a str,
    args: List<'a>,
    env: List<'a>,
    resources: List<'a>,
    endpoints: List<'a>,
}

fn resource<'a>(c: &mut Cursor<'a>) -> Option<Resource<'a>> {
    Some(Resource {
        name: c.str()?,
        handle: c.u32()?,
    })
}

fn endpoint<'a>(c: &mut Cursor<'a>) -> Option<Endpoint<'a>> {
    Some(Endpoint {
        channel: c.str()?,
        name: c.str()?,
        interface: c.str()?,
        id: c.u16()?,
    })
}

/// Reads a list of `item`s, checking each; leaves `c` after it.
fn list<'a, T>(c: &mut Cursor<'a>, item: fn(&mut Cursor<'a>) -> Option<T>) -> Option<List<'a>> {
    let count = c.u16()?;
    let at = c.clone();
    for _ in 0..count {
        item(c)?;
    }
    Some(List { count, at })
}

/// The items of a validated list.
pub struct Items<'a, T> {
    left: u16,
    at: Cursor<'a>,
    item: fn(&mut Cursor<'a>) -> Option<T>,
}

impl<T> Iterator for Items<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        (self.item)(&mut self.at)
    }
}

fn string<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    c.str()
}

/// `NAME=VALUE` split at the first `=` (a name is never empty).
pub fn split_var(entry: &str) -> Option<(&str, &str)> {
    entry.split_once('=').filter(|(name, _)| !name.is_empty())
}

impl<'a> StartData<'a> {
    /// Checks `bytes` whole: `None` if they are not start data (no
    /// [`MAGIC`]) or are malformed (short, bad UTF-8, unknown backend,
    /// trailing bytes).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut c = Cursor::new(bytes);
        if c.bytes(4)? != MAGIC {
            return None;
        }
        let fs = FsBackend::from_u8(c.u8()?)?;
        let class = c.str()?;
        let args = list(&mut c, string)?;
        let env = list(&mut c, |c| c.str().filter(|e| split_var(e).is_some()))?;
        let resources = list(&mut c, resource)?;
        let endpoints = list(&mut c, endpoint)?;
        (c.remaining() == 0).then_some(StartData {
            fs,
            class,
            args,
            env,
            resources,
            endpoints,
        })
    }

    fn items<T>(&self, l: &List<'a>, item: fn(&mut Cursor<'a>) -> Option<T>) -> Items<'a, T> {
        Items {
            left: l.count,
            at: l.at.clone(),
            item,
        }
    }

    /// The arguments, in order.
    pub fn args(&self) -> Items<'a, &'a str> {
        self.items(&self.args, string)
    }

    /// The environment, as `NAME=VALUE` entries.
    pub fn env(&self) -> Items<'a, &'a str> {
        self.items(&self.env, string)
    }

    /// The value of the first variable called `name`.
    pub fn var(&self, name: &str) -> Option<&'a str> {
        self.env()
            .filter_map(split_var)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    pub fn resources(&self) -> Items<'a, Resource<'a>> {
        self.items(&self.resources, resource)
    }

    /// The handle transferred under `name`.
    pub fn resource(&self, name: &str) -> Option<u32> {
        self.resources().find(|r| r.name == name).map(|r| r.handle)
    }

    pub fn endpoints(&self) -> Items<'a, Endpoint<'a>> {
        self.items(&self.endpoints, endpoint)
    }
}

#[cfg(any(test, feature = "alloc"))]
pub use owned::*;

#[cfg(any(test, feature = "alloc"))]
mod owned {
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::{FsBackend, MAGIC};
    use crate::Rc;
    use crate::task::MAX_ENV;
    use crate::wire::Writer;

    /// An endpoint, owned (see [`super::Endpoint`]).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct EndpointSpec {
        pub channel: String,
        pub name: String,
        pub interface: String,
        pub id: u16,
    }

    /// Start data being put together by a parent.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct StartSpec {
        pub fs: FsBackend,
        pub class: String,
        pub args: Vec<String>,
        pub env: Vec<String>,
        pub resources: Vec<(String, u32)>,
        pub endpoints: Vec<EndpointSpec>,
    }

    impl StartSpec {
        /// The bytes [`super::StartData::parse`] reads back; more than
        /// [`MAX_ENV`] of them: [`Rc::MessageTooLarge`].
        pub fn encode(&self) -> Result<Vec<u8>, Rc> {
            let mut w = Writer::default();
            w.bytes.extend_from_slice(&MAGIC);
            w.u8(self.fs as u8);
            w.str(&self.class)?;
            for list in [&self.args, &self.env] {
                w.count(list.len())?;
                for s in list {
                    w.str(s)?;
                }
            }
            w.count(self.resources.len())?;
            for (name, handle) in &self.resources {
                w.str(name)?;
                w.u32(*handle);
            }
            w.count(self.endpoints.len())?;
            for e in &self.endpoints {
                w.str(&e.channel)?;
                w.str(&e.name)?;
                w.str(&e.interface)?;
                w.u16(e.id);
            }
            if w.bytes.len() > MAX_ENV {
                return Err(Rc::MessageTooLarge);
            }
            Ok(w.bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;
    use crate::Rc;

    fn spec() -> StartSpec {
        StartSpec {
            fs: FsBackend::User,
            class: "demo.Client".into(),
            args: vec!["--count".into(), "3".into(), "".into(), "ünï".into()],
            env: vec!["GREETING=hello=world".into(), "EMPTY=".into()],
            resources: vec![("log".into(), 7), ("report".into(), 9)],
            endpoints: vec![EndpointSpec {
                channel: "counter".into(),
                name: "counter".into(),
                interface: "demo.Counter".into(),
                id: 0x50,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let bytes = spec().encode().unwrap();
        let d = StartData::parse(&bytes).unwrap();
        assert_eq!(d.fs, FsBackend::User);
        assert_eq!(d.class, "demo.Client");
        assert_eq!(
            d.args().collect::<alloc::vec::Vec<_>>(),
            ["--count", "3", "", "ünï"]
        );
        assert_eq!(d.var("GREETING"), Some("hello=world"));
        assert_eq!(d.var("EMPTY"), Some(""));
        assert_eq!(d.var("MISSING"), None);
        assert_eq!(d.resource("report"), Some(9));
        assert_eq!(d.resource("nope"), None);
        let e = d.endpoints().next().unwrap();
        assert_eq!(
            (e.channel, e.interface, e.id),
            ("counter", "demo.Counter", 0x50)
        );
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let bytes = spec().encode().unwrap();
        for n in 0..bytes.len() {
            assert!(StartData::parse(&bytes[..n]).is_none(), "prefix {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StartData::parse(&longer).is_none());
        let mut bad_fs = bytes;
        bad_fs[4] = 7;
        assert!(StartData::parse(&bad_fs).is_none());
    }

    #[test]
    fn bad_variables_and_sizes() {
        let mut s = spec();
        s.env.push("=nameless".to_string());
        assert!(StartData::parse(&s.encode().unwrap()).is_none());
        let mut s = spec();
        s.args = vec!["x".repeat(5000)];
        assert_eq!(s.encode(), Err(Rc::MessageTooLarge));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x = 0x1234_5678u32;
        for len in 0..400 {
            let mut b = vec![0u8; len];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = x as u8;
            }
            if len >= 4 {
                b[..4].copy_from_slice(&MAGIC);
            }
            if let Some(d) = StartData::parse(&b) {
                let _ = d.args().count() + d.env().count() + d.endpoints().count();
            }
        }
    }
}
