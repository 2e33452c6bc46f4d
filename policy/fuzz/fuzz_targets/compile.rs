//! Any text: the compiler answers with tables or errors, never a panic;
//! tables it makes read back and their tests run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let src = policy::Source { name: "fuzz.policy".into(), text: text.into() };
    if let Ok(c) = policy::compile(&src, "virt") {
        assert!(policy_table::Policy::parse(c.bytes.bytes()).is_ok());
        let _ = policy::testing::run(&c);
    }
});
