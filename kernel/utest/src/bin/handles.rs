//! Handles and rights: copies and transfers get exactly the rights asked
//! (never more), the COPY / TRANSFER rights are enforced, revocation
//! reaches descendants in other processes, closed handles go stale, badges
//! mark transfer subtrees and report their end, user objects identify.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use libkos::abi::msg::handle_ops::{
    Identity, KIND_BADGE, KIND_CHANNEL, KIND_MDL, KIND_USER_OBJECT,
};
use libkos::abi::msg::{HandleDesc, NO_BADGE};
use libkos::handle::{self, copy, copy_badged, identify, revoke};
use libkos::ipc::{self, Out};
use libkos::syscall::{self, FOREVER};
use libkos::test::TestResult;
use libkos::zerocopy::IntoBytes;
use libkos::{Handle, Rc, Rights, badge, channel, check, check_eq, check_ok, locator, notice};
use utest::{
    basic, basic_fixed, basic_server, child, child_result, daemon, expect_rc, ms, role, run_group,
};

libkos::main!(main);

const SELF: &str = concat!("/tests/", env!("CARGO_BIN_NAME"));

/// Rights of a fresh channel's client end.
const CLIENT_ALL: Rights = Rights::CLIENT
    .union(Rights::COPY)
    .union(Rights::TRANSFER)
    .union(Rights::REVOKE)
    .union(Rights::WAIT);

/// Two object-specific bits of a user object.
const UO_READ: Rights = Rights::from_bits_retain(1 << 6);
const UO_WRITE: Rights = Rights::from_bits_retain(1 << 7);

fn main() -> i32 {
    match role() {
        Some(r) => child_result(r, run_role(r)),
        None => libkos::test::run(
            "utest_handles",
            libkos::tests![
                copy_reduces_rights,
                copy_without_copy_right_refused,
                copy_more_rights_refused,
                stale_handle_after_close,
                revoke_reaches_descendants_not_self,
                user_object_identify,
                transfer_reduces_rights,
                transfer_refusals_deliver_nothing,
                revoke_reaches_other_process,
                badge_per_transfer_subtree,
                badge_closed_notification,
            ],
        ),
    }
}

fn run_role(role: &str) -> Result<(), String> {
    match role {
        "server" => {
            let h = locator::register("basic").map_err(|e| format!("register: {e}"))?;
            basic_server(h, 4096)
        }
        "c-transfer" => client_transfer(),
        "c-refused" => client_refused(),
        "rv-owner" => revoke_owner(),
        "rv-holder" => revoke_holder(),
        "c-badge" => client_badge(),
        other => Err(format!("unknown role {other}")),
    }
}

fn rights_of(h: Handle) -> Result<Rights, Rc> {
    identify(h).map(|i| Rights::from_bits_retain(i.rights))
}

// --- in-process -------------------------------------------------------------

fn copy_reduces_rights() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    check_eq!(
        check_ok!(rights_of(ends.client), "identify client end"),
        CLIENT_ALL,
        "client end rights"
    );
    let a = check_ok!(copy(ends.client, Rights::CLIENT | Rights::COPY), "copy");
    let ia = check_ok!(identify(a), "identify copy");
    check_eq!(ia.kind, KIND_CHANNEL, "copy's kind");
    check_eq!(
        Rights::from_bits_retain(ia.rights),
        Rights::CLIENT | Rights::COPY,
        "copy's rights"
    );
    let b = check_ok!(copy(a, Rights::CLIENT), "copy of the copy");
    check_eq!(
        check_ok!(rights_of(b), "identify"),
        Rights::CLIENT,
        "second copy's rights"
    );
    let c = check_ok!(copy(a, Rights::empty()), "copy with no rights");
    check_eq!(
        check_ok!(rights_of(c), "identify"),
        Rights::empty(),
        "empty copy's rights"
    );
    // The source keeps its rights.
    check_eq!(
        check_ok!(rights_of(ends.client), "identify"),
        CLIENT_ALL,
        "source rights"
    );
    for h in [c, b, a, ends.client, ends.server] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}

fn copy_without_copy_right_refused() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let no_copy = check_ok!(copy(ends.client, Rights::CLIENT | Rights::TRANSFER), "copy");
    expect_rc(
        "copy of a handle without COPY",
        copy(no_copy, Rights::CLIENT),
        Rc::NoCapability,
    )?;
    expect_rc(
        "copy of a handle without COPY, no rights asked",
        copy(no_copy, Rights::empty()),
        Rc::NoCapability,
    )?;
    for h in [no_copy, ends.client, ends.server] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}

fn copy_more_rights_refused() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let a = check_ok!(copy(ends.client, Rights::CLIENT | Rights::COPY), "copy");
    expect_rc(
        "copy asking TRANSFER from CLIENT|COPY",
        copy(a, Rights::CLIENT | Rights::COPY | Rights::TRANSFER),
        Rc::NoCapability,
    )?;
    expect_rc(
        "copy asking SERVER from a client end",
        copy(ends.client, Rights::SERVER),
        Rc::NoCapability,
    )?;
    expect_rc(
        "copy asking every bit",
        copy(a, Rights::all()),
        Rc::NoCapability,
    )?;
    for h in [a, ends.client, ends.server] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}

fn stale_handle_after_close() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let a = check_ok!(copy(ends.client, CLIENT_ALL), "copy");
    check_ok!(handle::close(a), "close");
    expect_rc("identify a closed handle", identify(a), Rc::InvalidHandle)?;
    expect_rc(
        "copy a closed handle",
        copy(a, Rights::CLIENT),
        Rc::InvalidHandle,
    )?;
    expect_rc("close it again", handle::close(a), Rc::InvalidHandle)?;
    let mut reply = [0u8; 64];
    let (rc, _) = syscall::call_bytes_timeout(
        a,
        libkos::abi::msg::Header::default().as_bytes(),
        &mut reply,
        0,
    );
    check_eq!(rc, Rc::InvalidHandle, "call through a closed handle");
    // The slot is reused by a new handle: the old value stays stale.
    let b = check_ok!(copy(ends.client, CLIENT_ALL), "copy after close");
    check!(b != a, "a new handle got the closed handle's value {a:?}");
    expect_rc("identify the stale value", identify(a), Rc::InvalidHandle)?;
    for h in [b, ends.client, ends.server] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}

fn revoke_reaches_descendants_not_self() -> TestResult {
    let ends = check_ok!(channel::create(), "channel create");
    let a = check_ok!(copy(ends.client, CLIENT_ALL), "copy a");
    let b = check_ok!(copy(a, CLIENT_ALL), "copy b of a");
    let c = check_ok!(copy(b, Rights::CLIENT), "copy c of b");
    // Closing b does not close its descendant c.
    check_ok!(handle::close(b), "close b");
    check_ok!(identify(c), "identify c after its parent b was closed");
    // Revoking a needs REVOKE.
    let no_revoke = check_ok!(
        copy(a, Rights::CLIENT | Rights::COPY),
        "copy without REVOKE"
    );
    expect_rc("revoke without REVOKE", revoke(no_revoke), Rc::NoCapability)?;
    check_ok!(revoke(a), "revoke a");
    check_ok!(identify(a), "a itself survives its revoke");
    expect_rc(
        "c (grandchild through a closed b)",
        identify(c),
        Rc::HandleRevoked,
    )?;
    expect_rc("no_revoke (child)", identify(no_revoke), Rc::HandleRevoked)?;
    expect_rc(
        "copy of a revoked handle",
        copy(c, Rights::CLIENT),
        Rc::HandleRevoked,
    )?;
    // Closing a revoked handle frees its slot; then it is just stale.
    check_ok!(handle::close(c), "close revoked c");
    expect_rc("c after close", identify(c), Rc::InvalidHandle)?;
    check_ok!(handle::close(no_revoke), "close revoked no_revoke");
    // The sibling subtree (the original client end) is untouched.
    check_ok!(identify(ends.client), "the source of a");
    for h in [a, ends.client, ends.server] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}

fn user_object_identify() -> TestResult {
    let all = Rights::COPY | Rights::TRANSFER | UO_READ | UO_WRITE;
    let uo = check_ok!(
        libkos::user_object::create(0xC0FF_EE00, all),
        "user object create"
    );
    let i = check_ok!(identify(uo), "identify");
    check_eq!(i.kind, KIND_USER_OBJECT, "kind");
    check_eq!(Rights::from_bits_retain(i.rights), all, "rights");
    check_eq!(i.context, 0xC0FF_EE00, "context seen by its creator");
    check_eq!(i.badge_value, 0, "badge value");
    let ro = check_ok!(copy(uo, UO_READ), "copy read-only");
    let i = check_ok!(identify(ro), "identify copy");
    check_eq!(Rights::from_bits_retain(i.rights), UO_READ, "copy's rights");
    check_eq!(i.context, 0xC0FF_EE00, "copy's context");
    expect_rc(
        "copy with WRITE from READ",
        copy(ro, UO_WRITE),
        Rc::NoCapability,
    )?;
    check_ok!(handle::close(ro), "close");
    check_ok!(handle::close(uo), "close");
    Ok(())
}

// --- transfers to another process -------------------------------------------

fn transfer_reduces_rights() -> TestResult {
    run_group(
        SELF,
        &[
            child("hnd-c-transfer", "c-transfer"),
            daemon("hnd-s-transfer", "server"),
        ],
        &[(0, 1, "basic")],
    )
}

fn expect_identity(what: &str, got: &Identity, kind: u32, rights: Rights) -> Result<(), String> {
    if got.kind != kind || got.rights != rights.bits() || got.context != 0 {
        return Err(format!(
            "{what}: the receiver sees {got:?}, expected kind {kind}, rights {rights:?} ({:#x}), context 0",
            rights.bits()
        ));
    }
    Ok(())
}

fn client_transfer() -> Result<(), String> {
    let h = locator::connect("basic").map_err(|e| format!("connect: {e}"))?;
    let ends = channel::create().map_err(|e| format!("channel: {e}"))?;
    let uo = libkos::user_object::create(0xC0FF_EE00, Rights::COPY | UO_READ | UO_WRITE)
        .map_err(|e| format!("user object: {e}"))?;
    let mdl = libkos::mdl::create(4096).map_err(|e| format!("mdl: {e}"))?;
    let mdl_t = copy(mdl, Rights::MAP_READ | Rights::TRANSFER).map_err(|e| format!("copy: {e}"))?;
    let full = copy(ends.client, CLIENT_ALL).map_err(|e| format!("copy: {e}"))?;
    let descs = [
        ipc::copy_of(ends.client, Rights::CLIENT | Rights::COPY),
        ipc::copy_of(uo, UO_WRITE | Rights::COPY),
        ipc::move_of(mdl_t, Rights::MAP_READ),
        ipc::move_of(full, CLIENT_ALL),
        ipc::copy_of(ends.client, Rights::empty()),
    ];
    let ids: [Identity; 5] = basic_fixed(h, basic::IDENTIFY, &[], &descs)
        .map_err(|e| format!("identify call with 5 handles: {e}"))?;
    expect_identity(
        "copy CLIENT|COPY",
        &ids[0],
        KIND_CHANNEL,
        Rights::CLIENT | Rights::COPY,
    )?;
    expect_identity(
        "user object WRITE|COPY",
        &ids[1],
        KIND_USER_OBJECT,
        UO_WRITE | Rights::COPY,
    )?;
    expect_identity("moved MDL, MAP_READ", &ids[2], KIND_MDL, Rights::MAP_READ)?;
    expect_identity(
        "moved client end, every right",
        &ids[3],
        KIND_CHANNEL,
        CLIENT_ALL,
    )?;
    expect_identity(
        "copy with no rights",
        &ids[4],
        KIND_CHANNEL,
        Rights::empty(),
    )?;
    // Moved handles are gone here, copied ones stay.
    for (what, moved) in [("moved MDL copy", mdl_t), ("moved client copy", full)] {
        match identify(moved) {
            Err(Rc::InvalidHandle) => {}
            r => {
                return Err(format!(
                    "{what} after the move: {r:?}, expected InvalidHandle"
                ));
            }
        }
    }
    for (what, kept) in [
        ("client end", ends.client),
        ("user object", uo),
        ("MDL", mdl),
    ] {
        identify(kept).map_err(|e| format!("{what} after a copy was sent: {e}"))?;
    }
    Ok(())
}

fn transfer_refusals_deliver_nothing() -> TestResult {
    run_group(
        SELF,
        &[
            child("hnd-c-refused", "c-refused"),
            daemon("hnd-s-refused", "server"),
        ],
        &[(0, 1, "basic")],
    )
}

fn client_refused() -> Result<(), String> {
    let h = locator::connect("basic").map_err(|e| format!("connect: {e}"))?;
    let ends = channel::create().map_err(|e| format!("channel: {e}"))?;
    let no_copy =
        copy(ends.client, Rights::CLIENT | Rights::TRANSFER).map_err(|e| format!("copy: {e}"))?;
    let no_transfer =
        copy(ends.client, Rights::CLIENT | Rights::COPY).map_err(|e| format!("copy: {e}"))?;
    let good = ipc::copy_of(ends.client, Rights::CLIENT);
    let cases: [(&str, [HandleDesc; 2], Rc); 5] = [
        (
            "copy without COPY",
            [good, ipc::copy_of(no_copy, Rights::CLIENT)],
            Rc::NoCapability,
        ),
        (
            "move without TRANSFER",
            [good, ipc::move_of(no_transfer, Rights::CLIENT)],
            Rc::NoCapability,
        ),
        (
            "copy asking more rights",
            [
                good,
                ipc::copy_of(no_transfer, Rights::CLIENT | Rights::TRANSFER),
            ],
            Rc::NoCapability,
        ),
        (
            "move asking more rights",
            [good, ipc::move_of(no_copy, Rights::CLIENT | Rights::COPY)],
            Rc::NoCapability,
        ),
        (
            "a handle that does not exist",
            [good, ipc::copy_of(Handle(0x7777_0042), Rights::empty())],
            Rc::InvalidHandle,
        ),
    ];
    for (what, descs, want) in &cases {
        let r: Result<[Identity; 2], Rc> = basic_fixed(h, basic::IDENTIFY, &[], descs);
        match r {
            Err(rc) if rc == *want => {}
            r => return Err(format!("{what}: {r:?}, expected {want}")),
        }
    }
    // Refused moves left the handles in place.
    identify(no_transfer).map_err(|e| format!("no_transfer after a refused move: {e}"))?;
    identify(no_copy).map_err(|e| format!("no_copy after a refused move: {e}"))?;
    // Nothing was delivered: the server saw only this request.
    let n: u64 = basic_fixed(h, basic::COUNT, &[], &[]).map_err(|e| format!("count: {e}"))?;
    if n != 1 {
        return Err(format!("the server received {n} requests, expected 1"));
    }
    Ok(())
}

fn revoke_reaches_other_process() -> TestResult {
    run_group(
        SELF,
        &[
            child("hnd-rv-owner", "rv-owner"),
            child("hnd-rv-holder", "rv-holder"),
        ],
        &[(0, 1, "boot")],
    )
}

const HOLD: u16 = 1;
const CHECK: u16 = 2;

/// Moves a client handle (a descendant of its own) to the holder, revokes
/// its own, and asks the holder what using the moved one gives.
fn revoke_owner() -> Result<(), String> {
    let boot = locator::connect("boot").map_err(|e| format!("connect: {e}"))?;
    let ends = channel::create().map_err(|e| format!("channel: {e}"))?;
    let k = copy(
        ends.client,
        Rights::CLIENT | Rights::TRANSFER | Rights::COPY,
    )
    .map_err(|e| format!("copy: {e}"))?;
    let before: [u32; 2] = basic_fixed(boot, HOLD, &[], &[ipc::move_of(k, Rights::CLIENT)])
        .map_err(|e| format!("hold call: {e}"))?;
    if before != [Rc::Ok as u32, Rc::Timeout as u32] {
        return Err(format!(
            "before the revoke the holder's identify/call(timeout 0) gave {before:?}, expected [Ok, Timeout]"
        ));
    }
    revoke(ends.client).map_err(|e| format!("revoke: {e}"))?;
    let after: [u32; 2] =
        basic_fixed(boot, CHECK, &[], &[]).map_err(|e| format!("check call: {e}"))?;
    let revoked = Rc::HandleRevoked as u32;
    if after != [revoked, revoked] {
        return Err(format!(
            "after the revoke the holder's identify/call gave {after:?}, expected rcHandleRevoked ({revoked}) twice"
        ));
    }
    identify(ends.client).map_err(|e| format!("own handle after revoke: {e}"))?;
    Ok(())
}

/// Holds the handle it is given; answers with what identify and a call
/// (timeout 0) through it return.
fn revoke_holder() -> Result<(), String> {
    let boot = locator::register("boot").map_err(|e| format!("register: {e}"))?;
    let mut buf = [0u8; 512];
    let mut held = Handle::INVALID;
    loop {
        let req = ipc::recv(boot, &mut buf, FOREVER).map_err(|e| format!("recv: {e}"))?;
        let method = req.msg.header.method;
        if method == HOLD {
            held = req
                .msg
                .handle(0)
                .map_or(Handle::INVALID, |d| Handle(d.handle));
        }
        let rc_id = identify(held).err().unwrap_or(Rc::Ok) as u32;
        let mut reply = [0u8; 64];
        let (rc_call, _) = syscall::call_bytes_timeout(
            held,
            libkos::abi::msg::Header::default().as_bytes(),
            &mut reply,
            0,
        );
        let out = [rc_id, rc_call as u32];
        let rc = ipc::reply(
            req.token,
            Rc::Ok,
            &Out {
                fixed: out.as_bytes(),
                ..Out::default()
            },
        );
        if rc != Rc::Ok {
            return Err(format!("reply: {rc}"));
        }
        if method == CHECK {
            return Ok(());
        }
    }
}

// --- badges -----------------------------------------------------------------

fn badge_per_transfer_subtree() -> TestResult {
    run_group(
        SELF,
        &[
            child("hnd-c-badge", "c-badge"),
            daemon("hnd-s-badge", "server"),
        ],
        &[(0, 1, "basic")],
    )
}

fn seen_badge(h: Handle) -> Result<u64, Rc> {
    basic_fixed(h, basic::BADGE, &[], &[])
}

fn client_badge() -> Result<(), String> {
    let base = locator::connect("basic").map_err(|e| format!("connect: {e}"))?;
    let b1 = badge::create(0x1111, None, 0).map_err(|e| format!("badge 1: {e}"))?;
    let b2 = badge::create(0x2222, None, 0).map_err(|e| format!("badge 2: {e}"))?;
    let i = identify(b1).map_err(|e| format!("identify badge: {e}"))?;
    if i.kind != KIND_BADGE || i.rights != (Rights::ATTACH | Rights::COPY | Rights::TRANSFER).bits()
    {
        return Err(format!("badge handle: {i:?}"));
    }
    let all = Rights::CLIENT | Rights::COPY | Rights::REVOKE;
    let c1 = copy_badged(base, all, b1).map_err(|e| format!("copy with badge 1: {e}"))?;
    let c1a = copy(c1, Rights::CLIENT).map_err(|e| format!("copy of c1: {e}"))?;
    let c2 = copy_badged(base, all, b2).map_err(|e| format!("copy with badge 2: {e}"))?;
    let expect = |what: &str, h: Handle, want: u64| -> Result<(), String> {
        match seen_badge(h) {
            Ok(v) if v == want => Ok(()),
            r => Err(format!(
                "{what}: server saw badge {r:x?}, expected {want:#x}"
            )),
        }
    };
    expect("unbadged connection", base, 0)?;
    expect("c1 (badge 1)", c1, 0x1111)?;
    expect("c1a (copy of c1)", c1a, 0x1111)?;
    expect("c2 (badge 2)", c2, 0x2222)?;
    for (what, h, want) in [("c1", c1, 0x1111), ("c1a", c1a, 0x1111), ("c2", c2, 0x2222)] {
        let i = identify(h).map_err(|e| format!("identify {what}: {e}"))?;
        if i.badge_value != want {
            return Err(format!("identify {what}: badge value {:#x}", i.badge_value));
        }
    }
    // In a message: the receiver's descriptor and handle carry the badge.
    let descs = [
        ipc::badged(ipc::copy_of(base, Rights::CLIENT), b2),
        ipc::copy_of(c1, Rights::CLIENT),
    ];
    let ids: [Identity; 2] = basic_fixed(base, basic::IDENTIFY, &[], &descs)
        .map_err(|e| format!("identify call: {e}"))?;
    if ids[0].badge_value != 0x2222 || ids[1].badge_value != 0x1111 {
        return Err(format!(
            "badge values seen by the receiver: {:#x}, {:#x}; expected 0x2222, 0x1111",
            ids[0].badge_value, ids[1].badge_value
        ));
    }
    // A handle that is not a badge cannot be attached.
    match copy_badged(base, Rights::CLIENT, c2) {
        Err(_) => {}
        Ok(h) => return Err(format!("a channel handle attached as a badge gave {h:?}")),
    }
    // Revoke subtree 1: its descendant dies, subtree 2 and the base work.
    revoke(c1).map_err(|e| format!("revoke c1: {e}"))?;
    match seen_badge(c1a) {
        Err(Rc::HandleRevoked) => {}
        r => {
            return Err(format!(
                "c1a after revoking c1: {r:?}, expected HandleRevoked"
            ));
        }
    }
    expect("c1 after its own revoke", c1, 0x1111)?;
    expect("c2 after revoking c1", c2, 0x2222)?;
    expect("base after revoking c1", base, 0)?;
    let _ = NO_BADGE;
    Ok(())
}

fn badge_closed_notification() -> TestResult {
    let n = check_ok!(notice::create(), "notice create");
    let ends = check_ok!(channel::create(), "channel create");
    let b = check_ok!(badge::create(77, Some(n), 0xB0D6E), "badge create");
    let h1 = check_ok!(
        copy_badged(ends.client, Rights::CLIENT | Rights::COPY, b),
        "copy with badge"
    );
    let h2 = check_ok!(copy(h1, Rights::CLIENT), "copy of the badged handle");
    let mut ev = [notice::Event::default(); 4];
    check_ok!(handle::close(b), "close the badge handle");
    expect_rc(
        "wait while handles still carry the badge",
        notice::wait(n, 0, &mut ev),
        Rc::Timeout,
    )?;
    check_ok!(handle::close(h1), "close h1");
    expect_rc(
        "wait while h2 still carries the badge",
        notice::wait(n, 0, &mut ev),
        Rc::Timeout,
    )?;
    check_ok!(handle::close(h2), "close h2");
    let w = check_ok!(notice::wait(n, ms(1000), &mut ev), "wait for BADGE_CLOSED");
    check_eq!(w.count, 1, "events");
    check_eq!(ev[0].event, notice::BADGE_CLOSED, "event");
    check_eq!(ev[0].cookie, 0xB0D6E, "cookie");
    check_eq!(w.left, 0, "events left");
    for h in [ends.client, ends.server, n] {
        check_ok!(handle::close(h), "close");
    }
    Ok(())
}
