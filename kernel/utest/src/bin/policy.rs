//! The security policy on target (`policy/systems/utest.policy`): what it
//! grants works; what it does not is refused with rcSecurityDisallow, changes
//! nothing and leaves an audit record, for kernel calls, process starts,
//! requests, responses and errors; a state machine lets a method through
//! only in its state; a rule on one instance applies to it alone; each
//! quota stops at its number.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use libkos::abi::msg::audit::{self, Record};
use libkos::abi::sched::{DEFAULT_PRIORITY, SchedClass, SchedPolicy};
use libkos::abi::task::CreateFlags;
use libkos::abi::{Handle, Rights};
use libkos::ipc::{self, Out};
use libkos::services::door;
use libkos::syscall::FOREVER;
use libkos::task::Task;
use libkos::test::TestResult;
use libkos::{Rc, handle, mdl, romfs, thread, vm};
use utest::{CHILD_TIMEOUT_NS, child_result, expect_exit, expect_rc, ms, role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
/// Classes and the instance the policy names for these tests.
const DOOR: &str = "utest.policy.Door";
const FRONT: &str = "front";
const QUOTA: &str = "utest.policy.Quota";
/// The quota of `QUOTA` in the policy.
const QUOTA_THREADS: usize = 3;
const QUOTA_PROCESSES: usize = 2;
const QUOTA_HANDLES: usize = 24;
const QUOTA_PRIORITY: u32 = 20;
const QUOTA_FRAMES: usize = 512;
const QUOTA_MEMORY: u64 = 16 * 1024;

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => utest::in_normal_thread(tests),
    }
}

fn tests() -> i32 {
    libkos::test::run(
        "utest_policy",
        libkos::tests![
            granted_calls_work,
            refused_kernel_call_is_audited,
            refused_starts_are_audited,
            audit_needs_its_right,
            door_state_machine,
            door_counts_and_remembers,
            refused_response_and_error,
            rule_on_one_instance,
            security_questions,
            no_read_down,
            quotas_stop_at_their_number,
        ],
    )
}

fn policy(class: SchedClass, priority: u32) -> SchedPolicy {
    SchedPolicy {
        class: class as u32,
        priority,
        ..SchedPolicy::default()
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        r if r.starts_with("door") => {
            let h: u32 = r["door".len()..].parse().map_err(|_| "bad door handle")?;
            door_server(Handle(h))
        }
        "quota" => quota_child(),
        "idle" => Ok(()),
        other => Err(format!("unknown role {other}")),
    }
}

/// The audit records after `after` from `pid`.
fn audited_since(after: u64, pid: u32) -> Result<Vec<Record>, String> {
    let all = libkos::audit::read_all(after).map_err(|e| format!("Audit.Read: {e}"))?;
    Ok(all.into_iter().filter(|r| r.src_pid == pid).collect())
}

fn last_seq() -> Result<u64, String> {
    libkos::audit::read(u64::MAX)
        .map(|(r, _)| r.last)
        .map_err(|e| format!("Audit.Read: {e}"))
}

fn my_pid() -> Result<u32, String> {
    libkos::task::get_pid(Handle::SELF_TASK)
        .map(|p| p as u32)
        .map_err(|e| format!("GetPid: {e}"))
}

/// One denial of `event` recorded, with these classes.
fn expect_denial(records: &[Record], event: u8, dst_class: &str) -> Result<(), String> {
    if records.iter().any(|r| {
        r.event == event && r.decision == audit::DENIED && audit::text(&r.dst_class) == dst_class
    }) {
        Ok(())
    } else {
        let seen: Vec<(u8, u8, &str)> = records
            .iter()
            .map(|r| (r.event, r.decision, audit::text(&r.dst_class)))
            .collect();
        Err(format!(
            "no audit record of a denied event {event} to {dst_class}; records: {seen:?}"
        ))
    }
}

fn granted_calls_work() -> TestResult {
    // The policy grants this class its console, its own Task and children
    // of its own class.
    libkos::println!("utest-policy: a granted console write");
    my_pid()?;
    let t = utest::start_role(SELF, "pol-idle", "idle")?;
    let info = t.wait(CHILD_TIMEOUT_NS).map_err(|e| format!("wait: {e}"))?;
    expect_exit(&info, 0)
}

fn refused_kernel_call_is_audited() -> TestResult {
    let before = last_seq()?;
    // The policy gives this class no ROMFS.
    let mut buf = [0u8; 16];
    expect_rc(
        "Romfs.Read",
        romfs::read("/etc/motd", 0, &mut buf),
        Rc::SecurityDisallow,
    )?;
    let records = audited_since(before, my_pid()?)?;
    let r = records
        .iter()
        .find(|r| r.event == 3 && r.decision == audit::DENIED)
        .ok_or_else(|| format!("no record of the refused call: {records:?}"))?;
    let romfs_read = libkos::abi::interfaces::romfs::Method::Read.decl();
    if (r.endpoint, r.method) != (romfs_read.endpoint, romfs_read.id)
        || audit::text(&r.src_class) != "utest-policy"
        || audit::text(&r.dst_class) != "kl.core.Core"
        || r.rule != 0xFFFF
    {
        return Err(format!("the record says {r:?}"));
    }
    Ok(())
}

fn refused_starts_are_audited() -> TestResult {
    let before = last_seq()?;
    // A class the policy does not name, and one it names but does not let
    // this class start.
    expect_rc(
        "start of an unnamed class",
        Task::create_as(
            "pol-x",
            "utest.policy.Unnamed",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::SecurityDisallow,
    )?;
    expect_rc(
        "start of a class it may not start",
        Task::create_as(
            "pol-y",
            "utest-ipc",
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::SecurityDisallow,
    )?;
    // Nothing was created: the names are free.
    let t = Task::create("pol-x", SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create after the refusals: {e}"))?;
    let _ = t.terminate();
    let records = audited_since(before, my_pid()?)?;
    expect_denial(&records, 4, "utest.policy.Unnamed")?;
    expect_denial(&records, 4, "utest-ipc")
}

fn audit_needs_its_right() -> TestResult {
    let weak = handle::copy(Handle::KERNEL, Rights::CONSOLE | Rights::HANDLES)
        .map_err(|e| format!("copy: {e}"))?;
    expect_rc(
        "Audit.Read without AUDIT",
        libkos::audit::read_via(weak, 0),
        Rc::NoCapability,
    )?;
    let _ = handle::close(weak);
    Ok(())
}

/// Starts a door server of class DOOR (named `name`), handing it the
/// server end of a new channel (its handle value in the environment);
/// returns it and the client end.
fn start_door(name: &str) -> Result<(Task, Handle), String> {
    let t = Task::create_as(name, DOOR, SELF, DEFAULT_PRIORITY, CreateFlags::FROM_ROMFS)
        .map_err(|e| format!("create door {name}: {e}"))?;
    let ends = libkos::channel::create().map_err(|e| format!("channel: {e}"))?;
    let served = t
        .transfer_handle(ends.server, Rights::SERVER, None)
        .map_err(|e| format!("transfer: {e}"))?;
    let _ = handle::close(ends.server);
    t.set_env(format!("role=door{}", served.0).as_bytes())
        .map_err(|e| format!("set_env: {e}"))?;
    t.resume().map_err(|e| format!("resume: {e}"))?;
    Ok((t, ends.client))
}

fn stop_door(t: Task, h: Handle) -> TestResult {
    let _ = handle::close(h);
    t.terminate().map_err(|e| format!("terminate door: {e}"))?;
    let _ = t.wait(CHILD_TIMEOUT_NS);
    Ok(())
}

fn door_state_machine() -> TestResult {
    let (t, h) = start_door("pol-door")?;
    let c = door::Client::new(h).with_timeout(ms(5000));
    // An `open` the policy grants but that cannot be delivered (larger
    // than the door's buffer) changes no state: the door stays closed.
    let big = [0u8; 1024];
    let mut nothing = [0u8; 0];
    let undelivered = ipc::call(
        h,
        door::ENDPOINT,
        door::methods::open::ID,
        &[0u8; 0][..],
        &big,
        &mut nothing,
        &mut [0u8; 0][..],
    );
    if undelivered.is_ok() {
        return Err(String::from(
            "a request larger than the server's buffer was delivered",
        ));
    }
    let before = last_seq()?;
    // Closed: knocking is refused before the server sees it.
    expect_rc("knock on a closed door", c.knock(), Rc::SecurityDisallow)?;
    c.open().map_err(|e| format!("open: {e}"))?;
    c.knock()
        .map_err(|e| format!("knock on an open door: {e}"))?;
    c.knock().map_err(|e| format!("second knock: {e}"))?;
    c.close().map_err(|e| format!("close: {e}"))?;
    expect_rc("knock after closing", c.knock(), Rc::SecurityDisallow)?;
    let records = audited_since(before, my_pid()?)?;
    let knocks = records
        .iter()
        .filter(|r| {
            r.event == 0 && r.decision == audit::DENIED && r.method == door::methods::knock::ID
        })
        .count();
    if knocks != 2 {
        return Err(format!("{knocks} refused knocks audited, expected 2"));
    }
    stop_door(t, h)
}

fn door_counts_and_remembers() -> TestResult {
    let (t, h) = start_door("pol-door3")?;
    let c = door::Client::new(h).with_timeout(ms(5000));
    c.open().map_err(|e| format!("open: {e}"))?;
    for i in 0..3 {
        c.knock().map_err(|e| format!("knock {i}: {e}"))?;
    }
    expect_rc("a fourth knock", c.knock(), Rc::SecurityDisallow)?;
    // Closing resets the count.
    c.close().map_err(|e| format!("close: {e}"))?;
    c.open().map_err(|e| format!("open again: {e}"))?;
    c.knock()
        .map_err(|e| format!("knock after reopening: {e}"))?;

    // Shouts: each request the policy lets through reaches the door (whose
    // reply the policy then refuses); a value heard once is refused at the
    // request; the set holds eight values.
    let before = last_seq()?;
    let door_pid = t.pid().map_err(|e| format!("GetPid: {e}"))? as u32;
    for v in 1..=9u64 {
        expect_rc("a shout", c.shout(v), Rc::SecurityDisallow)?;
    }
    expect_rc("a shout heard before", c.shout(1), Rc::SecurityDisallow)?;
    let all = libkos::audit::read_all(before).map_err(|e| format!("Audit.Read: {e}"))?;
    let shout = door::methods::shout::ID;
    let requests = all
        .iter()
        .filter(|r| r.event == 0 && r.decision == audit::DENIED && r.method == shout)
        .count();
    let responses = all
        .iter()
        .filter(|r| r.event == 1 && r.src_pid == door_pid && r.method == shout)
        .count();
    if (requests, responses) != (2, 8) {
        return Err(format!(
            "refused shout requests {requests} (expected 2: the ninth value, a repeat), replies {responses} (expected 8)"
        ));
    }
    stop_door(t, h)
}

fn refused_response_and_error() -> TestResult {
    let (t, h) = start_door("pol-door2")?;
    let c = door::Client::new(h).with_timeout(ms(5000));
    let before = last_seq()?;
    // The policy refuses the reply to `shout`: the client gets the
    // refusal, not the answer.
    expect_rc("shout", c.shout(7), Rc::SecurityDisallow)?;
    // The door is closed: the server answers `close` with rcBusy, an
    // error the policy does not let through; `open` twice gives rcBusy,
    // which it does.
    expect_rc("close of a closed door", c.close(), Rc::SecurityDisallow)?;
    c.open().map_err(|e| format!("open: {e}"))?;
    expect_rc("open of an open door", c.open(), Rc::Busy)?;
    // The server went on after its refused replies.
    c.close().map_err(|e| format!("close: {e}"))?;
    let all = libkos::audit::read_all(before).map_err(|e| format!("Audit.Read: {e}"))?;
    let door_pid = t.pid().map_err(|e| format!("GetPid: {e}"))? as u32;
    let from_door: Vec<Record> = all.into_iter().filter(|r| r.src_pid == door_pid).collect();
    expect_denial(&from_door, 1, "utest-policy")?;
    expect_denial(&from_door, 2, "utest-policy")?;
    stop_door(t, h)
}

fn rule_on_one_instance() -> TestResult {
    // `front` is an instance with a rule of its own: knocking is always
    // allowed there, closed or not; on other doors only when open.
    let (t, h) = start_door(FRONT)?;
    let c = door::Client::new(h).with_timeout(ms(5000));
    c.knock()
        .map_err(|e| format!("knock on the closed front door: {e}"))?;
    stop_door(t, h)?;
    let (t, h) = start_door("pol-back")?;
    let c = door::Client::new(h).with_timeout(ms(5000));
    expect_rc(
        "knock on a closed back door",
        c.knock(),
        Rc::SecurityDisallow,
    )?;
    stop_door(t, h)
}

fn security_questions() -> TestResult {
    use libkos::services::gate;
    let before = last_seq()?;
    let echo =
        |v: u64| libkos::security::ask(gate::ENDPOINT, gate::methods::echo::ID, &v.to_le_bytes());
    echo(5).map_err(|e| format!("asking about echo(5): {e}"))?;
    expect_rc("asking about echo(500)", echo(500), Rc::SecurityDisallow)?;
    expect_rc(
        "asking about a knock",
        libkos::security::ask(door::ENDPOINT, door::methods::knock::ID, &[]),
        Rc::SecurityDisallow,
    )?;
    expect_rc(
        "a question too long",
        libkos::security::ask(gate::ENDPOINT, gate::methods::echo::ID, &[0; 49]),
        Rc::InvalidArgument,
    )?;
    let records = audited_since(before, my_pid()?)?;
    let denied = records
        .iter()
        .filter(|r| r.event == 5 && r.decision == audit::DENIED)
        .count();
    if denied != 2 {
        return Err(format!("{denied} refused questions audited, expected 2"));
    }
    Ok(())
}

fn no_read_down() -> TestResult {
    // A door is at the low level, a Quota helper at utest-policy's own
    // (high): reading the path of the first is reading down.
    let (t, h) = start_door("pol-low")?;
    expect_rc("GetPath of a lower process", t.path(), Rc::SecurityDisallow)?;
    t.pid()
        .map_err(|e| format!("GetPid of a lower process: {e}"))?;
    stop_door(t, h)?;
    let q = Task::create_as(
        "pol-high",
        QUOTA,
        SELF,
        DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS,
    )
    .map_err(|e| format!("create: {e}"))?;
    let path = q
        .path()
        .map_err(|e| format!("GetPath of an equal process: {e}"))?;
    let _ = q.terminate();
    if path != SELF {
        return Err(format!("path {path:?}"));
    }
    Ok(())
}

fn quotas_stop_at_their_number() -> TestResult {
    // Its initial thread at the class's ceiling, round-robin: the ceiling
    // of the threads it starts.
    let t = Task::create_as(
        "quota",
        QUOTA,
        SELF,
        DEFAULT_PRIORITY,
        CreateFlags::FROM_ROMFS,
    )
    .map_err(|e| format!("create the quota child: {e}"))?;
    // It starts processes and threads and takes memory: what its quota,
    // not its rights, must stop.
    t.set_initial_thread_sched_policy(policy(SchedClass::RoundRobin, QUOTA_PRIORITY))
        .and_then(|()| t.set_initial_rights(Rights::all(), Rights::all()))
        .and_then(|()| t.set_env(b"role=quota"))
        .and_then(|()| t.resume())
        .map_err(|e| format!("start the quota child: {e}"))?;
    let info = t.wait(CHILD_TIMEOUT_NS).map_err(|e| format!("wait: {e}"))?;
    expect_exit(&info, 0)?;
    // Its priority ceiling binds its creator too.
    expect_rc(
        "start above the class's priority ceiling",
        Task::create_as(
            "pol-q2",
            QUOTA,
            SELF,
            QUOTA_PRIORITY + 1,
            CreateFlags::FROM_ROMFS,
        ),
        Rc::QuotaExceeded,
    )?;
    let ok = Task::create_as(
        "pol-q3",
        QUOTA,
        SELF,
        QUOTA_PRIORITY,
        CreateFlags::FROM_ROMFS,
    )
    .map_err(|e| format!("start at the ceiling: {e}"))?;
    let _ = ok.terminate();
    Ok(())
}

// --- children --------------------------------------------------------------

/// The door: answers open/close (rcBusy when already so), knock, shout.
fn door_server(h: Handle) -> Result<(), String> {
    let mut buf = vec![0u8; 256];
    let mut open = false;
    loop {
        let r = ipc::recv(h, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
        let m = r.msg.header.method;
        let v: u64 = r.msg.fixed_as().unwrap_or(0);
        let status = if m == door::methods::open::ID {
            let s = if open { Rc::Busy } else { Rc::Ok };
            open = true;
            s
        } else if m == door::methods::close::ID {
            let s = if open { Rc::Ok } else { Rc::Busy };
            open = false;
            s
        } else {
            Rc::Ok
        };
        let fixed: &[u8] = if m == door::methods::shout::ID && status == Rc::Ok {
            libkos::zerocopy::IntoBytes::as_bytes(&v)
        } else {
            &[]
        };
        // A refused reply is the client's loss; the door goes on.
        let _ = ipc::reply(
            r.token,
            status,
            &Out {
                fixed,
                handles: &[],
                arena: &[],
            },
        );
    }
}

/// Makes things with `make` (given how many it made so far) until it
/// fails, at most `most + 1` of them: what it made, and the error that
/// stopped it (`rcOk` if none did). The list's room is taken first, so
/// that filling a quota never needs the heap to grow.
fn fill<T>(most: usize, mut make: impl FnMut(usize) -> Result<T, Rc>) -> (Vec<T>, Rc) {
    let mut made = Vec::with_capacity(most + 1);
    while made.len() <= most {
        match make(made.len()) {
            Ok(x) => made.push(x),
            Err(e) => return (made, e),
        }
    }
    (made, Rc::Ok)
}

/// `Ok` if `what` stopped at `count` with rcQuotaExceeded, as a quota of
/// `want` says.
fn stopped_at(what: &str, count: usize, stop: Rc, want: usize) -> TestResult {
    if stop == Rc::QuotaExceeded && count == want {
        Ok(())
    } else {
        Err(format!(
            "{what} stopped at {count} with {stop}, expected {want} with rcQuotaExceeded"
        ))
    }
}

/// Runs as class QUOTA: each of its quota's limits holds at its number.
fn quota_child() -> Result<(), String> {
    // Handles: it starts with two (itself, the kernel); copies of its own
    // (which cost no object's memory) fill the rest of its table.
    let (notices, stop) = fill(2 * QUOTA_HANDLES, |_| {
        handle::copy(Handle::SELF_TASK, Rights::empty())
    });
    stopped_at("handles", notices.len() + 2, stop, QUOTA_HANDLES)?;
    for n in notices {
        let _ = handle::close(n);
    }

    // Threads: the initial one and QUOTA_THREADS - 1 more.
    let (threads, stop) = fill(2 * QUOTA_THREADS, |_| {
        thread::spawn(policy(SchedClass::Normal, DEFAULT_PRIORITY), 0, || {
            let _ = libkos::syscall::sleep_ns(ms(300));
            0
        })
    });
    stopped_at("threads", threads.len() + 1, stop, QUOTA_THREADS)?;
    for t in threads {
        let _ = t.join(FOREVER);
    }

    // Priority ceiling and scheduling classes.
    expect_rc(
        "a thread above the ceiling",
        thread::spawn(policy(SchedClass::Normal, QUOTA_PRIORITY + 1), 0, || 0).map(|_| ()),
        Rc::QuotaExceeded,
    )?;
    expect_rc(
        "a FIFO thread",
        thread::spawn(policy(SchedClass::Fifo, 1), 0, || 0).map(|_| ()),
        Rc::QuotaExceeded,
    )?;
    for (class, what) in [
        (SchedClass::Normal, "Normal"),
        (SchedClass::RoundRobin, "RoundRobin"),
    ] {
        let t = thread::spawn(policy(class, QUOTA_PRIORITY), 0, || 0)
            .map_err(|e| format!("a {what} thread at the ceiling: {e}"))?;
        let _ = t.join(FOREVER);
    }

    // Processes: QUOTA_PROCESSES children alive at once.
    let (kids, stop) = fill(2 * QUOTA_PROCESSES, |i| {
        Task::create(
            &format!("pol-kid{i}"),
            SELF,
            DEFAULT_PRIORITY,
            CreateFlags::FROM_ROMFS,
        )
    });
    stopped_at("children", kids.len(), stop, QUOTA_PROCESSES)?;
    for k in kids {
        let _ = k.terminate();
    }

    // Kernel memory: an empty child takes ELF symbols up to what is left
    // of the budget it shares with this process (its creator, whose own
    // threads' state counts too), and not a byte more; a new table
    // replaces the old one in the count.
    let blob_child = Task::create_empty("pol-blob", DEFAULT_PRIORITY, CreateFlags::empty())
        .map_err(|e| format!("an empty child: {e}"))?;
    let table = vec![0u8; 2 * QUOTA_MEMORY as usize];
    let mdl = libkos::elf::mdl_with(&table).map_err(|e| format!("MDL: {e}"))?;
    let syms =
        |size: u64| libkos::task::load_elf_syms(blob_child.handle(), mdl.get(), (0, size), (0, 0));
    // Symbol tables are whole 24-byte entries.
    expect_rc(
        "symbols twice the quota",
        syms(2 * QUOTA_MEMORY / 24 * 24),
        Rc::QuotaExceeded,
    )?;
    let (mut fit, mut over) = (0u64, QUOTA_MEMORY / 24 + 1);
    while over - fit > 1 {
        let mid = (fit + over) / 2;
        match syms(mid * 24) {
            Ok(()) => fit = mid,
            Err(Rc::QuotaExceeded) => over = mid,
            Err(e) => return Err(format!("symbols of {} entries: {e}", mid)),
        }
    }
    let fits = fit * 24;
    // This process's own threads hold some of the shared budget.
    if fits == 0 || fits + 24 > QUOTA_MEMORY - 512 {
        return Err(format!(
            "{fits} bytes of symbols fit in a {QUOTA_MEMORY}-byte budget its creator shares"
        ));
    }
    syms(fits).map_err(|e| format!("symbols filling the quota: {e}"))?;
    syms(fits).map_err(|e| format!("symbols replacing those: {e}"))?;
    expect_rc("one entry more", syms(fits + 24), Rc::QuotaExceeded)?;
    drop(mdl);
    let _ = blob_child.terminate();

    // Frames: its 512 (2 MiB) hold its image, stacks, heap and tables;
    // 4 MiB more cannot come; pages come until they are used up, then no
    // more, and one freed page can be had again.
    expect_rc(
        "4 MiB",
        vm::allocate(4 << 20).map(|_| ()),
        Rc::QuotaExceeded,
    )?;
    let (mut pages, stop) = fill(QUOTA_FRAMES, |_| vm::allocate(4096));
    let count = pages.len();
    let (again, more) = match pages.pop() {
        // SAFETY: a page this test allocated and never used.
        Some(last) => match unsafe { vm::free(last) } {
            Ok(()) => (vm::allocate(4096), vm::allocate(4096)),
            Err(e) => (Err(e), Err(e)),
        },
        None => (Err(Rc::ResourceNotFound), Err(Rc::ResourceNotFound)),
    };
    for r in pages.into_iter().chain(again.ok()).chain(more.ok()) {
        // SAFETY: pages this test allocated and never used.
        let _ = unsafe { vm::free(r) };
    }
    if stop != Rc::QuotaExceeded || count < QUOTA_FRAMES / 4 {
        return Err(format!(
            "pages stopped after {count} with {stop}, expected rcQuotaExceeded within {QUOTA_FRAMES} frames"
        ));
    }
    again.map_err(|e| format!("a page after freeing one: {e}"))?;
    expect_rc("one page more", more.map(|_| ()), Rc::QuotaExceeded)?;

    // MDL frames count too (against the creator, whoever holds the MDL):
    // 4 MiB of MDL cannot come; 1 MiB can, but not two at once; and a
    // closed one gives its frames back, again and again.
    expect_rc(
        "a 4 MiB MDL",
        mdl::create(4 << 20).map(|_| ()),
        Rc::QuotaExceeded,
    )?;
    for round in 0..3 {
        let m = mdl::create(1 << 20).map_err(|e| format!("a 1 MiB MDL (round {round}): {e}"))?;
        let second = mdl::create(1 << 20);
        let _ = handle::close(m);
        if let Ok(h) = second {
            let _ = handle::close(h);
            return Err(format!(
                "two 1 MiB MDLs within a 2 MiB quota (round {round})"
            ));
        }
        expect_rc(
            "the second 1 MiB MDL",
            second.map(|_| ()),
            Rc::QuotaExceeded,
        )?;
    }
    Ok(())
}
