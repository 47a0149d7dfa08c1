"""The application as a whole: how its routes fit together."""

from __future__ import annotations

import re

from fastapi import FastAPI

_PARAMETER = re.compile(r"\{[^}]+\}")
_SAMPLE = "0190a000-0000-7000-8000-000000000001"


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(
        "^"
        + _PARAMETER.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        + "$"
    )


def test_no_route_is_shadowed_by_an_earlier_one(app: FastAPI) -> None:
    # Routes are tried in order, most-requested routers first (app.py): a request meant for a
    # route must never be taken by an earlier one of the same method.
    operations = [
        (template, method) for template, item in app.openapi()["paths"].items() for method in item
    ]
    shadowed = []
    for template, method in operations:
        request_path = _PARAMETER.sub(_SAMPLE, template)
        first = next(
            candidate
            for candidate, candidate_method in operations
            if candidate_method == method and _pattern(candidate).match(request_path)
        )
        if first != template:
            shadowed.append(f"{method.upper()} {template} is taken by {first}")
    assert shadowed == []
