//! Processes the way KasperskyOS's `task.h` makes them: a task object that
//! a parent creates from parameters ([`Params`]), wires (static channels,
//! handles by name, arguments, variables) and runs; the child finds what it
//! was given with [`crate::env`], [`lookup_resource`] and
//! [`crate::locator`]. `docs/task-api.md` maps each `KosTask*` function to
//! its equivalent here.
//!
//! A [`Process`] is reference-counted: cloning it is `KosTaskGetSelf`'s
//! extra reference, dropping it is `KosTaskPut`; the last reference closes
//! the Task handle, and the kernel object goes when its last handle does.
//! What the parent gives is collected in the object and handed over as
//! start data ([`kos_abi::startup`]) when it runs. The low-level calls are
//! [`crate::task`]'s.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};
use core::time::Duration;

use kos_abi::decl::ComponentDecl;
use kos_abi::sched::DEFAULT_PRIORITY;
use kos_abi::startup::{EndpointSpec, FSUSR, FsBackend, StartSpec, split_var};
use kos_abi::task::{Budget, CreateFlags, ExitInfo, ExitStatus, FaultKind, MAX_NAME, MAX_PATH};
use kos_abi::vm::VmPerms;
use kos_abi::{Handle, Rc, Rights};

use crate::elf;
use crate::lock::Lock;
use crate::task::{self, SegLoad};

/// Wait without a time limit (`INFINITE_TIMEOUT`).
pub const INFINITE: Duration = Duration::MAX;

/// An endpoint a process provides (`if_connection.h`'s structure): its
/// name, the interface it serves and the interface's endpoint id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub interface: String,
    pub id: u16,
}

impl Endpoint {
    pub fn new(name: &str, interface: &str, id: u16) -> Endpoint {
        Endpoint {
            name: name.to_string(),
            interface: interface.to_string(),
            id,
        }
    }

    /// The endpoints of a declared component, their ids from the
    /// declarations of their interfaces.
    pub fn of(component: &ComponentDecl) -> Vec<Endpoint> {
        component
            .endpoints
            .iter()
            .filter_map(|e| {
                Some(Endpoint::new(
                    e.name,
                    e.interface,
                    interface_id(e.interface)?,
                ))
            })
            .collect()
    }
}

/// The endpoint id of a declared interface or service.
pub fn interface_id(name: &str) -> Option<u16> {
    kos_abi::services::SERVICES
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.endpoint)
        .or_else(|| {
            kos_abi::interfaces::INTERFACES
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.id)
        })
}

/// The parameters of a new process (`KosTaskInit*`'s `params`): a builder.
#[derive(Clone, Debug)]
pub struct Params {
    eiid: String,
    endpoints: Vec<Endpoint>,
    args: Vec<String>,
    envs: Vec<String>,
    flags: CreateFlags,
    component: Option<&'static ComponentDecl>,
    priority: u32,
    stack_size: u64,
    rights: Option<(Rights, Rights)>,
    budget: Option<Budget>,
}

impl Params {
    /// A process of class `eiid`.
    pub fn new(eiid: &str) -> Params {
        Params {
            eiid: eiid.to_string(),
            endpoints: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            flags: CreateFlags::empty(),
            component: None,
            priority: DEFAULT_PRIORITY,
            stack_size: 0,
            rights: None,
            budget: None,
        }
    }

    /// Class and endpoints from a component declaration (`componentTree`):
    /// the class and endpoints given otherwise are then ignored.
    pub fn component(component: &'static ComponentDecl) -> Params {
        let mut p = Params::new(component.class);
        p.component = Some(component);
        p
    }

    /// An endpoint the process provides.
    pub fn endpoint(mut self, e: Endpoint) -> Params {
        self.endpoints.push(e);
        self
    }

    /// One more argument.
    pub fn arg(mut self, a: &str) -> Params {
        self.args.push(a.to_string());
        self
    }

    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Params {
        self.args.extend(args.into_iter().map(String::from));
        self
    }

    /// The variable `name` = `value`.
    pub fn env(mut self, name: &str, value: &str) -> Params {
        let mut entry = String::with_capacity(name.len() + 1 + value.len());
        entry.push_str(name);
        entry.push('=');
        entry.push_str(value);
        self.envs.push(entry);
        self
    }

    /// `Create` flags (`DUMPABLE`, `CRITICAL`; `FROM_ROMFS` is chosen by
    /// how the process is made).
    pub fn flags(mut self, flags: CreateFlags) -> Params {
        self.flags = flags;
        self
    }

    /// The initial thread's priority (default [`DEFAULT_PRIORITY`]).
    pub fn priority(mut self, priority: u32) -> Params {
        self.priority = priority;
        self
    }

    /// The rights the process will hold on itself and on the kernel, each
    /// within the creator's own (`SetInitialRights`); not given: the
    /// kernel's least-privilege defaults
    /// ([`DEFAULT_TASK_RIGHTS`](crate::abi::task::DEFAULT_TASK_RIGHTS),
    /// [`DEFAULT_KERNEL_RIGHTS`](crate::abi::task::DEFAULT_KERNEL_RIGHTS)).
    pub fn rights(mut self, task: Rights, kernel: Rights) -> Params {
        self.rights = Some((task, kernel));
        self
    }

    /// The process's budget, narrower than its class's quota
    /// (`SetBudget`); not given: its class's quota.
    pub fn budget(mut self, budget: Budget) -> Params {
        self.budget = Some(budget);
        self
    }

    /// The initial thread's stack size (0: the kernel's default).
    pub fn stack_size(mut self, bytes: u64) -> Params {
        self.stack_size = bytes;
        self
    }

    /// The class: the component's, else `eiid`.
    pub fn class(&self) -> &str {
        self.component.map_or(&self.eiid, |c| c.class)
    }

    /// The class, the name and the resolved path of a process made from
    /// these parameters (a name or path not given: the class), all checked,
    /// with the variables, before anything is created: bad input changes
    /// nothing.
    fn checked<'a>(
        &'a self,
        name: Option<&'a str>,
        path: Option<&str>,
    ) -> Result<(&'a str, &'a str, String), Rc> {
        let class = self.class();
        let name = name.unwrap_or(class);
        let path = resolve(path.unwrap_or(class));
        name_ok(class, MAX_NAME)?;
        name_ok(name, MAX_NAME)?;
        name_ok(&path, MAX_PATH)?;
        if self.envs.iter().any(|e| split_var(e).is_none()) {
            return Err(Rc::InvalidArgument);
        }
        Ok((class, name, path))
    }

    fn own_endpoints(&self) -> Vec<Endpoint> {
        match self.component {
            Some(c) => Endpoint::of(c),
            None => self.endpoints.clone(),
        }
    }
}

/// A loadable segment for [`Process::init_from_seg_ex`] (`vmm_types.h`'s
/// segment): bytes in an MDL of the caller.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub mdl: Handle,
    pub mdl_offset: u64,
    pub file_size: u64,
    pub mem_size: u64,
    /// Where it goes in the child; 0: the kernel picks (`LoadSeg` at address
    /// 0), and the address is written back here.
    pub load_addr: u64,
    pub perms: VmPerms,
}

/// A table inside one of the segments given (`symTabIndex` and
/// `symTabSize`, `strTabIndex` and `strTabSize`): the table starts at the
/// segment's `mdl_offset`. Such a segment is not loaded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub index: usize,
    pub size: u64,
}

/// What [`Process::init_from_seg_ex`] loads besides the segments.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SegExtras<'a> {
    /// `.symtab` and `.strtab` (both or neither).
    pub symbols: Option<(Table, Table)>,
    /// The ELF header (and program headers), as `LoadElfHdr` takes it.
    pub elf_header: Option<&'a [u8]>,
}

/// An image loaded in a process (`KosTaskGetElfSegs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfSegs {
    pub segments: Vec<elf::Segment>,
    /// Added to every link address.
    pub load_offset: u64,
    pub entry: u64,
    /// Sizes of `.symtab` and `.strtab` (0 if none).
    pub symtab_size: u64,
    pub strtab_size: u64,
    /// The ELF header and program headers.
    pub header: Vec<u8>,
}

/// How a process ended ([`Process::wait`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited (or returned from `main`) with this code.
    Code(i64),
    /// Another process terminated it.
    Terminated,
    /// An exception ended it.
    Fault(FaultKind),
    /// An exception froze it (`DUMPABLE`).
    Frozen(FaultKind),
}

impl Exit {
    fn of(info: &ExitInfo) -> Exit {
        match task::status(info) {
            Some(ExitStatus::Normal) => Exit::Code(info.code),
            Some(ExitStatus::Exception) => Exit::Fault(task::fault(info)),
            Some(ExitStatus::Frozen) => Exit::Frozen(task::fault(info)),
            _ => Exit::Terminated,
        }
    }

    /// The exit code, if it exited by itself.
    pub fn code(self) -> Option<i64> {
        match self {
            Exit::Code(c) => Some(c),
            _ => None,
        }
    }
}

/// What the task object collects before the process runs.
#[derive(Debug, Default)]
struct State {
    spec: StartSpec,
    /// Names of the static channels made to it as a client.
    channels: Vec<String>,
    started: bool,
    segs: Option<ElfSegs>,
}

#[derive(Debug)]
struct Object {
    handle: Handle,
    /// The process's own object: its handle is `SELF_TASK`, never closed.
    own: bool,
    pid: u64,
    name: String,
    path: String,
    state: Lock<State>,
}

impl Drop for Object {
    fn drop(&mut self) {
        if !self.own {
            let _ = task::close_handle(self.handle);
        }
    }
}

/// A task object (`KosTask`): a process and what it is given before it
/// runs. Clones share it; the last one dropped closes the Task handle.
#[derive(Clone, Debug)]
pub struct Process(Arc<Object>);

/// This process's own object, made on first use from its start data.
static SELF: Lock<Option<Arc<Object>>> = Lock::new(None);

fn name_ok(s: &str, max: usize) -> Result<(), Rc> {
    if s.is_empty() || s.len() > max {
        Err(Rc::InvalidArgument)
    } else {
        Ok(())
    }
}

/// A path without `/` names a program in `/bin`.
fn resolve(path: &str) -> String {
    if path.contains('/') {
        path.to_string()
    } else {
        let mut p = String::from("/bin/");
        p.push_str(path);
        p
    }
}

impl Process {
    fn object(&self) -> &Object {
        &self.0
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.0.state.with(f)
    }

    /// The object of a child just created (`params`' variables were
    /// checked before it was).
    /// A process just created from `params`, given the rights and budget
    /// they say (closed again if it cannot be).
    fn wrap_created(
        handle: Handle,
        name: &str,
        path: &str,
        params: &Params,
    ) -> Result<Process, Rc> {
        let p = Process::wrap(handle, name, path, params);
        if let Some((task_rights, kernel_rights)) = params.rights {
            task::set_initial_rights(handle, task_rights, kernel_rights)?;
        }
        if let Some(budget) = params.budget {
            task::set_budget(handle, budget)?;
        }
        Ok(p)
    }

    fn wrap(handle: Handle, name: &str, path: &str, params: &Params) -> Process {
        let pid = task::get_pid(handle).unwrap_or(0);
        let mut spec = StartSpec {
            class: params.class().to_string(),
            args: params.args.clone(),
            ..StartSpec::default()
        };
        spec.env = params.envs.clone();
        spec.endpoints = params
            .own_endpoints()
            .into_iter()
            .map(|e| EndpointSpec {
                channel: String::new(),
                name: e.name,
                interface: e.interface,
                id: e.id,
            })
            .collect();
        Process(Arc::new(Object {
            handle,
            own: false,
            pid,
            name: name.to_string(),
            path: path.to_string(),
            state: Lock::new(State {
                spec,
                ..State::default()
            }),
        }))
    }

    /// `KosTaskInit`: a process of `params`'s class, named after it, from
    /// the executable of that name (`/bin/<class>`).
    pub fn init(params: &Params) -> Result<Process, Rc> {
        Process::init_ex(params, None, None)
    }

    /// `KosTaskInitEx`: a process called `name` from the executable at
    /// `path` (a ROMFS path; without `/`, a file of `/bin`); either absent:
    /// the class. It is loaded through this process's file-system backend
    /// ([`self_fs_backend`]): by the kernel from its ROMFS, or by libkos
    /// from fsusr's. It does not run until [`Process::run`].
    pub fn init_ex(params: &Params, name: Option<&str>, path: Option<&str>) -> Result<Process, Rc> {
        let (class, name, path) = params.checked(name, path)?;
        let flags = params.flags - CreateFlags::FROM_ROMFS;
        match self_fs_backend() {
            FsBackend::Kernel => {
                let c = task::create(
                    name,
                    class,
                    &path,
                    params.stack_size,
                    params.priority,
                    flags | CreateFlags::FROM_ROMFS,
                )?;
                Process::wrap_created(c.handle, name, &path, params)
            }
            FsBackend::User => {
                let file = crate::romfs::read_to_vec(&path)?;
                let image = elf::prepare(&file, seed())?;
                let c = task::create(
                    name,
                    class,
                    &path,
                    params.stack_size,
                    params.priority,
                    flags,
                )?;
                // From here on the child is closed with the object on error.
                let p = Process::wrap_created(c.handle, name, &path, params)?;
                let t = task::Task::from_handle(c.handle);
                let loaded = elf::load(&t, &file, &image);
                let _ = t.into_handle();
                loaded?;
                p.with(|s| s.segs = Some(segs_of(&file, &image)));
                Ok(p)
            }
        }
    }

    /// `KosTaskInitFromSegEx`: a process called `name` (absent: the class)
    /// from segments already in MDLs (as [`elf::prepare`], the
    /// `KnElfCreateVmSegEx` equivalent, lists them), its entry point and
    /// load offset `reloc_base`, and optionally its symbol tables and ELF
    /// header. `path` is what `GetPath` will say (absent: the class); the
    /// monitor is shown no path, since the caller loads the code.
    pub fn init_from_seg_ex(
        params: &Params,
        name: Option<&str>,
        path: Option<&str>,
        segs: &mut [Seg],
        reloc_base: u64,
        entry: u64,
        extras: SegExtras<'_>,
    ) -> Result<Process, Rc> {
        let (class, name, path) = params.checked(name, path)?;
        let tables = extras.symbols.map(|(s, t)| [s.index, t.index]);
        if let Some(idx) = tables
            && idx.iter().any(|&i| i >= segs.len())
        {
            return Err(Rc::InvalidArgument);
        }
        let c = task::create(
            name,
            class,
            &path,
            params.stack_size,
            params.priority,
            params.flags - CreateFlags::FROM_ROMFS,
        )?;
        let p = Process::wrap_created(c.handle, name, &path, params)?;
        let h = c.handle;
        let mut loaded = Vec::new();
        for (i, s) in segs.iter_mut().enumerate() {
            if tables.is_some_and(|t| t.contains(&i)) {
                continue;
            }
            // Address 0: the kernel picks one, written back.
            let at = task::load_seg(
                h,
                &SegLoad {
                    mdl: s.mdl,
                    perms: s.perms,
                    vaddr: s.load_addr,
                    mem_size: s.mem_size,
                    mdl_offset: s.mdl_offset,
                    file_size: s.file_size,
                },
            )?;
            if s.load_addr == 0 {
                s.load_addr = at;
            }
            loaded.push(elf::Segment {
                vaddr: s.load_addr,
                mem_size: s.mem_size,
                file_size: s.file_size,
                file_offset: s.mdl_offset,
                perms: s.perms,
            });
        }
        let mut sizes = (0, 0);
        if let Some((sym, strs)) = extras.symbols {
            let (a, b) = (segs[sym.index], segs[strs.index]);
            task::load_elf_syms_from(
                h,
                (a.mdl, a.mdl_offset, sym.size),
                (b.mdl, b.mdl_offset, strs.size),
            )?;
            sizes = (sym.size, strs.size);
        }
        let mut header = Vec::new();
        if let Some(hdr) = extras.elf_header {
            let m = elf::mdl_with(hdr)?;
            task::load_elf_hdr(h, m.get(), 0, hdr.len() as u64)?;
            // GetElfSegs gives what the kernel keeps for the process.
            header = task::get_elf_hdr(h)?;
        }
        task::set_entry(h, entry, reloc_base)?;
        p.with(|s| {
            s.segs = Some(ElfSegs {
                segments: loaded,
                load_offset: reloc_base,
                entry,
                symtab_size: sizes.0,
                strtab_size: sizes.1,
                header,
            });
        });
        Ok(p)
    }

    /// `KosTaskInitFromSeg`: [`Process::init_from_seg_ex`] without symbol
    /// tables or header, at load offset 0, its path the class.
    pub fn init_from_seg(
        params: &Params,
        name: Option<&str>,
        segs: &mut [Seg],
        entry: u64,
    ) -> Result<Process, Rc> {
        Process::init_from_seg_ex(params, name, None, segs, 0, entry, SegExtras::default())
    }

    /// `KosTaskLaunch`: [`Process::init`], [`Process::run`], and the task
    /// object let go (the process runs on; its PID is returned).
    pub fn launch(params: &Params) -> Result<u64, Rc> {
        let p = Process::init(params)?;
        p.run()?;
        Ok(p.pid())
    }

    /// `KosTaskGetSelf`: this process's own task object (its arguments,
    /// variables and endpoints as its parent gave them).
    pub fn current() -> Process {
        let obj = SELF.with(|s| {
            s.get_or_insert_with(|| {
                let mut spec = StartSpec::default();
                if let Some(d) = crate::rt::start_data() {
                    spec.fs = d.fs;
                    spec.class = d.class.to_string();
                    spec.args = d.args().map(String::from).collect();
                    spec.env = d.env().map(String::from).collect();
                    spec.resources = d.resources().map(|r| (r.name.into(), r.handle)).collect();
                    spec.endpoints = d
                        .endpoints()
                        .map(|e| EndpointSpec {
                            channel: e.channel.into(),
                            name: e.name.into(),
                            interface: e.interface.into(),
                            id: e.id,
                        })
                        .collect();
                }
                Arc::new(Object {
                    handle: Handle::SELF_TASK,
                    own: true,
                    pid: task::get_pid(Handle::SELF_TASK).unwrap_or(0),
                    // Its name in the kernel (the program's, if the policy
                    // does not let it ask).
                    name: task::get_name(Handle::SELF_TASK)
                        .unwrap_or_else(|_| crate::rt::program_name().to_string()),
                    path: String::new(),
                    state: Lock::new(State {
                        spec,
                        started: true,
                        ..State::default()
                    }),
                })
            })
            .clone()
        });
        Process(obj)
    }

    /// `KosTaskGetHandle`: the Task handle (owned by the object).
    pub fn handle(&self) -> Handle {
        self.object().handle
    }

    pub fn pid(&self) -> u64 {
        self.object().pid
    }

    pub fn name(&self) -> &str {
        &self.object().name
    }

    /// The ROMFS path it was made from.
    pub fn path(&self) -> &str {
        &self.object().path
    }

    /// Its class (the component's, else the `eiid`).
    pub fn class(&self) -> String {
        self.with(|s| s.spec.class.clone())
    }

    /// Whether it was started (through this object).
    pub fn started(&self) -> bool {
        self.with(|s| s.started)
    }

    /// Runs `f` on the state of a not-yet-started process.
    fn before_start<R>(&self, f: impl FnOnce(&mut State) -> Result<R, Rc>) -> Result<R, Rc> {
        self.with(|s| if s.started { Err(Rc::Busy) } else { f(s) })
    }

    /// `KosTaskGetElfSegs`: the image loaded in the process: its segments,
    /// load offset, symbol table sizes and headers. For a process the
    /// kernel loaded, read again from its ROMFS file.
    pub fn elf_segs(&self) -> Result<ElfSegs, Rc> {
        if let Some(s) = self.with(|s| s.segs.clone()) {
            return Ok(s);
        }
        if self.object().own || self.path().is_empty() {
            return Err(Rc::NotSupported);
        }
        let file = crate::romfs::read_to_vec(self.path())?;
        let syms = task::get_elf_syms(self.handle())?;
        let _ = task::close_handle(syms.mdl);
        let image = elf::prepare_at(&file, syms.load_offset)?;
        let segs = segs_of(&file, &image);
        self.with(|s| s.segs = Some(segs.clone()));
        Ok(segs)
    }

    /// `KosTaskSetArgs`: the program's arguments (replacing any set
    /// before; the child reads them with [`crate::env::args`]).
    pub fn set_args(&self, args: &[&str]) -> Result<(), Rc> {
        self.before_start(|s| {
            s.spec.args = args.iter().map(|a| a.to_string()).collect();
            Ok(())
        })
    }

    /// `KosTaskGetArgsList`: the arguments (dropping the list is
    /// `KosTaskFreeArgsList`).
    pub fn args_list(&self) -> Vec<String> {
        self.with(|s| s.spec.args.clone())
    }

    /// `KosTaskSetEnv`: the variables, each `NAME=VALUE` (replacing any
    /// set before; the child reads them with [`crate::env::var`]). An
    /// entry without `=` or with an empty name: [`Rc::InvalidArgument`],
    /// and nothing changes.
    pub fn set_env(&self, envs: &[&str]) -> Result<(), Rc> {
        if envs.iter().any(|e| split_var(e).is_none()) {
            return Err(Rc::InvalidArgument);
        }
        self.before_start(|s| {
            s.spec.env = envs.iter().map(|e| e.to_string()).collect();
            Ok(())
        })
    }

    /// `KosTaskGetEnvList`: the variables as `NAME=VALUE` (dropping the
    /// list is `KosTaskFreeEnvList`).
    pub fn env_list(&self) -> Vec<String> {
        self.with(|s| s.spec.env.clone())
    }

    /// `KosTaskAddEndpoints`: endpoints it provides (clients connected to it
    /// afterwards learn them).
    pub fn add_endpoints(&self, endpoints: &[Endpoint]) -> Result<(), Rc> {
        self.with(|s| {
            for e in endpoints {
                s.spec.endpoints.push(EndpointSpec {
                    channel: String::new(),
                    name: e.name.clone(),
                    interface: e.interface.clone(),
                    id: e.id,
                });
            }
        });
        Ok(())
    }

    /// `KosTaskSetComponentTree`: its class and endpoints from a component
    /// declaration (for a server with no parent, on its own object; the
    /// class of a started process does not change in the kernel).
    pub fn set_component_tree(&self, component: &'static ComponentDecl) -> Result<(), Rc> {
        let endpoints = Endpoint::of(component);
        self.with(|s| {
            s.spec.class = component.class.to_string();
            s.spec.endpoints.retain(|e| !e.channel.is_empty());
        });
        self.add_endpoints(&endpoints)
    }

    /// This process's own endpoints.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.with(|s| {
            s.spec
                .endpoints
                .iter()
                .filter(|e| e.channel.is_empty())
                .map(|e| Endpoint::new(&e.name, &e.interface, e.id))
                .collect()
        })
    }

    /// `KosTaskTransferResource`: gives the not-started process a
    /// descendant of `handle` with `rights` (and `badge`, a Badge handle),
    /// found there by `name` with [`lookup_resource`]. A name already
    /// given: [`Rc::AlreadyExists`].
    pub fn transfer_resource(
        &self,
        handle: Handle,
        badge: Option<Handle>,
        rights: Rights,
        name: &str,
    ) -> Result<(), Rc> {
        name_ok(name, MAX_NAME)?;
        self.before_start(|s| {
            if s.spec.resources.iter().any(|(n, _)| n == name) {
                return Err(Rc::AlreadyExists);
            }
            let there = task::transfer_handle(self.handle(), handle, rights, badge)?;
            s.spec.resources.push((name.to_string(), there.0));
            Ok(())
        })
    }

    /// `KosTaskRun`: starts it with the kernel's ROMFS as its backend.
    pub fn run(&self) -> Result<(), Rc> {
        self.run_ex(FsBackend::Kernel)
    }

    /// `KosTaskRunEx`: starts it; its ROMFS reads go to `fs`. With
    /// [`FsBackend::User`] it needs a channel to fsusr: a static one named
    /// [`FSUSR`], else this process's own fsusr channel is passed on as a
    /// resource of that name ([`Rc::ResourceNotFound`] if it has none).
    pub fn run_ex(&self, fs: FsBackend) -> Result<(), Rc> {
        self.before_start(|s| {
            if fs == FsBackend::User
                && !s.channels.iter().any(|c| c == FSUSR)
                && !s.spec.resources.iter().any(|(n, _)| n == FSUSR)
            {
                let mine = crate::romfs::fsusr_channel().ok_or(Rc::ResourceNotFound)?;
                let rights = Rights::CLIENT | Rights::COPY | Rights::TRANSFER;
                let there = task::transfer_handle(self.handle(), mine, rights, None)?;
                s.spec.resources.push((FSUSR.to_string(), there.0));
            }
            s.spec.fs = fs;
            let data = s.spec.encode()?;
            task::set_env(self.handle(), &data)?;
            task::resume(self.handle())?;
            s.started = true;
            Ok(())
        })
    }

    /// `KosTaskStop`: terminates it (one that has ended already:
    /// [`Rc::Busy`]).
    pub fn stop(&self) -> Result<(), Rc> {
        task::terminate(self.handle())
    }

    /// `KosTaskStopAndWait`: terminates it and waits (at most `timeout`,
    /// [`INFINITE`] for no limit) until it has ended ([`Rc::Timeout`]); one
    /// that has ended already is what it waits for.
    pub fn stop_and_wait(&self, timeout: Duration) -> Result<(), Rc> {
        match self.stop() {
            Ok(()) => {}
            Err(Rc::Busy) if self.wait(Duration::ZERO).is_ok() => return Ok(()),
            Err(e) => return Err(e),
        }
        self.wait(timeout).map(drop)
    }

    /// `KosTaskWait`: waits (at most `timeout`, [`INFINITE`] for no limit;
    /// else [`Rc::Timeout`]) until it ends; how it ended (the exit code is
    /// [`Exit::code`]).
    pub fn wait(&self, timeout: Duration) -> Result<Exit, Rc> {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(task::FOREVER);
        task::wait(self.handle(), ns).map(|i| Exit::of(&i))
    }
}

/// `KosTaskConnect`: a static channel from `client` to `server` named after
/// the server's class (both not started yet, else [`Rc::Busy`]).
pub fn connect(client: &Process, server: &Process) -> Result<(), Rc> {
    connect_to_service(client, server, &server.class())
}

/// `KosTaskConnectToService`: a static channel called `name` from `client`
/// to `server` (both not started yet). Several names may link one client
/// and one server; one name may link several clients to one server. The
/// client learns the server's endpoints under the channel's name
/// ([`crate::locator::endpoint_id`]).
pub fn connect_to_service(client: &Process, server: &Process, name: &str) -> Result<(), Rc> {
    name_ok(name, kos_abi::msg::locator::MAX_NAME)?;
    if client.started() || server.started() {
        return Err(Rc::Busy);
    }
    crate::locator::connect_tasks(client.handle(), server.handle(), name)?;
    let endpoints = server.endpoints();
    client.with(|s| {
        if !s.channels.iter().any(|c| c == name) {
            s.channels.push(name.to_string());
            s.spec
                .endpoints
                .extend(endpoints.into_iter().map(|e| EndpointSpec {
                    channel: name.to_string(),
                    name: e.name,
                    interface: e.interface,
                    id: e.id,
                }));
        }
    });
    Ok(())
}

/// `KosTaskLookupResource`: the handle the parent transferred under
/// `name` ([`Rc::ResourceNotFound`] if none).
pub fn lookup_resource(name: &str) -> Result<Handle, Rc> {
    crate::rt::start_data()
        .and_then(|d| d.resource(name))
        .map(Handle)
        .ok_or(Rc::ResourceNotFound)
}

const BACKEND_UNSET: u8 = u8::MAX;
static BACKEND: AtomicU8 = AtomicU8::new(BACKEND_UNSET);

/// `KosTaskSetSelfFSBackend`: where this process's ROMFS reads go from now
/// on (and what [`Process::init_ex`] loads executables through).
pub fn set_self_fs_backend(fs: FsBackend) {
    BACKEND.store(fs as u8, Ordering::Relaxed);
}

/// `KosTaskGetSelfFSBackend`: where this process's ROMFS reads go (at
/// start: what the parent chose with [`Process::run_ex`]).
pub fn self_fs_backend() -> FsBackend {
    match FsBackend::from_u8(BACKEND.load(Ordering::Relaxed)) {
        Some(fs) => fs,
        None => crate::rt::start_data().map_or(FsBackend::Kernel, |d| d.fs),
    }
}

/// A seed for a load offset: the clock and the PID (user space has no
/// entropy source of its own yet).
fn seed() -> u64 {
    let pid = task::get_pid(Handle::SELF_TASK).unwrap_or(0);
    crate::time::now_ns() ^ pid.rotate_left(32)
}

/// The [`ElfSegs`] of `image` (parsed from `file`).
fn segs_of(file: &[u8], image: &elf::Image) -> ElfSegs {
    let size = |r: Option<(u64, u64)>| r.map_or(0, |(_, s)| s);
    ElfSegs {
        segments: image.segments.clone(),
        load_offset: image.load_offset,
        entry: image.entry,
        symtab_size: size(image.symtab),
        strtab_size: size(image.strtab),
        header: file
            .get(..image.header_size as usize)
            .unwrap_or_default()
            .to_vec(),
    }
}
