//! The task API (`libkos::process`, KasperskyOS's `task.h`), each function
//! on its success and failure paths: naming from the class and the
//! component tree; task objects counted by reference; arguments and
//! variables arriving exactly; handles transferred and looked up by name;
//! two children wired with named static channels before they start, and
//! talking; endpoint ids by name; StopAndWait on a cooperative child and
//! on one stuck in a loop; Wait's exit code; Launch; GetElfSegs; a child
//! built from segments (a position-independent one, relocated by libkos);
//! fsusr: a child loaded from, and reading, a ROMFS image that exists only
//! in user space.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use libkos::abi::components::{FSUSR as FSUSR_COMPONENT, UTEST_PROCESS_SERVER};
use libkos::abi::msg::HandleDesc;
use libkos::abi::startup::{FSUSR, FsBackend};
use libkos::abi::task::{DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS};
use libkos::handle::OwnedHandle;
use libkos::process::{self, Endpoint, Exit, INFINITE, Params, Process, Seg, SegExtras, Table};
use libkos::services::echo;
use libkos::test::TestResult;
use libkos::{Handle, Rc, Rights, check, check_eq, check_ok, elf, ipc, locator, mdl, romfs, task};
use utest::{child_result, expect_rc, ms, role};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));
const CLASS: &str = env!("CARGO_BIN_NAME");
const PIE: &str = "/tests/utest-pie";
/// A ROMFS image (made by xtask) holding `/bin/child` (this program) and
/// `/etc/greeting`; served by fsusr, never by the kernel.
const USER_IMAGE: &str = "/tests/data/user.romfs";
const GREETING: &str = "hello from a user-space ROMFS\n";

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_process",
            libkos::tests![
                names_from_class_and_component,
                task_objects_are_counted,
                bad_params_change_nothing,
                args_and_env_arrive_exactly,
                lists_are_freed_when_dropped,
                resources_by_name,
                static_channels_between_children,
                stop_and_wait,
                wait_returns_the_exit_code,
                launch_runs_and_lets_go,
                elf_segs_of_a_romfs_child,
                child_from_segments_relocated,
                fsusr_backend,
            ],
        ),
    }
}

fn processes() -> Result<u64, String> {
    libkos::sys::mem_stats()
        .map(|s| s.processes)
        .map_err(|e| format!("MemStats: {e}"))
}

fn params(role: &str) -> Params {
    Params::new(CLASS).env("role", role)
}

/// A child of this program in `role`, named `name`.
fn child(name: &str, role: &str) -> Result<Process, String> {
    Process::init_ex(&params(role), Some(name), Some(SELF)).map_err(|e| format!("init {name}: {e}"))
}

fn wait_ok(p: &Process, what: &str) -> TestResult {
    match p.wait(Duration::from_secs(20)) {
        Ok(Exit::Code(0)) => Ok(()),
        r => Err(format!("{what}: ended {r:?}, expected exit code 0")),
    }
}

// ---------------------------------------------------------------------------

fn names_from_class_and_component() -> TestResult {
    // KosTaskInit: name and path from the class: there is no /bin/<class>.
    expect_rc(
        "init (path /bin/utest-process)",
        Process::init(&Params::new(CLASS)),
        Rc::ResourceNotFound,
    )?;
    // InitEx with the path only: named after the class, a name this
    // program has already (names are unique).
    expect_rc(
        "init_ex named after the class",
        Process::init_ex(&params("exit=0"), None, Some(SELF)),
        Rc::AlreadyExists,
    )?;
    let p = check_ok!(
        Process::init_ex(&params("exit=0"), Some("named"), Some(SELF)),
        "init_ex"
    );
    check_eq!(p.name(), "named", "name given");
    check_eq!(
        check_ok!(task::get_name(p.handle()), "GetName"),
        "named",
        "the kernel's name"
    );
    check_eq!(
        check_ok!(task::get_path(p.handle()), "GetPath"),
        SELF,
        "the kernel's path"
    );
    check_eq!(p.class(), CLASS, "class");
    check!(!p.started(), "started before run");
    // The component tree gives the class, name and endpoints; the eiid and
    // endpoints given otherwise are ignored.
    let s = check_ok!(
        Process::init_ex(
            &Params::component(&UTEST_PROCESS_SERVER).endpoint(Endpoint::new(
                "ignored",
                "utest.Gate",
                0x41
            )),
            None,
            Some(SELF)
        ),
        "init_ex from the component tree"
    );
    check_eq!(
        s.name(),
        "utest.process.Server",
        "name from the component's class"
    );
    check_eq!(
        check_ok!(task::get_name(s.handle()), "GetName"),
        "utest.process.Server",
        "the kernel's name"
    );
    check_eq!(
        s.endpoints(),
        alloc::vec![Endpoint::new("echo", "utest.Echo", echo::ENDPOINT)],
        "endpoints from the component"
    );
    // SetComponentTree and AddEndpoints on a task object.
    check_ok!(
        s.add_endpoints(&[Endpoint::new("gate", "utest.Gate", 0x41)]),
        "AddEndpoints"
    );
    check_eq!(s.endpoints().len(), 2, "endpoints after AddEndpoints");
    check_ok!(
        p.set_component_tree(&UTEST_PROCESS_SERVER),
        "SetComponentTree"
    );
    check_eq!(
        p.class(),
        "utest.process.Server",
        "class after SetComponentTree"
    );
    check_eq!(p.endpoints().len(), 1, "endpoints after SetComponentTree");
    // A class the policy does not let this program start.
    expect_rc(
        "init of an unnamed class",
        Process::init_ex(&Params::new("utest.nobody"), None, Some(SELF)),
        Rc::SecurityDisallow,
    )?;
    Ok(())
}

fn task_objects_are_counted() -> TestResult {
    let before = processes()?;
    let p = child("counted", "exit=0")?;
    check_eq!(processes()?, before + 1, "a process made");
    let again = p.clone();
    drop(p);
    // One reference left: the handle is still open.
    check_ok!(
        task::get_pid(again.handle()),
        "GetPid through the other reference"
    );
    check_eq!(processes()?, before + 1, "still there");
    drop(again);
    // The last reference closed the handle: the never-started process went.
    check_eq!(processes()?, before, "gone with the last reference");

    // KosTaskGetSelf: the own object, shared, never closing SELF_TASK.
    let me = Process::current();
    check_eq!(me.handle(), Handle::SELF_TASK, "own handle");
    check!(me.started(), "own object started");
    let pid = check_ok!(task::get_pid(Handle::SELF_TASK), "own pid");
    check_eq!(me.pid(), pid, "own pid");
    drop(me);
    check_ok!(
        task::get_pid(Handle::SELF_TASK),
        "SELF_TASK after KosTaskPut"
    );
    expect_rc(
        "set_args on itself",
        Process::current().set_args(&["x"]),
        Rc::Busy,
    )?;
    Ok(())
}

fn bad_params_change_nothing() -> TestResult {
    let before = processes()?;
    let bad = [
        (
            "empty class",
            Process::init_ex(&Params::new(""), Some("x"), Some(SELF)),
        ),
        (
            "variable without =",
            Process::init_ex(&params("x").env("", "nameless"), Some("x"), Some(SELF)),
        ),
        (
            "name too long",
            Process::init_ex(&params("x"), Some(&"n".repeat(65)), Some(SELF)),
        ),
        (
            "path too long",
            Process::init_ex(&params("x"), Some("x"), Some(&"/p".repeat(200))),
        ),
    ];
    for (what, r) in bad {
        expect_rc(what, r, Rc::InvalidArgument)?;
    }
    expect_rc(
        "no such executable",
        Process::init_ex(&params("x"), Some("x"), Some("/tests/none")),
        Rc::ResourceNotFound,
    )?;
    check_eq!(processes()?, before, "processes after refusals");

    let p = child("bad-set", "exit=0")?;
    expect_rc(
        "set_env without =",
        p.set_env(&["A=1", "B"]),
        Rc::InvalidArgument,
    )?;
    check_eq!(
        p.env_list(),
        alloc::vec!["role=exit=0".to_string()],
        "env unchanged"
    );
    // Too much start data for the environment region.
    let big = "a".repeat(3000);
    check_ok!(p.set_args(&[&big, &big]), "SetArgs (large)");
    expect_rc("run with 6 KB of arguments", p.run(), Rc::MessageTooLarge)?;
    check!(!p.started(), "started after a refused run");
    check_ok!(p.set_args(&[]), "SetArgs (none)");
    check_ok!(p.run(), "run");
    expect_rc("run twice", p.run(), Rc::Busy)?;
    expect_rc("set_args after run", p.set_args(&["late"]), Rc::Busy)?;
    wait_ok(&p, "bad-set")
}

/// The parent's side of a report: an MDL the child writes into (resource
/// `report`), read back after it ended.
fn report_mdl(p: &Process) -> Result<OwnedHandle, String> {
    let m = OwnedHandle::new(check_ok!(mdl::create(4096), "MDL"));
    check_ok!(
        p.transfer_resource(
            m.get(),
            None,
            Rights::MAP_READ | Rights::MAP_WRITE,
            "report"
        ),
        "TransferResource report"
    );
    Ok(m)
}

fn read_report(m: &OwnedHandle) -> Result<String, String> {
    let map = check_ok!(mdl::map(m.get(), false), "map the report");
    let mut buf = alloc::vec![0u8; 4096];
    let r = map.read(0, &mut buf);
    let _ = mdl::unmap(m.get(), map);
    check_ok!(r, "read the report");
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).map_err(|_| "report not UTF-8".to_string())
}

fn args_and_env_arrive_exactly() -> TestResult {
    let args = ["one", "", "two words", "ünïcödé", "--flag=x=y"];
    let p = check_ok!(
        Process::init_ex(
            &params("report-args")
                .args(args)
                .env("EMPTY", "")
                .env("EQ", "a=b"),
            Some("args-child"),
            Some(SELF)
        ),
        "init"
    );
    let m = report_mdl(&p)?;
    // SetArgs replaces what the params gave; GetArgsList returns it.
    check_ok!(p.set_args(&args), "SetArgs");
    check_eq!(
        p.args_list(),
        args.map(String::from).to_vec(),
        "GetArgsList"
    );
    let envs = ["role=report-args", "EMPTY=", "EQ=a=b", "LAST=ü"];
    check_ok!(p.set_env(&envs), "SetEnv");
    check_eq!(p.env_list(), envs.map(String::from).to_vec(), "GetEnvList");
    check_ok!(p.run(), "run");
    wait_ok(&p, "args-child")?;
    let got = read_report(&m)?;
    let mut want = format!("arg0={}\n", CLASS);
    for a in args {
        want.push_str(&format!("arg={a}\n"));
    }
    for e in envs {
        let (n, v) = e.split_once('=').unwrap();
        want.push_str(&format!("var={n}:{v}\n"));
    }
    want.push_str("EQ=a=b MISSING=None\n");
    want.push_str(&format!(
        "self-args={} self-env={}\n",
        args.len(),
        envs.len()
    ));
    check_eq!(got, want, "what the child saw");
    Ok(())
}

/// KosTaskFreeArgsList and KosTaskFreeEnvList are dropping the lists:
/// a hundred of each, taken and dropped, leave the heap as it was.
fn lists_are_freed_when_dropped() -> TestResult {
    let p = child("lists", "exit=0")?;
    let many: Vec<String> = (0..20).map(|i| format!("argument number {i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    check_ok!(p.set_args(&refs), "SetArgs");
    check_ok!(p.set_env(&["A=1", "B=2", "C=3"]), "SetEnv");
    // One round first: whatever the heap keeps grown stays grown.
    drop((p.args_list(), p.env_list()));
    let before = libkos::heap::used();
    for _ in 0..100 {
        let args = p.args_list();
        let env = p.env_list();
        check_eq!((args.len(), env.len()), (20, 3), "the lists");
        drop(args); // KosTaskFreeArgsList
        drop(env); // KosTaskFreeEnvList
    }
    check_eq!(
        libkos::heap::used(),
        before,
        "heap bytes after 100 lists dropped"
    );
    Ok(())
}

fn report_args() -> Result<(), String> {
    let m = process::lookup_resource("report").map_err(|e| format!("lookup report: {e}"))?;
    let mut out = String::new();
    let mut it = libkos::env::args();
    out.push_str(&format!("arg0={}\n", it.next().unwrap_or("?")));
    for a in it {
        out.push_str(&format!("arg={a}\n"));
    }
    for (n, v) in libkos::env::vars() {
        out.push_str(&format!("var={n}:{v}\n"));
    }
    out.push_str(&format!(
        "EQ={} MISSING={:?}\n",
        libkos::env::var("EQ").unwrap_or("?"),
        libkos::env::var("MISSING")
    ));
    let me = Process::current();
    out.push_str(&format!(
        "self-args={} self-env={}\n",
        me.args_list().len(),
        me.env_list().len()
    ));
    let map = mdl::map(m, true).map_err(|e| format!("map: {e}"))?;
    map.write(0, out.as_bytes())
        .map_err(|e| format!("write: {e}"))
}

fn resources_by_name() -> TestResult {
    let p = child("res-child", "resources")?;
    let m = report_mdl(&p)?;
    // The same name twice; a handle this process does not have.
    expect_rc(
        "same name again",
        p.transfer_resource(m.get(), None, Rights::MAP_READ, "report"),
        Rc::AlreadyExists,
    )?;
    expect_rc(
        "a closed handle",
        p.transfer_resource(Handle(0x7777), None, Rights::MAP_READ, "nothing"),
        Rc::InvalidHandle,
    )?;
    expect_rc(
        "an empty name",
        p.transfer_resource(m.get(), None, Rights::MAP_READ, ""),
        Rc::InvalidArgument,
    )?;
    // Read-only under a second name: the child checks it cannot write.
    check_ok!(
        p.transfer_resource(m.get(), None, Rights::MAP_READ, "read-only"),
        "TransferResource read-only"
    );
    check_ok!(p.run(), "run");
    expect_rc(
        "transfer after run",
        p.transfer_resource(m.get(), None, Rights::MAP_READ, "late"),
        Rc::Busy,
    )?;
    wait_ok(&p, "res-child")?;
    check_eq!(read_report(&m)?, "written through report", "report");
    // This process was given nothing by name.
    expect_rc(
        "lookup here",
        process::lookup_resource("report"),
        Rc::ResourceNotFound,
    )?;
    Ok(())
}

fn resources_child() -> Result<(), String> {
    let w = process::lookup_resource("report").map_err(|e| format!("report: {e}"))?;
    let r = process::lookup_resource("read-only").map_err(|e| format!("read-only: {e}"))?;
    match process::lookup_resource("nothing") {
        Err(Rc::ResourceNotFound) => {}
        other => return Err(format!("lookup of a name never given: {other:?}")),
    }
    match mdl::map(r, true) {
        Err(Rc::NoCapability) => {}
        other => return Err(format!("writable map through read-only: {other:?}")),
    }
    let map = mdl::map(w, true).map_err(|e| format!("map: {e}"))?;
    map.write(0, b"written through report")
        .map_err(|e| format!("write: {e}"))
}

// ---------------------------------------------------------------------------
// Static channels

fn static_channels_between_children() -> TestResult {
    let server = check_ok!(
        Process::init_ex(
            &Params::component(&UTEST_PROCESS_SERVER).env("role", "server"),
            None,
            Some(SELF)
        ),
        "init the server"
    );
    let c1 = child("channel-client-1", "client-1")?;
    let c2 = child("channel-client-2", "client-2")?;
    // Named after the server's class; a second name between the same
    // two; the second name shared by another client.
    check_ok!(process::connect(&c1, &server), "Connect");
    check_ok!(
        process::connect_to_service(&c1, &server, "second"),
        "ConnectToService"
    );
    check_ok!(
        process::connect_to_service(&c2, &server, "second"),
        "ConnectToService (2nd client)"
    );
    expect_rc(
        "a channel to itself",
        process::connect_to_service(&c1, &c1, "self"),
        Rc::InvalidArgument,
    )?;
    expect_rc(
        "an empty name",
        process::connect_to_service(&c1, &server, ""),
        Rc::InvalidArgument,
    )?;
    for (p, what) in [(&server, "server"), (&c1, "client 1"), (&c2, "client 2")] {
        check_ok!(p.run(), "run {what}");
    }
    expect_rc(
        "connect after run",
        process::connect_to_service(&c1, &server, "late"),
        Rc::Busy,
    )?;
    wait_ok(&c1, "client 1")?;
    wait_ok(&c2, "client 2")?;
    wait_ok(&server, "server")
}

struct Echo {
    pings: u32,
    stopped: bool,
}

impl echo::Server for Echo {
    fn ping(&mut self, x: u32) -> Result<u32, Rc> {
        self.pings += 1;
        Ok(x + 1)
    }
    fn add(
        &mut self,
        _: libkos::abi::services::Point,
        _: libkos::abi::services::Point,
    ) -> Result<(libkos::abi::services::Point, i64), Rc> {
        Err(Rc::NotSupported)
    }
    fn concat(&mut self, _: &[u8], _: &str) -> Result<(Vec<u8>, u32), Rc> {
        Err(Rc::NotSupported)
    }
    fn greet(&mut self, _: &str) -> Result<String, Rc> {
        Err(Rc::NotSupported)
    }
    fn signal(&mut self, _: HandleDesc, _: u64) -> Result<(), Rc> {
        Err(Rc::NotSupported)
    }
    fn make_object(&mut self, _: u64) -> Result<HandleDesc, Rc> {
        Err(Rc::NotSupported)
    }
    fn fail(&mut self, _: u32) -> Result<(), Rc> {
        Err(Rc::NotSupported)
    }
    fn big(&mut self, _: &[u8]) -> Result<(u64, Vec<u8>), Rc> {
        Err(Rc::NotSupported)
    }
    fn stop(&mut self) -> Result<(), Rc> {
        self.stopped = true;
        Ok(())
    }
}

/// Serves `end` until `done` says so.
fn serve(end: Handle, imp: &mut Echo, done: impl Fn(&Echo) -> bool) -> Result<(), String> {
    let mut s = ipc::Server::new(end, echo::REQUEST_CAP, echo::REPLY_CAP);
    while !done(imp) {
        let rc = s
            .serve_one(ms(10_000), |req, reply| echo::dispatch(imp, req, reply))
            .map_err(|e| format!("recv: {e}"))?;
        if rc != Rc::Ok {
            return Err(format!("reply: {rc}"));
        }
    }
    Ok(())
}

fn run_server() -> Result<(), String> {
    // The channel named after the class: client 1 pings, then stops it.
    let first = locator::register("utest.process.Server").map_err(|e| format!("register: {e}"))?;
    serve(
        first,
        &mut Echo {
            pings: 0,
            stopped: false,
        },
        |e| e.stopped,
    )?;
    // "second": one ping from each client.
    let second = locator::register("second").map_err(|e| format!("register second: {e}"))?;
    serve(
        second,
        &mut Echo {
            pings: 0,
            stopped: false,
        },
        |e| e.pings == 2,
    )
}

fn ping(channel: &str, x: u32) -> Result<(), String> {
    let h = locator::connect(channel).map_err(|e| format!("connect {channel}: {e}"))?;
    let c = echo::Client::new(h).with_timeout(ms(10_000));
    match c.ping(x) {
        Ok(y) if y == x + 1 => Ok(()),
        r => Err(format!("ping({x}) on {channel}: {r:?}")),
    }
}

fn run_client_1() -> Result<(), String> {
    // Endpoint ids by "<channel>.<endpoint>", from the server's task
    // object; by "<class>.<endpoint>" from the declarations.
    for name in [
        "utest.process.Server.echo",
        "second.echo",
        "utest.iface.Server.echo",
    ] {
        match locator::endpoint_id(name) {
            Ok(id) if id == echo::ENDPOINT => {}
            r => return Err(format!("endpoint_id({name}): {r:?}")),
        }
    }
    for (name, want) in [
        ("second.nothing", Rc::ResourceNotFound),
        ("noperiod", Rc::InvalidArgument),
    ] {
        match locator::endpoint_id(name) {
            Err(e) if e == want => {}
            r => return Err(format!("endpoint_id({name}): {r:?}, expected {want}")),
        }
    }
    ping("utest.process.Server", 1)?;
    let h = locator::connect("utest.process.Server").map_err(|e| format!("connect: {e}"))?;
    echo::Client::new(h)
        .stop()
        .map_err(|e| format!("stop: {e}"))?;
    ping("second", 10)
}

fn run_client_2() -> Result<(), String> {
    match locator::connect("utest.process.Server") {
        Err(Rc::ResourceNotFound) => {}
        r => return Err(format!("a channel never made to this client: {r:?}")),
    }
    match locator::endpoint_id("utest.process.Server.echo") {
        // Not a channel of this client, but a declared class.
        Ok(id) if id == echo::ENDPOINT => {}
        r => return Err(format!("endpoint_id by class: {r:?}")),
    }
    ping("second", 20)
}

// ---------------------------------------------------------------------------
// Ending

fn stop_and_wait() -> TestResult {
    for role in ["block", "spin"] {
        let p = child(role, role)?;
        check_ok!(p.run(), "run {role}");
        expect_rc(
            &format!("wait 20 ms for {role}"),
            p.wait(Duration::from_millis(20)),
            Rc::Timeout,
        )?;
        check_ok!(
            p.stop_and_wait(Duration::from_secs(5)),
            "StopAndWait {role}"
        );
        check_eq!(
            check_ok!(p.wait(Duration::ZERO), "wait after"),
            Exit::Terminated,
            "{role} ended"
        );
        // Stopping an ended process: Stop says so; StopAndWait has what it
        // waits for.
        expect_rc("Stop again", p.stop(), Rc::Busy)?;
        check_ok!(p.stop_and_wait(INFINITE), "StopAndWait again");
    }
    Ok(())
}

fn wait_returns_the_exit_code() -> TestResult {
    for code in [0i64, 42, -7] {
        let p = child("exits", &format!("exit={code}"))?;
        check_ok!(p.run(), "run");
        check_eq!(
            check_ok!(p.wait(INFINITE), "Wait"),
            Exit::Code(code),
            "exit code"
        );
        check_eq!(Exit::Code(code).code(), Some(code), "Exit::code");
    }
    let p = child("panics", "panic")?;
    check_ok!(p.run(), "run");
    check_eq!(
        check_ok!(p.wait(INFINITE), "Wait"),
        Exit::Code(libkos::PANIC_EXIT_CODE),
        "a panic's code"
    );
    Ok(())
}

fn launch_runs_and_lets_go() -> TestResult {
    let before = processes()?;
    // KosTaskLaunch's path is the class's: this one has no /bin file.
    expect_rc(
        "launch",
        Process::launch(&params("exit=0")),
        Rc::ResourceNotFound,
    )?;
    // A launched process runs on without a task object; it goes when it
    // ends, its handle already closed.
    let p = child("launched", "exit=0")?;
    let pid = p.pid();
    check_ok!(p.run(), "run");
    drop(p);
    let deadline = utest::now() + ms(10_000);
    while processes()? != before {
        check!(utest::now() < deadline, "process {pid} never went");
        let _ = libkos::syscall::sleep_ns(ms(1));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Images

fn elf_segs_of_a_romfs_child() -> TestResult {
    let p = child("segs", "exit=0")?;
    let segs = check_ok!(p.elf_segs(), "GetElfSegs");
    let file = check_ok!(romfs::read_to_vec(SELF), "read {SELF}");
    let img = check_ok!(elf::prepare(&file, 0), "prepare");
    check_eq!(segs.segments, img.segments, "segments");
    check_eq!(segs.entry, img.entry, "entry");
    check_eq!(
        segs.symtab_size,
        img.symtab.map_or(0, |s| s.1),
        ".symtab size"
    );
    check!(segs.header.starts_with(b"\x7fELF"), "header");
    check_ok!(p.run(), "run");
    wait_ok(&p, "segs")?;
    expect_rc(
        "GetElfSegs of itself",
        Process::current().elf_segs(),
        Rc::NotSupported,
    )?;
    Ok(())
}

fn child_from_segments_relocated() -> TestResult {
    // The KnElfCreateVmSegEx equivalent: a random offset, the relocations
    // applied; the program checks its own pointers (exit 0 if relocated).
    let file = check_ok!(romfs::read_to_vec(PIE), "read {PIE}");
    let img = check_ok!(elf::prepare(&file, utest::now()), "prepare");
    let relocated = check_ok!(elf::relocate(&file, &img), "relocate");
    check!(relocated != file, "relocation changed nothing");
    let m = check_ok!(elf::mdl_with(&relocated), "MDL");
    let mut segs: Vec<Seg> = img
        .segments
        .iter()
        .map(|s| Seg {
            mdl: m.get(),
            mdl_offset: s.file_offset,
            file_size: s.file_size,
            mem_size: s.mem_size,
            load_addr: s.vaddr,
            perms: s.perms,
        })
        .collect();
    let (symtab, strtab) = (img.symtab.unwrap(), img.strtab.unwrap());
    for (off, size) in [symtab, strtab] {
        segs.push(Seg {
            mdl: m.get(),
            mdl_offset: off,
            file_size: size,
            mem_size: size,
            load_addr: 0,
            perms: libkos::abi::vm::VmPerms::READ,
        });
    }
    let n = segs.len();
    // A table index beyond the segments.
    let bad = SegExtras {
        symbols: Some((Table { index: n, size: 1 }, Table { index: 0, size: 1 })),
        elf_header: None,
    };
    expect_rc(
        "symbols beyond the segments",
        Process::init_from_seg_ex(&params("x"), None, None, &mut segs, 0, img.entry, bad),
        Rc::InvalidArgument,
    )?;
    let extras = SegExtras {
        symbols: Some((
            Table {
                index: n - 2,
                size: symtab.1,
            },
            Table {
                index: n - 1,
                size: strtab.1,
            },
        )),
        elf_header: Some(&file[..img.header_size as usize]),
    };
    let p = check_ok!(
        Process::init_from_seg_ex(
            &Params::new(CLASS).env("role", "child"),
            Some("pie-from-segs"),
            Some(PIE),
            &mut segs,
            img.load_offset,
            img.entry,
            extras
        ),
        "InitFromSegEx"
    );
    let got = check_ok!(p.elf_segs(), "GetElfSegs");
    check_eq!(got.segments, img.segments, "segments loaded");
    check_eq!(
        (got.load_offset, got.symtab_size),
        (img.load_offset, symtab.1),
        "offset, symbols"
    );
    check_ok!(p.run(), "run");
    check_eq!(
        check_ok!(p.wait(INFINITE), "Wait"),
        Exit::Code(0),
        "the PIE's verdict"
    );

    // InitFromSeg: the kernel places a segment given at address 0 (here a
    // data segment; the program is this one, at its link addresses).
    let me = check_ok!(romfs::read_to_vec(SELF), "read {SELF}");
    let mi = check_ok!(elf::prepare(&me, 0), "prepare {SELF}");
    let mm = check_ok!(elf::mdl_with(&me), "MDL");
    let mut segs: Vec<Seg> = mi
        .segments
        .iter()
        .map(|s| Seg {
            mdl: mm.get(),
            mdl_offset: s.file_offset,
            file_size: s.file_size,
            mem_size: s.mem_size,
            load_addr: s.vaddr,
            perms: s.perms,
        })
        .collect();
    segs.push(Seg {
        mdl: mm.get(),
        mdl_offset: 0,
        file_size: 64,
        mem_size: 4096,
        load_addr: 0,
        perms: libkos::abi::vm::VmPerms::READ,
    });
    let p = check_ok!(
        Process::init_from_seg(&params("exit=5"), Some("from-seg"), &mut segs, mi.entry),
        "InitFromSeg"
    );
    let placed = segs.last().unwrap().load_addr;
    check!(
        placed != 0 && placed.is_multiple_of(4096),
        "placed at {placed:#x}"
    );
    check_ok!(p.run(), "run");
    check_eq!(
        check_ok!(p.wait(INFINITE), "Wait"),
        Exit::Code(5),
        "from-seg child"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// fsusr

fn fsusr_backend() -> TestResult {
    check_eq!(
        process::self_fs_backend(),
        FsBackend::Kernel,
        "backend at start"
    );
    // No fsusr channel yet: a child cannot be given the user backend.
    let orphan = child("no-fsusr", "exit=0")?;
    expect_rc(
        "RunEx(fsusr) without fsusr",
        orphan.run_ex(FsBackend::User),
        Rc::ResourceNotFound,
    )?;
    drop(orphan);

    // Start fsusr and give it the server end of a channel of ours.
    let fs = check_ok!(
        Process::init_ex(
            // It reads the ROMFS for its clients.
            &Params::component(&FSUSR_COMPONENT)
                .rights(DEFAULT_TASK_RIGHTS, DEFAULT_KERNEL_RIGHTS | Rights::ROMFS),
            Some("fsusr-test"),
            Some("/bin/fsusr")
        ),
        "init fsusr"
    );
    let ends = check_ok!(libkos::channel::create(), "channel");
    check_ok!(
        fs.transfer_resource(ends.server, None, Rights::SERVER | Rights::LISTENER, FSUSR),
        "give fsusr its end"
    );
    let _ = libkos::handle::close(ends.server);
    check_ok!(fs.run(), "run fsusr");
    check_ok!(romfs::set_fsusr_channel(ends.client), "use the channel");
    expect_rc(
        "a second channel",
        romfs::set_fsusr_channel(ends.client),
        Rc::AlreadyExists,
    )?;

    let result = with_user_backend();
    process::set_self_fs_backend(FsBackend::Kernel);
    check_ok!(fs.stop_and_wait(Duration::from_secs(5)), "stop fsusr");
    result
}

fn with_user_backend() -> TestResult {
    // KnFsChange: the image only this test's fsusr serves.
    let image = check_ok!(romfs::read_to_vec(USER_IMAGE), "read {USER_IMAGE}");
    expect_rc(
        "KnFsChange of garbage",
        romfs::fs_change(b"not a romfs image"),
        Rc::InvalidArgument,
    )?;
    check_ok!(romfs::fs_change(&image), "KnFsChange");
    process::set_self_fs_backend(FsBackend::User);
    check_eq!(
        process::self_fs_backend(),
        FsBackend::User,
        "GetSelfFSBackend"
    );
    check_eq!(
        check_ok!(romfs::read_to_vec("/etc/greeting"), "read through fsusr"),
        GREETING.as_bytes(),
        "greeting"
    );
    expect_rc(
        "a file the kernel has",
        romfs::read_to_vec(SELF),
        Rc::ResourceNotFound,
    )?;
    expect_rc(
        "a missing file",
        romfs::read_to_vec("/etc/none"),
        Rc::ResourceNotFound,
    )?;
    // Still the image given before the refused change.
    expect_rc(
        "KnFsChange of garbage again",
        romfs::fs_change(&image[..100]),
        Rc::InvalidArgument,
    )?;
    check_ok!(
        romfs::read_to_vec("/etc/greeting"),
        "read after a refused change"
    );

    // A child loaded through fsusr from a file the kernel does not have,
    // started with the fsusr backend: it reads the greeting too.
    let p = check_ok!(
        Process::init_ex(&params("fsread"), Some("fsusr-child"), Some("/bin/child")),
        "init from the user image"
    );
    check!(p.elf_segs().is_ok(), "segments of the fsusr child");
    check_ok!(p.run_ex(FsBackend::User), "RunEx(fsusr)");
    wait_ok(&p, "fsusr child")
}

fn fsread() -> Result<(), String> {
    if process::self_fs_backend() != FsBackend::User {
        return Err("backend is not fsusr".into());
    }
    let g = romfs::read_to_vec("/etc/greeting").map_err(|e| format!("read greeting: {e}"))?;
    if g != GREETING.as_bytes() {
        return Err(format!("greeting: {g:?}"));
    }
    match romfs::read_to_vec(SELF) {
        Err(Rc::ResourceNotFound) => {}
        r => return Err(format!("a kernel-only file: {:?}", r.map(|v| v.len()))),
    }
    // The kernel's ROMFS is not its to read: it was not given the ROMFS
    // right (least privilege), so it reads files only through fsusr.
    process::set_self_fs_backend(FsBackend::Kernel);
    match romfs::read_to_vec(SELF) {
        Err(Rc::NoCapability) => Ok(()),
        r => Err(format!(
            "kernel ROMFS without the right: {:?}",
            r.map(|v| v.len())
        )),
    }
}

// ---------------------------------------------------------------------------

fn run_role(role: &str) -> Result<(), String> {
    if let Some(code) = role.strip_prefix("exit=") {
        let code: i64 = code.parse().map_err(|_| format!("bad code {code}"))?;
        task::exit(code);
    }
    match role {
        "report-args" => report_args(),
        "resources" => resources_child(),
        "server" => run_server(),
        "client-1" => run_client_1(),
        "client-2" => run_client_2(),
        "fsread" => fsread(),
        "panic" => panic!("as asked"),
        "block" => {
            let _ = libkos::syscall::sleep_ns(u64::MAX);
            Err("woke up".into())
        }
        "spin" => loop {
            core::hint::spin_loop();
        },
        other => Err(format!("unknown role {other}")),
    }
}
