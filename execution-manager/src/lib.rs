//! The ExecutionManager's client API (KasperskyOS's
//! `alm::execution_manager::IProcessControl`), in Rust:
//!
//! ```ignore
//! let pc = ProcessControl::connect()?;
//! let token = pc.start_process("application.Application", "app", &StartOptions::default())?;
//! if pc.get_process_state(&token)?.state == ProcessState::Running {
//!     println!("Process state is Running.");
//! }
//! pc.stop_process(&token, StopPolicy::Forced)?;
//! ```
//!
//! A [`Token`] is a handle to the started process: its rights say what the
//! holder may do (`kos_abi::em::token`: STATE, STOP, PARENT). A reduced copy
//! ([`Token::reduced`]) may go to another process, which then can do only
//! that; [`Token::revoke`] takes every copy back. The protocol is the
//! `execution_manager.IProcessControl` service (`kos_abi::services`).

#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use libkos::abi::em::{self, ProcessContext as RawContext};
use libkos::handle::{self, OwnedHandle};
use libkos::services::process_control;
use libkos::{Handle, Rc, Rights, ipc, locator};

pub use libkos::abi::em::{ExitStatus, ProcessState, STOP_SIGNAL, StopPolicy, token as rights};

/// The channel name clients reach the ExecutionManager by.
pub const CHANNEL: &str = "execution_manager";

/// A handle to a process the ExecutionManager started (closed on drop).
#[derive(Debug)]
pub struct Token {
    handle: OwnedHandle,
    rights: Rights,
}

impl Token {
    /// Wraps a token handle this process holds (its rights are read back).
    pub fn from_handle(h: Handle) -> Result<Token, Rc> {
        let id = handle::identify(h)?;
        Ok(Token {
            handle: OwnedHandle::new(h),
            rights: Rights::from_bits_retain(id.rights),
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.get()
    }

    pub fn rights(&self) -> Rights {
        self.rights
    }

    /// A copy with only `rights` (and COPY, so it can be sent), to give to
    /// another process; a subset of this token's rights.
    pub fn reduced(&self, rights: Rights) -> Result<Token, Rc> {
        let r = rights | Rights::COPY;
        let h = handle::copy(self.handle(), r)?;
        Ok(Token {
            handle: OwnedHandle::new(h),
            rights: r,
        })
    }

    /// Takes back every copy made from this token (in any process).
    pub fn revoke(&self) -> Result<(), Rc> {
        handle::revoke(self.handle())
    }

    /// The descriptor that sends a copy of it with all its rights.
    fn send(&self) -> libkos::abi::msg::HandleDesc {
        ipc::copy_of(self.handle(), self.rights)
    }
}

/// A user handle for the started process, found there by `id`
/// (`libkos::process::lookup_resource`).
#[derive(Copy, Clone, Debug)]
pub struct UserHandleItem<'a> {
    pub id: &'a str,
    pub handle: Handle,
    /// What the process gets (a subset of the handle's; COPY needed).
    pub rights: Rights,
}

/// `StartOptions`: all optional.
#[derive(Clone, Debug, Default)]
pub struct StartOptions<'a> {
    /// The parent process (its token, PARENT right): stopping it stops this
    /// one first.
    pub parent: Option<&'a Token>,
    pub user_handles: Vec<UserHandleItem<'a>>,
    pub extra_args: Vec<String>,
    /// `NAME=VALUE`.
    pub extra_envs: Vec<String>,
    /// Our extension: stop at `Created` or `Prepared` instead of running
    /// (for inspection; StopProcess ends it).
    pub hold: Option<ProcessState>,
}

/// `ProcessContext`, typed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProcessContext {
    pub state: ProcessState,
    pub exit_status: ExitStatus,
    /// What it exited with (exit status Normal).
    pub exit_code: i64,
    /// Why its start failed, else [`Rc::Ok`].
    pub exit_reason: Rc,
}

impl ProcessContext {
    fn from_raw(r: &RawContext) -> Result<Self, Rc> {
        Ok(ProcessContext {
            state: ProcessState::from_u32(r.state).ok_or(Rc::NotSupported)?,
            exit_status: ExitStatus::from_u32(r.exit_status).ok_or(Rc::NotSupported)?,
            exit_code: r.exit_code,
            exit_reason: Rc::from_u32(r.exit_reason).ok_or(Rc::NotSupported)?,
        })
    }
}

/// A connection to the ExecutionManager.
#[derive(Copy, Clone, Debug)]
pub struct ProcessControl {
    client: process_control::Client,
}

impl ProcessControl {
    /// Through this process's static channel [`CHANNEL`], else the handle
    /// its parent gave it under that name.
    pub fn connect() -> Result<ProcessControl, Rc> {
        let h = locator::connect(CHANNEL).or_else(|_| libkos::process::lookup_resource(CHANNEL))?;
        Ok(ProcessControl::new(h))
    }

    /// Through the channel client end `channel`.
    pub fn new(channel: Handle) -> ProcessControl {
        ProcessControl {
            client: process_control::Client::new(channel),
        }
    }

    /// The channel's client end.
    pub fn channel(&self) -> Handle {
        self.client.channel()
    }

    /// `StartProcess`: starts run configuration `run_config_id` (empty:
    /// the package's primary one) of package `pkg_id`. Unknown package or
    /// configuration: [`Rc::ResourceNotFound`]. A start that fails once the
    /// request is accepted still gives a token: the state says Failed and
    /// `exit_reason` why.
    pub fn start_process(
        &self,
        pkg_id: &str,
        run_config_id: &str,
        opts: &StartOptions<'_>,
    ) -> Result<Token, Rc> {
        let names: Vec<&str> = opts.user_handles.iter().map(|u| u.id).collect();
        let record = em::encode_options(
            opts.hold.unwrap_or(ProcessState::None),
            &opts.extra_args,
            &opts.extra_envs,
            &names.iter().map(|n| String::from(*n)).collect::<Vec<_>>(),
        )?;
        let parent: Vec<_> = opts.parent.iter().map(|t| t.send()).collect();
        let handles: Vec<_> = opts
            .user_handles
            .iter()
            .map(|u| ipc::copy_of(u.handle, u.rights))
            .collect();
        let got = self
            .client
            .start_process(pkg_id, run_config_id, &record, &parent, &handles)?;
        Token::from_handle(ipc::received(&got))
    }

    /// `StopProcess` (the token's STOP right): Normal signals it to stop
    /// and terminates it if it has not ended after its run configuration's
    /// stop timeout; Forced terminates it at once. Its children (started
    /// with it as parent) are stopped first.
    pub fn stop_process(&self, token: &Token, policy: StopPolicy) -> Result<(), Rc> {
        self.client.stop_process(token.send(), policy as u32)
    }

    /// `GetProcessState` (the token's STATE right).
    pub fn get_process_state(&self, token: &Token) -> Result<ProcessContext, Rc> {
        let raw = self.client.get_process_state(token.send())?;
        ProcessContext::from_raw(&raw)
    }
}
