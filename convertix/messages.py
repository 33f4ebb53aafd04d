"""A sentence for people, per error code: what the web page and the CLI show.

The API's own `message` is precise but technical ("cannot identify image
file"); these say what happened and what to do. Every task error code has
one (tests/web/test_openapi.py checks it).
"""

SENTENCES = {
    "UNSUPPORTED_FORMAT": "This file is not an image format Convertix can read.",
    "CORRUPT_IMAGE": "This image is damaged or incomplete, so it could not be read.",
    "IMAGE_TOO_LARGE": "This image has too many pixels (or frames) to convert here.",
    "FILE_TOO_LARGE": "This file is larger than the upload limit.",
    "INVALID_OPTIONS": "These options cannot be applied to this image.",
    "CONVERSION_TIMEOUT": "Converting this image took too long and was stopped.",
    "INTERNAL_ERROR": "Something went wrong on our side while converting this image.",
    "QUOTA_EXCEEDED": "Your storage is full: delete some old jobs, then try again.",
    "USERNAME_TAKEN": "That username is taken.",
    "WEAK_PASSWORD": "The password needs at least 8 characters.",
    "INVALID_CREDENTIALS": "Wrong username or password.",
    "RATE_LIMITED": "Too many attempts: wait a minute, then try again.",
    "BACKEND_UNAVAILABLE": "The service is busy or restarting: try again in a moment.",
    "NOT_FOUND": "This job no longer exists.",
    "TOKEN_EXPIRED": "Your session has expired: sign in again.",
    "TOKEN_REVOKED": "You were signed out: sign in again.",
}



def sentence(code, fallback=None):
    return SENTENCES.get(code, fallback or "Something went wrong.")
