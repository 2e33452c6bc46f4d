//! The compiled init description: what einit starts and how it wires it.
//! xtask reads a system's `init.yaml`, checks it against the declarations
//! and the policy, and writes this form to `/etc/init` in the ROMFS.
//!
//! Layout ([`crate::wire`] encoding): [`MAGIC`], a u16 count of entities,
//! then each entity: name, class, path (strings), its rights on itself
//! and on the kernel (two u32 [`crate::Rights`] masks), its budget (a u8,
//! 1 if given, then the five limits of [`crate::task::Budget`] in order,
//! each a u64), arguments and variables
//! (each a u16 count of strings) and connections (a u16 count of (channel
//! name, u16 index of the server entity)). einit starts every entity in
//! order, makes the connections, then runs them all.

use crate::wire::Cursor;

pub const MAGIC: [u8; 4] = *b"KIN3";

/// One process to start.
#[derive(Clone, Debug)]
pub struct Entity<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub path: &'a str,
    /// What it holds on itself (its `SELF_TASK`) and on the kernel.
    pub rights: (crate::Rights, crate::Rights),
    /// Its budget, narrower than its class's quota (`SetBudget`).
    pub budget: Option<crate::task::Budget>,
    args: (u16, Cursor<'a>),
    env: (u16, Cursor<'a>),
    connections: (u16, Cursor<'a>),
}

/// A static channel from an entity to the server entity `server`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Connection<'a> {
    pub channel: &'a str,
    pub server: u16,
}

/// Strings of a validated list.
pub struct Strings<'a> {
    left: u16,
    at: Cursor<'a>,
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.left = self.left.checked_sub(1)?;
        self.at.str()
    }
}

/// Connections of a validated entity.
pub struct Connections<'a> {
    left: u16,
    at: Cursor<'a>,
}

impl<'a> Iterator for Connections<'a> {
    type Item = Connection<'a>;
    fn next(&mut self) -> Option<Connection<'a>> {
        self.left = self.left.checked_sub(1)?;
        connection(&mut self.at)
    }
}

fn connection<'a>(c: &mut Cursor<'a>) -> Option<Connection<'a>> {
    Some(Connection {
        channel: c.str()?,
        server: c.u16()?,
    })
}

fn strings<'a>(c: &mut Cursor<'a>) -> Option<(u16, Cursor<'a>)> {
    let n = c.u16()?;
    let at = c.clone();
    for _ in 0..n {
        c.str()?;
    }
    Some((n, at))
}

impl<'a> Entity<'a> {
    pub fn args(&self) -> Strings<'a> {
        Strings {
            left: self.args.0,
            at: self.args.1.clone(),
        }
    }

    /// `NAME=VALUE` entries.
    pub fn env(&self) -> Strings<'a> {
        Strings {
            left: self.env.0,
            at: self.env.1.clone(),
        }
    }

    pub fn connections(&self) -> Connections<'a> {
        Connections {
            left: self.connections.0,
            at: self.connections.1.clone(),
        }
    }
}

/// A validated init description.
#[derive(Clone, Debug)]
pub struct Description<'a> {
    count: u16,
    at: Cursor<'a>,
}

fn entity<'a>(c: &mut Cursor<'a>, count: u16) -> Option<Entity<'a>> {
    let name = c.str()?;
    let class = c.str()?;
    let path = c.str()?;
    let rights = (
        crate::Rights::from_bits_retain(c.u32()?),
        crate::Rights::from_bits_retain(c.u32()?),
    );
    let budget = match c.u8()? {
        0 => None,
        1 => {
            let mut a = [0; 5];
            for v in &mut a {
                *v = c.u64()?;
            }
            Some(crate::task::Budget::from_array(a))
        }
        _ => return None,
    };
    let args = strings(c)?;
    let env = strings(c)?;
    let n = c.u16()?;
    let at = c.clone();
    for _ in 0..n {
        if connection(c)?.server >= count {
            return None;
        }
    }
    Some(Entity {
        name,
        class,
        path,
        rights,
        budget,
        args,
        env,
        connections: (n, at),
    })
}

impl<'a> Description<'a> {
    /// Checks `bytes` whole: `None` if malformed (no [`MAGIC`], short,
    /// bad UTF-8, a connection to an entity that does not exist, trailing
    /// bytes).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut c = Cursor::new(bytes);
        if c.bytes(4)? != MAGIC {
            return None;
        }
        let count = c.u16()?;
        let at = c.clone();
        for _ in 0..count {
            entity(&mut c, count)?;
        }
        (c.remaining() == 0).then_some(Description { count, at })
    }

    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entities(&self) -> impl Iterator<Item = Entity<'a>> + 'a {
        let mut at = self.at.clone();
        let count = self.count;
        (0..count).map_while(move |_| entity(&mut at, count))
    }
}

/// An entity, owned, for the writer.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntitySpec {
    pub name: alloc::string::String,
    pub class: alloc::string::String,
    pub path: alloc::string::String,
    /// [`crate::Rights`] bits: on itself, on the kernel.
    pub rights: (u32, u32),
    /// Its budget, if narrower than its class's quota.
    pub budget: Option<crate::task::Budget>,
    pub args: alloc::vec::Vec<alloc::string::String>,
    pub env: alloc::vec::Vec<alloc::string::String>,
    /// (channel, index of the server entity).
    pub connections: alloc::vec::Vec<(alloc::string::String, u16)>,
}

/// The bytes [`Description::parse`] reads back.
#[cfg(any(test, feature = "alloc"))]
pub fn encode(entities: &[EntitySpec]) -> Result<alloc::vec::Vec<u8>, crate::Rc> {
    let mut w = crate::wire::Writer::default();
    w.bytes.extend_from_slice(&MAGIC);
    w.count(entities.len())?;
    for e in entities {
        w.str(&e.name)?;
        w.str(&e.class)?;
        w.str(&e.path)?;
        w.u32(e.rights.0);
        w.u32(e.rights.1);
        match e.budget {
            None => w.u8(0),
            Some(b) => {
                w.u8(1);
                for v in b.to_array() {
                    w.u64(v);
                }
            }
        }
        for list in [&e.args, &e.env] {
            w.count(list.len())?;
            for s in list {
                w.str(s)?;
            }
        }
        w.count(e.connections.len())?;
        for (channel, server) in &e.connections {
            w.str(channel)?;
            w.u16(*server);
        }
    }
    Ok(w.bytes)
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;

    fn two() -> Vec<EntitySpec> {
        vec![
            EntitySpec {
                name: "counter".into(),
                class: "demo.Counter".into(),
                path: "/bin/demo-counter".into(),
                args: vec!["--clients".into(), "2".into()],
                ..Default::default()
            },
            EntitySpec {
                name: "alice".into(),
                class: "demo.Client".into(),
                path: "/bin/demo-client".into(),
                env: vec!["GREETING=hi".into()],
                connections: vec![("counter".into(), 0)],
                rights: (0x1234_5678, 0x9abc_def0),
                budget: Some(crate::task::Budget {
                    processes: 1,
                    threads: 2,
                    handles: 3,
                    frames: 4,
                    memory: 5,
                }),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&two()).unwrap();
        let d = Description::parse(&bytes).unwrap();
        assert_eq!(d.len(), 2);
        let e: Vec<_> = d.entities().collect();
        assert_eq!(e[0].args().collect::<Vec<_>>(), ["--clients", "2"]);
        assert_eq!(e[1].env().collect::<Vec<_>>(), ["GREETING=hi"]);
        assert_eq!(
            e[1].connections().collect::<Vec<_>>(),
            [Connection {
                channel: "counter",
                server: 0
            }]
        );
        assert_eq!(e[1].path, "/bin/demo-client");
        assert_eq!(e[1].rights.0.bits(), 0x1234_5678);
        assert_eq!(e[1].rights.1.bits(), 0x9abc_def0);
        assert_eq!(e[0].budget, None);
        assert_eq!(e[1].budget.map(|b| b.to_array()), Some([1, 2, 3, 4, 5]));
    }

    #[test]
    fn malformed_is_refused() {
        let bytes = encode(&two()).unwrap();
        for n in 0..bytes.len() {
            assert!(Description::parse(&bytes[..n]).is_none());
        }
        let mut bad = two();
        bad[1].connections[0].1 = 2;
        assert!(Description::parse(&encode(&bad).unwrap()).is_none());
        // The budget's flag is 0 or 1: the first entity's follows its
        // three strings and two masks.
        let e = &two()[0];
        let at = 4 + 2 + 3 * 2 + e.name.len() + e.class.len() + e.path.len() + 8;
        let mut flag = encode(&two()).unwrap();
        assert_eq!(flag[at], 0);
        flag[at] = 2;
        assert!(Description::parse(&flag).is_none());
    }
}
