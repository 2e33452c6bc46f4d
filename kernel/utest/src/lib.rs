//! Helpers shared by the user-space test programs.
//!
//! A test program that needs a second process starts itself again (same
//! binary, so same addresses: there is no ASLR yet) with environment data
//! `role=<what>`; [`role`] tells the child what it is to do.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use libkos::abi::sched::DEFAULT_PRIORITY;
use libkos::abi::task::{CreateFlags, ExitInfo, ExitStatus, FaultKind};
use libkos::task::{self, Describe, Task};
use libkos::{Rc, time};

/// Generous bound on how long a child may take (they take milliseconds).
pub const CHILD_TIMEOUT_NS: u64 = 20_000_000_000;

/// The role this process was started in (`role=<x>` environment, or the
/// variable `role` of a child made with `libkos::process`), if any.
pub fn role() -> Option<&'static str> {
    if let Some(r) = libkos::env::var("role") {
        return Some(r);
    }
    let env = core::str::from_utf8(libkos::rt::env_region()).ok()?;
    env.strip_prefix("role=")
}

/// The class a child named `name` is started as: a dotted name
/// (`utest.gate.Server`) is a class name, and the child is of that class;
/// any other name gives a child of the caller's own class.
pub fn class_for(name: &str) -> &str {
    if name.contains('.') { name } else { "" }
}

/// Creates `path` as process `name` (of [`class_for`] it) with
/// environment `role=<role>` and starts it.
pub fn start_role(path: &str, name: &str, role: &str) -> Result<Task, String> {
    let t = Task::create_as(
        name,
        class_for(name),
        path,
        DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS,
    )
    .map_err(|e| format!("create {name} ({path}): {e}"))?;
    t.set_env(format!("role={role}").as_bytes())
        .map_err(|e| format!("set_env of {name}: {e}"))?;
    t.resume().map_err(|e| format!("resume {name}: {e}"))?;
    Ok(t)
}

/// Runs `path` in `role` to its end; returns how it ended.
pub fn run_role(path: &str, name: &str, role: &str) -> Result<ExitInfo, String> {
    let t = start_role(path, name, role)?;
    let info = t
        .wait(CHILD_TIMEOUT_NS)
        .map_err(|e| format!("wait for {name}: {e}"))?;
    t.close().map_err(|e| format!("close {name}: {e}"))?;
    Ok(info)
}

/// `Ok` if the child ended normally with `code`.
pub fn expect_exit(info: &ExitInfo, code: i64) -> Result<(), String> {
    if task::exited_with(info, code) {
        Ok(())
    } else {
        Err(format!(
            "ended with {}, expected exit code {code}",
            Describe(info)
        ))
    }
}

/// `Ok` if the child died of an exception of kind `kind`.
pub fn expect_fault(info: &ExitInfo, kind: FaultKind) -> Result<(), String> {
    if task::status(info) == Some(ExitStatus::Exception) && task::fault(info) == kind {
        Ok(())
    } else {
        Err(format!(
            "ended with {}, expected a {kind:?} fault",
            Describe(info)
        ))
    }
}

/// `Ok` if `result` is the error `want`.
pub fn expect_rc<T: core::fmt::Debug>(
    what: &str,
    result: Result<T, Rc>,
    want: Rc,
) -> Result<(), String> {
    libkos::test::expect_err(what, result, want)
}

/// Milliseconds to nanoseconds.
pub const fn ms(n: u64) -> u64 {
    n * 1_000_000
}

/// Nanoseconds since boot.
pub fn now() -> u64 {
    time::now_ns()
}

/// One process of a [`run_group`].
#[derive(Copy, Clone, Debug)]
pub struct Child<'a> {
    /// Its process name (unique in the system).
    pub name: &'a str,
    /// `role=<role>` is its environment.
    pub role: &'a str,
    /// A server that may run forever: terminated once every other child has
    /// ended (an exit before that must still be code 0).
    pub daemon: bool,
}

/// A child that must end by itself with code 0.
pub const fn child<'a>(name: &'a str, role: &'a str) -> Child<'a> {
    Child {
        name,
        role,
        daemon: false,
    }
}

/// A server child, terminated when the others have ended.
pub const fn daemon<'a>(name: &'a str, role: &'a str) -> Child<'a> {
    Child {
        name,
        role,
        daemon: true,
    }
}

/// A static channel of a [`run_group`]: (client child, server child, name).
pub type Link<'a> = (usize, usize, &'a str);

/// How long a group may run.
pub const GROUP_TIMEOUT_NS: u64 = 15_000_000_000;

/// Creates every child of `children` from `path` (not started), connects
/// them with the static channels `links`, starts them all and waits until
/// every non-daemon child has ended (then terminates the daemons). `Ok` if
/// each child that ended by itself exited with 0; on the first failure (or
/// after [`GROUP_TIMEOUT_NS`]) the rest are terminated.
pub fn run_group(path: &str, children: &[Child<'_>], links: &[Link<'_>]) -> Result<(), String> {
    use alloc::vec::Vec;

    let mut tasks = Vec::new();
    for c in children {
        let t = Task::create_as(
            c.name,
            class_for(c.name),
            path,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )
        .map_err(|e| format!("create {}: {e}", c.name))?;
        t.set_env(format!("role={}", c.role).as_bytes())
            .map_err(|e| format!("set_env of {}: {e}", c.name))?;
        tasks.push(t);
    }
    for &(client, server, name) in links {
        libkos::locator::connect_tasks(tasks[client].handle(), tasks[server].handle(), name)
            .map_err(|e| {
                format!(
                    "connect_tasks({} -> {}, {name:?}): {e}",
                    children[client].name, children[server].name
                )
            })?;
    }
    for (t, c) in tasks.iter().zip(children) {
        t.resume().map_err(|e| format!("resume {}: {e}", c.name))?;
    }
    let deadline = now() + GROUP_TIMEOUT_NS;
    let mut done = alloc::vec![false; children.len()];
    let mut failure: Option<String> = None;
    loop {
        let mut waiting_for_clients = false;
        for (i, (t, c)) in tasks.iter().zip(children).enumerate() {
            if done[i] {
                continue;
            }
            let info = match t.exit_info() {
                Ok(info) => info,
                Err(e) => {
                    failure.get_or_insert(format!("exit_info of {}: {e}", c.name));
                    done[i] = true;
                    continue;
                }
            };
            if task::status(&info) == Some(ExitStatus::Running) {
                waiting_for_clients |= !c.daemon;
                continue;
            }
            done[i] = true;
            if let Err(e) = expect_exit(&info, 0) {
                failure.get_or_insert(format!("child {} (role {}): {e}", c.name, c.role));
            }
        }
        if failure.is_some() || !waiting_for_clients {
            break;
        }
        if now() > deadline {
            let running: Vec<&str> = children
                .iter()
                .zip(&done)
                .filter(|(c, d)| !**d && !c.daemon)
                .map(|(c, _)| c.name)
                .collect();
            failure = Some(format!("timeout: still running: {running:?}"));
            break;
        }
        let _ = libkos::syscall::sleep_ns(ms(2));
    }
    for (i, t) in tasks.iter().enumerate() {
        if !done[i] {
            let _ = t.terminate();
            let _ = t.wait(CHILD_TIMEOUT_NS);
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The body of a child role: prints why it failed (prefixed with the
/// program and role) and returns the exit code (0 ok, 1 failed).
pub fn child_result(role: &str, result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(why) => {
            libkos::println!("{} role {role}: FAILED {why}", libkos::rt::program_name());
            1
        }
    }
}

/// A byte of test pattern `seed` at `i` (so content, not just length, is
/// checked).
pub fn pattern(seed: u8, i: usize) -> u8 {
    (i as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(seed).wrapping_mul(17))
        .wrapping_add((i >> 8) as u32) as u8
}

/// `len` bytes of pattern `seed`.
pub fn pattern_vec(seed: u8, len: usize) -> alloc::vec::Vec<u8> {
    (0..len).map(|i| pattern(seed, i)).collect()
}

/// The first index where `bytes` differs from pattern `seed`.
pub fn pattern_mismatch(seed: u8, bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .position(|(i, b)| *b != pattern(seed, i))
}

/// The test server's methods (endpoint [`basic::ENDPOINT`]), served by
/// [`basic_server`].
pub mod basic {
    /// Endpoint number of the basic server's messages.
    pub const ENDPOINT: u16 = 0x100;
    /// No fixed part, arena or handles (else InvalidArgument); empty reply.
    pub const EMPTY: u16 = 0;
    /// 256-byte fixed part; reply: each byte XOR 0xA5.
    pub const FIXED: u16 = 1;
    /// Arena of pattern 1 (checked, else InvalidArgument); reply: as many
    /// bytes of pattern 2.
    pub const ARENA: u16 = 2;
    /// Reply: the caller's badge value (u64).
    pub const BADGE: u16 = 3;
    /// One handle (a notice) and a u64 cookie: signals it, closes it;
    /// reply: the signal's Rc (u32).
    pub const NOTIFY: u16 = 4;
    /// u64 milliseconds: sleeps that long, then replies (empty).
    pub const DELAY: u16 = 5;
    /// Reply: the Rc (u32) of the previous reply.
    pub const LAST_REPLY: u16 = 6;
    /// Handles: identifies each (kind u32::MAX and the Rc in `rights` if
    /// that fails), closes each; reply: the Identities as the fixed part.
    pub const IDENTIFY: u16 = 7;
    /// Reply: requests received so far, this one included (u64).
    pub const COUNT: u16 = 8;
    /// u32 n: reply with an arena of n bytes of pattern 3.
    pub const BIG_REPLY: u16 = 9;
}

/// Serves [`basic`] on the server end `handle`, with a request buffer of
/// `req_cap` bytes, until receiving fails.
pub fn basic_server(handle: libkos::Handle, req_cap: usize) -> Result<(), String> {
    use libkos::abi::msg::handle_ops::Identity;
    use libkos::ipc::{self, Out};
    use libkos::zerocopy::IntoBytes;

    let mut buf = alloc::vec![0u8; req_cap];
    let mut last_reply = Rc::Ok;
    let mut count = 0u64;
    loop {
        let req = ipc::recv(handle, &mut buf, u64::MAX).map_err(|e| format!("recv: {e}"))?;
        count += 1;
        let m = &req.msg;
        let t = req.token;
        let fixed_reply = |bytes: &[u8]| {
            ipc::reply(
                t,
                Rc::Ok,
                &Out {
                    fixed: bytes,
                    ..Out::default()
                },
            )
        };
        let rc = match m.header.method {
            basic::EMPTY => {
                if m.fixed.is_empty() && m.arena.is_empty() && m.handle_count() == 0 {
                    ipc::reply(t, Rc::Ok, &Out::default())
                } else {
                    m.close_handles();
                    ipc::reply_status(t, Rc::InvalidArgument)
                }
            }
            basic::FIXED => {
                if m.fixed.len() == 256 {
                    let mut out = [0u8; 256];
                    for (o, i) in out.iter_mut().zip(m.fixed) {
                        *o = i ^ 0xA5;
                    }
                    fixed_reply(&out)
                } else {
                    ipc::reply_status(t, Rc::InvalidArgument)
                }
            }
            basic::ARENA => {
                if pattern_mismatch(1, m.arena).is_none() {
                    let out = pattern_vec(2, m.arena.len());
                    ipc::reply(
                        t,
                        Rc::Ok,
                        &Out {
                            arena: &[&out],
                            ..Out::default()
                        },
                    )
                } else {
                    ipc::reply_status(t, Rc::InvalidArgument)
                }
            }
            basic::BADGE => fixed_reply(req.badge.as_bytes()),
            basic::NOTIFY => match (m.handle(0), m.fixed_as::<u64>()) {
                (Some(d), Some(cookie)) => {
                    let h = libkos::Handle(d.handle);
                    let rc = match libkos::notice::signal(h, cookie) {
                        Ok(()) => Rc::Ok,
                        Err(e) => e,
                    };
                    let _ = libkos::handle::close(h);
                    fixed_reply((rc as u32).as_bytes())
                }
                _ => {
                    m.close_handles();
                    ipc::reply_status(t, Rc::InvalidArgument)
                }
            },
            basic::DELAY => {
                let n = m.fixed_as::<u64>().unwrap_or(0);
                let _ = libkos::syscall::sleep_ns(ms(n));
                ipc::reply(t, Rc::Ok, &Out::default())
            }
            basic::LAST_REPLY => fixed_reply((last_reply as u32).as_bytes()),
            basic::IDENTIFY => {
                let mut ids = [Identity::default(); libkos::abi::msg::MAX_HANDLES];
                let n = m.handle_count().min(ids.len());
                for (slot, d) in ids.iter_mut().zip(m.handles()) {
                    let h = libkos::Handle(d.handle);
                    *slot = libkos::handle::identify(h).unwrap_or_else(|e| Identity {
                        kind: u32::MAX,
                        rights: e as u32,
                        ..Identity::default()
                    });
                    let _ = libkos::handle::close(h);
                }
                fixed_reply(ids[..n].as_bytes())
            }
            basic::COUNT => fixed_reply(count.as_bytes()),
            basic::BIG_REPLY => {
                let n = m.fixed_as::<u32>().unwrap_or(0) as usize;
                let out = pattern_vec(3, n);
                ipc::reply(
                    t,
                    Rc::Ok,
                    &Out {
                        arena: &[&out],
                        ..Out::default()
                    },
                )
            }
            _ => {
                m.close_handles();
                ipc::reply_status(t, Rc::ResourceNotFound)
            }
        };
        last_reply = rc;
    }
}

/// Calls [`basic`] method `method` through `h`: request fixed part
/// `fixed`, handles, arena; the reply's fixed part goes to `reply_fixed`
/// (it must be at least that long), its arena to `reply_arena`.
pub fn basic_call(
    h: libkos::Handle,
    method: u16,
    req: &libkos::ipc::Out<'_>,
    timeout_ns: u64,
    reply_fixed: &mut [u8],
    reply_arena: &mut [u8],
) -> Result<libkos::ipc::Got, Rc> {
    libkos::ipc::call_with(
        h,
        timeout_ns,
        basic::ENDPOINT,
        method,
        req,
        libkos::ipc::In {
            fixed: reply_fixed,
            handles: &mut [],
            arena: reply_arena,
        },
    )
}

/// [`basic_call`] with a fixed-size request and reply and no timeout.
pub fn basic_fixed<R: libkos::zerocopy::FromBytes + libkos::zerocopy::IntoBytes + Default>(
    h: libkos::Handle,
    method: u16,
    fixed: &[u8],
    handles: &[libkos::abi::msg::HandleDesc],
) -> Result<R, Rc> {
    let mut r = R::default();
    basic_call(
        h,
        method,
        &libkos::ipc::Out {
            fixed,
            handles,
            arena: &[],
        },
        u64::MAX,
        r.as_mut_bytes(),
        &mut [],
    )?;
    Ok(r)
}

/// A copy of Task handle `h` with every right it has but method `m`'s.
pub fn without(
    h: libkos::abi::Handle,
    m: libkos::abi::task::Method,
) -> Result<libkos::handle::OwnedHandle, Rc> {
    use libkos::abi::Rights;
    let rights = Rights::from_bits_retain(libkos::handle::identify(h)?.rights);
    libkos::handle::copy(h, rights - Rights::task(m)).map(libkos::handle::OwnedHandle::new)
}

/// `f` through a copy of `t` without `m`'s right must be rcNoCapability,
/// and through a non-Task handle (a notice) rcWrongType.
pub fn refuses<T: core::fmt::Debug>(
    what: &str,
    t: libkos::abi::Handle,
    m: libkos::abi::task::Method,
    f: impl Fn(libkos::abi::Handle) -> Result<T, Rc>,
) -> Result<(), String> {
    let h = without(t, m).map_err(|e| format!("{what}: copy without the {m:?} right: {e}"))?;
    expect_rc(
        &format!("{what} without the right"),
        f(h.get()),
        Rc::NoCapability,
    )?;
    let wrong = not_a_task()?;
    expect_rc(
        &format!("{what} on a notice"),
        f(wrong.get()),
        Rc::WrongType,
    )
}

/// A handle that is not a Task (a new notice), for wrong-type checks.
pub fn not_a_task() -> Result<libkos::handle::OwnedHandle, String> {
    libkos::notice::create()
        .map(libkos::handle::OwnedHandle::new)
        .map_err(|e| format!("notice::create: {e}"))
}

/// Runs `f` in a Normal thread at the default priority and returns what
/// it returns: for a program einit starts with a raised initial policy
/// (the ceiling of its threads, see xtask's `RAISED`) whose tests expect
/// to run as an ordinary thread.
pub fn in_normal_thread(f: fn() -> i32) -> i32 {
    let normal = libkos::abi::sched::SchedPolicy {
        class: libkos::abi::sched::SchedClass::Normal as u32,
        priority: DEFAULT_PRIORITY,
        ..Default::default()
    };
    // The tests' own stack: as large as the initial thread's.
    match libkos::thread::spawn(normal, 1 << 20, move || i64::from(f())) {
        Ok(t) => t
            .join(libkos::syscall::FOREVER)
            .map_or(99, |code| code as i32),
        Err(e) => {
            libkos::println!("cannot start the tests' thread: {e}");
            98
        }
    }
}
