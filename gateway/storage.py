"""The shared storage folder as a Flask extension."""
from flask import current_app

from convertix.storage import Storage

EXTENSION = "convertix.storage"


def init_storage(app):
    app.extensions[EXTENSION] = Storage(app.config["STORAGE_ROOT"])


def storage():
    return current_app.extensions[EXTENSION]
