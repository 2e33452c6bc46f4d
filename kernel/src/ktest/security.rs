//! The security monitor on the target: the policy the image embeds (the
//! demo system's, for the kernel test image) reads and decides, and its
//! decisions reach the bounded audit ring.

use kos_abi::Rc;
use kos_abi::msg::audit::{self, Record};
use zerocopy::FromZeros;

use super::{TestResult, check};
use crate::audit::RING;
use crate::security::{self, Event, Message, Party};

fn party(pid: u32, class: &str) -> Party<'_> {
    let (subject, _, level) = security::subject_of(class, class).unwrap_or((
        security::UNNAMED,
        policy_table::NO_STATE,
        0,
    ));
    Party {
        pid,
        class,
        subject,
        state: &policy_table::NO_STATE,
        level,
        parent: 0,
    }
}

fn kernel_call<'a>(source: Party<'a>, m: &kos_abi::decl::MethodDecl) -> Message<'a> {
    Message {
        event: Event::Call,
        source,
        target: None,
        endpoint: m.endpoint,
        method: m.id,
        fixed: &[],
        name: "",
        path: "",
    }
}

fn last() -> u64 {
    let mut none = [];
    crate::audit::read(u64::MAX, &mut none).2
}

pub fn embedded_policy_reads() -> TestResult {
    // The demo policy names einit and hello, and lets the kernel start
    // einit and einit start hello from /bin/hello only.
    let einit = party(1, "einit");
    check!(einit.subject != security::UNNAMED, "einit is not named");
    check!(
        security::subject_of("no.such.Class", "x").is_none(),
        "an unnamed class has a subject"
    );
    let kernel = security::kernel_party();
    let start = |source: Party<'_>, class: &str, path: &str| {
        let new = party(0, class);
        security::check(&Message {
            event: Event::Execute,
            source,
            target: Some(new),
            endpoint: 0,
            method: 0,
            fixed: &[0; 40],
            name: class,
            path,
        })
    };
    check!(
        start(kernel, "einit", "/bin/einit").is_ok(),
        "the kernel may not start einit"
    );
    check!(
        start(einit, "hello", "/bin/hello").is_ok(),
        "einit may not start hello"
    );
    check!(
        start(einit, "hello", "/bin/other") == Err(Rc::SecurityDisallow),
        "einit may start hello from another path"
    );
    let write = kos_abi::interfaces::console::Method::Write.decl();
    check!(
        security::check(&kernel_call(einit, write)).is_ok(),
        "einit may not write to the console"
    );
    Ok(())
}

pub fn denials_are_audited() -> TestResult {
    let before = last();
    let hello = party(7, "hello");
    let read = kos_abi::interfaces::romfs::Method::Read.decl();
    check!(
        security::check(&kernel_call(hello, read)) == Err(Rc::SecurityDisallow),
        "hello may read the ROMFS"
    );
    let mut out = [Record::new_zeroed(); 4];
    let (n, lost, newest) = crate::audit::read(before, &mut out);
    check!(
        n == 1 && lost == 0 && newest == before + 1,
        "read {n} records, lost {lost}, newest {newest}"
    );
    let r = &out[0];
    check!(
        r.seq == before + 1
            && r.src_pid == 7
            && r.event == Event::Call as u8
            && r.decision == audit::DENIED
            && (r.endpoint, r.method) == (read.endpoint, read.id)
            && r.rule == policy_table::NO_RULE
            && audit::text(&r.src_class) == "hello"
            && audit::text(&r.dst_class) == "kl.core.Core",
        "record {r:?}"
    );
    Ok(())
}

pub fn audit_ring_is_bounded() -> TestResult {
    let before = last();
    let hello = party(8, "hello");
    let read = kos_abi::interfaces::romfs::Method::Read.decl();
    let extra = 5;
    for _ in 0..RING + extra {
        let _ = security::check(&kernel_call(hello, read));
    }
    // The oldest `extra` records after `before` were overwritten; the
    // reader is told how many it lost, and gets the rest in order.
    let mut out = [Record::new_zeroed(); 8];
    let (n, lost, newest) = crate::audit::read(before, &mut out);
    check!(newest == before + (RING + extra) as u64, "newest {newest}");
    check!(lost == extra as u64, "lost {lost}");
    check!(n == out.len(), "read {n}");
    check!(
        out.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "not in order: {:?}",
        out.map(|r| r.seq)
    );
    check!(
        out[0].seq == before + lost + 1,
        "first {} after losing {lost}",
        out[0].seq
    );
    Ok(())
}
