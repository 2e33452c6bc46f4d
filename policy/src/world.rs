//! What a policy can name, from the declarations (`kos_abi`): the kernel's
//! interfaces and their methods, the user services, the components, and the
//! fields of each request that conditions can read.

use kos_abi::decl::{ComponentDecl, FieldDesc, FieldKind, Target};

/// A field a condition can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    pub kind: FieldKind,
    /// Named values (an enum) or bits (`flags`).
    pub values: Vec<(String, u64)>,
    pub flags: bool,
}

impl FieldInfo {
    fn from_desc(d: &FieldDesc) -> FieldInfo {
        FieldInfo {
            name: d.name.into(),
            offset: d.offset,
            size: d.size,
            kind: d.kind,
            values: d.values.iter().map(|&(n, v)| (n.into(), v)).collect(),
            flags: d.flags,
        }
    }
}

/// A declared method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    pub interface: &'static str,
    pub endpoint: u16,
    pub id: u16,
    pub name: &'static str,
    /// The request's fields, and the reply's (declared for services).
    pub fields: Vec<FieldInfo>,
    pub results: Vec<FieldInfo>,
    /// A kernel method invoked on a process (a Task or Thread handle): its
    /// target is that process; other kernel methods' is the kernel.
    pub on_process: bool,
}

impl MethodInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.interface, self.name)
    }
}

/// A declared interface: a kernel one (invoked on kernel objects) or a
/// user service (reached through channels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: &'static str,
    pub endpoint: u16,
    pub kernel: bool,
    pub methods: Vec<MethodInfo>,
    /// Method slots its endpoint takes (its highest method id + 1).
    pub slots: u16,
}

/// Everything declared.
#[derive(Clone, Debug)]
pub struct World {
    pub interfaces: Vec<InterfaceInfo>,
    pub components: &'static [ComponentDecl],
    /// The fields of a process start: the `Create` request's, and the
    /// strings `name` and `path`.
    pub execute_fields: Vec<FieldInfo>,
}

/// The pseudo-fields of a process start that are strings.
pub const START_STRINGS: [&str; 2] = ["name", "path"];

impl World {
    pub fn declared() -> World {
        let mut interfaces = Vec::new();
        for i in kos_abi::interfaces::INTERFACES {
            interfaces.push(InterfaceInfo {
                name: i.name,
                endpoint: i.id,
                kernel: true,
                methods: i
                    .methods
                    .iter()
                    .map(|m| MethodInfo {
                        interface: i.name,
                        endpoint: i.id,
                        id: m.id,
                        name: m.name,
                        fields: m.fields.iter().map(FieldInfo::from_desc).collect(),
                        results: Vec::new(),
                        on_process: matches!(
                            m.target,
                            Target::Task | Target::OwnTask | Target::Thread
                        ),
                    })
                    .collect(),
                slots: i.methods.len() as u16,
            });
        }
        for s in kos_abi::services::SERVICES {
            let methods: Vec<MethodInfo> = s
                .methods
                .iter()
                .map(|m| MethodInfo {
                    interface: s.name,
                    endpoint: s.endpoint,
                    id: m.id,
                    name: m.name,
                    fields: service_fields(m.args),
                    results: service_fields(m.results),
                    on_process: false,
                })
                .collect();
            interfaces.push(InterfaceInfo {
                name: s.name,
                endpoint: s.endpoint,
                kernel: false,
                slots: methods.iter().map(|m| m.id + 1).max().unwrap_or(0),
                methods,
            });
        }
        let create = kos_abi::task::Method::Create.decl();
        let mut execute_fields: Vec<FieldInfo> = create
            .fields
            .iter()
            .filter(|f| f.kind != FieldKind::Arena)
            .map(FieldInfo::from_desc)
            .collect();
        for s in START_STRINGS {
            execute_fields.push(FieldInfo {
                name: s.into(),
                offset: 0,
                size: 0,
                kind: FieldKind::Arena,
                values: Vec::new(),
                flags: false,
            });
        }
        World {
            interfaces,
            components: kos_abi::components::COMPONENTS,
            execute_fields,
        }
    }

    /// The interfaces `name` can mean: the one of that full name, else
    /// every one whose name ends with `.name` (or is `name`).
    pub fn interfaces_named(&self, name: &str) -> Vec<&InterfaceInfo> {
        if let Some(i) = self.interfaces.iter().find(|i| i.name == name) {
            return vec![i];
        }
        self.interfaces
            .iter()
            .filter(|i| i.name.ends_with(&format!(".{name}")))
            .collect()
    }

    pub fn component(&self, class: &str) -> Option<&ComponentDecl> {
        self.components.iter().find(|c| c.class == class)
    }

    pub fn interface_by_endpoint(&self, endpoint: u16) -> Option<&InterfaceInfo> {
        self.interfaces.iter().find(|i| i.endpoint == endpoint)
    }
}

/// A service method's fixed-part fields, laid out as libkos encodes them:
/// in order, each at its alignment.
fn service_fields(args: &[kos_abi::decl::Field]) -> Vec<FieldInfo> {
    let mut at = 0usize;
    let mut out = Vec::new();
    for a in args {
        if a.fixed == 0 {
            continue;
        }
        at = at.next_multiple_of(a.align.max(1));
        let kind = match (a.wire, a.ty) {
            ("bytes" | "string", _) => FieldKind::Arena,
            (_, "u8" | "u16" | "u32" | "u64") => FieldKind::Unsigned,
            (_, "i8" | "i16" | "i32" | "i64") => FieldKind::Signed,
            _ => FieldKind::Other,
        };
        out.push(FieldInfo {
            name: a.name.into(),
            offset: at,
            size: a.fixed,
            kind,
            values: Vec::new(),
            flags: false,
        });
        at += a.fixed;
    }
    out
}
