"""marathon-python (PyPI `marathon`) driving apps and groups through marathon-admission.

Usage: python marathon_python_lifecycle.py PROXY_URL

Every step prints one `OK <step>` line; any failure raises (traceback, exit 1). The Rust test
tests/real_clients.rs runs it and checks the OK lines.
"""
import collections
import collections.abc

# marathon-python 0.13.0 (the newest on PyPI) serializes nested objects with
# `collections.Iterable`, removed in Python 3.10: every group write (and any app holding
# model objects) raises AttributeError on a current Python. Pipelines on Python >= 3.10 carry this
# same one-line shim; without it the client fails before sending anything.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable

import queue
import sys
import threading

from eventually import eventually, next_from
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonGroup

URL = sys.argv[1]
client = MarathonClient([URL], timeout=10)


def ok(step):
    print("OK " + step, flush=True)


def wait_deployments_done():
    eventually("the deployments finish", lambda: not client.list_deployments())


# The event stream, read through the proxy in the background (a short read: a daemon thread).
events = queue.Queue()


def read_events():
    for event in client.event_stream():
        events.put(event)


threading.Thread(target=read_events, daemon=True).start()
# Subscribed once Marathon says so: its first event on a stream, before the first write.
attached = next_from(events, "the event stream attaches")
assert attached.event_type == "event_stream_attached", attached.event_type

assert client.ping().strip() in (b"pong", b'"pong"'), client.ping()
ok("ping")
# marathon-python builds MarathonConfig(**info["marathon_config"]) and refuses keys it does not
# know: the simulator must send only the keys real Marathon's InfoResource sends.
version = client.get_info().version
ok("info " + version)

# --- apps ---------------------------------------------------------------------------------------
app = MarathonApp(cmd="sleep 1000", instances=1, cpus=0.1, mem=32,
                  env={"LOG_LEVEL": "info", "FEATURE_X": "on"}, labels={"team": "payments"})
created = client.create_app("/ci/web", app)
assert created.id == "/ci/web", created.id
ok("create app " + created.id)
wait_deployments_done()

fetched = client.get_app("/ci/web")
assert fetched.env == {"LOG_LEVEL": "info", "FEATURE_X": "on"}, fetched.env
ok("get app")

fetched.env["LOG_LEVEL"] = "debug"
fetched.cmd = "sleep 2000"
deployment = client.update_app("/ci/web", fetched, force=True)
assert "deploymentId" in deployment, deployment
ok("update app deployment " + deployment["deploymentId"])
wait_deployments_done()
assert client.get_app("/ci/web").cmd == "sleep 2000"

deployment = client.scale_app("/ci/web", instances=3)
assert "deploymentId" in deployment, deployment
wait_deployments_done()
assert client.get_app("/ci/web").instances == 3, client.get_app("/ci/web").instances
ok("scale app to 3")

deployment = client.scale_app("/ci/web", delta=-1)
wait_deployments_done()
assert client.get_app("/ci/web").instances == 2
ok("scale app by -1")

deployment = client.restart_app("/ci/web", force=True)
assert "deploymentId" in deployment, deployment
ok("restart app")
wait_deployments_done()

versions = client.list_versions("/ci/web")
assert len(versions) >= 2, versions
ok("versions %d" % len(versions))

apps = [a.id for a in client.list_apps()]
assert "/ci/web" in apps, apps
ok("list apps")

# --- groups -------------------------------------------------------------------------------------
group = MarathonGroup(id="/ci/batch", apps=[
    MarathonApp(id="/ci/batch/worker", cmd="sleep 1000", instances=1, cpus=0.1, mem=32),
    MarathonApp(id="/ci/batch/cron", cmd="sleep 1000", instances=1, cpus=0.1, mem=32),
])
result = client.create_group(group)
assert "deploymentId" in result, result
ok("create group")
wait_deployments_done()

g = client.get_group("/ci/batch")
assert sorted(a.id for a in g.apps) == ["/ci/batch/cron", "/ci/batch/worker"], [a.id for a in g.apps]
ok("get group")

g.apps = [a for a in g.apps if a.id == "/ci/batch/worker"]
g.apps[0].instances = 2
client.update_group("/ci/batch", g, force=True)
wait_deployments_done()
g = client.get_group("/ci/batch")
assert [(a.id, a.instances) for a in g.apps] == [("/ci/batch/worker", 2)], [(a.id, a.instances) for a in g.apps]
ok("update group")

client.scale_group("/ci/batch", 2.0)
wait_deployments_done()
assert client.get_app("/ci/batch/worker").instances == 4, client.get_app("/ci/batch/worker").instances
ok("scale group by 2")

client.delete_group("/ci/batch", force=True)
wait_deployments_done()
assert "/ci/batch/worker" not in [a.id for a in client.list_apps()]
ok("delete group")

client.delete_app("/ci/web", force=True)
wait_deployments_done()
assert client.list_apps() == [], client.list_apps()
ok("delete app")

# --- the event stream, read through the proxy ---------------------------------------------------
# The writes above made these: read until they have come, then whatever else is there.
seen = [attached]
wanted = {"api_post_event", "deployment_success"}
while not wanted <= {e.event_type for e in seen}:
    seen.append(next_from(events, "events of types %s" % sorted(wanted - {e.event_type for e in seen})))
while not events.empty():
    seen.append(events.get())
types = sorted({e.event_type for e in seen})
ok("events %d types %s" % (len(seen), ",".join(types)))
