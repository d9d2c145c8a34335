"""The response shapes of Soundcheck's REST API that ``soundcheck serve`` answers, as JSON Schemas, transcribed from
Soundcheck's OpenAPI reference (backstage.spotify.com/docs/plugins/soundcheck/api-reference/..., openapi 3.0.0,
``/plugins/soundcheck/openapi.yaml``): the schemas of the pages named beside each one. Only what those pages show
is constrained; ``additionalProperties: false`` where the reference says so (``ChecksResponse``)."""

from __future__ import annotations

from typing import Any

import jsonschema

_STR = {"type": "string"}
_INT = {"type": "integer"}

# checks/get-checks: ChecksResponse {checks: [Check]}, additionalProperties false; Check {id, ownerEntityRef,
# name (minLength 1), description, ...}
CHECK = {"type": "object", "required": ["id"],
         "properties": {"id": _STR, "ownerEntityRef": _STR, "name": {"type": "string", "minLength": 1},
                        "description": _STR}}
CHECKS_RESPONSE = {"type": "object", "required": ["checks"], "additionalProperties": False,
                   "properties": {"checks": {"type": "array", "items": CHECK}}}
# checks/get-a-check: CheckResponse {check: Check}
CHECK_RESPONSE = {"type": "object", "required": ["check"], "properties": {"check": CHECK}}

# tracks/get-a-track, tracks/create-tracks: Track {id, levels: [{ordinal, checks: [{id, name, description,
# filter, exclude}], name, description, badge}], name, description, ownerEntityRef, ...}
LEVEL = {"type": "object", "required": ["ordinal", "checks"],
         "properties": {"ordinal": _INT, "name": _STR, "description": _STR,
                        "checks": {"type": "array", "items": {"type": "object", "required": ["id"],
                                                              "properties": {"id": _STR, "name": _STR,
                                                                             "description": _STR,
                                                                             "filter": {"type": "object"},
                                                                             "exclude": {"type": "object"}}}}}}
TRACK = {"type": "object", "required": ["id", "levels"],
         "properties": {"id": _STR, "levels": {"type": "array", "items": LEVEL}, "name": _STR, "description": _STR,
                        "ownerEntityRef": _STR}}
TRACKS_RESPONSE = {"type": "object", "required": ["tracks"],
                   "properties": {"tracks": {"type": "array", "items": TRACK}}}
TRACK_RESPONSE = {"type": "object", "properties": {"track": TRACK}}

# checkresults/submit-check-results (and checks/execute-checks): a result is {entityRef, checkId, state,
# details: {}, scope, submittedBy}; lastChecked is named by preserveStateOnError's description.
CHECK_RESULT = {"type": "object", "required": ["entityRef", "checkId", "state"],
                "properties": {"entityRef": _STR, "checkId": _STR, "state": _STR, "details": {"type": "object"},
                               "scope": _STR, "submittedBy": _STR, "lastChecked": _STR}}
# checkresults/get-check-results: {results: [CheckResult]}
RESULTS_RESPONSE = {"type": "object", "required": ["results"],
                    "properties": {"results": {"type": "array", "items": CHECK_RESULT}}}
# checkresults/submit-check-results: SubmitResultsResponse {results: [...], status: string}
SUBMIT_RESULTS_RESPONSE = {"type": "object",
                           "properties": {"results": {"type": "array", "items": CHECK_RESULT}, "status": _STR}}

# checks/get-the-aggregate-status-of-a-check: CheckStatus, every field required
CHECK_STATUS = {"type": "object",
                "required": ["passed", "failed", "warning", "exempt", "notApplicable", "error", "notReported", "id",
                             "numberOfEntities"],
                "properties": {**{k: _INT for k in ("passed", "failed", "warning", "exempt", "notApplicable",
                                                    "error", "notReported", "numberOfEntities")}, "id": _STR}}
# tracks/get-the-aggregate-certification-status-for-a-track
TRACK_STATUS = {"type": "object", "required": ["id", "numberOfEntities", "statusByLevel"],
                "properties": {"id": _STR, "numberOfEntities": _INT,
                               "statusByLevel": {"type": "array", "items": {
                                   "type": "object",
                                   "properties": {k: _INT for k in ("ordinal", "passed", "failed", "cumulativelyPassed",
                                                                    "cumulativelyFailed", "notReported")}}}}}

# certification/get-certifications-for-an-entity
CERT_CHECK = {"type": "object", "properties": {"id": _STR, "name": _STR, "description": _STR, "entityRef": _STR,
                                               "timestamp": _STR}}
CERT_LEVEL = {"type": "object", "properties": {"ordinal": _INT, "name": _STR, "entityRef": _STR,
                                               "checks": {"type": "array", "items": CERT_CHECK},
                                               "certified": {"type": "boolean"}, "description": _STR}}
CERTIFICATIONS_RESPONSE = {"type": "object", "required": ["certifications"],
                           "properties": {"certifications": {"type": "array", "items": {
                               "type": "object",
                               "properties": {"entityRef": _STR,
                                              "track": {"type": "object", "required": ["id"],
                                                        "properties": {"id": _STR}},
                                              "levels": {"type": "array", "items": CERT_LEVEL},
                                              "highestLevel": CERT_LEVEL}}}}}

# facts/submit-facts: 200 {facts: [{factRef, entityRef, ...}]} (both required)
FACTS_RESPONSE = {"type": "object", "required": ["facts"],
                  "properties": {"facts": {"type": "array", "items": {
                      "type": "object", "required": ["factRef", "entityRef"],
                      "properties": {"factRef": _STR, "entityRef": _STR}}}}}

# The Error document of every 4xx (e.g. factcollectors/delete-a-fact-collector)
ERROR = {"type": "object", "required": ["error", "request", "response"],
         "properties": {"error": {"type": "object", "required": ["name", "message"],
                                  "properties": {"name": _STR, "message": _STR}},
                        "request": {"type": "object", "properties": {"method": _STR, "url": _STR}},
                        "response": {"type": "object", "properties": {"statusCode": _INT}}}}


def validate(doc: Any, schema: dict[str, Any]) -> Any:
    """``doc`` if it has the shape (jsonschema raises with the path of the first difference otherwise)."""
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc
