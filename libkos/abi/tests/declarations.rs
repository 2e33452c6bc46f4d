//! The declarations are consistent: ids unique and dense, every method
//! has a right, layouts are the sizes the ABI pins, and the typed view
//! (`Invoke`) agrees with the table.

use std::collections::HashSet;
use std::mem::size_of;

use kos_abi::components::COMPONENTS;
use kos_abi::decl::{Invoke, Target};
use kos_abi::interfaces::{self, Endpoint, INTERFACES};
use kos_abi::{Rights, msg, task};

#[test]
fn ids_are_unique_and_lookups_find_each_method() {
    let mut endpoints = HashSet::new();
    let mut names = HashSet::new();
    for iface in INTERFACES {
        assert!(endpoints.insert(iface.id), "endpoint {} twice", iface.id);
        assert!(names.insert(iface.name), "interface {} twice", iface.name);
        assert_eq!(Endpoint::from_u16(iface.id).map(|e| e.decl()), Some(iface));
        let mut ids = HashSet::new();
        let mut method_names = HashSet::new();
        for (i, m) in iface.methods.iter().enumerate() {
            assert_eq!(
                m.id as usize, i,
                "{}.{} is not at its id",
                iface.name, m.name
            );
            assert!(ids.insert(m.id));
            assert!(
                method_names.insert(m.name),
                "{}.{} twice",
                iface.name,
                m.name
            );
            assert_eq!(m.endpoint, iface.id);
            assert_eq!(m.interface, iface.name);
            assert!(
                !m.right.is_empty(),
                "{}.{} needs no right",
                iface.name,
                m.name
            );
            assert!(m.request.size <= msg::MAX_FIXED);
            assert_eq!(interfaces::method(iface.id, m.id), Some(m));
        }
        assert_eq!(
            interfaces::method(iface.id, iface.methods.len() as u16),
            None
        );
    }
    assert_eq!(interfaces::method(0, 0), None);
    assert_eq!(interfaces::method(INTERFACES.len() as u16 + 1, 0), None);
}

#[test]
fn layouts_are_the_sizes_the_abi_pins() {
    let create = task::Method::Create.decl();
    assert_eq!(create.request.size, size_of::<task::CreateReq>());
    assert_eq!(create.request.name, "task::CreateReq");
    assert_eq!(create.reply.size, size_of::<task::CreateReply>());
    let info = interfaces::thread::Method::Info.decl();
    assert_eq!(info.request.size, 0);
    assert_eq!(info.reply.size, size_of::<msg::thread::ThreadInfo>());
    assert_eq!(interfaces::sysinfo::Method::MemStats.decl().reply.size, 56);
    assert_eq!(interfaces::sysinfo::Method::Served.decl().reply.size, 64);
    for iface in INTERFACES {
        for m in iface.methods {
            assert_eq!(
                m.request.size % 8,
                0,
                "{}.{}: fixed parts are padded to 8",
                iface.name,
                m.name
            );
        }
    }
}

#[test]
fn typed_view_agrees_with_the_table() {
    use interfaces::task::call;
    fn check<M: Invoke>(decl: &kos_abi::decl::MethodDecl) {
        assert_eq!(M::ENDPOINT, decl.endpoint);
        assert_eq!(M::METHOD, decl.id);
        assert_eq!(M::RIGHT, decl.right);
        assert_eq!(size_of::<M::Request>(), decl.request.size);
        assert_eq!(size_of::<M::Reply>(), decl.reply.size);
    }
    check::<call::Create>(task::Method::Create.decl());
    check::<call::Wait>(task::Method::Wait.decl());
    check::<interfaces::mdl::call::Map>(interfaces::mdl::Method::Map.decl());
}

#[test]
fn each_task_method_has_its_own_right() {
    let mut seen = Rights::empty();
    for m in &task::ALL[..task::METHOD_COUNT as usize] {
        let r = m.decl().right;
        assert_eq!(r.bits().count_ones(), 1, "{:?}", m);
        assert!(!seen.intersects(r), "{:?} shares a right", m);
        seen |= r;
    }
    assert_eq!(task::Method::Wait.decl().right, Rights::WAIT);
    assert_eq!(task::Method::Exit.decl().target, Target::OwnTask);
}

#[test]
fn services_are_consistent_with_their_fields() {
    use kos_abi::services::SERVICES;
    assert!(!SERVICES.is_empty());
    for s in SERVICES {
        assert!(
            Endpoint::from_u16(s.endpoint).is_none(),
            "{} uses a kernel endpoint",
            s.name
        );
        let mut ids = HashSet::new();
        for m in s.methods {
            assert!(ids.insert(m.id), "{}.{}: id {} twice", s.name, m.name, m.id);
            for f in m.args.iter().chain(m.results) {
                match f.wire {
                    "fixed" => assert!(f.handles == 0 && f.arena == 0),
                    "bytes" | "string" => assert!(f.fixed == 8 && f.arena > 0),
                    "handle" => assert!(f.fixed == 0 && f.handles == 1),
                    "handles" => assert!(f.fixed == 4 && f.handles >= 1 && f.arena == 0),
                    w => panic!("{}.{}: wire kind {w}", s.name, m.name),
                }
            }
        }
    }
    let echo = kos_abi::services::echo::METHODS;
    let add = echo.iter().find(|m| m.name == "add").unwrap();
    assert_eq!(add.args[0].fixed, size_of::<kos_abi::services::Point>());
    assert_eq!(add.results[1].ty, "i64");
}

#[test]
fn components_name_declared_interfaces() {
    for c in COMPONENTS {
        let mut names = HashSet::new();
        for e in c.endpoints {
            assert!(
                names.insert(e.name),
                "{}: endpoint {} twice",
                c.class,
                e.name
            );
            assert!(
                INTERFACES.iter().any(|i| i.name == e.interface)
                    || kos_abi::services::SERVICES
                        .iter()
                        .any(|s| s.name == e.interface),
                "{}.{}: no interface {}",
                c.class,
                e.name,
                e.interface
            );
        }
    }
}
