//! A program of 1 MiB that exits 0 at once: `/bench/nop1m`, which the
//! `spawn_romfs_1mib` benchmark starts to show how a start's cost grows
//! with the executable (its read-only data is 1 MiB, all of it loaded).

#![no_std]
#![no_main]

libkos::main!(main);

/// Non-zero, so that it is stored in the file (and loaded), not zero-filled.
static BLOB: [u8; 1 << 20] = [0x5a; 1 << 20];

fn main() -> i32 {
    // Used, so that the linker keeps it.
    let i = core::hint::black_box(BLOB.len() - 1);
    if BLOB[i] == 0x5a { 0 } else { 1 }
}
