//! The start of user space at boot: the first process from the ROMFS.

use kos_abi::task::CreateFlags;

use crate::println;

/// Path of the first process in the ROMFS.
pub const INIT_PATH: &str = "/bin/einit";

/// Start user space: create the first process from the ROMFS; returns the
/// frame of whatever the scheduler picks, to be entered
/// ([`crate::arch::user::enter`]). Without a usable einit the CPU idles.
pub fn start() -> *mut crate::arch::exception::TrapFrame {
    super::with(|k| {
        match crate::romfs::file(INIT_PATH) {
            Ok(image) => match k.create_process(
                None,
                "einit",
                "einit",
                INIT_PATH,
                Some(image),
                0,
                kos_abi::sched::DEFAULT_PRIORITY,
                CreateFlags::FROM_ROMFS,
            ) {
                Ok(pid) => {
                    k.init = Some(pid);
                    let _ = k.resume(pid);
                    println!("task: started einit (pid 1) from {INIT_PATH}");
                }
                Err(rc) => println!("task: cannot start {INIT_PATH}: {rc}; idling"),
            },
            Err(e) => println!("task: no {INIT_PATH} in the ROMFS ({e}); idling"),
        }
        k.schedule()
    })
    .expect("task::init ran")
}
