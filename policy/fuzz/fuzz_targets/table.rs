//! Any bytes as a table: parsing refuses or accepts, and every decision on
//! an accepted table is made without a panic (the kernel's guarantee).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_table::{Event, Policy, Query};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    // Aligned, as the kernel holds its table.
    let table = policy_table::build::TableBytes::new(&data[8..]);
    let Ok(p) = Policy::parse(table.bytes()) else { return };
    for (i, e) in Event::ALL.iter().enumerate() {
        let state = policy_table::State::new(data[1]);
        let q = Query {
            fixed: &data[..8],
            path: &data[..4],
            target_self: data[0] & 1 != 0,
            target_child: data[0] & 2 != 0,
            dst_state: &state,
            ..Query::new(*e, u16::from(data[2]) + i as u16, u16::from(data[3]), u16::from(data[4]), u16::from(data[5]))
        };
        let d = p.decide(&q);
        if d.granted && d.effects {
            let _ = p.effects(&q);
        }
        let _ = p.slot_rules(&q).count();
        if p.grants_outright(q.event, q.src, q.dst, q.endpoint, q.method) {
            assert!(d.granted);
        }
    }
});
