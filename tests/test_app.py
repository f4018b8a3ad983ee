"""The Flask factory: its URL rules compile their URL builders only when one is first used."""
from __future__ import annotations

from flask import url_for


def test_urls_built_from_the_rules_are_the_routes_that_answer(flask_app, client):
    with flask_app.test_request_context():
        document = url_for("openapi_document")
        with_values = url_for("dashboard_file", filename="index.html", v="2")
        again = url_for("openapi_document", _external=True)
    assert (document, with_values, again) == ("/api/v1/openapi.json", "/static/index.html?v=2",
                                              "http://localhost/api/v1/openapi.json")
    assert client.get(document).status_code == 200 and client.get(with_values).status_code == 200
