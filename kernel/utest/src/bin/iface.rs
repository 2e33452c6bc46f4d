//! A user service declared once (`utest.Echo` in `kos_abi::services`) end
//! to end: a client child calls every method of it through the `Client`
//! stub libkos generates from the declaration, a server child answers
//! through the generated `Server` trait and `dispatch`: fixed-size values,
//! byte strings and strings in the arena both ways, handles both ways,
//! method errors, unknown methods and malformed requests.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use libkos::abi::components::UTEST_ECHO_SERVER;
use libkos::abi::msg::handle_ops::KIND_USER_OBJECT;
use libkos::abi::msg::{ArenaRef, HandleDesc};
use libkos::abi::services::Point;
use libkos::ipc::{self, Encoder, Out};
use libkos::notice::{self, Event};
// `utest.Echo`, declared once in `kos_abi::services`; libkos makes its
// stubs from that declaration.
use libkos::services::echo;
use libkos::syscall::FOREVER;
use libkos::test::TestResult;
use libkos::{Rc, Rights, check_eq, handle, locator};
use utest::{child, child_result, ms, pattern_mismatch, pattern_vec, role, run_group};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

/// An object-specific right of the server's user objects.
const OBJ_USE: Rights = Rights::from_bits_retain(1 << 6);

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_iface",
            libkos::tests![
                shapes_from_the_declaration,
                stub_and_dispatch_across_processes,
                generated_serve_loop,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "server" => run_server(),
        "client" => run_client(),
        "serve-loop" => {
            let h = locator::register("echo").map_err(|e| format!("register: {e}"))?;
            let rc = echo::serve(h, &mut EchoImpl { stopped: false });
            Err(format!("echo::serve returned {rc}"))
        }
        "loop-client" => run_loop_client(),
        other => Err(format!("unknown role {other}")),
    }
}

/// The layout the macro derives: fields aligned in order, padded to 8.
fn shapes_from_the_declaration() -> TestResult {
    use echo::methods;
    check_eq!(echo::ENDPOINT, 0x40, "endpoint");
    // The declaration as the host tools read it is the one the stubs came from.
    let decl = libkos::abi::services::echo::METHODS;
    check_eq!(decl.len(), 9, "methods declared");
    check_eq!(
        (decl[0].name, decl[0].id, decl[0].args[0].fixed),
        ("ping", methods::ping::ID, 4),
        "ping as declared"
    );
    check_eq!(
        (decl[7].name, decl[7].args[0].arena),
        ("big", 61440),
        "big's arena bound as declared"
    );
    check_eq!((methods::ping::ID, methods::stop::ID), (1, 9), "ids");
    let s = methods::ping::SHAPE;
    check_eq!(
        (s.req_fixed, s.req_handles, s.req_cap),
        (8, 0, 24),
        "ping request"
    );
    check_eq!((s.reply_fixed, s.reply_cap), (8, 24), "ping reply");
    let s = methods::add::SHAPE;
    check_eq!(
        (s.req_fixed, s.reply_fixed),
        (16, 16),
        "add: 2 Points; Point + i64"
    );
    let s = methods::concat::SHAPE;
    check_eq!(
        (s.req_fixed, s.req_cap),
        (16, 16 + 16 + 128),
        "concat request"
    );
    check_eq!(
        (s.reply_fixed, s.reply_cap),
        (16, 16 + 16 + 128),
        "concat reply"
    );
    let s = methods::signal::SHAPE;
    check_eq!(
        (s.req_fixed, s.req_handles, s.req_cap),
        (8, 1, 16 + 8 + 24),
        "signal"
    );
    let s = methods::make_object::SHAPE;
    check_eq!(
        (s.reply_fixed, s.reply_handles),
        (0, 1),
        "make_object reply"
    );
    let s = methods::stop::SHAPE;
    check_eq!((s.req_cap, s.reply_cap), (16, 16), "stop: bare headers");
    check_eq!(echo::REQUEST_CAP, 16 + 8 + 61440, "largest request");
    check_eq!(echo::REPLY_CAP, 16 + 16 + 61440, "largest reply");
    Ok(())
}

fn stub_and_dispatch_across_processes() -> TestResult {
    run_group(
        SELF,
        &[
            child("iface-client", "client"),
            // The class the component declaration says provides utest.Echo.
            child(UTEST_ECHO_SERVER.class, "server"),
        ],
        &[(0, 1, "echo")],
    )
}

/// `echo::serve` (an `ipc::Server` replying and receiving in one
/// `ReplyRecv` trap) against a client: many calls, errors, handles.
fn generated_serve_loop() -> TestResult {
    run_group(
        SELF,
        &[
            child("iface-loop-client", "loop-client"),
            utest::daemon(UTEST_ECHO_SERVER.class, "serve-loop"),
        ],
        &[(0, 1, "echo")],
    )
}

fn run_loop_client() -> Result<(), String> {
    let h = locator::connect("echo").map_err(|e| format!("connect: {e}"))?;
    let c = echo::Client::new(h).with_timeout(ms(5000));
    for i in 0..200u32 {
        match c.ping(i) {
            Ok(y) if y == i + 1 => {}
            r => return Err(format!("ping({i}): {r:?}")),
        }
        if i % 50 == 0 {
            match c.fail(Rc::Busy as u32) {
                Err(Rc::Busy) => {}
                r => return Err(format!("fail(Busy) after {i} pings: {r:?}")),
            }
        }
    }
    let g = c.greet("loop").map_err(|e| format!("greet: {e}"))?;
    if g != "hello, loop" {
        return Err(format!("greet: {g:?}"));
    }
    let obj = c.make_object(7).map_err(|e| format!("make_object: {e}"))?;
    handle::identify(ipc::received(&obj)).map_err(|e| format!("identify the object: {e}"))?;
    Ok(())
}

// --- server -----------------------------------------------------------------

struct EchoImpl {
    stopped: bool,
}

impl echo::Server for EchoImpl {
    fn ping(&mut self, x: u32) -> Result<u32, Rc> {
        Ok(x.wrapping_add(1))
    }

    fn add(&mut self, a: Point, b: Point) -> Result<(Point, i64), Rc> {
        let sum = Point {
            x: a.x + b.x,
            y: a.y + b.y,
        };
        let dot = i64::from(a.x) * i64::from(b.x) + i64::from(a.y) * i64::from(b.y);
        Ok((sum, dot))
    }

    fn concat(&mut self, a: &[u8], b: &str) -> Result<(Vec<u8>, u32), Rc> {
        let mut v = Vec::from(a);
        v.extend_from_slice(b.as_bytes());
        let len = v.len() as u32;
        Ok((v, len))
    }

    fn greet(&mut self, name: &str) -> Result<String, Rc> {
        Ok(format!("hello, {name}"))
    }

    fn signal(&mut self, n: HandleDesc, cookie: u64) -> Result<(), Rc> {
        let h = ipc::received(&n);
        let r = notice::signal(h, cookie);
        let _ = handle::close(h);
        r
    }

    fn make_object(&mut self, context: u64) -> Result<HandleDesc, Rc> {
        let h = libkos::user_object::create(context, Rights::COPY | Rights::TRANSFER | OBJ_USE)?;
        Ok(ipc::move_of(h, Rights::COPY | OBJ_USE))
    }

    fn fail(&mut self, code: u32) -> Result<(), Rc> {
        Err(Rc::from_u32(code).unwrap_or(Rc::NotSupported))
    }

    fn big(&mut self, data: &[u8]) -> Result<(u64, Vec<u8>), Rc> {
        if pattern_mismatch(1, data).is_some() {
            return Err(Rc::InvalidArgument);
        }
        Ok((data.len() as u64, pattern_vec(2, data.len())))
    }

    fn stop(&mut self) -> Result<(), Rc> {
        self.stopped = true;
        Ok(())
    }
}

fn run_server() -> Result<(), String> {
    let h = locator::register("echo").map_err(|e| format!("register: {e}"))?;
    let mut server = ipc::Server::new(h, echo::REQUEST_CAP, echo::REPLY_CAP);
    let mut imp = EchoImpl { stopped: false };
    while !imp.stopped {
        let rc = server
            .serve_one(FOREVER, |req, reply| echo::dispatch(&mut imp, req, reply))
            .map_err(|e| format!("recv: {e}"))?;
        if rc != Rc::Ok {
            return Err(format!("reply: {rc}"));
        }
    }
    Ok(())
}

// --- client -----------------------------------------------------------------

fn run_client() -> Result<(), String> {
    let h = locator::connect("echo").map_err(|e| format!("connect: {e}"))?;
    let c = echo::Client::new(h);

    let y = c.ping(41).map_err(|e| format!("ping: {e}"))?;
    if y != 42 {
        return Err(format!("ping(41) = {y}"));
    }

    let (sum, dot) = c
        .add(Point { x: 1, y: -2 }, Point { x: 30, y: 40 })
        .map_err(|e| format!("add: {e}"))?;
    if sum != (Point { x: 31, y: 38 }) || dot != 30 - 80 {
        return Err(format!("add: {sum:?}, {dot}"));
    }

    let (joined, len) = c
        .concat(b"abc\0", "déf")
        .map_err(|e| format!("concat: {e}"))?;
    if joined != "abc\0déf".as_bytes() || len != 8 {
        return Err(format!("concat: {joined:?}, {len}"));
    }
    let (joined, len) = c
        .concat(b"", "")
        .map_err(|e| format!("concat empty: {e}"))?;
    if !joined.is_empty() || len != 0 {
        return Err(format!("concat of empties: {joined:?}, {len}"));
    }
    // Over the declared bound: refused by the stub, nothing sent.
    match c.concat(&[0u8; 65], "") {
        Err(Rc::InvalidArgument) => {}
        r => return Err(format!("concat with 65 bytes (bound 64): {r:?}")),
    }

    let g = c.greet("kos").map_err(|e| format!("greet: {e}"))?;
    if g != "hello, kos" {
        return Err(format!("greet: {g:?}"));
    }

    let n = notice::create().map_err(|e| format!("notice: {e}"))?;
    c.signal(ipc::copy_of(n, Rights::SIGNAL), 0x5151)
        .map_err(|e| format!("signal: {e}"))?;
    let mut ev = [Event::default(); 1];
    let w = notice::wait(n, ms(1000), &mut ev).map_err(|e| format!("wait: {e}"))?;
    if w.count != 1 || ev[0].cookie != 0x5151 {
        return Err(format!("event after signal: {:?}", &ev[..w.count]));
    }

    let obj = c
        .make_object(0xABCD)
        .map_err(|e| format!("make_object: {e}"))?;
    let i = handle::identify(ipc::received(&obj)).map_err(|e| format!("identify: {e}"))?;
    if i.kind != KIND_USER_OBJECT || i.rights != (Rights::COPY | OBJ_USE).bits() || i.context != 0 {
        return Err(format!("the object we got: {i:?}"));
    }

    for rc in [Rc::NoCapability, Rc::Busy, Rc::ResourceNotFound] {
        match c.fail(rc as u32) {
            Err(got) if got == rc => {}
            r => return Err(format!("fail({rc}): {r:?}")),
        }
    }

    let data = pattern_vec(1, 60 * 1024);
    let (len, back) = c.big(&data).map_err(|e| format!("big: {e}"))?;
    if len != data.len() as u64 || back.len() != data.len() {
        return Err(format!("big: {len}, {} bytes back", back.len()));
    }
    if let Some(i) = pattern_mismatch(2, &back) {
        return Err(format!("big: reply differs at byte {i}"));
    }

    unknown_and_malformed(h)?;

    c.stop().map_err(|e| format!("stop: {e}"))?;
    Ok(())
}

/// Requests the stubs would never send: the server's dispatch refuses them.
fn unknown_and_malformed(h: libkos::Handle) -> Result<(), String> {
    let call = |endpoint: u16, method: u16, fixed: &[u8]| {
        ipc::call_with(
            h,
            FOREVER,
            endpoint,
            method,
            &Out {
                fixed,
                ..Out::default()
            },
            ipc::In::default(),
        )
    };
    match call(echo::ENDPOINT, 99, &[]) {
        Err(Rc::ResourceNotFound) => {}
        r => return Err(format!("unknown method: {r:?}")),
    }
    match call(echo::ENDPOINT + 1, echo::methods::ping::ID, &[0; 8]) {
        Err(Rc::ResourceNotFound) => {}
        r => return Err(format!("wrong endpoint: {r:?}")),
    }
    match call(echo::ENDPOINT, echo::methods::ping::ID, &[]) {
        Err(Rc::InvalidArgument) => {}
        r => return Err(format!("ping without its argument: {r:?}")),
    }
    // greet with an ArenaRef past the arena's end.
    let mut buf = [0u8; 128];
    let mut e = Encoder::new(&mut buf, 8, 0).map_err(|e| format!("encoder: {e}"))?;
    e.fixed(&ArenaRef { offset: 0, len: 10 })
        .map_err(|e| format!("encode: {e}"))?;
    e.arena(b"abc").map_err(|e| format!("encode: {e}"))?;
    let msg = e
        .finish(echo::ENDPOINT, echo::methods::greet::ID, Rc::Ok)
        .map_err(|e| format!("finish: {e}"))?;
    let r = ipc::transact(h, FOREVER, msg, 256, |_| Ok(()));
    if r != Err(Rc::InvalidArgument) {
        return Err(format!("greet with an ArenaRef beyond the arena: {r:?}"));
    }
    // Invalid UTF-8 for a Str.
    let mut buf = [0u8; 128];
    let mut e = Encoder::new(&mut buf, 8, 0).map_err(|e| format!("encoder: {e}"))?;
    let r = e.arena(&[0xFF, 0xFE]).map_err(|e| format!("encode: {e}"))?;
    e.fixed(&r).map_err(|e| format!("encode: {e}"))?;
    let msg = e
        .finish(echo::ENDPOINT, echo::methods::greet::ID, Rc::Ok)
        .map_err(|e| format!("finish: {e}"))?;
    let r = ipc::transact(h, FOREVER, msg, 256, |_| Ok(()));
    if r != Err(Rc::InvalidArgument) {
        return Err(format!("greet with invalid UTF-8: {r:?}"));
    }
    Ok(())
}
