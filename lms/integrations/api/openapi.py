"""The OpenAPI 3.1 description of the evidence API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }


def document(base_url: str) -> dict[str, Any]:
    errors = {
        "400": _problem("The request was malformed; nothing was read."),
        "401": _problem("No valid bearer token with the evidence scope."),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vern evidence API",
            "version": "1.0.0",
            "description": (
                "Read back each person's onboarding evidence: every required privacy and "
                "security course with status, due date, completion, the exact course version "
                "(sha256), quiz score and attestation time. Authenticate with a token of "
                "scope `evidence` in the Authorization header (never in the URL)."
            ),
        },
        "servers": [{"url": f"{base_url}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/people/{externalId}/evidence": {
                "get": {
                    "operationId": "getPersonEvidence",
                    "summary": "One person's onboarding evidence",
                    "parameters": [
                        {
                            "name": "externalId",
                            "in": "path",
                            "required": True,
                            "description": "The person's id in the HR system (SCIM externalId).",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The person and their current required courses.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Person"}
                                }
                            },
                        },
                        **errors,
                        "404": _problem("No person with that externalId."),
                    },
                }
            },
            "/onboarding": {
                "get": {
                    "operationId": "listOnboarding",
                    "summary": "Evidence for everyone who started after a date, by start date",
                    "parameters": [
                        {
                            "name": "started_after",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "format": "date"},
                        },
                        {
                            "name": "page",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100000,
                                "default": 1,
                            },
                        },
                        {
                            "name": "per_page",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 200,
                                "default": 50,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "One page of people.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/PersonPage"}
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
                "Course": {
                    "type": "object",
                    "required": [
                        "course",
                        "cycle",
                        "status",
                        "completedVia",
                        "exemption",
                        "dueOn",
                        "completedAt",
                        "versionSha256",
                        "score",
                        "attestedAt",
                    ],
                    "properties": {
                        "course": {"type": "string"},
                        "cycle": {"type": "integer", "minimum": 1},
                        "status": {
                            "enum": ["complete", "exempt", "overdue", "due_soon", "open"],
                            "description": "exempt: excused with a reason (see exemption); "
                            "never counted as complete",
                        },
                        "completedVia": {
                            "enum": [None, "live_session"],
                            "description": "live_session: completed by attending an "
                            "instructor-led session; null: in Vern's pages (or not yet)",
                        },
                        "exemption": {
                            "type": ["object", "null"],
                            "required": ["reason", "grantedAt", "expiresOn"],
                            "properties": {
                                "reason": {"type": "string"},
                                "grantedAt": {"type": "string", "format": "date-time"},
                                "expiresOn": {"type": ["string", "null"], "format": "date"},
                            },
                        },
                        "dueOn": {"type": "string", "format": "date"},
                        "completedAt": {"type": ["string", "null"], "format": "date-time"},
                        "versionSha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                        "attestedAt": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Person": {
                    "type": "object",
                    "required": [
                        "externalId",
                        "email",
                        "name",
                        "startDate",
                        "active",
                        "onboardingComplete",
                        "courses",
                    ],
                    "properties": {
                        "externalId": {"type": ["string", "null"]},
                        "email": {"type": "string"},
                        "name": {"type": "string"},
                        "startDate": {"type": ["string", "null"], "format": "date"},
                        "active": {"type": "boolean"},
                        "onboardingComplete": {"type": "boolean"},
                        "courses": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Course"},
                        },
                    },
                },
                "PersonPage": {
                    "type": "object",
                    "required": ["items", "page", "perPage", "total", "next"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Person"},
                        },
                        "page": {"type": "integer"},
                        "perPage": {"type": "integer"},
                        "total": {"type": "integer"},
                        "next": {"type": ["string", "null"]},
                    },
                },
            },
        },
    }
