"""Ralph's LRS on 127.0.0.1 with its file-system backend, for the xAPI tests.

Run with the LRS's own Python (.venv-lrs, made by `make test`): `python ralph_server.py PORT`.
The file-system backend accepts only a file's first write by default; appending is what an
LRS receiving statements over time needs, so the mode is set before the app is imported."""

import sys

from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

import uvicorn  # noqa: E402
from ralph.api import app  # noqa: E402

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
