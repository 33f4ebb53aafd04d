"""Make ConvertixError cross nameko RPC as itself, code and details intact.

nameko turns an exception raised in a service into a RemoteError on the
caller's side unless its class is registered here; registered classes are
rebuilt from their args, which ConvertixError keeps as (message, details, code).
Imported by the services and by the gateway.
"""
from nameko.exceptions import deserialize_to_instance

from convertix import errors


def _register():
    for cls in [errors.ConvertixError, *errors.ConvertixError.__subclasses__()]:
        deserialize_to_instance(cls)


_register()
