//! IProcessControl over IPC: decodes tokens (a user object of this
//! process; its rights say what the sender may do) and hands the work to
//! the [`Manager`].

use alloc::vec::Vec;

use libkos::abi::em::{Options, ProcessContext, StopPolicy, TOKEN_RIGHTS, token};
use libkos::abi::msg::HandleDesc;
use libkos::abi::msg::handle_ops::KIND_USER_OBJECT;
use libkos::services::process_control;
use libkos::{Handle, Rc, Rights, handle, ipc};

use crate::manager::{Manager, Start};

pub struct Service<'a> {
    pub m: &'a mut Manager,
}

/// Takes a received handle (closing it): the slot of the process its token
/// names, if the sender's copy has `need`. Not a token of ours:
/// rcInvalidArgument; without the right: rcNoCapability; the process's
/// slot reused since: rcResourceNotFound.
fn slot(m: &Manager, desc: &HandleDesc, need: Rights) -> Result<usize, Rc> {
    let h = ipc::received(desc);
    let id = handle::identify(h);
    let _ = handle::close(h);
    let id = id?;
    if id.kind != KIND_USER_OBJECT || id.context == 0 {
        return Err(Rc::InvalidArgument);
    }
    if !Rights::from_bits_retain(id.rights).contains(need) {
        return Err(Rc::NoCapability);
    }
    m.slot_of(id.context).ok_or(Rc::ResourceNotFound)
}

fn close_all(descs: &[HandleDesc]) {
    for d in descs {
        let _ = handle::close(ipc::received(d));
    }
}

impl process_control::Server for Service<'_> {
    fn start_process(
        &mut self,
        package: &str,
        run_config: &str,
        options: &[u8],
        parent: Vec<HandleDesc>,
        handles: Vec<HandleDesc>,
    ) -> Result<HandleDesc, Rc> {
        // The parent's token is taken (and closed) first, the user
        // handles last: the child has its own copies of them.
        let parent = parent.first().map(|d| slot(self.m, d, token::PARENT));
        let received: Vec<Handle> = handles.iter().map(ipc::received).collect();
        let result = (|| {
            let options = Options::parse(options).ok_or(Rc::InvalidArgument)?;
            let start = Start {
                package,
                config: run_config,
                options,
                parent: parent.transpose()?,
                handles: &received,
            };
            self.m.client_started();
            let (_, token) = self.m.start(&start)?;
            Ok(ipc::copy_of(token, TOKEN_RIGHTS))
        })();
        close_all(&handles);
        result
    }

    fn stop_process(&mut self, token_desc: HandleDesc, policy: u32) -> Result<(), Rc> {
        let i = slot(self.m, &token_desc, token::STOP)?;
        let policy = StopPolicy::from_u32(policy).ok_or(Rc::InvalidArgument)?;
        self.m.stop(i, policy)
    }

    fn get_process_state(&mut self, token_desc: HandleDesc) -> Result<ProcessContext, Rc> {
        let i = slot(self.m, &token_desc, token::STATE)?;
        Ok(self.m.state(i))
    }
}
