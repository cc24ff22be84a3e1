//! Deterministic "heroku-like" root groups for tests and benchmarks: many apps with ~100
//! environment variables whose values compress badly (hex tokens), one huge sub-group, a few
//! small ones. No randomness source but a seed, so a run is reproducible.

use marathon_model::app::EnvValue;
use marathon_model::{App, Group, PathId, SharedApp};

/// A small xorshift generator (no dependency needed for test data).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap()).collect()
    }
}

/// One app with `env_vars` environment variables, as Marathon returns it after deployment.
pub fn app(id: &str, env_vars: usize, seed: u64) -> App {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let env = (0..env_vars)
        .map(|i| {
            let name = format!("CONFIG_VAR_{i}");
            let value = if i % 3 == 0 { format!("https://svc-{}.internal:8443/{}", rng.hex(6), rng.hex(24)) } else { rng.hex(32) };
            (name, EnvValue::Plain(value))
        })
        .collect();
    let port = 10_000 + (seed % 10_000) as u32;
    let json = format!(
        r#"{{"id":"{id}","cmd":"bin/start --port $PORT0","instances":2,"cpus":0.25,"mem":512,
        "portDefinitions":[{{"port":{port},"protocol":"tcp","name":"http"}}],
        "labels":{{"HAPROXY_GROUP":"external","team":"t{}"}},
        "healthChecks":[{{"protocol":"HTTP","path":"/health","portIndex":0}}],
        "version":"2017-03-01T10:00:00.000Z",
        "versionInfo":{{"lastScalingAt":"2017-03-01T10:00:00.000Z","lastConfigChangeAt":"2017-03-01T10:00:00.000Z"}}}}"#,
        seed % 7
    );
    let mut app = App::parse(json.as_bytes()).expect("synthetic app");
    app.env = Some(env);
    app
}

/// A root with `apps` apps: 80% in `/heroku`, the rest spread over `/team-0` .. `/team-4`.
pub fn heroku_root(apps: usize, env_vars: usize) -> Group {
    let version = Some("2017-03-01T10:00:00.000Z".to_string());
    let mut root = Group { version: version.clone(), ..Group::empty_root() };
    let mut big = Group { version: version.clone(), ..Group::empty(&PathId::parse("/heroku")) };
    let mut teams: Vec<Group> = (0..5)
        .map(|t| Group { version: version.clone(), ..Group::empty(&PathId::parse(&format!("/team-{t}"))) })
        .collect();
    for i in 0..apps {
        if i % 5 == 4 {
            let team = &mut teams[(i / 5) % 5];
            let id = format!("{}/svc-{i}", team.id.as_deref().unwrap_or_default());
            team.apps.get_or_insert_with(Default::default).push(SharedApp::new(app(&id, env_vars, i as u64 + 1)));
        } else {
            big.apps.get_or_insert_with(Default::default).push(SharedApp::new(app(&format!("/heroku/app-{i}"), env_vars, i as u64 + 1)));
        }
    }
    let mut groups = vec![big];
    groups.extend(teams);
    root.groups = Some(groups);
    root
}

/// A root with `apps` apps in deep groups, as installations that outgrew the legacy layout hold
/// them: `/org-{o}/team-{t}/svc-{s}/app-{i}`, 10 organisations of 10 teams, 10 apps per service
/// group (so 50,000 apps are 5,000 service groups three levels down), each app with `env_vars`
/// environment variables and the synthetic app's labels.
pub fn deep_root(apps: usize, env_vars: usize) -> Group {
    const ORGS: usize = 10;
    const TEAMS: usize = 10;
    const PER_SERVICE: usize = 10;
    let version = Some("2017-03-01T10:00:00.000Z".to_string());
    let group = |id: &str| Group { version: version.clone(), ..Group::empty(&PathId::parse(id)) };
    let services = apps.div_ceil(PER_SERVICE);
    let mut root = Group { version: version.clone(), ..Group::empty_root() };
    let mut orgs: Vec<Group> = (0..ORGS).map(|o| group(&format!("/org-{o}"))).collect();
    for (o, org) in orgs.iter_mut().enumerate() {
        let mut teams: Vec<Group> = (0..TEAMS).map(|t| group(&format!("/org-{o}/team-{t}"))).collect();
        for (t, team) in teams.iter_mut().enumerate() {
            let mut svcs = Vec::new();
            // Services go round the teams: every team gets its share.
            for s in (o * TEAMS + t..services).step_by(ORGS * TEAMS) {
                let sid = format!("/org-{o}/team-{t}/svc-{s}");
                let mut svc = group(&sid);
                let first = s * PER_SERVICE;
                svc.apps = Some(
                    (first..(first + PER_SERVICE).min(apps))
                        .map(|i| SharedApp::new(app(&format!("{sid}/app-{i}"), env_vars, i as u64 + 1)))
                        .collect(),
                );
                svcs.push(svc);
            }
            team.groups = Some(svcs);
        }
        org.groups = Some(teams);
    }
    root.groups = Some(orgs);
    root
}
