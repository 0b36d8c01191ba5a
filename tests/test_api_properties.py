"""The HTTP API tested from its own OpenAPI schema (schemathesis, over real loopback HTTP): valid and invalid
requests generated for every route; no answer is a server error, every error is JSON with a message, and no
answer falls outside the schema (status code, content type, body). The answer routes use a scripted model.

(schemathesis's pytest plugin does not run under pytest 9, so each route's strategy is driven by hypothesis here.)

"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.test_answers import ScriptedModel
from tests.test_api import LiveServer, make_setup, service_for

# Left out: "schema-valid data is accepted" (some refusals depend on two fields together, which a schema cannot say:
# a range whose start is after its end is a 422 naming both) and "schema-violating data is refused" (unknown query
# parameters are ignored, as HTTP APIs do; ``?key=`` carries the key for media the browser loads itself).
JUDGEMENT_CHECKS = [positive_data_acceptance, negative_data_rejection]
MALFORMED_HTTP = "Invalid HTTP request received."  # uvicorn's answer to bytes that are not HTTP (a bad header)
EXAMPLES = 50  # per route and mode: enough to reach each parameter's edges, a few seconds a route
KEY = {"X-API-Key": "s3cret"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_schema(tmp_path_factory, embedder):
    index, root, _ = make_setup(tmp_path_factory, embedder)
    app = service_for(index, root, embedder, api_key=KEY["X-API-Key"])
    app.state.service.text_model = ScriptedModel()
    with LiveServer(app) as url:
        loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
        yield url, loaded.exclude(path="/alerts/stream")  # a feed that never ends by design: test_api.py


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_in_the_schema_and_no_error_is_a_crash(live_schema, mode):
    url, loaded = live_schema
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /search", "POST /ingest", "POST /ask", "GET /videos/{video_id}"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(base_url=url, headers=KEY)
            if response.text == MALFORMED_HTTP:
                return  # refused by the HTTP server (uvicorn) before it is a request: not the API's answer
            case.validate_response(response, headers=KEY, excluded_checks=JUDGEMENT_CHECKS)
            if response.status_code >= 400:
                assert response.headers["content-type"][0] == "application/json", (case, response.text)
                body = response.json()
                assert isinstance(body.get("error"), str) and body["error"], (case, body)

        try:
            check()
        except Unsatisfiable:  # a route with no input to make invalid (/healthz, /metrics)
            assert mode == GenerationMode.NEGATIVE, operation.label
