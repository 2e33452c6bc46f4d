//! Init descriptions (`kernel/einit/systems/<system>.yaml`): what einit
//! starts, in KasperskyOS's init.yaml format (docs/init.md). Read with
//! serde-saphyr (maintained, and it reports positions), checked against the
//! declarations, the image's files and the system's policy, and compiled
//! to the form einit reads (`kos_abi::init`, in `/etc/init`).
//!
//! Every check failure is an error with file:line:column and the span
//! underlined: a class the policy does not name, a path the image does not
//! hold, a connection to no process, to a class that declares no
//! endpoints, or one the policy would refuse (a static channel is checked
//! against the permissions, so it cannot fail at boot), and a process
//! einit may not start.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Result, bail};
use kos_abi::Rights;
use kos_abi::components::COMPONENTS;
use kos_abi::init::EntitySpec;
use kos_abi::task::{
    self, DEFAULT_KERNEL_RIGHTS, DEFAULT_TASK_RIGHTS, MAX_NAME, MAX_PATH, METHOD_COUNT,
};
use policy::explain::{Question, explain};
use policy::{Compiled, Diag, Source};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::workspace_root;

/// The file of a system's init description.
pub fn path(system: &str) -> PathBuf {
    workspace_root()
        .join("kernel/einit/systems")
        .join(format!("{system}.yaml"))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    entities: Vec<Entity>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Entity {
    /// The class.
    name: Spanned<String>,
    /// The process name (default: the class).
    task: Option<Spanned<String>>,
    /// The executable (default: `/bin/<the class's last part>`).
    path: Option<Spanned<String>>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    connections: Vec<Connection>,
    /// Task rights on itself beyond the defaults, by method name
    /// (`Create`, `GetTasksList`, ...).
    #[serde(default)]
    task_rights: Vec<Spanned<String>>,
    /// Kernel rights beyond the defaults (`ROMFS`, `SYSINFO`, ...).
    #[serde(default)]
    kernel_rights: Vec<Spanned<String>>,
    /// Limits narrower than the class's quota (those not given: the
    /// quota's).
    budget: Option<Spanned<Budget>>,
}

/// An entity's budget (`SetBudget`), each limit at most its class's quota.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Budget {
    processes: Option<u64>,
    threads: Option<u64>,
    handles: Option<u64>,
    frames: Option<u64>,
    /// Bytes, or a number with `KiB`, `MiB` or `GiB`.
    memory: Option<Amount>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Amount {
    Bytes(u64),
    Text(String),
}

impl Amount {
    fn bytes(&self) -> Option<u64> {
        match self {
            Amount::Bytes(n) => Some(*n),
            Amount::Text(t) => {
                let (n, unit) = t.trim().split_once(' ').unwrap_or((t.trim(), ""));
                let shift = match unit.trim() {
                    "" => 0,
                    "KiB" => 10,
                    "MiB" => 20,
                    "GiB" => 30,
                    _ => return None,
                };
                n.parse::<u64>().ok()?.checked_mul(1 << shift)
            }
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Connection {
    /// The server's task name.
    target: Spanned<String>,
    /// The channel's name (default: the server's class).
    id: Option<Spanned<String>>,
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    let sp = s.referenced.span();
    match (sp.byte_offset(), sp.byte_len()) {
        (Some(o), Some(l)) => o as usize..(o + l) as usize,
        _ => 0..0,
    }
}

/// The policy's name for process `task` of `class`, as the kernel labels
/// it: its instance (`class@task`) if the policy declares one, else its
/// class.
fn label(c: &Compiled, class: &str, task: &str) -> String {
    let instance = format!("{class}@{task}");
    if c.subject(&instance).is_some() {
        instance
    } else {
        class.to_string()
    }
}

/// The default path of a class: `/bin/<its last part>`.
fn default_path(class: &str) -> String {
    format!("/bin/{}", class.rsplit('.').next().unwrap_or(class))
}

/// Parses and checks `src` (an init description) for an image holding the
/// files `has_file` says it does, under the policy `c`. The compiled
/// entities, or the errors rendered rustc-style.
pub fn check(
    src: &Source,
    c: &Compiled,
    has_file: &dyn Fn(&str) -> bool,
) -> Result<Vec<EntitySpec>, String> {
    let file: File = serde_saphyr::from_str(&src.text)
        .map_err(|e| e.to_string().replace("<input>", &src.name))?;
    let mut diags = Vec::new();
    let mut err = |span: Range<usize>, msg: String| diags.push(Diag::error(span, msg));

    // Tasks by name, and their classes.
    let mut tasks: HashMap<&str, usize> = HashMap::new();
    let mut specs = Vec::new();
    for (i, e) in file.entities.iter().enumerate() {
        let class = e.name.value.as_str();
        if c.subject(class).is_none() {
            err(
                span(&e.name),
                format!(
                    "unknown class `{class}`: the system's policy names no such class (it names {})",
                    c.subject_names().join(", ")
                ),
            );
        }
        let task = e.task.as_ref().map_or(class, |t| t.value.as_str());
        let task_span = e.task.as_ref().map_or_else(|| span(&e.name), span);
        if task.is_empty() || task.len() > MAX_NAME {
            err(
                task_span.clone(),
                format!("a process name is 1 to {MAX_NAME} bytes"),
            );
        }
        if tasks.insert(task, i).is_some() {
            err(task_span, format!("a second process called `{task}`"));
        }
        let path = e
            .path
            .as_ref()
            .map_or_else(|| default_path(class), |p| p.value.clone());
        let path_span = e.path.as_ref().map_or_else(|| span(&e.name), span);
        if path.len() > MAX_PATH || !has_file(&path) {
            err(path_span, format!("no file `{path}` in the image"));
        }
        let mut env = Vec::new();
        for (k, v) in &e.env {
            if k.is_empty() || k.contains('=') {
                err(
                    span(&e.name),
                    format!("variable name `{k}`: empty or holds `=`"),
                );
            }
            env.push(format!("{k}={v}"));
        }
        let mut task_rights = DEFAULT_TASK_RIGHTS;
        for r in &e.task_rights {
            match task::ALL[..METHOD_COUNT as usize]
                .iter()
                .find(|m| m.decl().name == r.value)
            {
                Some(&m) => task_rights |= Rights::task(m),
                None => err(
                    span(r),
                    format!(
                        "no Task right `{}`: they are named after the 26 Task methods",
                        r.value
                    ),
                ),
            }
        }
        let mut kernel_rights = DEFAULT_KERNEL_RIGHTS;
        for r in &e.kernel_rights {
            match Rights::KERNEL_NAMED.iter().find(|(n, _)| *n == r.value) {
                Some((_, bit)) => kernel_rights |= *bit,
                None => err(
                    span(r),
                    format!(
                        "no kernel right `{}` (they are {})",
                        r.value,
                        Rights::KERNEL_NAMED.map(|(n, _)| n).join(", ")
                    ),
                ),
            }
        }
        let budget = e.budget.as_ref().and_then(|b| {
            let quota = c.subject(&label(c, class, task)).map(|s| c.quota(s))?;
            let v = &b.value;
            let memory = match v.memory.as_ref().map(|m| (m.bytes(), m)) {
                None => Some(quota.memory),
                Some((Some(n), _)) => Some(n),
                Some((None, m)) => {
                    err(
                        span(b),
                        format!("budget memory {m:?}: a number of bytes, or with KiB, MiB or GiB"),
                    );
                    None
                }
            }?;
            let want = [
                ("processes", v.processes, u64::from(quota.processes)),
                ("threads", v.threads, u64::from(quota.threads)),
                ("handles", v.handles, u64::from(quota.handles)),
                ("frames", v.frames, u64::from(quota.frames)),
                ("memory", Some(memory), quota.memory),
            ]
            .map(|(kind, want, most)| {
                let want = want.unwrap_or(most);
                if want > most {
                    err(
                        span(b),
                        format!(
                            "budget {kind} {want} is above class `{class}`'s quota ({most}): a budget only narrows it"
                        ),
                    );
                }
                want
            });
            Some(kos_abi::task::Budget::from_array(want))
        });
        specs.push(EntitySpec {
            name: task.to_string(),
            class: class.to_string(),
            path,
            rights: (task_rights.bits(), kernel_rights.bits()),
            budget,
            args: e.args.clone(),
            env,
            connections: Vec::new(),
        });
    }

    for (i, e) in file.entities.iter().enumerate() {
        let client = e.name.value.as_str();
        let mut ids: Vec<&str> = Vec::new();
        for conn in &e.connections {
            let target = conn.target.value.as_str();
            let Some(&j) = tasks.get(target) else {
                err(
                    span(&conn.target),
                    format!("no process called `{target}` in this description"),
                );
                continue;
            };
            if j == i {
                err(
                    span(&conn.target),
                    "a channel from a process to itself".into(),
                );
                continue;
            }
            let server = file.entities[j].name.value.as_str();
            let id = conn.id.as_ref().map_or(server, |s| s.value.as_str());
            let id_span = conn.id.as_ref().map_or_else(|| span(&conn.target), span);
            if id.is_empty() || id.len() > kos_abi::msg::locator::MAX_NAME {
                err(id_span.clone(), "a channel name is 1 to 64 bytes".into());
            }
            if ids.contains(&id) {
                err(
                    id_span.clone(),
                    format!("a second channel called `{id}` from this process"),
                );
            }
            ids.push(id);
            let Some(component) = COMPONENTS.iter().find(|k| k.class == server) else {
                err(
                    span(&conn.target),
                    format!(
                        "class `{server}` declares no endpoints (kos_abi::components): nothing would serve this channel"
                    ),
                );
                continue;
            };
            if let (Some(cs), Some(ss)) = (c.subject(client), c.subject(server)) {
                let allowed = component
                    .endpoints
                    .iter()
                    .any(|ep| c.channel_allowed(cs, ss, ep.interface));
                if !allowed {
                    let ifaces: Vec<&str> =
                        component.endpoints.iter().map(|e| e.interface).collect();
                    err(
                        id_span,
                        format!(
                            "the policy refuses this channel: it lets `{client}` send `{server}` no request (with its response) of {}",
                            ifaces.join(", ")
                        ),
                    );
                }
            }
            specs[i].connections.push((id.to_string(), j as u16));
        }
    }

    // einit must be allowed to start each process.
    for (e, spec) in file.entities.iter().zip(&specs) {
        if c.subject(&spec.class).is_none() {
            continue;
        }
        let q = Question {
            src: "einit".into(),
            dst: spec.class.clone(),
            method: "execute".into(),
            event: None,
            fields: vec![("path".into(), spec.path.clone())],
        };
        match explain(c, &q) {
            Ok(a) if a.granted => {}
            Ok(a) => err(
                span(&e.name),
                format!(
                    "the policy does not let einit start `{}` ({}):\n{}",
                    spec.name, spec.path, a.text
                ),
            ),
            Err(why) => err(span(&e.name), why),
        }
        // And to narrow its budget, if the description does.
        if let Some(b) = &e.budget {
            let q = Question {
                src: "einit".into(),
                dst: label(c, &spec.class, &spec.name),
                method: "Task.SetBudget".into(),
                event: None,
                fields: vec![("target".into(), "child".into())],
            };
            match explain(c, &q) {
                Ok(a) if a.granted => {}
                Ok(a) => err(
                    span(b),
                    format!(
                        "the policy does not let einit set `{}`'s budget:\n{}",
                        spec.name, a.text
                    ),
                ),
                Err(why) => err(span(b), why),
            }
        }
    }

    if diags.is_empty() {
        Ok(specs)
    } else {
        Err(policy::render(src, &diags))
    }
}

/// Reads, checks and compiles `system`'s init description: the bytes of
/// `/etc/init`.
pub fn compile(system: &str, c: &Compiled, has_file: &dyn Fn(&str) -> bool) -> Result<Vec<u8>> {
    let src = crate::read_source(&path(system))?;
    let shown = &src.name;
    match check(&src, c, has_file) {
        Ok(specs) => {
            kos_abi::init::encode(&specs).map_err(|e| anyhow::anyhow!("{shown}: too large ({e})"))
        }
        Err(rendered) => {
            eprint!("{rendered}");
            bail!("{shown}: the init description does not hold")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Compiled {
        crate::policies::compile("demo", crate::Board::Virt).expect("demo policy")
    }

    fn run(yaml: &str) -> Result<Vec<EntitySpec>, String> {
        let src = Source {
            name: "t.yaml".into(),
            text: yaml.into(),
        };
        let files = ["/bin/demo-counter", "/bin/demo-client", "/bin/hello"];
        check(&src, &policy(), &|p| files.contains(&p))
    }

    const GOOD: &str = "entities:
  - name: demo.Counter
    task: counter
    path: /bin/demo-counter
  - name: demo.Client
    task: alice
    path: /bin/demo-client
    args: [\"3\"]
    env: {GREETING: hi}
    connections:
      - target: counter
        id: counter
";

    #[test]
    fn the_demo_system_holds() {
        let src = Source::read(&path("demo"), "demo.yaml").unwrap();
        let specs = check(&src, &policy(), &|_| true).unwrap();
        assert!(specs.iter().any(|s| !s.connections.is_empty()));
    }

    #[test]
    fn good_description_compiles() {
        let specs = run(GOOD).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[1].env, ["GREETING=hi"]);
        assert_eq!(specs[1].connections, [("counter".to_string(), 0)]);
        assert_eq!(
            specs[1].rights,
            (DEFAULT_TASK_RIGHTS.bits(), DEFAULT_KERNEL_RIGHTS.bits())
        );
        let more = run(&GOOD.replace(
            "    args:",
            "    task_rights: [Create]\n    kernel_rights: [ROMFS]\n    args:",
        ))
        .unwrap();
        assert_eq!(
            more[1].rights,
            (
                (DEFAULT_TASK_RIGHTS | Rights::task(task::Method::Create)).bits(),
                (DEFAULT_KERNEL_RIGHTS | Rights::ROMFS).bits()
            )
        );
        let bytes = kos_abi::init::encode(&specs).unwrap();
        assert!(kos_abi::init::Description::parse(&bytes).is_some());
    }

    /// The error for `yaml`, which must name `line:col` and say `what`.
    fn error(yaml: &str, at: &str, what: &str) {
        let e = run(yaml).unwrap_err();
        assert!(e.contains(at), "{e}\n(expected {at})");
        assert!(e.contains(what), "{e}\n(expected {what})");
    }

    #[test]
    fn unknown_things_are_errors_with_positions() {
        error(
            &GOOD.replace("demo.Counter", "demo.Nope"),
            "t.yaml:2:11",
            "unknown class `demo.Nope`",
        );
        error(
            &GOOD.replace("/bin/demo-client", "/bin/nope"),
            "t.yaml:7:11",
            "no file `/bin/nope`",
        );
        error(
            &GOOD.replace("target: counter", "target: nobody"),
            "t.yaml:11:17",
            "no process called `nobody`",
        );
        error(
            &GOOD.replace("task: alice", "task: counter"),
            "t.yaml:6:11",
            "a second process called `counter`",
        );
        error(
            &GOOD.replace("    args:", "    colour: red\n    args:"),
            "t.yaml:8:5",
            "unknown field `colour`",
        );
        error(
            &GOOD.replace("    args:", "    task_rights: [Create, Fly]\n    args:"),
            "t.yaml:8:27",
            "no Task right `Fly`",
        );
        error(
            &GOOD.replace("    args:", "    kernel_rights: [CLIENT]\n    args:"),
            "t.yaml:8:21",
            "no kernel right `CLIENT`",
        );
        error("entities: [", "t.yaml:1", "");
    }

    #[test]
    fn channels_are_checked_against_the_policy_and_declarations() {
        // hello may not talk to the counter: the policy grants it nothing.
        let refused = format!(
            "{GOOD}  - name: hello
    path: /bin/hello
    connections:
      - target: counter
"
        );
        error(&refused, "t.yaml:16:17", "the policy refuses this channel");
        // A channel to a class without endpoints.
        let nothing = GOOD.replace("target: counter", "target: alice");
        error(
            &nothing,
            "t.yaml:11:17",
            "a channel from a process to itself",
        );
        let to_client = format!(
            "{GOOD}  - name: demo.Client
    task: bob
    path: /bin/demo-client
    connections:
      - target: alice
"
        );
        error(&to_client, "t.yaml:17:17", "declares no endpoints");
    }

    #[test]
    fn budgets_narrow_the_class_quota() {
        let c = policy();
        let q = c.quota(c.subject("demo.Client").unwrap());
        let with = |b: &str| GOOD.replace("    args:", &format!("    budget: {b}\n    args:"));
        let specs = run(&with("{processes: 2, memory: 64 KiB}")).unwrap();
        assert_eq!(specs[0].budget, None);
        assert_eq!(
            specs[1].budget.map(|b| b.to_array()),
            Some([
                2,
                u64::from(q.threads),
                u64::from(q.handles),
                u64::from(q.frames),
                64 << 10
            ])
        );
        let bytes = kos_abi::init::encode(&specs).unwrap();
        let d = kos_abi::init::Description::parse(&bytes).unwrap();
        assert_eq!(d.entities().nth(1).unwrap().budget, specs[1].budget);
        error(
            &with(&format!("{{threads: {}}}", q.threads + 1)),
            "t.yaml:8:13",
            "above class `demo.Client`'s quota",
        );
        error(&with("{memory: 3 parsecs}"), "t.yaml:8:13", "budget memory");
        error(&with("{cpus: 2}"), "t.yaml:8", "unknown field `cpus`");
    }

    #[test]
    fn starts_are_checked_against_the_policy() {
        let other = GOOD.replace("/bin/demo-counter", "/bin/hello");
        error(&other, "t.yaml:2:11", "does not let einit start `counter`");
    }
}
