//! Static channels: a parent connects two of its not-yet-started children
//! by name; each child later takes its end by that name (the locator's
//! Register and Connect).

use kos_abi::{Rc, Rights};

use super::Kernel;
use super::object::Object;
use super::process::StaticEnd;
use super::thread::Pid;

/// Static channel ends a process holds at most.
const MAX_STATICS: usize = 64;

impl Kernel {
    /// The channel and rights of `pid`'s static end `name` (its server end
    /// if `server`).
    pub fn static_end(&self, pid: Pid, name: &str, server: bool) -> Result<(Object, Rights), Rc> {
        let p = self.procs.get(pid).ok_or(Rc::InvalidArgument)?;
        let end = p
            .statics
            .iter()
            .find(|s| s.name == name && s.server == server)
            .ok_or(Rc::ResourceNotFound)?;
        Ok((Object::Channel(end.channel), end.rights()))
    }

    /// Make (or join) the static channel `name` from `client` to `server`.
    pub fn connect_tasks(&mut self, client: Pid, server: Pid, name: &str) -> Result<(), Rc> {
        let name_s = heapless::String::try_from(name).map_err(|_| Rc::InvalidArgument)?;
        let cp = self.procs.get(client).ok_or(Rc::InvalidArgument)?;
        if cp.statics.iter().any(|s| s.name == name_s && !s.server) {
            return Err(Rc::AlreadyExists);
        }
        if cp.statics.len() >= MAX_STATICS {
            return Err(Rc::QuotaExceeded);
        }
        let existing = self
            .procs
            .get(server)
            .and_then(|p| p.statics.iter().find(|s| s.name == name_s && s.server))
            .map(|s| s.channel);
        let channel = match existing {
            Some(c) => c,
            None => {
                let sp = self.procs.get_mut(server).ok_or(Rc::InvalidArgument)?;
                if sp.statics.len() >= MAX_STATICS {
                    return Err(Rc::QuotaExceeded);
                }
                sp.statics.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
                let id = self.create_static_channel(server)?;
                let end = StaticEnd {
                    name: name_s.clone(),
                    channel: id,
                    server: true,
                };
                let rights = end.rights();
                if let Some(sp) = self.procs.get_mut(server) {
                    sp.statics.push(end);
                }
                self.retain(Object::Channel(id), rights);
                id
            }
        };
        let cp = self.procs.get_mut(client).ok_or(Rc::InvalidArgument)?;
        cp.statics.try_reserve(1).map_err(|_| Rc::OutOfMemory)?;
        let end = StaticEnd {
            name: name_s,
            channel,
            server: false,
        };
        let rights = end.rights();
        cp.statics.push(end);
        self.retain(Object::Channel(channel), rights);
        Ok(())
    }
}
