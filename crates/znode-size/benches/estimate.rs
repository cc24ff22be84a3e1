//! A deployment's estimate after a one-app change: the warm fast path (`WarmState`, prepared once
//! per state) against a full re-encode (a fresh estimator: every app encoded again, one gzip of
//! the whole plan) in the same run, on 2,000- and 10,000-app roots near the limit.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use marathon_model::Group;
use znode_size::synthetic::heroku_root;
use znode_size::{Estimator, StoreConfig, WarmState};

/// The first app of the big group scaled, with the new version Marathon gives it.
fn one_app_changed(root: &Group, n: u32) -> Group {
    let mut target = root.clone();
    let app = target.groups.as_mut().unwrap()[0].apps.as_mut().unwrap().first_mut().unwrap().make_mut();
    app.instances = Some(3 + n % 5);
    app.version = Some(format!("2018-01-01T00:00:{:02}.000Z", n % 60));
    target
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("deployment_estimate");
    group.sample_size(10);
    // 2,000 apps with 10 env vars of random hex: 92% of the 1 MB plan limit.
    // 10,000 apps with 1 env var: 65% of it (more apps would not fit at all).
    for (apps, env) in [(2_000usize, 10usize), (10_000, 1)] {
        let root = heroku_root(apps, env);
        let target = one_app_changed(&root, 1);
        let cfg = StoreConfig::default();
        let warm = WarmState::prepare(&root, &cfg);
        let exact = Estimator::new(cfg.clone()).deployment(&root, &target);
        let fast = warm.deployment(&target, &[]);
        println!(
            "{apps} apps: exact plan {:?} bytes (raw {:?}), fast {:?} ± {}, limit {}",
            exact.plan_bytes, exact.plan_raw_bytes, fast.estimate.plan_bytes, fast.error_bound, exact.limit_bytes
        );
        let thresholds = [1_013_760u64, 819_200];
        group.bench_with_input(BenchmarkId::new("warm_one_app_change", apps), &target, |b, target| {
            b.iter(|| warm.deployment(target, &thresholds))
        });
        group.bench_with_input(BenchmarkId::new("full_reencode", apps), &target, |b, target| {
            b.iter(|| Estimator::new(cfg.clone()).deployment(&root, target))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
