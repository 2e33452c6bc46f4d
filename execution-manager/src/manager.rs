//! The processes the ExecutionManager started and their state machine
//! (docs/execution-manager.md has the diagram):
//!
//! ```text
//! StartProcess ─> Created ─> Prepared ─> Running ─┬─> Finished ─> NotExisting
//!                    │           │                └─> Failed ───> NotExisting
//!                    └───────────┴──(a step fails)─> Failed (exit_reason)
//! ```
//!
//! A process held at Created or Prepared (our `hold` option) ends with
//! StopProcess as Finished, exit status Uninitialized (it never ran). An
//! end is reported once as Finished or Failed; the kernel's process is then
//! released and later questions answer NotExisting, with the same exit
//! data. Each process is found by its token's context: its slot and the
//! slot's generation, so a token of a slot reused since is refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use libkos::abi::em::{
    ExitStatus, Options, ProcessContext, ProcessState, STOP_COOKIE, STOP_SIGNAL, StopPolicy,
    registry::Registry,
};
use libkos::abi::task::ExitStatus as TaskStatus;
use libkos::handle::OwnedHandle;
use libkos::process::{Params, Process};
use libkos::{Handle, Rc, Rights, notice, println, task};

/// Most processes tracked at once; beyond it the oldest ones already
/// NotExisting make room, else StartProcess is rcQuotaExceeded.
pub const MAX_PROCESSES: usize = 64;

/// One started process.
struct Managed {
    package: String,
    config: String,
    process: Option<Process>,
    state: ProcessState,
    exit_status: ExitStatus,
    exit_code: i64,
    exit_reason: Rc,
    parent: Option<usize>,
    stop_signal: Option<OwnedHandle>,
    stop_timeout: Duration,
    /// The ExecutionManager's own handle to the token object: it keeps the
    /// object (and so the context tokens are known by) for the slot's life.
    _token: OwnedHandle,
    generation: u32,
}

/// A start request, decoded.
pub struct Start<'a> {
    pub package: &'a str,
    pub config: &'a str,
    pub options: Options<'a>,
    /// The parent's slot, checked by the caller.
    pub parent: Option<usize>,
    /// The user handles (this process's copies), in the names' order.
    pub handles: &'a [Handle],
}

pub struct Manager {
    registry: Registry<'static>,
    slots: Vec<Option<Managed>>,
    next_generation: u32,
    /// A client has asked for a start (autorun starts do not count).
    client_started: bool,
}

/// The token context of slot `i` in generation `g` (never 0: the kernel
/// says 0 for user objects of other processes).
fn context(i: usize, g: u32) -> u64 {
    (u64::from(g) << 32) | (i as u64 + 1)
}

impl Manager {
    pub fn new(registry: Registry<'static>) -> Manager {
        Manager {
            registry,
            slots: Vec::new(),
            next_generation: 1,
            client_started: false,
        }
    }

    pub fn registry(&self) -> &Registry<'static> {
        &self.registry
    }

    /// The slot a token context names, if it is still that process's.
    pub fn slot_of(&self, ctx: u64) -> Option<usize> {
        let i = usize::try_from(ctx & 0xffff_ffff).ok()?.checked_sub(1)?;
        let m = self.slots.get(i)?.as_ref()?;
        (m.generation == (ctx >> 32) as u32).then_some(i)
    }

    fn managed(&mut self, i: usize) -> &mut Managed {
        self.slots[i].as_mut().expect("slot checked by slot_of")
    }

    /// A free slot: an empty one, else the oldest NotExisting one.
    fn free_slot(&mut self) -> Result<usize, Rc> {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            return Ok(i);
        }
        if self.slots.len() < MAX_PROCESSES {
            self.slots.push(None);
            return Ok(self.slots.len() - 1);
        }
        let done = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.as_ref()
                    .is_some_and(|m| m.state == ProcessState::NotExisting)
            })
            .min_by_key(|(_, m)| m.as_ref().map_or(0, |m| m.generation))
            .map(|(i, _)| i)
            .ok_or(Rc::QuotaExceeded)?;
        self.slots[done] = None;
        Ok(done)
    }

    /// StartProcess: the new slot and the token object (this process's
    /// handle; the caller sends the client a copy). A start that fails
    /// after the package and configuration were found still has a slot:
    /// Failed, with the reason.
    pub fn start(&mut self, s: &Start<'_>) -> Result<(usize, Handle), Rc> {
        let package = self
            .registry
            .package(s.package)
            .ok_or(Rc::ResourceNotFound)?;
        let config = package.config(s.config).ok_or(Rc::ResourceNotFound)?;
        if s.options.names().count() != s.handles.len() {
            return Err(Rc::InvalidArgument);
        }
        let i = self.free_slot()?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let token = OwnedHandle::new(libkos::user_object::create(
            context(i, generation),
            libkos::abi::em::TOKEN_RIGHTS,
        )?);
        let h = token.get();
        self.slots[i] = Some(Managed {
            package: String::from(package.id),
            config: String::from(config.id),
            process: None,
            state: ProcessState::None,
            exit_status: ExitStatus::Uninitialized,
            exit_code: 0,
            exit_reason: Rc::Ok,
            parent: s.parent,
            stop_signal: None,
            stop_timeout: Duration::from_millis(u64::from(config.stop_timeout_ms)),
            _token: token,
            generation,
        });
        if let Err(rc) = self.bring_up(i, s, &config) {
            let m = self.managed(i);
            println!(
                "execution-manager: {}/{}: start failed: {rc}",
                m.package, m.config
            );
            m.process = None;
            m.state = ProcessState::Failed;
            m.exit_status = ExitStatus::Uninitialized;
            m.exit_reason = rc;
        }
        Ok((i, h))
    }

    /// Created, Prepared, Running, as far as the options hold it.
    fn bring_up(
        &mut self,
        i: usize,
        s: &Start<'_>,
        config: &libkos::abi::em::registry::RunConfig<'_>,
    ) -> Result<(), Rc> {
        let mut args: Vec<&str> = config.args().collect();
        args.extend(s.options.args());
        let mut env: Vec<&str> = config.env().collect();
        env.extend(s.options.env());
        let name = self.process_name(i, config.id);
        let p = Process::init_ex(&Params::new(config.eiid), Some(&name), Some(config.path))?;
        self.managed(i).process = Some(p.clone());
        self.managed(i).state = ProcessState::Created;
        if s.options.hold == ProcessState::Created {
            return Ok(());
        }
        p.set_args(&args)?;
        p.set_env(&env)?;
        for (name, h) in s.options.names().zip(s.handles) {
            let rights = Rights::from_bits_retain(libkos::handle::identify(*h)?.rights);
            p.transfer_resource(*h, None, rights, name)?;
        }
        let signal = OwnedHandle::new(notice::create()?);
        p.transfer_resource(signal.get(), None, Rights::READ_EVENTS, STOP_SIGNAL)?;
        self.managed(i).stop_signal = Some(signal);
        self.managed(i).state = ProcessState::Prepared;
        if s.options.hold == ProcessState::Prepared {
            return Ok(());
        }
        p.run()?;
        self.managed(i).state = ProcessState::Running;
        Ok(())
    }

    /// A process name unique in the system:
    /// `<config>.em<ExecutionManager's pid>.<slot>.<generation>`.
    fn process_name(&self, i: usize, config: &str) -> String {
        let g = self.slots[i].as_ref().map_or(0, |m| m.generation);
        let me = task::get_pid(Handle::SELF_TASK).unwrap_or(0);
        let mut n = String::from(config);
        n.truncate(32);
        n.push_str(&alloc::format!(".em{me}.{i}.{g}"));
        n
    }

    /// Notes the end of a running process, if it has ended.
    fn refresh(&mut self, i: usize) {
        let m = self.managed(i);
        if m.state != ProcessState::Running {
            return;
        }
        let Some(p) = &m.process else { return };
        let Ok(info) = task::get_exit_info(p.handle()) else {
            return;
        };
        match task::status(&info) {
            Some(TaskStatus::Running) | None => {}
            Some(TaskStatus::Normal) => {
                m.state = ProcessState::Finished;
                m.exit_status = ExitStatus::Normal;
                m.exit_code = info.code;
            }
            Some(TaskStatus::Terminated) => {
                m.state = ProcessState::Finished;
                m.exit_status = ExitStatus::Terminated;
            }
            Some(TaskStatus::Exception) | Some(TaskStatus::Frozen) => {
                // A frozen one is of no use to anyone here: let it go.
                let _ = task::terminate_after_freezing(p.handle());
                m.state = ProcessState::Failed;
                m.exit_status = ExitStatus::Unexpected;
            }
        }
    }

    /// The state as last recorded (no look at the process, no release):
    /// what a start left it in, even if it has ended since.
    pub fn recorded(&mut self, i: usize) -> ProcessState {
        self.managed(i).state
    }

    /// GetProcessState. An end is answered once as Finished or Failed;
    /// then the process is released and the state is NotExisting.
    pub fn state(&mut self, i: usize) -> ProcessContext {
        self.refresh(i);
        let m = self.managed(i);
        let ctx = ProcessContext {
            state: m.state as u32,
            exit_status: m.exit_status as u32,
            exit_code: m.exit_code,
            exit_reason: m.exit_reason as u32,
            _reserved: 0,
        };
        if matches!(m.state, ProcessState::Finished | ProcessState::Failed) {
            m.process = None;
            m.stop_signal = None;
            m.state = ProcessState::NotExisting;
        }
        ctx
    }

    /// StopProcess: its children first, then it.
    pub fn stop(&mut self, i: usize, policy: StopPolicy) -> Result<(), Rc> {
        let children: Vec<usize> = (0..self.slots.len())
            .filter(|&c| c != i && self.slots[c].as_ref().is_some_and(|m| m.parent == Some(i)))
            .collect();
        for c in children {
            self.stop(c, policy)?;
        }
        self.refresh(i);
        let m = self.managed(i);
        let Some(p) = m.process.clone() else {
            return Ok(());
        };
        let (state, timeout) = (m.state, m.stop_timeout);
        let signal = m.stop_signal.as_ref().map(OwnedHandle::get);
        match state {
            ProcessState::Created | ProcessState::Prepared => {
                // It never ran.
                let _ = p.stop_and_wait(Duration::from_secs(5));
                let m = self.managed(i);
                m.state = ProcessState::Finished;
                m.exit_status = ExitStatus::Uninitialized;
            }
            ProcessState::Running => {
                if policy == StopPolicy::Normal
                    && let Some(signal) = signal
                {
                    // Asked first; made to after its stop timeout.
                    let _ = notice::signal(signal, STOP_COOKIE);
                    if p.wait(timeout).is_ok() {
                        self.refresh(i);
                        return Ok(());
                    }
                }
                p.stop_and_wait(Duration::from_secs(5))?;
                self.refresh(i);
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether every process started has ended (for `--until-idle`).
    pub fn all_ended(&mut self) -> bool {
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.refresh(i);
            }
        }
        self.slots.iter().flatten().all(|m| {
            !matches!(
                m.state,
                ProcessState::Created | ProcessState::Prepared | ProcessState::Running
            )
        })
    }

    /// Notes that a client asked for a start.
    pub fn client_started(&mut self) {
        self.client_started = true;
    }

    /// Whether a client ever asked for a start.
    pub fn served_a_client(&self) -> bool {
        self.client_started
    }

    /// Stops everything still alive (the ExecutionManager is ending).
    pub fn stop_all(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                let _ = self.stop(i, StopPolicy::Forced);
            }
        }
    }
}
