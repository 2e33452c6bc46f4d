//! Static channels by name (`Locator` on [`Handle::KERNEL`]): a parent
//! connects two not-yet-started children with [`connect_tasks`] (like
//! KasperskyOS's `KosTaskConnect`); the server child then takes its end with
//! [`register`] (`ServiceLocatorRegister`), the client child with
//! [`connect`] (`ServiceLocatorConnect`).

use kos_abi::decl::Invoke;
use kos_abi::interfaces::locator::call as m;
use kos_abi::msg::ArenaRef;
use kos_abi::msg::handle_ops::HandleReply;
use kos_abi::msg::locator::{ConnectTasksReq, NameReq};
use kos_abi::{Handle, Rc};

use crate::ipc;

fn name_ref(name: &str) -> Result<ArenaRef, Rc> {
    Ok(ArenaRef {
        offset: 0,
        len: u32::try_from(name.len()).map_err(|_| Rc::InvalidArgument)?,
    })
}

fn by_name<M: Invoke<Request = NameReq, Reply = HandleReply>>(name: &str) -> Result<Handle, Rc> {
    let req = NameReq {
        name: name_ref(name)?,
    };
    let (reply, _) = ipc::invoke::<M>(Handle::KERNEL, &req, &[name.as_bytes()], &mut [])?;
    Ok(Handle(reply.handle))
}

/// The server end of this process's static channel `name` (a new handle
/// each time; [`Rc::ResourceNotFound`] if there is none).
pub fn register(name: &str) -> Result<Handle, Rc> {
    by_name::<m::Register>(name)
}

/// The client end of this process's static channel `name` (a new handle
/// each time; [`Rc::ResourceNotFound`] if there is none).
pub fn connect(name: &str) -> Result<Handle, Rc> {
    by_name::<m::Connect>(name)
}

/// Makes (or joins: same server, same name) the static channel `name` from
/// the task `client` to the task `server` (Task handles of this process,
/// both not started yet, else [`Rc::Busy`]).
pub fn connect_tasks(client: Handle, server: Handle, name: &str) -> Result<(), Rc> {
    let req = ConnectTasksReq {
        client: client.0,
        server: server.0,
        name: name_ref(name)?,
    };
    ipc::invoke::<m::ConnectTasks>(Handle::KERNEL, &req, &[name.as_bytes()], &mut []).map(drop)
}

/// The endpoint id of `"<server>.<endpoint>"` (ServiceLocatorGetRiid):
/// `<server>` is the name of one of this process's static channels (the
/// server's endpoints came with it, from its task object) or a declared
/// component's class, `<endpoint>` one of its endpoints. Unknown:
/// [`Rc::ResourceNotFound`].
pub fn endpoint_id(qualified: &str) -> Result<u16, Rc> {
    let (server, endpoint) = qualified.rsplit_once('.').ok_or(Rc::InvalidArgument)?;
    if let Some(d) = crate::rt::start_data()
        && let Some(e) = d
            .endpoints()
            .find(|e| e.channel == server && e.name == endpoint)
    {
        return Ok(e.id);
    }
    kos_abi::components::COMPONENTS
        .iter()
        .filter(|c| c.class == server)
        .flat_map(|c| c.endpoints)
        .find(|e| e.name == endpoint)
        .and_then(|e| crate::process::interface_id(e.interface))
        .ok_or(Rc::ResourceNotFound)
}
