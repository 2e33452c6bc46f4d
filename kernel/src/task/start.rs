//! The start of user space at boot: the first process from the ROMFS.

use kos_abi::task::CreateFlags;

use crate::println;

/// Path of the first process in the ROMFS, and its name and class.
pub const INIT_PATH: &str = "/bin/einit";
pub const INIT_CLASS: &str = "einit";

/// The policy's execute decision on einit's start by the kernel: its
/// subject, initial state and integrity level.
fn admit() -> Result<(u16, policy_table::State, u8), kos_abi::Rc> {
    use crate::security::{Party, UNNAMED};
    let kernel = crate::security::kernel_party();
    let (subject, state, level) = crate::security::subject_of(INIT_CLASS, INIT_CLASS).unwrap_or((
        UNNAMED,
        policy_table::State::new(0),
        0,
    ));
    let new = Party {
        pid: 0,
        class: INIT_CLASS,
        subject,
        state: &state,
        level: level.min(kernel.level),
        parent: 0,
    };
    let create = kos_abi::task::CreateReq::default();
    let entered = crate::gate::execute(
        kernel,
        new,
        zerocopy::IntoBytes::as_bytes(&create),
        INIT_CLASS,
        INIT_PATH,
    )?;
    Ok((subject, entered.unwrap_or(state), new.level))
}

/// Start user space: create the first process from the ROMFS; returns the
/// frame of whatever the scheduler picks, to be entered
/// ([`crate::arch::user::enter`]). Without a usable einit the CPU idles.
pub fn start() -> *mut crate::arch::exception::TrapFrame {
    super::with(|k| {
        match crate::romfs::file(INIT_PATH)
            .map_err(|_| ())
            .and_then(|image| {
                // The kernel starts einit only as the policy allows
                // (`grant execute kernel -> einit;`).
                let label =
                    admit().map_err(|rc| println!("task: einit may not start: {rc}; idling"))?;
                Ok((image, label))
            }) {
            Ok((image, label)) => match k.create_process(
                None,
                INIT_CLASS,
                INIT_CLASS,
                INIT_PATH,
                Some(image),
                0,
                kos_abi::sched::DEFAULT_PRIORITY,
                CreateFlags::FROM_ROMFS,
                label,
            ) {
                Ok(pid) => {
                    k.init = Some(pid);
                    let _ = k
                        .main_stack_in_steps(pid, false)
                        .and_then(|_| k.resume(pid));
                    println!("task: started einit (pid 1) from {INIT_PATH}");
                }
                Err(rc) => println!("task: cannot start {INIT_PATH}: {rc}; idling"),
            },
            Err(()) => println!("task: no usable {INIT_PATH}; idling"),
        }
        k.schedule()
    })
    .expect("task::init ran")
}
