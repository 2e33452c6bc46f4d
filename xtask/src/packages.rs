//! Packages the ExecutionManager serves: manifests in the spirit of
//! KasperskyOS's KPA manifests (JSON: the application's id, name and
//! version, and its run configurations), read with serde-saphyr (JSON is
//! YAML's flow syntax; it reports positions), checked against the image
//! and the policy, and compiled into `/etc/packages`
//! (`kos_abi::em::registry`). Each error has file:line:column and its span
//! underlined. See docs/execution-manager.md for the format.
//!
//! A system's packages are `execution-manager/packages/*.json` (the demo
//! system) or `kernel/utest/packages/*.json` (the test image).

use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use kos_abi::components::EXECUTION_MANAGER;
use kos_abi::em::registry::{ConfigSpec, PackageSpec};
use policy::explain::{Question, explain};
use policy::{Compiled, Diag, Source};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::workspace_root;

/// The folder of a system's package manifests (the benchmark system has
/// none).
pub fn dir(system: &str) -> Option<PathBuf> {
    let root = workspace_root();
    match system {
        "utest" => Some(root.join("kernel/utest/packages")),
        "demo" => Some(root.join("execution-manager/packages")),
        _ => None,
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Manifest {
    application: Application,
    run_configurations: Vec<RunConfiguration>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Application {
    id: Spanned<String>,
    name: String,
    version: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RunConfiguration {
    id: Spanned<String>,
    name: String,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env_variables: Vec<EnvVariable>,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    autorun: bool,
    eiid: Spanned<String>,
    path: Spanned<String>,
    /// How long a Normal stop waits before terminating (default 1000).
    #[serde(default = "default_stop_timeout")]
    stop_timeout_ms: u32,
}

fn default_stop_timeout() -> u32 {
    1000
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct EnvVariable {
    name: Spanned<String>,
    value: String,
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    let sp = s.referenced.span();
    match (sp.byte_offset(), sp.byte_len()) {
        (Some(o), Some(l)) => o as usize..(o + l) as usize,
        _ => 0..0,
    }
}

/// Whether `src` may start `class` from `path` under `c`.
fn may_start(c: &Compiled, src: &str, class: &str, path: &str) -> Result<bool, String> {
    let q = Question {
        src: src.into(),
        dst: class.into(),
        method: "execute".into(),
        event: None,
        fields: vec![("path".into(), path.into())],
    };
    explain(c, &q).map(|a| a.granted)
}

/// Parses and checks one manifest for an image holding the files
/// `has_file` says, under the policy `c`; the package, or the errors
/// rendered rustc-style.
pub fn check(
    src: &Source,
    c: &Compiled,
    has_file: &dyn Fn(&str) -> bool,
) -> Result<PackageSpec, String> {
    let m: Manifest = serde_saphyr::from_str(&src.text)
        .map_err(|e| e.to_string().replace("<input>", &src.name))?;
    let mut diags = Vec::new();
    let mut err = |span: Range<usize>, msg: String| diags.push(Diag::error(span, msg));
    let em = EXECUTION_MANAGER.class;
    if m.application.id.value.is_empty() {
        err(span(&m.application.id), "an empty application id".into());
    }
    let mut configs: Vec<ConfigSpec> = Vec::new();
    let mut primaries = 0;
    for r in &m.run_configurations {
        if r.id.value.is_empty() || configs.iter().any(|c| c.id == r.id.value) {
            err(
                span(&r.id),
                format!("run configuration id `{}` empty or used twice", r.id.value),
            );
        }
        if !matches!(r.kind.value.as_str(), "service" | "gui") {
            err(
                span(&r.kind),
                format!("type `{}`: `service` or `gui`", r.kind.value),
            );
        }
        if r.primary {
            primaries += 1;
            if primaries > 1 {
                err(span(&r.id), "a second primary run configuration".into());
            }
        }
        let eiid = r.eiid.value.as_str();
        let path = r.path.value.as_str();
        if c.subject(eiid).is_none() {
            err(
                span(&r.eiid),
                format!("unknown class `{eiid}`: the system's policy names no such class"),
            );
        } else {
            match may_start(c, em, eiid, path) {
                Ok(true) => {}
                Ok(false) => err(
                    span(&r.eiid),
                    format!(
                        "the policy does not let the ExecutionManager ({em}) start `{eiid}` from `{path}`"
                    ),
                ),
                Err(why) => err(span(&r.eiid), why),
            }
            // The ExecutionManager alone starts what it serves.
            for other in c.subject_names() {
                if other == em || other.contains('@') {
                    continue;
                }
                if let Ok(true) = may_start(c, &other, eiid, path) {
                    err(
                        span(&r.eiid),
                        format!(
                            "the policy lets `{other}` start `{eiid}` too: only the ExecutionManager may start the classes of its packages"
                        ),
                    );
                }
            }
        }
        if !has_file(path) {
            err(span(&r.path), format!("no file `{path}` in the image"));
        }
        let mut env = Vec::new();
        for v in &r.env_variables {
            if v.name.value.is_empty() || v.name.value.contains('=') {
                err(
                    span(&v.name),
                    format!("variable name `{}`: empty or holds `=`", v.name.value),
                );
            }
            env.push(format!("{}={}", v.name.value, v.value));
        }
        configs.push(ConfigSpec {
            id: r.id.value.clone(),
            name: r.name.clone(),
            kind: r.kind.value.clone(),
            eiid: eiid.to_string(),
            path: path.to_string(),
            primary: r.primary,
            autorun: r.autorun,
            stop_timeout_ms: r.stop_timeout_ms,
            args: r.args.clone(),
            env,
        });
    }
    if diags.is_empty() {
        Ok(PackageSpec {
            id: m.application.id.value.clone(),
            name: m.application.name.clone(),
            version: m.application.version.clone(),
            configs,
        })
    } else {
        Err(policy::render(src, &diags))
    }
}

/// The manifests of `system`, sorted by file name.
fn manifests(system: &str) -> Result<Vec<PathBuf>> {
    let Some(d) = dir(system) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&d) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", d.display())),
    };
    files.sort();
    Ok(files)
}

/// Reads, checks and compiles `system`'s packages: the bytes of
/// `/etc/packages`.
pub fn compile(system: &str, c: &Compiled, has_file: &dyn Fn(&str) -> bool) -> Result<Vec<u8>> {
    let mut packages: Vec<PackageSpec> = Vec::new();
    let mut failed = false;
    for p in manifests(system)? {
        let src = crate::read_source(&p)?;
        match check(&src, c, has_file) {
            Ok(pkg) if packages.iter().any(|q| q.id == pkg.id) => {
                eprintln!("{}: a second package `{}`", src.name, pkg.id);
                failed = true;
            }
            Ok(pkg) => packages.push(pkg),
            Err(rendered) => {
                eprint!("{rendered}");
                failed = true;
            }
        }
    }
    if failed {
        bail!("the {system} packages' manifests do not hold");
    }
    kos_abi::em::registry::encode(&packages)
        .map_err(|e| anyhow::anyhow!("packages too large ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Result<PackageSpec, String> {
        let c = crate::policies::compile("demo", crate::Board::Virt).expect("demo policy");
        let src = Source {
            name: "m.json".into(),
            text: json.into(),
        };
        check(&src, &c, &|p| {
            p == "/bin/demo-app" || p == "/bin/demo-counter"
        })
    }

    const GOOD: &str = r#"{
  "application": {"id": "application.Application", "name": "Application", "version": "1.0.0"},
  "runConfigurations": [
    {"id": "app", "name": "The app", "type": "service", "primary": true,
     "eiid": "application.Application", "path": "/bin/demo-app",
     "args": ["--greet"], "envVariables": [{"name": "MODE", "value": "demo"}]}
  ]
}"#;

    fn error(json: &str, at: &str, what: &str) {
        let e = run(json).unwrap_err();
        assert!(e.contains(at), "{e}\n(expected {at})");
        assert!(e.contains(what), "{e}\n(expected {what})");
    }

    #[test]
    fn the_systems_packages_hold() {
        for system in ["demo", "utest"] {
            let c = crate::policies::compile(system, crate::Board::Virt).unwrap();
            for p in manifests(system).unwrap() {
                let src = crate::read_source(&p).unwrap();
                check(&src, &c, &|_| true).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn good_manifest_compiles() {
        let p = run(GOOD).unwrap();
        assert_eq!(p.configs[0].env, ["MODE=demo"]);
        assert_eq!(p.configs[0].stop_timeout_ms, 1000);
        let bytes = kos_abi::em::registry::encode(&[p]).unwrap();
        let r = kos_abi::em::registry::Registry::parse(&bytes).unwrap();
        assert!(
            r.package("application.Application")
                .unwrap()
                .config("")
                .is_some()
        );
    }

    #[test]
    fn errors_have_positions() {
        error(
            &GOOD.replace("/bin/demo-app", "/bin/none"),
            "m.json:5:49",
            "no file `/bin/none`",
        );
        error(
            &GOOD.replace("\"service\"", "\"daemon\""),
            "m.json:4:46",
            "`service` or `gui`",
        );
        error(
            &GOOD.replace(
                "\"eiid\": \"application.Application\"",
                "\"eiid\": \"demo.Nope\"",
            ),
            "m.json:5:14",
            "unknown class",
        );
        error(
            &GOOD.replace("\"primary\"", "\"colour\""),
            "m.json:4",
            "unknown field `colour`",
        );
        let two = GOOD.replace(
            "  ]\n}",
            "  , {\"id\": \"app\", \"name\": \"x\", \"type\": \"gui\", \"primary\": true, \"eiid\": \"application.Application\", \"path\": \"/bin/demo-app\"}]\n}",
        );
        error(&two, "m.json:7", "used twice");
        error(&two, "m.json:7", "a second primary");
    }

    #[test]
    fn only_the_execution_manager_may_start_package_classes() {
        // demo.Counter is started by einit under the demo policy.
        let other = GOOD
            .replace(
                "\"eiid\": \"application.Application\"",
                "\"eiid\": \"demo.Counter\"",
            )
            .replace("/bin/demo-app", "/bin/demo-counter");
        error(&other, "m.json:5:14", "does not let the ExecutionManager");
        error(
            &other,
            "m.json:5:14",
            "lets `einit` start `demo.Counter` too",
        );
    }
}
