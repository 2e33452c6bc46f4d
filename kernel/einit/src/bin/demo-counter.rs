//! The demonstration system's counter (class `demo.Counter`): serves
//! `demo.Counter` on its static channel `counter`; each client adds to one
//! total and says when it is done. It ends when as many clients as its
//! `--clients N` argument said are done.

#![no_std]
#![no_main]

use libkos::abi::services::counter as decl;
use libkos::services::counter;
use libkos::{Rc, ipc, locator, println};

libkos::main!(main);

struct Counter {
    total: u64,
    done: u32,
}

impl counter::Server for Counter {
    fn add(&mut self, n: u64) -> Result<u64, Rc> {
        self.total = self.total.checked_add(n).ok_or(Rc::InvalidArgument)?;
        println!("counter: +{n} -> {}", self.total);
        Ok(self.total)
    }

    fn done(&mut self) -> Result<u64, Rc> {
        self.done += 1;
        Ok(self.total)
    }
}

fn main() -> i32 {
    let mut args = libkos::env::args().skip_while(|a| *a != "--clients");
    let clients: u32 = args.nth(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    let end = match locator::register("counter") {
        Ok(h) => h,
        Err(e) => {
            println!("counter: no channel \"counter\": {e}");
            return 1;
        }
    };
    println!(
        "counter: serving {} on channel \"counter\" for {clients} client(s)",
        decl::NAME
    );
    let mut server = ipc::Server::new(end, counter::REQUEST_CAP, counter::REPLY_CAP);
    let mut state = Counter { total: 0, done: 0 };
    while state.done < clients {
        let r = server.serve_one(u64::MAX, |req, reply| {
            counter::dispatch(&mut state, req, reply)
        });
        if let Err(e) = r {
            println!("counter: receive failed: {e}");
            return 1;
        }
    }
    println!("counter: all {clients} clients done, total {}", state.total);
    0
}
