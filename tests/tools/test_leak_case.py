"""The leak found by a new user: a verification secret not listed in auth.sensitiveKeys.

`auth.config.signing` is named by `webhook.verification.secretKey`, so it is a secret whether
or not `auth.sensitiveKeys` lists it: bundle, redact and `check --submission` must all treat
it as one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from cli_support import json_lines, run

SIGNING = "prod-signing-value-777"
APP_JS = """// pasted from the docs, then filled in
const app = {
  ns: 'leaky',
  version: '1.0.0',
  status: 'private',
  auth: {
    type: 'apikey',
    sensitiveKeys: ['accessToken'],
    config: {
      signing: 'prod-signing-value-777',
      accessToken: '',
    },
  },
  triggers: [{ type: 'miniapps:leaky', event: 'order.created', label: 'Order created' }],
  webhook: {
    eventExtraction: { source: 'body', path: '$.event' },
    verification: { type: 'hmac-sha256', headerName: 'X-Sig', secretKey: 'signing' },
  },
};
"""
REQUEST = (b"POST /miniapps/leaky/webhooks HTTP/1.1\r\nContent-Type: application/json\r\n"
           b"X-Sig: 00\r\n\r\n{\"event\":\"order.created\"}")


def write_case(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "app.js"
    app.write_text(APP_JS)
    request = tmp_path / "req.http"
    request.write_bytes(REQUEST)
    return app, request


def test_bundle_blanks_and_scans_the_verification_secret(tmp_path: Path) -> None:
    app, request = write_case(tmp_path)
    output = tmp_path / "x.zip"
    result = run("bundle", "--definition", str(app), str(request), "-o", str(output))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(output) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert "definition.redacted.js" in files
    for name, data in files.items():
        assert SIGNING.encode() not in data, f"{name} holds the signing secret"
    assert "signing: ''" in files["definition.redacted.js"].decode()
    assert "1 secret value" in result.stdout


def test_redact_blanks_the_verification_secret(tmp_path: Path) -> None:
    app, _ = write_case(tmp_path)
    result = run("redact", str(app))
    assert result.exit_code == 0, result.output
    assert SIGNING not in result.output
    assert "signing: ''" in result.stdout
    assert "auth.config.signing" in result.stderr


def test_submission_check_reports_the_verification_secret(tmp_path: Path) -> None:
    app, _ = write_case(tmp_path)
    result = run("check", str(app), "--submission", "--json")
    assert result.exit_code == 1, result.output
    [document] = json_lines(result)
    flagged = [f for f in document["findings"] if f["code"] == "DEF_SECRET_IN_SUBMISSION"]
    assert [f["pointer"] for f in flagged] == ["/auth/config/signing"]
    assert flagged[0]["severity"] == "error"
    assert SIGNING not in json.dumps(document)
