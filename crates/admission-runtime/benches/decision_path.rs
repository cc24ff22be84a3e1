//! The decision path in one process, without HTTP: where a decision's time goes, and whether the
//! warm path decides as the exact one does.
//!
//! `cargo bench -p admission-runtime --bench decision_path -- [--apps 10000] [--env 1] [--n 200] [--exact 0] [--layout v1.4]`
//!
//! The model is the proxy's own (`/v2/groups` JSON of `heroku_root(apps, env)`, or with
//! `--layout v1.4` of `deep_root(apps, env)` from a Marathon 1.4, parsed into packed apps), installed into an [`Admission`] that never asks Marathon anything. Two series per path
//! (warm, and the exact path as the baseline, same run):
//! - *at rest*: dry runs (`PUT /v2/apps/{id}?force=true {"instances": n}`) on the installed root;
//! - *moving*: the same writes, each admitted one installed as the model's next root right away
//!   (as the event stream would), so that every decision runs on a root the warm state was not
//!   prepared for while the background preparation competes for the CPU.
//!
//! The verdicts of both paths are compared write by write (mismatches are counted).

use std::time::Instant;

use admission_runtime::{offline_check, Admission, ServeConfig};
use marathon_model::ops::Flavour;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[(((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize).min(v.len() - 1)]
}

/// The Marathon measured: legacy layout (1.3) or 1.4+.
#[derive(Clone, Copy)]
struct Marathon {
    version: &'static str,
    flavour: Flavour,
}

impl Marathon {
    fn from_args() -> Marathon {
        let v14 = std::env::args().any(|a| a == "v1.4");
        match v14 {
            true => Marathon { version: "1.4.13", flavour: Flavour::V14 },
            false => Marathon { version: "1.3.14", flavour: Flavour::V13 },
        }
    }

    /// The root as the proxy's model holds it: rendered as Marathon's `/v2/groups`, parsed back.
    fn model_root(self, apps: usize, env: usize) -> marathon_model::Group {
        let root = match self.flavour {
            Flavour::V14 => znode_size::synthetic::deep_root(apps, env),
            Flavour::V13 => znode_size::synthetic::heroku_root(apps, env),
        };
        let json = marathon_sim::render::group(&root, self.flavour, true, true).to_string();
        drop(root);
        // What a full sync does after the fetch, timed: parse into packed apps, encode every app.
        let t = Instant::now();
        let parsed = admission_runtime::live_model::parse_root_encoded(json.as_bytes(), self.flavour).expect("rendered root parses");
        println!("full sync after the fetch: {:.1} MB of /v2/groups parsed and every app encoded in {:.0} ms", json.len() as f64 / 1e6, t.elapsed().as_secs_f64() * 1000.0);
        parsed
    }
}

async fn admission(marathon: Marathon, warm: bool, root: marathon_model::Group) -> Admission {
    let mut config = ServeConfig::default();
    config.admission.warm = warm;
    // Nothing re-syncs this model: it must not count as stale during a long series.
    config.admission.resync_interval = std::time::Duration::from_secs(3600);
    let a = offline_check::offline(&config, config.admission.clone(), root, marathon.version).await.expect("offline admission");
    while warm && a.model().prepared().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    a
}

/// One series: the decision JSON of each write and how long each took (ms).
async fn series(a: &Admission, marathon: Marathon, ids: &[String], n: usize, moving: bool, salt: usize) -> (Vec<String>, Vec<f64>) {
    let (mut verdicts, mut took) = (Vec::new(), Vec::new());
    for i in 0..n {
        let id = &ids[(i * 7919 + salt) % ids.len()];
        let body = format!("{{\"instances\": {}}}", 2 + (i + salt) % 3);
        let t = Instant::now();
        let (json, left) = a.check_leaving("PUT", &format!("/v2/apps{id}?force=true"), body.as_bytes()).await;
        took.push(t.elapsed().as_secs_f64() * 1000.0);
        verdicts.push(format!("{} {}", json["decision"], json["estimator"]));
        if let (true, Some(root)) = (moving, left) {
            a.model().install(std::sync::Arc::unwrap_or_clone(root), marathon.version).await;
        }
    }
    (verdicts, took)
}

fn main() {
    let (apps, env, n) = (arg("--apps", 10_000), arg("--env", 1), arg("--n", 200));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let marathon = Marathon::from_args();
        let root = marathon.model_root(apps, env);
        let ids: Vec<String> = root.transitive_apps().iter().filter_map(|a| a.id().map(str::to_string)).collect();
        let shape = if marathon.flavour == Flavour::V14 { "deep_root" } else { "heroku_root" };
        println!("machine: {} cores; Marathon {}, {shape}({apps}, {env})", std::thread::available_parallelism().map_or(0, |n| n.get()), marathon.version);
        let mut verdicts = Vec::new();
        // `--exact 0`: the warm path alone (for a profiler).
        let paths: &[(&str, bool, usize)] = match arg("--exact", 1) {
            0 => &[("warm", true, n)],
            _ => &[("warm", true, n), ("exact (baseline)", false, n.min(30))],
        };
        for &(label, warm, count) in paths {
            for (what, moving) in [("at rest", false), ("moving", true)] {
                let a = admission(marathon, warm, root.clone()).await;
                let (v, took) = series(&a, marathon, &ids, count, moving, usize::from(moving)).await;
                let by_path = |path: &str| v.iter().filter(|v| v.ends_with(&format!("\"{path}\""))).count();
                println!(
                    "| {apps} | {label} | {what} | n={count} ({} warm, {} exact) | decision p50 {:.2} ms | p99 {:.2} ms | max {:.2} ms |",
                    by_path("warm"),
                    by_path("exact"),
                    pct(&took, 50.0),
                    pct(&took, 99.0),
                    pct(&took, 100.0)
                );
                verdicts.push((label, what, v));
            }
        }
        for what in ["at rest", "moving"] {
            if verdicts.len() < 4 {
                break;
            }
            let of = |label: &str| verdicts.iter().find(|(l, w, _)| *l == label && *w == what).map(|(_, _, v)| v.clone()).unwrap();
            let (warm, exact) = (of("warm"), of("exact (baseline)"));
            let mismatches = warm.iter().zip(&exact).filter(|(w, e)| w.split(' ').next() != e.split(' ').next()).count();
            println!("{what}: {mismatches} of {} verdicts differ between the warm and the exact path", exact.len());
        }
    });
}
