//! Every kernel interface, declared once (see [`crate::decl`] for what a
//! declaration gives). The kernel's gate, libkos's calls, the docs tables
//! and `docs/interfaces.json` all come from here.
//!
//! Each method is `fn Name(Request) -> Reply = id, on Target, needs Right;`.
//! Strings and sequences travel in the message's arena; the doc comment
//! says which. Methods on the caller's own Task handle that are not Task
//! methods (Thread.Create, Vm.*) need the Task right closest in meaning,
//! since the Task methods fill every object-specific bit of a Task handle.

crate::interfaces! {
    /// `kl.core.Task`: the process endpoint of seed 000, on a Task handle.
    /// Each of the 26 methods needs its own right bit.
    interface "kl.core.Task" as Task in task = 1 {
        /// Create a process: from the ELF at `path` in ROMFS (FROM_ROMFS),
        /// else empty. Name, class and path in the arena.
        fn Create(task::CreateReq) -> task::CreateReply = 0, on OwnTask, needs Rights::task(Method::Create);
        /// Load a segment (bytes from an MDL) into a not-yet-started process.
        fn LoadSeg(task::LoadSegReq) -> task::AddrReply = 1, on Task, needs Rights::task(Method::LoadSeg);
        /// Reserve a virtual region in a not-yet-started process.
        fn VmReserve(task::VmReserveReq) -> task::AddrReply = 2, on Task, needs Rights::task(Method::VmReserve);
        /// Free a reserved region of a not-yet-started process.
        fn VmFree(vm::VmRange) -> () = 3, on Task, needs Rights::task(Method::VmFree);
        /// Set the entry point (creates the initial thread).
        fn SetEntry(task::SetEntryReq) -> () = 4, on Task, needs Rights::task(Method::SetEntry);
        /// Load the ELF symbol tables (from an MDL).
        fn LoadElfSyms(task::LoadBlobReq) -> () = 5, on Task, needs Rights::task(Method::LoadElfSyms);
        /// Load the ELF header (from an MDL).
        fn LoadElfHdr(task::LoadBlobReq) -> () = 6, on Task, needs Rights::task(Method::LoadElfHdr);
        /// Set the environment data (in the arena).
        fn SetEnv(()) -> () = 7, on Task, needs Rights::task(Method::SetEnv);
        /// Free the caller's own environment data.
        fn FreeSelfEnv(()) -> () = 8, on OwnTask, needs Rights::task(Method::FreeSelfEnv);
        /// Start a prepared process.
        fn Resume(()) -> () = 9, on Task, needs Rights::task(Method::Resume);
        /// End the calling process with an exit code.
        fn Exit(task::ExitReq) -> () = 10, on OwnTask, needs Rights::task(Method::Exit);
        /// End a process.
        fn Terminate(()) -> () = 11, on Task, needs Rights::task(Method::Terminate);
        /// How a process ended (or that it has not).
        fn GetExitInfo(()) -> task::ExitInfo = 12, on Task, needs Rights::task(Method::GetExitInfo);
        /// A thread's registers in a frozen process, general and FP/SIMD
        /// (816 bytes: the reply's fixed part or arena).
        fn GetThreadContext(task::ThreadIndex) -> () = 13, on Task, needs Rights::task(Method::GetThreadContext);
        /// A copy of a frozen process's next memory region, in a new MDL.
        fn GetNextVmRegion(task::NextRegionReq) -> task::VmRegion = 14, on Task, needs Rights::task(Method::GetNextVmRegion);
        /// End a frozen process.
        fn TerminateAfterFreezing(()) -> () = 15, on Task, needs Rights::task(Method::TerminateAfterFreezing);
        /// The process's name (in the reply's arena).
        fn GetName(()) -> () = 16, on Task, needs Rights::task(Method::GetName);
        /// The process's executable path (in the reply's arena).
        fn GetPath(()) -> () = 17, on Task, needs Rights::task(Method::GetPath);
        /// The initial thread's priority.
        fn GetInitialThreadPriority(()) -> task::PriorityReq = 18, on Task, needs Rights::task(Method::GetInitialThreadPriority);
        /// Set the initial thread's priority (before the start).
        fn SetInitialThreadPriority(task::PriorityReq) -> () = 19, on Task, needs Rights::task(Method::SetInitialThreadPriority);
        /// Every process (entries in the reply's arena) and a notice of their ends.
        fn GetTasksList(()) -> task::TasksListReply = 20, on Task, needs Rights::task(Method::GetTasksList);
        /// Set the initial thread's scheduling class, priority and quantum.
        fn SetInitialThreadSchedPolicy(sched::SchedPolicy) -> () = 21, on Task, needs Rights::task(Method::SetInitialThreadSchedPolicy);
        /// Reseed the process's ASLR generator (placements repeat).
        fn ReseedAslr(task::SeedReq) -> () = 22, on Task, needs Rights::task(Method::ReseedAslr);
        /// The process's symbol tables, in a new MDL, and its load offset.
        fn GetElfSyms(()) -> task::ElfSymsReply = 23, on Task, needs Rights::task(Method::GetElfSyms);
        /// Give a not-yet-started process a copy of one of the caller's handles.
        fn TransferHandle(task::TransferHandleReq) -> task::HandleValue = 24, on Task, needs Rights::task(Method::TransferHandle);
        /// The process's PID.
        fn GetPid(()) -> task::PidReply = 25, on Task, needs Rights::task(Method::GetPid);
        /// Ours, not one of the 26: block until the process ends.
        fn Wait(task::WaitReq) -> task::ExitInfo = 26, on Task, needs Rights::WAIT;
        /// Ours, not one of the 26: the rights a not-yet-started process
        /// will hold on itself (`SELF_TASK`) and on the kernel (`KERNEL`),
        /// within the caller's own; without it, [`task::DEFAULT_TASK_RIGHTS`]
        /// and [`task::DEFAULT_KERNEL_RIGHTS`]. Whoever may start a process
        /// decides what it starts with, so it needs the Resume right.
        fn SetInitialRights(task::InitialRights) -> () = 27, on Task, needs Rights::task(Method::Resume);
        /// Ours, not one of the 26: the ELF header and program headers the
        /// process was made from, in the reply's arena: what `LoadElfHdr`
        /// stored, or for a process the kernel loaded, its file's
        /// (`rcResourceNotFound` if none). With its symbols, so it needs
        /// the GetElfSyms right.
        fn GetElfHdr(()) -> () = 28, on Task, needs Rights::task(Method::GetElfSyms);
        /// Ours, not one of the 26: narrow a not-yet-started process's
        /// budget (each limit at most its class's quota, which it starts
        /// with; never below what it already holds). Whoever may start a
        /// process decides what it may take, so it needs the Resume right.
        fn SetBudget(task::Budget) -> () = 29, on Task, needs Rights::task(Method::Resume);
        /// Ours, not one of the 26: the process's budget and what it and
        /// its descendants hold of it (its limits, as its priority is, so
        /// it needs the GetInitialThreadPriority right).
        fn GetBudget(()) -> task::BudgetInfo = 30, on Task, needs Rights::task(Method::GetInitialThreadPriority);
        /// Ours, not one of the 26: the cores the process's threads may
        /// run on, those it has and those it makes later (a thread may be
        /// narrowed within them after, `Thread.SetAffinity`); before it
        /// starts, its initial thread's. Where it runs is part of starting
        /// it, so it needs the Resume right.
        fn SetAffinity(msg::thread::Affinity) -> () = 31, on Task, needs Rights::task(Method::Resume);
    }

    /// Threads: create one in the calling process, join or inspect one.
    interface "kl.core.Thread" as Thread in thread = 2 {
        /// Start a thread in the caller (on its own Task handle; needs the
        /// SetEntry right: starting code at an entry point).
        fn Create(msg::thread::CreateReq) -> msg::thread::CreateReply = 0, on OwnTask, needs Rights::task(task::Method::SetEntry);
        /// Wait until the thread ends.
        fn Join(msg::thread::JoinReq) -> msg::thread::JoinReply = 1, on Thread, needs Rights::WAIT;
        /// Thread id, state, CPU time, switches, affinity and core.
        fn Info(()) -> msg::thread::ThreadInfo = 2, on Thread, needs Rights::INFO;
        /// Ours: the cores it may run on from now, those of the set that
        /// its process may run on (none of them: rcInvalidArgument); it
        /// moves at once if its core is not one of them.
        fn SetAffinity(msg::thread::Affinity) -> () = 3, on Thread, needs Rights::PLACE;
    }

    /// Memory of the calling process, on its own Task handle.
    interface "kl.core.Vm" as Vm in vm = 3 {
        /// Zeroed read-write memory (needs the VmReserve right).
        fn Allocate(vm::VmRange) -> vm::VmRange = 0, on OwnTask, needs Rights::task(task::Method::VmReserve);
        /// Free what Allocate returned (needs the VmFree right).
        fn Free(vm::VmRange) -> () = 1, on OwnTask, needs Rights::task(task::Method::VmFree);
        /// Change a region's permissions; W+X is refused (needs the
        /// VmReserve right).
        fn Protect(vm::ProtectReq) -> () = 2, on OwnTask, needs Rights::task(task::Method::VmReserve);
    }

    /// The kernel console.
    interface "kl.core.Console" as Console in console = 4 {
        /// Write the arena's bytes.
        fn Write(()) -> () = 0, on Kernel, needs Rights::CONSOLE;
    }

    /// System information.
    interface "kl.core.SysInfo" as SysInfo in sysinfo = 5 {
        /// Free and total frames, kernel heap, processes, threads.
        fn MemStats(()) -> msg::sysinfo::MemStats = 0, on Kernel, needs Rights::SYSINFO;
        /// How late the timer interrupt was taken, at worst, since the
        /// last call (which starts the next period).
        fn TickLateness(()) -> msg::sysinfo::Lateness = 1, on Kernel, needs Rights::SYSINFO;
        /// Kernel calls each endpoint has served past the gate since boot.
        fn Served(()) -> msg::sysinfo::Served = 2, on Kernel, needs Rights::SYSINFO;
        /// Turn the IPC fast path off or on (its results are the slow
        /// path's; tests compare them) and count what it served. It sets
        /// a system-wide cost: a policy grants it to test programs only.
        fn FastPath(msg::sysinfo::FastPathReq) -> msg::sysinfo::FastPath = 3, on Kernel, needs Rights::SYSINFO;
    }

    /// Handle operations and creating channels, badges and user objects.
    interface "kl.core.Handle" as HandleOps in handle_ops = 6 {
        /// Close one of the caller's handles.
        fn Close(msg::handle_ops::CloseReq) -> () = 0, on Kernel, needs Rights::HANDLES;
        /// A descendant of a handle with fewer or equal rights (the source
        /// needs COPY).
        fn Copy(msg::handle_ops::CopyReq) -> msg::handle_ops::HandleReply = 1, on Kernel, needs Rights::HANDLES;
        /// Close every descendant of a handle in every process (the handle
        /// needs REVOKE).
        fn Revoke(msg::handle_ops::CloseReq) -> () = 2, on Kernel, needs Rights::HANDLES;
        /// A new channel: its server end and one client end.
        fn ChannelCreate(()) -> msg::handle_ops::ChannelReply = 3, on Kernel, needs Rights::CREATE;
        /// A resource transfer context (badge) with a value.
        fn BadgeCreate(msg::handle_ops::BadgeReq) -> msg::handle_ops::HandleReply = 4, on Kernel, needs Rights::CREATE;
        /// A handle to a resource of the caller's own (KnHandleCreateUserObject).
        fn UserObjectCreate(msg::handle_ops::UserObjectReq) -> msg::handle_ops::HandleReply = 5, on Kernel, needs Rights::CREATE;
        /// Kind, rights, badge and context of one of the caller's handles.
        fn Identify(msg::handle_ops::CloseReq) -> msg::handle_ops::Identity = 6, on Kernel, needs Rights::HANDLES;
    }

    /// The kernel's ROMFS, read-only.
    interface "kl.core.Romfs" as Romfs in romfs = 7 {
        /// Bytes of a file from an offset (path in the arena; bytes in the
        /// reply's arena).
        fn Read(msg::romfs::ReadReq) -> msg::romfs::ReadReply = 0, on Kernel, needs Rights::ROMFS;
    }

    /// Static channels by name (ServiceLocatorRegister / Connect).
    interface "kl.core.Locator" as Locator in locator = 8 {
        /// The server end of the caller's static channel (name in the arena).
        fn Register(msg::locator::NameReq) -> msg::handle_ops::HandleReply = 0, on Kernel, needs Rights::LOCATOR;
        /// The client end of the caller's static channel (name in the arena).
        fn Connect(msg::locator::NameReq) -> msg::handle_ops::HandleReply = 1, on Kernel, needs Rights::LOCATOR;
        /// Make a static channel between two not-yet-started processes.
        fn ConnectTasks(msg::locator::ConnectTasksReq) -> () = 2, on Kernel, needs Rights::LOCATOR;
    }

    /// Notification receivers.
    interface "kl.core.Notice" as Notice in notice = 9 {
        /// A new notice.
        fn Create(()) -> msg::handle_ops::HandleReply = 0, on Kernel, needs Rights::CREATE;
        /// Report an object's events (the object's handle needs WAIT for a
        /// task or thread).
        fn Subscribe(msg::notice::SubscribeReq) -> () = 1, on Notice, needs Rights::READ_EVENTS;
        /// Wait for events (in the reply's arena).
        fn Wait(msg::notice::WaitReq) -> msg::notice::WaitReply = 2, on Notice, needs Rights::READ_EVENTS;
        /// Queue a user event.
        fn Signal(msg::notice::Event) -> () = 3, on Notice, needs Rights::SIGNAL;
    }

    /// MDL buffers: physical memory shared by handle.
    interface "kl.core.Mdl" as Mdl in mdl = 10 {
        /// A zeroed buffer.
        fn Create(msg::mdl::CreateReq) -> msg::handle_ops::HandleReply = 0, on Kernel, needs Rights::CREATE;
        /// Map it into the caller (writable needs MAP_WRITE too).
        fn Map(msg::mdl::MapReq) -> vm::VmRange = 1, on Mdl, needs Rights::MAP_READ;
        /// Unmap what Map returned.
        fn Unmap(vm::VmRange) -> () = 2, on Mdl, needs Rights::MAP_READ;
    }

    /// The security audit: what the policy decided, and why.
    interface "kl.core.Audit" as Audit in audit = 11 {
        /// The records after sequence number `after`, oldest first (as
        /// many as fit, at most `msg::audit::READ_MAX`, in the reply's
        /// arena).
        fn Read(msg::audit::ReadReq) -> msg::audit::ReadReply = 0, on Kernel, needs Rights::AUDIT;
    }

    /// Questions to the security policy (PSL's security event): may the
    /// caller do a method of one of its security interfaces (declared as
    /// services) with these arguments? rcOk, or rcSecurityDisallow.
    interface "kl.core.Security" as Security in security = 12 {
        /// The question: the interface's endpoint, the method, its
        /// arguments (laid out as its request's fixed part).
        fn Check(msg::security::CheckReq) -> () = 0, on Kernel, needs Rights::ASK;
    }
}
