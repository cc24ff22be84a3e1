"""A real client (python-requests, as marathon-python uses it) creates an app through the proxy
and follows the Location Marathon answered with: it must lead back to the proxy.

Usage: follow_location.py PROXY_URL
"""
import sys

import requests

base = sys.argv[1]
created = requests.post(base + "/v2/apps", json={"id": "/follow/me", "cmd": "sleep 1"}, timeout=30)
print("CREATED", created.status_code)
location = created.headers["Location"]
print("LOCATION", location)
followed = requests.get(location, timeout=30)
print("FOLLOWED", followed.status_code, followed.url)
print("LEADER", followed.headers.get("X-Marathon-Leader"))
