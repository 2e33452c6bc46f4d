//! Components: each process class and the endpoints it provides (an
//! endpoint name and the interface it serves), in the manner of
//! KasperskyOS's EDL/CDL. The policy compiler, the init-description checker
//! and connecting tasks by class build on these.

use crate::decl::{ComponentDecl, EndpointDecl};
use crate::{interfaces, services};

/// The kernel as a component: the endpoints `kl.core.Core` provides.
pub const CORE: ComponentDecl = ComponentDecl {
    class: "kl.core.Core",
    doc: "The kernel: its objects serve these endpoints through handles.",
    endpoints: &[
        EndpointDecl {
            name: "task",
            interface: interfaces::task::NAME,
        },
        EndpointDecl {
            name: "thread",
            interface: interfaces::thread::NAME,
        },
        EndpointDecl {
            name: "vm",
            interface: interfaces::vm::NAME,
        },
        EndpointDecl {
            name: "console",
            interface: interfaces::console::NAME,
        },
        EndpointDecl {
            name: "sysinfo",
            interface: interfaces::sysinfo::NAME,
        },
        EndpointDecl {
            name: "handle",
            interface: interfaces::handle_ops::NAME,
        },
        EndpointDecl {
            name: "romfs",
            interface: interfaces::romfs::NAME,
        },
        EndpointDecl {
            name: "locator",
            interface: interfaces::locator::NAME,
        },
        EndpointDecl {
            name: "notice",
            interface: interfaces::notice::NAME,
        },
        EndpointDecl {
            name: "mdl",
            interface: interfaces::mdl::NAME,
        },
        EndpointDecl {
            name: "audit",
            interface: interfaces::audit::NAME,
        },
        EndpointDecl {
            name: "security",
            interface: interfaces::security::NAME,
        },
    ],
};

/// The server of `utest-iface`: the process class that provides
/// `utest.Echo` in the on-target tests.
pub const UTEST_ECHO_SERVER: ComponentDecl = ComponentDecl {
    class: "utest.iface.Server",
    doc: "The echo server of the on-target interface tests.",
    endpoints: &[EndpointDecl {
        name: "echo",
        interface: services::echo::NAME,
    }],
};

/// The server of `utest-process`'s static channel tests: `utest.Echo`
/// under the endpoint name `echo`.
pub const UTEST_PROCESS_SERVER: ComponentDecl = ComponentDecl {
    class: "utest.process.Server",
    doc: "The echo server of the on-target task API tests.",
    endpoints: &[EndpointDecl {
        name: "echo",
        interface: services::echo::NAME,
    }],
};

/// fsusr, the user-space ROMFS server.
pub const FSUSR: ComponentDecl = ComponentDecl {
    class: crate::startup::FSUSR,
    doc: "The user-space ROMFS server (the `kl.core.FSUsr` channel).",
    endpoints: &[EndpointDecl {
        name: "fsusr",
        interface: services::fsusr::NAME,
    }],
};

/// The counter of the demonstration system.
pub const DEMO_COUNTER: ComponentDecl = ComponentDecl {
    class: "demo.Counter",
    doc: "The demonstration system's counter: its clients add to one total.",
    endpoints: &[EndpointDecl {
        name: "counter",
        interface: services::counter::NAME,
    }],
};

/// The ExecutionManager.
pub const EXECUTION_MANAGER: ComponentDecl = ComponentDecl {
    class: "execution_manager.ExecutionManager",
    doc: "The ExecutionManager: IProcessControl over the packages it serves.",
    endpoints: &[EndpointDecl {
        name: "pc",
        interface: services::process_control::NAME,
    }],
};

/// Every declared component.
pub const COMPONENTS: &[ComponentDecl] = &[
    CORE,
    UTEST_ECHO_SERVER,
    UTEST_PROCESS_SERVER,
    FSUSR,
    DEMO_COUNTER,
    EXECUTION_MANAGER,
];
