"""marathon-python, the raw response: an admitted write near the wall carries a Warning header.

Usage: python marathon_python_warning.py PROXY_URL APP_JSON_FILE

marathon-python drops response headers from its models, so this goes one level down to the
client's own request method (`_do_request`, what create_app uses) and prints the Warning header.
"""
import json
import sys

from marathon import MarathonClient

URL, FILE = sys.argv[1], sys.argv[2]
client = MarathonClient([URL], timeout=10)
with open(FILE) as f:
    body = json.load(f)
response = client._do_request("POST", "/v2/apps", data=json.dumps(body))
print("STATUS %d" % response.status_code)
print("WARNING " + response.headers.get("Warning", "<none>"))
