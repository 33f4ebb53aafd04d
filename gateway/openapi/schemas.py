"""JSON Schemas (OpenAPI 3.1 = JSON Schema 2020-12) of the API's documents.

Built from the code's own tables where one exists: statuses from
convertix.contract, option defaults from convertix.options.FIELDS, task error
codes from convertix.errors. tests/web/test_openapi.py checks that the
options schema names exactly the fields `validate()` accepts.
"""
from convertix.contract import JOB_STATUSES, TASK_STATUSES
from convertix.errors import HTTP_STATUS, TASK_ERROR_CODES
from convertix.options import CROP_FIELDS, FIELDS, FITS, MAX_DIMENSION


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _integer(lo, hi):
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _number(lo, hi):
    return {"type": "number", "minimum": lo, "maximum": hi}


BOOLEAN = {"type": "boolean"}

# option -> its schema without the default (the default is read from FIELDS)
OPTION_SCHEMAS = {
    "format": {"type": "string", "description": "an output format from GET /formats"},
    "quality": _integer(1, 100),
    "width": _integer(1, MAX_DIMENSION),
    "height": _integer(1, MAX_DIMENSION),
    "fit": {"type": "string", "enum": list(FITS)},
    "enlarge": BOOLEAN,
    "crop": {"type": ["object", "null"], "additionalProperties": False,
             "required": list(CROP_FIELDS), "description": "applied first",
             "properties": {k: _integer(0 if k in ("x", "y") else 1, MAX_DIMENSION * 4)
                            for k in CROP_FIELDS}},
    "rotate": {**_number(-360, 360), "description": "degrees clockwise"},
    "flip": {**BOOLEAN, "description": "vertical mirror"},
    "flop": {**BOOLEAN, "description": "horizontal mirror"},
    "grayscale": BOOLEAN,
    "blur": _number(0, 100),
    "sharpen": _number(0, 100),
    "auto_orient": BOOLEAN,
    "strip_metadata": BOOLEAN,
    "background": {"type": "string", "pattern": "^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"},
    "progressive": BOOLEAN,
    "lossless": BOOLEAN,
    "animated": BOOLEAN,
}


def options_schema():
    properties = {}
    for field, (default, _check) in FIELDS.items():
        schema = dict(OPTION_SCHEMAS[field])
        if default is not None:
            schema["default"] = default
        properties[field] = schema
    return {"type": "object", "required": ["format"], "additionalProperties": False,
            "properties": properties}


def option_parameters():
    """Each option as a query parameter of a raw-body upload (gateway/rawbody.py):
    (name, schema, description). An object-valued option is sent as JSON text."""
    params = []
    for name, schema in options_schema()["properties"].items():
        if "object" in schema.get("type", ()):
            schema = {"type": "string", "description": "JSON"}
        params.append((name, schema, "with a raw body: this option (JSON when it parses as "
                                     "JSON, else text); or all of them as `options`"))
    return tuple(params)


def _image(*extra):
    props = {"format": {"type": "string"}, "width": {"type": "integer"},
             "height": {"type": "integer"}, "bytes": {"type": "integer"}}
    props.update(extra)
    return {"type": ["object", "null"], "properties": props}


TASK = {
    "type": "object",
    "required": ["index", "filename", "status"],
    "properties": {
        "index": {"type": "integer"},
        "filename": {"type": "string"},
        "status": {"type": "string", "enum": list(TASK_STATUSES)},
        "attempts": {"type": "integer"},
        "stage": {"type": ["string", "null"], "description": "decode, transform, encode or store"},
        "reused": {"type": "boolean", "description": "the result is the same user's earlier "
                   "result for the same input bytes and options, not converted again"},
        "input": _image(),
        "output": _image(("url", {"type": "string"})),
        "error": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "enum": list(TASK_ERROR_CODES)},
                           "message": {"type": "string"}}}]},
    },
}

JOB = {
    "type": "object",
    "required": ["id", "status", "tasks"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": list(JOB_STATUSES)},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "queue_position": {"type": ["integer", "null"]},
        "options": ref("Options"),
        "tasks": {"type": "array", "items": ref("Task")},
    },
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": sorted(HTTP_STATUS)},
                       "message": {"type": "string"},
                       "details": {"type": "object"}}}},
}

CREDENTIALS = {"type": "object", "required": ["username", "password"],
               "properties": {"username": {"type": "string"},
                              "password": {"type": "string", "minLength": 8}}}

TOKENS = {"type": "object", "required": ["access_token", "token_type", "expires_in"],
          "properties": {"access_token": {"type": "string"},
                         "refresh_token": {"type": "string"},
                         "token_type": {"type": "string", "const": "Bearer"},
                         "expires_in": {"type": "integer"}}}

USER = {"type": "object", "properties": {
    "id": {"type": "string"}, "username": {"type": "string"},
    "roles": {"type": "array", "items": {"type": "string"}},
    "webhook_secret": {"type": "string"},
    "webhook_secret_whsec": {"type": "string", "description": "the same, as whsec_<base64>"},
    "storage": {"type": "object", "properties": {"used_bytes": {"type": "integer"},
                                                 "quota_bytes": {"type": ["integer", "null"]}}}}}

_NAMES = {"type": "array", "items": {"type": "string"}}
FORMATS = {"type": "object", "required": ["input", "output", "operations"], "properties": {
    **{k: _NAMES for k in ("input", "output", "operations")},
    "extensions": {"type": "object", "additionalProperties": _NAMES,
                   "description": "each format of input and output -> its file name endings "
                                  "(lower case, no dot), the one results are named with first"},
    "media_types": {"type": "object", "additionalProperties": _NAMES,
                    "description": "each format of input and output -> its media types"},
    "final_statuses": {"type": "object", "required": ["job", "task"],
                       "properties": {"job": _NAMES, "task": _NAMES},
                       "description": "the statuses after which a job (a task) no longer changes"}}}

JOB_PAGE = {"type": "object", "required": ["items"], "properties": {
    "items": {"type": "array", "items": ref("Job")},
    "next_cursor": {"type": ["string", "null"]}}}

UPLOAD = {"type": "object", "required": ["file", "options"], "properties": {
    "file": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"}},
    "options": {"type": "string", "description": "the Options object as JSON"},
    "callback_url": {"type": "string", "format": "uri"}}}

CONVERT_UPLOAD = {"type": "object", "required": ["file", "options"], "properties": {
    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
    "options": {"type": "string", "description": "the Options object as JSON"}}}

ANY_OBJECT = {"type": "object"}


def components():
    return {
        "Options": options_schema(), "Task": TASK, "Job": JOB, "Error": ERROR,
        "Credentials": CREDENTIALS, "Tokens": TOKENS, "User": USER, "Formats": FORMATS,
        "JobPage": JOB_PAGE, "Upload": UPLOAD, "ConvertUpload": CONVERT_UPLOAD,
        "Object": ANY_OBJECT,
    }
