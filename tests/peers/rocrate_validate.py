"""Validate an RO-Crate with roc-validator (PyPI `roc-validator`), offline.

Usage: rocrate_validate.py CRATE_DIR PROFILE

roc-validator resolves each remote JSON-LD `@context` over the network; the tests have no
network, so the two contexts red's crates name are served from tests/fixtures/rocrate/
instead (copies of the published documents). Prints every issue of severity REQUIRED and
exits 1 when there is one, 0 when the crate conforms.
"""

import json
import sys
from pathlib import Path

from rocrate_validator import services
from rocrate_validator.models import Severity, ValidationSettings
from rocrate_validator.utils.http import HttpRequester

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rocrate"
CONTEXTS = {
    "https://w3id.org/ro/crate/1.1/context": "ro-crate-1.1-context.jsonld",
    "https://w3id.org/ro/terms/workflow-run/context": "workflow-run-context.json",
}


class Answer:
    """What the validator reads of an HTTP response."""

    def __init__(self, text):
        self.status_code = 200 if text is not None else 404
        self.headers = {"Content-Type": "application/ld+json"}
        self.text = text or ""

    def json(self):
        return json.loads(self.text)


def offline(_requester, url, *_args, **_kwargs):
    name = CONTEXTS.get(url.rstrip("/"))
    return Answer((FIXTURES / name).read_text() if name else None)


def main():
    crate, profile = sys.argv[1], sys.argv[2]
    HttpRequester.get = offline
    settings = ValidationSettings(
        rocrate_uri=crate,
        profile_identifier=profile,
        requirement_severity=Severity.REQUIRED,
        skip_availability_check=True,
        no_cache=True,
    )
    result = services.validate(settings)
    issues = result.get_issues(Severity.REQUIRED)
    for issue in issues:
        print(f"{issue.severity.name}: {issue.check.identifier}: {issue.message}")
    print(f"{len(issues)} issue(s) against {profile}")
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
