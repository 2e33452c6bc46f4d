//! fsusr: the user-space ROMFS server (class and channel `kl.core.FSUsr`).
//!
//! It serves the ROMFS image a client hands it (`change`, the `KnFsChange`
//! equivalent: an MDL holding the image), read with the same `no_std`
//! reader the kernel uses for its own ROMFS, and treated as untrusted like
//! there: an image that does not parse is refused and the previous one
//! kept. Until it has one, every read is rcResourceNotFound.
//!
//! Its server end: the static channel `kl.core.FSUsr` (from an init
//! description) or, for an fsusr a process starts itself, the resource of
//! that name its parent transferred to it.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use libkos::abi::msg::HandleDesc;
use libkos::abi::startup::FSUSR;
use libkos::services::fsusr;
use libkos::{Rc, handle, ipc, locator, mdl, println, process};
use romfs_builder::{Error, Image};

libkos::main!(main);

/// The largest image accepted (the MDL limit).
const MAX_IMAGE: u64 = mdl::MAX_SIZE;

struct Fsusr {
    image: Option<Vec<u8>>,
}

fn rc_of(e: Error) -> Rc {
    match e {
        Error::NotFound | Error::NotADirectory | Error::NotAFile => Rc::ResourceNotFound,
        _ => Rc::InvalidArgument,
    }
}

impl fsusr::Server for Fsusr {
    fn read(&mut self, path: &str, offset: u64) -> Result<(u64, Vec<u8>), Rc> {
        let bytes = self.image.as_deref().ok_or(Rc::ResourceNotFound)?;
        let img = Image::new(bytes).map_err(rc_of)?;
        let data = img.lookup(path).and_then(|e| img.read(&e)).map_err(rc_of)?;
        let start = usize::try_from(offset)
            .ok()
            .filter(|&o| o <= data.len())
            .ok_or(Rc::InvalidArgument)?;
        let rest = &data[start..];
        let n = rest.len().min(libkos::abi::msg::MAX_ARENA - 4096);
        Ok((data.len() as u64, rest[..n].to_vec()))
    }

    fn change(&mut self, image: HandleDesc, size: u64) -> Result<(), Rc> {
        let h = ipc::received(&image);
        let result = copy_image(h, size);
        let _ = handle::close(h);
        let bytes = result?;
        // Checked whole before it replaces the one served.
        Image::new(&bytes)
            .and_then(|img| img.verify())
            .map_err(|_| Rc::InvalidArgument)?;
        println!("fsusr: serving a {} byte image", bytes.len());
        self.image = Some(bytes);
        Ok(())
    }
}

/// The first `size` bytes of the MDL `h`.
fn copy_image(h: libkos::Handle, size: u64) -> Result<Vec<u8>, Rc> {
    if size == 0 || size > MAX_IMAGE {
        return Err(Rc::InvalidArgument);
    }
    let m = mdl::map(h, false)?;
    let mut bytes = vec![0u8; size as usize];
    let r = m.read(0, &mut bytes);
    mdl::unmap(h, m)?;
    r.map(|()| bytes)
}

fn main() -> i32 {
    let Ok(end) = locator::register(FSUSR).or_else(|_| process::lookup_resource(FSUSR)) else {
        println!("fsusr: no {FSUSR} channel to serve");
        return 1;
    };
    let rc = fsusr::serve(end, &mut Fsusr { image: None });
    println!("fsusr: stopped: {rc}");
    i32::from(rc != Rc::Ok)
}
