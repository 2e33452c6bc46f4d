//! A client of the demonstration system (class `demo.Client`): greets with
//! its `GREETING` variable, adds 1, 2, ..., N (its argument) to the counter
//! over its static channel `counter`, and says it is done.

#![no_std]
#![no_main]

use libkos::services::counter;
use libkos::{Handle, locator, println, task};

libkos::main!(main);

fn main() -> i32 {
    let name = task::get_name(Handle::SELF_TASK).unwrap_or_else(|_| "client".into());
    let greeting = libkos::env::var("GREETING").unwrap_or("hello");
    let n: u64 = libkos::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    println!("{name}: {greeting}! I will add 1..={n} to the counter");
    let c = match locator::connect("counter") {
        Ok(h) => counter::Client::new(h),
        Err(e) => {
            println!("{name}: no channel \"counter\": {e}");
            return 1;
        }
    };
    for i in 1..=n {
        match c.add(i) {
            Ok(total) => println!("{name}: added {i}, the total is now {total}"),
            Err(e) => {
                println!("{name}: add({i}) failed: {e}");
                return 1;
            }
        }
    }
    match c.done() {
        Ok(total) => println!("{name}: done; the total was {total} when I left"),
        Err(e) => println!("{name}: done failed: {e}"),
    }
    0
}
