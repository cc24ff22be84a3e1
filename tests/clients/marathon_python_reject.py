"""marathon-python: what a pipeline sees when marathon-admission says no.

Usage: python marathon_python_reject.py PROXY_URL ENV_VARS

Creates apps under /big until the proxy rejects one, then checks that the way out (a delete) still
passes. Prints the client's own exception text as `REJECTED <str(exception)>`, exactly what an
unhandled exception in a pipeline shows after the exception class name.
"""
import collections
import collections.abc

# marathon-python 0.13.0 (the newest on PyPI) serializes nested objects with
# `collections.Iterable`, removed in Python 3.10: every group write (and any app holding
# model objects) raises AttributeError on a current Python. Pipelines on Python >= 3.10 carry this
# same one-line shim; without it the client fails before sending anything.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable

import sys

from eventually import eventually
from marathon import MarathonClient, MarathonHttpError
from marathon.models import MarathonApp, MarathonGroup

URL, ENV_VARS = sys.argv[1], int(sys.argv[2])
client = MarathonClient([URL], timeout=10)


def env(n):
    return {"VAR_%03d" % i: "some-configuration-value-%04d-0123456789abcdef" % i for i in range(n)}


def wait_deployments_done():
    eventually("the deployments finish", lambda: not client.list_deployments())


rejected = None
created = []
for i in range(200):
    app_id = "/big/app-%03d" % i
    try:
        client.create_app(app_id, MarathonApp(cmd="sleep 1000", instances=1, cpus=0.1, mem=32, env=env(ENV_VARS)))
    except MarathonHttpError as e:
        rejected = e
        break
    created.append(app_id)
    wait_deployments_done()
assert rejected is not None, "no rejection after %d apps" % len(created)
print("CREATED %d" % len(created))
print("STATUS %d" % rejected.status_code)
print("REJECTED " + str(rejected))

# The same wall through a group write.
try:
    client.create_group(MarathonGroup(id="/big2", apps=[
        MarathonApp(id="/big2/extra", cmd="sleep 1", instances=1, cpus=0.1, mem=32, env=env(ENV_VARS))]))
    print("GROUP ACCEPTED")
except MarathonHttpError as e:
    print("GROUP REJECTED " + str(e))

# The way out is never blocked.
client.delete_app(created[-1], force=True)
wait_deployments_done()
assert created[-1] not in [a.id for a in client.list_apps()]
print("OK delete passes")
