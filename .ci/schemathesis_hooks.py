"""schemathesis hooks for .ci/schemathesis.

- Never lock the run out: a fuzzed PUT or DELETE on the user it signs in
  as could change its password, deactivate or demote it (once the fuzzer
  has made another super_admin), and a DELETE of its ingest key revokes
  it; every later case would then only see 401. Those cases alone are
  skipped; every other user and key is fair game. (`POST
  /api/auth/logout`, which would end the run's session, is left out by
  `.ci/schemathesis` itself; `tests/api/internet.rs` covers it.)
- Sign Twilio callbacks the way Twilio does, so that fuzzed callbacks reach
  the parser instead of stopping at the signature check (403).
"""

import base64
import hashlib
import hmac
import os

import schemathesis

RUN_USER_ID = os.environ["ST_USER_ID"]
RUN_KEY_ID = os.environ["ST_INGEST_KEY_ID"]
TWILIO_TOKEN = os.environ["LINEWISE_TWILIO_AUTH_TOKEN"]
PUBLIC_URL = os.environ["LINEWISE_PUBLIC_URL"].rstrip("/")


@schemathesis.hook
def filter_case(ctx, case):
    op = case.operation
    target = str((case.path_parameters or {}).get("id"))
    method = op.method.upper()
    if op.path == "/api/users/{id}" and method in ("PUT", "DELETE"):
        return target != RUN_USER_ID
    if op.path == "/api/ingest-keys/{id}" and method == "DELETE":
        return target != RUN_KEY_ID
    return True


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    op = case.operation
    if op.path != "/api/webhooks/twilio" or op.method.upper() != "POST":
        return
    body = case.body
    # Sign only what is sent as the plain form the signature covers.
    if not isinstance(body, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in body.items()
    ):
        return
    mac = hmac.new(TWILIO_TOKEN.encode(), (PUBLIC_URL + op.path).encode(), hashlib.sha1)
    for name, value in sorted(body.items()):
        mac.update(name.encode())
        mac.update(value.encode())
    if case.headers is None:
        case.headers = {}
    case.headers["X-Twilio-Signature"] = base64.b64encode(mac.digest()).decode()
