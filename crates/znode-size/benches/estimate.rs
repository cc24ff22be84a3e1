//! Estimate after a one-app change, from a warm estimator, against a full re-encode (a fresh
//! estimator: every app encoded again) in the same run, on 2,000- and 10,000-app roots.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use marathon_model::Group;
use znode_size::synthetic::heroku_root;
use znode_size::{Estimator, StoreConfig};

fn one_app_changed(root: &Group, n: u32) -> Group {
    let mut target = root.clone();
    let app = target.groups.as_mut().unwrap()[0].apps.as_mut().unwrap().first_mut().unwrap();
    app.instances = Some(3 + n % 5);
    target
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("deployment_estimate");
    group.sample_size(10);
    // 2,000 apps with 10 env vars of random hex sit near the 1 MB plan limit; 10,000 apps with 1.
    for (apps, env) in [(2_000usize, 10usize), (10_000, 1)] {
        let root = heroku_root(apps, env);
        let target = one_app_changed(&root, 1);
        let mut warm = Estimator::new(StoreConfig::default());
        let before = warm.deployment(&root, &root);
        println!("{apps} apps: plan {:?} bytes (raw {:?}), limit {}", before.plan_bytes, before.plan_raw_bytes, before.limit_bytes);
        group.bench_with_input(BenchmarkId::new("warm_one_app_change", apps), &target, |b, target| {
            b.iter(|| warm.deployment(&root, target))
        });
        group.bench_with_input(BenchmarkId::new("full_reencode", apps), &target, |b, target| {
            b.iter(|| Estimator::new(StoreConfig::default()).deployment(&root, target))
        });
        let mut uncompressed = Estimator::new(StoreConfig { compression: false, ..StoreConfig::default() });
        uncompressed.deployment(&root, &root);
        group.bench_with_input(BenchmarkId::new("warm_one_app_change_no_gzip", apps), &target, |b, target| {
            b.iter(|| uncompressed.deployment(&root, target))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
